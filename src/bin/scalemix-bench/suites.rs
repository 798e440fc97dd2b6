//! The suites of `scalemix-bench`: the paper's benchmark suites, SM-EM side by side with the tuned-Adam
//! protocol ([`scalemix::baselines`]), each optionally writing its problems and scalemix's
//! figures for the peer scripts in `benches/peers/`.
//!
//! Every figure is measured in the run that prints it; ratios compare rows of the same run.

use std::path::{Path as FilePath, PathBuf};
use std::time::Instant;

use clap::{Args, Subcommand};
use scalemix::baselines::{self, LEARNING_RATE_GRID, TunedAdam};
use scalemix::{
    Acceleration, BackendChoice, CvOptions, Data, Design, Fit, Folds, Glm, PathOptions, Penalty,
    synthetic,
};
use serde::Serialize;

use crate::entry::backend_arg;

/// The gaps whose first crossing time is reported.
const GAP_TARGETS: [f64; 3] = [1e-6, 1e-8, 1e-9];

/// A count that must be at least 1 (rows, features, budgets).
fn at_least_one(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(v) => Ok(v),
        Err(e) => Err(e.to_string()),
    }
}

/// A finite number.
fn finite(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(v) => Err(format!("{v} is not finite")),
        Err(e) => Err(e.to_string()),
    }
}

/// A condition number: finite and at least 1.
fn condition_number(text: &str) -> Result<f64, String> {
    let v = finite(text)?;
    if v >= 1.0 { Ok(v) } else { Err(format!("{v} is below 1")) }
}

/// Which suite.
#[derive(Subcommand)]
pub enum Suite {
    /// Ill-conditioned logistic regression (n = 10 000, p 20–500, condition 1e4/1e6, scale 1/5):
    /// SM-EM, SM-EM + Nesterov, SM-EM + restart and the default against tuned Adam at equal
    /// iteration budgets, at equal wall time, and in time to a gap.
    Paper(PaperArgs),
    /// A 40-point lasso path: SM-EM with shared statistics against no sharing and against
    /// tuned Adam at every point.
    Path(PathArgs),
    /// Median regression with heavy-tailed noise at n = 100 000 (scalemix's side of the
    /// QuantileRegressor comparison in benches/peers).
    Quantile(QuantileArgs),
    /// Lasso and elastic-net paths at glmnet's sizes (scalemix's side of benches/peers/lasso.py):
    /// 40-point logistic lasso paths and 5-fold CV on the paper-suite path problem and on AR(1)
    /// columns (ρ = 0.9, sparse truth), and a gaussian elastic-net path, λ down to 1e-3·λ_max.
    Lasso(LassoArgs),
    /// Streamed passes over Parquet, CSV and gzip CSV files next to the same pass in memory
    /// (rows per second), on a 4 000 000 × 50 logistic problem (CSV: its first 1 000 000 rows).
    Stream(crate::stream::StreamArgs),
}

/// `bench lasso`.
#[derive(Args)]
pub struct LassoArgs {
    #[command(flatten)]
    common: Common,
    /// Rows (quick: 2000).
    #[arg(long, value_parser = at_least_one)]
    n: Option<usize>,
    /// Features (quick: 50).
    #[arg(long, value_parser = at_least_one)]
    p: Option<usize>,
    /// Number of λ values.
    #[arg(long, default_value_t = 40, value_parser = at_least_one)]
    n_lambda: usize,
    /// The smallest λ over λ_max.
    #[arg(long, default_value_t = 1e-3)]
    lambda_min_ratio: f64,
    /// Cross-validation folds.
    #[arg(long, default_value_t = 5, value_parser = at_least_one)]
    folds: usize,
}

