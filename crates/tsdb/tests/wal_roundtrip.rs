//! WAL round trips: write batches, reopen, compare; segment rollover;
//! concurrent writers; sync policies.

use sightline_model::{Labels, MetricMetadata, MetricType};
use sightline_tsdb::wal::{
    Record, RefMetadata, RefSample, RefSeries, ReplayStats, Wal, WalBatch, WalOptions, WalSync,
};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

fn open(dir: &Path, opts: WalOptions) -> (Wal, ReplayStats, Vec<Record>) {
    let mut recs = Vec::new();
    let (wal, stats) = Wal::open(dir, opts, &mut |r| recs.push(r)).unwrap();
    (wal, stats, recs)
}

fn opts(sync: WalSync, segment_size: u64) -> WalOptions {
    WalOptions { sync, segment_size }
}

/// Batch `i`: two new series, samples for them and for older series, and
/// metadata every tenth batch.
fn batch(i: u64) -> WalBatch {
    let mut b = WalBatch::default();
    for k in 0..2 {
        let id = i * 2 + k + 1;
        b.series.push(RefSeries {
            id,
            labels: Labels::from_pairs([
                ("__name__", format!("metric_{}", i % 7)),
                ("instance", format!("host-{id}:9100")),
                ("job", "node".to_string()),
            ]),
        });
    }
    for id in 1..=(i * 2 + 2) {
        if id % 3 == i % 3 || id > i * 2 {
            b.samples.push(RefSample {
                id,
                t: 1_700_000_000_000 + i as i64 * 15_000,
                v: (id as f64) * 0.5 + i as f64,
            });
        }
    }
    if i.is_multiple_of(10) {
        b.metadata.push(RefMetadata {
            name: format!("metric_{}", i % 7),
            meta: MetricMetadata {
                metric_type: MetricType::Gauge,
                help: format!("help for batch {i}"),
                unit: "bytes".into(),
            },
        });
    }
    b
}

/// The records `log(batch)` produces, in order.
fn expected(batches: impl IntoIterator<Item = WalBatch>) -> Vec<Record> {
    let mut out = Vec::new();
    for b in batches {
        if !b.series.is_empty() {
            out.push(Record::Series(b.series));
        }
        if !b.samples.is_empty() {
            out.push(Record::Samples(b.samples));
        }
        if !b.metadata.is_empty() {
            out.push(Record::Metadata(b.metadata));
        }
    }
    out
}

#[test]
fn write_reopen_compare_under_each_policy() {
    for sync in [
        WalSync::Never,
        WalSync::Always,
        WalSync::Interval(Duration::from_millis(5)),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("wal");
        let (wal, stats, recs) = open(&dir, opts(sync, 1 << 20));
        assert!(recs.is_empty());
        assert_eq!(stats.records, 0);
        assert!(stats.corruption.is_none());
        for i in 0..200 {
            wal.log(&batch(i)).unwrap();
        }
        wal.log(&WalBatch::default()).unwrap();
        assert!(wal.size_bytes() > 0);
        wal.close().unwrap();
        assert!(wal.log(&batch(0)).is_err(), "log after close must fail");
        drop(wal);

        let (wal, stats, recs) = open(&dir, opts(sync, 1 << 20));
        let want = expected((0..200).map(batch));
        assert_eq!(recs, want, "{sync:?}");
        assert_eq!(stats.records, want.len() as u64);
        assert_eq!(stats.series, 400);
        assert_eq!(
            stats.samples,
            (0..200).map(|i| batch(i).samples.len() as u64).sum::<u64>()
        );
        assert_eq!(stats.truncated_bytes, 0);
        assert!(stats.corruption.is_none());

        // Appending after reopen continues the log.
        wal.log(&batch(200)).unwrap();
        drop(wal);
        let (_wal, _, recs) = open(&dir, opts(sync, 1 << 20));
        assert_eq!(recs, expected((0..201).map(batch)));
    }
}

