//! The `sightline` binary: CLI and wiring only. Every feature lives in a
//! library crate (see docs/architecture.md); this file parses flags and
//! hands off.

mod alerting;
mod logging;
mod serve;
mod wiring;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "sightline",
    version,
    about = "Metrics, logs, traces, alerting and dashboards in one binary"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server on embedded storage.
    Serve(Box<serve::ServeArgs>),
    /// Validate Sightline/Prometheus config files and rule files.
    CheckConfig {
        /// Files to check (a main config's rule files are checked too).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Run PromQL test scripts (Prometheus's `promqltest` format) against the
    /// engine on an in-memory store; exits non-zero on a failure that is not
    /// a listed known gap.
    PromqlTest {
        /// Test script files (`*.test`).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Known-gaps file (one `<file>[:<line>] <reason>` per line); the
        /// list shipped with Sightline by default.
        #[arg(long = "known-gaps", value_name = "FILE")]
        known_gaps: Option<PathBuf>,
    },
    /// Print version and build information.
    Version,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            let (level, format) = serve::log_settings(&args);
            logging::init(level, format);
            match serve::run(*args) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = format!("{e:#}"), "sightline failed");
                    eprintln!("sightline: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::CheckConfig { files } => check_config(&files),
        Command::PromqlTest { files, known_gaps } => promql_test(&files, known_gaps.as_deref()),
        Command::Version => {
            println!("sightline, version {}", env!("CARGO_PKG_VERSION"));
            println!(
                "  rustc: {}",
                option_env!("SIGHTLINE_RUSTC_VERSION").unwrap_or("unknown")
            );
            println!("  target: {}-{}", std::env::consts::ARCH, std::env::consts::OS);
            ExitCode::SUCCESS
        }
    }
}

fn check_config(files: &[PathBuf]) -> ExitCode {
    let diags = sightline_config::check_files(files);
    let mut errors = 0;
    for d in &diags {
        eprintln!("{d}");
        if d.is_error() {
            errors += 1;
        }
    }
    if errors > 0 {
        eprintln!("FAILED: {errors} error(s) in {} file(s)", files.len());
        ExitCode::FAILURE
    } else {
        for f in files {
            println!("SUCCESS: {} is valid", f.display());
        }
        ExitCode::SUCCESS
    }
}

/// The known gaps shipped with the engine (`crates/promql/known-gaps.txt`).
const KNOWN_GAPS: &str = include_str!("../../promql/known-gaps.txt");

fn promql_test(files: &[PathBuf], known_gaps: Option<&std::path::Path>) -> ExitCode {
    use sightline_promql::promqltest::{run_files, KnownGaps};
    let gaps = match known_gaps {
        Some(p) => KnownGaps::load(p),
        None => KnownGaps::parse(KNOWN_GAPS),
    };
    let gaps = match gaps {
        Ok(g) => g,
        Err(e) => {
            eprintln!("sightline: known gaps: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = std::io::stdout().lock();
    let summary = run_files(files, &gaps, &mut out);
    if summary.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