/// Options every suite has.
#[derive(Args)]
pub struct Common {
    /// Small sizes that run in seconds (for CI and smoke tests).
    #[arg(long)]
    quick: bool,
    #[arg(long, default_value_t = BackendChoice::Cpu, value_parser = backend_arg())]
    backend: BackendChoice,
    /// Write each problem (raw little-endian f64: X row-major, then y) and a manifest.json with
    /// scalemix's figures here, for benches/peers/compare.py.
    #[arg(long)]
    write_data: Option<PathBuf>,
    /// Write every figure as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// `bench paper`.
#[derive(Args)]
pub struct PaperArgs {
    #[command(flatten)]
    common: Common,
    /// Rows (quick: 1000).
    #[arg(long, value_parser = at_least_one)]
    n: Option<usize>,
    /// Feature counts (quick: 20,50).
    #[arg(long, value_delimiter = ',', value_parser = at_least_one)]
    p: Option<Vec<usize>>,
    /// Condition numbers of Σ (quick: 1e4).
    #[arg(long, value_delimiter = ',', value_parser = condition_number)]
    condition: Option<Vec<f64>>,
    /// Coefficient scales s (β ~ N(0, s²/p I); 5 is near-separable).
    #[arg(long, value_delimiter = ',', default_value = "1,5", value_parser = finite)]
    scale: Vec<f64>,
    /// Ridge λ.
    #[arg(long, default_value_t = 1e-4)]
    lambda: f64,
    /// Iteration budgets (Adam: steps per learning rate; the largest is the run length).
    #[arg(long, value_delimiter = ',', default_value = "100,1000", value_parser = at_least_one)]
    budgets: Vec<usize>,
}

/// `bench path`.
#[derive(Args)]
pub struct PathArgs {
    #[command(flatten)]
    common: Common,
    /// Rows (quick: 1000).
    #[arg(long, value_parser = at_least_one)]
    n: Option<usize>,
    /// Features (quick: 20).
    #[arg(long, value_parser = at_least_one)]
    p: Option<usize>,
    #[arg(long, default_value_t = 1e4, value_parser = condition_number)]
    condition: f64,
    #[arg(long, default_value_t = 1.0, value_parser = finite)]
    scale: f64,
    /// Elastic-net mixing (1: lasso, 0: ridge).
    #[arg(long, default_value_t = 1.0)]
    alpha: f64,
    /// Number of λ values.
    #[arg(long, default_value_t = 40)]
    n_lambda: usize,
    /// Adam steps per learning rate at each λ (quick: 100).
    #[arg(long, value_parser = at_least_one)]
    adam_steps: Option<usize>,
}

/// `bench quantile`.
#[derive(Args)]
pub struct QuantileArgs {
    #[command(flatten)]
    common: Common,
    /// Rows (quick: 5000).
    #[arg(long, value_parser = at_least_one)]
    n: Option<usize>,
    #[arg(long, default_value_t = 20, value_parser = at_least_one)]
    p: usize,
    /// The quantile level.
    #[arg(long, default_value_t = 0.5)]
    q: f64,
}

pub fn run(suite: Suite) -> Result<(), String> {
    match suite {
        Suite::Paper(args) => paper(&args),
        Suite::Path(args) => path(&args),
        Suite::Quantile(args) => quantile(&args),
        Suite::Lasso(args) => lasso(&args),
        Suite::Stream(args) => crate::stream::run(&args),
    }
}

/// A convergence history: objective, iterations (or steps) and seconds per entry.
struct Trace<'a> {
    objective: &'a [f64],
    iterations: Vec<usize>,
    seconds: &'a [f64],
}

impl Trace<'_> {
    fn of_fit(fit: &Fit) -> Trace<'_> {
        Trace {
            objective: fit.objective_trace(),
            iterations: fit.trace_iterations().to_vec(),
            seconds: fit.trace_seconds(),
        }
    }

    fn of_adam(run: &baselines::AdamRun) -> Trace<'_> {
        Trace {
            objective: &run.objective_trace,
            iterations: (0..run.objective_trace.len()).collect(),
            seconds: &run.trace_seconds,
        }
    }

    /// F at the last entry with at most `budget` iterations.
    fn at_iteration(&self, budget: usize) -> f64 {
        let last = self.iterations.iter().rposition(|&k| k <= budget).unwrap_or(0);
        self.objective[last]
    }

    /// F at the last entry reached within `seconds`.
    fn at_time(&self, seconds: f64) -> f64 {
        let last = self.seconds.iter().rposition(|&t| t <= seconds).unwrap_or(0);
        self.objective[last]
    }

    /// The first time the relative gap to `f_star` is at most `gap`.
    fn time_to(&self, f_star: f64, gap: f64) -> Option<f64> {
        self.objective.iter().position(|&f| relative_gap(f, f_star) <= gap).map(|i| self.seconds[i])
    }
}

