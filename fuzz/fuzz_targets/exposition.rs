//! Text exposition / OpenMetrics parser: no panic on any input, in either
//! format, and every sample whose labels parse survives an encode/parse
//! round trip with the same labels, value and timestamp.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sightline_metrics_protocols::exposition::{write_help, write_sample, Entry, Format, Parser};
use sightline_model::Labels;

fuzz_target!(|data: &[u8]| {
    for format in [Format::PrometheusText, Format::OpenMetrics] {
        let mut pairs = Vec::new();
        for entry in Parser::new(data, format) {
            let Ok(entry) = entry else { continue };
            match entry {
                Entry::Sample(s) => {
                    if let Some(ex) = &s.exemplar {
                        let mut ex_pairs = Vec::new();
                        let _ = ex.labels(&mut ex_pairs);
                    }
                    if s.labels(&mut pairs).is_err() {
                        continue;
                    }
                    let labels = Labels::from_pairs(pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())));
                    round_trip_sample(&labels, s.value, s.timestamp);
                }
                Entry::Help { family, help } => {
                    let mut text = String::new();
                    write_help(&mut text, &family, &help);
                    match Parser::new(text.as_bytes(), Format::PrometheusText).next_entry() {
                        Some(Ok(Entry::Help { family: f2, help: h2 })) => {
                            assert_eq!(f2, family, "{text:?}");
                            // Leading blanks of a help text are not preserved
                            // (they separate it from the family name), and a
                            // trailing CR is read as part of a CRLF line end.
                            let want = help.trim_start_matches([' ', '\t']);
                            let want = want.strip_suffix('\r').unwrap_or(want);
                            assert_eq!(h2, want, "{text:?}");
                        }
                        other => panic!("help did not round-trip: {text:?} -> {other:?}"),
                    }
                }
                Entry::Type { .. } | Entry::Unit { .. } => {}
            }
        }
    }
});

fn round_trip_sample(labels: &Labels, v: f64, ts: Option<i64>) {
    if labels.metric_name().is_none() {
        return;
    }
    let mut text = String::new();
    write_sample(&mut text, labels, v, ts);
    let mut p = Parser::new(text.as_bytes(), Format::PrometheusText);
    let s = match p.next_entry() {
        Some(Ok(Entry::Sample(s))) => s,
        other => panic!("encoded sample did not parse: {text:?} -> {other:?}"),
    };
    let mut pairs = Vec::new();
    s.labels(&mut pairs).unwrap_or_else(|e| panic!("{text:?}: {e}"));
    let back = Labels::from_pairs(pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())));
    assert_eq!(&back, labels, "{text:?}");
    assert!(s.value == v || (s.value.is_nan() && v.is_nan()), "{text:?}: {} != {v}", s.value);
    assert_eq!(s.timestamp, ts, "{text:?}");
    assert!(p.next_entry().is_none(), "{text:?}");
}
