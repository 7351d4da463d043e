//! Select with a few matchers over a head of 100k node-exporter-like series
//! with 120 samples each (one full chunk), decoding every sample.
//!
//! `cargo bench -p sightline-tsdb --bench select`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sightline_model::{MatchOp, Matcher, SelectHints, Storage};
use sightline_tsdb::block::gen::{series, GenConfig};
use sightline_tsdb::wal::WalSync;
use sightline_tsdb::{Tsdb, TsdbOptions};

const SERIES: usize = 100_000;
const INTERVAL: i64 = 15_000;

fn select(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let db = Tsdb::open(
        dir.path(),
        TsdbOptions {
            wal_sync: WalSync::Never,
            ..TsdbOptions::default()
        },
    )
    .unwrap();
    let cfg = GenConfig {
        series: SERIES,
        samples_per_series: 120,
        start_ms: 1_700_000_000_000 - 1_700_000_000_000 % (2 * 3600 * 1000),
        interval_ms: INTERVAL,
        ..GenConfig::default()
    };
    let data: Vec<_> = (0..SERIES).map(|i| series(&cfg, i)).collect();
    let mut ids = Vec::with_capacity(SERIES);
    {
        let mut app = db.appender();
        for (l, s) in &data {
            ids.push(app.append(&l.as_refs(), s[0].t, s[0].v).unwrap());
        }
        app.commit().unwrap();
    }
    for k in 1..120 {
        let mut app = db.appender();
        for (id, (_, s)) in ids.iter().zip(&data) {
            app.append_ref(*id, s[k].t, s[k].v).unwrap();
        }
        app.commit().unwrap();
    }
    drop(data);
    let mut g = c.benchmark_group("select");
    g.sample_size(20);
    let cases: Vec<(&str, Vec<Matcher>)> = vec![
        (
            "cpu_idle_all_hosts",
            vec![
                Matcher::equal("__name__", "node_cpu_seconds_total"),
                Matcher::equal("mode", "idle"),
            ],
        ),
        (
            "one_host_regex",
            vec![
                Matcher::new(MatchOp::Regex, "__name__", "node_network_.*_bytes_total").unwrap(),
                Matcher::equal("instance", "10.0.0.7:9100"),
            ],
        ),
        (
            "not_equal_and_alternation",
            vec![
                Matcher::new(MatchOp::Regex, "__name__", "node_cpu_seconds_total|node_load1").unwrap(),
                Matcher::new(MatchOp::NotEqual, "mode", "idle").unwrap(),
                Matcher::new(MatchOp::Regex, "instance", "10.0.0.1.*").unwrap(),
            ],
        ),
    ];
    for (name, ms) in &cases {
        let q = db.querier(i64::MIN, i64::MAX).unwrap();
        let (n_series, n_samples) = drain(q.select(ms, &SelectHints::default()).unwrap());
        let cpu0 = thread_cpu_ns();
        for _ in 0..5 {
            let q = db.querier(i64::MIN, i64::MAX).unwrap();
            drain(q.select(ms, &SelectHints::default()).unwrap());
        }
        let cpu = (thread_cpu_ns() - cpu0) as f64 / 5.0;
        println!(
            "select {name}: {n_series} series, {n_samples} samples; thread CPU {:.2} ms per select ({:.0} ns/sample)",
            cpu / 1e6,
            cpu / n_samples.max(1) as f64
        );
        g.throughput(Throughput::Elements(n_samples as u64));
        g.bench_function(*name, |b| {
            b.iter(|| {
                let q = db.querier(i64::MIN, i64::MAX).unwrap();
                drain(q.select(ms, &SelectHints::default()).unwrap())
            })
        });
    }
    g.finish();
    db.close().unwrap();
}

fn drain(set: sightline_model::SeriesSet<'_>) -> (usize, usize) {
    let (mut a, mut b) = (0, 0);
    for s in set {
        let mut s = s.unwrap();
        a += 1;
        while s.samples.next().is_some() {
            b += 1;
        }
    }
    (a, b)
}

fn thread_cpu_ns() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

criterion_group!(benches, select);
criterion_main!(benches);
