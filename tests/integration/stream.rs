//! Fits on row sources against the same fits in memory: fixtures, every family, block sizes,
//! file formats, bad input and sources that change mid-fit.

use std::path::Path as FsPath;
use std::sync::Arc;

use scalemix::source::{Block, Fingerprint, MemorySource, Roles, RowSource, open_file};
use scalemix::{
    Data, Design, Error, Family, Glm, PathOptions, Penalty, StreamFolds, StreamOptions, Termination,
};

use crate::common::reference;

/// Streamed and in-memory objectives agree to this relative difference.
const SAME_OBJECTIVE: f64 = 1e-12;

fn streaming(glm: Glm, block_rows: usize) -> Glm {
    glm.stream_options(StreamOptions { block_rows, ..StreamOptions::default() })
}

fn relative(a: f64, b: f64) -> f64 {
    (a - b).abs() / a.abs().max(b.abs()).max(1e-300)
}

/// A seeded design with columns of different scales, and a linear predictor of it.
fn design(n: usize, p: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let mut uniform = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 11) as f64) / ((1u64 << 53) as f64)
    };
    let x: Vec<f64> = (0..n * p).map(|k| (uniform() - 0.5) * (1.0 + (k % p) as f64)).collect();
    let eta: Vec<f64> = (0..n)
        .map(|i| (0..p).map(|j| x[i * p + j] * if j % 3 == 0 { 0.8 } else { -0.3 }).sum::<f64>())
        .map(|e| e + 0.3 * (uniform() - 0.5))
        .collect();
    (x, eta)
}

#[test]
fn streamed_fits_equal_in_memory_fits_on_every_fixture() {
    for name in [
        "breast_cancer_logistic_ridge",
        "breast_cancer_logistic_lasso",
        "illcond_logistic_p100",
        "diabetes_quantile_median",
        "wine_hinge_ridge",
    ] {
        let r = reference(name);
        let glm = crate::fixtures::reference_model(&r, scalemix::Acceleration::Auto)
            .backend(scalemix::BackendChoice::Cpu);
        let x = Design::row_major(&r.x, r.n, r.p).unwrap();
        let memory = glm.fit(x, &r.y).unwrap();
        let mut source = MemorySource::new(x, &r.y).unwrap();
        let streamed = streaming(glm, 97).fit_source(&mut source).unwrap();
        assert_eq!(streamed.termination(), Termination::Converged, "{name}");
        crate::fixtures::check_gap(&r, &streamed);
        let diff = relative(streamed.objective(), memory.objective());
        eprintln!("{name}: streamed vs in memory {diff:.2e}");
        // An in-memory hinge or quantile ridge ends with the exact solve of its kink rows; the
        // streamed fit on the smoothed loss, within the smoothing's bound above it.
        let exact_in_memory = memory.backend().device.contains("rows at the kink");
        let same = if exact_in_memory { crate::fixtures::stated_gap(&r) } else { SAME_OBJECTIVE };
        assert!(diff <= same, "{name}: {} vs {}", streamed.objective(), memory.objective());
        if exact_in_memory {
            assert!(memory.objective() <= streamed.objective(), "{name}");
        }
    }
}

/// Name, model, X, y, weights, trials.
type Case<'a> = (&'a str, Glm, &'a [f64], &'a [f64], Option<&'a [f64]>, Option<&'a [f64]>);

/// Each family (with weights, trials, standardization and a badly scaled design where they
/// apply) streamed in blocks of 61 rows against the same fit in memory.
#[test]
fn every_family_streams_to_the_in_memory_optimum() {
    let (n, p) = (700, 6);
    let (x, eta) = design(n, p, 3);
    let binary: Vec<f64> = eta.iter().map(|&e| f64::from(u8::from(e > 0.1))).collect();
    let weights: Vec<f64> = (0..n).map(|i| 0.5 + (i % 4) as f64).collect();
    let trials: Vec<f64> = (0..n).map(|i| (1 + i % 5) as f64).collect();
    let successes: Vec<f64> =
        trials.iter().zip(&eta).map(|(m, e)| (m * scalemix::family::sigmoid(*e)).round()).collect();
    // Columns 1e4 apart in scale and shifted far from zero: fitted preconditioned.
    let badly: Vec<f64> =
        x.iter().enumerate().map(|(k, v)| v * 10f64.powi((k % p) as i32 - 2) + 1e5).collect();
    let cases: Vec<Case<'_>> = vec![
        (
            "logistic lasso weighted",
            Glm::logistic().penalty(Penalty::lasso(0.01)),
            &x,
            &binary,
            Some(&weights),
            None,
        ),
        (
            "logistic ridge standardized",
            Glm::logistic().penalty(Penalty::ridge(0.01)).standardize(true),
            &x,
            &binary,
            None,
            None,
        ),
        (
            "logistic elastic net badly scaled",
            Glm::logistic().penalty(Penalty::elastic_net(0.005, 0.5)),
            &badly,
            &binary,
            None,
            None,
        ),
        ("gaussian lasso", Glm::gaussian().penalty(Penalty::lasso(0.02)), &x, &eta, None, None),
        (
            "gaussian ridge no intercept",
            Glm::gaussian().penalty(Penalty::ridge(0.1)).fit_intercept(false),
            &x,
            &eta,
            Some(&weights),
            None,
        ),
        (
            "binomial ridge",
            Glm::binomial().penalty(Penalty::ridge(0.01)),
            &x,
            &successes,
            None,
            Some(&trials),
        ),
        ("hinge ridge", Glm::hinge().penalty(Penalty::ridge(0.01)), &x, &binary, None, None),
        (
            "quantile 0.3 lasso",
            Glm::quantile(0.3).penalty(Penalty::lasso(0.01)),
            &x,
            &eta,
            None,
            None,
        ),
        (
            "student-t fixed σ",
            Glm::student_t(3.0, Some(0.5)).penalty(Penalty::ridge(0.01)),
            &x,
            &eta,
            None,
            None,
        ),
    ];
    for (name, glm, x, y, w, m) in cases {
        // Tight tolerances: both fits at the optimum to the last digits, so what differs is
        // the order of the sums alone.
        let glm =
            glm.backend(scalemix::BackendChoice::Cpu).max_iter(20_000).tol(1e-15).kkt_tol(1e-10);
        let design = Design::row_major(x, n, p).unwrap();
        let memory = match (w, m) {
            (_, Some(m)) => glm.fit_data(&Data::binomial(design, y, m)).unwrap(),
            (Some(w), None) => glm.fit_data(&Data::new(design, y).weights(w)).unwrap(),
            (None, None) => glm.fit(design, y).unwrap(),
        };
        let mut source = MemorySource::new(design, y).unwrap();
        if let Some(w) = w {
            source = source.with_weights(w).unwrap();
        }
        if let Some(m) = m {
            source = source.with_trials(m).unwrap();
        }
        let streamed = streaming(glm, 61).fit_source(&mut source).unwrap();
        assert_eq!(memory.termination(), Termination::Converged, "{name} in memory");
        assert_eq!(streamed.termination(), Termination::Converged, "{name} streamed");
        let diff = relative(streamed.objective(), memory.objective());
        eprintln!("{name}: F = {:.15e}, streamed vs in memory {diff:.2e}", memory.objective());
        assert!(
            diff <= SAME_OBJECTIVE,
            "{name}: {} vs {}",
            streamed.objective(),
            memory.objective()
        );
        assert!(streamed.kkt_violation() <= 1e-6, "{name}: KKT {}", streamed.kkt_violation());
        // The same coefficients, in the user's coordinates (standardized and preconditioned
        // fits mapped back), to the precision the optimum pins them down.
        let scale = memory.coefficients().iter().fold(1.0_f64, |m, b| m.max(b.abs()));
        let gap = streamed
            .coefficients()
            .iter()
            .zip(memory.coefficients())
            .map(|(a, b)| (a - b).abs())
            .fold((streamed.intercept() - memory.intercept()).abs(), f64::max);
        assert!(gap <= 1e-5 * scale, "{name}: coefficients differ by {gap:e}");
    }
}

