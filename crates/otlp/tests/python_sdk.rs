//! Requests captured from the OpenTelemetry Python SDK's OTLP/HTTP exporter
//! (`opentelemetry-exporter-otlp-proto-http` 1.45, `application/x-protobuf`,
//! gzip removed), exactly as the integration tests' client sends them.
//! Each scenario is two consecutive exports of the same meter: a counter,
//! an up-down counter, an explicit-bucket histogram, an exponential histogram
//! (max 20 buckets) and an observable gauge.

mod common;

use common::*;
use sightline_otlp::{OtlpConfig, OtlpMetrics};

fn data(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn ingest(otlp: &OtlpMetrics, file: &str) -> RecAppender {
    let req = OtlpMetrics::decode_request(&data(file), "application/x-protobuf").unwrap();
    let mut app = RecAppender::new();
    let report = otlp.ingest(&req, &mut app);
    assert_eq!(report.rejected, 0, "{:?}", report.first_error);
    assert_eq!(report.first_error, None);
    app
}

const BASE: &str = "instance=\"inst-1\", job=\"demo/pyapp\"";

fn check_second_export(app: &RecAppender, delta: bool) {
    assert_eq!(
        app.value(&format!("http_requests_total{{{BASE}, method=\"GET\"}}")),
        15.0
    );
    let h = |s: &str| app.value(&format!("http_server_duration_milliseconds{s}"));
    assert_eq!(h(&format!("_bucket{{{BASE}, le=\"5\", route=\"/x\"}}")), 2.0);
    assert_eq!(h(&format!("_bucket{{{BASE}, le=\"10\", route=\"/x\"}}")), 4.0);
    assert_eq!(h(&format!("_bucket{{{BASE}, le=\"25\", route=\"/x\"}}")), 5.0);
    assert_eq!(h(&format!("_bucket{{{BASE}, le=\"750\", route=\"/x\"}}")), 6.0);
    assert_eq!(h(&format!("_bucket{{{BASE}, le=\"+Inf\", route=\"/x\"}}")), 6.0);
    assert_eq!(h(&format!("_sum{{{BASE}, route=\"/x\"}}")), 735.0);
    assert_eq!(h(&format!("_count{{{BASE}, route=\"/x\"}}")), 6.0);
    assert_eq!(
        app.value(&format!(
            "target_info{{host_name=\"box\", {BASE}, telemetry_sdk_language=\"python\", \
             telemetry_sdk_name=\"opentelemetry\", telemetry_sdk_version=\"1.45.2\"}}"
        )),
        1.0
    );
    if !delta {
        // Unchanged instruments are re-exported with cumulative temporality.
        assert_eq!(
            app.value(&format!("cpu_utilization_ratio{{cpu=\"0\", {BASE}}}")),
            0.25
        );
        assert_eq!(app.value(&format!("queue_size{{{BASE}}}")), 0.0);
        let e = |s: &str| app.value(&format!("rpc_exp_seconds{s}"));
        assert_eq!(e(&format!("_count{{{BASE}}}")), 6.0);
        assert!((e(&format!("_sum{{{BASE}}}")) - 0.015).abs() < 1e-12);
        // The recorded 0 is in the zero bucket; 0.001 is in (2^-10, 2^(-10+1/8)].
        assert_eq!(e(&format!("_bucket{{{BASE}, le=\"0\"}}")), 1.0);
        assert_eq!(
            e(&format!("_bucket{{{BASE}, le=\"0.0010649489576809157\"}}")),
            2.0
        );
        assert_eq!(e(&format!("_bucket{{{BASE}, le=\"0.001953125\"}}")), 2.0);
        assert_eq!(e(&format!("_bucket{{{BASE}, le=\"0.005065779510355506\"}}")), 6.0);
        assert_eq!(e(&format!("_bucket{{{BASE}, le=\"+Inf\"}}")), 6.0);
        // An empty negative side gives no negative `le` buckets.
        assert!(app.lines().iter().all(|l| !l.contains("le=\"-")));
    }
}

#[test]
fn cumulative_exports() {
    let otlp = OtlpMetrics::new(OtlpConfig::default());
    let first = ingest(&otlp, "python_sdk_cumulative_1.pb");
    assert_eq!(
        first.value(&format!("http_requests_total{{{BASE}, method=\"GET\"}}")),
        5.0
    );
    let meta = &first.rec.metadata;
    assert!(meta.iter().any(|(f, m)| f == "http_requests_total"
        && m.help == "requests served"
        && m.unit == "{request}"
        && m.metric_type == sightline_model::MetricType::Counter));
    let second = ingest(&otlp, "python_sdk_cumulative_2.pb");
    check_second_export(&second, false);
    // Every sample of one export shares the export's timestamp.
    let t = second.rec.samples[0].t;
    assert!(second.rec.samples.iter().all(|r| r.t == t));
    assert!(t > first.rec.samples[0].t);
}

#[test]
fn delta_exports_accumulate() {
    let otlp = OtlpMetrics::new(OtlpConfig::default());
    let first = ingest(&otlp, "python_sdk_delta_1.pb");
    assert_eq!(
        first.value(&format!("http_requests_total{{{BASE}, method=\"GET\"}}")),
        5.0
    );
    let second = ingest(&otlp, "python_sdk_delta_2.pb");
    check_second_export(&second, true);
    // Counter, up-down counter, histogram and exponential histogram streams.
    assert_eq!(otlp.delta_streams(), 4);
}