#[test]
fn special_float_values_survive_bit_exact() {
    let tmp = tempfile::tempdir().unwrap();
    let vals = [
        f64::NAN,
        sightline_model::stale_nan(),
        -0.0,
        f64::INFINITY,
        f64::MIN_POSITIVE,
    ];
    let (wal, _, _) = open(tmp.path(), WalOptions::default());
    let mut b = WalBatch::default();
    for (i, v) in vals.iter().enumerate() {
        b.samples.push(RefSample {
            id: i as u64,
            t: -(i as i64),
            v: *v,
        });
    }
    wal.log(&b).unwrap();
    drop(wal);
    let (_, _, recs) = open(tmp.path(), WalOptions::default());
    let [Record::Samples(got)] = &recs[..] else {
        panic!("{recs:?}")
    };
    let bits: Vec<u64> = got.iter().map(|s| s.v.to_bits()).collect();
    assert_eq!(bits, vals.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
}

#[test]
fn segments_roll_over_and_replay_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (wal, _, _) = open(dir, opts(WalSync::Never, 4096));
    assert_eq!(wal.current_segment(), 1);
    for i in 0..300 {
        wal.log(&batch(i)).unwrap();
    }
    let last = wal.current_segment();
    assert!(last > 5, "only {last} segments");
    drop(wal);
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let want: Vec<String> = (1..=last).map(|n| format!("{n:08}")).collect();
    assert_eq!(names, want);
    let (wal, stats, recs) = open(dir, opts(WalSync::Never, 4096));
    assert_eq!(stats.segments, last);
    assert_eq!(recs, expected((0..300).map(batch)));
    // A batch larger than a whole segment gets a segment of its own.
    let mut big = WalBatch::default();
    for id in 0..2000 {
        big.samples.push(RefSample {
            id,
            t: id as i64,
            v: 1.0,
        });
    }
    let before = wal.current_segment();
    wal.log(&big).unwrap();
    wal.log(&batch(300)).unwrap();
    assert_eq!(wal.current_segment(), before + 2);
    drop(wal);
    let (_, _, recs) = open(dir, opts(WalSync::Never, 4096));
    let mut want = expected((0..300).map(batch));
    want.push(Record::Samples(big.samples));
    want.extend(expected([batch(300)]));
    assert_eq!(recs, want);
}

#[test]
fn segments_are_cut_at_the_configured_size() {
    let tmp = tempfile::tempdir().unwrap();
    let (wal, _, _) = open(tmp.path(), opts(WalSync::Never, 8192));
    for i in 0..500 {
        wal.log(&batch(i % 20)).unwrap();
    }
    let last = wal.current_segment();
    drop(wal);
    for n in 1..last {
        let len = std::fs::metadata(tmp.path().join(format!("{n:08}")))
            .unwrap()
            .len();
        assert!(len <= 8192 && len > 4096, "segment {n} has {len} bytes");
    }
}

