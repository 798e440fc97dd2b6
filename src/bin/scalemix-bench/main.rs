//! `scalemix-bench`: the benchmark suites of BENCHMARKS.md, apart from the `scalemix` tool they
//! measure. The paper's suite and the path, quantile and lasso suites run SM-EM side by side
//! with tuned Adam and write their problems for the peer scripts in `benches/peers/`; `stream`
//! measures streamed passes over files against the same pass in memory.
//!
//! `cargo run --release --bin scalemix-bench -- paper --quick`

use std::process::ExitCode;

use clap::Parser;

#[path = "../scalemix/entry.rs"]
mod entry;
// The suites write their files atomically as the tool does (the tool's input/output checks are
// not needed here).
#[allow(dead_code)]
#[path = "../scalemix/output.rs"]
mod output;
mod stream;
mod suites;

/// The benchmark suites: SM-EM against tuned Adam on the paper's problems, lasso paths at
/// glmnet's sizes, streamed passes (see BENCHMARKS.md; `--write-data` feeds
/// benches/peers/compare.py).
#[derive(Parser)]
#[command(
    name = "scalemix-bench",
    version,
    after_help = "Examples:\n  scalemix-bench paper --quick\n  scalemix-bench paper --write-data bench-data\n  scalemix-bench path\n  scalemix-bench quantile --write-data bench-data\n  scalemix-bench stream --dir /tmp/stream --quick"
)]
struct Cli {
    #[command(subcommand)]
    suite: suites::Suite,
}

fn main() -> ExitCode {
    entry::main_with("scalemix-bench", |cli: Cli| suites::run(cli.suite))
}
