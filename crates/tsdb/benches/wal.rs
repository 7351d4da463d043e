//! WAL throughput: logging 1000-sample batches (a typical scrape) under
//! `WalSync::Never` and `WalSync::Interval(1s)`, in bytes/s and samples/s,
//! and replay speed in samples/s.
//!
//! Run: `cargo bench -p sightline-tsdb --bench wal`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sightline_model::Labels;
use sightline_tsdb::wal::{encode_batch, RefSample, RefSeries, Wal, WalBatch, WalOptions, WalSync};
use std::path::Path;
use std::time::{Duration, Instant};

const SAMPLES: u64 = 1000;

/// Scrape `n` of a 1000-series target: consecutive ids, one timestamp,
/// gauge-like values.
fn batch(n: u64) -> WalBatch {
    let mut b = WalBatch::default();
    let mut x = n.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    for id in 0..SAMPLES {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        b.samples.push(RefSample {
            id: 1_000 + id,
            t: 1_700_000_000_000 + n as i64 * 15_000,
            v: (x % 100_000) as f64 / 8.0,
        });
    }
    b
}

fn series_batch() -> WalBatch {
    let mut b = WalBatch::default();
    for id in 0..SAMPLES {
        b.series.push(RefSeries {
            id: 1_000 + id,
            labels: Labels::from_pairs([
                ("__name__", format!("node_metric_{}", id % 50)),
                ("instance", "host-17:9100".to_string()),
                ("job", "node".to_string()),
                ("cpu", (id % 20).to_string()),
            ]),
        });
    }
    b
}

fn opts(sync: WalSync) -> WalOptions {
    WalOptions {
        sync,
        ..WalOptions::default()
    }
}

fn bench_log(c: &mut Criterion) {
    let batches: Vec<WalBatch> = (0..64).map(batch).collect();
    let mut buf = Vec::new();
    encode_batch(&batches[0], &mut buf);
    let bytes = buf.len() as u64;
    eprintln!(
        "one 1000-sample batch encodes to {bytes} bytes ({:.1} bytes/sample)",
        bytes as f64 / 1000.0
    );

    for (unit, throughput) in [
        ("bytes", Throughput::Bytes(bytes)),
        ("samples", Throughput::Elements(SAMPLES)),
    ] {
        let mut g = c.benchmark_group(format!("wal_log_{unit}"));
        g.throughput(throughput);
        g.measurement_time(Duration::from_secs(4));
        for (name, sync) in [
            ("never", WalSync::Never),
            ("interval_1s", WalSync::Interval(Duration::from_secs(1))),
        ] {
            let tmp = tempfile::tempdir().unwrap();
            let (wal, _) = Wal::open(&tmp.path().join("wal"), opts(sync), &mut |_| {}).unwrap();
            let mut logged = 0u64;
            g.bench_function(BenchmarkId::from_parameter(name), |b| {
                b.iter_custom(|iters| {
                    let mut spent = Duration::ZERO;
                    let mut start = Instant::now();
                    for i in 0..iters {
                        wal.log(&batches[(i % 64) as usize]).unwrap();
                        logged += 1;
                        // Keep the disk footprint bounded (~40 MB), untimed.
                        if logged.is_multiple_of(4096) {
                            spent += start.elapsed();
                            wal.checkpoint(&|_| false, i64::MAX).unwrap();
                            start = Instant::now();
                        }
                    }
                    spent + start.elapsed()
                })
            });
        }
        g.finish();
    }
}

/// `WalSync::Always` with 8 concurrent committers: group commit lets them
/// share fsyncs.
fn bench_log_always(c: &mut Criterion) {
    let batches: Vec<WalBatch> = (0..64).map(batch).collect();
    let mut g = c.benchmark_group("wal_log_samples_always");
    g.throughput(Throughput::Elements(SAMPLES));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(5));
    for threads in [1u64, 8] {
        let tmp = tempfile::tempdir().unwrap();
        let (wal, _) = Wal::open(&tmp.path().join("wal"), opts(WalSync::Always), &mut |_| {}).unwrap();
        let (mut logs, fsyncs_before) = (0u64, wal.fsync_count());
        g.bench_function(BenchmarkId::new("threads", threads), |b| {
            b.iter_custom(|iters| {
                let per = iters.div_ceil(threads);
                logs += per * threads;
                let start = Instant::now();
                std::thread::scope(|s| {
                    for th in 0..threads {
                        let (wal, batches) = (&wal, &batches);
                        s.spawn(move || {
                            for i in 0..per {
                                wal.log(&batches[((th + i) % 64) as usize]).unwrap();
                            }
                        });
                    }
                });
                start.elapsed()
            })
        });
        eprintln!(
            "always, {threads} thread(s): {logs} logs, {} fsyncs",
            wal.fsync_count() - fsyncs_before
        );
    }
    g.finish();
}

fn write_wal(dir: &Path, batches: u64) {
    let (wal, _) = Wal::open(dir, opts(WalSync::Never), &mut |_| {}).unwrap();
    wal.log(&series_batch()).unwrap();
    for n in 0..batches {
        wal.log(&batch(n)).unwrap();
    }
    wal.close().unwrap();
}

fn bench_replay(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("wal");
    let n = 500u64;
    write_wal(&dir, n);
    let mut g = c.benchmark_group("wal_replay");
    g.throughput(Throughput::Elements(n * SAMPLES));
    g.measurement_time(Duration::from_secs(5));
    g.bench_function("500x1000_samples", |b| {
        b.iter(|| {
            let mut samples = 0usize;
            let (wal, stats) = Wal::open(&dir, opts(WalSync::Never), &mut |r| {
                if let sightline_tsdb::wal::Record::Samples(s) = r {
                    samples += s.len();
                }
            })
            .unwrap();
            assert_eq!(stats.samples, n * SAMPLES);
            drop(wal);
            samples
        })
    });
    g.finish();
}

criterion_group!(benches, bench_log, bench_log_always, bench_replay);
criterion_main!(benches);
