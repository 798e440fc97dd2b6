//! Reading data files for the command-line tool (feature `cli`): CSV with a header row, or
//! LIBSVM/svmlight text, either possibly gzipped. Every malformed input is an `Err` naming the
//! file, line and column, never a panic (a fuzz target in `fuzz/` holds them to that).

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// A data set read from a file: X row-major, the target, named extra columns, feature names.
#[derive(Debug)]
pub struct Dataset {
    /// X, row-major, n × p.
    pub x: Vec<f64>,
    /// Rows.
    pub n: usize,
    /// Feature columns.
    pub p: usize,
    /// The target column (empty when the file has none and none was required).
    pub y: Vec<f64>,
    /// The named extra columns (weights, trials), in the order asked.
    pub extras: Vec<Vec<f64>>,
    /// The feature columns' names (x1, x2, … for LIBSVM).
    pub feature_names: Vec<String>,
}

/// Which columns play which role.
pub struct Columns<'a> {
    /// The target's name; `None`: `y` if present, else the last column.
    pub target: Option<&'a str>,
    /// Named columns to read apart from the features (weights, binomial trials).
    pub extras: &'a [&'a str],
    /// Whether the file must have a target (fit, path, cv) or may lack one (predict).
    pub target_required: bool,
    /// For predict: the model's feature names, taken by name from a CSV header.
    pub features: Option<&'a [String]>,
}

/// Opens a file, decompressing gzip when the name ends in `.gz` or the content starts with
/// gzip's magic bytes.
fn open(path: &Path) -> Result<Box<dyn Read>, String> {
    let mut file = File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let mut magic = [0u8; 2];
    let read = file.read(&mut magic).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let file = File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let gz = path.extension().is_some_and(|e| e == "gz") || (read == 2 && magic == [0x1f, 0x8b]);
    Ok(if gz {
        Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(file)))
    } else {
        Box::new(BufReader::new(file))
    })
}

/// LIBSVM when the (uncompressed) name ends in .svm, .libsvm or .svmlight; CSV otherwise.
fn is_libsvm(path: &Path) -> bool {
    let name = path.to_string_lossy().to_ascii_lowercase();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    [".svm", ".libsvm", ".svmlight"].iter().any(|e| name.ends_with(e))
}

/// Reads `path` (see the module docs).
///
/// # Errors
/// A one-line message naming the file and, for malformed content, the line and column.
pub fn read(path: &Path, columns: &Columns<'_>) -> Result<Dataset, String> {
    read_from(open(path)?, path, is_libsvm(path), columns)
}

/// Reads already-opened content; `name` labels the messages, `libsvm` picks the format.
///
/// # Errors
/// As [`read`].
pub fn read_from(
    reader: Box<dyn Read>,
    name: &Path,
    libsvm: bool,
    columns: &Columns<'_>,
) -> Result<Dataset, String> {
    let data =
        if libsvm { read_libsvm(reader, name, columns)? } else { read_csv(reader, name, columns)? };
    if data.n == 0 {
        return Err(format!("{}: no data rows", name.display()));
    }
    Ok(data)
}

fn read_csv(reader: Box<dyn Read>, path: &Path, columns: &Columns<'_>) -> Result<Dataset, String> {
    let name = path.display();
    let mut csv = csv::ReaderBuilder::new().has_headers(true).from_reader(reader);
    let headers: Vec<String> = csv
        .headers()
        .map_err(|e| format!("{name}: cannot read the header row: {e}"))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    if headers.is_empty() || headers.iter().all(String::is_empty) {
        return Err(format!("{name}: empty file (no header row)"));
    }
    let find = |wanted: &str| headers.iter().position(|h| h == wanted);
    let target = match columns.target {
        Some(t) => Some(find(t).ok_or_else(|| {
            format!("{name}: no column named {t:?} (columns: {})", headers.join(", "))
        })?),
        None if columns.features.is_some() => find("y"),
        None => find("y").or(Some(headers.len() - 1)),
    };
    let extras: Vec<usize> = columns
        .extras
        .iter()
        .map(|w| {
            find(w).ok_or_else(|| {
                format!("{name}: no column named {w:?} (columns: {})", headers.join(", "))
            })
        })
        .collect::<Result<_, _>>()?;
    let feature_columns: Vec<usize> = match columns.features {
        Some(names) => names
            .iter()
            .map(|f| {
                find(f).ok_or_else(|| format!("{name}: the model's feature {f:?} is not a column"))
            })
            .collect::<Result<_, _>>()?,
        None => (0..headers.len()).filter(|&c| Some(c) != target && !extras.contains(&c)).collect(),
    };
    if feature_columns.is_empty() {
        return Err(format!("{name}: no feature columns besides the target"));
    }
    let (mut x, mut y, mut n) = (Vec::new(), Vec::new(), 0usize);
    let mut extra_values = vec![Vec::new(); extras.len()];
    for (row, record) in csv.records().enumerate() {
        // Line numbers count the header as line 1.
        let line = row + 2;
        let record = record.map_err(|e| format!("{name}: line {line}: {e}"))?;
        if record.len() != headers.len() {
            return Err(format!(
                "{name}: line {line} has {} fields, the header has {}",
                record.len(),
                headers.len()
            ));
        }
        let cell = |c: usize| -> Result<f64, String> {
            let text = record[c].trim();
            let value: f64 = text.parse().map_err(|_| {
                format!(
                    "{name}: line {line}, column {} ({}): {text:?} is not a number",
                    c + 1,
                    headers[c]
                )
            })?;
            if value.is_finite() {
                Ok(value)
            } else {
                Err(format!(
                    "{name}: line {line}, column {} ({}): {text} is not finite",
                    c + 1,
                    headers[c]
                ))
            }
        };
        for &c in &feature_columns {
            x.push(cell(c)?);
        }
        if let Some(t) = target {
            y.push(cell(t)?);
        }
        for (values, &c) in extra_values.iter_mut().zip(&extras) {
            values.push(cell(c)?);
        }
        n += 1;
    }
    if columns.target_required && target.is_none() {
        return Err(format!("{name}: no target column"));
    }
    Ok(Dataset {
        p: feature_columns.len(),
        x,
        n,
        y,
        extras: extra_values,
        feature_names: feature_columns.iter().map(|&c| headers[c].clone()).collect(),
    })
}

