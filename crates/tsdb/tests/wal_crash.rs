//! Crash safety: a child process logs batches (and checkpoints now and
//! then), printing each batch number once `log` has returned; the parent
//! kills it with SIGKILL at an arbitrary point and checks that every
//! acknowledged batch replays.
//!
//! The child is this test binary re-executed with `CHILD_ENV` set, running
//! only the `crash_child` test.

use sightline_model::Labels;
use sightline_tsdb::wal::{Record, RefSample, RefSeries, Wal, WalBatch, WalOptions, WalSync};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

const CHILD_ENV: &str = "SIGHTLINE_WAL_CRASH_DIR";
const MODE_ENV: &str = "SIGHTLINE_WAL_CRASH_MODE";

fn opts(mode: &str) -> WalOptions {
    let sync = match mode {
        "always" => WalSync::Always,
        "interval" => WalSync::Interval(Duration::from_millis(20)),
        _ => WalSync::Never,
    };
    WalOptions {
        sync,
        segment_size: 16 << 10,
    }
}

fn batch(i: u64) -> WalBatch {
    let mut b = WalBatch::default();
    b.series.push(RefSeries {
        id: i,
        labels: Labels::from_pairs([("__name__", "crash_test"), ("batch", &i.to_string())]),
    });
    for k in 0..10 {
        b.samples.push(RefSample {
            id: i,
            t: k,
            v: i as f64,
        });
    }
    b
}

/// The child: runs only when re-executed by the parent.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else { return };
    let mode = std::env::var(MODE_ENV).unwrap_or_default();
    let mut next = 0u64;
    let (wal, _) = Wal::open(std::path::Path::new(&dir), opts(&mode), &mut |r| {
        if let Record::Series(s) = r {
            next = next.max(s.iter().map(|s| s.id + 1).max().unwrap_or(0));
        }
    })
    .unwrap();
    let mut out = std::io::stdout().lock();
    // Start on a fresh line: libtest has printed "test crash_child ... ".
    writeln!(out).unwrap();
    for i in next.. {
        wal.log(&batch(i)).unwrap();
        writeln!(out, "ack {i}").unwrap();
        out.flush().unwrap();
        if i % 97 == 96 {
            wal.checkpoint(&|_| true, i64::MIN).unwrap();
        }
    }
}

/// Runs a child until it has acknowledged `acks` batches, kills it with
/// SIGKILL and returns every batch number it acknowledged.
fn run_and_kill(dir: &std::path::Path, mode: &str, acks: u64) -> BTreeSet<u64> {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, dir)
        .env(MODE_ENV, mode)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acked = BTreeSet::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("ack ") {
            acked.insert(n.parse::<u64>().unwrap());
            if acked.len() as u64 >= acks {
                break;
            }
        }
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    // Acks printed before the kill landed are acknowledged too.
    for line in lines {
        let Ok(line) = line else { break };
        if let Some(n) = line.strip_prefix("ack ") {
            acked.insert(n.parse::<u64>().unwrap());
        }
    }
    assert!(
        acked.len() as u64 >= acks,
        "child died early: {} acks",
        acked.len()
    );
    acked
}

fn replayed(dir: &std::path::Path, mode: &str) -> BTreeSet<u64> {
    let mut counts = std::collections::BTreeMap::<u64, usize>::new();
    let mut series = BTreeSet::new();
    let (_wal, _stats) = Wal::open(dir, opts(mode), &mut |r| match r {
        Record::Series(s) => series.extend(s.iter().map(|s| s.id)),
        Record::Samples(s) => {
            for s in s {
                assert!(series.contains(&s.id), "samples before their series");
                *counts.entry(s.id).or_default() += 1;
            }
        }
        Record::Metadata(_) => {}
    })
    .unwrap();
    for (id, n) in &counts {
        assert_eq!(*n, 10, "batch {id} replayed partially");
    }
    counts.into_keys().collect()
}

#[test]
fn kill_9_loses_nothing_acknowledged() {
    for (mode, acks) in [("never", 700), ("interval", 500), ("always", 150)] {
        let tmp = tempfile::tempdir().unwrap();
        let mut all_acked = BTreeSet::new();
        // Kill twice so the second run also recovers from the first crash.
        for round in 0..2 {
            let acked = run_and_kill(tmp.path(), mode, acks);
            all_acked.extend(acked);
            let got = replayed(tmp.path(), mode);
            let missing: Vec<_> = all_acked.difference(&got).take(10).collect();
            assert!(
                missing.is_empty(),
                "{mode} round {round}: acknowledged batches lost: {missing:?}"
            );
            // What replays is a gap-free prefix (the last batch may be unacknowledged).
            let max = *got.iter().next_back().unwrap();
            eprintln!(
                "{mode} round {round}: {} acknowledged, {} replayed",
                all_acked.len(),
                got.len()
            );
            assert_eq!(
                got.len() as u64,
                max + 1,
                "{mode} round {round}: gaps in the replayed batches"
            );
        }
    }
}
