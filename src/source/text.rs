//! Text sources: CSV/TSV with a header row and LIBSVM/svmlight, either possibly gzipped, parsed
//! block by block.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use super::{Block, Fingerprint, Resolved, Roles, RowSource, SparseRows};
use crate::error::{Error, Result};

/// Opens a file, decompressing gzip when the name ends in `.gz` or the content starts with
/// gzip's magic bytes.
pub(crate) fn open_reader(path: &Path) -> Result<Box<dyn Read + Send>> {
    let fail = |e: std::io::Error| Error::Source {
        source_name: path.display().to_string(),
        row: None,
        column: None,
        reason: format!("cannot open: {e}"),
    };
    let mut file = File::open(path).map_err(fail)?;
    let mut magic = [0u8; 2];
    let read = file.read(&mut magic).map_err(fail)?;
    let file = File::open(path).map_err(fail)?;
    let gz = path.extension().is_some_and(|e| e == "gz") || (read == 2 && magic == [0x1f, 0x8b]);
    Ok(if gz {
        Box::new(BufReader::with_capacity(1 << 16, flate2::read::MultiGzDecoder::new(file)))
    } else {
        Box::new(BufReader::with_capacity(1 << 16, file))
    })
}

/// An error of `source` at a row and column.
fn at(source: &str, row: u64, column: Option<&str>, reason: String) -> Error {
    Error::Source {
        source_name: source.to_owned(),
        row: Some(row),
        column: column.map(str::to_owned),
        reason,
    }
}

/// A CSV file with a header row (TSV when the name ends in `.tsv`, before any `.gz`), plain or
/// gzip, read block by block. Values are parsed as f64; the response, weights and trials
/// columns are chosen by name ([`Roles`]).
pub struct CsvSource {
    path: PathBuf,
    name: String,
    delimiter: u8,
    headers: Vec<String>,
    columns: Resolved,
    feature_names: Vec<String>,
    reader: csv::Reader<Box<dyn Read + Send>>,
    record: csv::ByteRecord,
    next_row: u64,
    /// The block's rows parsed row-major before the transpose into the block.
    scratch: Vec<f64>,
}

impl CsvSource {
    /// Opens `path` and reads its header row.
    ///
    /// # Errors
    /// [`Error::Source`] when the file cannot be opened, has no header, or lacks a column
    /// `roles` names.
    pub fn open(path: &Path, roles: &Roles) -> Result<Self> {
        let name = path.display().to_string();
        let lower = name.to_ascii_lowercase();
        let delimiter = if lower.strip_suffix(".gz").unwrap_or(&lower).ends_with(".tsv") {
            b'\t'
        } else {
            b','
        };
        let mut reader = Self::reader(path, delimiter)?;
        let headers: Vec<String> = reader
            .headers()
            .map_err(|e| Error::Source {
                source_name: name.clone(),
                row: None,
                column: None,
                reason: format!("cannot read the header row: {e}"),
            })?
            .iter()
            .map(|h| h.trim().to_string())
            .collect();
        if headers.is_empty() || headers.iter().all(String::is_empty) {
            return Err(Error::Source {
                source_name: name,
                row: None,
                column: None,
                reason: "empty file (no header row)".into(),
            });
        }
        let columns = roles.resolve(&name, &headers)?;
        let feature_names = columns.features.iter().map(|&c| headers[c].clone()).collect();
        Ok(Self {
            path: path.to_owned(),
            name,
            delimiter,
            headers,
            columns,
            feature_names,
            reader,
            record: csv::ByteRecord::new(),
            next_row: 0,
            scratch: Vec::new(),
        })
    }

    fn reader(path: &Path, delimiter: u8) -> Result<csv::Reader<Box<dyn Read + Send>>> {
        Ok(csv::ReaderBuilder::new()
            .has_headers(true)
            .delimiter(delimiter)
            .from_reader(open_reader(path)?))
    }

    /// The value in column `c` of the current record (global row `row`): parsed from the bytes
    /// as they are (no UTF-8 check, no copy), the shortest-path float parser that is exact to
    /// the last bit as `str::parse` is.
    fn cell(&self, row: u64, c: usize) -> Result<f64> {
        let bytes = self.record[c].trim_ascii();
        fast_float2::parse(bytes).map_err(|_| {
            at(
                &self.name,
                row,
                Some(&self.headers[c]),
                format!("{:?} is not a number (line {})", String::from_utf8_lossy(bytes), row + 2),
            )
        })
    }
}

