use super::*;
use std::collections::BTreeMap;

/// Flushes and returns `series text -> value` (labels in sorted order).
fn flush(agg: &mut Aggregator) -> BTreeMap<String, f64> {
    let mut got = BTreeMap::new();
    agg.flush(0, &mut |labels: &[LabelRef<'_>], v: f64| {
        assert!(
            labels.windows(2).all(|w| w[0].name < w[1].name),
            "labels sorted and unique"
        );
        let name = labels.iter().find(|l| l.name == METRIC_NAME).unwrap().value;
        let rest: Vec<String> = labels
            .iter()
            .filter(|l| l.name != METRIC_NAME)
            .map(|l| format!("{}={}", l.name, l.value))
            .collect();
        let key = if rest.is_empty() {
            name.to_string()
        } else {
            format!("{name}{{{}}}", rest.join(","))
        };
        assert!(got.insert(key, v).is_none(), "series emitted twice");
    });
    got
}

fn agg() -> Aggregator {
    Aggregator::new(AggregatorConfig {
        buckets: vec![0.1, 1.0],
        ..AggregatorConfig::default()
    })
}

#[test]
fn parses_every_type() {
    for (line, kind) in [
        ("a:1|c", MetricKind::Counter),
        ("a:1|g", MetricKind::Gauge),
        ("a:1|ms", MetricKind::Timer),
        ("a:1|h", MetricKind::Histogram),
        ("a:1|d", MetricKind::Distribution),
        ("a:xyz|s", MetricKind::Set),
    ] {
        let Line::Metric(m) = parse_line(line.as_bytes()).unwrap() else {
            panic!()
        };
        assert_eq!(m.kind, kind, "{line}");
        assert_eq!(m.name, "a");
        assert_eq!(m.sample_rate, 1.0);
    }
    let Line::Metric(m) =
        parse_line(b"api.req-time:12.5:3|ms|@0.5|#env:prod,flag,region:eu:west|c:abc|T1700000000").unwrap()
    else {
        panic!()
    };
    assert_eq!(m.name, "api.req-time");
    assert_eq!(m.sample_rate, 0.5);
    assert_eq!(
        m.values().collect::<Vec<_>>(),
        vec![Value::Number(12.5), Value::Number(3.0)]
    );
    assert_eq!(
        m.tag_pairs().collect::<Vec<_>>(),
        vec![("env", Some("prod")), ("flag", None), ("region", Some("eu:west"))]
    );
    let Line::Metric(m) = parse_line(b"g:+3|g").unwrap() else {
        panic!()
    };
    assert_eq!(m.values().next(), Some(Value::GaugeDelta(3.0)));
    let Line::Metric(m) = parse_line(b"g:-3|g").unwrap() else {
        panic!()
    };
    assert_eq!(m.values().next(), Some(Value::GaugeDelta(-3.0)));
}

#[test]
fn refuses_malformed_lines_with_a_reason() {
    for (line, reason) in [
        (&b"novalue"[..], Malformed::MissingValue),
        (b":1|c", Malformed::EmptyName),
        (b"a:1", Malformed::MissingType),
        (b"a:1|x", Malformed::UnknownType),
        (b"a:abc|c", Malformed::InvalidValue),
        (b"a:|c", Malformed::InvalidValue),
        (b"a:NaN|g", Malformed::InvalidValue),
        (b"a:inf|ms", Malformed::InvalidValue),
        (b"a:1|s|#x:y", Malformed::UnknownField),
        (b"a:|s", Malformed::InvalidValue),
        (b"a:1|c|@0", Malformed::InvalidSampleRate),
        (b"a:1|c|@1.5", Malformed::InvalidSampleRate),
        (b"a:1|c|@x", Malformed::InvalidSampleRate),
        (b"a:1|c|zzz", Malformed::UnknownField),
        (b"a:-1|c", Malformed::NegativeCounter),
        (b"a:\xff|c", Malformed::InvalidUtf8),
    ] {
        // "a:1|s|#x:y" is valid (set member "1"): check it separately.
        if line == b"a:1|s|#x:y" {
            assert!(parse_line(line).is_ok());
            continue;
        }
        assert_eq!(parse_line(line), Err(reason), "{}", String::from_utf8_lossy(line));
    }
}

#[test]
fn events_and_service_checks_are_ignored() {
    let mut a = agg();
    let r = a.ingest(b"_e{5,4}:title|text|#tag\n_sc|my.check|0|#env:prod\nok:1|c\n");
    assert_eq!(r.events_ignored, 1);
    assert_eq!(r.service_checks_ignored, 1);
    assert_eq!(r.accepted, 1);
    assert_eq!(r.malformed_total(), 0);
}

