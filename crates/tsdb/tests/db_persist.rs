//! Head persistence into blocks, compaction, retention and the directory
//! lock.

mod util;

use sightline_model::{AppendError, Storage};
use util::*;

/// 40 series, one sample a minute over `[from, to)`.
fn fill(db: &sightline_tsdb::Tsdb, from: i64, to: i64) {
    let mut t = from;
    while t < to {
        let mut app = db.appender();
        for i in 0..40 {
            let inst = format!("host{i}");
            let l = [("__name__", "node_cpu"), ("instance", inst.as_str())];
            app.append(&refs(&l), t, (t / 60_000 + i) as f64).unwrap();
        }
        app.commit().unwrap();
        t += 60_000;
    }
}

fn expected(from: i64, to: i64) -> Vec<Vec<(i64, u64)>> {
    let mut insts: Vec<usize> = (0..40).collect();
    insts.sort_by_key(|i| format!("host{i}"));
    insts
        .into_iter()
        .map(|i| {
            (from..to)
                .step_by(60_000)
                .map(|t| (t, ((t / 60_000 + i as i64) as f64).to_bits()))
                .collect()
        })
        .collect()
}

#[test]
fn persist_then_query_across_head_and_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    fill(&db, 0, 5 * H);
    let before = all(&db);
    assert_eq!(db.persist_head_now().unwrap(), 2, "[0,2h) and [2h,4h)");
    let st = db.stats();
    assert_eq!(st.blocks, 2);
    assert_eq!(st.head.min_t, Some(4 * H));
    assert_eq!(st.head.min_valid_t, 4 * H);
    assert_eq!(st.head.chunks, db.head().count_chunks());
    assert_eq!(st.head.chunks, 40, "one chunk per series for [4h, 5h)");
    let after = all(&db);
    assert_eq!(before, after);
    let got: Vec<_> = after.into_iter().map(|(_, s)| s).collect();
    assert_eq!(got, expected(0, 5 * H));
    // A range spanning one block and the head.
    let part = query(&db, &[name_re("node_cpu")], 3 * H, 4 * H + 60_000);
    assert_eq!(part[0].1.len(), 62);
    // Data in blocks is out of bounds now.
    let mut app = db.appender();
    assert_eq!(
        app.append(&refs(&[("__name__", "node_cpu"), ("instance", "host1")]), H, 1.0),
        Err(AppendError::OutOfBounds(H))
    );
    app.rollback();
    // Nothing more to persist: the newest range stays in the head.
    assert_eq!(db.persist_head_now().unwrap(), 0);
}

#[test]
fn maintenance_persists_when_head_spans_one_and_a_half_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    fill(&db, 0, 3 * H);
    db.maintenance().unwrap();
    assert_eq!(db.stats().blocks, 0, "head spans exactly 3h - 1m < 1.5 x 2h");
    fill(&db, 3 * H, 3 * H + 2 * 60_000);
    db.maintenance().unwrap();
    let st = db.stats();
    assert_eq!(st.blocks, 1);
    assert_eq!(st.blocks_written_total, 1);
    assert_eq!(st.head.min_t, Some(2 * H));
    assert_eq!(
        all(&db).into_iter().map(|(_, s)| s).collect::<Vec<_>>(),
        expected(0, 3 * H + 2 * 60_000)
    );
}

#[test]
fn series_without_head_data_are_dropped_after_persisting() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    write(&db, &[("__name__", "gone")], &[(H, 1.0)]);
    fill(&db, 0, 5 * H);
    assert_eq!(db.stats().head.num_series, 41);
    db.persist_head_now().unwrap();
    assert_eq!(db.stats().head.num_series, 40);
    assert_eq!(db.head_cardinality(10).num_series, 40);
    // Still queryable from the block.
    assert_eq!(
        query(&db, &[name_re("gone")], 0, i64::MAX)[0].1,
        bits(&[(H, 1.0)])
    );
    // A new series with the same labels gets a fresh reference.
    write(&db, &[("__name__", "gone")], &[(5 * H, 2.0)]);
    assert_eq!(
        query(&db, &[name_re("gone")], 0, i64::MAX)[0].1,
        bits(&[(H, 1.0), (5 * H, 2.0)])
    );
}

#[test]
fn compaction_merges_a_complete_window() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    fill(&db, 0, 7 * H);
    // Writes [0,2h) [2h,4h) [4h,6h); the 6h window is complete -> one block.
    assert_eq!(db.persist_head_now().unwrap(), 3);
    let st = db.stats();
    assert_eq!(st.blocks, 1);
    assert_eq!(st.compactions_total, 1);
    let b = &db.blocks()[0];
    assert_eq!((b.meta().min_t, b.meta().max_t, b.meta().level), (0, 6 * H, 2));
    let dirs = sightline_tsdb::block::list_block_dirs(&dir.path().join("blocks")).unwrap();
    assert_eq!(dirs.len(), 1, "inputs deleted");
    assert_eq!(
        all(&db).into_iter().map(|(_, s)| s).collect::<Vec<_>>(),
        expected(0, 7 * H)
    );
}