#[test]
fn the_block_size_changes_the_fit_only_by_rounding_and_a_rerun_not_at_all() {
    let (n, p) = (1000, 5);
    let (x, eta) = design(n, p, 9);
    let y: Vec<f64> = eta.iter().map(|&e| f64::from(u8::from(e > 0.0))).collect();
    let x = Design::row_major(&x, n, p).unwrap();
    let glm = Glm::logistic().penalty(Penalty::elastic_net(0.01, 0.5));
    let fit = |rows| {
        let mut source = MemorySource::new(x, &y).unwrap();
        streaming(glm.clone(), rows).fit_source(&mut source).unwrap()
    };
    let whole = fit(1 << 30);
    for rows in [1, 7, 128, 999] {
        let blocks = fit(rows);
        let diff = relative(blocks.objective(), whole.objective());
        assert!(diff <= 1e-13, "{rows}-row blocks: {diff:e}");
        for (a, b) in blocks.coefficients().iter().zip(whole.coefficients()) {
            assert!((a - b).abs() <= 1e-7 * (1.0 + b.abs()), "{rows}-row blocks: {a} vs {b}");
        }
    }
    let (a, b) = (fit(128), fit(128));
    assert_eq!(a.coefficients(), b.coefficients(), "same block size, same bits");
    assert_eq!(a.objective().to_bits(), b.objective().to_bits());
}

#[test]
fn a_streamed_path_and_cv_equal_the_in_memory_ones() {
    let (n, p) = (600, 8);
    let (x, eta) = design(n, p, 5);
    let y: Vec<f64> = eta.iter().map(|&e| f64::from(u8::from(e > 0.0))).collect();
    let design = Design::row_major(&x, n, p).unwrap();
    let glm = Glm::logistic()
        .penalty(Penalty::elastic_net(1.0, 0.8))
        .backend(scalemix::BackendChoice::Cpu);
    let options =
        PathOptions { n_lambda: 12, lambda_min_ratio: Some(1e-2), ..PathOptions::default() };
    let memory = glm.path(design, &y, &options).unwrap();
    let mut source = MemorySource::new(design, &y).unwrap();
    let streamed = streaming(glm.clone(), 50).path_source(&mut source, &options).unwrap();
    assert!(relative(memory.lambda_max, streamed.lambda_max) <= 1e-12);
    assert_eq!(memory.points.len(), streamed.points.len());
    for (a, b) in memory.points.iter().zip(&streamed.points) {
        assert!(
            relative(a.objective, b.objective) <= 1e-10,
            "λ = {}: {} vs {}",
            a.lambda,
            a.objective,
            b.objective
        );
        assert_eq!(a.nonzeros, b.nonzeros, "λ = {}", a.lambda);
    }

    let folds = StreamFolds { k: 4, seed: 11 };
    let assignment = folds.to_assignment(n).unwrap();
    let cv_options = scalemix::CvOptions { path: options.clone(), ..Default::default() };
    let memory = glm.cv_with_folds(&Data::new(design, &y), &assignment, &cv_options).unwrap();
    let streamed = streaming(glm, 50).cv_source(&mut source, folds, None, &options).unwrap();
    for (a, b) in memory.mean.iter().zip(&streamed.mean) {
        assert!(relative(*a, *b) <= 1e-7, "CV mean {a} vs {b}");
    }
    assert!(relative(memory.lambda_min, streamed.lambda_min) <= 1e-12);
    assert!(relative(memory.lambda_1se, streamed.lambda_1se) <= 1e-12);
}

#[test]
fn streamed_predictions_equal_in_memory_ones() {
    let (n, p) = (300, 4);
    let (x, eta) = design(n, p, 2);
    let y: Vec<f64> = eta.iter().map(|&e| f64::from(u8::from(e > 0.0))).collect();
    let design = Design::row_major(&x, n, p).unwrap();
    let fit = Glm::logistic().penalty(Penalty::ridge(0.01)).fit(design, &y).unwrap();
    let expected = fit.decision_function(design).unwrap();
    let mut source = MemorySource::new(design, &[]).unwrap();
    let mut got = Vec::new();
    let rows = fit
        .to_model()
        .decision_function_source(&mut source, 37, |first, eta| {
            assert_eq!(first as usize, got.len());
            got.extend_from_slice(eta);
            Ok(())
        })
        .unwrap();
    assert_eq!(rows as usize, n);
    for (a, b) in got.iter().zip(&expected) {
        assert!((a - b).abs() <= 1e-12 * (1.0 + b.abs()));
    }
}

