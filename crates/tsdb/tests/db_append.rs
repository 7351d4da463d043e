//! Append semantics of the head through `Storage`: duplicates, out-of-order,
//! the out-of-order window, out-of-bounds, label handling, per-sample errors,
//! rollback, references and metadata.

mod util;

use sightline_model::{
    stale_nan, AppendError, LabelError, LabelRef, Labels, Limits, MetricMetadata, MetricType, SeriesRef,
    Storage,
};
use util::*;

#[test]
fn appended_samples_are_queryable_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let mut app = db.appender();
    let mut want = Vec::new();
    for i in 0..300i64 {
        let v = if i == 77 { stale_nan() } else { i as f64 * 0.5 };
        app.append(&refs(&[("__name__", "up"), ("job", "a")]), i * 15_000, v)
            .unwrap();
        want.push((i * 15_000, v));
    }
    app.append(&refs(&[("__name__", "up"), ("job", "b")]), 5, 1.0)
        .unwrap();
    // Nothing is visible before commit.
    assert!(all(&db).is_empty());
    let st = app.commit().unwrap();
    assert_eq!(st.samples, 301);
    assert_eq!(st.new_series, 2);
    let got = all(&db);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].0, Labels::from_pairs([("__name__", "up"), ("job", "a")]));
    assert_eq!(got[0].1, bits(&want));
    assert_eq!(got[1].1, bits(&[(5, 1.0)]));
    // Range limits.
    let part = query(&db, &[name_re("up")], 30_000, 60_000);
    assert_eq!(part[0].1, bits(&want[2..5]));
    assert_eq!(part.len(), 1, "job=b has no sample in range");
    let stats = db.stats();
    assert_eq!(stats.head.num_series, 2);
    assert_eq!(stats.head.samples_appended, 301);
    assert_eq!(stats.head.min_t, Some(0));
    assert_eq!(stats.head.max_t, Some(299 * 15_000));
    assert!(stats.head.chunks >= 3, "120 samples per chunk");
}

#[test]
fn duplicates_and_out_of_order() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let s = [("__name__", "m")];
    write(&db, &s, &[(1000, 1.0), (2000, 2.0)]);
    let mut app = db.appender();
    // Same timestamp, same value: silently ignored.
    assert!(app.append(&refs(&s), 2000, 2.0).is_ok());
    // Different value: refused.
    assert_eq!(
        app.append(&refs(&s), 2000, 3.0),
        Err(AppendError::DuplicateTimestamp(2000))
    );
    // NaN vs NaN with different bits is a different value.
    assert_eq!(app.append(&refs(&s), 1000, 1.0), Err(AppendError::OutOfOrder));
    assert_eq!(app.append(&refs(&s), 1500, 1.0), Err(AppendError::OutOfOrder));
    // An error skips only that sample.
    app.append(&refs(&s), 3000, 3.0).unwrap();
    // Within one batch, an older sample than one already queued is refused.
    assert_eq!(app.append(&refs(&s), 2500, 9.0), Err(AppendError::OutOfOrder));
    assert_eq!(
        app.append(&refs(&s), 3000, 4.0),
        Err(AppendError::DuplicateTimestamp(3000))
    );
    app.append(&refs(&s), 3000, 3.0).unwrap();
    let st = app.commit().unwrap();
    assert_eq!(st.samples, 1);
    assert_eq!(all(&db)[0].1, bits(&[(1000, 1.0), (2000, 2.0), (3000, 3.0)]));
    let stats = db.stats().head;
    assert_eq!(stats.rejected_duplicate, 2);
    assert_eq!(stats.rejected_out_of_order, 3);

    let mut app = db.appender();
    app.append(&refs(&s), 4000, f64::NAN).unwrap();
    app.commit().unwrap();
    let mut app = db.appender();
    assert!(app.append(&refs(&s), 4000, f64::NAN).is_ok());
    assert_eq!(
        app.append(&refs(&s), 4000, stale_nan()),
        Err(AppendError::DuplicateTimestamp(4000))
    );
    app.rollback();
}

