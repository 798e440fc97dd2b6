//! `scalemix bench stream`: the throughput of a streamed pass (Parquet, CSV, gzip CSV) next to
//! the same pass over the data in memory, in one run. The files it writes are the inputs of the
//! peak-memory measurements in BENCHMARKS.md (`scalemix fit --stream` under `/usr/bin/time`).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use clap::Args;
use scalemix::backend::Problem;
use scalemix::backend::{Backend, CpuBackend, Needs, Stats};
use scalemix::source::{Format, Roles, open_file};
use scalemix::{Glm, Progress, StreamOptions, synthetic};

/// `bench stream`.
#[derive(Args)]
pub struct StreamArgs {
    /// Where the data files are written (and read back).
    #[arg(long)]
    dir: PathBuf,
    /// Rows of the Parquet file (quick: 200 000).
    #[arg(long)]
    n: Option<usize>,
    /// Rows of the CSV files (quick: 50 000).
    #[arg(long)]
    csv_rows: Option<usize>,
    /// Features.
    #[arg(long, default_value_t = 50)]
    p: usize,
    /// Rows per block.
    #[arg(long, default_value_t = scalemix::source::DEFAULT_BLOCK_ROWS)]
    block_rows: usize,
    /// Timed repetitions of each pass (the best is kept).
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// Small sizes that run in seconds.
    #[arg(long)]
    quick: bool,
    /// Reuse files already in --dir instead of writing them.
    #[arg(long)]
    reuse: bool,
    /// Instead of the throughput table: write `large.parquet` in --dir with this many rows of
    /// --p standard-normal features and logistic labels, generated and written block by block
    /// (uncompressed, so a pass is bound by the disk), for the fit larger than memory.
    #[arg(long)]
    write_large: Option<u64>,
    /// Instead of the throughput table: fit a logistic ridge (λ = 1e-4) streamed from
    /// --dir/large.parquet, printing every pass (rows per second, elapsed time, objective).
    #[arg(long)]
    fit_large: bool,
}

/// Rows per Parquet row group and Arrow record batch written.
const WRITE_BATCH: usize = 1 << 16;

pub fn run(args: &StreamArgs) -> Result<(), String> {
    if let Some(rows) = args.write_large {
        return write_large(&args.dir.join("large.parquet"), rows, args.p);
    }
    if args.fit_large {
        return fit_large(&args.dir.join("large.parquet"), args.block_rows);
    }
    let n = args.n.unwrap_or(if args.quick { 200_000 } else { 4_000_000 });
    let csv_rows = args.csv_rows.unwrap_or(if args.quick { 50_000 } else { 1_000_000 }).min(n);
    let p = args.p;
    std::fs::create_dir_all(&args.dir).map_err(|e| format!("{}: {e}", args.dir.display()))?;
    let started = Instant::now();
    let data = synthetic::ill_conditioned_logistic(n, p, 1e2, 1.0, 17);
    eprintln!("generated {n} × {p} in {:.1} s", started.elapsed().as_secs_f64());
    let parquet = args.dir.join("stream.parquet");
    let csv = args.dir.join("stream.csv");
    let gz = args.dir.join("stream.csv.gz");
    if !args.reuse {
        let t = Instant::now();
        write_parquet(&parquet, &data.x, &data.y, n, p)?;
        write_csv(&csv, &data.x, &data.y, csv_rows, p, false)?;
        write_csv(&gz, &data.x, &data.y, csv_rows, p, true)?;
        eprintln!("wrote the files in {:.1} s", t.elapsed().as_secs_f64());
    }
    let glm = Glm::logistic();
    let theta: Vec<f64> = (0..=p).map(|j| 0.01 * (j as f64 - p as f64 / 2.0) / p as f64).collect();
    println!(
        "streamed passes vs the same pass in memory (p = {p}, blocks of {} rows, best of {}):",
        args.block_rows, args.repeats
    );
    println!(
        "{:<28} {:>10} {:>14} {:>14} {:>10}",
        "data", "rows", "S pass rows/s", "∇L pass rows/s", "S vs mem"
    );
    let mut memory_rates = Vec::new();
    for rows in [n, csv_rows] {
        let x =
            scalemix::Design::row_major(&data.x[..rows * p], rows, p).map_err(|e| e.to_string())?;
        let problem = Problem::new(x, data.y[..rows].into(), None, scalemix::Family::Logistic)
            .map_err(|e| e.to_string())?;
        let rate = |needs| -> Result<f64, String> {
            let mut stats = Stats::new(p + 1);
            let mut best = f64::INFINITY;
            for _ in 0..args.repeats {
                let mut backend = CpuBackend::new(&problem, true);
                let t = Instant::now();
                backend.evaluate(&theta, needs, &mut stats).map_err(|e| e.to_string())?;
                best = best.min(t.elapsed().as_secs_f64());
            }
            Ok(rows as f64 / best)
        };
        let (gram, gradient) = (rate(Needs::GradientAndHessian)?, rate(Needs::Gradient)?);
        println!(
            "{:<28} {rows:>10} {gram:>14.0} {gradient:>14.0} {:>10}",
            format!("in memory ({rows} rows)"),
            "1.00"
        );
        memory_rates.push((rows, gram));
    }
    for file in [&parquet, &csv, &gz] {
        let mut rates = [0.0f64; 2];
        let mut rows = 0;
        for (k, needs) in [Needs::GradientAndHessian, Needs::Gradient].into_iter().enumerate() {
            for _ in 0..args.repeats {
                let seen = Arc::new(Mutex::new(None));
                let sink = Arc::clone(&seen);
                let options = StreamOptions {
                    block_rows: args.block_rows,
                    progress: Some(Arc::new(move |p: &Progress| {
                        *sink.lock().expect("not poisoned") = Some((p.rows, p.rows_per_second));
                    })),
                    ..StreamOptions::default()
                };
                let mut source =
                    open_file(file, &Roles::target(None)).map_err(|e| e.to_string())?;
                glm.clone()
                    .stream_options(options)
                    .statistics_source(&mut *source, &theta, needs)
                    .map_err(|e| e.to_string())?;
                let (r, rate) = seen.lock().expect("not poisoned").unwrap_or((0, 0.0));
                rows = r;
                rates[k] = rates[k].max(rate);
            }
        }
        let memory = memory_rates.iter().find(|(r, _)| *r as u64 == rows).map_or(f64::NAN, |m| m.1);
        let label = match Format::of(file) {
            Format::Parquet => "Parquet (snappy)".to_string(),
            _ if file.to_string_lossy().ends_with(".gz") => "gzip CSV".to_string(),
            _ => "CSV".to_string(),
        };
        println!(
            "{label:<28} {rows:>10} {:>14.0} {:>14.0} {:>10.2}",
            rates[0],
            rates[1],
            rates[0] / memory
        );
    }
    for file in [&parquet, &csv, &gz] {
        let size = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
        println!("  {}: {:.1} MiB", file.display(), size as f64 / (1 << 20) as f64);
    }
    Ok(())
}