impl RowSource for CsvSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn feature_names(&self) -> &[String] {
        &self.feature_names
    }

    fn has_target(&self) -> bool {
        self.columns.target.is_some()
    }

    fn has_weights(&self) -> bool {
        self.columns.weights.is_some()
    }

    fn has_trials(&self) -> bool {
        self.columns.trials.is_some()
    }

    fn has_offset(&self) -> bool {
        self.columns.offset.is_some()
    }

    fn fingerprint(&self) -> Result<Option<Fingerprint>> {
        Fingerprint::of_file(&self.path).map(Some)
    }

    fn rewind(&mut self) -> Result<()> {
        self.reader = Self::reader(&self.path, self.delimiter)?;
        // The header row was checked at open; a pass only needs to step over it.
        self.reader.headers().map_err(|e| Error::Source {
            source_name: self.name.clone(),
            row: None,
            column: None,
            reason: format!("cannot read the header row: {e}"),
        })?;
        self.next_row = 0;
        Ok(())
    }

    fn next_block(&mut self, block: &mut Block, max_rows: usize) -> Result<bool> {
        let p = self.feature_names.len();
        let first = self.next_row;
        self.scratch.clear();
        block.reset(first, 0);
        let mut rows = 0;
        while rows < max_rows.max(1) {
            let row = first + rows as u64;
            let mut record = std::mem::take(&mut self.record);
            let more = self.reader.read_byte_record(&mut record).map_err(|e| {
                at(&self.name, row, None, format!("cannot read line {}: {e}", row + 2))
            });
            self.record = record;
            if !more? {
                break;
            }
            if self.record.len() != self.headers.len() {
                return Err(at(
                    &self.name,
                    row,
                    None,
                    format!(
                        "line {} has {} fields, the header has {}",
                        row + 2,
                        self.record.len(),
                        self.headers.len()
                    ),
                ));
            }
            for k in 0..p {
                let value = self.cell(row, self.columns.features[k])?;
                self.scratch.push(value);
            }
            if let Some(t) = self.columns.target {
                block.y.push(self.cell(row, t)?);
            }
            if let Some(w) = self.columns.weights {
                block.weights.push(self.cell(row, w)?);
            }
            if let Some(m) = self.columns.trials {
                block.trials.push(self.cell(row, m)?);
            }
            if let Some(o) = self.columns.offset {
                block.offset.push(self.cell(row, o)?);
            }
            rows += 1;
        }
        block.rows = rows;
        block.x.resize(rows * p, 0.0);
        for (i, values) in self.scratch.chunks_exact(p.max(1)).enumerate() {
            for (j, &v) in values.iter().enumerate() {
                block.x[j * rows + i] = v;
            }
        }
        self.next_row += rows as u64;
        Ok(rows > 0)
    }
}

/// Sparse files with up to this many features are always accepted…
const FEATURES_SMALL: u64 = 1 << 24;
/// …more only if they store at least 1/this as many values.
const FEATURES_EXPANSION: u64 = 64;

/// Rows a LIBSVM file's opening scan reads at a time: it only counts them, so a small buffer of
/// entries (24 bytes each) serves, where a block of the default size could hold the whole file.
const SCAN_BLOCK_ROWS: usize = 1024;

/// A LIBSVM/svmlight file (`label index:value …`, `qid:` ignored, `#` comments), plain or
/// gzip. The number of features is the largest index, found by one scan when the file is
/// opened (or given, for predictions with a model's p).
///
/// Indices count from 1 (LIBSVM's convention) unless the file holds an index 0: then from 0,
/// as scikit-learn's `dump_svmlight_file` writes them by default and its
/// `load_svmlight_file(zero_based="auto")` reads them. The features are named by the file's
/// own indices (`x1`, … or `x0`, …), so a model's names say which convention it was fitted
/// on, and a file read for its predictions takes the model's.
pub struct LibsvmSource {
    path: PathBuf,
    name: String,
    feature_names: Vec<String>,
    reader: Box<dyn BufRead + Send>,
    line: String,
    /// Lines read in this pass (for messages: the file's line numbers count comment lines).
    line_number: u64,
    next_row: u64,
    /// The block's stored entries: (row in block, column, value).
    entries: Vec<(usize, usize, f64)>,
    /// Data rows and stored values, counted by the scan at opening.
    counts: (u64, u64),
    /// The index of the first feature in the file: 1, or 0 where the file (or the model the
    /// file is read for) counts from 0.
    first_index: usize,
}

