//! The `scalemix` binary: fits checked against the fixtures' optima from the JSON it writes,
//! predictions from a saved model, and every bad input ending in a one-line error.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::common::{Reference, objective, reference};

fn fixture(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("fixtures").join(file)
}

/// A scratch directory of this test's own (removed when the returned guard drops).
fn scratch(name: &str) -> Scratch {
    let dir = std::env::temp_dir().join(format!("scalemix-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    Scratch(dir)
}

/// A test's scratch directory, removed with what it holds when the test ends.
struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl AsRef<std::path::Path> for Scratch {
    fn as_ref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `scalemix ARGS`, or the benchmark binary for `bench SUITE …` (`scalemix-bench SUITE …`).
fn scalemix(args: &[&str]) -> Output {
    let (binary, args) = match args.split_first() {
        Some((&"bench", suite)) => (env!("CARGO_BIN_EXE_scalemix-bench"), suite),
        _ => (env!("CARGO_BIN_EXE_scalemix"), args),
    };
    Command::new(binary)
        .args(args)
        .env("SCALEMIX_BACKEND", "cpu")
        .output()
        .expect("the binary runs")
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn numbers(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

/// `fit --output` on a fixture; the gap to F* recomputed from the JSON's coefficients.
fn fit_gap(r: &Reference, family_args: &[&str]) -> f64 {
    let dir = scratch(&r.name);
    let model = dir.join("model.json");
    let lambda = r.lambda.to_string();
    let alpha = r.alpha.to_string();
    let data = fixture(
        &format!("{}.csv", r.name.split('_').next().unwrap())
            .replace("breast.csv", "breast_cancer.csv"),
    );
    let mut args = vec![
        "fit",
        "--data",
        data.to_str().unwrap(),
        "--lambda",
        &lambda,
        "--alpha",
        &alpha,
        "--max-iter",
        "5000",
        "--output",
        model.to_str().unwrap(),
        "--quiet",
    ];
    args.extend_from_slice(family_args);
    let out = scalemix(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let m = json(&model);
    for key in [
        "family",
        "lambda",
        "alpha",
        "intercept",
        "coef",
        "feature_names",
        "objective",
        "iterations",
        "converged",
        "termination",
        "kkt_violation",
        "backend",
        "device",
        "elapsed_seconds",
    ] {
        assert!(m.get(key).is_some(), "model JSON lacks {key}");
    }
    assert_eq!(m["converged"], true, "{}", r.name);
    assert!(m["kkt_violation"].as_f64().unwrap() < 1e-6, "{}: {}", r.name, m["kkt_violation"]);
    let f = objective(r, &numbers(&m["coef"]), m["intercept"].as_f64().unwrap());
    (f - r.objective) / r.objective
}

#[test]
fn fit_writes_models_that_reach_the_fixture_optima() {
    // The gaps README states (the models keep every digit of the coefficients); the
    // references are accurate to 1e-12, the quantile LP to 1e-11.
    for (name, args) in [
        ("breast_cancer_logistic_ridge", &["--family", "logistic"][..]),
        ("wine_hinge_ridge", &["--family", "hinge"]),
        ("diabetes_quantile_median", &["--family", "quantile", "--quantile", "0.5"]),
    ] {
        let r = reference(name);
        let gap = fit_gap(&r, args);
        let below = if r.family == "quantile" { -1e-11 } else { -1e-12 };
        let stated = crate::fixtures::stated_gap(&r);
        assert!((below..=stated).contains(&gap), "{name}: gap {gap:e} (stated {stated:e})");
    }
}

#[test]
fn predict_round_trips_a_saved_model() {
    let dir = scratch("predict");
    let model = dir.join("model.json");
    let predictions = dir.join("predictions.csv");
    let data = fixture("breast_cancer.csv");
    let out = scalemix(&[
        "fit",
        "--data",
        data.to_str().unwrap(),
        "--lambda",
        "0.001",
        "--output",
        model.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = scalemix(&[
        "predict",
        "--model",
        model.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--output",
        predictions.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let m = json(&model);
    let (coef, b0) = (numbers(&m["coef"]), m["intercept"].as_f64().unwrap());
    let r = reference("breast_cancer_logistic_ridge");
    let text = std::fs::read_to_string(&predictions).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("prediction,probability,eta"));
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), r.n);
    for (i, row) in rows.iter().enumerate() {
        let eta = b0 + (0..r.p).map(|j| r.x[i * r.p + j] * coef[j]).sum::<f64>();
        let cells: Vec<f64> = row.split(',').map(|c| c.parse().unwrap()).collect();
        assert!(
            (cells[2] - eta).abs() <= 1e-12 * eta.abs().max(1.0),
            "row {i}: η {} vs {eta}",
            cells[2]
        );
        assert!((cells[1] - 1.0 / (1.0 + (-eta).exp())).abs() <= 1e-12, "row {i}");
        assert_eq!(cells[0], f64::from(u8::from(eta >= 0.0)));
    }
}

#[test]
fn path_and_cv_write_their_json_and_plots() {
    let dir = scratch("path");
    let data = fixture("breast_cancer.csv");
    let (path_json, path_svg) = (dir.join("path.json"), dir.join("path.svg"));
    let out = scalemix(&[
        "path",
        "--data",
        data.to_str().unwrap(),
        "--alpha",
        "1",
        "--n-lambda",
        "8",
        "--output",
        path_json.to_str().unwrap(),
        "--plot",
        path_svg.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let p = json(&path_json);
    for key in ["lambdas", "intercepts", "coefs", "objectives", "nonzeros", "iterations"] {
        assert!(p.get(key).is_some(), "path JSON lacks {key}");
    }
    assert_eq!(numbers(&p["nonzeros"])[0], 0.0);
    assert!(std::fs::read_to_string(&path_svg).unwrap().starts_with("<svg"));
    let (cv_json, cv_svg) = (dir.join("cv.json"), dir.join("cv.svg"));
    let out = scalemix(&[
        "cv",
        "--data",
        data.to_str().unwrap(),
        "--alpha",
        "1",
        "--n-lambda",
        "8",
        "--folds",
        "3",
        "--metric",
        "auc",
        "--output",
        cv_json.to_str().unwrap(),
        "--plot",
        cv_svg.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let c = json(&cv_json);
    assert!(c["lambda_1se"].as_f64().unwrap() >= c["lambda_min"].as_f64().unwrap());
    assert_eq!(numbers(&c["mean"]).len(), numbers(&c["lambdas"]).len());
}

#[test]
fn reads_gzip_and_libsvm_files() {
    use std::io::Write;
    let dir = scratch("formats");
    let csv = std::fs::read(fixture("wine.csv")).unwrap();
    let gz = dir.join("wine.csv.gz");
    let mut encoder = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::fast(),
    );
    encoder.write_all(&csv).unwrap();
    encoder.finish().unwrap();
    let out =
        scalemix(&["fit", "--data", gz.to_str().unwrap(), "--family", "hinge", "--lambda", "0.01"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The same problem in LIBSVM form gives the same fit.
    let r = reference("wine_hinge_ridge");
    let mut svm = String::new();
    for i in 0..r.n {
        svm.push_str(&format!("{}", r.y[i]));
        for j in 0..r.p {
            svm.push_str(&format!(" {}:{}", j + 1, r.x[i * r.p + j]));
        }
        svm.push('\n');
    }
    let file = dir.join("wine.svm");
    std::fs::write(&file, svm).unwrap();
    let model = dir.join("model.json");
    let out = scalemix(&[
        "fit",
        "--data",
        file.to_str().unwrap(),
        "--family",
        "hinge",
        "--lambda",
        "0.01",
        "--output",
        model.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let m = json(&model);
    let f = objective(&r, &numbers(&m["coef"]), m["intercept"].as_f64().unwrap());
    let gap = (f - r.objective) / r.objective;
    assert!(gap <= crate::fixtures::stated_gap(&r), "gap {gap:e}");
}

/// LIBSVM files as scikit-learn's `dump_svmlight_file` writes them by default: indices from 0
/// and, for two classes, labels −1/+1. Read from 0 where an index 0 appears (the features named
/// x0, x1, …), the labels as 0/1: the breast-cancer logistic ridge reaches its reference
/// optimum in memory and streamed, and the model predicts on a zero-based file. A one-based
/// model refuses a file with an index 0, and a column of −1, 0 and 1 is refused at its row.
#[test]
fn zero_based_libsvm_files_with_minus_one_labels_fit_as_scikit_learn_reads_them() {
    let dir = scratch("zero-based");
    let r = reference("breast_cancer_logistic_ridge");
    let write = |name: &str, base: usize, label: &dyn Fn(usize) -> f64| {
        let mut text = String::new();
        for i in 0..r.n {
            text.push_str(&format!("{}", label(i)));
            for j in 0..r.p {
                text.push_str(&format!(" {}:{}", j + base, r.x[i * r.p + j]));
            }
            text.push('\n');
        }
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };
    let plus_minus = |i: usize| if r.y[i] == 1.0 { 1.0 } else { -1.0 };
    let zero_based = write("zero.svm", 0, &plus_minus);
    let one_based = write("one.svm", 1, &|i| r.y[i]);
    let lambda = r.lambda.to_string();
    for stream in [false, true] {
        let model = dir.join(format!("model-{stream}.json"));
        let mut args = vec![
            "fit",
            "--data",
            &zero_based,
            "--lambda",
            &lambda,
            "--output",
            model.to_str().unwrap(),
        ];
        if stream {
            args.push("--stream");
        }
        let out = scalemix(&args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let m = json(&model);
        let names: Vec<&str> =
            m["feature_names"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert_eq!((names.len(), names[0], names[r.p - 1]), (r.p, "x0", "x29"), "stream {stream}");
        let f = objective(&r, &numbers(&m["coef"]), m["intercept"].as_f64().unwrap());
        let gap = (f - r.objective) / r.objective;
        assert!(gap <= crate::fixtures::stated_gap(&r), "stream {stream}: gap {gap:e}");
    }
    let zero_model = dir.join("model-false.json");
    let out =
        scalemix(&["predict", "--model", zero_model.to_str().unwrap(), "--data", &zero_based]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), r.n + 1, "header and rows");
    // The one-based file names its features x1, …: its model refuses an index 0.
    let one_model = dir.join("one.json");
    let out = scalemix(&[
        "fit",
        "--data",
        &one_based,
        "--lambda",
        &lambda,
        "--output",
        one_model.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(json(&one_model)["feature_names"][0], "x1");
    let out = scalemix(&["predict", "--model", one_model.to_str().unwrap(), "--data", &zero_based]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("index 0"), "{stderr}");
    // Row 5 (zero-based) of −1/+1 labels turned to 0: three classes, refused at that row.
    let mixed = write("mixed.svm", 0, &|i| if i == 5 { 0.0 } else { plus_minus(i) });
    for stream in [false, true] {
        let mut args = vec!["fit", "--data", &mixed, "--lambda", &lambda];
        if stream {
            args.push("--stream");
        }
        let out = scalemix(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "stream {stream}");
        assert!(stderr.contains("row 5") && stderr.contains("three classes"), "{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    }
}

/// Each bad input: non-zero exit, one line naming the problem, never a panic.
#[test]
fn bad_inputs_end_with_a_one_line_error() {
    let dir = scratch("bad");
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };
    let ragged = write("ragged.csv", "a,b,y\n1,2,0\n3,1\n");
    let text_cell = write("text.csv", "a,b,y\n1,2,0\n3,oops,1\n");
    let empty = write("empty.csv", "");
    let nan = write("nan.csv", "a,b,y\n1,2,0\n3,NaN,1\n");
    let labels = write("labels.csv", "a,b,y\n1,2,0\n3,1,2\n");
    let bad_model = write("model.json", "{ not json");
    // A crafted multinomial model: three classes, coefficients for two.
    let crafted = write(
        "crafted.json",
        r#"{"family":"multinomial","lambda":0,"alpha":0,"intercept":0,"coef":[],
            "feature_names":["a","b"],"objective":0,"iterations":0,"converged":true,
            "termination":"converged","backend":"cpu","device":"cpu","elapsed_seconds":0,
            "classes":[0,1,2],"coefs":[[1,2],[3,4]],"intercepts":[0,0,0]}"#,
    );
    let two_features = write("two.csv", "a,b\n1,2\n3,1\n");
    // Found by the fuzz target: one entry at a huge index asked for a terabyte dense matrix.
    let sparse = write("huge.svm", "1 4000000000:1\n-1 2:1\n");
    let label_only = write("labels.svm", "1\n-1\n");
    let svm_nan = write("nan.svm", "1 1:0.5\n0 3:1 2:nan\n");
    let svm_twice = write("twice.svm", "1 1:0.5 3:1\n0 2:1 2:3\n");
    let good = fixture("wine.csv");
    let good = good.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["fit", "--data", "/no/such/file.csv"], "cannot open"),
        (vec!["fit", "--data", &ragged], "line 3"),
        (vec!["fit", "--data", &text_cell], "row 1, column b: \"oops\" is not a number (line 3)"),
        (vec!["fit", "--data", &empty], "empty"),
        (vec!["fit", "--data", &nan], "row 1, column b: NaN is not finite"),
        (vec!["fit", "--data", &labels, "--family", "logistic"], "row 1"),
        (vec!["fit", "--data", good, "--target", "nope"], "column nope: no such column"),
        (vec!["predict", "--model", &bad_model, "--data", good], "not a scalemix model"),
        (vec!["predict", "--model", &crafted, "--data", &two_features], "invalid model"),
        (vec!["fit", "--data", good, "--family", "hinge", "--max-memory", "0"], "needs about"),
        (vec!["bench", "paper", "--quick", "--n", "0"], "at least 1"),
        (vec!["bench", "paper", "--quick", "--p", "20,0"], "at least 1"),
        (vec!["bench", "path", "--quick", "--condition", "0.5"], "below 1"),
        (vec!["bench", "quantile", "--quick", "--p", "0"], "at least 1"),
        (vec!["bench", "lasso", "--quick", "--folds", "0"], "at least 1"),
        (vec!["fit", "--data", good, "--family", "quantile", "--quantile", "1.5"], "q"),
        (vec!["fit", "--data", &sparse], "4000000000 is far beyond the 2 stored values"),
        // The streamed reader is the same reader: the same refusal before any block is read.
        (vec!["fit", "--data", &sparse, "--stream"], "renumber the features compactly"),
        (vec!["fit", "--data", &label_only], "no features"),
        // Streamed LIBSVM blocks are sparse rows, checked as the file read whole is.
        (vec!["fit", "--data", &svm_nan, "--stream"], "row 1, column x2: NaN is not finite"),
        (vec!["fit", "--data", &svm_twice, "--stream"], "index given twice"),
    ];
    for (args, expected) in cases {
        let out = scalemix(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr:?} does not mention {expected:?}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr:?}");
    }
}

mod robustness {
    use proptest::prelude::*;

    /// A model file with the right keys and arbitrary shapes and values in them.
    fn model_text() -> impl Strategy<Value = String> {
        let family = prop::sample::select(vec![
            "logistic",
            "binomial",
            "gaussian",
            "hinge",
            "quantile",
            "student-t",
            "multinomial",
            "hinge-ovr",
            "poisson",
        ]);
        let number = prop::sample::select(vec![0.0, 1.0, -2.5, 1e300, -1e-300, 7.0]);
        let numbers = prop::collection::vec(number.clone(), 0..4);
        (
            family,
            numbers.clone(),
            prop::option::of(numbers.clone()),
            prop::option::of(prop::collection::vec(numbers.clone(), 0..4)),
            prop::option::of(numbers),
            prop::option::of(number),
        )
            .prop_map(|(family, coef, classes, coefs, intercepts, q)| {
                let mut text = format!(
                    r#"{{"family":"{family}","lambda":0,"alpha":0,"intercept":0.5,"coef":{coef:?},
                    "feature_names":["a","b"],"objective":0,"iterations":0,"converged":true,
                    "termination":"converged","backend":"cpu","device":"cpu","elapsed_seconds":0"#
                );
                if let Some(q) = q {
                    text += &format!(r#","quantile":{q:?},"nu":{q:?},"sigma":{q:?}"#);
                }
                if let Some(classes) = classes {
                    text += &format!(r#","classes":{classes:?}"#);
                }
                if let Some(coefs) = coefs {
                    text += &format!(r#","coefs":{coefs:?}"#);
                }
                if let Some(intercepts) = intercepts {
                    text += &format!(r#","intercepts":{intercepts:?}"#);
                }
                text + "}"
            })
    }

    /// Text made of what CSV and LIBSVM files are made of, in any order: digits, signs, dots,
    /// separators, quotes, colons, exponents, special values and line breaks.
    fn data_text() -> impl Strategy<Value = String> {
        let pieces = prop::sample::select(vec![
            "0", "1", "-2.5", "3e4", "1e999", "NaN", "inf", ",", ",,", "\n", "\r\n", "\"", "a",
            "y", " ", ":", "1:2", "x", "#", "\u{feff}", "0.", ".", "-", "",
        ]);
        prop::collection::vec(pieces, 0..60).prop_map(|v| v.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

        /// Whatever the file holds, `fit` ends with success or a one-line error, never a panic.
        #[test]
        fn arbitrary_files_never_crash_the_readers(text in data_text(), libsvm in any::<bool>()) {
            let dir = super::scratch("robust");
            let file = dir.join(if libsvm { "data.svm" } else { "data.csv" });
            std::fs::write(&file, &text).unwrap();
            let out = super::scalemix(&["fit", "--data", file.to_str().unwrap(), "--quiet"]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            prop_assert!(!stderr.contains("panicked"), "{text:?}: {stderr}");
            prop_assert!(out.status.success() || out.status.code() == Some(1), "{text:?}: {:?}", out.status);
        }

        /// Whatever a model file holds, `predict` ends with predictions or a one-line error.
        #[test]
        fn arbitrary_model_files_never_crash_predict(model in model_text()) {
            let dir = super::scratch("robust-model");
            let file = dir.join("model.json");
            std::fs::write(&file, &model).unwrap();
            let data = dir.join("two.csv");
            std::fs::write(&data, "a,b\n1,2\n-3,0.5\n").unwrap();
            let out = super::scalemix(&[
                "predict", "--model", file.to_str().unwrap(), "--data", data.to_str().unwrap(),
            ]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            prop_assert!(!stderr.contains("panicked") && !stderr.contains("internal error"), "{model}: {stderr}");
            prop_assert!(out.status.success() || out.status.code() == Some(1), "{model}: {:?}", out.status);
            prop_assert!(out.status.success() || stderr.trim_end().lines().count() == 1, "{model}: {stderr}");
        }
    }
}

#[test]
fn binomial_paths_from_a_trials_column() {
    let dir = scratch("binomial-path");
    let data = dir.join("counts.csv");
    // Success counts out of 1–4 trials on two features; λ_max is checked against its formula.
    let (n, mut text) = (40, String::from("x1,x2,successes,trials\n"));
    let mut rows = Vec::new();
    for i in 0..n {
        let (x1, x2) = ((i % 7) as f64 / 3.0 - 1.0, ((i * 3) % 5) as f64 / 2.0 - 1.0);
        let trials = (1 + i % 4) as f64;
        let successes = ((i * 13) % (trials as usize + 1)) as f64;
        text.push_str(&format!("{x1},{x2},{successes},{trials}\n"));
        rows.push((x1, x2, successes, trials));
    }
    std::fs::write(&data, text).unwrap();
    let json_out = dir.join("path.json");
    let out = scalemix(&[
        "path",
        "--data",
        data.to_str().unwrap(),
        "--family",
        "binomial",
        "--target",
        "successes",
        "--trials",
        "trials",
        "--alpha",
        "1",
        "--n-lambda",
        "5",
        "--output",
        json_out.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let p = json(&json_out);
    let total: f64 = rows.iter().map(|r| r.3).sum();
    let mean = rows.iter().map(|r| r.2).sum::<f64>() / total;
    // |∇ⱼL| at the null model for feature column `j` (0: x1, 1: x2).
    let gradient = |j: usize| {
        let feature = |r: &(f64, f64, f64, f64)| if j == 0 { r.0 } else { r.1 };
        (rows.iter().map(|r| (r.3 * mean - r.2) * feature(r)).sum::<f64>() / n as f64).abs()
    };
    let lambda_max = gradient(0).max(gradient(1));
    let first = numbers(&p["lambdas"])[0];
    assert!((first - lambda_max).abs() <= 1e-9 * lambda_max, "{first} vs {lambda_max}");
    assert_eq!(numbers(&p["nonzeros"])[0], 0.0);
}

/// `bench paper` at a tiny size: the manifest's figures are consistent with each other and the
/// data files hold the problem the peers will read.
#[test]
fn bench_suites_write_consistent_figures_and_data() {
    let dir = scratch("bench");
    let data = dir.join("data");
    let out = scalemix(&[
        "bench",
        "paper",
        "--n",
        "400",
        "--p",
        "8",
        "--condition",
        "1e3",
        "--scale",
        "1",
        "--budgets",
        "10,100",
        "--write-data",
        data.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Summary: tuned Adam against SM-EM + restart"), "{stdout}");
    let m = json(&data.join("manifest-paper.json"));
    let problem = &m["problems"][0];
    let f_star = problem["f_star"].as_f64().unwrap();
    let methods = problem["methods"].as_array().unwrap();
    assert_eq!(methods.len(), 5, "four SM-EM variants and Adam");
    for method in methods {
        let name = method["method"].as_str().unwrap();
        // Each reported gap is its objective's distance to F*.
        let gaps = numbers(&method["gap_at_budget"]);
        for (f, gap) in numbers(&method["objective_at_budget"]).iter().zip(&gaps) {
            assert!((gap - ((f - f_star) / f_star).max(0.0)).abs() <= 1e-15, "{name}: {gaps:?}");
        }
        // Tighter gaps are reached later (or never).
        let times: Vec<Option<f64>> =
            method["seconds_to_gap"].as_array().unwrap().iter().map(|t| t.as_f64()).collect();
        for pair in times.windows(2) {
            if let (Some(a), Some(b)) = (pair[0], pair[1]) {
                assert!(a <= b, "{name}: {times:?}");
            } else {
                assert!(pair[1].is_none(), "{name}: a tighter gap reached before a looser one");
            }
        }
    }
    let rate = methods[4]["learning_rate"].as_f64().unwrap();
    assert!(scalemix::baselines::LEARNING_RATE_GRID.contains(&rate));
    // The data files: X (400 × 8) and y as little-endian f64, y in {0, 1}.
    let x = std::fs::read(data.join(problem["x_file"].as_str().unwrap())).unwrap();
    let y = std::fs::read(data.join(problem["y_file"].as_str().unwrap())).unwrap();
    assert_eq!((x.len(), y.len()), (400 * 8 * 8, 400 * 8));
    let floats = |bytes: &[u8]| -> Vec<f64> {
        bytes.chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().unwrap())).collect()
    };
    let (x, y) = (floats(&x), floats(&y));
    assert!(y.iter().all(|&v| v == 0.0 || v == 1.0));
    // F* is the optimum of the problem in those files: a fit of them here reaches it.
    let fit = scalemix::Glm::logistic()
        .penalty(scalemix::Penalty::ridge(problem["lambda"].as_f64().unwrap()))
        .backend(scalemix::BackendChoice::Cpu)
        .fit(scalemix::Design::row_major(&x, 400, 8).unwrap(), &y)
        .unwrap();
    assert!(
        (fit.objective() - f_star).abs() <= 1e-12 * f_star,
        "{} vs F* {f_star}",
        fit.objective()
    );

    let out = scalemix(&[
        "bench",
        "path",
        "--n",
        "300",
        "--p",
        "5",
        "--n-lambda",
        "5",
        "--adam-steps",
        "20",
        "--write-data",
        data.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let path = &json(&data.join("manifest-path.json"))["problems"][0];
    assert_eq!(numbers(&path["lambdas"]).len(), 5);
    assert!(numbers(&path["adam_gaps"]).iter().all(|&g| g >= 0.0));
    assert_eq!(numbers(&path["nonzeros"])[0], 0.0);

    let out = scalemix(&[
        "bench",
        "quantile",
        "--n",
        "500",
        "--p",
        "3",
        "--write-data",
        data.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let q = &json(&data.join("manifest-quantile.json"))["problems"][0];
    assert_eq!(numbers(&q["coefficients"]).len(), 3);

    let out = scalemix(&[
        "bench",
        "lasso",
        "--n",
        "400",
        "--p",
        "10",
        "--n-lambda",
        "5",
        "--folds",
        "3",
        "--write-data",
        data.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let problems = json(&data.join("manifest-lasso.json"))["problems"].as_array().unwrap().clone();
    assert_eq!(problems.len(), 3, "two logistic lasso paths and a gaussian elastic net");
    for problem in &problems {
        let lambdas = numbers(&problem["lambdas"]);
        assert_eq!(lambdas.len(), 5);
        assert!(lambdas.windows(2).all(|w| w[1] < w[0]), "{lambdas:?}");
        assert_eq!(numbers(&problem["nonzeros"])[0], 0.0, "nothing enters at λ_max");
    }
    assert_eq!(problems[0]["folds"].as_array().unwrap().len(), 400);
    // The logistic AR(1) path's last point is the optimum of the data files' problem: a fit by
    // EM's ℓ₁ mixture (not the path's exact ℓ₁ step) reaches the same objective.
    let ar1 = &problems[1];
    let x = floats(&std::fs::read(data.join(ar1["x_file"].as_str().unwrap())).unwrap());
    let y = floats(&std::fs::read(data.join(ar1["y_file"].as_str().unwrap())).unwrap());
    let lambda = *numbers(&ar1["lambdas"]).last().unwrap();
    let objective = *numbers(&ar1["objectives"]).last().unwrap();
    let fit = scalemix::Glm::logistic()
        .penalty(scalemix::Penalty::lasso(lambda))
        .acceleration(scalemix::Acceleration::Squarem)
        .max_iter(100_000)
        .backend(scalemix::BackendChoice::Cpu)
        .fit(scalemix::Design::row_major(&x, 400, 10).unwrap(), &y)
        .unwrap();
    assert!(
        (fit.objective() - objective).abs() <= 1e-10 * objective,
        "{} vs {objective}",
        fit.objective()
    );
}

/// No output may overwrite an input or another output (refused before any work, the input left
/// as it was), and a plot that cannot be written never costs the model: the model is written
/// first, whole, by a rename.
#[test]
fn outputs_never_overwrite_inputs_and_a_failing_plot_keeps_the_model() {
    let dir = scratch("outputs");
    let data = dir.join("data.csv");
    std::fs::copy(fixture("wine.csv"), &data).unwrap();
    let before = std::fs::read(&data).unwrap();
    let data_arg = data.to_str().unwrap();
    // The same file by another name: the check compares files, not spellings.
    let dotted = dir.join(".").join("data.csv");
    let model = dir.join("model.json");
    let model_arg = model.to_str().unwrap();
    for args in [
        vec!["fit", "--data", data_arg, "--family", "hinge", "--output", data_arg],
        vec!["fit", "--data", data_arg, "--family", "hinge", "--output", dotted.to_str().unwrap()],
        vec![
            "fit", "--data", data_arg, "--family", "hinge", "--output", model_arg, "--plot",
            model_arg,
        ],
        vec!["path", "--data", data_arg, "--family", "hinge", "--output", data_arg],
        vec!["cv", "--data", data_arg, "--family", "hinge", "--plot", data_arg],
    ] {
        let out = scalemix(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
        assert_eq!(std::fs::read(&data).unwrap(), before, "{args:?} changed the data");
        assert!(!model.exists(), "{args:?} wrote a model");
    }
    // A plot into a folder that does not exist fails, after the model was written whole.
    let plot = dir.join("no-such-folder").join("plot.svg");
    let out = scalemix(&[
        "fit",
        "--data",
        data_arg,
        "--family",
        "hinge",
        "--lambda",
        "0.01",
        "--output",
        model_arg,
        "--plot",
        plot.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("plot.svg"));
    let written = json(&model);
    assert_eq!(written["family"], "hinge");
    // predict refuses to write its table over the model or the data.
    let out =
        scalemix(&["predict", "--model", model_arg, "--data", data_arg, "--output", model_arg]);
    assert!(!out.status.success());
    assert_eq!(json(&model)["family"], "hinge", "the model survived");
    // No temporary files are left behind.
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// The files the tool writes get the permissions a plain create would give them: 0666 less the
/// umask for a new file (not the 0600 of the temporary file it is renamed from), and the
/// replaced file's own for an existing one.
#[cfg(unix)]
#[test]
fn outputs_get_the_permissions_of_a_plain_create() {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    let dir = scratch("permissions");
    // What a plain create gives in this process (the binary inherits its umask).
    let plain = dir.join("plain");
    std::fs::File::create(&plain).unwrap();
    let model = dir.join("model.json");
    let _ = std::fs::remove_file(&model);
    let data = fixture("breast_cancer.csv");
    let fit = |output: &Path| {
        let out = scalemix(&[
            "fit",
            "--data",
            data.to_str().unwrap(),
            "--lambda",
            "0.1",
            "--output",
            output.to_str().unwrap(),
            "--quiet",
        ]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    fit(&model);
    assert_eq!(mode(&model), mode(&plain), "a new file");
    assert_ne!(mode(&model), 0o600, "the umask here must let a plain create differ from 0600");
    std::fs::set_permissions(&model, std::fs::Permissions::from_mode(0o640)).unwrap();
    fit(&model);
    assert_eq!(mode(&model), 0o640, "a replaced file keeps its permissions");
}

/// TSV is read in memory as in a stream (one reader per format): the same fit as its CSV.
#[test]
fn tsv_fits_in_memory_as_its_csv_does() {
    let dir = scratch("tsv");
    let csv_path = fixture("wine.csv");
    let text = std::fs::read_to_string(&csv_path).unwrap();
    let tsv_path = dir.join("wine.tsv");
    std::fs::write(&tsv_path, text.replace(',', "\t")).unwrap();
    let fit = |data: &Path, output: &Path| {
        let out = scalemix(&[
            "fit",
            "--data",
            data.to_str().unwrap(),
            "--family",
            "gaussian",
            "--lambda",
            "0.05",
            "--output",
            output.to_str().unwrap(),
            "--quiet",
        ]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        json(output)
    };
    let (from_csv, from_tsv) =
        (fit(&csv_path, &dir.join("csv.json")), fit(&tsv_path, &dir.join("tsv.json")));
    assert_eq!(from_csv["coef"], from_tsv["coef"]);
    assert_eq!(from_csv["feature_names"], from_tsv["feature_names"]);
    assert!(from_tsv["coef"].as_array().unwrap().len() > 1);
}

/// A LIBSVM file is read sparse: 300 rows, features up to 100 000 (30 million values dense)
/// fit a lasso on active sets, with the objective of the same CSR matrix fitted through the
/// library; predictions read the file sparse too. Streamed, the fit would hold 100 001 × 100 001
/// statistics: refused with that reason and the advice to read it in memory. A line that gives
/// one index twice is named by row and feature.
#[test]
fn libsvm_files_are_read_sparse_whatever_their_width() {
    use scalemix::{CsrMatrix, Glm, Penalty};
    let dir = scratch("libsvm-wide");
    let (n, p) = (300, 100_000);
    let (mut indptr, mut indices, mut values, mut labels) = (vec![0], vec![], vec![], vec![]);
    let mut text = String::new();
    for i in 0..n {
        // Ten features a row, the first few shared by many rows and carrying the signal.
        let mut row: Vec<usize> = (0..10).map(|k| (i * 7919 + k * 104_729) % p).collect();
        row.push(i % 5);
        row.sort_unstable();
        row.dedup();
        let signal: f64 = row.iter().filter(|&&j| j < 5).map(|&j| 1.0 + j as f64).sum();
        let label = if (signal + (i % 3) as f64) > 3.5 { 1.0 } else { 0.0 };
        text.push_str(&format!("{label}"));
        // Written in decreasing order: a line's entries may come in any order.
        for &j in row.iter().rev() {
            let v = 1.0 + (j % 4) as f64 * 0.25;
            text.push_str(&format!(" {}:{v}", j + 1));
        }
        text.push('\n');
        for &j in &row {
            indices.push(j);
            values.push(1.0 + (j % 4) as f64 * 0.25);
        }
        indptr.push(values.len());
        labels.push(label);
    }
    // The largest index fixes p: make sure a row reaches it.
    let last = *indices.iter().max().unwrap() + 1;
    let data = dir.join("wide.svm");
    std::fs::write(&data, &text).unwrap();
    let data = data.to_str().unwrap();
    let model = dir.join("model.json");
    let out = scalemix(&[
        "fit",
        "--data",
        data,
        "--family",
        "logistic",
        "--lambda",
        "0.02",
        "--alpha",
        "1",
        "--output",
        model.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&model).unwrap()).unwrap();
    let x = CsrMatrix::new(n, last, indptr, indices, values).unwrap();
    let fit = Glm::logistic().penalty(Penalty::lasso(0.02)).fit(&x, &labels).unwrap();
    let objective = file["objective"].as_f64().unwrap();
    assert!((objective - fit.objective()).abs() <= 1e-12 * fit.objective(), "{objective}");
    assert_eq!(file["coef"].as_array().unwrap().len(), last);
    // The summary lists the largest coefficients of so wide a model, not 100 000 lines.
    let printed = scalemix(&["fit", "--data", data, "--lambda", "0.02", "--alpha", "1", "--quiet"]);
    assert!(printed.status.success(), "{}", String::from_utf8_lossy(&printed.stderr));
    let summary = String::from_utf8_lossy(&printed.stdout);
    let nonzeros = fit.coefficients().iter().filter(|b| **b != 0.0).count();
    assert!(summary.lines().count() <= 53, "{} lines", summary.lines().count());
    assert!(
        summary.contains(&format!("of {last} coefficients shown ({nonzeros} nonzero")),
        "{summary}"
    );
    let largest = (0..last)
        .max_by(|&a, &b| fit.coefficients()[a].abs().total_cmp(&fit.coefficients()[b].abs()));
    assert!(summary.contains(&format!("  x{} ", largest.unwrap() + 1)), "{summary}");

    let predictions = dir.join("predictions.csv");
    let out = scalemix(&[
        "predict",
        "--model",
        model.to_str().unwrap(),
        "--data",
        data,
        "--output",
        predictions.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(&predictions).unwrap().lines().count(), n + 1);

    let streamed =
        scalemix(&["fit", "--data", data, "--lambda", "0.02", "--alpha", "1", "--stream"]);
    let stderr = String::from_utf8_lossy(&streamed.stderr);
    assert!(
        !streamed.status.success()
            && stderr.contains("matrices of")
            && stderr.contains("read the data in memory"),
        "{stderr}"
    );

    let twice = dir.join("twice.svm");
    std::fs::write(&twice, "1 1:0.5 3:1\n0 2:1 2:3\n").unwrap();
    let out = scalemix(&["fit", "--data", twice.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("row 1") && stderr.contains("x2") && stderr.contains("twice"),
        "{stderr}"
    );
}

/// `--stream` reads a LIBSVM file as sparse blocks: a 3 000 × 400 file at 2 % density, in blocks
/// of 500 rows, fits (ridge, lasso standardized) to the objective of the same file read whole;
/// `predict --stream` gives the in-memory predictions.
#[test]
fn libsvm_files_stream_as_sparse_blocks() {
    let dir = scratch("libsvm-stream");
    let (n, p) = (3000, 400);
    let mut text = String::new();
    let mut state = 12345u64;
    let mut uniform = || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    for i in 0..n {
        let mut eta = -0.2;
        let mut entries = String::new();
        for j in 0..p {
            if j == p - 1 && i == 0 || uniform() < 0.02 {
                let v = (uniform() * 4.0).round() / 2.0 + 0.5;
                eta += if j % 7 == 0 { v } else { 0.0 };
                entries.push_str(&format!(" {}:{v}", j + 1));
            }
        }
        let label = u8::from(uniform() < 1.0 / (1.0 + (-eta).exp()));
        text.push_str(&format!("{label}{entries}\n"));
    }
    let data = dir.join("train.svm");
    std::fs::write(&data, &text).unwrap();
    let data = data.to_str().unwrap();
    for penalty in
        [&["--lambda", "0.001"][..], &["--lambda", "0.005", "--alpha", "1", "--standardize"]]
    {
        let fit = |extra: &[&str], name: &str| {
            let output = dir.join(name);
            let mut args = vec!["fit", "--data", data, "--tol", "1e-12", "--output"];
            args.push(output.to_str().unwrap());
            args.extend_from_slice(penalty);
            args.extend_from_slice(extra);
            let out = scalemix(&args);
            assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
            json(&output)
        };
        let whole = fit(&[], "whole.json");
        let streamed = fit(&["--stream", "--block-rows", "500"], "streamed.json");
        let (a, b) =
            (whole["objective"].as_f64().unwrap(), streamed["objective"].as_f64().unwrap());
        assert!((a - b).abs() <= 1e-12 * a, "{penalty:?}: streamed {b} vs whole {a}");
        assert_eq!(streamed["coef"].as_array().unwrap().len(), p);
        assert!(streamed["device"].as_str().unwrap().contains("streamed"), "{streamed}");
    }
    let model = dir.join("whole.json");
    let predict = |extra: &[&str], name: &str| {
        let output = dir.join(name);
        let mut args = vec!["predict", "--model", model.to_str().unwrap(), "--data", data];
        args.extend_from_slice(&["--output", output.to_str().unwrap()]);
        args.extend_from_slice(extra);
        let out = scalemix(&args);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        std::fs::read_to_string(output).unwrap()
    };
    let values = |text: String| -> Vec<Vec<f64>> {
        text.lines().skip(1).map(|l| l.split(',').map(|v| v.parse().unwrap()).collect()).collect()
    };
    let whole = values(predict(&[], "whole.csv"));
    let streamed = values(predict(&["--stream", "--block-rows", "700"], "streamed.csv"));
    assert_eq!(whole.len(), n);
    assert_eq!(whole.len(), streamed.len());
    for (i, (a, b)) in whole.iter().zip(&streamed).enumerate() {
        // The same sums, the stored entries added to the intercept in another order.
        assert_eq!(a[0], b[0], "row {i}: the predicted class");
        for (u, v) in a.iter().zip(b).skip(1) {
            assert!((u - v).abs() <= 1e-13 * (1.0 + u.abs()), "row {i}: {u} vs {v}");
        }
    }
}

/// Count data from the command line: `--family poisson --offset COLUMN` on the executions data
/// with an exposure of 100 per state (R's coefficients, deviance and AIC in the JSON's
/// inference table, the table printed as R's summary.glm), `predict` reading the offset column
/// the model names (R's fitted means × 100), the same fit streamed, and
/// `--family negative-binomial` with θ estimated.
#[test]
fn count_models_with_an_offset_and_their_inference_table() {
    let dir = scratch("counts");
    let (x, y, n, p) = crate::common::read_csv("counts/cpunish.csv");
    let header = "INCOME,PERPOVERTY,PERBLACK,LN_VC100k96,SOUTH,DEGREE,y,exposure";
    let mut text = format!("{header}\n");
    for i in 0..n {
        let row: Vec<String> = x[i * p..(i + 1) * p].iter().map(|v| format!("{v:?}")).collect();
        text += &format!("{},{:?},{:?}\n", row.join(","), y[i], 100f64.ln());
    }
    let data = dir.join("cpunish.csv");
    std::fs::write(&data, text).unwrap();
    let (model, streamed) = (dir.join("model.json"), dir.join("streamed.json"));
    let base =
        ["fit", "--data", data.to_str().unwrap(), "--family", "poisson", "--offset", "exposure"];
    let out = scalemix(&[&base[..], &["--output", model.to_str().unwrap()]].concat());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let file = json(&model);
    assert_eq!(file["offset_column"], "exposure");
    let table = &file["inference"];
    assert!((table["deviance"].as_f64().unwrap() - 18.591641759528944).abs() <= 1e-9);
    assert!((table["aic"].as_f64().unwrap() - 77.8546573896503).abs() <= 1e-9);
    assert_eq!(table["coefficients"][0]["name"], "(Intercept)");
    assert_eq!(table["coefficients"][1]["name"], "INCOME");
    let income = table["coefficients"][1]["estimate"].as_f64().unwrap();
    assert!((income / 2.611017e-04 - 1.0).abs() <= 1e-6, "{income}");
    // The printed summary is R's table.
    let printed = scalemix(&base);
    let printed = String::from_utf8_lossy(&printed.stdout);
    for line in ["Pr(>|z|)", "Null deviance: 136.572817  on 16 degrees", "AIC: 77.854657"] {
        assert!(printed.contains(line), "{line} missing from\n{printed}");
    }
    // Predictions read the model's offset column: on the same rows R's fitted means; with an
    // exposure of 200 instead of 100, twice them.
    let doubled = dir.join("doubled.csv");
    let exposure = format!(",{:?}\n", 100f64.ln());
    let twice = format!(",{:?}\n", 200f64.ln());
    std::fs::write(&doubled, std::fs::read_to_string(&data).unwrap().replace(&exposure, &twice))
        .unwrap();
    for (file, factor) in [(&data, 1.0), (&doubled, 2.0)] {
        let out = scalemix(&[
            "predict",
            "--model",
            model.to_str().unwrap(),
            "--data",
            file.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let predictions: Vec<f64> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .skip(1)
            .map(|l| l.parse().unwrap())
            .collect();
        for (ours, r) in predictions.iter().zip([35.2263655, 8.1965744, 1.3118966]) {
            assert!((ours / (factor * r) - 1.0).abs() <= 1e-6, "{ours} vs R {r} × {factor}");
        }
    }
    // Streamed: the same fit.
    let out = scalemix(
        &[&base[..], &["--stream", "--quiet", "--output", streamed.to_str().unwrap()]].concat(),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (a, b) = (
        json(&model)["objective"].as_f64().unwrap(),
        json(&streamed)["objective"].as_f64().unwrap(),
    );
    assert!((a - b).abs() <= 1e-12 * a.abs(), "in memory {a}, streamed {b}");
    // The negative binomial with θ estimated writes θ and its standard error.
    let out = scalemix(&[
        "fit",
        "--data",
        fixture("counts/committee.csv").to_str().unwrap(),
        "--family",
        "negative-binomial",
        "--output",
        model.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let file = json(&model);
    assert!(
        file["theta"].as_f64().unwrap() > 0.0
            && file["inference"]["theta_std_error"].as_f64().unwrap() > 0.0
    );
    // A negative count is named by its row and column.
    let bad = dir.join("bad.csv");
    std::fs::write(&bad, "x,y\n1,2\n2,-1\n3,4\n").unwrap();
    let out = scalemix(&["fit", "--data", bad.to_str().unwrap(), "--family", "poisson"]);
    let message = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && message.contains("poisson") && message.contains("row 1"),
        "{message}"
    );
}