/// Writes X (row-major) and y as a Parquet file of f64 columns x1…xp, y (snappy, row groups of
/// [`WRITE_BATCH`] rows).
fn write_parquet(path: &Path, x: &[f64], y: &[f64], n: usize, p: usize) -> Result<(), String> {
    use arrow_array::{ArrayRef, Float64Array, RecordBatch};
    use parquet::arrow::ArrowWriter;
    use parquet::basic::Compression;
    use parquet::file::properties::WriterProperties;
    let failed = |e: &dyn std::fmt::Display| format!("cannot write {}: {e}", path.display());
    let file = std::fs::File::create(path).map_err(|e| failed(&e))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        // Random floats do not repeat: plain pages, as writers fall back to for such columns.
        .set_dictionary_enabled(false)
        .set_max_row_group_row_count(Some(WRITE_BATCH))
        .build();
    let mut writer: Option<ArrowWriter<std::fs::File>> = None;
    let mut file = Some(file);
    for start in (0..n).step_by(WRITE_BATCH) {
        let rows = WRITE_BATCH.min(n - start);
        let mut columns: Vec<(String, ArrayRef)> = (0..p)
            .map(|j| {
                let values: Vec<f64> = (start..start + rows).map(|i| x[i * p + j]).collect();
                (format!("x{}", j + 1), Arc::new(Float64Array::from(values)) as ArrayRef)
            })
            .collect();
        columns.push(("y".into(), Arc::new(Float64Array::from(y[start..start + rows].to_vec()))));
        let batch = RecordBatch::try_from_iter(columns).map_err(|e| failed(&e))?;
        if writer.is_none() {
            let f = file.take().expect("opened once");
            writer = Some(
                ArrowWriter::try_new(f, batch.schema(), Some(props.clone()))
                    .map_err(|e| failed(&e))?,
            );
        }
        writer.as_mut().expect("created").write(&batch).map_err(|e| failed(&e))?;
    }
    writer.expect("at least one row").close().map_err(|e| failed(&e))?;
    Ok(())
}

/// Writes the first `rows` rows as CSV (gzip with `gz`), header x1…xp,y.
fn write_csv(
    path: &Path,
    x: &[f64],
    y: &[f64],
    rows: usize,
    p: usize,
    gz: bool,
) -> Result<(), String> {
    let failed = |e: &dyn std::fmt::Display| format!("cannot write {}: {e}", path.display());
    let file = std::io::BufWriter::new(std::fs::File::create(path).map_err(|e| failed(&e))?);
    if gz {
        let mut encoder = flate2::write::GzEncoder::new(file, flate2::Compression::default());
        write_rows(&mut encoder, x, y, rows, p).map_err(|e| failed(&e))?;
        encoder.finish().and_then(|mut f| f.flush()).map_err(|e| failed(&e))
    } else {
        let mut file = file;
        write_rows(&mut file, x, y, rows, p).map_err(|e| failed(&e))?;
        file.flush().map_err(|e| failed(&e))
    }
}