fn relative_gap(f: f64, f_star: f64) -> f64 {
    ((f - f_star) / f_star.abs()).max(0.0)
}

fn show_time(t: Option<f64>) -> String {
    t.map_or_else(|| "never".into(), |t| format!("{t:.3}s"))
}

#[derive(Serialize)]
struct MethodFigures {
    method: String,
    /// F after each budget.
    objective_at_budget: Vec<f64>,
    gap_at_budget: Vec<f64>,
    /// Seconds to the gaps of GAP_TARGETS (None: not reached).
    seconds_to_gap: Vec<Option<f64>>,
    final_objective: f64,
    iterations: usize,
    seconds: f64,
    /// Adam: the learning rate chosen for the longest budget.
    #[serde(skip_serializing_if = "Option::is_none")]
    learning_rate: Option<f64>,
}

#[derive(Serialize)]
struct PaperProblem {
    name: String,
    n: usize,
    p: usize,
    condition: f64,
    scale: f64,
    lambda: f64,
    f_star: f64,
    budgets: Vec<usize>,
    gap_targets: Vec<f64>,
    methods: Vec<MethodFigures>,
    /// Adam's full learning-rate grid, seconds (the cost of tuning).
    adam_grid_seconds: f64,
    /// Seconds of the default scalemix fit run to its own convergence test (default tolerances).
    default_fit_seconds: f64,
    default_fit_gap: f64,
    #[serde(flatten)]
    files: DataFiles,
}

#[derive(Serialize)]
struct Manifest<T> {
    suite: &'static str,
    backend: String,
    machine: String,
    problems: Vec<T>,
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{cpu}, {threads} threads")
}

/// Where a problem's data files were written (absent without `--write-data`).
#[derive(Serialize, Default)]
struct DataFiles {
    #[serde(skip_serializing_if = "Option::is_none")]
    x_file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    y_file: Option<String>,
}

/// With `--write-data DIR`, writes X (row-major) and y as raw little-endian f64 files named
/// after the problem.
fn data_files(common: &Common, name: &str, x: &[f64], y: &[f64]) -> Result<DataFiles, String> {
    let Some(dir) = &common.write_data else { return Ok(DataFiles::default()) };
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut names = [("x", x), ("y", y)].into_iter().map(|(suffix, values)| {
        let file = format!("{name}.{suffix}.f64");
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let path = dir.join(&file);
        crate::output::write_atomic(&path, &bytes).map(|()| Some(file))
    });
    let x_file = names.next().expect("two files")?;
    let y_file = names.next().expect("two files")?;
    Ok(DataFiles { x_file, y_file })
}

fn write_json<T: Serialize>(path: &FilePath, value: &T) -> Result<(), String> {
    let text = serde_json::to_string_pretty(value).map_err(|e| e.to_string())?;
    crate::output::write_atomic(path, text.as_bytes())
}

/// Writes the suite's figures where `--json` and `--write-data` ask.
fn finish<T: Serialize>(
    common: &Common,
    suite: &'static str,
    backend: BackendChoice,
    problems: Vec<T>,
) -> Result<(), String> {
    let manifest = Manifest { suite, backend: backend.to_string(), machine: machine(), problems };
    if let Some(path) = &common.json {
        write_json(path, &manifest)?;
        println!("figures: {}", path.display());
    }
    if let Some(dir) = &common.write_data {
        write_json(&dir.join(format!("manifest-{suite}.json")), &manifest)?;
        println!("data and manifest: {}", dir.display());
    }
    Ok(())
}