/// Writes the same data as CSV, gzip CSV, TSV, LIBSVM, Parquet and Arrow IPC in `dir`.
fn write_files(dir: &FsPath, x: &[f64], y: &[f64], n: usize, p: usize) -> Vec<std::path::PathBuf> {
    use std::io::Write;
    let names: Vec<String> = (1..=p).map(|j| format!("x{j}")).collect();
    let mut csv = format!("{},y\n", names.join(","));
    let mut tsv = format!("{}\ty\n", names.join("\t"));
    let mut svm = String::new();
    for i in 0..n {
        let row: Vec<String> = (0..p).map(|j| format!("{:?}", x[i * p + j])).collect();
        csv += &format!("{},{:?}\n", row.join(","), y[i]);
        tsv += &format!("{}\t{:?}\n", row.join("\t"), y[i]);
        svm += &format!("{:?}", y[i]);
        for (j, v) in row.iter().enumerate() {
            svm += &format!(" {}:{v}", j + 1);
        }
        svm += "\n";
    }
    let path = |name: &str| dir.join(name);
    std::fs::write(path("d.csv"), &csv).unwrap();
    std::fs::write(path("d.tsv"), &tsv).unwrap();
    std::fs::write(path("d.svm"), &svm).unwrap();
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(path("d.csv.gz")).unwrap(),
        flate2::Compression::fast(),
    );
    gz.write_all(csv.as_bytes()).unwrap();
    gz.finish().unwrap();
    let batch = record_batch(x, y, n, p);
    // Row groups of 100 rows: blocks end at row-group ends whatever the block size.
    let props = parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(100))
        .build();
    let mut writer = parquet::arrow::ArrowWriter::try_new(
        std::fs::File::create(path("d.parquet")).unwrap(),
        batch.schema(),
        Some(props),
    )
    .unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    let mut writer = arrow_ipc::writer::FileWriter::try_new(
        std::fs::File::create(path("d.arrow")).unwrap(),
        &batch.schema(),
    )
    .unwrap();
    for start in (0..n).step_by(128) {
        writer.write(&batch.slice(start, 128.min(n - start))).unwrap();
    }
    writer.finish().unwrap();
    ["d.csv", "d.csv.gz", "d.tsv", "d.svm", "d.parquet", "d.arrow"]
        .iter()
        .map(|f| path(f))
        .collect()
}

fn record_batch(x: &[f64], y: &[f64], n: usize, p: usize) -> arrow_array::RecordBatch {
    use arrow_array::{ArrayRef, Float64Array};
    let mut columns: Vec<(String, ArrayRef)> = (0..p)
        .map(|j| {
            let values: Vec<f64> = (0..n).map(|i| x[i * p + j]).collect();
            (format!("x{}", j + 1), Arc::new(Float64Array::from(values)) as ArrayRef)
        })
        .collect();
    columns.push(("y".into(), Arc::new(Float64Array::from(y.to_vec())) as ArrayRef));
    arrow_array::RecordBatch::try_from_iter(columns).unwrap()
}

#[test]
fn every_file_format_streams_to_the_in_memory_fit() {
    let dir = tempfile::tempdir().unwrap();
    let (n, p) = (450, 5);
    let (x, eta) = design(n, p, 21);
    let y: Vec<f64> = eta.iter().map(|&e| f64::from(u8::from(e > 0.0))).collect();
    let glm = Glm::logistic().penalty(Penalty::lasso(0.005)).backend(scalemix::BackendChoice::Cpu);
    let memory = glm.fit(Design::row_major(&x, n, p).unwrap(), &y).unwrap();
    for path in write_files(dir.path(), &x, &y, n, p) {
        let mut source = open_file(&path, &Roles::target(None)).unwrap();
        assert_eq!(source.ncols(), p, "{}", path.display());
        let streamed = streaming(glm.clone(), 64).fit_source(&mut *source).unwrap();
        let diff = relative(streamed.objective(), memory.objective());
        assert!(diff <= SAME_OBJECTIVE, "{}: {diff:e}", path.display());
    }
}

/// Randomized problems of every family and penalty, written to CSV and Parquet and fitted in
/// blocks from the files: each fit meets its optimality conditions computed here from the
/// definitions (the gradient for the smooth losses, the subgradient conditions for hinge and
/// quantile), not against another scalemix fit.
#[test]
fn streamed_fits_from_files_meet_their_optimality_conditions() {
    use crate::families::subgradient::{Loss, check};
    let dir = tempfile::tempdir().unwrap();
    let (n, p) = (600, 5);
    let penalties = [(0.02, 0.0), (0.02, 1.0), (0.03, 0.5)];
    let families = [
        Family::Logistic,
        Family::Gaussian,
        Family::StudentT { nu: 3.0, sigma: 1.5 },
        Family::Hinge,
        Family::Quantile { q: 0.3 },
    ];
    for (seed, family) in families.into_iter().enumerate() {
        let (x, eta) = design(n, p, 100 + seed as u64);
        let y: Vec<f64> = match family {
            Family::Logistic => eta.iter().map(|&e| f64::from(u8::from(e > 0.2))).collect(),
            Family::Hinge => eta.iter().map(|&e| if e > 0.2 { 1.0 } else { -1.0 }).collect(),
            _ => eta
                .iter()
                .enumerate()
                .map(|(i, e)| e + ((i * 7919) % 13) as f64 / 13.0 - 0.5)
                .collect(),
        };
        let files = write_files(dir.path(), &x, &y, n, p);
        for &(lambda, alpha) in &penalties {
            for file in
                files.iter().filter(|f| f.extension().is_some_and(|e| e == "csv" || e == "parquet"))
            {
                let glm = Glm::new(family)
                    .penalty(Penalty::elastic_net(lambda, alpha))
                    .backend(scalemix::BackendChoice::Cpu)
                    .max_iter(20_000);
                let mut source = open_file(file, &Roles::target(None)).unwrap();
                let fit = streaming(glm, 61).fit_source(&mut *source).unwrap();
                let name = format!("{family:?} λ={lambda} α={alpha} from {}", file.display());
                assert_eq!(fit.termination(), Termination::Converged, "{name}");
                let (beta, b0) = (fit.coefficients(), Some(fit.intercept()));
                match family {
                    Family::Hinge | Family::Quantile { .. } => {
                        let loss = match family {
                            Family::Hinge => Loss::Hinge,
                            _ => Loss::Quantile(0.3),
                        };
                        let reported = fit.kkt_violation();
                        check(&loss, &x, &y, n, p, lambda, alpha, beta, b0, reported);
                    }
                    _ => {
                        let kkt = crate::common::smooth_kkt_violation(
                            family, &x, &y, p, lambda, alpha, beta, b0,
                        );
                        assert!(kkt <= 1e-9, "{name}: KKT violation {kkt:e}");
                    }
                }
            }
        }
    }
}

/// A message that names `row` and `column` (and nothing else is checked).
fn names(error: &Error, row: u64, column: &str) -> bool {
    matches!(error, Error::Source { row: Some(r), column: Some(c), .. } if *r == row && c == column)
}

