//! Remote write decoding throughput: 10k series x 1 sample with
//! node_exporter-like labels, snappy decompression included.
//! Run: `cargo bench -p sightline-metrics-protocols --bench remote_write`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sightline_metrics_protocols::remote_write::{encode, encode_protobuf, Decoder};
use sightline_model::{Labels, Limits, Sample};
use std::hint::black_box;

const SERIES: usize = 10_000;

fn node_exporter_request() -> Vec<(Labels, Vec<Sample>)> {
    const MODES: [&str; 8] = [
        "idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user",
    ];
    (0..SERIES)
        .map(|i| {
            let labels = Labels::from_pairs([
                ("__name__", "node_cpu_seconds_total".to_string()),
                ("cpu", (i / MODES.len() % 64).to_string()),
                ("instance", format!("node-{:03}.prod.example.com:9100", i / 512)),
                ("job", "node".to_string()),
                ("mode", MODES[i % MODES.len()].to_string()),
                ("region", "eu-west-1".to_string()),
            ]);
            (
                labels,
                vec![Sample {
                    t: 1_700_000_000_000 + i as i64,
                    v: i as f64 * 1.25,
                }],
            )
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let series = node_exporter_request();
    let body = encode(&series, &[]);
    let raw_len = encode_protobuf(&series, &[]).len();
    let limits = Limits::default();
    let mut decoder = Decoder::new();
    let mut group = c.benchmark_group("remote_write");
    group.throughput(Throughput::Elements(SERIES as u64));
    eprintln!("request: {} bytes snappy, {raw_len} bytes protobuf", body.len());
    group.bench_function("decode_10k_series_1_sample", |b| {
        b.iter(|| {
            let view = decoder.decode(black_box(&body), &limits).unwrap();
            let mut n = 0usize;
            for s in view.series() {
                n += s.samples.len() + s.labels.len();
            }
            black_box(n)
        })
    });
    group.bench_function("snappy_decompress_only", |b| {
        let mut out = vec![0u8; raw_len];
        let mut d = snap::raw::Decoder::new();
        b.iter(|| d.decompress(black_box(&body), &mut out).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