#[test]
fn retention_deletes_old_blocks_but_open_queriers_keep_them() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_with(dir.path(), |o| o.retention_time_ms = Some(4 * H));
    fill(&db, 0, 3 * H);
    db.persist_head_now().unwrap();
    assert_eq!(db.stats().blocks, 1);
    let q = db.querier(0, i64::MAX).unwrap();
    fill(&db, 9 * H, 11 * H);
    // Persists [2h,4h) and [8h,10h); [0,2h) and [2h,4h) end 6h or more
    // before the newest block and are deleted (after being compacted).
    db.persist_head_now().unwrap();
    let st = db.stats();
    assert!(st.blocks_deleted_total >= 1, "{st:?}");
    assert_eq!(st.blocks, 1, "{st:?}");
    assert_eq!(st.blocks_min_t, Some(8 * H));
    assert_eq!(
        sightline_tsdb::block::list_block_dirs(&dir.path().join("blocks"))
            .unwrap()
            .len(),
        1
    );
    // The old querier still reads the deleted block.
    let set = q.select(&[name_re("node_cpu")], &Default::default()).unwrap();
    let n: usize = set
        .map(|s| {
            let mut s = s.unwrap();
            let mut n = 0;
            while s.samples.next().is_some() {
                n += 1;
            }
            n
        })
        .sum();
    assert_eq!(n, 40 * 180);
}

#[test]
fn retention_by_time() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_with(dir.path(), |o| o.retention_time_ms = Some(4 * H));
    for w in 0..4 {
        fill(&db, w * 24 * H, w * 24 * H + 3 * 60_000);
        // Jump ahead so the previous window is persisted.
        fill(&db, w * 24 * H + 24 * H - 60_000, w * 24 * H + 24 * H);
        db.persist_head_now().unwrap();
    }
    let st = db.stats();
    assert!(st.blocks_deleted_total > 0, "{st:?}");
    let newest = st.blocks_max_t.unwrap();
    for b in db.blocks() {
        assert!(newest - b.meta().max_t < 4 * H || b.meta().max_t == newest);
    }
    // Old data is gone from queries.
    assert!(query(&db, &[name_re("node_cpu")], 0, 3 * 60_000).is_empty());
}

#[test]
fn retention_by_size() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_with(dir.path(), |o| {
        o.retention_time_ms = None;
        o.retention_size_bytes = Some(1);
    });
    fill(&db, 0, 5 * H);
    db.persist_head_now().unwrap();
    assert_eq!(db.stats().blocks, 0);
    assert!(db.stats().blocks_deleted_total >= 1);
}

#[test]
fn second_open_of_the_same_dir_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let err = match sightline_tsdb::Tsdb::open(dir.path(), Default::default()) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("second open succeeded"),
    };
    assert!(err.contains(&dir.path().display().to_string()), "{err}");
    assert!(err.contains("in use"), "{err}");
    db.close().unwrap();
    drop(db);
    // Released on drop.
    let db = open(dir.path());
    db.close().unwrap();
}

#[test]
fn out_of_order_samples_are_persisted_with_their_range() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_with(dir.path(), |o| o.ooo_window_ms = 2 * H);
    let s = [("__name__", "ooo")];
    write(&db, &s, &[(3 * H, 1.0), (5 * H, 3.0)]);
    // Out of order, inside the window: one in [2h,4h), one in [4h,6h).
    write(&db, &s, &[(3 * H + 60_000, 2.0)]);
    write(&db, &s, &[(4 * H, 2.5)]);
    let before = all(&db);
    assert_eq!(before[0].1.len(), 4);
    assert_eq!(db.persist_head_now().unwrap(), 1);
    assert_eq!(db.blocks()[0].meta().num_samples, 2);
    assert_eq!(all(&db), before);
    // The persisted range is closed now, even inside the window.
    let mut app = db.appender();
    assert_eq!(
        app.append(&refs(&s), 3 * H + 120_000, 9.0),
        Err(AppendError::OutOfBounds(3 * H + 120_000))
    );
    app.rollback();
    drop(db);
    let db = open_with(dir.path(), |o| o.ooo_window_ms = 2 * H);
    assert_eq!(all(&db), before);
}

#[test]
fn extreme_timestamps_do_not_break_maintenance() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    write(
        &db,
        &[("__name__", "lo")],
        &[(i64::MIN + 1, 1.0), (i64::MIN + 2, 2.0)],
    );
    write(&db, &[("__name__", "hi")], &[(i64::MAX - 1, 1.0)]);
    db.maintenance().unwrap();
    db.persist_head_now().unwrap();
    let got = all(&db);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].1, bits(&[(i64::MAX - 1, 1.0)]));
    assert_eq!(got[1].1, bits(&[(i64::MIN + 1, 1.0), (i64::MIN + 2, 2.0)]));
}
