//! The OpenTelemetry Python SDK's real exporters (HTTP and gRPC) send
//! metrics; they land under Prometheus 3's OTLP names.

mod common;

use common::{wait_for, Server};
use std::process::Command;
use std::time::Duration;

const SCRIPT: &str = r#"
import sys
from opentelemetry.sdk.metrics import MeterProvider, Counter
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader, AggregationTemporality
from opentelemetry.sdk.resources import Resource
from opentelemetry.metrics import Observation

kind, endpoint, temporality = sys.argv[1], sys.argv[2], sys.argv[3]
pref = {Counter: AggregationTemporality.DELTA} if temporality == "delta" else {}
if kind == "http":
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    exporter = OTLPMetricExporter(endpoint=endpoint, preferred_temporality=pref)
else:
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
    exporter = OTLPMetricExporter(endpoint=endpoint, insecure=True, preferred_temporality=pref)
reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3600000)
resource = Resource.create({"service.name": "checkout", "service.namespace": kind, "service.instance.id": "pod-1",
                            "deployment.environment": "test"})
provider = MeterProvider(resource=resource, metric_readers=[reader])
meter = provider.get_meter("shop.instrumentation", "1.2.3")
requests = meter.create_counter("http.server.requests", unit="{request}", description="Requests served")
latency = meter.create_histogram("http.server.duration", unit="ms", description="Request latency")
meter.create_observable_gauge("process.memory.usage", unit="By",
                              callbacks=[lambda options: [Observation(1048576, {})]])
requests.add(5, {"http.route": "/cart"})
latency.record(7, {"http.route": "/cart"})
latency.record(60, {"http.route": "/cart"})
assert provider.force_flush(30000)
requests.add(3, {"http.route": "/cart"})
assert provider.force_flush(30000)
provider.shutdown()
print("sent")
"#;

fn run(kind: &str, endpoint: &str, temporality: &str) {
    let tmp = common::tempdir();
    let script = tmp.path().join("otel.py");
    std::fs::write(&script, SCRIPT).unwrap();
    let out = Command::new(common::python())
        .arg(&script)
        .args([kind, endpoint, temporality])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "OTel SDK script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn check(s: &Server, job: &str, scope_labels: bool) {
    let sel = format!(r#"http_server_requests_total{{job="{job}"}}"#);
    let rows = wait_for("OTLP counter", Duration::from_secs(20), || {
        let rows = s.export(&sel);
        (!rows.is_empty()).then_some(rows)
    });
    let m = &rows[0]["metric"];
    assert_eq!(m["instance"], "pod-1");
    assert_eq!(m["http_route"], "/cart");
    if scope_labels {
        assert_eq!(m["otel_scope_name"], "shop.instrumentation");
    } else {
        // Prometheus 3's default: scope metadata is not promoted.
        assert!(m.get("otel_scope_name").is_none(), "{m}");
    }
    let values = rows[0]["values"].as_array().unwrap();
    assert_eq!(
        values.last().unwrap(),
        8.0,
        "cumulative total after 5 + 3: {values:?}"
    );

    let count = s.export(&format!(
        r#"http_server_duration_milliseconds_count{{job="{job}"}}"#
    ));
    assert_eq!(count[0]["values"][0], 2.0);
    let buckets = s.export(&format!(
        r#"http_server_duration_milliseconds_bucket{{job="{job}"}}"#
    ));
    let inf = buckets
        .iter()
        .find(|r| r["metric"]["le"] == "+Inf")
        .expect("+Inf bucket");
    assert_eq!(inf["values"][0], 2.0);
    let le10 = buckets
        .iter()
        .find(|r| r["metric"]["le"] == "10")
        .expect("le=10 bucket");
    assert_eq!(le10["values"][0], 1.0);
    let mem = s.export(&format!(r#"process_memory_usage_bytes{{job="{job}"}}"#));
    assert_eq!(mem[0]["values"][0], 1048576.0);
    let info = s.export(&format!(r#"target_info{{job="{job}"}}"#));
    assert_eq!(info[0]["metric"]["deployment_environment"], "test");
    let meta = s.get_json("/api/v1/metadata?metric=http_server_duration_milliseconds");
    assert_eq!(
        meta["data"]["http_server_duration_milliseconds"][0]["type"], "histogram",
        "{meta}"
    );
}

#[test]
fn otlp_http_exporter_cumulative() {
    // Prometheus's own `otlp:` section applies unchanged.
    let tmp = common::tempdir();
    let cfg = tmp.path().join("prometheus.yml");
    std::fs::write(&cfg, "otlp:\n  promote_scope_metadata: true\n").unwrap();
    let s = Server::start(&["--config", cfg.to_str().unwrap()]);
    run("http", &s.url("/v1/metrics"), "cumulative");
    check(&s, "http/checkout", true);
}

#[test]
fn otlp_grpc_exporter_delta_becomes_cumulative() {
    let s = Server::start(&[]);
    let grpc = s.grpc.expect("gRPC listener");
    run("grpc", &grpc.to_string(), "delta");
    check(&s, "grpc/checkout", false);
}
