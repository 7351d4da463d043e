//! Head benchmarks: chunk encode/decode, append+commit into a head of 100k
//! node-exporter-like series (samples/s, WAL included with `WalSync::Never`).
//! Select is in `benches/select.rs`.
//!
//! `cargo bench -p sightline-tsdb --bench head`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sightline_model::{LabelRef, Labels, SeriesRef, Storage};
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
    // Label bytes laid out contiguously in request order, as a decoded
    // remote-write or scrape buffer holds them.
    let labels = labels();
    let mut arena = String::new();
    let mut spans = Vec::new();
    for l in &labels {
        let mut one = Vec::new();
        for p in l.iter() {
            let n0 = arena.len();
            arena.push_str(p.name);
            let v0 = arena.len();
            arena.push_str(p.value);
            one.push((n0, v0, arena.len()));
        }
        spans.push(one);
    }
    drop(labels);
    let refs: Vec<Vec<LabelRef<'_>>> = spans
        .iter()
        .map(|one| {
            one.iter()
                .map(|&(n0, v0, e)| LabelRef::new(&arena[n0..v0], &arena[v0..e]))
                .collect()
        })
        .collect();
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
    let st = db.stats();
    println!(
        "head: {} series with one sample each: ~{} bytes/series (labels interned), {} interned-label pairs",
        st.head.num_series,
        db.head().memory_bytes() / st.head.num_series.max(1),
        db.head_cardinality(0).num_label_pairs
    );
    // CPU time per sample (this thread only), less sensitive to a busy
    // machine than wall-clock figures.
    let rounds = 10;
    let cpu0 = thread_cpu_ns();
    for _ in 0..rounds {
        t += INTERVAL;
        let mut app = db.appender();
        for (i, r) in refs.iter().enumerate() {
            app.append(r, t, i as f64).unwrap();
        }
        app.commit().unwrap();
    }
    let cpu1 = thread_cpu_ns();
    for _ in 0..rounds {
        t += INTERVAL;
        let mut app = db.appender();
        for (i, r) in ids.iter().enumerate() {
            app.append_ref(*r, t, i as f64).unwrap();
        }
        app.commit().unwrap();
    }
    let cpu2 = thread_cpu_ns();
    let per = (rounds * SERIES) as f64;
    println!(
        "head: thread CPU per sample: append+commit {:.0} ns, append_ref+commit {:.0} ns",
        (cpu1 - cpu0) as f64 / per,
        (cpu2 - cpu1) as f64 / per
    );
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
    let st = db.stats();
    println!(
        "head: {} series, {} samples, {} chunks, ~{} bytes/series incl. chunks, wal {} bytes",
        st.head.num_series,
        st.head.samples_appended,
        st.head.chunks,
        db.head().memory_bytes() / st.head.num_series.max(1),
        st.wal_size_bytes
    );
    db.close().unwrap();
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

criterion_group!(benches, chunks, head);
criterion_main!(benches);
