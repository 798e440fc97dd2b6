//! `scalemix`: fit, path, cross-validate and predict penalized GLMs from data files.
//!
//! Every user mistake ends with a one-line message on stderr and exit code 1 (2 for bad
//! arguments, from clap); nothing here panics on input.

mod demo;
mod entry;
mod model;
mod output;
mod plot;
mod streamed;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use scalemix::{
    Acceleration, BackendChoice, CvOptions, Data, Design, Family, Glm, Metric, PathOptions, Penalty,
};

use crate::entry::backend_arg;
use crate::model::ModelFile;
use scalemix::io::{self as data, Dataset};
use scalemix::source::Roles;

#[derive(Parser)]
#[command(
    name = "scalemix",
    version,
    about = "Penalized GLMs fitted to the exact optimum with Scale Mixture EM, on the CPU or any GPU"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Fit one model.
    #[command(
        after_help = "Examples:\n  scalemix fit --data train.csv --family logistic --lambda 0.01 --alpha 1 --output model.json\n  scalemix fit --data wine.csv --target y --family hinge --lambda 0.01 --plot convergence.svg"
    )]
    Fit(FitArgs),
    /// Fit a regularization path (λ from λ_max down).
    #[command(
        after_help = "Example:\n  scalemix path --data train.csv --family logistic --alpha 1 --n-lambda 40 --output path.json --plot path.svg"
    )]
    Path {
        #[command(flatten)]
        fit: FitArgs,
        #[command(flatten)]
        path: PathArgs,
    },
    /// k-fold cross-validation along a path, with λ_min and λ_1se.
    #[command(
        after_help = "Example:\n  scalemix cv --data train.csv --family logistic --alpha 1 --folds 5 --metric auc --output cv.json --plot cv.svg"
    )]
    Cv {
        #[command(flatten)]
        fit: FitArgs,
        #[command(flatten)]
        path: PathArgs,
        /// Number of folds.
        #[arg(long, default_value_t = 5)]
        folds: usize,
        /// Held-out score (default: deviance for logistic, binomial, poisson and
        /// negative-binomial, misclassification for hinge, check-loss for quantile, mse
        /// otherwise).
        #[arg(long, value_parser = metric_arg())]
        metric: Option<Metric>,
        /// Seed of the fold assignment.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Predict with a saved model.
    #[command(
        after_help = "Example:\n  scalemix predict --model model.json --data test.csv --output predictions.csv"
    )]
    Predict {
        /// The JSON written by `fit --output`.
        #[arg(long)]
        model: PathBuf,
        /// CSV, Parquet or Arrow data (features found by name), or LIBSVM.
        #[arg(long)]
        data: PathBuf,
        /// Where to write the predictions (CSV); stdout when absent.
        #[arg(long)]
        output: Option<PathBuf>,
        /// Read the data block by block, writing predictions as they come (automatic when the
        /// data's estimated in-memory size exceeds --max-memory).
        #[arg(long)]
        stream: bool,
        /// Rows per block when streaming.
        #[arg(long, default_value_t = scalemix::source::DEFAULT_BLOCK_ROWS)]
        block_rows: usize,
        /// MiB the data may take in memory before the command streams it (default: half the
        /// available memory).
        #[arg(long)]
        max_memory: Option<u64>,
        /// The offset column (default: the one the model was fitted with, if any).
        #[arg(long)]
        offset: Option<String>,
    },
    /// The main job on an embedded default: an ill-conditioned logistic regression generated
    /// in memory, SM-EM against Adam, with a convergence plot.
    #[command(after_help = "Example:\n  scalemix demo --plot demo.svg")]
    Demo {
        #[arg(long, default_value_t = BackendChoice::Auto, value_parser = backend_arg())]
        backend: BackendChoice,
        /// Where to write the convergence plot.
        #[arg(long, default_value = "demo-convergence.svg")]
        plot: PathBuf,
    },
    /// List the adapters wgpu sees and the one `--backend auto` would pick.
    Devices,
}