#[test]
fn counters_accumulate_with_sample_rate_and_stay_monotonic() {
    let mut a = agg();
    a.ingest(b"page.views:1|c\npage.views:2|c|@0.5\n");
    assert_eq!(flush(&mut a)["page_views"], 5.0);
    let r = a.ingest(b"page.views:-3|c\npage.views:1|c\n");
    assert_eq!(r.malformed_count(Malformed::NegativeCounter), 1);
    assert_eq!(flush(&mut a)["page_views"], 6.0);
    // No update: the cumulative value is repeated, not reset.
    assert_eq!(flush(&mut a)["page_views"], 6.0);
}

#[test]
fn counter_total_suffix_option() {
    let mut a = Aggregator::new(AggregatorConfig {
        counter_total_suffix: true,
        ..AggregatorConfig::default()
    });
    a.ingest(b"hits:1|c\nreq_total:1|c\n");
    let got = flush(&mut a);
    assert!(got.contains_key("hits_total"));
    assert!(got.contains_key("req_total"));
}

#[test]
fn gauges_set_and_adjust() {
    let mut a = agg();
    a.ingest(b"temp:10|g\ntemp:+5|g\ntemp:-2.5|g\n");
    assert_eq!(flush(&mut a)["temp"], 12.5);
    a.ingest(b"temp:3|g|@0.1");
    assert_eq!(flush(&mut a)["temp"], 3.0, "sample rate does not scale gauges");
    a.ingest(b"temp:1:2:7|g");
    assert_eq!(flush(&mut a)["temp"], 7.0, "packed values apply in order");
}

#[test]
fn timers_become_second_histograms() {
    let mut a = agg();
    // 50ms, 500ms, 5000ms -> 0.05s, 0.5s, 5s; buckets 0.1, 1, +Inf.
    a.ingest(b"req.latency:50|ms|#route:/a\nreq.latency:500|ms|#route:/a\nreq.latency:5000|ms|#route:/a\n");
    let got = flush(&mut a);
    assert_eq!(got["req_latency_bucket{le=0.1,route=/a}"], 1.0);
    assert_eq!(got["req_latency_bucket{le=1,route=/a}"], 2.0);
    assert_eq!(got["req_latency_bucket{le=+Inf,route=/a}"], 3.0);
    assert_eq!(got["req_latency_count{route=/a}"], 3.0);
    assert!((got["req_latency_sum{route=/a}"] - 5.55).abs() < 1e-9);
    // Sampled: each observation weighs 1/rate; still cumulative.
    a.ingest(b"req.latency:100|ms|@0.25|#route:/a");
    let got = flush(&mut a);
    assert_eq!(got["req_latency_bucket{le=0.1,route=/a}"], 5.0, "0.1 <= le=0.1");
    assert_eq!(got["req_latency_count{route=/a}"], 7.0);
}

#[test]
fn histograms_and_distributions_keep_units() {
    let mut a = agg();
    a.ingest(b"size:0.5|h\nsize:2|d\n");
    let got = flush(&mut a);
    assert_eq!(got["size_bucket{le=1}"], 1.0);
    assert_eq!(got["size_sum"], 2.5);
    assert_eq!(got["size_count"], 2.0);
}

#[test]
fn sets_count_distinct_members_per_interval() {
    let mut a = agg();
    a.ingest(b"users:alice|s\nusers:bob|s\nusers:alice|s\n");
    assert_eq!(flush(&mut a)["users"], 2.0);
    assert_eq!(flush(&mut a)["users"], 0.0, "reset each interval");
    a.ingest(b"users:carol|s");
    assert_eq!(flush(&mut a)["users"], 1.0);
}

#[test]
fn names_and_tags_are_sanitized() {
    let mut a = agg();
    let r =
        a.ingest(b"1st.metric-name:1|g|#host.name:web-1,9lives:x,__name__:evil,novalue,empty:,dup:a,dup:b\n");
    assert_eq!(r.tags_dropped, 2, "novalue and __name__");
    let got = flush(&mut a);
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        vec!["_1st_metric_name{_9lives=x,dup=b,host_name=web-1}"]
    );
    // `le` is reserved on histograms only.
    let r = a.ingest(b"t:1|ms|#le:5\nc:1|c|#le:5\n");
    assert_eq!(r.tags_dropped, 1);
    assert!(flush(&mut a).contains_key("c{le=5}"));
    assert_eq!(sanitize("a:b.c", true), "a:b_c");
    assert_eq!(sanitize("a:b.c", false), "a_b_c");
    assert_eq!(sanitize("héllo", true), "h_llo");
}

