//! WAL repair: torn and corrupt tails are truncated and reported, damage in
//! an older segment drops everything after it, and the repaired log is
//! clean and writable.

use sightline_model::Labels;
use sightline_tsdb::wal::{
    encode_batch, Record, RefSample, RefSeries, ReplayStats, Wal, WalBatch, WalOptions, WalSync,
};
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;

fn opts(segment_size: u64) -> WalOptions {
    WalOptions {
        sync: WalSync::Never,
        segment_size,
    }
}

fn open(dir: &Path, segment_size: u64) -> (Wal, ReplayStats, Vec<Record>) {
    let mut recs = Vec::new();
    let (wal, stats) = Wal::open(dir, opts(segment_size), &mut |r| recs.push(r)).unwrap();
    (wal, stats, recs)
}

fn batch(i: u64) -> WalBatch {
    let mut b = WalBatch::default();
    b.series.push(RefSeries {
        id: i,
        labels: Labels::from_pairs([("__name__", "m"), ("i", &i.to_string())]),
    });
    for k in 0..20 {
        b.samples.push(RefSample {
            id: i,
            t: 1000 * i as i64 + k,
            v: k as f64,
        });
    }
    b
}

fn encoded_len(b: &WalBatch) -> u64 {
    let mut buf = Vec::new();
    encode_batch(b, &mut buf);
    buf.len() as u64
}

/// Series ids whose sample record was replayed.
fn batches_replayed(recs: &[Record]) -> Vec<u64> {
    recs.iter()
        .filter_map(|r| match r {
            Record::Samples(s) => Some(s[0].id),
            _ => None,
        })
        .collect()
}

fn seg(dir: &Path, n: u64) -> std::path::PathBuf {
    dir.join(format!("{n:08}"))
}

fn write_batches(dir: &Path, n: u64, segment_size: u64) -> u64 {
    let (wal, _, _) = open(dir, segment_size);
    for i in 0..n {
        wal.log(&batch(i)).unwrap();
    }
    let last = wal.current_segment();
    drop(wal);
    last
}

/// Reopening a repaired log is clean and appends continue normally.
fn assert_clean_and_writable(dir: &Path, segment_size: u64, want: &[u64]) {
    let (wal, stats, recs) = open(dir, segment_size);
    assert!(stats.corruption.is_none(), "{:?}", stats.corruption);
    assert_eq!(stats.truncated_bytes, 0);
    assert_eq!(batches_replayed(&recs), want);
    wal.log(&batch(999)).unwrap();
    drop(wal);
    let (_, stats, recs) = open(dir, segment_size);
    assert!(stats.corruption.is_none());
    let mut want = want.to_vec();
    want.push(999);
    assert_eq!(batches_replayed(&recs), want);
}

#[test]
fn every_truncation_inside_the_last_record_is_repaired() {
    let tmp = tempfile::tempdir().unwrap();
    let full = write_batches(tmp.path(), 5, 1 << 20);
    assert_eq!(full, 1);
    let path = seg(tmp.path(), 1);
    let bytes = fs::read(&path).unwrap();
    let good: u64 = (0..4).map(|i| encoded_len(&batch(i))).sum();
    // Samples record of the last batch is its last frame.
    let mut series_only = batch(4);
    series_only.samples.clear();
    let last_series_end = good + encoded_len(&series_only);
    for cut in (last_series_end + 1..bytes.len() as u64).step_by(7) {
        let d = tempfile::tempdir().unwrap();
        fs::write(seg(d.path(), 1), &bytes[..cut as usize]).unwrap();
        let (wal, stats, recs) = open(d.path(), 1 << 20);
        drop(wal);
        assert_eq!(batches_replayed(&recs), vec![0, 1, 2, 3], "cut at {cut}");
        // The series record of batch 4 survived.
        assert!(matches!(recs.last(), Some(Record::Series(s)) if s[0].id == 4));
        assert_eq!(stats.truncated_bytes, cut - last_series_end, "cut at {cut}");
        let c = stats.corruption.expect("reported");
        assert!(c.contains("torn record") || c.contains("length"), "{c}");
        assert_eq!(fs::metadata(seg(d.path(), 1)).unwrap().len(), last_series_end);
        assert_clean_and_writable(d.path(), 1 << 20, &[0, 1, 2, 3]);
    }
}

