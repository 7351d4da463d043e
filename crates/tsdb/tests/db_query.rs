//! Matcher semantics, label APIs and select hints on the head (and, after
//! persisting, across head and blocks).

mod util;

use sightline_model::{MatchOp, Matcher, SelectHints, Storage, StorageError};
use std::time::{Duration, Instant};
use util::*;

fn m(name: &str, op: MatchOp, v: &str) -> Matcher {
    Matcher::new(op, name, v).unwrap()
}

fn setup(dir: &std::path::Path) -> std::sync::Arc<sightline_tsdb::Tsdb> {
    let db = open(dir);
    let series: [&[(&str, &str)]; 5] = [
        &[
            ("__name__", "http_requests_total"),
            ("job", "api"),
            ("code", "200"),
        ],
        &[
            ("__name__", "http_requests_total"),
            ("job", "api"),
            ("code", "500"),
        ],
        &[("__name__", "http_requests_total"), ("job", "web")],
        &[("__name__", "up"), ("job", "api")],
        &[("__name__", "up"), ("job", "db"), ("env", "prod")],
    ];
    for (i, s) in series.iter().enumerate() {
        write(&db, s, &[(1000, i as f64), (2000, i as f64 + 0.5)]);
    }
    db
}

fn names(db: &sightline_tsdb::Tsdb, ms: &[Matcher]) -> Vec<String> {
    query(db, ms, i64::MIN, i64::MAX)
        .into_iter()
        .map(|(l, _)| l.to_string())
        .collect()
}