/// The index base a model's feature names imply (`x0` first: 0, `x1` first: 1), where they are
/// a LIBSVM file's names.
fn index_base_of_names(names: &[String]) -> Option<usize> {
    match names.first().map(String::as_str) {
        Some("x0") => Some(0),
        Some("x1") => Some(1),
        _ => None,
    }
}

impl LibsvmSource {
    /// Opens `path` and scans it once for the number of features (at least the number of
    /// `roles.features`, when given), counting its rows and stored values on the way
    /// ([`RowSource::rows_hint`], [`RowSource::stored_hint`]). Its blocks are [`crate::source::SparseRows`]: memory
    /// O(stored values) whatever the largest index.
    ///
    /// # Errors
    /// [`Error::Source`] for a file that cannot be read or parsed, one with named roles
    /// (LIBSVM has no column names), or one whose largest index is far beyond its stored values.
    pub fn open(path: &Path, roles: &Roles) -> Result<Self> {
        let name = path.display().to_string();
        if roles.weights.is_some()
            || roles.trials.is_some()
            || roles.offset.is_some()
            || roles.target.is_some()
        {
            return Err(Error::Source {
                source_name: name,
                row: None,
                column: None,
                reason:
                    "LIBSVM files have no named columns (weights, trials, an offset or a named \
                         response need a CSV, Parquet or Arrow file)"
                        .into(),
            });
        }
        let mut source = Self {
            path: path.to_owned(),
            name,
            feature_names: Vec::new(),
            reader: Box::new(BufReader::new(open_reader(path)?)),
            line: String::new(),
            line_number: 0,
            next_row: 0,
            entries: Vec::new(),
            counts: (0, 0),
            // The scan reads the indices as written; the base is decided after it.
            first_index: 0,
        };
        let given = roles.features.as_deref().unwrap_or(&[]);
        let mut labels = Vec::new();
        let (mut rows, mut stored) = (0u64, 0u64);
        let (mut largest, mut zero) = (None::<usize>, false);
        loop {
            source.read_rows(&mut labels, SCAN_BLOCK_ROWS)?;
            if labels.is_empty() {
                break;
            }
            rows += labels.len() as u64;
            stored += source.entries.len() as u64;
            for &(_, index, _) in &source.entries {
                largest = largest.max(Some(index));
                zero |= index == 0;
            }
        }
        source.first_index = match index_base_of_names(given) {
            Some(base) => base,
            None => usize::from(!zero),
        };
        if source.first_index == 1 && zero {
            return Err(Error::Source {
                source_name: source.name,
                row: None,
                column: None,
                reason: "index 0 in a file read with indices from 1, as the model's features \
                         x1, x2, … were fitted"
                    .into(),
            });
        }
        let mut p = given.len();
        if let Some(largest) = largest {
            p = p.max(largest + 1 - source.first_index);
        }
        if p == 0 && rows > 0 {
            return Err(Error::Source {
                source_name: source.name,
                row: None,
                column: None,
                reason: "no features (every line holds only a label)".into(),
            });
        }
        // Every feature costs memory in a fit, stored or not (its coefficient, its gradient, its
        // name): a few entries at a huge index would ask for gigabytes of them.
        if p as u64 > FEATURES_SMALL && p as u64 / FEATURES_EXPANSION > stored + rows {
            return Err(Error::Source {
                source_name: source.name,
                row: None,
                column: None,
                reason: format!(
                    "feature index {p} is far beyond the {stored} stored values (a fit holds \
                     several values per feature); renumber the features compactly"
                ),
            });
        }
        let first = source.first_index;
        source.feature_names = (first..p + first).map(|c| format!("x{c}")).collect();
        source.counts = (rows, stored);
        source.entries = Vec::new();
        source.rewind()?;
        Ok(source)
    }

