//! Columnar sources: Parquet (row group by row group, only the needed columns) and Arrow IPC
//! files, decoded by the Apache Arrow project's readers into record batches and copied column by
//! column into blocks.

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type,
    UInt32Type, UInt64Type,
};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, Schema};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};

use super::{Block, Fingerprint, Roles, RowSource};
use crate::error::{Error, Result};

/// The columns a columnar source reads, by name, in their roles.
struct Selection {
    features: Vec<String>,
    target: Option<String>,
    weights: Option<String>,
    trials: Option<String>,
    offset: Option<String>,
}

impl Selection {
    /// Resolves `roles` against `schema` and checks that every chosen column is numeric.
    fn new(name: &str, schema: &Schema, roles: &Roles) -> Result<Self> {
        let columns: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        let resolved = roles.resolve(name, &columns)?;
        let selection = Self {
            features: resolved.features.iter().map(|&c| columns[c].clone()).collect(),
            target: resolved.target.map(|c| columns[c].clone()),
            weights: resolved.weights.map(|c| columns[c].clone()),
            trials: resolved.trials.map(|c| columns[c].clone()),
            offset: resolved.offset.map(|c| columns[c].clone()),
        };
        for column in selection.names() {
            let field = schema.field_with_name(column).map_err(|e| Error::Source {
                source_name: name.to_owned(),
                row: None,
                column: Some(column.clone()),
                reason: e.to_string(),
            })?;
            if !is_numeric(field.data_type()) {
                return Err(Error::Source {
                    source_name: name.to_owned(),
                    row: None,
                    column: Some(column.clone()),
                    reason: format!(
                        "has type {}; scalemix reads numeric columns (floats, integers, booleans)",
                        field.data_type()
                    ),
                });
            }
        }
        Ok(selection)
    }

    /// Every selected column's name.
    fn names(&self) -> impl Iterator<Item = &String> {
        self.features
            .iter()
            .chain(&self.target)
            .chain(&self.weights)
            .chain(&self.trials)
            .chain(&self.offset)
    }

    /// Indices of the selected columns in `schema`, sorted (the readers' projections).
    fn indices(&self, schema: &Schema) -> Vec<usize> {
        let mut indices: Vec<usize> =
            self.names().filter_map(|n| schema.index_of(n).ok()).collect();
        indices.sort_unstable();
        indices.dedup();
        indices
    }
}

fn is_numeric(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Float64
            | DataType::Float32
            | DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64
            | DataType::Boolean
    )
}

/// Appends rows `offset .. offset + len` of `array` to `out` as f64, or names the first null.
fn append(
    source: &str,
    column: &str,
    first_row: u64,
    array: &dyn Array,
    offset: usize,
    len: usize,
    out: &mut Vec<f64>,
) -> Result<()> {
    let array = array.slice(offset, len);
    if array.null_count() > 0 {
        let i = (0..len).find(|&i| array.is_null(i)).unwrap_or(0);
        return Err(Error::Source {
            source_name: source.to_owned(),
            row: Some(first_row + i as u64),
            column: Some(column.to_owned()),
            reason: "missing value (null)".into(),
        });
    }
    macro_rules! widen {
        ($t:ty) => {
            out.extend(array.as_primitive::<$t>().values().iter().map(|&v| v as f64))
        };
    }
    match array.data_type() {
        DataType::Float64 => out.extend_from_slice(array.as_primitive::<Float64Type>().values()),
        DataType::Float32 => widen!(Float32Type),
        DataType::Int8 => widen!(Int8Type),
        DataType::Int16 => widen!(Int16Type),
        DataType::Int32 => widen!(Int32Type),
        DataType::Int64 => widen!(Int64Type),
        DataType::UInt8 => widen!(UInt8Type),
        DataType::UInt16 => widen!(UInt16Type),
        DataType::UInt32 => widen!(UInt32Type),
        DataType::UInt64 => widen!(UInt64Type),
        DataType::Boolean => {
            out.extend(array.as_boolean().iter().map(|b| if b == Some(true) { 1.0 } else { 0.0 }))
        }
        other => {
            return Err(Error::Source {
                source_name: source.to_owned(),
                row: Some(first_row),
                column: Some(column.to_owned()),
                reason: format!("has type {other}, not a numeric type"),
            });
        }
    }
    Ok(())
}