#[derive(Args, Clone)]
struct FitArgs {
    /// CSV/TSV with a header row, LIBSVM/svmlight (.svm, .libsvm, .svmlight), both also gzipped
    /// (.gz), Parquet (.parquet) or Arrow IPC/Feather (.arrow, .feather).
    #[arg(long)]
    data: PathBuf,
    /// Target column (default: `y` if present, else the last column).
    #[arg(long)]
    target: Option<String>,
    /// Loss family.
    #[arg(long, value_parser = family_arg(), default_value = "logistic")]
    family: FamilyArg,
    /// Quantile level for --family quantile.
    #[arg(long, default_value_t = 0.5)]
    quantile: f64,
    /// Degrees of freedom for --family student-t.
    #[arg(long, default_value_t = 4.0)]
    nu: f64,
    /// Scale for --family student-t (estimated by `fit` when absent; `path` and `cv` need it).
    #[arg(long)]
    sigma: Option<f64>,
    /// Trials column for --family binomial (the target holds the success counts).
    #[arg(long)]
    trials: Option<String>,
    /// Dispersion θ for --family negative-binomial (estimated by `fit` by maximum likelihood
    /// when absent, as R's MASS::glm.nb; `path` and `cv` need it).
    #[arg(long)]
    theta: Option<f64>,
    /// Offset column: added to each row's linear predictor with coefficient 1 (e.g. the log of
    /// an exposure for Poisson counts). `predict` reads the same column again.
    #[arg(long)]
    offset: Option<String>,
    /// Penalty strength λ.
    #[arg(long, default_value_t = 0.0)]
    lambda: f64,
    /// Elastic-net mixing α: 0 ridge, 1 lasso.
    #[arg(long, default_value_t = 0.0)]
    alpha: f64,
    /// Bridge exponent q ∈ (0, 2) for λ Σ|β|^q (implies α = 1).
    #[arg(long)]
    bridge_q: Option<f64>,
    /// Fit without an intercept.
    #[arg(long)]
    no_intercept: bool,
    /// Penalize the coefficients of the standardized columns, as glmnet's `standardize = TRUE`
    /// (the default penalizes the coefficients as given; coefficients are always reported on
    /// the original columns).
    #[arg(long)]
    standardize: bool,
    /// Sample-weight column.
    #[arg(long)]
    weights: Option<String>,
    /// The acceleration scheme (`auto`, the default: the library's choice for the family and
    /// penalty, as a library fit gets).
    #[arg(long, default_value_t = Acceleration::Auto, value_parser = accel_arg())]
    accel: Acceleration,
    /// Relative objective change at which a fit may stop.
    #[arg(long, default_value_t = 1e-12)]
    tol: f64,
    #[arg(long, default_value_t = 1000)]
    max_iter: usize,
    #[arg(long, default_value_t = BackendChoice::Auto, value_parser = backend_arg())]
    backend: BackendChoice,
    /// Memory in MiB: data whose estimated in-memory size exceeds it is streamed (without it:
    /// half the available memory), and a fit whose own matrices exceed it ends with an error
    /// naming its estimate before allocating (without it: all the available memory).
    #[arg(long)]
    max_memory: Option<u64>,
    /// Read the data block by block at every pass instead of loading it (automatic when its
    /// estimated in-memory size exceeds --max-memory); fits run on --backend, paths and
    /// cross-validation on the CPU.
    #[arg(long)]
    stream: bool,
    /// Rows per block when streaming (three blocks are held at once).
    #[arg(long, default_value_t = scalemix::source::DEFAULT_BLOCK_ROWS)]
    block_rows: usize,
    /// Write the result as JSON here (a readable summary is printed otherwise).
    #[arg(long)]
    output: Option<PathBuf>,
    /// Write an SVG plot here.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// No progress indicator.
    #[arg(long)]
    quiet: bool,
}

#[derive(Args, Clone)]
struct PathArgs {
    /// Number of λ values.
    #[arg(long, default_value_t = 40)]
    n_lambda: usize,
    /// λ_min / λ_max (default 1e-4 when n > p, else 1e-2).
    #[arg(long)]
    lambda_min_ratio: Option<f64>,
}

/// `--family`: one of the library's families ([`Family::NAMES`], their default parameters
/// replaced by --quantile, --nu and --sigma), or `multinomial` (one logistic model per class).
#[derive(Clone, Copy, PartialEq)]
enum FamilyArg {
    One(Family),
    Multinomial,
}

impl FamilyArg {
    /// The binomial family (its rows carry trials).
    const BINOMIAL: FamilyArg = FamilyArg::One(Family::Binomial);
}