#[test]
fn flipped_byte_in_the_last_record_is_repaired() {
    let tmp = tempfile::tempdir().unwrap();
    write_batches(tmp.path(), 5, 1 << 20);
    let path = seg(tmp.path(), 1);
    let bytes = fs::read(&path).unwrap();
    let mut series_only = batch(4);
    series_only.samples.clear();
    let start = (0..4).map(|i| encoded_len(&batch(i))).sum::<u64>() + encoded_len(&series_only);
    for pos in (start as usize..bytes.len()).step_by(5) {
        let d = tempfile::tempdir().unwrap();
        let mut b = bytes.clone();
        b[pos] ^= 0x40;
        fs::write(seg(d.path(), 1), &b).unwrap();
        let (wal, stats, recs) = open(d.path(), 1 << 20);
        drop(wal);
        assert_eq!(batches_replayed(&recs), vec![0, 1, 2, 3], "flip at {pos}");
        assert_eq!(stats.truncated_bytes, bytes.len() as u64 - start);
        assert!(stats.corruption.is_some());
        assert_clean_and_writable(d.path(), 1 << 20, &[0, 1, 2, 3]);
    }
}

#[test]
fn damage_in_an_early_segment_keeps_the_prefix_and_drops_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let size = 2048;
    let last = write_batches(tmp.path(), 60, size);
    assert!(last >= 5, "{last}");
    // Which batches live in segments 1 and 2?
    let (wal, _, recs) = open(tmp.path(), size);
    drop(wal);
    let all = batches_replayed(&recs);
    assert_eq!(all, (0..60).collect::<Vec<_>>());
    let seg1 = fs::metadata(seg(tmp.path(), 1)).unwrap().len();
    let mut in_seg1 = 0;
    let mut acc = 0;
    while acc < seg1 {
        acc += encoded_len(&batch(in_seg1));
        in_seg1 += 1;
    }
    assert_eq!(acc, seg1);
    // Segment 2 starts with batch `in_seg1`.
    let per = encoded_len(&batch(in_seg1));
    // Corrupt the 2nd batch of segment 2 (its series record's payload).
    let p2 = seg(tmp.path(), 2);
    let mut b = fs::read(&p2).unwrap();
    let seg2_len = b.len() as u64;
    b[(per + 12) as usize] ^= 0xff;
    fs::write(&p2, &b).unwrap();
    let later: u64 = (3..=last)
        .map(|n| fs::metadata(seg(tmp.path(), n)).unwrap().len())
        .sum();

    let (wal, stats, recs) = open(tmp.path(), size);
    drop(wal);
    let want: Vec<u64> = (0..in_seg1 + 1).collect();
    assert_eq!(batches_replayed(&recs), want);
    assert_eq!(stats.truncated_bytes, seg2_len - per + later);
    let c = stats.corruption.unwrap();
    assert!(c.contains("00000002") && c.contains("CRC"), "{c}");
    assert!(c.contains(&format!("removed {} later segment", last - 2)), "{c}");
    for n in 3..=last {
        assert!(!seg(tmp.path(), n).exists(), "segment {n} should be gone");
    }
    assert_eq!(fs::metadata(&p2).unwrap().len(), per);
    assert_clean_and_writable(tmp.path(), size, &want);
}

#[test]
fn zero_filled_and_garbage_tails_are_cut() {
    for tail in [
        vec![0u8; 4096],
        (0..3000u32).map(|i| (i * 7919 % 251) as u8).collect::<Vec<u8>>(),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        write_batches(tmp.path(), 3, 1 << 20);
        let path = seg(tmp.path(), 1);
        let good = fs::metadata(&path).unwrap().len();
        OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(&tail)
            .unwrap();
        let (wal, stats, recs) = open(tmp.path(), 1 << 20);
        drop(wal);
        assert_eq!(batches_replayed(&recs), vec![0, 1, 2]);
        assert_eq!(stats.truncated_bytes, tail.len() as u64);
        assert!(stats.corruption.is_some());
        assert_eq!(fs::metadata(&path).unwrap().len(), good);
        assert_clean_and_writable(tmp.path(), 1 << 20, &[0, 1, 2]);
    }
}

