//! Decoder and pipeline throughput on realistic payloads (1,000 records each).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use prost::Message;
use sightline_logs_protocols::loki::{EntryAdapter, PushRequest, StreamAdapter, Timestamp};
use sightline_logs_protocols::pipeline::{Pipeline, PipelineConfig};
use sightline_logs_protocols::{doc, es, loki, syslog, IngestLimits, LogRecord};
use sightline_model::Labels;

const N: usize = 1000;

fn apache_line(i: usize) -> String {
    format!(
        r#"10.0.{}.{} - frank [10/Oct/2000:13:55:{:02} -0700] "GET /api/v1/items/{i}?page=2 HTTP/1.1" 200 {} "http://example.com/start.html" "Mozilla/5.0 (X11; Linux x86_64)""#,
        i % 200,
        i % 250,
        i % 60,
        1000 + i
    )
}

fn bench(c: &mut Criterion) {
    let limits = IngestLimits::default();
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(N as u64));

    let req = PushRequest {
        streams: vec![StreamAdapter {
            labels: br#"{job="nginx", host="web-1", env="prod"}"#.to_vec(),
            entries: (0..N)
                .map(|i| EntryAdapter {
                    timestamp: Some(Timestamp {
                        seconds: 1_700_000_000 + i as i64,
                        nanos: 0,
                    }),
                    line: apache_line(i).into_bytes(),
                    structured_metadata: vec![],
                })
                .collect(),
            hash: 0,
        }],
    };
    let body = snap::raw::Encoder::new()
        .compress_vec(&req.encode_to_vec())
        .unwrap();
    g.bench_function("loki_protobuf", |b| {
        b.iter(|| loki::decode_protobuf(&body, &limits).unwrap())
    });

    let mut bulk = String::new();
    for i in 0..N {
        bulk.push_str("{\"index\":{\"_index\":\"logs-2024.01.02\"}}\n");
        bulk.push_str(&format!(
            r#"{{"@timestamp":"2024-01-02T03:04:{:02}.123Z","level":"INFO","service":"order-service","message":"Order created","user_id":{i},"order_id":"ORD-{i}","total":99.99,"http":{{"method":"POST","status":201}}}}"#,
            i % 60
        ));
        bulk.push('\n');
    }
    let opts = es::BulkOptions::default();
    g.bench_function("es_bulk", |b| {
        b.iter(|| es::decode_bulk(bulk.as_bytes(), None, &opts, &limits, 0).unwrap())
    });
    let jl: String = bulk
        .lines()
        .skip(1)
        .step_by(2)
        .map(|l| format!("{l}\n"))
        .collect();
    g.bench_function("json_lines", |b| {
        b.iter(|| doc::decode_json_lines(jl.as_bytes(), &[], &doc::DocMapping::default(), &limits, 0))
    });

    let lines: Vec<String> = (0..N)
        .map(|i| {
            format!("<165>1 2003-10-11T22:14:15.003Z host{} evntslog {i} ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Application\"] An application event {i}", i % 10)
        })
        .collect();
    let so = syslog::SyslogOptions::default();
    g.bench_function("syslog_5424", |b| {
        b.iter(|| {
            for l in &lines {
                syslog::decode_message(l.as_bytes(), &[], &so, &limits, 0).unwrap();
            }
        })
    });

    let recs: Vec<LogRecord> = (0..N)
        .map(|i| LogRecord::new(0, Labels::from_pairs([("job", "nginx")]), apache_line(i)))
        .collect();
    let cfg: PipelineConfig = serde_json::from_str(
        r#"{"stages":[{"type":"grok","patterns":["%{COMBINEDAPACHELOG}"]},
                      {"type":"timestamp","source":"timestamp","formats":["httpdate"]}]}"#,
    )
    .unwrap();
    let p = Pipeline::new(&cfg).unwrap();
    g.bench_function("pipeline_grok_apache_masking", |b| {
        b.iter(|| p.process_batch(recs.clone()))
    });
    let masking_only = Pipeline::default();
    g.bench_function("pipeline_masking_only", |b| {
        b.iter(|| masking_only.process_batch(recs.clone()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