/// The record batch being cut into blocks, and where the next block starts in it.
#[derive(Default)]
struct Pending {
    batch: Option<RecordBatch>,
    offset: usize,
    next_row: u64,
}

impl Pending {
    /// Fills `block` from the pending batch, fetching the next one with `next` when it is used
    /// up; `Ok(false)` at the end.
    fn next_block(
        &mut self,
        source: &str,
        selection: &Selection,
        block: &mut Block,
        max_rows: usize,
        mut next: impl FnMut() -> Option<std::result::Result<RecordBatch, String>>,
    ) -> Result<bool> {
        loop {
            if let Some(batch) = &self.batch
                && self.offset < batch.num_rows()
            {
                break;
            }
            match next() {
                None => {
                    self.batch = None;
                    block.reset(self.next_row, 0);
                    return Ok(false);
                }
                Some(Err(e)) => {
                    return Err(Error::Source {
                        source_name: source.to_owned(),
                        row: Some(self.next_row),
                        column: None,
                        reason: format!("cannot decode the rows from here on: {e}"),
                    });
                }
                Some(Ok(batch)) => {
                    self.batch = Some(batch);
                    self.offset = 0;
                }
            }
        }
        let Some(batch) = &self.batch else { return Ok(false) };
        let rows = (batch.num_rows() - self.offset).min(max_rows.max(1));
        let first = self.next_row;
        block.reset(first, rows);
        let column = |name: &str| {
            batch.column_by_name(name).ok_or_else(|| Error::Source {
                source_name: source.to_owned(),
                row: Some(first),
                column: Some(name.to_owned()),
                reason: "missing from this part of the file".into(),
            })
        };
        for name in &selection.features {
            append(source, name, first, column(name)?.as_ref(), self.offset, rows, &mut block.x)?;
        }
        let extras = [
            (&selection.target, &mut block.y),
            (&selection.weights, &mut block.weights),
            (&selection.trials, &mut block.trials),
            (&selection.offset, &mut block.offset),
        ];
        for (name, out) in extras {
            if let Some(name) = name {
                append(source, name, first, column(name)?.as_ref(), self.offset, rows, out)?;
            }
        }
        self.offset += rows;
        self.next_row += rows as u64;
        Ok(true)
    }
}

fn open_file(path: &Path) -> Result<File> {
    File::open(path).map_err(|e| Error::Source {
        source_name: path.display().to_string(),
        row: None,
        column: None,
        reason: format!("cannot open: {e}"),
    })
}

/// A Parquet file read row group by row group, decoding only the selected columns (numeric
/// types, widened to f64; a null is an error naming its row and column).
pub struct ParquetSource {
    path: PathBuf,
    name: String,
    selection: Selection,
    reader: Option<ParquetRecordBatchReader>,
    /// Rows, from the file's metadata.
    rows: u64,
    /// The batch size the reader was built with (the last block size asked for).
    batch_rows: usize,
    pending: Pending,
}

impl ParquetSource {
    /// Opens `path` and reads its schema.
    ///
    /// # Errors
    /// [`Error::Source`] for a file that is not Parquet, a missing column, or a selected column
    /// that is not numeric.
    pub fn open(path: &Path, roles: &Roles) -> Result<Self> {
        let name = path.display().to_string();
        let builder = Self::builder(path)?;
        let selection = Selection::new(&name, builder.schema(), roles)?;
        let rows = u64::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0);
        Ok(Self {
            path: path.to_owned(),
            name,
            selection,
            reader: None,
            rows,
            batch_rows: 0,
            pending: Pending::default(),
        })
    }

    fn builder(path: &Path) -> Result<ParquetRecordBatchReaderBuilder<File>> {
        ParquetRecordBatchReaderBuilder::try_new(open_file(path)?).map_err(|e| Error::Source {
            source_name: path.display().to_string(),
            row: None,
            column: None,
            reason: format!("not a readable Parquet file: {e}"),
        })
    }

    fn build(&mut self, batch_rows: usize) -> Result<()> {
        let builder = Self::builder(&self.path)?;
        let indices = self.selection.indices(builder.schema());
        let mask = ProjectionMask::roots(builder.parquet_schema(), indices);
        let reader =
            builder.with_projection(mask).with_batch_size(batch_rows).build().map_err(|e| {
                Error::Source {
                    source_name: self.name.clone(),
                    row: None,
                    column: None,
                    reason: format!("cannot read: {e}"),
                }
            })?;
        self.reader = Some(reader);
        self.batch_rows = batch_rows;
        Ok(())
    }
}