fn paper(args: &PaperArgs) -> Result<(), String> {
    let quick = args.common.quick;
    let n = args.n.unwrap_or(if quick { 1000 } else { 10_000 });
    let ps =
        args.p.clone().unwrap_or(if quick { vec![20, 50] } else { vec![20, 50, 100, 200, 500] });
    let conditions =
        args.condition.clone().unwrap_or(if quick { vec![1e4] } else { vec![1e4, 1e6] });
    let mut budgets = args.budgets.clone();
    budgets.sort_unstable();
    let longest = *budgets.last().ok_or("--budgets needs at least one value")?;
    if longest == 0 {
        return Err("--budgets must be positive".into());
    }
    let backend = args.common.backend;
    println!(
        "paper suite: logistic ridge λ = {:e}, n = {n}, budgets {budgets:?}, Adam grid {:?}, \
         backend {backend}, {}",
        args.lambda,
        LEARNING_RATE_GRID,
        machine()
    );
    let mut problems = Vec::new();
    let mut summary = Vec::new();
    for &condition in &conditions {
        for &scale in &args.scale {
            for &p in &ps {
                let seed = (p as u64) * 1000 + (condition.log10() as u64) * 10 + scale as u64;
                let data = synthetic::ill_conditioned_logistic(n, p, condition, scale, seed);
                let name = format!("logistic_n{n}_p{p}_cond{condition:e}_s{scale}");
                let x = Design::row_major(&data.x, n, p).map_err(|e| e.to_string())?;
                let glm = Glm::logistic().penalty(Penalty::ridge(args.lambda)).backend(backend);
                let shape = Shape { condition, scale, lambda: args.lambda };
                let (mut problem, row) = paper_problem(&glm, x, &data.y, &name, shape, &budgets)?;
                problem.files = data_files(&args.common, &name, &data.x, &data.y)?;
                summary.push(row);
                problems.push(problem);
            }
        }
    }
    println!(
        "\nSummary: tuned Adam against SM-EM + restart (the paper: final loss up to 13× lower \
         than tuned Adam)"
    );
    println!(
        "{:<38} {:>11} {:>11} {:>11} {:>9} {:>11} {:>12} {:>12} {:>9}",
        "problem",
        "SM-EM gap@1",
        "Adam gap@1",
        "Adam gap@2",
        "F ratio@2",
        "Adam @time",
        "SM-EM t(1e-9)",
        "Adam t(1e-6)",
        "t ratio"
    );
    for row in &summary {
        println!("{row}");
    }
    println!(
        "@1, @2: after the first and last budget of {budgets:?} iterations (Adam: steps); F ratio: \
         Adam's objective over SM-EM's; Adam @time: Adam's gap at the wall time SM-EM + restart \
         took to finish; t ratio: Adam's time to 1e-6 over SM-EM's time to 1e-9."
    );
    finish(&args.common, "paper", backend, problems)
}

/// How a paper-suite problem was generated.
#[derive(Clone, Copy)]
struct Shape {
    condition: f64,
    scale: f64,
    lambda: f64,
}

