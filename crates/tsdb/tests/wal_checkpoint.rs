//! Checkpoints: replay after a checkpoint yields the same head state as
//! replaying the segments it replaced (minus what `keep`/`min_t` drop).

use sightline_model::{Labels, MetricMetadata, MetricType};
use sightline_tsdb::wal::{
    CheckpointStats, Record, RefMetadata, RefSample, RefSeries, Wal, WalBatch, WalOptions, WalSync,
};
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

/// What a head would rebuild from a replay.
#[derive(Debug, Default, PartialEq)]
struct State {
    series: BTreeMap<u64, Labels>,
    samples: BTreeMap<u64, Vec<(i64, u64)>>,
    metadata: BTreeMap<String, MetricMetadata>,
}

impl State {
    fn apply(&mut self, r: Record) {
        match r {
            Record::Series(s) => {
                for s in s {
                    self.series.insert(s.id, s.labels);
                }
            }
            Record::Samples(s) => {
                for s in s {
                    assert!(
                        self.series.contains_key(&s.id),
                        "sample for series {} before its record",
                        s.id
                    );
                    self.samples.entry(s.id).or_default().push((s.t, s.v.to_bits()));
                }
            }
            Record::Metadata(m) => {
                for m in m {
                    self.metadata.insert(m.name, m.meta);
                }
            }
        }
    }

    fn filtered(&self, keep: impl Fn(u64) -> bool, min_t: i64) -> State {
        State {
            series: self
                .series
                .iter()
                .filter(|(id, _)| keep(**id))
                .map(|(k, v)| (*k, v.clone()))
                .collect(),
            samples: self
                .samples
                .iter()
                .filter(|(id, _)| keep(**id))
                .map(|(id, v)| {
                    (
                        *id,
                        v.iter().copied().filter(|(t, _)| *t >= min_t).collect::<Vec<_>>(),
                    )
                })
                .filter(|(_, v)| !v.is_empty())
                .collect(),
            metadata: self.metadata.clone(),
        }
    }
}

fn opts() -> WalOptions {
    WalOptions {
        sync: WalSync::Never,
        segment_size: 4096,
    }
}

fn open(dir: &Path) -> (Wal, State) {
    let mut st = State::default();
    let (wal, stats) = Wal::open(dir, opts(), &mut |r| st.apply(r)).unwrap();
    assert!(stats.corruption.is_none(), "{:?}", stats.corruption);
    (wal, st)
}

/// Batch `i` creates series `i` and writes one sample at t = i to each of the
/// last five series; every 7th batch updates metadata of family `f{i%3}`.
fn batch(i: u64) -> WalBatch {
    let mut b = WalBatch::default();
    b.series.push(RefSeries {
        id: i,
        labels: Labels::from_pairs([("__name__", format!("f{}", i % 3)), ("id", i.to_string())]),
    });
    for id in i.saturating_sub(4)..=i {
        b.samples.push(RefSample {
            id,
            t: i as i64,
            v: (i * 100 + id) as f64,
        });
    }
    if i.is_multiple_of(7) {
        b.metadata.push(RefMetadata {
            name: format!("f{}", i % 3),
            meta: MetricMetadata {
                metric_type: MetricType::Counter,
                help: format!("version {i}"),
                unit: String::new(),
            },
        });
    }
    b
}