#[test]
fn a_bad_value_deep_in_a_file_is_reported_at_its_global_row_whatever_the_block_size() {
    let dir = tempfile::tempdir().unwrap();
    let (n, p) = (3000, 3);
    let mut text = String::from("a,b,c,y\n");
    let bad_row = 37 * 64 + 5;
    for i in 0..n {
        let b = if i == bad_row { "1.5e".to_string() } else { format!("{}", i % 7) };
        text += &format!("{},{b},{},{}\n", i % 3, i % 5, i % 2);
    }
    let file = dir.path().join("bad.csv");
    std::fs::write(&file, &text).unwrap();
    for block_rows in [64, 1000, 1 << 20] {
        let mut source = open_file(&file, &Roles::target(None)).unwrap();
        let error = streaming(Glm::logistic(), block_rows).fit_source(&mut *source).unwrap_err();
        assert!(names(&error, bad_row as u64, "b"), "{block_rows}: {error}");
        assert!(error.to_string().contains(&format!("line {}", bad_row + 2)), "{error}");
    }
    // A NaN is read, then refused by the checking pass, with its row and column too.
    let nan = text.replacen("1.5e", "NaN", 1);
    std::fs::write(&file, nan).unwrap();
    let mut source = open_file(&file, &Roles::target(None)).unwrap();
    let error = streaming(Glm::logistic(), 64).fit_source(&mut *source).unwrap_err();
    assert!(names(&error, bad_row as u64, "b"), "{error}");
    // A label the family does not take.
    let label = text.replacen("1.5e", "2", 1).replacen("\n0,1,0,1\n", "\n0,1,0,3\n", 1);
    std::fs::write(&file, label).unwrap();
    let mut source = open_file(&file, &Roles::target(None)).unwrap();
    let error = streaming(Glm::logistic(), 64).fit_source(&mut *source).unwrap_err();
    assert!(matches!(&error, Error::Source { column: Some(c), .. } if c == "response"), "{error}");
    let _ = p;
}

#[test]
fn parquet_nulls_wrong_types_and_missing_columns_are_one_line_errors_naming_the_column() {
    use arrow_array::{ArrayRef, Float64Array, StringArray};
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, columns: Vec<(&str, ArrayRef)>| {
        let batch = arrow_array::RecordBatch::try_from_iter(columns).unwrap();
        let path = dir.path().join(name);
        let mut writer = parquet::arrow::ArrowWriter::try_new(
            std::fs::File::create(&path).unwrap(),
            batch.schema(),
            None,
        )
        .unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        path
    };
    let ok = || Arc::new(Float64Array::from(vec![0.0, 1.0, 2.0, 3.0])) as ArrayRef;
    let labels = || Arc::new(Float64Array::from(vec![0.0, 1.0, 0.0, 1.0])) as ArrayRef;
    let nulls = write(
        "nulls.parquet",
        vec![
            ("a", ok()),
            ("b", Arc::new(Float64Array::from(vec![Some(1.0), None, Some(2.0), Some(0.0)]))),
            ("y", labels()),
        ],
    );
    let mut source = open_file(&nulls, &Roles::target(None)).unwrap();
    let error = Glm::logistic().fit_source(&mut *source).unwrap_err();
    assert!(names(&error, 1, "b"), "{error}");
    assert!(!error.to_string().contains('\n'));

    let strings = write(
        "strings.parquet",
        vec![
            ("a", ok()),
            ("b", Arc::new(StringArray::from(vec!["x", "y", "z", "w"]))),
            ("y", labels()),
        ],
    );
    let error =
        open_file(&strings, &Roles::target(None)).err().expect("a string column is refused");
    assert!(matches!(&error, Error::Source { column: Some(c), .. } if c == "b"), "{error}");
    assert!(error.to_string().contains("Utf8"), "{error}");

    let plain = write("plain.parquet", vec![("a", ok()), ("y", labels())]);
    let error = open_file(&plain, &Roles::target(Some("clicked"))).err().expect("no such column");
    assert!(matches!(&error, Error::Source { column: Some(c), .. } if c == "clicked"), "{error}");
}

#[test]
fn a_truncated_file_ends_the_fit_with_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let (n, p) = (2000, 4);
    let (x, eta) = design(n, p, 4);
    let y: Vec<f64> = eta.iter().map(|&e| f64::from(u8::from(e > 0.0))).collect();
    let files = write_files(dir.path(), &x, &y, n, p);
    for file in files.iter().filter(|f| {
        let name = f.to_string_lossy();
        name.ends_with(".gz") || name.ends_with(".parquet")
    }) {
        let bytes = std::fs::read(file).unwrap();
        let cut =
            file.with_extension(format!("cut.{}", file.extension().unwrap().to_string_lossy()));
        std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();
        let error = match open_file(&cut, &Roles::target(None)) {
            Err(e) => e,
            Ok(mut source) => Glm::logistic().fit_source(&mut *source).unwrap_err(),
        };
        assert!(matches!(error, Error::Source { .. }), "{}: {error}", cut.display());
    }
}

/// A source whose rows or fingerprint change after `after` passes.
struct Changing<'a> {
    inner: MemorySource<'a>,
    passes: usize,
    after: usize,
    drop_rows: bool,
}

impl RowSource for Changing<'_> {
    fn name(&self) -> &str {
        "changing"
    }
    fn feature_names(&self) -> &[String] {
        self.inner.feature_names()
    }
    fn has_target(&self) -> bool {
        true
    }
    fn fingerprint(&self) -> scalemix::Result<Option<Fingerprint>> {
        let modified_ns = if !self.drop_rows && self.passes > self.after { 2 } else { 1 };
        Ok(Some(Fingerprint { len: 100, modified_ns }))
    }
    fn rewind(&mut self) -> scalemix::Result<()> {
        self.passes += 1;
        self.inner.rewind()
    }
    fn next_block(&mut self, block: &mut Block, max_rows: usize) -> scalemix::Result<bool> {
        let more = self.inner.next_block(block, max_rows)?;
        if self.drop_rows && self.passes > self.after && more && block.rows > 1 {
            // The last row of every block goes missing.
            block.rows -= 1;
            let p = self.inner.ncols();
            let rows = block.rows;
            let x: Vec<f64> = (0..p)
                .flat_map(|j| block.x[j * (rows + 1)..j * (rows + 1) + rows].to_vec())
                .collect();
            block.x = x;
            block.y.truncate(rows);
        }
        Ok(more)
    }
}

#[test]
fn a_source_that_changes_between_passes_is_an_error_not_a_mix() {
    let (n, p) = (400, 3);
    let (x, eta) = design(n, p, 8);
    let y: Vec<f64> = eta.iter().map(|&e| f64::from(u8::from(e > 0.0))).collect();
    let design = Design::row_major(&x, n, p).unwrap();
    for drop_rows in [false, true] {
        let mut source = Changing {
            inner: MemorySource::new(design, &y).unwrap(),
            passes: 0,
            after: 3,
            drop_rows,
        };
        let error = streaming(Glm::logistic().penalty(Penalty::ridge(1e-3)), 64)
            .fit_source(&mut source)
            .unwrap_err();
        assert!(matches!(error, Error::SourceChanged { .. }), "{error}");
        let text = error.to_string();
        assert!(text.contains(if drop_rows { "row" } else { "modified" }), "{text}");
    }
}