/// One problem of the paper suite: F*, every method's figures, and the summary row.
fn paper_problem(
    glm: &Glm,
    x: Design<'_>,
    y: &[f64],
    name: &str,
    shape: Shape,
    budgets: &[usize],
) -> Result<(PaperProblem, String), String> {
    let longest = *budgets.last().expect("checked by the caller");
    let err = |e: scalemix::Error| e.to_string();
    // F*: Newton (quadratic convergence) to f64 resolution, on the CPU in f64.
    let reference = glm
        .clone()
        .backend(BackendChoice::Cpu)
        .acceleration(Acceleration::Newton)
        .tol(1e-16)
        .kkt_tol(1e-13)
        .max_iter(500)
        .fit(x, &y.to_vec())
        .map_err(err)?;
    let default_fit = glm.clone().fit(x, &y.to_vec()).map_err(err)?;
    let mut fits = Vec::new();
    for (label, acceleration) in [
        ("SM-EM", Acceleration::None),
        ("SM-EM + Nesterov", Acceleration::Nesterov),
        ("SM-EM + restart", Acceleration::Restart),
        ("scalemix default", Acceleration::Auto),
    ] {
        // Run to the budget unless F stops changing in f64.
        let fit = glm
            .clone()
            .acceleration(acceleration)
            .tol(1e-16)
            .kkt_tol(1e-13)
            .max_iter(longest)
            .fit(x, &y.to_vec())
            .map_err(err)?;
        let label = if acceleration == Acceleration::Auto {
            format!(
                "{label} ({})",
                Acceleration::Auto.resolve(scalemix::Family::Logistic, &ridge_terms())
            )
        } else {
            label.to_string()
        };
        fits.push((label, fit));
    }
    let adam =
        baselines::tuned_adam(glm, x, &y.to_vec(), longest, &LEARNING_RATE_GRID).map_err(err)?;
    // F*: the best objective anyone reached (the Newton run, unless another matched it).
    let f_star = fits
        .iter()
        .map(|(_, f)| f.objective())
        .chain(adam.runs.iter().map(|r| r.objective))
        .fold(reference.objective(), f64::min);

    // `objective_at_budget`: F after each budget (a fit's own trace; for Adam, per budget).
    let figures = |label: &str,
                   trace: &Trace<'_>,
                   objective_at_budget: Vec<f64>,
                   final_objective: f64,
                   iterations,
                   seconds| {
        MethodFigures {
            method: label.to_string(),
            gap_at_budget: objective_at_budget.iter().map(|&f| relative_gap(f, f_star)).collect(),
            objective_at_budget,
            seconds_to_gap: GAP_TARGETS.iter().map(|&g| trace.time_to(f_star, g)).collect(),
            final_objective,
            iterations,
            seconds,
            learning_rate: None,
        }
    };
    let mut methods: Vec<MethodFigures> = fits
        .iter()
        .map(|(label, fit)| {
            let trace = Trace::of_fit(fit);
            let at_budget = budgets.iter().map(|&b| trace.at_iteration(b)).collect();
            figures(
                label,
                &trace,
                at_budget,
                fit.objective(),
                fit.iterations(),
                fit.elapsed().as_secs_f64(),
            )
        })
        .collect();
    // Adam: at each budget the rate that is best for that budget (the grid re-tuned).
    let best = adam.best_after(longest);
    let mut adam_row = figures(
        "Adam (tuned)",
        &Trace::of_adam(best),
        budgets.iter().map(|&b| adam.best_after(b).objective_after(b)).collect(),
        best.objective,
        longest,
        best.elapsed.as_secs_f64(),
    );
    adam_row.learning_rate = Some(best.learning_rate);
    methods.push(adam_row);

    print_problem(name, f_star, &reference, budgets, &methods, &adam);

    // The summary row: Adam against SM-EM + restart.
    let restart = &fits[2].1;
    let restart_row = &methods[2];
    let adam_row = methods.last().expect("Adam row pushed");
    let at_time =
        relative_gap(Trace::of_adam(best).at_time(restart.elapsed().as_secs_f64()), f_star);
    let time_ratio = match (adam_row.seconds_to_gap[0], restart_row.seconds_to_gap[2]) {
        (Some(adam), Some(ours)) => format!("{:.1}×", adam / ours),
        (None, Some(_)) => "∞".into(),
        _ => "-".into(),
    };
    let row = format!(
        "{:<38} {:>11.1e} {:>11.1e} {:>11.1e} {:>9.6} {:>11.1e} {:>12} {:>12} {:>9}",
        name,
        restart_row.gap_at_budget[0],
        adam_row.gap_at_budget[0],
        adam_row.gap_at_budget.last().unwrap(),
        adam_row.objective_at_budget.last().unwrap()
            / restart_row.objective_at_budget.last().unwrap(),
        at_time,
        show_time(restart_row.seconds_to_gap[2]),
        show_time(adam_row.seconds_to_gap[0]),
        time_ratio,
    );
    let problem = PaperProblem {
        name: name.to_string(),
        n: x.nrows(),
        p: x.ncols(),
        condition: shape.condition,
        scale: shape.scale,
        lambda: shape.lambda,
        f_star,
        budgets: budgets.to_vec(),
        gap_targets: GAP_TARGETS.to_vec(),
        methods,
        adam_grid_seconds: adam.elapsed.as_secs_f64(),
        default_fit_seconds: default_fit.elapsed().as_secs_f64(),
        default_fit_gap: relative_gap(default_fit.objective(), f_star),
        files: DataFiles::default(),
    };
    Ok((problem, row))
}

/// A ridge penalty's terms, only to name what `Acceleration::Auto` resolves to.
fn ridge_terms() -> scalemix::penalty::PenaltyTerms {
    scalemix::penalty::PenaltyTerms { ridge: vec![1.0], lasso: vec![0.0], exponent: 1.0 }
}