/// Reads every row of `source` into memory (Parquet and Arrow files, which the tool reads
/// through their row sources): the extras are the weights, then the trials, where the source
/// has them.
///
/// # Errors
/// The source's message, or "no data rows".
pub fn collect(source: &mut dyn crate::source::RowSource) -> Result<Dataset, String> {
    let p = source.ncols();
    let (mut x, mut y, mut weights, mut trials) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut block = crate::source::Block::default();
    source.rewind().map_err(|e| e.to_string())?;
    while source
        .next_block(&mut block, crate::source::DEFAULT_BLOCK_ROWS)
        .map_err(|e| e.to_string())?
    {
        for i in 0..block.rows {
            x.extend((0..p).map(|j| block.x[j * block.rows + i]));
        }
        y.extend_from_slice(&block.y);
        weights.extend_from_slice(&block.weights);
        trials.extend_from_slice(&block.trials);
    }
    let n = x.len() / p.max(1);
    if n == 0 {
        return Err(format!("{}: no data rows", source.name()));
    }
    let extras = [weights, trials].into_iter().filter(|v| !v.is_empty()).collect();
    Ok(Dataset { x, n, p, y, extras, feature_names: source.feature_names().to_vec() })
}

/// Dense matrices up to this many values are always accepted from LIBSVM files…
const DENSE_SMALL: usize = 1 << 24;
/// …larger ones only if the file stores at least 1/this of their values.
const DENSE_EXPANSION: usize = 64;

/// `label index:value index:value …` per line, indices from 1; a `qid:` pair is ignored.
fn read_libsvm(
    reader: Box<dyn Read>,
    path: &Path,
    columns: &Columns<'_>,
) -> Result<Dataset, String> {
    let name = path.display();
    if let Some(extra) = columns.extras.first() {
        return Err(format!("{name}: LIBSVM files have no named columns (asked for {extra:?})"));
    }
    let mut rows: Vec<Vec<(usize, f64)>> = Vec::new();
    let mut y = Vec::new();
    let mut p = 0usize;
    for (index, line) in BufReader::new(reader).lines().enumerate() {
        let number = index + 1;
        let line = line.map_err(|e| format!("{name}: line {number}: {e}"))?;
        let content = line.split('#').next().unwrap_or("").trim();
        if content.is_empty() {
            continue;
        }
        let mut fields = content.split_whitespace();
        let label = fields.next().unwrap_or("");
        let label: f64 = label.parse().ok().filter(|v: &f64| v.is_finite()).ok_or_else(|| {
            format!("{name}: line {number}, field 1: {label:?} is not a finite label")
        })?;
        let mut row = Vec::new();
        for (f, pair) in fields.enumerate() {
            let field = f + 2;
            let (key, value) = pair.split_once(':').ok_or_else(|| {
                format!("{name}: line {number}, field {field}: {pair:?} is not index:value")
            })?;
            if key == "qid" {
                continue;
            }
            let column: usize = key.parse().ok().filter(|&c| c >= 1).ok_or_else(|| {
                format!(
                    "{name}: line {number}, field {field}: index {key:?} is not a positive integer"
                )
            })?;
            let value: f64 =
                value.parse().ok().filter(|v: &f64| v.is_finite()).ok_or_else(|| {
                    format!(
                        "{name}: line {number}, field {field}: {value:?} is not a finite number"
                    )
                })?;
            p = p.max(column);
            row.push((column - 1, value));
        }
        rows.push(row);
        y.push(label);
    }
    if let Some(features) = columns.features {
        p = p.max(features.len());
    }
    let n = rows.len();
    if p == 0 && n > 0 {
        return Err(format!("{name}: no features (every line holds only a label)"));
    }
    // X is stored densely: refuse a file whose largest index would blow a few stored values up
    // into a matrix far larger than the file (e.g. one entry at index 10⁹).
    let entries: usize = rows.iter().map(Vec::len).sum::<usize>() + n;
    let dense = n.saturating_mul(p);
    if dense > DENSE_SMALL && dense / DENSE_EXPANSION > entries {
        return Err(format!(
            "{name}: feature index {p} would make a dense {n} × {p} matrix from {entries} stored \
             values; scalemix stores X densely, so renumber the features compactly"
        ));
    }
    let mut x = vec![0.0; n * p];
    for (i, row) in rows.iter().enumerate() {
        for &(c, v) in row {
            x[i * p + c] = v;
        }
    }
    Ok(Dataset {
        x,
        n,
        p,
        y,
        extras: Vec::new(),
        feature_names: (1..=p).map(|c| format!("x{c}")).collect(),
    })
}