/// `--family`: the names the library's [`Family`] parses, and `multinomial`, so a new family
/// reaches the command line with no change here.
fn family_arg() -> impl clap::builder::TypedValueParser<Value = FamilyArg> {
    use clap::builder::TypedValueParser;
    let names = Family::NAMES.into_iter().chain(["multinomial"]);
    clap::builder::PossibleValuesParser::new(names).try_map(|name| match name.as_str() {
        "multinomial" => Ok(FamilyArg::Multinomial),
        name => name.parse::<Family>().map(FamilyArg::One),
    })
}

/// `--metric`: the names the library's [`Metric`] parses (with its short forms `misclass` and
/// `check`).
fn metric_arg() -> impl clap::builder::TypedValueParser<Value = Metric> {
    use clap::builder::{PossibleValue, TypedValueParser};
    let values = Metric::NAMES.map(|name| match name {
        "misclassification" => PossibleValue::new(name).alias("misclass"),
        "check-loss" => PossibleValue::new(name).alias("check"),
        _ => PossibleValue::new(name),
    });
    clap::builder::PossibleValuesParser::new(values).try_map(|name| name.parse::<Metric>())
}

/// `--accel`: the names the library's [`Acceleration`] parses, so a new step scheme reaches the
/// command line with no change here.
fn accel_arg() -> impl clap::builder::TypedValueParser<Value = Acceleration> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(Acceleration::NAMES)
        .try_map(|name| name.parse::<Acceleration>())
}

fn main() -> ExitCode {
    entry::main_with("scalemix", |cli: Cli| run(cli.command))
}

fn run(command: Command) -> Result<(), String> {
    match command {
        Command::Fit(args) => fit(&args),
        Command::Path { fit, path } => run_path(&fit, &path),
        Command::Cv { fit, path, folds, metric, seed } => run_cv(&fit, &path, folds, metric, seed),
        Command::Predict { model, data, output, stream, block_rows, max_memory, offset } => {
            let files = Files { model: &model, data: &data, destination: output.as_deref() };
            predict(files, offset, stream, block_rows, max_memory)
        }
        Command::Demo { backend, plot } => demo::run(backend, &plot),
        Command::Devices => devices(),
    }
}

/// The most features a fit's inference table is computed for (a d × d inverse; a table no one
/// reads line by line beyond that).
const INFERENCE_MAX_FEATURES: usize = 2000;

/// A spinner on stderr for work that may take more than a second (hidden with --quiet and when
/// stderr is not a terminal).
fn progress(quiet: bool, message: &str) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("valid template"),
    );
    bar.set_message(message.to_string());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// The data with the columns this command needs.
fn load(args: &FitArgs) -> Result<Dataset, String> {
    let trials = match args.family {
        FamilyArg::One(Family::Binomial) => {
            Some(args.trials.clone().ok_or("--family binomial needs --trials COLUMN")?)
        }
        _ => None,
    };
    let roles = Roles {
        target: args.target.clone(),
        target_required: true,
        weights: args.weights.clone(),
        trials,
        offset: args.offset.clone(),
        features: None,
    };
    data::read(&args.data, &roles)
}

/// The model the options describe.
fn glm(args: &FitArgs) -> Glm {
    let glm = match args.family {
        FamilyArg::Multinomial => Glm::logistic(),
        // σ absent: estimated.
        FamilyArg::One(Family::StudentT { .. }) => Glm::student_t(args.nu, args.sigma),
        // θ absent: estimated.
        FamilyArg::One(Family::NegativeBinomial { .. }) => Glm::negative_binomial(args.theta),
        FamilyArg::One(family) => Glm::new(family.with_parameters(Some(args.quantile), None, None)),
    };
    let penalty = match args.bridge_q {
        Some(q) => Penalty::bridge(args.lambda, q),
        None => Penalty::elastic_net(args.lambda, args.alpha),
    };
    let glm = glm
        .penalty(penalty)
        .fit_intercept(!args.no_intercept)
        .standardize(args.standardize)
        .acceleration(args.accel)
        .tol(args.tol)
        .max_iter(args.max_iter)
        .backend(args.backend);
    match args.max_memory {
        Some(mib) => glm.max_memory(mib.saturating_mul(1 << 20)),
        None => glm,
    }
}

