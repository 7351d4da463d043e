//! The OTLP/gRPC TraceService over loopback, and the whole pipeline:
//! decode -> ingest (store + span metrics) -> Jaeger and Tempo responses.

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use sightline_logstore::{FsyncPolicy, Options};
use sightline_traces::ingest::Ingester;
use sightline_traces::model::hex;
use sightline_traces::spanmetrics::{Config, SpanMetrics};
use sightline_traces::{grpc, jaeger, otlp, tempo, zipkin, Limits, TraceStore};
use std::sync::Arc;
use tonic::codec::CompressionEncoding;

/// Two services in one trace, as two OpenTelemetry SDK processes export it
/// (W3C context propagated over HTTP: the server span's parent is the
/// client span of the other service).
const FRONTEND: &str = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"frontend"}}]},
 "scopeSpans":[{"scope":{"name":"opentelemetry.instrumentation.requests"},"spans":[
  {"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7","name":"GET /checkout","kind":2,
   "startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000080000000"},
  {"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b8","parentSpanId":"00f067aa0ba902b7",
   "name":"GET","kind":3,"startTimeUnixNano":"1700000000010000000","endTimeUnixNano":"1700000000070000000",
   "attributes":[{"key":"http.request.method","value":{"stringValue":"GET"}}]}]}]}]}"#;
const BACKEND: &str = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"backend"}}]},
 "scopeSpans":[{"scope":{"name":"opentelemetry.instrumentation.flask"},"spans":[
  {"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b9","parentSpanId":"00f067aa0ba902b8",
   "name":"GET /price","kind":2,"startTimeUnixNano":"1700000000020000000","endTimeUnixNano":"1700000000060000000",
   "status":{"code":2,"message":"db down"}}]}]}]}"#;

fn store(dir: &std::path::Path) -> Arc<TraceStore> {
    Arc::new(
        TraceStore::open(
            dir,
            Options {
                fsync: FsyncPolicy::Always,
                ..Options::default()
            },
        )
        .unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_export_stores_spans() {
    let dir = tempfile::tempdir().unwrap();
    let st = store(dir.path());
    let sm = Arc::new(SpanMetrics::new(Config::default()));
    let ing = Arc::new(Ingester::new(st.clone(), Some(sm.clone()), "t"));
    let svc = grpc::trace_grpc_service(ing.clone(), Limits::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(svc)
            .serve_with_incoming_shutdown(tokio_stream::wrappers::TcpListenerStream::new(listener), async {
                let _ = stop_rx.await;
            })
            .await
    });
    let mut client = TraceServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let req = |body: &str| ExportTraceServiceRequest {
        resource_spans: otlp::to_resource_spans(
            &otlp::decode_json(body.as_bytes(), &Limits::default()).unwrap(),
        ),
    };
    let resp = client.export(req(FRONTEND)).await.unwrap().into_inner();
    assert_eq!(resp.partial_success, None);
    let mut gz = client.clone().send_compressed(CompressionEncoding::Gzip);
    gz.export(req(BACKEND)).await.unwrap();

    // an all-zero span id is refused with the reason
    let mut bad = req(BACKEND);
    bad.resource_spans[0].scope_spans[0].spans[0].span_id = vec![0; 8];
    let e = client.export(bad).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert!(e.message().contains("span id: all zero"), "{}", e.message());

    let id = jaeger::parse_trace_id("4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
    assert_eq!(st.trace("t", id).unwrap().len(), 3);
    assert_eq!(ing.stats().accepted_spans, 3);
    assert_eq!(ing.stats().refused_batches, 1);
    assert_eq!(sm.stats().edge_series, 1);
    stop_tx.send(()).unwrap();
    server.await.unwrap().unwrap();
}

#[test]
fn pipeline_to_jaeger_and_tempo() {
    let dir = tempfile::tempdir().unwrap();
    let st = store(dir.path());
    let ing = Ingester::new(st.clone(), None, "t");
    let l = Limits::default();
    ing.ingest(&otlp::decode_json(FRONTEND.as_bytes(), &l).unwrap(), 0)
        .unwrap();
    ing.ingest(&otlp::decode_json(BACKEND.as_bytes(), &l).unwrap(), 0)
        .unwrap();
    // a Zipkin span of the same trace from a third service
    let z = br#"[{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","parentId":"00f067aa0ba902b9","id":"00f067aa0ba902ba",
        "kind":"CLIENT","name":"select","timestamp":1700000000030000,"duration":10000,
        "localEndpoint":{"serviceName":"backend"},"remoteEndpoint":{"serviceName":"mysql"}}]"#;
    ing.ingest(&zipkin::decode_json(z, &l).unwrap(), 0).unwrap();

    let id = jaeger::parse_trace_id("4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
    let trace = st.trace("t", id).unwrap();
    assert_eq!(trace.len(), 4);
    let j = jaeger::traces_response(std::slice::from_ref(&trace));
    let t = &j["data"][0];
    assert_eq!(t["traceID"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(t["spans"].as_array().unwrap().len(), 4);
    let procs = t["processes"].as_object().unwrap();
    let names: Vec<&str> = procs
        .values()
        .map(|p| p["serviceName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["frontend", "backend"]);
    // the tree: every non-root span references a span of the trace
    let ids: Vec<&str> = t["spans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["spanID"].as_str().unwrap())
        .collect();
    for s in t["spans"].as_array().unwrap() {
        for r in s["references"].as_array().unwrap() {
            assert!(ids.contains(&r["spanID"].as_str().unwrap()));
        }
    }
    let deps = st.dependencies("t", 0, i64::MAX).unwrap();
    assert_eq!(deps.len(), 1);
    assert_eq!(
        (deps[0].parent.as_str(), deps[0].child.as_str()),
        ("frontend", "backend")
    );

    let v2 = tempo::trace_v2_json(&trace);
    let back = otlp::decode_json(
        serde_json::json!({"resourceSpans": v2["trace"]["resourceSpans"]})
            .to_string()
            .as_bytes(),
        &l,
    )
    .unwrap();
    assert_eq!(back.len(), 4);
    assert_eq!(hex(&back[0].trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");

    let q = sightline_traces::traceql::parse(r#"{ resource.service.name = "backend" && status = error }"#)
        .unwrap();
    let (res, _) = sightline_traces::traceql::search(&st, "t", &q, 0, i64::MAX, 20, 10_000).unwrap();
    assert_eq!(res.len(), 1);
    let s = tempo::search_json(&res, 1);
    assert_eq!(s["traces"][0]["rootServiceName"], "frontend");
    assert_eq!(s["traces"][0]["rootTraceName"], "GET /checkout");
    assert_eq!(s["traces"][0]["durationMs"], 80);
}
