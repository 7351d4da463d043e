//! Influx line protocol parser: no panic on any body with any precision
//! and `db` option; the report's counts are consistent with the callback
//! and every emitted series has a metric name.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sightline_metrics_protocols::influx::{parse, Options, Precision};
use sightline_model::METRIC_NAME;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else { return };
    let precision = match mode % 6 {
        0 => Precision::Nanoseconds,
        1 => Precision::Microseconds,
        2 => Precision::Milliseconds,
        3 => Precision::Seconds,
        4 => Precision::Minutes,
        _ => Precision::Hours,
    };
    let db = if mode & 0x80 != 0 { Some("telegraf") } else { None };
    let opts = Options { precision, now_ns: 1_700_000_000_000_000_000, db };
    let mut samples = 0usize;
    let report = parse(body, &opts, &mut |labels, _sample| {
        samples += 1;
        assert!(labels.iter().any(|l| l.name == METRIC_NAME && !l.value.is_empty()), "{labels:?}");
    });
    assert_eq!(report.samples, samples);
    assert!(report.errors.len() <= report.error_count);
    let lines = body.split(|b| *b == b'\n').count();
    assert!(report.points + report.error_count <= lines);
});