/// The rows of a fit: the response (binomial: successes out of the trials column), and the
/// weights and offsets where the command names their columns.
fn rows<'a>(data: &'a Dataset, x: Design<'a>) -> Data<'a> {
    let rows = match &data.trials {
        Some(trials) => Data::binomial(x, &data.y, trials),
        None => Data::new(x, &data.y),
    };
    rows.maybe_weights(data.weights.as_deref()).maybe_offset(data.offset.as_deref())
}

/// Refuses, before any work, an `--output` or `--plot` that names the data file or each other.
fn check_outputs(args: &FitArgs) -> Result<(), String> {
    output::check_outputs(&[&args.data], &[args.output.as_deref(), args.plot.as_deref()])
}

/// Writes the result (JSON to `--output`, else the summary to stdout), then the plot: a plot
/// that fails never costs the result.
fn finish(
    args: &FitArgs,
    file: &impl serde::Serialize,
    summary: String,
    plot: impl FnOnce(&std::path::Path) -> Result<(), String>,
) -> Result<(), String> {
    match &args.output {
        Some(path) => model::write_json(path, file)?,
        None => emit(&summary)?,
    }
    match &args.plot {
        Some(path) => plot(path),
        None => Ok(()),
    }
}

/// Whether this command streams its data, and why (see [`streamed::should_stream`]).
fn streams(args: &FitArgs) -> Result<Option<Option<String>>, String> {
    streamed::should_stream(&args.data, args.stream, args.max_memory)
}

fn fit(args: &FitArgs) -> Result<(), String> {
    check_outputs(args)?;
    if let Some(note) = streams(args)? {
        streamed::fit(args, glm(args))?;
        streamed::tell(note, args.quiet);
        return Ok(());
    }
    let data = load(args)?;
    let x = data.design().map_err(|e| e.to_string())?;
    let bar = progress(args.quiet, "fitting");
    let glm = glm(args);
    let (file, trace) = if args.family == FamilyArg::Multinomial {
        let fit = glm.fit_multiclass_data(&rows(&data, x)).map_err(|e| e.to_string())?;
        let file = ModelFile::multiclass(
            &fit,
            args.lambda,
            args.alpha,
            args.bridge_q,
            &data.feature_names,
        );
        (file, None)
    } else {
        let fit = glm.fit_data(&rows(&data, x)).map_err(|e| e.to_string())?;
        let mut file =
            ModelFile::single(&fit, args.lambda, args.alpha, args.bridge_q, &data.feature_names);
        file.offset_column = args.offset.clone();
        // R's summary.glm table where it is defined (unpenalized or ridge fits of the
        // likelihood families) and readable (its d × d information inverted in d³/3); nothing
        // for the others.
        if data.p <= INFERENCE_MAX_FEATURES {
            match glm.inference(&fit, &rows(&data, x)) {
                Ok(table) => file.set_inference(&table),
                Err(scalemix::Error::Unsupported { .. }) => {}
                Err(e) => file.inference_note = Some(format!("no inference table: {e}")),
            }
        }
        (file, Some((fit.objective_trace().to_vec(), fit.objective())))
    };
    bar.finish_and_clear();
    finish(args, &file, file.summary(), |path| match trace {
        Some((trace, best)) => plot::convergence(path, &[("SM-EM", trace)], best),
        None => Err("--plot draws the convergence of single-response fits only".into()),
    })
}

fn path_options(path: &PathArgs) -> PathOptions {
    PathOptions {
        n_lambda: path.n_lambda,
        lambda_min_ratio: path.lambda_min_ratio,
        ..Default::default()
    }
}

fn check_path_family(args: &FitArgs) -> Result<(), String> {
    if args.family == FamilyArg::Multinomial {
        return Err("paths and cross-validation are not available for --family multinomial".into());
    }
    Ok(())
}

fn run_path(args: &FitArgs, path: &PathArgs) -> Result<(), String> {
    check_path_family(args)?;
    check_outputs(args)?;
    let options = path_options(path);
    if let Some(note) = streams(args)? {
        streamed::path(args, &options, glm(args))?;
        streamed::tell(note, args.quiet);
        return Ok(());
    }
    let data = load(args)?;
    let x = data.design().map_err(|e| e.to_string())?;
    let bar = progress(args.quiet, "fitting the path");
    let fitted = glm(args).path_data(&rows(&data, x), &options).map_err(|e| e.to_string())?;
    bar.finish_and_clear();
    let file = model::PathFile::new(&fitted, &data.feature_names);
    finish(args, &file, file.summary(), |plot| {
        plot::coefficient_paths(plot, &fitted, &data.feature_names)
    })
}

