//! Decoders and the TraceQL parser never panic: valid payloads are
//! truncated at every byte and mutated pseudo-randomly, and every result
//! must be `Ok` or an error naming a reason.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use sightline_traces::model::{Span, SpanKind, Value};
use sightline_traces::thrift::{encode, Protocol, TValue};
use sightline_traces::{jaeger, otlp, traceql, zipkin, Limits};

fn rng(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

fn mutate(base: &[u8], seed: u64, rounds: usize, check: impl Fn(&[u8])) {
    for cut in 0..base.len() {
        check(&base[..cut]);
    }
    let mut x = seed;
    for _ in 0..rounds {
        let mut b = base.to_vec();
        for _ in 0..1 + rng(&mut x) % 4 {
            let i = (rng(&mut x) % b.len() as u64) as usize;
            b[i] = rng(&mut x) as u8;
        }
        check(&b);
    }
}

fn spans() -> Vec<Span> {
    vec![Span {
        trace_id: [3; 16],
        span_id: [4; 8],
        parent_span_id: Some([5; 8]),
        name: "op".into(),
        kind: SpanKind::Client,
        start_ns: 10,
        end_ns: 20,
        attributes: vec![
            ("a".into(), Value::Int(1)),
            ("b".into(), Value::Array(vec![Value::Str("x".into())])),
        ],
        resource: vec![("service.name".into(), Value::Str("s".into()))],
        ..Default::default()
    }]
}

fn check_err(r: Result<Vec<Span>, sightline_traces::TraceError>) {
    if let Err(e) = r {
        assert!(!e.to_string().is_empty());
    }
}

#[test]
fn otlp_never_panics() {
    let l = Limits::default();
    let pb = ExportTraceServiceRequest {
        resource_spans: otlp::to_resource_spans(&spans()),
    }
    .encode_to_vec();
    mutate(&pb, 1, 5000, |b| check_err(otlp::decode_protobuf(b, &l)));
    let js = serde_json::json!({ "resourceSpans": otlp::to_json_resource_spans(&spans()) }).to_string();
    mutate(js.as_bytes(), 2, 5000, |b| check_err(otlp::decode_json(b, &l)));
}

#[test]
fn zipkin_never_panics() {
    let l = Limits::default();
    let js = br#"[{"traceId":"5af7183fb1d4cf5f","parentId":"6b221d5bc9e6496c","id":"352bff9a74ca9ad2","kind":"SERVER","name":"get","timestamp":1556604172355737,"duration":1431,"localEndpoint":{"serviceName":"b","ipv4":"1.2.3.4","port":80},"annotations":[{"timestamp":1,"value":"x"}],"tags":{"k":"v"},"shared":true}]"#;
    mutate(js, 3, 5000, |b| check_err(zipkin::decode_json(b, &l)));
    let pb = zipkin::ListOfSpans {
        spans: vec![zipkin::PbSpan {
            trace_id: vec![1; 16],
            id: vec![2; 8],
            timestamp: 5,
            name: "x".into(),
            ..Default::default()
        }],
    }
    .encode_to_vec();
    mutate(&pb, 4, 5000, |b| check_err(zipkin::decode_protobuf(b, &l)));
}

#[test]
fn jaeger_never_panics() {
    let l = Limits::default();
    let s = |v: &str| TValue::Binary(v.as_bytes().to_vec());
    let batch = TValue::Struct(vec![
        (1, TValue::Struct(vec![(1, s("svc"))])),
        (
            2,
            TValue::List(vec![TValue::Struct(vec![
                (1, TValue::I64(1)),
                (2, TValue::I64(2)),
                (3, TValue::I64(3)),
                (4, TValue::I64(0)),
                (5, s("op")),
                (8, TValue::I64(5)),
                (9, TValue::I64(6)),
                (
                    10,
                    TValue::List(vec![TValue::Struct(vec![
                        (1, s("k")),
                        (2, TValue::I32(0)),
                        (3, s("v")),
                    ])]),
                ),
            ])]),
        ),
    ]);
    for p in [Protocol::Compact, Protocol::Binary] {
        let mut m = Vec::new();
        encode::message(
            &mut m,
            "emitBatch",
            4,
            1,
            &TValue::Struct(vec![(1, batch.clone())]),
            p,
        );
        assert_eq!(jaeger::decode_agent_datagram(&m, &l).unwrap().len(), 1);
        mutate(&m, 5, 5000, |b| check_err(jaeger::decode_agent_datagram(b, &l)));
    }
    let mut b = Vec::new();
    encode::value(&mut b, &batch, Protocol::Binary);
    mutate(&b, 6, 5000, |b| check_err(jaeger::decode_http_batch(b, &l)));
}

#[test]
fn traceql_never_panics() {
    let q = r#"{ span.http.method = "GET" && resource.service.name =~ "fr.*" || duration > 1.5ms } && { status = error } | count() > 2"#;
    let trace = spans();
    mutate(q.as_bytes(), 7, 5000, |b| {
        if let Ok(s) = std::str::from_utf8(b) {
            if let Ok(q) = traceql::parse(s) {
                let _ = q.eval(&trace);
            }
        }
    });
}