#[test]
fn progress_is_reported_after_every_pass() {
    let (n, p) = (500, 3);
    let (x, eta) = design(n, p, 1);
    let y: Vec<f64> = eta.iter().map(|&e| f64::from(u8::from(e > 0.0))).collect();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    let options = StreamOptions {
        block_rows: 100,
        progress: Some(Arc::new(move |p: &scalemix::Progress| {
            sink.lock().unwrap().push(p.clone())
        })),
        ..StreamOptions::default()
    };
    let mut source = MemorySource::new(Design::row_major(&x, n, p).unwrap(), &y).unwrap();
    let fit = Glm::logistic()
        .penalty(Penalty::ridge(0.01))
        .stream_options(options)
        .fit_source(&mut source)
        .unwrap();
    let seen = seen.lock().unwrap();
    assert!(!seen.is_empty());
    assert!(seen.iter().all(|p| p.rows == n as u64 && p.rows_per_second > 0.0));
    assert!(seen.windows(2).all(|w| w[1].pass > w[0].pass));
    let last = seen.iter().map(|p| p.objective).fold(f64::INFINITY, f64::min);
    assert!(
        (last - fit.objective()).abs() <= 1e-9 * fit.objective(),
        "{last} vs {}",
        fit.objective()
    );
    let _ = Family::Logistic;
}

fn scalemix(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_scalemix"))
        .args(args)
        .env("SCALEMIX_BACKEND", "cpu")
        .output()
        .expect("the binary runs")
}

fn objective_in(path: &FsPath) -> f64 {
    let text = std::fs::read_to_string(path).unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    value["objective"].as_f64().expect("an objective")
}

/// `fit` and `predict` on a Parquet file: streamed (forced, and chosen on their own above
/// `--max-memory`) equal to in memory.
#[test]
fn the_cli_streams_parquet_on_request_and_above_the_memory_limit() {
    let dir = tempfile::tempdir().unwrap();
    let (n, p) = (30_000, 5);
    let (x, eta) = design(n, p, 13);
    let y: Vec<f64> = eta.iter().map(|&e| f64::from(u8::from(e > 0.0))).collect();
    let files = write_files(dir.path(), &x, &y, n, p);
    let parquet = files.iter().find(|f| f.extension().is_some_and(|e| e == "parquet")).unwrap();
    let data = parquet.to_str().unwrap();
    let out = |name: &str| dir.path().join(name);
    let common = ["--lambda", "0.001", "--alpha", "0.5", "--quiet"];
    let run = |extra: &[&str], model: &FsPath| {
        let mut args = vec!["fit", "--data", data, "--output", model.to_str().unwrap()];
        args.extend_from_slice(&common);
        args.extend_from_slice(extra);
        let output = scalemix(&args);
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        output
    };
    run(&[], &out("memory.json"));
    run(&["--stream", "--block-rows", "777"], &out("stream.json"));
    let auto = scalemix(&[
        "fit",
        "--data",
        data,
        "--output",
        out("auto.json").to_str().unwrap(),
        "--lambda",
        "0.001",
        "--alpha",
        "0.5",
        "--max-memory",
        "1",
        "--block-rows",
        "1000",
    ]);
    assert!(auto.status.success(), "{}", String::from_utf8_lossy(&auto.stderr));
    let note = String::from_utf8_lossy(&auto.stderr);
    assert!(note.contains("streamed") && note.contains("--max-memory"), "{note}");
    let memory = objective_in(&out("memory.json"));
    for name in ["stream.json", "auto.json"] {
        let streamed = objective_in(&out(name));
        assert!(relative(memory, streamed) <= SAME_OBJECTIVE, "{name}: {streamed} vs {memory}");
    }
    // Predictions: streamed and in memory, the same lines (to the last printed digit).
    let model = out("memory.json");
    let predict = |extra: &[&str], file: &str| {
        let mut args = vec!["predict", "--model", model.to_str().unwrap(), "--data", data];
        args.extend_from_slice(&["--output", out(file).to_str().unwrap().to_owned().leak()]);
        args.extend_from_slice(extra);
        let output = scalemix(&args);
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        std::fs::read_to_string(out(file)).unwrap()
    };
    let in_memory = predict(&[], "p_memory.csv");
    let streamed = predict(&["--stream", "--block-rows", "1000"], "p_stream.csv");
    assert_eq!(in_memory.lines().count(), n + 1);
    assert_eq!(in_memory, streamed);
}

/// A streamed fit whose blocks run through the GPU kernels (f32) ends at the in-memory f64
/// optimum: the f64 streamed pass checks it, and finishes it on the CPU where needed (always
/// for hinge and quantile).
#[cfg(feature = "gpu")]
#[test]
fn a_streamed_gpu_fit_ends_at_the_f64_optimum() {
    let Some(contexts) = crate::gpu::contexts() else { return };
    let (n, p) = (900, 6);
    let (x, eta) = design(n, p, 31);
    let binary: Vec<f64> = eta.iter().map(|&e| f64::from(u8::from(e > 0.0))).collect();
    let design = Design::row_major(&x, n, p).unwrap();
    for context in contexts {
        for (name, glm, y) in [
            ("logistic ridge", Glm::logistic().penalty(Penalty::ridge(1e-3)), &binary),
            ("hinge ridge", Glm::hinge().penalty(Penalty::ridge(1e-2)), &binary),
            ("gaussian lasso", Glm::gaussian().penalty(Penalty::lasso(1e-2)), &eta),
        ] {
            let memory = glm.clone().backend(scalemix::BackendChoice::Cpu).fit(design, y).unwrap();
            // X kept on the device after the first pass, and uploaded again at every pass
            // through two alternating buffers (no room on the device).
            for resident_bytes in [u64::MAX, 0] {
                let mut source = MemorySource::new(design, y).unwrap();
                let options = StreamOptions {
                    block_rows: 256,
                    gpu_resident_bytes: resident_bytes,
                    ..StreamOptions::default()
                };
                let streamed = glm
                    .clone()
                    .gpu_context(context.clone())
                    .stream_options(options)
                    .fit_source(&mut source)
                    .unwrap();
                assert_eq!(streamed.backend().kind, "gpu", "{name}");
                assert_eq!(streamed.termination(), Termination::Converged, "{name}");
                let diff = relative(streamed.objective(), memory.objective());
                eprintln!(
                    "{name} on {} (resident budget {resident_bytes}): streamed GPU vs CPU in memory {diff:.2e}",
                    context.describe()
                );
                assert!(
                    diff <= 1e-11,
                    "{name}: {} vs {}",
                    streamed.objective(),
                    memory.objective()
                );
            }
        }
    }
}

