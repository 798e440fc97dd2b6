//! `--stream`: fit, path, cv and predict reading the data block by block at every pass, for
//! data larger than memory (chosen automatically when the data's estimated in-memory size
//! exceeds `--max-memory`).

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use scalemix::source::{Format, Roles, RowSource, open_file};
use scalemix::{Family, Glm, Metric, PathOptions, StreamFolds, StreamOptions};

use crate::model::{self, ModelFile};
use crate::{FamilyArg, FitArgs, finish, plot};

/// Whether this command streams `data`: always with `--stream`; otherwise when the data's
/// estimated in-memory size (rows × columns × 8 bytes where the format tells the rows, else
/// the file's size, four times that for gzip) exceeds `--max-memory` MiB, or half the
/// available memory without it. `Some(note)` when it streams, the note saying why where it
/// decided so itself (printed once the command has succeeded, so an error stays one line).
pub fn should_stream(
    data: &Path,
    forced: bool,
    max_memory_mib: Option<u64>,
) -> Result<Option<Option<String>>, String> {
    if forced {
        return Ok(Some(None));
    }
    let size =
        std::fs::metadata(data).map_err(|e| format!("cannot open {}: {e}", data.display()))?;
    let name = data.to_string_lossy().to_ascii_lowercase();
    let rows = match Format::of(data) {
        Format::Parquet => open_file(data, &Roles::default())
            .ok()
            .and_then(|s| s.rows_hint().map(|n| n.saturating_mul(8 * (s.ncols() as u64 + 1)))),
        _ => None,
    };
    let estimate =
        rows.unwrap_or(size.len().saturating_mul(if name.ends_with(".gz") { 4 } else { 1 }));
    let limit = match max_memory_mib {
        Some(mib) => mib.saturating_mul(1 << 20),
        None => scalemix::backend::available_memory().map_or(u64::MAX, |a| a / 2),
    };
    Ok((estimate > limit).then(|| {
        Some(format!(
            "streamed {}: about {} MiB in memory, more than the {} MiB allowed (--max-memory)",
            data.display(),
            estimate >> 20,
            limit >> 20
        ))
    }))
}

/// Prints the note of an automatic decision to stream (after the command succeeded).
pub fn tell(note: Option<String>, quiet: bool) {
    if let Some(note) = note
        && !quiet
    {
        eprintln!("{note}");
    }
}

/// The columns the command reads, by role.
fn roles(args: &FitArgs) -> Result<Roles, String> {
    let trials = match args.family {
        FamilyArg::One(Family::Binomial) => {
            Some(args.trials.clone().ok_or("--family binomial needs --trials COLUMN")?)
        }
        _ => None,
    };
    Ok(Roles {
        target: args.target.clone(),
        target_required: true,
        weights: args.weights.clone(),
        trials,
        offset: args.offset.clone(),
        features: None,
    })
}

/// A spinner whose message follows the passes: rows per second and the objective.
fn bar(quiet: bool, what: &str) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("valid template"),
    );
    bar.set_message(format!("{what}: first pass (checking the data)"));
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// The model with the stream's block size and a progress report on `bar`.
fn streaming(glm: Glm, args: &FitArgs, bar: &ProgressBar, what: &'static str) -> Glm {
    let bar = bar.clone();
    glm.stream_options(StreamOptions {
        block_rows: args.block_rows,
        progress: Some(Arc::new(move |p: &scalemix::Progress| {
            bar.set_message(format!(
                "{what}: pass {} · {:.3} M rows/s · objective {:.12e}",
                p.pass,
                p.rows_per_second / 1e6,
                p.objective
            ));
        })),
        ..StreamOptions::default()
    })
}

fn open(args: &FitArgs) -> Result<Box<dyn RowSource>, String> {
    if args.family == FamilyArg::Multinomial {
        return Err("--family multinomial needs the data in memory (drop --stream or raise \
                    --max-memory)"
            .into());
    }
    open_file(&args.data, &roles(args)?).map_err(|e| e.to_string())
}