fn print_problem(
    name: &str,
    f_star: f64,
    reference: &Fit,
    budgets: &[usize],
    methods: &[MethodFigures],
    adam: &TunedAdam,
) {
    println!(
        "\n{name}: F* = {f_star:.15} (Newton, {} iterations, KKT {:.1e})",
        reference.iterations(),
        reference.kkt_violation()
    );
    let mut header = format!("{:<30}", "method");
    for b in budgets {
        header.push_str(&format!(" {:>11}", format!("gap@{b}")));
    }
    for g in GAP_TARGETS {
        header.push_str(&format!(" {:>10}", format!("t({g:.0e})")));
    }
    header.push_str(&format!(" {:>6} {:>9}", "iters", "time"));
    println!("{header}");
    for m in methods {
        let mut line = format!("{:<30}", m.method);
        for g in &m.gap_at_budget {
            line.push_str(&format!(" {g:>11.2e}"));
        }
        for t in &m.seconds_to_gap {
            line.push_str(&format!(" {:>10}", show_time(*t)));
        }
        line.push_str(&format!(" {:>6} {:>8.3}s", m.iterations, m.seconds));
        if let Some(rate) = m.learning_rate {
            line.push_str(&format!("  lr {rate:e}"));
        }
        println!("{line}");
    }
    println!(
        "Adam: the best rate per budget; its whole grid ({} rates) took {:.2} s; SM-EM times \
         include input checks and setup.",
        adam.runs.len(),
        adam.elapsed.as_secs_f64()
    );
}

#[derive(Serialize)]
struct PathProblem {
    name: String,
    n: usize,
    p: usize,
    condition: f64,
    scale: f64,
    alpha: f64,
    lambdas: Vec<f64>,
    /// F per λ of the shared-statistics path.
    objectives: Vec<f64>,
    nonzeros: Vec<usize>,
    seconds_shared: f64,
    seconds_without_strong_rules: f64,
    seconds_cold: f64,
    seconds_adam: f64,
    adam_steps: usize,
    /// Adam's relative gap to the path's F at each λ.
    adam_gaps: Vec<f64>,
    #[serde(flatten)]
    files: DataFiles,
}

fn path(args: &PathArgs) -> Result<(), String> {
    let quick = args.common.quick;
    let n = args.n.unwrap_or(if quick { 1000 } else { 10_000 });
    let p = args.p.unwrap_or(if quick { 20 } else { 100 });
    let steps = args.adam_steps.unwrap_or(if quick { 100 } else { 1000 });
    let backend = args.common.backend;
    let err = |e: scalemix::Error| e.to_string();
    let data = synthetic::ill_conditioned_logistic(n, p, args.condition, args.scale, 7);
    let name = format!("logistic_path_n{n}_p{p}_cond{:e}_s{}", args.condition, args.scale);
    let x = Design::row_major(&data.x, n, p).map_err(err)?;
    let glm = Glm::logistic().penalty(Penalty::elastic_net(1.0, args.alpha)).backend(backend);
    println!(
        "path suite: {name}, α = {}, {} λ (no early stop), Adam {steps} steps × {} rates per λ, \
         backend {backend}, {}",
        args.alpha,
        args.n_lambda,
        LEARNING_RATE_GRID.len(),
        machine()
    );
    let options = PathOptions { n_lambda: args.n_lambda, early_stop: false, ..Default::default() };
    let shared = glm.path(x, &data.y, &options).map_err(err)?;
    let lambdas = shared.lambdas();
    let plain = glm
        .path(x, &data.y, &PathOptions { strong_rules: false, ..options.clone() })
        .map_err(err)?;
    let cold_start = Instant::now();
    for &lambda in &lambdas {
        glm.clone()
            .penalty(Penalty::elastic_net(lambda, args.alpha))
            .fit(x, &data.y)
            .map_err(err)?;
    }
    let seconds_cold = cold_start.elapsed().as_secs_f64();
    let adam_start = Instant::now();
    let adam = baselines::tuned_adam_path(&glm, x, &data.y, &lambdas, steps, &LEARNING_RATE_GRID)
        .map_err(err)?;
    let seconds_adam = adam_start.elapsed().as_secs_f64();
    let adam_gaps: Vec<f64> = shared
        .points
        .iter()
        .zip(&adam)
        .map(|(point, grid)| relative_gap(grid.best().objective, point.objective))
        .collect();
    let seconds_shared = shared.elapsed.as_secs_f64();
    let seconds_plain = plain.elapsed.as_secs_f64();
    let mut sorted = adam_gaps.clone();
    sorted.sort_by(f64::total_cmp);
    println!("{:<46} {:>9} {:>10}", "run", "seconds", "× shared");
    for (label, seconds) in [
        ("SM-EM path, shared statistics (default)", seconds_shared),
        ("SM-EM path, warm starts only (no strong rules)", seconds_plain),
        ("SM-EM cold fit at every λ", seconds_cold),
        ("tuned Adam at every λ (warm-started)", seconds_adam),
    ] {
        println!("{label:<46} {seconds:>8.3}s {:>9.1}×", seconds / seconds_shared);
    }
    println!(
        "Adam's gap to the SM-EM path's F per λ: median {:.2e}, max {:.2e}; the paper: a \
         shared-statistics path 10× faster than tuned Adam.",
        sorted[sorted.len() / 2],
        sorted.last().copied().unwrap_or(0.0)
    );
    let problem = PathProblem {
        name: name.clone(),
        n,
        p,
        condition: args.condition,
        scale: args.scale,
        alpha: args.alpha,
        objectives: shared.points.iter().map(|q| q.objective).collect(),
        nonzeros: shared.points.iter().map(|q| q.nonzeros).collect(),
        lambdas,
        seconds_shared,
        seconds_without_strong_rules: seconds_plain,
        seconds_cold,
        seconds_adam,
        adam_steps: steps,
        adam_gaps,
        files: data_files(&args.common, &name, &data.x, &data.y)?,
    };
    finish(&args.common, "path", backend, vec![problem])
}