#[test]
fn concurrent_writers_lose_and_tear_nothing() {
    for sync in [WalSync::Always, WalSync::Never] {
        let tmp = tempfile::tempdir().unwrap();
        let (wal, _, _) = open(tmp.path(), opts(sync, 64 << 10));
        let wal = Arc::new(wal);
        let threads = 6u64;
        let per = if sync == WalSync::Always { 60 } else { 400 };
        let handles: Vec<_> = (0..threads)
            .map(|th| {
                let wal = wal.clone();
                std::thread::spawn(move || {
                    let mut b = WalBatch::default();
                    for i in 0..per {
                        b.clear();
                        for k in 0..50u64 {
                            b.samples.push(RefSample {
                                id: th * 1_000_000 + k,
                                t: i as i64,
                                v: (th * 1000 + i) as f64,
                            });
                        }
                        wal.log(&b).unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        wal.sync().unwrap();
        drop(wal);
        let (_, stats, recs) = open(tmp.path(), opts(sync, 64 << 10));
        assert!(stats.corruption.is_none());
        assert_eq!(recs.len() as u64, threads * per);
        // Each thread's batches are whole and in its own order.
        let mut next = vec![0i64; threads as usize];
        for r in recs {
            let Record::Samples(s) = r else {
                panic!("unexpected record")
            };
            assert_eq!(s.len(), 50);
            let th = (s[0].id / 1_000_000) as usize;
            assert!(s.iter().all(|x| x.id / 1_000_000 == th as u64 && x.t == next[th]));
            next[th] += 1;
        }
        assert!(next.iter().all(|&n| n == per as i64));
    }
}

#[test]
fn replay_stats_count_what_was_replayed() {
    let tmp = tempfile::tempdir().unwrap();
    let (wal, _, _) = open(tmp.path(), WalOptions::default());
    for i in 0..10 {
        wal.log(&batch(i)).unwrap();
    }
    drop(wal);
    let (_, stats, _) = open(tmp.path(), WalOptions::default());
    assert_eq!(stats.segments, 1);
    assert_eq!(stats.series, 20);
    assert_eq!(stats.records, expected((0..10).map(batch)).len() as u64);
}

#[test]
fn fsyncs_follow_the_policy() {
    let tmp = tempfile::tempdir().unwrap();
    let (wal, _, _) = open(&tmp.path().join("never"), opts(WalSync::Never, 1 << 20));
    for i in 0..20 {
        wal.log(&batch(i)).unwrap();
    }
    assert_eq!(wal.fsync_count(), 0, "Never does not fsync on log");
    wal.close().unwrap();
    assert_eq!(wal.fsync_count(), 1, "close fsyncs");
    wal.close().unwrap();
    assert_eq!(wal.fsync_count(), 1, "close is idempotent");

    let (wal, _, _) = open(&tmp.path().join("always"), opts(WalSync::Always, 1 << 20));
    wal.log(&batch(0)).unwrap();
    assert_eq!(wal.fsync_count(), 1);
    wal.sync().unwrap();
    assert_eq!(wal.fsync_count(), 1, "nothing new to fsync");
    wal.log(&WalBatch::default()).unwrap();
    assert_eq!(wal.fsync_count(), 1, "an empty batch writes nothing");
    wal.log(&batch(1)).unwrap();
    assert_eq!(wal.fsync_count(), 2);
    wal.close().unwrap();
    assert_eq!(wal.fsync_count(), 2, "close after a synced log needs no fsync");
}

#[test]
fn group_commit_never_needs_more_fsyncs_than_logs() {
    let tmp = tempfile::tempdir().unwrap();
    let (wal, _, _) = open(tmp.path(), opts(WalSync::Always, 1 << 30));
    let wal = Arc::new(wal);
    let (threads, per) = (8u64, 40u64);
    let handles: Vec<_> = (0..threads)
        .map(|th| {
            let wal = wal.clone();
            std::thread::spawn(move || {
                for i in 0..per {
                    wal.log(&batch(th * per + i)).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let fsyncs = wal.fsync_count();
    eprintln!(
        "{} logs under WalSync::Always took {fsyncs} fsyncs",
        threads * per
    );
    assert!(fsyncs >= 1 && fsyncs <= threads * per);
    drop(wal);
    let (_, stats, _) = open(tmp.path(), opts(WalSync::Always, 1 << 30));
    assert_eq!(stats.series, threads * per * 2);
}

#[test]
fn sync_under_never_covers_segments_cut_since_the_last_sync() {
    let tmp = tempfile::tempdir().unwrap();
    let (wal, _, _) = open(tmp.path(), opts(WalSync::Never, 4096));
    for i in 0..100 {
        wal.log(&batch(i)).unwrap();
    }
    let cut = wal.current_segment() - 1;
    assert!(cut >= 2);
    assert_eq!(wal.fsync_count(), 0);
    wal.sync().unwrap();
    assert_eq!(
        wal.fsync_count(),
        cut + 1,
        "every cut segment plus the current one"
    );
    for i in 100..150 {
        wal.log(&batch(i)).unwrap();
    }
    wal.sync().unwrap();
    // Each segment once, plus the current segment at each of the two syncs.
    assert_eq!(wal.fsync_count(), (wal.current_segment() - 1) + 2);
}