fn run_cv(
    args: &FitArgs,
    path: &PathArgs,
    folds: usize,
    metric: Option<Metric>,
    seed: u64,
) -> Result<(), String> {
    check_path_family(args)?;
    check_outputs(args)?;
    if let Some(note) = streams(args)? {
        let folds = scalemix::StreamFolds { k: folds, seed };
        streamed::cv(args, &path_options(path), folds, metric, glm(args))?;
        streamed::tell(note, args.quiet);
        return Ok(());
    }
    let data = load(args)?;
    let x = data.design().map_err(|e| e.to_string())?;
    let options = CvOptions { folds, seed, metric, path: path_options(path) };
    let bar = progress(args.quiet, &format!("cross-validating ({folds} folds)"));
    let glm = glm(args);
    // Weighted rows take unstratified folds (as before weights existed here); binomial counts
    // and unweighted rows the library's default.
    let result = if data.weights.is_some() && args.family != FamilyArg::BINOMIAL {
        let folds = scalemix::Folds::new(data.n, folds, seed).map_err(|e| e.to_string())?;
        glm.cv_with_folds(&rows(&data, x), &folds, &options)
    } else {
        glm.cv_data(&rows(&data, x), &options)
    }
    .map_err(|e| e.to_string())?;
    bar.finish_and_clear();
    let file = model::CvFile::new(&result, &data.feature_names);
    finish(args, &file, file.summary(), |plot| plot::cv_curve(plot, &result))
}

/// The files of a `predict`: the model, the data, and where the predictions go (stdout when
/// `None`).
struct Files<'a> {
    model: &'a std::path::Path,
    data: &'a std::path::Path,
    destination: Option<&'a std::path::Path>,
}

fn predict(
    files: Files<'_>,
    offset: Option<String>,
    stream: bool,
    block_rows: usize,
    max_memory: Option<u64>,
) -> Result<(), String> {
    let Files { model: model_path, data: data_path, destination } = files;
    output::check_outputs(&[model_path, data_path], &[destination])?;
    let model = model::read_json(model_path)?;
    // The column the model was fitted with unless another is named.
    let offset = offset.or_else(|| model.offset_column.clone());
    let roles = Roles {
        target: None,
        target_required: false,
        features: Some(model.feature_names.clone()),
        offset,
        ..Roles::default()
    };
    if let Some(note) = streamed::should_stream(data_path, stream, max_memory)? {
        streamed::predict(&model, data_path, &roles, destination, block_rows)?;
        streamed::tell(note, false);
        return Ok(());
    }
    let data = data::read(data_path, &roles)?;
    if data.p != model.feature_names.len() {
        return Err(format!(
            "{}: {} feature columns, the model has {}",
            data_path.display(),
            data.p,
            model.feature_names.len()
        ));
    }
    let table = model.predict(&data)?;
    match destination {
        Some(path) => output::write_atomic(path, table.as_bytes()),
        None => emit(&table),
    }
}

/// Writes `text` to stdout; a closed pipe (`scalemix … | head`) ends quietly instead of
/// panicking as `print!` would.
fn emit(text: &str) -> Result<(), String> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(format!("cannot write: {e}")),
        _ => Ok(()),
    }
}

fn devices() -> Result<(), String> {
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()));
    if adapters.is_empty() {
        println!("no adapters found (set WGPU_BACKEND to try another graphics API)");
    }
    for adapter in &adapters {
        let info = adapter.get_info();
        let f64 = adapter.features().contains(wgpu::Features::SHADER_F64);
        println!(
            "{} — {:?}, {:?}, driver {} {}{}",
            info.name,
            info.backend,
            info.device_type,
            info.driver,
            info.driver_info,
            if f64 { ", SHADER_F64" } else { "" }
        );
    }
    match scalemix::backend::GpuContext::new(scalemix::backend::GpuOptions::default()) {
        Ok(context) if context.is_software() => println!(
            "auto: the CPU (the preferred adapter, {}, is a software renderer)",
            context.adapter_name()
        ),
        Ok(context) => {
            println!("auto: {} for problems with n·(p+1)² ≥ 2³⁰, the CPU below", context.describe())
        }
        Err(e) => println!("auto: the CPU ({e})"),
    }
    Ok(())
}