/// One streamed pass through the GPU kernels (resident and double-buffered, blocks padded)
/// against the same pass on the CPU: the f32 kernels' error, nothing more.
#[cfg(feature = "gpu")]
#[test]
fn streamed_gpu_statistics_equal_the_cpu_ones_to_f32_rounding() {
    let Some(contexts) = crate::gpu::contexts() else { return };
    let (n, p) = (1000, 7);
    let (x, eta) = design(n, p, 44);
    let y: Vec<f64> = eta.iter().map(|&e| f64::from(u8::from(e > 0.0))).collect();
    let weights: Vec<f64> = (0..n).map(|i| 1.0 + (i % 3) as f64).collect();
    let design = Design::row_major(&x, n, p).unwrap();
    let theta: Vec<f64> = (0..=p).map(|j| 0.1 * j as f64 - 0.3).collect();
    let stats = |glm: Glm, resident: u64| {
        let mut source = MemorySource::new(design, &y).unwrap().with_weights(&weights).unwrap();
        let options = StreamOptions {
            block_rows: 300,
            gpu_resident_bytes: resident,
            ..StreamOptions::default()
        };
        glm.stream_options(options)
            .statistics_source(&mut source, &theta, scalemix::backend::Needs::GradientAndHessian)
            .unwrap()
    };
    let cpu = stats(Glm::logistic().backend(scalemix::BackendChoice::Cpu), 0);
    for context in contexts {
        for resident in [u64::MAX, 0] {
            let gpu = stats(Glm::logistic().gpu_context(context.clone()), resident);
            assert!(relative(gpu.loss, cpu.loss) <= 1e-6, "{} vs {}", gpu.loss, cpu.loss);
            let scale = cpu.gradient.amax();
            for j in 0..=p {
                assert!((gpu.gradient[j] - cpu.gradient[j]).abs() <= 1e-5 * scale, "∇L[{j}]");
            }
            let scale = cpu.gram.amax();
            for (a, b) in gpu.gram.iter().zip(cpu.gram.iter()) {
                assert!((a - b).abs() <= 1e-5 * scale, "S: {a} vs {b}");
            }
        }
    }
    let whole = {
        let mut source = MemorySource::new(design, &y).unwrap().with_weights(&weights).unwrap();
        Glm::logistic()
            .backend(scalemix::BackendChoice::Cpu)
            .statistics_source(&mut source, &theta, scalemix::backend::Needs::GradientAndHessian)
            .unwrap()
    };
    assert!(relative(whole.loss, cpu.loss) <= 1e-14);
}

/// Rows "held elsewhere" for [`Glm::fit_statistics`]: the f64 CPU backend on the rows, and
/// optionally a GPU backend for the passes not asked for f64, as a cluster's workers would
/// compute on their chunks.
struct LocalRows<'p> {
    problem: &'p scalemix::backend::Problem<'p>,
    intercept: bool,
    cpu: scalemix::backend::CpuBackend<'p>,
    gpu: Option<scalemix::backend::GpuBackend>,
}

impl<'p> LocalRows<'p> {
    fn new(
        problem: &'p scalemix::backend::Problem<'p>,
        intercept: bool,
        gpu: Option<&scalemix::backend::GpuContext>,
    ) -> Self {
        Self {
            problem,
            intercept,
            cpu: scalemix::backend::CpuBackend::new(problem, intercept),
            gpu: gpu.map(|c| scalemix::backend::GpuBackend::new(c, problem, intercept).unwrap()),
        }
    }
}

impl scalemix::ExternalRows for LocalRows<'_> {
    fn dim(&self) -> usize {
        self.problem.ncols() + usize::from(self.intercept)
    }
    fn evaluate(
        &mut self,
        theta: &[f64],
        needs: scalemix::backend::Needs,
        in_f64: bool,
        out: &mut scalemix::backend::Stats,
    ) -> scalemix::Result<()> {
        use scalemix::backend::Backend;
        match (&mut self.gpu, in_f64) {
            (Some(gpu), false) => gpu.evaluate(theta, needs, out),
            _ => self.cpu.evaluate(theta, needs, out),
        }
    }
    fn exact_loss(&mut self, theta: &[f64]) -> scalemix::Result<f64> {
        // The loss by its definition, computed here from the rows (not by the library).
        let (n, p) = (self.problem.nrows(), self.problem.ncols());
        let b0 = if self.intercept { theta[p] } else { 0.0 };
        let total: f64 = (0..n)
            .map(|i| {
                let eta = b0 + (0..p).map(|j| self.problem.x().get(i, j) * theta[j]).sum::<f64>();
                self.problem.weights()[i] * self.problem.family().loss(self.problem.y()[i], eta)
            })
            .sum();
        Ok(total / self.problem.weight_sum())
    }
    fn info(&self) -> scalemix::backend::BackendInfo {
        use scalemix::backend::Backend;
        match &self.gpu {
            Some(gpu) => gpu.info(),
            None => self.cpu.info(),
        }
    }
    fn exact(&self) -> bool {
        self.gpu.is_none()
    }
}

/// The solver over statistics a caller computes (here the CPU backend on the rows, or the GPU
/// for all but the f64 check, as a cluster's workers would on their chunks) reaches the
/// in-memory CPU fit, for every family the distributed fits take.
#[test]
fn a_fit_on_statistics_computed_elsewhere_equals_the_in_memory_fit() {
    let (n, p) = (500, 5);
    let (x, eta) = design(n, p, 77);
    let w: Vec<f64> = (0..n).map(|i| 0.5 + (i % 3) as f64).collect();
    let design = Design::row_major(&x, n, p).unwrap();
    let weight_sum: f64 = w.iter().sum();
    let labels: Vec<f64> = eta.iter().map(|&e| f64::from(u8::from(e > 0.0))).collect();
    let response: Vec<f64> =
        eta.iter().enumerate().map(|(i, e)| e + ((i * 7) % 5) as f64).collect();
    let summary_of = |y: &[f64]| {
        let moments = |v: &dyn Fn(usize) -> f64| {
            let mean = (0..n).map(|i| w[i] * v(i)).sum::<f64>() / weight_sum;
            (mean, (0..n).map(|i| w[i] * (v(i) - mean).powi(2)).sum::<f64>())
        };
        let (response_mean, response_m2) = moments(&|i| y[i]);
        let columns: Vec<(f64, f64)> = (0..p).map(|j| moments(&|i| x[i * p + j])).collect();
        scalemix::RowSummary {
            rows: n as u64,
            weight_sum,
            min_positive_weight: 0.5,
            response_mean,
            response_m2,
            column_mean: columns.iter().map(|c| c.0).collect(),
            column_m2: columns.iter().map(|c| c.1).collect(),
        }
    };
    let cases = [
        (Glm::logistic().penalty(Penalty::elastic_net(0.01, 0.5)), Family::Logistic, &labels, true),
        (
            Glm::logistic().penalty(Penalty::ridge(1e-3)).fit_intercept(false),
            Family::Logistic,
            &labels,
            false,
        ),
        (Glm::hinge().penalty(Penalty::ridge(1e-2)), Family::Hinge, &labels, true),
        (
            Glm::quantile(0.3).penalty(Penalty::lasso(1e-2)),
            Family::Quantile { q: 0.3 },
            &response,
            true,
        ),
        (Glm::gaussian().penalty(Penalty::lasso(1e-2)), Family::Gaussian, &response, true),
    ];
    let gpu = crate::gpu::contexts().map(|c| &c[0]);
    for (glm, family, y, intercept) in cases {
        let glm = glm.backend(scalemix::BackendChoice::Cpu);
        let problem =
            scalemix::backend::Problem::new(design, y.as_slice().into(), Some(&w), family).unwrap();
        let summary = summary_of(y);
        let memory = glm.fit_data(&Data::new(design, y).weights(&w)).unwrap();
        for device in [None, gpu] {
            let mut rows = LocalRows::new(&problem, intercept, device);
            let external = glm.fit_statistics(&mut rows, &summary).unwrap();
            assert_eq!(external.termination(), Termination::Converged, "{family:?} {device:?}");
            let diff = relative(external.objective(), memory.objective());
            // Hinge and quantile optima are reached to the precision README states for them.
            let tolerance = if matches!(family, Family::Hinge | Family::Quantile { .. }) {
                1e-11
            } else {
                1e-12
            };
            assert!(
                diff <= tolerance,
                "{family:?} on {device:?}: {} vs {}",
                external.objective(),
                memory.objective()
            );
            // The in-memory hinge and quantile fits end with the exact solve of their kink rows
            // (KKT: the exact loss's stationarity residual, ~1e-17), the fit on statistics on
            // the smoothed loss: its objective is no lower, and within the precision above.
            if memory.backend().device.contains("rows at the kink") {
                assert!(memory.objective() <= external.objective(), "{family:?}");
            } else {
                assert!(external.kkt_violation() <= memory.kkt_violation().max(1e-9));
            }
            if device.is_some() {
                // Hinge and quantile are always finished by f64 passes after f32 ones.
                let finished = external.backend().device.contains("f64 passes");
                let unbounded = matches!(family, Family::Hinge | Family::Quantile { .. });
                assert!(!unbounded || finished, "{family:?}: {}", external.backend().device);
                assert_eq!(external.backend().kind, "gpu");
            }
        }
    }
    let estimated_sigma = Glm::student_t(4.0, None).fit_statistics(
        &mut LocalRows::new(
            &scalemix::backend::Problem::new(
                design,
                response.as_slice().into(),
                Some(&w),
                Family::Gaussian,
            )
            .unwrap(),
            true,
            None,
        ),
        &summary_of(&response),
    );
    assert!(matches!(estimated_sigma, Err(Error::Unsupported { .. })));
}