#[derive(Serialize)]
struct QuantileProblem {
    name: String,
    n: usize,
    p: usize,
    q: f64,
    objective: f64,
    seconds: f64,
    iterations: usize,
    coefficients: Vec<f64>,
    intercept: f64,
    #[serde(flatten)]
    files: DataFiles,
}

fn quantile(args: &QuantileArgs) -> Result<(), String> {
    let n = args.n.unwrap_or(if args.common.quick { 5000 } else { 100_000 });
    let p = args.p;
    let backend = args.common.backend;
    let err = |e: scalemix::Error| e.to_string();
    let data = synthetic::heavy_tailed_regression(n, p, 3.0, 5);
    let name = format!("quantile_n{n}_p{p}_q{}", args.q);
    let x = Design::row_major(&data.x, n, p).map_err(err)?;
    let fit = Glm::quantile(args.q).backend(backend).fit(x, &data.y).map_err(err)?;
    println!(
        "quantile suite: {name} (Student-t₃ noise, unpenalized), backend {backend}, {}\n\
         scalemix: F = {:.12}, {} iterations, {:.3} s ({})",
        machine(),
        fit.objective(),
        fit.iterations(),
        fit.elapsed().as_secs_f64(),
        fit.backend()
    );
    let problem = QuantileProblem {
        name: name.clone(),
        n,
        p,
        q: args.q,
        objective: fit.objective(),
        seconds: fit.elapsed().as_secs_f64(),
        iterations: fit.iterations(),
        coefficients: fit.coefficients().to_vec(),
        intercept: fit.intercept(),
        files: data_files(&args.common, &name, &data.x, &data.y)?,
    };
    finish(&args.common, "quantile", backend, vec![problem])
}

#[derive(Serialize)]
struct LassoProblem {
    name: String,
    family: &'static str,
    n: usize,
    p: usize,
    alpha: f64,
    lambdas: Vec<f64>,
    objectives: Vec<f64>,
    nonzeros: Vec<usize>,
    /// Wall time of the path.
    seconds: f64,
    /// SM-EM iterations over the path.
    iterations: usize,
    /// Wall time of the cross-validation (the full path and one per fold), when run.
    seconds_cv: Option<f64>,
    folds: Option<Vec<usize>>,
    #[serde(flatten)]
    files: DataFiles,
}

/// The most features the lasso suite's paper problem is generated for (see [`lasso`]).
const PAPER_MAX_P: usize = 4000;

