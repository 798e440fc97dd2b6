//! What the `scalemix` and `scalemix-bench` binaries share: every failure ends in one line on
//! stderr (a bad argument with exit code 2, any other error or a panic with 1), and the
//! `--backend` parser over the library's names.

use std::process::ExitCode;

use scalemix::BackendChoice;

/// Parses the arguments as `P`, then runs `run` on them: clap's `--help` and `--version` print
/// as clap prints them; a bad argument prints clap's first line; an error or a panic prints one
/// line prefixed by `name`, never a backtrace dump.
pub fn main_with<P: clap::Parser>(
    name: &'static str,
    run: impl FnOnce(P) -> Result<(), String>,
) -> ExitCode {
    // Diagnostics only where RUST_LOG asks for them (the library logs, never prints).
    env_logger::Builder::from_default_env().format_timestamp(None).init();
    let parsed = match P::try_parse() {
        Ok(parsed) => parsed,
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            let text = e.render().to_string();
            let line = text.lines().next().unwrap_or("invalid arguments");
            eprintln!("{name}: {}", line.trim_start_matches("error: "));
            return ExitCode::from(2);
        }
    };
    // Every bad input is meant to end in an error message; should a panic slip through anyway,
    // it ends the same way: one line on stderr and exit code 1.
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".into());
        let place = info.location().map(|l| format!(" ({}:{})", l.file(), l.line()));
        let message = message.replace('\n', " ");
        eprintln!("{name}: internal error: {message}{}", place.unwrap_or_default());
    }));
    // The process ends right after: nothing observes state a panic left half-updated.
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || run(parsed))) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(message)) => {
            eprintln!("{name}: {message}");
            ExitCode::FAILURE
        }
        Err(_) => ExitCode::FAILURE,
    }
}

/// `--backend`: the names the library's [`BackendChoice`] parses, so a new backend reaches the
/// command line with no change here.
pub fn backend_arg() -> impl clap::builder::TypedValueParser<Value = BackendChoice> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(BackendChoice::NAMES)
        .try_map(|name| name.parse::<BackendChoice>())
}