#[test]
fn out_of_order_window_accepts_and_merges() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_with(dir.path(), |o| o.ooo_window_ms = 10 * 60_000);
    let s = [("__name__", "m"), ("i", "1")];
    write(&db, &s, &[(H, 1.0), (H + 60_000, 2.0), (H + 120_000, 3.0)]);
    let mut app = db.appender();
    app.append(&refs(&s), H + 30_000, 1.5).unwrap();
    app.append(&refs(&s), H + 90_000, 2.5).unwrap();
    app.append(&refs(&s), H - 60_000, 0.5).unwrap();
    // Duplicate of an in-order sample's timestamp with the same value: ok.
    app.append(&refs(&s), H + 60_000, 2.0).unwrap();
    // Older than the window.
    assert_eq!(
        app.append(&refs(&s), H - 20 * 60_000, 0.0),
        Err(AppendError::OutOfOrder)
    );
    let st = app.commit().unwrap();
    assert_eq!(st.samples, 3);
    let want = [
        (H - 60_000, 0.5),
        (H, 1.0),
        (H + 30_000, 1.5),
        (H + 60_000, 2.0),
        (H + 90_000, 2.5),
        (H + 120_000, 3.0),
    ];
    assert_eq!(all(&db)[0].1, bits(&want));
    // Duplicates inside the out-of-order buffer.
    let mut app = db.appender();
    app.append(&refs(&s), H + 30_000, 1.5).unwrap();
    assert_eq!(
        app.append(&refs(&s), H + 30_000, 7.0),
        Err(AppendError::DuplicateTimestamp(H + 30_000))
    );
    app.commit().unwrap();
    // Seeking through the merge.
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    let mut set = q.select(&[name_re("m")], &Default::default()).unwrap();
    let mut it = set.next().unwrap().unwrap().samples;
    assert_eq!(it.seek(H + 1).map(|s| s.t), Some(H + 30_000));
    assert_eq!(it.next().map(|s| s.t), Some(H + 60_000));
    assert_eq!(it.seek(H + 100_000).map(|s| s.t), Some(H + 120_000));
    assert!(it.next().is_none());
    assert_eq!(db.stats().head.ooo_appended, 3);
}

#[test]
fn new_series_far_behind_the_head_is_out_of_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    write(&db, &[("__name__", "a")], &[(10 * H, 1.0)]);
    let mut app = db.appender();
    assert_eq!(
        app.append(&refs(&[("__name__", "b")]), 8 * H, 1.0),
        Err(AppendError::OutOfBounds(8 * H))
    );
    // Within half a block range of the head's max: fine.
    app.append(&refs(&[("__name__", "c")]), 10 * H - H / 2, 1.0)
        .unwrap();
    app.commit().unwrap();
    assert_eq!(db.stats().head.rejected_out_of_bounds, 1);
}

