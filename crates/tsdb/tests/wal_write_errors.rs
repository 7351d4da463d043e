//! A failed write(2) (here: EFBIG from RLIMIT_FSIZE, the same path as
//! ENOSPC) is rolled back, so records written after the failure are not
//! stranded behind a torn one.
//!
//! Runs in a child process (this test binary re-executed with `CHILD_ENV`)
//! because the file size limit applies to the whole process.

#![cfg(target_os = "linux")]

use sightline_model::Labels;
use sightline_tsdb::wal::{Record, RefSample, RefSeries, Wal, WalBatch, WalOptions, WalSync};
use std::io::Write;
use std::process::Command;

const CHILD_ENV: &str = "SIGHTLINE_WAL_EFBIG_DIR";
const LIMIT: u64 = 64 << 10;

fn batch(i: u64) -> WalBatch {
    let mut b = WalBatch::default();
    b.series.push(RefSeries {
        id: i,
        labels: Labels::from_pairs([("__name__", "efbig"), ("i", &i.to_string())]),
    });
    for k in 0..300 {
        b.samples.push(RefSample {
            id: i,
            t: k,
            v: k as f64,
        });
    }
    b
}

fn set_fsize(limit: u64) {
    let r = libc::rlimit {
        rlim_cur: limit as libc::rlim_t,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: plain syscalls with valid arguments.
    unsafe {
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &r), 0);
    }
}

#[test]
fn efbig_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else { return };
    // SAFETY: ignoring SIGXFSZ makes oversized writes fail with EFBIG.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    let opts = WalOptions {
        sync: WalSync::Never,
        segment_size: 1 << 20,
    };
    let (wal, _) = Wal::open(std::path::Path::new(&dir), opts, &mut |_| {}).unwrap();
    set_fsize(LIMIT);
    let mut out = std::io::stdout().lock();
    // Start on a fresh line: libtest has printed "test efbig_child ... ".
    writeln!(out).unwrap();
    let mut i = 0;
    let mut failures = 0;
    while failures < 2 {
        match wal.log(&batch(i)) {
            Ok(()) => writeln!(out, "ack {i}").unwrap(),
            Err(e) => {
                writeln!(out, "err {i} {e}").unwrap();
                failures += 1;
            }
        }
        i += 1;
    }
    set_fsize(u64::MAX);
    for _ in 0..5 {
        wal.log(&batch(i)).unwrap();
        writeln!(out, "ack {i}").unwrap();
        i += 1;
    }
    wal.close().unwrap();
    writeln!(out, "done").unwrap();
}

#[test]
fn failed_writes_are_rolled_back() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "efbig_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, tmp.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("done"),
        "child failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let acked: Vec<u64> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("ack "))
        .map(|n| n.parse().unwrap())
        .collect();
    let errs = stdout.lines().filter(|l| l.starts_with("err ")).count();
    assert_eq!(errs, 2, "{stdout}");
    assert!(acked.len() > 5);

    let mut got = Vec::new();
    let (_wal, stats) = Wal::open(tmp.path(), WalOptions::default(), &mut |r| {
        if let Record::Samples(s) = r {
            got.push(s[0].id);
        }
    })
    .unwrap();
    assert!(stats.corruption.is_none(), "{:?}", stats.corruption);
    assert_eq!(
        got, acked,
        "exactly the acknowledged batches, the ones after the failures included"
    );
}