    /// Reads up to `max_rows` data lines from the current position: their labels into
    /// `labels` (cleared first), their entries into `self.entries`.
    fn read_rows(&mut self, labels: &mut Vec<f64>, max_rows: usize) -> Result<()> {
        let first = self.next_row;
        self.entries.clear();
        labels.clear();
        while labels.len() < max_rows.max(1) {
            let row = first + labels.len() as u64;
            self.line.clear();
            let read = self.reader.read_line(&mut self.line).map_err(|e| {
                at(&self.name, row, None, format!("cannot read line {}: {e}", self.line_number + 1))
            })?;
            if read == 0 {
                break;
            }
            self.line_number += 1;
            if self.line.split('#').next().unwrap_or("").trim().is_empty() {
                continue;
            }
            let label = self.parse(row, labels.len())?;
            labels.push(label);
        }
        self.next_row += labels.len() as u64;
        Ok(())
    }

    /// The error for an entry at `column` beyond the source's features (a prediction file with
    /// more features than the model), in row `row`.
    fn beyond(&self, row: u64, column: usize) -> Error {
        let p = self.feature_names.len();
        let index = column + self.first_index;
        at(
            &self.name,
            row,
            Some(&format!("x{index}")),
            format!("index {index} beyond the {p} features"),
        )
    }

    /// Parses one non-empty line into the block's entries; returns its label.
    fn parse(&mut self, row: u64, row_in_block: usize) -> Result<f64> {
        let (name, number) = (&self.name, self.line_number);
        let content = self.line.split('#').next().unwrap_or("").trim();
        let mut fields = content.split_whitespace();
        let label = fields.next().unwrap_or("");
        let label: f64 = label.parse().map_err(|_| {
            at(name, row, Some("label"), format!("{label:?} is not a number (line {number})"))
        })?;
        for pair in fields {
            let (key, value) = pair.split_once(':').ok_or_else(|| {
                at(name, row, None, format!("{pair:?} is not index:value (line {number})"))
            })?;
            if key == "qid" {
                continue;
            }
            let index: usize = key.parse().map_err(|_| {
                at(
                    name,
                    row,
                    None,
                    format!("index {key:?} is not a non-negative integer (line {number})"),
                )
            })?;
            let value: f64 = value.parse().map_err(|_| {
                at(
                    name,
                    row,
                    Some(&format!("x{index}")),
                    format!("{value:?} is not a number (line {number})"),
                )
            })?;
            // The scan at opening refused an index below the base; one here means the file
            // changed since.
            let column = index.checked_sub(self.first_index).ok_or_else(|| {
                at(
                    name,
                    row,
                    None,
                    format!("index 0 in a file read with indices from 1 (line {number})"),
                )
            })?;
            self.entries.push((row_in_block, column, value));
        }
        Ok(label)
    }
}

impl RowSource for LibsvmSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn feature_names(&self) -> &[String] {
        &self.feature_names
    }

    fn has_target(&self) -> bool {
        true
    }

    fn fingerprint(&self) -> Result<Option<Fingerprint>> {
        Fingerprint::of_file(&self.path).map(Some)
    }

    fn rewind(&mut self) -> Result<()> {
        self.reader = Box::new(BufReader::new(open_reader(&self.path)?));
        self.line_number = 0;
        self.next_row = 0;
        Ok(())
    }

    fn sparse(&self) -> bool {
        true
    }

    fn rows_hint(&self) -> Option<u64> {
        Some(self.counts.0)
    }

    fn stored_hint(&self) -> Option<u64> {
        Some(self.counts.1)
    }

    fn next_block(&mut self, block: &mut Block, max_rows: usize) -> Result<bool> {
        let p = self.feature_names.len();
        let first = self.next_row;
        let mut labels = std::mem::take(&mut block.y);
        self.read_rows(&mut labels, max_rows)?;
        let rows = labels.len();
        block.reset(first, rows);
        block.y = labels;
        let sparse = block.sparse.get_or_insert_with(SparseRows::default);
        // Entries arrive row by row (each row's in the file's order).
        let mut row_entries = Vec::new();
        let mut start = 0;
        for r in 0..rows {
            let end = start + self.entries[start..].iter().take_while(|e| e.0 == r).count();
            row_entries.clear();
            row_entries.extend(self.entries[start..end].iter().map(|&(_, c, v)| (c, v)));
            if let Some(&(c, _)) = row_entries.iter().find(|e| e.0 >= p) {
                return Err(self.beyond(first + r as u64, c));
            }
            if let Some(c) = sparse.push_row(&mut row_entries) {
                return Err(at(
                    &self.name,
                    first + r as u64,
                    Some(&format!("x{}", c + self.first_index)),
                    "index given twice on one line".into(),
                ));
            }
            start = end;
        }
        Ok(rows > 0)
    }
}
