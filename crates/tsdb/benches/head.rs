//! Head benchmarks: chunk encode/decode, append+commit into a head of 100k
//! node-exporter-like series (samples/s, WAL included with `WalSync::Never`),
//! and select with a few matchers.
//!
//! `cargo bench -p sightline-tsdb --bench head`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sightline_model::{LabelRef, Labels, MatchOp, Matcher, SelectHints, SeriesRef, Storage};
use sightline_tsdb::block::gen::{series, GenConfig};
use sightline_tsdb::chunkenc::XorChunk;
use sightline_tsdb::wal::WalSync;
use sightline_tsdb::{Tsdb, TsdbOptions};

const SERIES: usize = 100_000;
const INTERVAL: i64 = 15_000;

fn chunks(c: &mut Criterion) {
    let cfg = GenConfig {
        series: 200,
        samples_per_series: 120,
        ..GenConfig::default()
    };
    let data: Vec<_> = (0..cfg.series).map(|i| series(&cfg, i).1).collect();
    let total = (cfg.series * cfg.samples_per_series) as u64;
    let encoded: Vec<_> = data
        .iter()
        .map(|s| {
            let mut ch = XorChunk::new();
            for x in s {
                ch.append(x.t, x.v);
            }
            ch.freeze()
        })
        .collect();
    let bytes: usize = encoded.iter().map(|c| c.bytes().len()).sum();
    println!(
        "chunkenc: {:.2} bytes/sample over {} node-exporter-like series",
        bytes as f64 / total as f64,
        cfg.series
    );
    let mut g = c.benchmark_group("chunkenc");
    g.throughput(Throughput::Elements(total));
    g.bench_function("encode", |b| {
        b.iter(|| {
            let mut n = 0;
            for s in &data {
                let mut ch = XorChunk::with_capacity(256);
                for x in s {
                    ch.append(x.t, x.v);
                }
                n += ch.size_bytes();
            }
            n
        })
    });
    g.bench_function("decode", |b| {
        b.iter(|| {
            let mut acc = 0.0;
            for c in &encoded {
                for s in c.iter() {
                    acc += s.v;
                }
            }
            acc
        })
    });
    g.finish();
}

fn labels() -> Vec<Labels> {
    let cfg = GenConfig {
        series: SERIES,
        samples_per_series: 1,
        ..GenConfig::default()
    };
    (0..SERIES).map(|i| series(&cfg, i).0).collect()
}

fn head(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let db = Tsdb::open(
        dir.path(),
        TsdbOptions {
            wal_sync: WalSync::Never,
            ..TsdbOptions::default()
        },
    )
    .unwrap();
    let labels = labels();
    let refs: Vec<Vec<LabelRef<'_>>> = labels.iter().map(|l| l.as_refs()).collect();
    let mut t = 1_700_000_000_000i64;
    // Create the series (one scrape), remembering references.
    let mut ids = Vec::with_capacity(SERIES);
    {
        let mut app = db.appender();
        for r in &refs {
            ids.push(app.append(r, t, 1.0).unwrap());
        }
        app.commit().unwrap();
    }
    let mut g = c.benchmark_group("head");
    g.sample_size(10);
    g.throughput(Throughput::Elements(SERIES as u64));
    g.bench_function("append_commit_100k_existing_series", |b| {
        b.iter(|| {
            t += INTERVAL;
            let mut app = db.appender();
            for (i, r) in refs.iter().enumerate() {
                app.append(r, t, i as f64).unwrap();
            }
            app.commit().unwrap()
        })
    });
    g.bench_function("append_ref_commit_100k_existing_series", |b| {
        b.iter(|| {
            t += INTERVAL;
            let mut app = db.appender();
            for (i, r) in ids.iter().enumerate() {
                app.append_ref(SeriesRef(r.0), t, i as f64).unwrap();
            }
            app.commit().unwrap()
        })
    });
    g.finish();
    // Fill to ~120 samples per series for the select benchmarks.
    let have = db.stats().head.samples_appended / SERIES as u64;
    for _ in have..120 {
        t += INTERVAL;
        let mut app = db.appender();
        for (i, r) in ids.iter().enumerate() {
            app.append_ref(SeriesRef(r.0), t, (i as i64 + t / INTERVAL) as f64)
                .unwrap();
        }
        app.commit().unwrap();
    }
    let st = db.stats();
    let mem = db.head().memory_bytes();
    println!(
        "head: {} series, {} samples, {} chunks, ~{} bytes/series incl. chunks, wal {} bytes",
        st.head.num_series,
        st.head.samples_appended,
        st.head.chunks,
        mem / st.head.num_series.max(1),
        st.wal_size_bytes
    );
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
        println!("select {name}: {n_series} series, {n_samples} samples");
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

criterion_group!(benches, chunks, head);
criterion_main!(benches);