fn write_rows(
    out: &mut dyn std::io::Write,
    x: &[f64],
    y: &[f64],
    rows: usize,
    p: usize,
) -> std::io::Result<()> {
    let header: Vec<String> = (1..=p).map(|j| format!("x{j}")).collect();
    writeln!(out, "{},y", header.join(","))?;
    let mut line = String::new();
    for i in 0..rows {
        line.clear();
        for j in 0..p {
            line.push_str(&format!("{:?},", x[i * p + j]));
        }
        line.push_str(&format!("{:?}\n", y[i]));
        out.write_all(line.as_bytes())?;
    }
    Ok(())
}

/// `--write-large`: rows of N(0, 1) features and labels drawn from a logistic model with
/// βⱼ = ±1/√p, generated block by block from per-block seeds (nothing held but one block).
fn write_large(path: &Path, rows: u64, p: usize) -> Result<(), String> {
    use arrow_array::{ArrayRef, Float64Array, RecordBatch};
    use parquet::arrow::ArrowWriter;
    use parquet::basic::Compression;
    use parquet::file::properties::WriterProperties;
    use rand::rngs::StdRng;
    use rand::{RngExt, SeedableRng};
    use rand_distr::StandardNormal;
    let failed = |e: &dyn std::fmt::Display| format!("cannot write {}: {e}", path.display());
    let props = WriterProperties::builder()
        .set_compression(Compression::UNCOMPRESSED)
        .set_dictionary_enabled(false)
        .set_max_row_group_row_count(Some(1 << 20))
        .build();
    let beta: Vec<f64> =
        (0..p).map(|j| if j % 2 == 0 { 1.0 } else { -1.0 } / (p as f64).sqrt()).collect();
    let started = Instant::now();
    let mut writer: Option<ArrowWriter<std::fs::File>> = None;
    let block = 1u64 << 20;
    let mut start = 0u64;
    while start < rows {
        let n = block.min(rows - start) as usize;
        let mut rng = StdRng::seed_from_u64(start);
        let mut columns: Vec<Vec<f64>> = (0..p).map(|_| Vec::with_capacity(n)).collect();
        let mut y = Vec::with_capacity(n);
        for _ in 0..n {
            let mut eta = 0.0;
            for (column, b) in columns.iter_mut().zip(&beta) {
                let v: f64 = rng.sample(StandardNormal);
                eta += v * b;
                column.push(v);
            }
            let u: f64 = rng.random();
            y.push(if u < scalemix::family::sigmoid(eta) { 1.0 } else { 0.0 });
        }
        let mut arrays: Vec<(String, ArrayRef)> = columns
            .into_iter()
            .enumerate()
            .map(|(j, c)| (format!("x{}", j + 1), Arc::new(Float64Array::from(c)) as ArrayRef))
            .collect();
        arrays.push(("y".into(), Arc::new(Float64Array::from(y))));
        let batch = RecordBatch::try_from_iter(arrays).map_err(|e| failed(&e))?;
        if writer.is_none() {
            let file = std::fs::File::create(path).map_err(|e| failed(&e))?;
            writer = Some(
                ArrowWriter::try_new(file, batch.schema(), Some(props.clone()))
                    .map_err(|e| failed(&e))?,
            );
        }
        writer.as_mut().expect("created").write(&batch).map_err(|e| failed(&e))?;
        start += n as u64;
        if start.is_multiple_of(1 << 24) {
            eprintln!("{start} rows in {:.0} s", started.elapsed().as_secs_f64());
        }
    }
    if let Some(writer) = writer {
        writer.close().map_err(|e| failed(&e))?;
    }
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    println!(
        "wrote {} ({rows} × {p}, {:.1} GiB) in {:.0} s",
        path.display(),
        size as f64 / (1u64 << 30) as f64,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `--fit-large`: the streamed fit, every pass printed as it ends.
fn fit_large(path: &Path, block_rows: usize) -> Result<(), String> {
    let mut source = open_file(path, &Roles::target(None)).map_err(|e| e.to_string())?;
    let options = StreamOptions {
        block_rows,
        progress: Some(Arc::new(|p: &Progress| {
            println!(
                "pass {:>2}: {:>11} rows, {:>10.0} rows/s, {:>7.1} s elapsed, objective {:.15}",
                p.pass,
                p.rows,
                p.rows_per_second,
                p.elapsed.as_secs_f64(),
                p.objective
            );
        })),
        ..StreamOptions::default()
    };
    let fit = Glm::logistic()
        .penalty(scalemix::Penalty::ridge(1e-4))
        .stream_options(options)
        .fit_source(&mut *source)
        .map_err(|e| e.to_string())?;
    println!(
        "{:?} in {} iterations, objective {:.15}, KKT {:.1e}, {:.1} s, on {}",
        fit.termination(),
        fit.iterations(),
        fit.objective(),
        fit.kkt_violation(),
        fit.elapsed().as_secs_f64(),
        fit.backend()
    );
    Ok(())
}
