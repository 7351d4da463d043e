//! StatsD/DogStatsD parser and aggregator: no panic on any datagram; every
//! flushed series has sorted, unique, valid label names and a metric name;
//! counters never decrease between flushes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sightline_metrics_protocols::exposition::{is_legacy_label_name, is_legacy_metric_name};
use sightline_metrics_protocols::statsd::{parse_line, Aggregator, AggregatorConfig, Line};
use sightline_model::{is_stale_nan, METRIC_NAME};
use std::collections::{HashMap, HashSet};

fuzz_target!(|data: &[u8]| {
    for line in data.split(|b| *b == b'\n') {
        if let Ok(Line::Metric(m)) = parse_line(line) {
            let _ = m.values().count();
            let _ = m.tag_pairs().count();
        }
    }
    let mut agg = Aggregator::new(AggregatorConfig {
        buckets: vec![0.1, 1.0, 10.0],
        max_series: 64,
        idle_flushes: 2,
        ..AggregatorConfig::default()
    });
    // Split the input into a few datagrams with a flush after each, so
    // idle expiry and monotonicity are exercised.
    let mut last: HashMap<String, f64> = HashMap::new();
    for (round, datagram) in data.split(|b| *b == 0xFE).enumerate().take(8) {
        let report = agg.ingest(datagram);
        let lines = datagram.split(|b| *b == b'\n').count() as u64;
        assert!(report.accepted + report.malformed_total() + report.dropped_series_limit <= lines);
        assert!(agg.series_count() <= 64);
        let mut flushed: Vec<(String, String, bool, f64)> = Vec::new();
        agg.flush(round as i64 * 10_000, &mut |labels, v| {
            assert!(labels.windows(2).all(|w| w[0].name < w[1].name), "{labels:?}");
            let name = labels.iter().find(|l| l.name == METRIC_NAME).expect("metric name").value;
            assert!(is_legacy_metric_name(name), "{name:?}");
            for l in labels {
                assert!(l.name == METRIC_NAME || is_legacy_label_name(l.name), "{labels:?}");
                assert!(!l.value.is_empty(), "{labels:?}");
            }
            assert!(!v.is_nan() || is_stale_nan(v), "{labels:?} {v}");
            let has_le = labels.iter().any(|l| l.name == "le");
            flushed.push((name.to_string(), format!("{labels:?}"), has_le, v));
        });
        // Histogram families are the ones with `le` buckets; their buckets
        // and counts are cumulative. (A set or gauge may also be named
        // `*_count`: it is not.)
        let hist: HashSet<String> = flushed
            .iter()
            .filter(|(n, _, le, _)| *le && n.ends_with("_bucket"))
            .map(|(n, ..)| n.trim_end_matches("_bucket").to_string())
            .collect();
        for (name, key, _, v) in flushed {
            let base = name.strip_suffix("_count").or_else(|| name.strip_suffix("_bucket"));
            if is_stale_nan(v) {
                last.remove(&key);
            } else if base.is_some_and(|b| hist.contains(b)) {
                if let Some(prev) = last.insert(key.clone(), v) {
                    assert!(v >= prev, "{key}: {prev} -> {v}");
                }
            }
        }
    }
});
