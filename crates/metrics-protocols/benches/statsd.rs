//! StatsD aggregation throughput: datagrams of 20 DogStatsD lines mixing
//! counters, gauges, timers and sets over 1,000 tagged series; reports
//! lines/s for `Aggregator::ingest`, plus one flush of the resulting state.
//! Run: `cargo bench -p sightline-metrics-protocols --bench statsd`.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use sightline_metrics_protocols::statsd::{Aggregator, AggregatorConfig};
use std::fmt::Write;
use std::hint::black_box;

const DATAGRAMS: usize = 500;
const LINES_PER_DATAGRAM: usize = 20;

fn datagrams() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut n = 0usize;
    for _ in 0..DATAGRAMS {
        let mut d = String::new();
        for _ in 0..LINES_PER_DATAGRAM {
            let series = n % 1_000;
            let (kind, value) = match n % 4 {
                0 => ("c", "1".to_string()),
                1 => ("g", format!("{}", n % 97)),
                2 => ("ms", format!("{}.5", n % 800)),
                _ => ("s", format!("user{}", n % 50)),
            };
            writeln!(
                d,
                "app.requests.m{}:{value}|{kind}|@1|#env:prod,host:web-{},endpoint:/api/v1/e{}",
                series % 250,
                series % 10,
                series % 4
            )
            .unwrap();
            n += 1;
        }
        out.push(d.into_bytes());
    }
    out
}

fn bench(c: &mut Criterion) {
    let data = datagrams();
    let mut g = c.benchmark_group("statsd");
    g.throughput(Throughput::Elements((DATAGRAMS * LINES_PER_DATAGRAM) as u64));
    g.bench_function("ingest_10000_lines", |b| {
        let mut agg = Aggregator::new(AggregatorConfig::default());
        b.iter(|| {
            for d in &data {
                black_box(agg.ingest(d));
            }
        })
    });
    g.throughput(Throughput::Elements(1));
    g.bench_function("flush_1000_series", |b| {
        b.iter_batched(
            || {
                let mut agg = Aggregator::new(AggregatorConfig::default());
                for d in &data {
                    agg.ingest(d);
                }
                agg
            },
            |mut agg| {
                let mut n = 0usize;
                agg.flush(0, &mut |l, v| n += l.len() + v as usize);
                n
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