#[test]
fn labels_are_normalised_and_validated() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_with(dir.path(), |o| {
        o.limits = Limits {
            max_labels_per_series: 4,
            max_label_value_len: 10,
            ..Limits::default()
        }
    });
    let mut app = db.appender();
    let a = app
        .append(&refs(&[("job", "x"), ("__name__", "m"), ("empty", "")]), 1, 1.0)
        .unwrap();
    let b = app
        .append(&refs(&[("__name__", "m"), ("job", "x")]), 2, 2.0)
        .unwrap();
    assert_eq!(a, b, "unsorted input and empty values map to the same series");
    assert!(matches!(
        app.append(&refs(&[("job", "x"), ("__name__", "m"), ("job", "y")]), 3, 1.0),
        Err(AppendError::InvalidLabels(LabelError::DuplicateName(n))) if n == "job"
    ));
    assert!(matches!(
        app.append(&refs(&[("job", "x")]), 3, 1.0),
        Err(AppendError::InvalidLabels(LabelError::MissingMetricName))
    ));
    assert!(matches!(
        app.append(&refs(&[("__name__", "")]), 3, 1.0),
        Err(AppendError::InvalidLabels(LabelError::MissingMetricName))
    ));
    assert!(matches!(
        app.append(&refs(&[("__name__", "m"), ("v", "01234567890")]), 3, 1.0),
        Err(AppendError::InvalidLabels(LabelError::ValueTooLong { .. }))
    ));
    assert!(matches!(
        app.append(
            &refs(&[("__name__", "m"), ("a", "1"), ("b", "1"), ("c", "1"), ("d", "1")]),
            3,
            1.0
        ),
        Err(AppendError::InvalidLabels(LabelError::TooManyLabels { .. }))
    ));
    assert!(matches!(
        app.append(&[LabelRef::new("__name__", "m"), LabelRef::new("", "v")], 3, 1.0),
        Err(AppendError::InvalidLabels(LabelError::EmptyName))
    ));
    app.commit().unwrap();
    let got = all(&db);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, Labels::from_pairs([("__name__", "m"), ("job", "x")]));
    assert_eq!(got[0].1, bits(&[(1, 1.0), (2, 2.0)]));
}

#[test]
fn append_ref_rollback_and_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let mut app = db.appender();
    let r = app.append(&refs(&[("__name__", "m")]), 1, 1.0).unwrap();
    app.append_ref(r, 2, 2.0).unwrap();
    assert_eq!(app.append_ref(r, 2, 3.0), Err(AppendError::DuplicateTimestamp(2)));
    assert_eq!(
        app.append_ref(SeriesRef(987_654), 2, 3.0),
        Err(AppendError::UnknownSeriesRef)
    );
    let meta = MetricMetadata {
        metric_type: MetricType::Counter,
        help: "Help text.".into(),
        unit: "seconds".into(),
    };
    app.set_metadata("m", &meta);
    app.commit().unwrap();
    assert_eq!(db.metadata(), vec![("m".to_string(), meta.clone())]);

    // Rolled back samples never appear, and do not block later appends.
    let mut app = db.appender();
    app.append_ref(r, 3, 3.0).unwrap();
    app.set_metadata("m", &MetricMetadata::default());
    app.rollback();
    assert_eq!(all(&db)[0].1, bits(&[(1, 1.0), (2, 2.0)]));
    assert_eq!(db.metadata(), vec![("m".to_string(), meta)]);
    let mut app = db.appender();
    app.append_ref(r, 3, 4.0).unwrap();
    app.commit().unwrap();
    assert_eq!(all(&db)[0].1, bits(&[(1, 1.0), (2, 2.0), (3, 4.0)]));
}

#[test]
fn concurrent_appenders() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    std::thread::scope(|sc| {
        for w in 0..4 {
            let db = &db;
            sc.spawn(move || {
                for round in 0..20i64 {
                    let mut app = db.appender();
                    for s in 0..50 {
                        let inst = format!("{w}-{s}");
                        let l = [("__name__", "c"), ("instance", inst.as_str())];
                        app.append(&refs(&l), round * 1000, round as f64).unwrap();
                    }
                    app.commit().unwrap();
                }
            });
        }
    });
    let got = all(&db);
    assert_eq!(got.len(), 200);
    for (_, s) in &got {
        assert_eq!(s.len(), 20);
    }
    assert_eq!(db.stats().head.samples_appended, 4000);
}

#[test]
fn failed_wal_write_makes_nothing_visible() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    write(&db, &[("__name__", "m")], &[(1, 1.0)]);
    db.close().unwrap();
    let mut app = db.appender();
    app.append(&refs(&[("__name__", "m")]), 2, 2.0).unwrap();
    assert!(app.commit().is_err(), "the WAL refuses writes once closed");
    assert_eq!(all(&db)[0].1, bits(&[(1, 1.0)]));
    assert_eq!(db.stats().head.samples_appended, 1);
}