/// Multinomial rows "held elsewhere": each class pass builds the class's offset problem from
/// the rows here and runs the CPU (or GPU) backend on it; the multinomial loss and gradients
/// are computed here from their definitions.
struct LocalClasses<'a> {
    x: Design<'a>,
    labels: &'a [usize],
    w: &'a [f64],
    k: usize,
    gpu: Option<&'a scalemix::backend::GpuContext>,
}

impl LocalClasses<'_> {
    fn eta(&self, theta: &[Vec<f64>], i: usize, c: usize) -> f64 {
        let p = self.x.ncols();
        theta[c][p] + (0..p).map(|j| self.x.get(i, j) * theta[c][j]).sum::<f64>()
    }
    fn log_sum_exp(values: impl Iterator<Item = f64> + Clone) -> f64 {
        let max = values.clone().fold(f64::NEG_INFINITY, f64::max);
        max + values.map(|v| (v - max).exp()).sum::<f64>().ln()
    }
}

impl scalemix::ExternalClasses for LocalClasses<'_> {
    fn dim(&self) -> usize {
        self.x.ncols() + 1
    }
    fn evaluate_class(
        &mut self,
        theta: &[Vec<f64>],
        c: usize,
        needs: scalemix::backend::Needs,
        out: &mut scalemix::backend::Stats,
    ) -> scalemix::Result<()> {
        use scalemix::backend::Backend;
        let n = self.labels.len();
        let y: Vec<f64> = self.labels.iter().map(|&l| f64::from(u8::from(l == c))).collect();
        let offset: Vec<f64> = (0..n)
            .map(|i| {
                -Self::log_sum_exp((0..self.k).filter(|&l| l != c).map(|l| self.eta(theta, i, l)))
            })
            .collect();
        let problem =
            scalemix::backend::Problem::new(self.x, y.into(), Some(self.w), Family::Logistic)?
                .with_offset(offset.into())?;
        match self.gpu {
            Some(context) => scalemix::backend::GpuBackend::new(context, &problem, true)?
                .evaluate(&theta[c], needs, out),
            None => {
                scalemix::backend::CpuBackend::new(&problem, true).evaluate(&theta[c], needs, out)
            }
        }
    }
    fn multinomial(
        &mut self,
        theta: &[Vec<f64>],
        gradients: &mut [Vec<f64>],
    ) -> scalemix::Result<f64> {
        let (n, p) = (self.labels.len(), self.x.ncols());
        let total: f64 = self.w.iter().sum();
        let mut loss = 0.0;
        for g in gradients.iter_mut() {
            g.fill(0.0);
        }
        for i in 0..n {
            let eta: Vec<f64> = (0..self.k).map(|c| self.eta(theta, i, c)).collect();
            let normalizer = Self::log_sum_exp(eta.iter().copied());
            loss += self.w[i] * (normalizer - eta[self.labels[i]]);
            for (c, gradient) in gradients.iter_mut().enumerate() {
                let residual = self.w[i]
                    * ((eta[c] - normalizer).exp() - f64::from(u8::from(self.labels[i] == c)));
                for (j, g) in gradient.iter_mut().enumerate().take(p) {
                    *g += residual * self.x.get(i, j) / total;
                }
                gradient[p] += residual / total;
            }
        }
        Ok(loss / total)
    }
    fn info(&self) -> scalemix::backend::BackendInfo {
        scalemix::backend::BackendInfo { kind: "cpu", device: "local classes".into() }
    }
}

