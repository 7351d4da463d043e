//! Runs Sightline's own PromQL test scripts (`tests/testdata/*.test`);
//! every eval must pass.

use sightline_promql::promqltest::{run_files, KnownGaps};
use std::path::PathBuf;

#[test]
fn own_promql_test_scripts() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/testdata");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/testdata")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "test"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    let summary = run_files(&files, &KnownGaps::empty(), &mut out);
    let text = String::from_utf8_lossy(&out);
    assert!(summary.success() && summary.failed == 0, "{text}");
    assert!(summary.passed > 100, "{text}");
}
