//! Influx line protocol parsing throughput on Telegraf-like `cpu` lines
//! (4 tags, 10 float fields each). Run:
//! `cargo bench -p sightline-metrics-protocols --bench influx`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sightline_metrics_protocols::influx::{parse, Options, Precision};
use sightline_model::{LabelRef, Sample};
use std::fmt::Write;
use std::hint::black_box;

const LINES: usize = 10_000;
const FIELDS: [&str; 10] = [
    "usage_user",
    "usage_system",
    "usage_idle",
    "usage_nice",
    "usage_iowait",
    "usage_irq",
    "usage_softirq",
    "usage_steal",
    "usage_guest",
    "usage_guest_nice",
];

fn telegraf_body(escaped: bool) -> String {
    let mut body = String::new();
    for i in 0..LINES {
        let host = if escaped {
            format!("web\\ {:03}", i / 64)
        } else {
            format!("web-{:03}", i / 64)
        };
        write!(
            body,
            "cpu,cpu=cpu{},datacenter=eu-west-1a,host={host},rack=r{} ",
            i % 64,
            i % 7
        )
        .unwrap();
        for (j, f) in FIELDS.iter().enumerate() {
            let sep = if j == 0 { "" } else { "," };
            write!(body, "{sep}{f}={}.{:02}", (i * 7 + j) % 100, (i + j) % 100).unwrap();
        }
        writeln!(
            body,
            " {}",
            1_700_000_000_000_000_000i64 + i as i64 * 1_000_000_000
        )
        .unwrap();
    }
    body
}

fn bench(c: &mut Criterion) {
    let opts = Options {
        precision: Precision::Nanoseconds,
        now_ns: 0,
        db: Some("telegraf"),
    };
    let mut group = c.benchmark_group("influx");
    group.throughput(Throughput::Elements((LINES * FIELDS.len()) as u64));
    for (name, escaped) in [
        ("parse_10k_lines_100k_samples", false),
        ("parse_with_escaped_tags", true),
    ] {
        let body = telegraf_body(escaped);
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut n = 0usize;
                let report = parse(
                    black_box(body.as_bytes()),
                    &opts,
                    &mut |l: &[LabelRef<'_>], s: Sample| {
                        n += l.len() + s.t as usize;
                    },
                );
                assert_eq!(report.samples, LINES * FIELDS.len());
                black_box(n)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
