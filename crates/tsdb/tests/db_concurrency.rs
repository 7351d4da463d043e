//! Appenders, queriers and maintenance running at the same time: no
//! deadlock, and every sample a commit reports as written is queryable
//! exactly once afterwards (also after a restart).

mod util;

use sightline_model::{AppendError, Storage};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use util::*;

#[test]
fn appends_queries_and_persistence_race_safely() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let written = AtomicU64::new(0);
    let done = AtomicBool::new(false);
    std::thread::scope(|sc| {
        let mut writers = Vec::new();
        for w in 0..3 {
            let (db, written) = (&db, &written);
            writers.push(sc.spawn(move || {
                let mut t = 0;
                while t < 7 * H {
                    let mut app = db.appender();
                    for s in 0..20 {
                        let inst = format!("{w}-{s}");
                        let l = [("__name__", "race"), ("instance", inst.as_str())];
                        match app.append(&refs(&l), t, t as f64) {
                            Ok(_) | Err(AppendError::OutOfBounds(_)) => {}
                            Err(e) => panic!("{e}"),
                        }
                    }
                    written.fetch_add(app.commit().unwrap().samples, Ordering::Relaxed);
                    t += 60_000;
                }
            }));
        }
        let (db2, done2) = (&db, &done);
        sc.spawn(move || {
            while !done2.load(Ordering::Relaxed) {
                db2.persist_head_now().unwrap();
                std::thread::yield_now();
            }
        });
        let (db3, done3) = (&db, &done);
        sc.spawn(move || {
            while !done3.load(Ordering::Relaxed) {
                let got = all(db3);
                for (_, s) in got {
                    assert!(s.windows(2).all(|w| w[0].0 < w[1].0), "sorted, unique");
                }
            }
        });
        for w in writers {
            w.join().unwrap();
        }
        done.store(true, Ordering::Relaxed);
    });
    let total: usize = all(&db).iter().map(|(_, s)| s.len()).sum();
    assert_eq!(total as u64, written.load(Ordering::Relaxed));
    assert!(db.stats().blocks >= 1);
    db.close().unwrap();
    drop(db);
    let db = open(dir.path());
    let again: usize = all(&db).iter().map(|(_, s)| s.len()).sum();
    assert_eq!(again, total);
}
