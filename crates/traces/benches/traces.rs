//! Trace ingest and query benchmarks, and the on-disk size per span.
//!
//! `cargo bench -p sightline-traces` prints `bytes per span on disk` for
//! 200k realistic spans (10-span traces over 8 services, ~8 attributes
//! each) before the criterion groups run.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use sightline_logstore::{FsyncPolicy, Options};
use sightline_traces::model::{Span, SpanKind, Value};
use sightline_traces::{otlp, Limits, TraceStore};

fn rng(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

/// `n` spans in traces of 10, starting at `t0` (ns), one trace every ms.
fn spans(n: usize, t0: i64, seed: u64) -> Vec<Span> {
    let services = [
        "frontend", "checkout", "cart", "payment", "shipping", "email", "currency", "ads",
    ];
    let routes = [
        "/api/cart",
        "/api/checkout",
        "/api/products/{id}",
        "/api/ads",
        "/healthz",
    ];
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(n);
    let mut trace = [0u8; 16];
    let mut parent = [0u8; 8];
    for i in 0..n {
        if i % 10 == 0 {
            trace[..8].copy_from_slice(&rng(&mut x).to_be_bytes());
            trace[8..].copy_from_slice(&rng(&mut x).to_be_bytes());
        }
        let id = rng(&mut x).to_be_bytes();
        let svc = services[(i % 10) % services.len()];
        let route = routes[(rng(&mut x) % routes.len() as u64) as usize];
        let start = t0 + (i / 10) as i64 * 1_000_000 + (i % 10) as i64 * 50_000;
        let dur = 20_000 + (rng(&mut x) % 5_000_000) as i64;
        let status = if rng(&mut x).is_multiple_of(50) { 500 } else { 200 };
        out.push(Span {
            trace_id: trace,
            span_id: id,
            parent_span_id: (i % 10 != 0).then_some(parent),
            name: format!("GET {route}"),
            kind: if i % 2 == 0 {
                SpanKind::Server
            } else {
                SpanKind::Client
            },
            start_ns: start,
            end_ns: start + dur,
            attributes: vec![
                ("http.request.method".into(), Value::Str("GET".into())),
                ("http.route".into(), Value::Str(route.into())),
                ("http.response.status_code".into(), Value::Int(status)),
                ("server.address".into(), Value::Str(format!("{svc}.default.svc"))),
                ("server.port".into(), Value::Int(8080)),
                (
                    "user_agent.original".into(),
                    Value::Str("python-requests/2.31.0".into()),
                ),
                (
                    "app.user.id".into(),
                    Value::Str(format!("user-{}", rng(&mut x) % 10_000)),
                ),
            ],
            resource: vec![
                ("service.name".into(), Value::Str(svc.into())),
                ("service.version".into(), Value::Str("1.4.2".into())),
                ("telemetry.sdk.language".into(), Value::Str("python".into())),
                ("host.name".into(), Value::Str(format!("{svc}-7d9f8b-x2k4p"))),
            ],
            ..Default::default()
        });
        parent = id;
    }
    out
}

fn opts() -> Options {
    Options {
        fsync: FsyncPolicy::Never,
        ..Options::default()
    }
}

fn dir_bytes(p: &std::path::Path) -> u64 {
    let mut n = 0;
    for e in std::fs::read_dir(p).unwrap().flatten() {
        let m = e.metadata().unwrap();
        n += if m.is_dir() { dir_bytes(&e.path()) } else { m.len() };
    }
    n
}

fn report_size() {
    let dir = tempfile::tempdir().unwrap();
    let st = TraceStore::open(dir.path(), opts()).unwrap();
    let n = 200_000;
    let all = spans(n, 1_700_000_000_000_000_000, 7);
    for c in all.chunks(1000) {
        st.append("b", c).unwrap();
    }
    st.log_store().flush().unwrap();
    st.log_store().compact().unwrap();
    let wal_and_segments = dir_bytes(dir.path());
    println!(
        "bytes per span on disk: {:.1} in segments ({} spans); whole directory incl. WAL: {:.1}",
        st.bytes_per_span(),
        n,
        wal_and_segments as f64 / n as f64
    );
}

fn bench(c: &mut Criterion) {
    report_size();
    let batch = spans(1000, 1_700_000_000_000_000_000, 3);
    let body = ExportTraceServiceRequest {
        resource_spans: otlp::to_resource_spans(&batch),
    }
    .encode_to_vec();
    let mut g = c.benchmark_group("ingest");
    g.throughput(Throughput::Elements(1000));
    g.bench_function("otlp_protobuf_decode_1000", |b| {
        b.iter(|| otlp::decode_protobuf(&body, &Limits::default()).unwrap())
    });
    let dir = tempfile::tempdir().unwrap();
    let st = TraceStore::open(dir.path(), opts()).unwrap();
    let mut t = 1_700_000_000_000_000_000i64;
    g.bench_function("store_append_1000", |b| {
        b.iter(|| {
            t += 1_000_000_000;
            let s = spans(1000, t, t as u64);
            st.append("b", &s).unwrap()
        })
    });
    g.finish();

    let dir = tempfile::tempdir().unwrap();
    let st = TraceStore::open(dir.path(), opts()).unwrap();
    let all = spans(200_000, 1_700_000_000_000_000_000, 11);
    for ch in all.chunks(1000) {
        st.append("q", ch).unwrap();
    }
    st.log_store().flush().unwrap();
    let id = all[123_450].trace_id;
    let mut g = c.benchmark_group("query_200k_spans");
    g.bench_function("trace_by_id", |b| {
        b.iter(|| assert_eq!(st.trace("q", id).unwrap().len(), 10))
    });
    let req = sightline_traces::SearchRequest {
        service: Some("payment".into()),
        tags: vec![("http.response.status_code".into(), "500".into())],
        start_ns: 0,
        end_ns: i64::MAX,
        limit: 20,
        ..Default::default()
    };
    g.bench_function("search_service_tag_limit20", |b| {
        b.iter(|| st.search("q", &req).unwrap())
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench
}
criterion_main!(benches);
