//! Text exposition parsing throughput on a 2,000-line node_exporter-like
//! payload (HELP/TYPE lines, labelled counters and gauges, a histogram).
//! Throughput is reported in elements = lines, i.e. lines/s. Run:
//! `cargo bench -p sightline-metrics-protocols --bench exposition`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sightline_metrics_protocols::exposition::{write_sample, Entry, Format, Parser};
use sightline_model::Labels;
use std::borrow::Cow;
use std::fmt::Write;
use std::hint::black_box;

/// Builds a node_exporter-like payload of exactly `lines` lines.
fn node_exporter_payload(lines: usize) -> String {
    let mut out = String::new();
    let mut n = 0;
    let mut family = 0;
    while n < lines {
        let name = format!("node_family_{family}_seconds_total");
        writeln!(
            out,
            "# HELP {name} Seconds the CPUs spent in each mode, family {family}."
        )
        .unwrap();
        writeln!(out, "# TYPE {name} counter").unwrap();
        n += 2;
        for cpu in 0..8 {
            for mode in [
                "idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user",
            ] {
                if n >= lines {
                    return out;
                }
                let l = Labels::from_pairs([
                    ("__name__", name.as_str()),
                    ("cpu", &cpu.to_string()),
                    ("mode", mode),
                ]);
                write_sample(&mut out, &l, 12345.67 * (cpu + 1) as f64, None);
                n += 1;
            }
        }
        for (i, le) in ["0.005", "0.01", "0.1", "1", "+Inf"].iter().enumerate() {
            if n >= lines {
                return out;
            }
            writeln!(
                out,
                "node_family_{family}_duration_seconds_bucket{{le=\"{le}\"}} {}",
                i * 100
            )
            .unwrap();
            n += 1;
        }
        family += 1;
    }
    out
}

fn bench(c: &mut Criterion) {
    let payload = node_exporter_payload(2_000);
    assert_eq!(payload.lines().count(), 2_000);
    let mut g = c.benchmark_group("exposition");
    g.throughput(Throughput::Elements(2_000));
    g.bench_function("parse_2000_lines_series_only", |b| {
        b.iter(|| {
            let mut sum = 0.0;
            for e in Parser::new(payload.as_bytes(), Format::PrometheusText) {
                if let Entry::Sample(s) = e.unwrap() {
                    sum += s.value + s.series.len() as f64;
                }
            }
            black_box(sum)
        })
    });
    g.bench_function("parse_2000_lines_with_labels", |b| {
        let mut labels: Vec<(Cow<'_, str>, Cow<'_, str>)> = Vec::new();
        b.iter(|| {
            let mut n = 0usize;
            for e in Parser::new(payload.as_bytes(), Format::PrometheusText) {
                if let Entry::Sample(s) = e.unwrap() {
                    s.labels(&mut labels).unwrap();
                    n += labels.len();
                }
            }
            black_box(n)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