/// The symmetric multinomial on rows held elsewhere reaches the in-memory symmetric fit, with
/// class passes on the CPU and on a GPU.
#[test]
fn a_multinomial_fit_on_statistics_computed_elsewhere_equals_the_in_memory_fit() {
    let (n, p, k) = (600, 4, 3);
    let (x, eta) = design(n, p, 91);
    let labels: Vec<usize> = eta
        .iter()
        .enumerate()
        .map(|(i, e)| ((e + 1.5 + 0.3 * (i % 4) as f64).max(0.0) as usize).min(k - 1))
        .collect();
    let w: Vec<f64> = (0..n).map(|i| 0.5 + (i % 3) as f64).collect();
    let design = Design::row_major(&x, n, p).unwrap();
    let y: Vec<f64> = labels.iter().map(|&l| l as f64).collect();
    let weight_sum: f64 = w.iter().sum();
    let mut class_weights = vec![0.0; k];
    for (l, wi) in labels.iter().zip(&w) {
        class_weights[*l] += wi;
    }
    assert!(class_weights.iter().all(|&c| c > 0.05 * weight_sum), "{class_weights:?}");
    let summary = scalemix::RowSummary {
        rows: n as u64,
        weight_sum,
        min_positive_weight: 0.5,
        response_mean: 0.0,
        response_m2: 0.0,
        column_mean: vec![0.0; p],
        column_m2: vec![1.0; p],
    };
    let gpu = crate::gpu::contexts().map(|c| &c[0]);
    for penalty in [Penalty::ridge(1e-2), Penalty::elastic_net(2e-2, 0.5)] {
        let glm = Glm::logistic()
            .penalty(penalty)
            .symmetric_multinomial(true)
            .backend(scalemix::BackendChoice::Cpu);
        let memory = glm.fit_multiclass_data(&Data::new(design, &y).weights(&w)).unwrap();
        // The GPU (a new backend per pass here) for the ridge fit only: lavapipe is slow.
        let devices = if penalty == Penalty::ridge(1e-2) { vec![None, gpu] } else { vec![None] };
        for device in devices {
            let mut rows = LocalClasses { x: design, labels: &labels, w: &w, k, gpu: device };
            let external =
                glm.fit_multinomial_statistics(&mut rows, &summary, &class_weights).unwrap();
            assert_eq!(external.termination(), Termination::Converged);
            let diff = relative(external.objective(), memory.objective());
            assert!(
                diff <= 1e-10,
                "{device:?}: {} vs {}",
                external.objective(),
                memory.objective()
            );
            let gap = (external.coefficients() - memory.coefficients()).amax();
            assert!(gap <= 1e-5, "coefficients differ by {gap}");
        }
    }
    let reference_class = Glm::logistic().symmetric_multinomial(false).fit_multinomial_statistics(
        &mut LocalClasses { x: design, labels: &labels, w: &w, k, gpu: None },
        &summary,
        &class_weights,
    );
    assert!(matches!(reference_class, Err(Error::Unsupported { .. })));
}

/// Streamed fits and paths with offsets (a Poisson exposure, a logistic offset) equal the
/// in-memory ones, and a non-finite offset is named by its row.
#[test]
fn streamed_fits_with_offsets_equal_in_memory_fits() {
    let (n, p) = (500, 6);
    let s = scalemix::synthetic::correlated_sparse(n, p, 0.3, 3, 1.0, 5).0;
    let offset: Vec<f64> = (0..n).map(|i| ((i % 9) as f64 + 1.0).ln()).collect();
    let counts: Vec<f64> = (0..n)
        .map(|i| {
            let eta: f64 = s.x[i * p..(i + 1) * p].iter().sum::<f64>() * 0.3 + offset[i] - 1.0;
            (eta.exp() + 0.5).floor()
        })
        .collect();
    let x = Design::row_major(&s.x, n, p).unwrap();
    for (name, glm, y) in [
        ("poisson", Glm::poisson().penalty(Penalty::elastic_net(0.01, 0.5)), &counts),
        ("logistic", Glm::logistic().penalty(Penalty::ridge(0.01)), &s.y),
    ] {
        let glm = glm.backend(scalemix::BackendChoice::Cpu);
        let in_memory = glm.fit_data(&Data::new(x, y).offset(&offset)).unwrap();
        let mut source = MemorySource::new(x, y).unwrap().with_offset(&offset).unwrap();
        let streamed = streaming(glm.clone(), 61).fit_source(&mut source).unwrap();
        assert!(streamed.converged());
        let gap = relative(streamed.objective(), in_memory.objective());
        assert!(gap <= 1e-12, "{name}: streamed {gap:e} from in memory");
        let options = PathOptions { n_lambda: 8, ..PathOptions::default() };
        let path = glm.path_data(&Data::new(x, y).offset(&offset), &options).unwrap();
        let mut source = MemorySource::new(x, y).unwrap().with_offset(&offset).unwrap();
        let streamed_path = streaming(glm.clone(), 61).path_source(&mut source, &options).unwrap();
        for (a, b) in path.points.iter().zip(&streamed_path.points) {
            assert!(relative(a.objective, b.objective) <= 1e-10, "{name} λ = {}", a.lambda);
        }
    }
    let mut bad = offset.clone();
    bad[123] = f64::NAN;
    let mut source = MemorySource::new(x, &counts).unwrap().with_offset(&bad).unwrap();
    let error = streaming(Glm::poisson(), 61).fit_source(&mut source).unwrap_err().to_string();
    assert!(error.contains("row 123") && error.contains("offset"), "{error}");
}

/// A streamed negative binomial fit with θ to estimate alternates streamed fits with θ's
/// maximum likelihood (one pass a Newton step) and ends where the in-memory estimate does.
#[test]
fn a_streamed_negative_binomial_estimates_theta_as_in_memory() {
    let (n, p) = (600, 4);
    let s = scalemix::synthetic::correlated_sparse(n, p, 0.3, 2, 1.0, 8).0;
    let offset: Vec<f64> = (0..n).map(|i| ((i % 5) as f64 + 1.0).ln()).collect();
    // Overdispersed counts: a Poisson draw (by inversion) around a mean scaled by a Gamma(2)
    // variable of mean 1, −ln(u₁u₂)/2, from a fixed sequence.
    let mut state = 12345u64;
    let mut uniform = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 11) as f64 + 0.5) / ((1u64 << 53) as f64)
    };
    let counts: Vec<f64> = (0..n)
        .map(|i| {
            let eta: f64 = s.x[i * p..(i + 1) * p].iter().sum::<f64>() * 0.3 + offset[i] - 0.5;
            let gamma = -(uniform() * uniform()).ln() / 2.0;
            let mean = eta.exp() * gamma;
            let (mut k, mut total) = (0.0, 0.0);
            loop {
                total += -uniform().ln() / mean;
                if total > 1.0 {
                    break k;
                }
                k += 1.0;
            }
        })
        .collect();
    let x = Design::row_major(&s.x, n, p).unwrap();
    let glm = Glm::negative_binomial(None).backend(scalemix::BackendChoice::Cpu);
    let in_memory = glm.fit_data(&Data::new(x, &counts).offset(&offset)).unwrap();
    let mut source = MemorySource::new(x, &counts).unwrap().with_offset(&offset).unwrap();
    let streamed = streaming(glm, 97).fit_source(&mut source).unwrap();
    let (Family::NegativeBinomial { theta: a }, Family::NegativeBinomial { theta: b }) =
        (in_memory.family(), streamed.family())
    else {
        panic!("{:?} {:?}", in_memory.family(), streamed.family());
    };
    eprintln!(
        "θ in memory {a}, streamed {b}; objectives {} and {}",
        in_memory.objective(),
        streamed.objective()
    );
    assert!(streamed.converged());
    assert!(relative(a, b) <= 1e-8, "θ {a} in memory, {b} streamed");
    assert!(relative(in_memory.objective(), streamed.objective()) <= 1e-8);
}
