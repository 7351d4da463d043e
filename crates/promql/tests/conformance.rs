//! Runs Prometheus's PromQL test scripts from the shared conformance
//! directory and fails on any failure not listed in `known-gaps.txt`.

use sightline_promql::promqltest::{run_files, KnownGaps};
use std::path::PathBuf;

#[test]
fn prometheus_promql_test_scripts() {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = manifest.join("../../../shared/conformance/promql");
    let Ok(rd) = std::fs::read_dir(&dir) else {
        eprintln!("conformance directory {} not found; skipping", dir.display());
        return;
    };
    let mut files: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "test"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .test files in {}", dir.display());
    let gaps = KnownGaps::load(&manifest.join("known-gaps.txt")).expect("known-gaps.txt");
    let mut out = Vec::new();
    let summary = run_files(&files, &gaps, &mut out);
    let text = String::from_utf8_lossy(&out);
    println!("{text}");
    assert!(
        summary.success(),
        "unexpected PromQL conformance failures:\n{text}"
    );
}