#[test]
fn tag_order_does_not_split_series() {
    let mut a = agg();
    a.ingest(b"x:1|c|#a:1,b:2\nx:1|c|#b:2,a:1\n");
    assert_eq!(a.series_count(), 1);
    assert_eq!(flush(&mut a)["x{a=1,b=2}"], 2.0);
    // Values that contain separator-like bytes do not collide.
    a.ingest(b"y:1|c|#a:1\x00b\n");
    a.ingest(b"y:1|c|#a:1,b:\n");
    assert_eq!(a.series_count(), 3);
}

#[test]
fn type_conflicts_are_counted() {
    let mut a = agg();
    a.ingest(b"m:1|c");
    let r = a.ingest(b"m:1|g\nm:2|c\n");
    assert_eq!(r.malformed_count(Malformed::TypeConflict), 1);
    assert_eq!(r.accepted, 1);
    // Timers, histograms and distributions share a histogram series.
    a.ingest(b"h:1|ms\nh:1|h\nh:1|d\n");
    assert_eq!(a.totals().malformed_count(Malformed::TypeConflict), 1);
}

#[test]
fn idle_series_get_one_stale_marker_then_vanish() {
    let mut a = Aggregator::new(AggregatorConfig {
        idle_flushes: 2,
        buckets: vec![1.0],
        ..AggregatorConfig::default()
    });
    a.ingest(b"c:1|c\nt:1|ms\n");
    assert_eq!(flush(&mut a)["c"], 1.0); // interval 0, updated
    assert_eq!(flush(&mut a)["c"], 1.0); // idle 1 flush
    let got = flush(&mut a); // idle 2 flushes: stale, removed
    assert!(sightline_model::is_stale_nan(got["c"]));
    assert!(sightline_model::is_stale_nan(got["t_bucket{le=+Inf}"]));
    assert!(sightline_model::is_stale_nan(got["t_count"]));
    assert_eq!(got.len(), 1 + 4);
    assert_eq!(a.series_count(), 0);
    assert!(flush(&mut a).is_empty());
    // Coming back starts from zero.
    a.ingest(b"c:2|c");
    assert_eq!(flush(&mut a)["c"], 2.0);
}

#[test]
fn updates_keep_series_alive() {
    let mut a = Aggregator::new(AggregatorConfig {
        idle_flushes: 1,
        ..AggregatorConfig::default()
    });
    for _ in 0..5 {
        a.ingest(b"g:1|g");
        assert_eq!(flush(&mut a)["g"], 1.0);
    }
    assert!(sightline_model::is_stale_nan(flush(&mut a)["g"]));
}

#[test]
fn max_series_guard_counts_drops() {
    let mut a = Aggregator::new(AggregatorConfig {
        max_series: 2,
        ..AggregatorConfig::default()
    });
    let r = a.ingest(b"a:1|c\nb:1|c\nc:1|c\na:1|c\n");
    assert_eq!(r.accepted, 3);
    assert_eq!(r.dropped_series_limit, 1);
    assert_eq!(a.series_count(), 2);
    assert_eq!(a.totals().dropped_series_limit, 1);
}

#[test]
fn datagram_framing() {
    let mut a = agg();
    let r = a.ingest(b"a:1|c\r\n\n  \nb:2|c");
    assert_eq!(r.accepted, 2);
    assert_eq!(r.malformed_total(), 0);
    let r = a.ingest(b"");
    assert_eq!(r, IngestReport::default());
}

#[test]
fn bucket_config_is_cleaned() {
    let a = Aggregator::new(AggregatorConfig {
        buckets: vec![1.0, f64::NAN, 0.5, 1.0, f64::INFINITY],
        ..AggregatorConfig::default()
    });
    assert_eq!(a.le, vec!["0.5", "1", "+Inf"]);
}

#[test]
fn every_reason_has_a_distinct_name() {
    let names: std::collections::HashSet<_> = Malformed::ALL.iter().map(|m| m.as_str()).collect();
    assert_eq!(names.len(), Malformed::ALL.len());
    for (i, m) in Malformed::ALL.iter().enumerate() {
        assert_eq!(m.index(), i);
    }
}
