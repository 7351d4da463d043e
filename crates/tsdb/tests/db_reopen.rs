//! Data survives restart: WAL replay into the head, blocks reopened, and
//! both together after persisting.

mod util;

use sightline_model::{AppendError, MetricMetadata, MetricType, Storage};
use util::*;

fn sample_data(db: &sightline_tsdb::Tsdb, from: i64, to: i64) {
    let mut t = from;
    while t < to {
        let mut app = db.appender();
        for i in 0..25 {
            let inst = format!("host{i}");
            let l = [
                ("__name__", "node_load1"),
                ("instance", inst.as_str()),
                ("job", "node"),
            ];
            let v = if i == 3 && t % (7 * 60_000) == 0 {
                sightline_model::stale_nan()
            } else {
                (t as f64).sin() * i as f64
            };
            app.append(&refs(&l), t, v).unwrap();
        }
        app.commit().unwrap();
        t += 30_000;
    }
}

#[test]
fn wal_replay_restores_the_head() {
    let dir = tempfile::tempdir().unwrap();
    let (before, meta, stats) = {
        let db = open_with(dir.path(), |o| o.ooo_window_ms = H);
        sample_data(&db, 0, H);
        // Out-of-order samples and metadata are replayed too.
        write(
            &db,
            &[("__name__", "node_load1"), ("instance", "host0"), ("job", "node")],
            &[(15_000, 9.0)],
        );
        let mut app = db.appender();
        let md = MetricMetadata {
            metric_type: MetricType::Gauge,
            help: "1m load average.".into(),
            unit: String::new(),
        };
        app.set_metadata("node_load1", &md);
        app.commit().unwrap();
        // A rolled-back batch leaves nothing behind.
        let mut app = db.appender();
        app.append(&refs(&[("__name__", "rolled_back")]), 5, 1.0).unwrap();
        app.rollback();
        let out = (all(&db), db.metadata(), db.stats());
        db.close().unwrap();
        out
    };
    let db = open_with(dir.path(), |o| o.ooo_window_ms = H);
    let after = all(&db);
    assert_eq!(before.len(), 25);
    assert_eq!(before, after);
    assert_eq!(db.metadata(), meta);
    let st = db.stats();
    // The rolled-back batch's empty series is not in the WAL.
    assert_eq!(stats.head.num_series, 26);
    assert_eq!(st.head.num_series, 25);
    assert_eq!(st.head.min_t, stats.head.min_t);
    assert_eq!(st.head.max_t, stats.head.max_t);
    assert_eq!(st.wal_replay.samples, 25 * 120 + 1);
    assert_eq!(st.head.samples_appended, 0, "replay is not counted as appended");
    assert_eq!(st.head.chunks, db.head().count_chunks());
    assert!(st.wal_replay.corruption.is_none());
    // Replayed series keep rejecting duplicates and continue in order.
    let mut app = db.appender();
    let l = [("__name__", "node_load1"), ("instance", "host1"), ("job", "node")];
    assert!(matches!(
        app.append(&refs(&l), H - 30_000, 12345.0),
        Err(AppendError::DuplicateTimestamp(_))
    ));
    app.append(&refs(&l), H, 1.0).unwrap();
    // New series get ids that do not collide with replayed ones.
    app.append(&refs(&[("__name__", "fresh")]), H, 1.0).unwrap();
    assert_eq!(app.commit().unwrap().new_series, 1);
    assert_eq!(all(&db).len(), 26);
}

#[test]
fn reopen_after_persisting_merges_blocks_and_wal() {
    let dir = tempfile::tempdir().unwrap();
    let before = {
        let db = open(dir.path());
        sample_data(&db, 0, 5 * H);
        assert_eq!(db.persist_head_now().unwrap(), 2);
        sample_data(&db, 5 * H, 5 * H + 10 * 60_000);
        let out = all(&db);
        db.close().unwrap();
        out
    };
    let db = open(dir.path());
    assert_eq!(db.stats().blocks, 2);
    // Samples already in blocks are not replayed into the head again.
    assert_eq!(db.stats().head.min_t, Some(4 * H));
    assert_eq!(db.stats().head.min_valid_t, 4 * H);
    assert_eq!(all(&db), before);
    // Third generation: persist again after restart.
    sample_data(&db, 5 * H + 10 * 60_000, 7 * H);
    db.persist_head_now().unwrap();
    let q = all(&db);
    assert_eq!(q.len(), 25);
    assert_eq!(q[0].1.len(), (7 * H / 30_000) as usize);
}

#[test]
fn many_restarts_keep_every_sample() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = 0;
    for round in 0..4 {
        let db = open(dir.path());
        for _ in 0..50 {
            write(
                &db,
                &[("__name__", "counter"), ("round", "all")],
                &[(t, t as f64)],
            );
            t += 1000;
        }
        let got = all(&db);
        assert_eq!(got[0].1.len(), 50 * (round + 1));
        db.close().unwrap();
    }
}

#[test]
fn metadata_survives_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let md = MetricMetadata {
        metric_type: MetricType::Counter,
        help: "Requests.".into(),
        unit: String::new(),
    };
    {
        let db = open(dir.path());
        let mut app = db.appender();
        app.set_metadata("node_load1", &md);
        app.commit().unwrap();
        sample_data(&db, 0, 5 * H);
        assert_eq!(db.persist_head_now().unwrap(), 2);
        db.close().unwrap();
    }
    let db = open(dir.path());
    assert_eq!(db.metadata(), vec![("node_load1".to_string(), md)]);
}