fn check_matchers(db: &sightline_tsdb::Tsdb) {
    use MatchOp::*;
    assert_eq!(
        names(db, &[m("__name__", Equal, "up")]),
        vec![r#"up{env="prod", job="db"}"#, r#"up{job="api"}"#]
    );
    assert_eq!(
        names(db, &[m("job", Equal, "api")]),
        vec![
            r#"http_requests_total{code="200", job="api"}"#,
            r#"http_requests_total{code="500", job="api"}"#,
            r#"up{job="api"}"#
        ]
    );
    // `code=""` matches series without the label.
    assert_eq!(
        names(
            db,
            &[m("__name__", Equal, "http_requests_total"), m("code", Equal, "")]
        ),
        vec![r#"http_requests_total{job="web"}"#]
    );
    // `!=` keeps series lacking the label.
    assert_eq!(
        names(db, &[m("__name__", Regex, "http.*"), m("code", NotEqual, "200")]),
        vec![
            r#"http_requests_total{code="500", job="api"}"#,
            r#"http_requests_total{job="web"}"#
        ]
    );
    // `!=""` requires the label.
    assert_eq!(
        names(db, &[m("__name__", Regex, ".+"), m("code", NotEqual, "")]),
        vec![
            r#"http_requests_total{code="200", job="api"}"#,
            r#"http_requests_total{code="500", job="api"}"#
        ]
    );
    // Literal alternation and full regexes (anchored).
    assert_eq!(names(db, &[m("job", Regex, "web|db")]).len(), 2);
    assert_eq!(names(db, &[m("job", Regex, "a")]).len(), 0);
    assert_eq!(names(db, &[m("job", Regex, "a.*")]).len(), 3);
    assert_eq!(
        names(db, &[m("__name__", Equal, "up"), m("env", Regex, "prod|")]),
        vec![r#"up{env="prod", job="db"}"#, r#"up{job="api"}"#]
    );
    assert_eq!(
        names(db, &[m("__name__", Regex, ".+"), m("job", NotRegex, "api|web")]),
        vec![r#"up{env="prod", job="db"}"#]
    );
    assert_eq!(
        names(db, &[m("__name__", Equal, "up"), m("env", NotRegex, ".+")]),
        vec![r#"up{job="api"}"#]
    );
    assert!(names(db, &[m("__name__", Equal, "nope")]).is_empty());
    assert!(names(db, &[m("nolabel", Equal, "x")]).is_empty());
    assert!(names(db, &[m("job", Equal, "api"), m("job", Equal, "web")]).is_empty());

    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    assert_eq!(
        q.label_names(&[]).unwrap(),
        vec!["__name__", "code", "env", "job"]
    );
    assert_eq!(
        q.label_names(&[m("__name__", Equal, "up")]).unwrap(),
        vec!["__name__", "env", "job"]
    );
    assert_eq!(q.label_values("job", &[]).unwrap(), vec!["api", "db", "web"]);
    assert_eq!(
        q.label_values("job", &[m("__name__", Equal, "up")]).unwrap(),
        vec!["api", "db"]
    );
    assert!(q.label_values("missing", &[]).unwrap().is_empty());
}

#[test]
fn matcher_semantics_on_head() {
    let dir = tempfile::tempdir().unwrap();
    let db = setup(dir.path());
    check_matchers(&db);
}

#[test]
fn matcher_semantics_across_head_and_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let db = setup(dir.path());
    // Push the head forward so the first range is persisted.
    write(&db, &[("__name__", "up"), ("job", "api")], &[(3 * H, 1.0)]);
    assert_eq!(db.persist_head_now().unwrap(), 1);
    assert_eq!(db.stats().blocks, 1);
    check_matchers(&db);
    let got = query(
        &db,
        &[
            m("__name__", MatchOp::Equal, "up"),
            m("job", MatchOp::Equal, "api"),
        ],
        0,
        i64::MAX,
    );
    assert_eq!(got[0].1, bits(&[(1000, 3.0), (2000, 3.5), (3 * H, 1.0)]));
}

#[test]
fn select_hints() {
    let dir = tempfile::tempdir().unwrap();
    let db = setup(dir.path());
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    let ms = [m("__name__", MatchOp::Regex, ".+")];
    let limited: Vec<_> = q
        .select(
            &ms,
            &SelectHints {
                limit: 2,
                ..Default::default()
            },
        )
        .unwrap()
        .collect();
    assert_eq!(limited.len(), 2);
    let mut lo = q
        .select(
            &ms,
            &SelectHints {
                labels_only: true,
                ..Default::default()
            },
        )
        .unwrap();
    let first = lo.next().unwrap().unwrap();
    assert_eq!(first.labels.get("code"), Some("200"));
    let past = Instant::now() - Duration::from_millis(1);
    let r = q.select(
        &ms,
        &SelectHints {
            deadline: Some(past),
            ..Default::default()
        },
    );
    assert!(matches!(r, Err(StorageError::DeadlineExceeded)));
    // Hints narrow the querier's range.
    let got: Vec<_> = q
        .select(
            &ms,
            &SelectHints {
                start: 1500,
                end: 2500,
                ..Default::default()
            },
        )
        .unwrap()
        .map(|s| {
            let mut s = s.unwrap();
            let mut n = 0;
            while s.samples.next().is_some() {
                n += 1;
            }
            n
        })
        .collect();
    assert_eq!(got, vec![1; 5]);
    // A range without data.
    assert!(query(&db, &ms, 3000, 4000).is_empty());
}

#[test]
fn labels_only_respects_the_time_range_in_head_and_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    write(&db, &[("__name__", "a")], &[(1000, 1.0)]);
    write(&db, &[("__name__", "b")], &[(1000, 1.0), (3 * H, 1.0)]);
    write(&db, &[("__name__", "c")], &[(3 * H + 1000, 1.0)]);
    assert_eq!(db.persist_head_now().unwrap(), 1);
    let names = |mint: i64, maxt: i64| -> Vec<String> {
        let q = db.querier(mint, maxt).unwrap();
        let hints = SelectHints {
            labels_only: true,
            ..Default::default()
        };
        q.select(&[m("__name__", MatchOp::Regex, ".+")], &hints)
            .unwrap()
            .map(|s| {
                let mut s = s.unwrap();
                assert!(s.samples.next().is_none());
                s.labels.metric_name().unwrap().to_string()
            })
            .collect()
    };
    assert_eq!(names(0, H), vec!["a", "b"]);
    assert_eq!(names(2 * H, 4 * H), vec!["b", "c"]);
    assert_eq!(names(3 * H + 500, 4 * H), vec!["c"]);
    assert_eq!(names(i64::MIN, i64::MAX), vec!["a", "b", "c"]);
    assert!(names(5 * H, 6 * H).is_empty());
}