fn log_range(wal: &Wal, r: std::ops::Range<u64>) {
    for i in r {
        wal.log(&batch(i)).unwrap();
    }
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

#[test]
fn checkpoint_keeping_everything_replays_the_same_state() {
    let tmp = tempfile::tempdir().unwrap();
    let (wal, _) = open(tmp.path());
    log_range(&wal, 0..200);
    let segs_before = wal.current_segment();
    assert!(segs_before > 3);
    drop(wal);
    let (wal, before) = open(tmp.path());

    let stats = wal.checkpoint(&|_| true, i64::MIN).unwrap();
    assert_eq!(
        stats,
        CheckpointStats {
            dropped_series: 0,
            dropped_samples: 0,
            kept_series: 200,
            kept_samples: before.samples.values().map(|v| v.len() as u64).sum(),
            segments_deleted: segs_before,
        }
    );
    let last = wal.current_segment() - 1;
    assert_eq!(
        names(tmp.path()),
        vec![format!("{:08}", last + 1), format!("checkpoint.{last:08}")]
    );
    drop(wal);
    let (_, after) = open(tmp.path());
    assert_eq!(after, before);
}

#[test]
fn checkpoint_drops_series_and_old_samples_and_keeps_latest_metadata() {
    let tmp = tempfile::tempdir().unwrap();
    let (wal, _) = open(tmp.path());
    log_range(&wal, 0..150);
    let size_before = wal.size_bytes();
    let keep = |id: u64| id.is_multiple_of(2) || id >= 140;
    let min_t = 100;
    let stats = wal.checkpoint(&keep, min_t).unwrap();
    assert_eq!(stats.kept_series, 75 + 5);
    assert_eq!(stats.dropped_series, 150 - 80);
    assert!(stats.dropped_samples > 0 && stats.kept_samples > 0);
    assert!(wal.size_bytes() < size_before);
    // Writes after the checkpoint are untouched by it.
    log_range(&wal, 150..170);
    drop(wal);

    let mut full = State::default();
    for i in 0..170 {
        let b = batch(i);
        full.apply(Record::Series(b.series));
        full.apply(Record::Samples(b.samples));
        if !b.metadata.is_empty() {
            full.apply(Record::Metadata(b.metadata));
        }
    }
    let (_, got) = open(tmp.path());
    // Series 150..170 were logged after the checkpoint: all kept.
    let mut want = full.filtered(|id| keep(id) || id >= 150, min_t);
    // Samples at t >= 150 were logged after the checkpoint, whatever their series.
    for (id, v) in &full.samples {
        for &(t, bits) in v {
            if t >= 150 && !want.samples.get(id).is_some_and(|w| w.contains(&(t, bits))) {
                want.samples.entry(*id).or_default().push((t, bits));
            }
        }
    }
    for v in want.samples.values_mut() {
        v.sort();
    }
    // Samples of dropped series logged after the checkpoint reference series
    // the checkpoint dropped; the head would ignore them. Mirror that.
    want.samples.retain(|id, _| want.series.contains_key(id));
    let mut got = got;
    for v in got.samples.values_mut() {
        v.sort();
    }
    assert_eq!(got.series, want.series);
    assert_eq!(got.samples, want.samples);
    assert_eq!(got.metadata, full.metadata);
    assert_eq!(got.metadata["f0"].help, "version 168");
}

#[test]
fn a_second_checkpoint_folds_in_the_first() {
    let tmp = tempfile::tempdir().unwrap();
    let (wal, _) = open(tmp.path());
    log_range(&wal, 0..80);
    wal.checkpoint(&|_| true, i64::MIN).unwrap();
    let first = names(tmp.path())
        .into_iter()
        .find(|n| n.starts_with("checkpoint."))
        .unwrap();
    log_range(&wal, 80..160);
    let s = wal.checkpoint(&|_| true, i64::MIN).unwrap();
    assert_eq!(s.kept_series, 160);
    let now = names(tmp.path());
    assert!(!now.contains(&first), "{now:?}");
    assert_eq!(now.iter().filter(|n| n.starts_with("checkpoint.")).count(), 1);
    // Checkpointing again right away has nothing to fold in.
    assert_eq!(
        wal.checkpoint(&|_| true, i64::MIN).unwrap(),
        CheckpointStats::default()
    );
    drop(wal);
    let (_, got) = open(tmp.path());
    let mut want = State::default();
    for i in 0..160 {
        let b = batch(i);
        want.apply(Record::Series(b.series));
        want.apply(Record::Samples(b.samples));
        if !b.metadata.is_empty() {
            want.apply(Record::Metadata(b.metadata));
        }
    }
    assert_eq!(got, want);
}

#[test]
fn checkpoint_of_an_empty_wal_does_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (wal, _) = open(tmp.path());
    assert_eq!(wal.checkpoint(&|_| true, 0).unwrap(), CheckpointStats::default());
    assert_eq!(names(tmp.path()), vec!["00000001".to_string()]);
}

