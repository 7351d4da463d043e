//! Runs PromQL test scripts given on the command line:
//! `cargo run -p sightline-promql --example promqltest -- <files...>`.

use sightline_promql::promqltest::{run_files, KnownGaps};
use std::path::PathBuf;

fn main() {
    let files: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    let summary = run_files(&files, &KnownGaps::empty(), &mut std::io::stdout());
    std::process::exit(if summary.success() { 0 } else { 1 });
}