impl RowSource for ParquetSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn rows_hint(&self) -> Option<u64> {
        Some(self.rows)
    }

    fn feature_names(&self) -> &[String] {
        &self.selection.features
    }

    fn has_target(&self) -> bool {
        self.selection.target.is_some()
    }

    fn has_weights(&self) -> bool {
        self.selection.weights.is_some()
    }

    fn has_trials(&self) -> bool {
        self.selection.trials.is_some()
    }

    fn has_offset(&self) -> bool {
        self.selection.offset.is_some()
    }

    fn fingerprint(&self) -> Result<Option<Fingerprint>> {
        Fingerprint::of_file(&self.path).map(Some)
    }

    fn rewind(&mut self) -> Result<()> {
        self.reader = None;
        self.pending = Pending::default();
        Ok(())
    }

    fn next_block(&mut self, block: &mut Block, max_rows: usize) -> Result<bool> {
        if self.reader.is_none() {
            // Built at a pass's first block, with the block size as the batch size, so a block
            // is one decoded batch (cut at row-group ends).
            self.build(max_rows.max(1))?;
        }
        let reader = &mut self.reader;
        self.pending.next_block(&self.name, &self.selection, block, max_rows, || {
            reader.as_mut()?.next().map(|r| r.map_err(|e| e.to_string()))
        })
    }
}

/// An Arrow IPC file (Feather v2), its record batches cut into blocks, only the selected
/// columns decoded.
pub struct ArrowIpcSource {
    path: PathBuf,
    name: String,
    selection: Selection,
    reader: Option<arrow_ipc::reader::FileReader<File>>,
    pending: Pending,
}

impl ArrowIpcSource {
    /// Opens `path` and reads its schema.
    ///
    /// # Errors
    /// [`Error::Source`] for a file that is not Arrow IPC, a missing column, or a selected
    /// column that is not numeric.
    pub fn open(path: &Path, roles: &Roles) -> Result<Self> {
        let name = path.display().to_string();
        let reader = Self::reader(path, None)?;
        let selection = Selection::new(&name, &reader.schema(), roles)?;
        let mut source = Self {
            path: path.to_owned(),
            name,
            selection,
            reader: None,
            pending: Pending::default(),
        };
        source.rewind()?;
        Ok(source)
    }

    fn reader(
        path: &Path,
        projection: Option<Vec<usize>>,
    ) -> Result<arrow_ipc::reader::FileReader<File>> {
        arrow_ipc::reader::FileReader::try_new(open_file(path)?, projection).map_err(|e| {
            Error::Source {
                source_name: path.display().to_string(),
                row: None,
                column: None,
                reason: format!("not a readable Arrow IPC file: {e}"),
            }
        })
    }
}

impl RowSource for ArrowIpcSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn feature_names(&self) -> &[String] {
        &self.selection.features
    }

    fn has_target(&self) -> bool {
        self.selection.target.is_some()
    }

    fn has_weights(&self) -> bool {
        self.selection.weights.is_some()
    }

    fn has_trials(&self) -> bool {
        self.selection.trials.is_some()
    }

    fn has_offset(&self) -> bool {
        self.selection.offset.is_some()
    }

    fn fingerprint(&self) -> Result<Option<Fingerprint>> {
        Fingerprint::of_file(&self.path).map(Some)
    }

    fn rewind(&mut self) -> Result<()> {
        let schema = Self::reader(&self.path, None)?.schema();
        let indices = self.selection.indices(&schema);
        self.reader = Some(Self::reader(&self.path, Some(indices))?);
        self.pending = Pending::default();
        Ok(())
    }

    fn next_block(&mut self, block: &mut Block, max_rows: usize) -> Result<bool> {
        let reader = &mut self.reader;
        self.pending.next_block(&self.name, &self.selection, block, max_rows, || {
            reader.as_mut()?.next().map(|r| r.map_err(|e| e.to_string()))
        })
    }
}