#[test]
fn leftovers_of_an_interrupted_cleanup_are_removed_at_open() {
    let tmp = tempfile::tempdir().unwrap();
    let (wal, _) = open(tmp.path());
    log_range(&wal, 0..50);
    drop(wal);
    let saved: Vec<(String, Vec<u8>)> = names(tmp.path())
        .into_iter()
        .map(|n| {
            let b = fs::read(tmp.path().join(&n)).unwrap();
            (n, b)
        })
        .collect();
    let (wal, before) = open(tmp.path());
    wal.checkpoint(&|_| true, i64::MIN).unwrap();
    drop(wal);
    // As if the process died after the rename but before deleting segments.
    for (n, b) in &saved {
        fs::write(tmp.path().join(n), b).unwrap();
    }
    let (_, after) = open(tmp.path());
    assert_eq!(
        after, before,
        "segments covered by the checkpoint must not be replayed twice"
    );
    for (n, _) in &saved {
        assert!(!tmp.path().join(n).exists(), "{n} should have been deleted");
    }
}

#[test]
fn replay_stats_include_the_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let (wal, _) = open(tmp.path());
    log_range(&wal, 0..30);
    wal.checkpoint(&|_| true, i64::MIN).unwrap();
    log_range(&wal, 30..31);
    drop(wal);
    let (_, stats) = Wal::open(tmp.path(), opts(), &mut |_| {}).unwrap();
    assert_eq!(stats.series, 31);
    assert_eq!(stats.segments, 1);
    assert_eq!(
        stats.samples,
        (0..31).map(|i| batch(i).samples.len() as u64).sum::<u64>()
    );
}

#[test]
fn a_damaged_checkpoint_is_reported_and_its_readable_prefix_replayed() {
    let tmp = tempfile::tempdir().unwrap();
    let (wal, _) = open(tmp.path());
    log_range(&wal, 0..100);
    wal.checkpoint(&|_| true, i64::MIN).unwrap();
    log_range(&wal, 100..110);
    drop(wal);
    let cp = names(tmp.path())
        .into_iter()
        .find(|n| n.starts_with("checkpoint."))
        .unwrap();
    let file = tmp.path().join(&cp).join("00000000");
    let mut b = fs::read(&file).unwrap();
    let n = b.len();
    b[n - 3] ^= 0x55; // inside the last record (metadata)
    fs::write(&file, &b).unwrap();
    let mut st = State::default();
    let (_wal, stats) = Wal::open(tmp.path(), opts(), &mut |r| st.apply(r)).unwrap();
    let c = stats.corruption.unwrap();
    assert!(c.contains(&cp), "{c}");
    assert_eq!(st.series.len(), 110);
    // Metadata came only from the damaged record and the later segment.
    assert!(st.metadata.values().all(|m| m.help == "version 105"));
}

#[test]
fn a_checkpoint_without_its_file_is_reported_not_fatal() {
    let tmp = tempfile::tempdir().unwrap();
    let (wal, _) = open(tmp.path());
    log_range(&wal, 0..40);
    wal.checkpoint(&|_| true, i64::MIN).unwrap();
    log_range(&wal, 40..45);
    drop(wal);
    let cp = names(tmp.path())
        .into_iter()
        .find(|n| n.starts_with("checkpoint."))
        .unwrap();
    fs::remove_file(tmp.path().join(&cp).join("00000000")).unwrap();
    let mut ids = Vec::new();
    let (wal, stats) = Wal::open(tmp.path(), opts(), &mut |r| {
        if let Record::Series(s) = r {
            ids.extend(s.iter().map(|s| s.id));
        }
    })
    .unwrap();
    assert!(stats.corruption.unwrap().contains("missing"));
    assert_eq!(ids, (40..45).collect::<Vec<_>>());
    // The next checkpoint still works and replaces the broken one.
    let s = wal.checkpoint(&|_| true, i64::MIN).unwrap();
    assert_eq!(s.kept_series, 5);
    drop(wal);
    let mut n = 0;
    let (_, stats) = Wal::open(tmp.path(), opts(), &mut |r| {
        if let Record::Series(s) = r {
            n += s.len();
        }
    })
    .unwrap();
    assert!(stats.corruption.is_none());
    assert_eq!(n, 5);
}