#[test]
fn a_header_only_tail_is_cut() {
    let tmp = tempfile::tempdir().unwrap();
    write_batches(tmp.path(), 2, 1 << 20);
    let path = seg(tmp.path(), 1);
    // A plausible header (len 100) with no body.
    OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(&[100, 0, 0, 0, 1, 2, 3, 4, 2])
        .unwrap();
    let (_wal, stats, recs) = open(tmp.path(), 1 << 20);
    assert_eq!(batches_replayed(&recs), vec![0, 1]);
    assert_eq!(stats.truncated_bytes, 9);
    assert!(stats.corruption.unwrap().contains("torn record"));
}

#[test]
fn gaps_between_segments_are_reported_but_later_data_is_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let last = write_batches(tmp.path(), 40, 2048);
    assert!(last >= 4);
    fs::remove_file(seg(tmp.path(), 2)).unwrap();
    let (_wal, stats, recs) = open(tmp.path(), 2048);
    let c = stats.corruption.unwrap();
    assert!(c.contains("missing"), "{c}");
    let got = batches_replayed(&recs);
    assert_eq!(got.last(), Some(&39));
    assert!(got.len() < 40);
}

#[test]
fn leftover_temporary_checkpoints_are_removed() {
    let tmp = tempfile::tempdir().unwrap();
    write_batches(tmp.path(), 2, 1 << 20);
    let junk = tmp.path().join("checkpoint.00000007.tmp");
    fs::create_dir(&junk).unwrap();
    fs::write(junk.join("00000000"), b"partial").unwrap();
    let (_wal, stats, recs) = open(tmp.path(), 1 << 20);
    assert!(!junk.exists());
    assert!(stats.corruption.is_none());
    assert_eq!(batches_replayed(&recs), vec![0, 1]);
}

/// Property-style: whatever bytes a segment holds (random, or a valid log
/// with random damage), open succeeds, and the repaired log reopens clean.
#[test]
fn open_never_fails_on_arbitrary_segment_bytes() {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let tmp = tempfile::tempdir().unwrap();
    write_batches(tmp.path(), 8, 1 << 20);
    let valid = fs::read(seg(tmp.path(), 1)).unwrap();
    for round in 0..300 {
        let d = tempfile::tempdir().unwrap();
        let bytes: Vec<u8> = if round % 3 == 0 {
            (0..rnd() % 2000).map(|_| rnd() as u8).collect()
        } else {
            let mut b = valid[..(rnd() as usize % (valid.len() + 1))].to_vec();
            for _ in 0..rnd() % 4 {
                if !b.is_empty() {
                    let i = rnd() as usize % b.len();
                    b[i] = rnd() as u8;
                }
            }
            b
        };
        fs::write(seg(d.path(), 1), &bytes).unwrap();
        fs::write(seg(d.path(), 2), &valid).unwrap();
        let (wal, stats, _) = open(d.path(), 1 << 20);
        drop(wal);
        let len = fs::metadata(seg(d.path(), 1)).unwrap().len();
        assert!(len <= bytes.len() as u64);
        if stats.truncated_bytes == 0 {
            assert_eq!(len, bytes.len() as u64);
            assert!(seg(d.path(), 2).exists());
        } else {
            assert!(stats.corruption.is_some());
            assert!(!seg(d.path(), 2).exists(), "later segment removed");
            assert_eq!(
                stats.truncated_bytes,
                bytes.len() as u64 - len + valid.len() as u64
            );
        }
        let (_, again, _) = open(d.path(), 1 << 20);
        assert!(
            again.corruption.is_none(),
            "round {round}: {:?}",
            again.corruption
        );
        assert_eq!(again.truncated_bytes, 0);
    }
}