/// A streamed fit's error as a message; one that needs more memory than there is says that a
/// streamed fit holds the d × d statistics, which a fit in memory of a wide design avoids.
fn refusal(e: scalemix::Error) -> String {
    match e {
        scalemix::Error::OutOfMemory { .. } => format!(
            "{e}; a streamed fit holds d × d statistics: read the data in memory (without \
             --stream), where wide and sparse designs are fit without them"
        ),
        e => e.to_string(),
    }
}

/// `fit --stream`.
pub fn fit(args: &FitArgs, glm: Glm) -> Result<(), String> {
    let mut source = open(args)?;
    let bar = bar(args.quiet, "fitting");
    let fit = streaming(glm, args, &bar, "fitting").fit_source(&mut *source).map_err(refusal)?;
    bar.finish_and_clear();
    let names = source.feature_names().to_vec();
    let mut file = ModelFile::single(&fit, args.lambda, args.alpha, args.bridge_q, &names);
    file.offset_column = args.offset.clone();
    let trace = fit.objective_trace().to_vec();
    finish(args, &file, file.summary(), |path| {
        plot::convergence(path, &[("SM-EM", trace)], fit.objective())
    })
}

/// `path --stream`.
pub fn path(args: &FitArgs, options: &PathOptions, glm: Glm) -> Result<(), String> {
    let mut source = open(args)?;
    let bar = bar(args.quiet, "fitting the path");
    let fitted =
        streaming(glm, args, &bar, "path").path_source(&mut *source, options).map_err(refusal)?;
    bar.finish_and_clear();
    let names = source.feature_names().to_vec();
    let file = model::PathFile::new(&fitted, &names);
    finish(args, &file, file.summary(), |plot| plot::coefficient_paths(plot, &fitted, &names))
}

/// `cv --stream`: folds by a hash of the row index ([`StreamFolds`]).
pub fn cv(
    args: &FitArgs,
    options: &PathOptions,
    folds: StreamFolds,
    metric: Option<Metric>,
    glm: Glm,
) -> Result<(), String> {
    let mut source = open(args)?;
    let bar = bar(args.quiet, &format!("cross-validating ({} folds)", folds.k));
    let result = streaming(glm, args, &bar, "cross-validation")
        .cv_source(&mut *source, folds, metric, options)
        .map_err(refusal)?;
    bar.finish_and_clear();
    let names = source.feature_names().to_vec();
    let file = model::CvFile::new(&result, &names);
    finish(args, &file, file.summary(), |plot| plot::cv_curve(plot, &result))
}

/// `predict --stream`: predictions written block by block to a temporary file beside the
/// destination (or to stdout), renamed into place once complete.
pub fn predict(
    model: &ModelFile,
    data: &Path,
    roles: &Roles,
    destination: Option<&Path>,
    block_rows: usize,
) -> Result<(), String> {
    let linear = model.linear_model()?;
    // Each block's η takes its offsets where the roles name a column of them.
    let mut source = open_file(data, roles).map_err(|e| e.to_string())?;
    let family = linear.family();
    let failed = |e: &dyn std::fmt::Display| format!("cannot write the predictions: {e}");
    let mut temporary = match destination {
        Some(path) => Some(crate::output::sibling_temporary(path).map_err(|e| failed(&e))?),
        None => None,
    };
    let mut out: Box<dyn std::io::Write> = match &temporary {
        Some(file) => Box::new(std::io::BufWriter::new(file.reopen().map_err(|e| failed(&e))?)),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    out.write_all(model::prediction_header(family).as_bytes()).map_err(|e| failed(&e))?;
    let mut text = String::new();
    linear
        .decision_function_source(&mut *source, block_rows, |_, eta| {
            text.clear();
            model::prediction_rows(family, eta, &mut text);
            out.write_all(text.as_bytes()).map_err(|e| scalemix::Error::Source {
                source_name: "the predictions".into(),
                row: None,
                column: None,
                reason: e.to_string(),
            })
        })
        .map_err(|e| e.to_string())?;
    match out.flush() {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
        other => other.map_err(|e| failed(&e))?,
    }
    drop(out);
    if let (Some(file), Some(path)) = (temporary.take(), destination) {
        file.as_file().sync_all().map_err(|e| failed(&e))?;
        file.persist(path).map_err(|e| failed(&e.error))?;
    }
    Ok(())
}