fn lasso(args: &LassoArgs) -> Result<(), String> {
    let quick = args.common.quick;
    let n = args.n.unwrap_or(if quick { 2000 } else { 20_000 });
    let p = args.p.unwrap_or(if quick { 50 } else { 200 });
    let backend = args.common.backend;
    let err = |e: scalemix::Error| e.to_string();
    println!(
        "lasso suite: n = {n}, p = {p}, {} λ down to {:e}·λ_max, {}-fold CV, backend {backend}, {}",
        args.n_lambda,
        args.lambda_min_ratio,
        args.folds,
        machine()
    );
    // The paper problem's generator rotates by a random p × p orthogonal matrix (O(p³)): past
    // a few thousand features (the wide p ≫ n runs) only the AR(1) problems are made.
    let paper = (p <= PAPER_MAX_P).then(|| synthetic::ill_conditioned_logistic(n, p, 1e4, 1.0, 7));
    if paper.is_none() {
        println!("(p > {PAPER_MAX_P}: the paper problem is skipped, its generator costs O(p³))");
    }
    let (ar1, ar1_gaussian) = synthetic::correlated_sparse(n, p, 0.9, p / 10 + 1, 3.0, 3);
    /// Name, family, X, y, α, and whether to time a cross-validation too.
    type LassoCase<'a> = (String, &'static str, &'a [f64], &'a [f64], f64, bool);
    let mut problems: Vec<LassoCase<'_>> = Vec::new();
    if let Some(paper) = &paper {
        let name = format!("logistic_lasso_paper_n{n}_p{p}");
        problems.push((name, "logistic", &paper.x, &paper.y, 1.0, true));
    }
    problems.push((format!("logistic_lasso_ar1_n{n}_p{p}"), "logistic", &ar1.x, &ar1.y, 1.0, true));
    let gaussian = format!("gaussian_enet_ar1_n{n}_p{p}");
    problems.push((gaussian, "gaussian", &ar1.x, &ar1_gaussian, 0.5, false));
    let options = PathOptions {
        n_lambda: args.n_lambda,
        lambda_min_ratio: Some(args.lambda_min_ratio),
        early_stop: false,
        ..Default::default()
    };
    println!(
        "{:<34} {:>9} {:>7} {:>10} {:>9} {:>10}",
        "problem", "path", "its", "its/point", "CV", "CV / path"
    );
    let mut out = Vec::new();
    for (name, family, x, y, alpha, cv) in problems {
        let design = Design::row_major(x, n, p).map_err(err)?;
        let glm = if family == "gaussian" { Glm::gaussian() } else { Glm::logistic() };
        let glm = glm.penalty(Penalty::elastic_net(1.0, alpha)).backend(backend);
        let path = glm.path(design, y, &options).map_err(err)?;
        let iterations: usize = path.points.iter().map(|q| q.iterations).sum();
        let (seconds_cv, folds) = if cv {
            let folds = Folds::new(n, args.folds, 1).map_err(err)?;
            let cv_options = CvOptions { path: options.clone(), ..Default::default() };
            let start = Instant::now();
            glm.cv_with_folds(&Data::new(design, y), &folds, &cv_options).map_err(err)?;
            (Some(start.elapsed().as_secs_f64()), Some(folds.assignment().to_vec()))
        } else {
            (None, None)
        };
        let seconds = path.elapsed.as_secs_f64();
        println!(
            "{name:<34} {seconds:>8.3}s {iterations:>7} {:>10.1} {:>9} {:>10}",
            iterations as f64 / path.points.len() as f64,
            seconds_cv.map_or("-".into(), |s| format!("{s:.3}s")),
            seconds_cv.map_or("-".into(), |s| format!("{:.1}×", s / seconds)),
        );
        out.push(LassoProblem {
            family,
            n,
            p,
            alpha,
            lambdas: path.lambdas(),
            objectives: path.points.iter().map(|q| q.objective).collect(),
            nonzeros: path.points.iter().map(|q| q.nonzeros).collect(),
            seconds,
            iterations,
            seconds_cv,
            folds,
            files: data_files(&args.common, &name, x, y)?,
            name,
        });
    }
    finish(&args.common, "lasso", backend, out)
}
