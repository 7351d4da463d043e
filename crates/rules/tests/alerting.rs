//! The alert state machine, recording rules, ALERTS series and the
//! Alertmanager v2 notifier, against an in-test store and Alertmanager.

use parking_lot::Mutex;
use sightline_model::{
    AppendError, Appender, CommitStats, LabelRef, Labels, Matcher, Querier, Sample, SampleIterator,
    SelectHints, Series, SeriesRef, SeriesSet, Storage, StorageError,
};
use sightline_rules::notifier::{AlertmanagerTarget, Notifier, NotifierConfig, OutAlert};
use sightline_rules::rule::{AlertState, EvalContext, RuleState};
use sightline_rules::{Env, GroupSpec, GroupState, QueryFn, RuleSpec};
use sightline_template::Funcs;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// A store that keeps every appended sample.
#[derive(Default)]
struct MemStore(Mutex<BTreeMap<Labels, Vec<Sample>>>);

struct MemApp<'a>(&'a MemStore, Vec<(Labels, Sample)>);

impl Appender for MemApp<'_> {
    fn append(&mut self, labels: &[LabelRef<'_>], t: i64, v: f64) -> Result<SeriesRef, AppendError> {
        self.1.push((Labels::from_refs(labels), Sample { t, v }));
        Ok(SeriesRef(0))
    }
    fn append_ref(&mut self, _: SeriesRef, _: i64, _: f64) -> Result<(), AppendError> {
        Err(AppendError::UnknownSeriesRef)
    }
    fn commit(self: Box<Self>) -> Result<CommitStats, StorageError> {
        let mut m = self.0 .0.lock();
        for (l, s) in self.1 {
            m.entry(l).or_default().push(s);
        }
        Ok(CommitStats::default())
    }
    fn rollback(self: Box<Self>) {}
}

struct VecIter(std::vec::IntoIter<Sample>);
impl SampleIterator for VecIter {
    fn next(&mut self) -> Option<Sample> {
        self.0.next()
    }
}

struct MemQuerier(Vec<(Labels, Vec<Sample>)>);
impl Querier for MemQuerier {
    fn select(&self, matchers: &[Matcher], h: &SelectHints) -> Result<SeriesSet<'_>, StorageError> {
        let (start, end) = (h.start, h.end);
        let out: Vec<Result<Series, StorageError>> = self
            .0
            .iter()
            .filter(|(l, _)| matchers.iter().all(|m| m.matches(l.get(&m.name).unwrap_or(""))))
            .map(|(l, s)| {
                let s: Vec<Sample> = s.iter().copied().filter(|p| p.t >= start && p.t <= end).collect();
                Ok(Series {
                    labels: l.clone(),
                    samples: Box::new(VecIter(s.into_iter())),
                })
            })
            .collect();
        Ok(Box::new(out.into_iter()))
    }
    fn label_names(&self, _: &[Matcher]) -> Result<Vec<String>, StorageError> {
        Ok(vec![])
    }
    fn label_values(&self, _: &str, _: &[Matcher]) -> Result<Vec<String>, StorageError> {
        Ok(vec![])
    }
}

impl Storage for MemStore {
    fn appender(&self) -> Box<dyn Appender + '_> {
        Box::new(MemApp(self, Vec::new()))
    }
    fn querier(&self, _: i64, _: i64) -> Result<Box<dyn Querier + '_>, StorageError> {
        Ok(Box::new(MemQuerier(
            self.0
                .lock()
                .iter()
                .map(|(l, s)| (l.clone(), s.clone()))
                .collect(),
        )))
    }
}

fn l(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

/// A query function answering from a shared, mutable result.
fn fixed(result: Arc<Mutex<Vec<(Labels, f64)>>>) -> QueryFn {
    Arc::new(move |_q: &str, _t: i64| Ok(result.lock().clone()))
}

fn alert_rule(hold_s: i64, keep_s: i64) -> RuleSpec {
    RuleSpec::Alerting {
        name: "HighCPU".into(),
        expr: "cpu > 80".into(),
        hold_ms: hold_s * 1000,
        keep_firing_for_ms: keep_s * 1000,
        labels: [("severity".to_string(), "page".to_string())].into(),
        annotations: [(
            "summary".to_string(),
            "CPU {{ $value }} on {{ $labels.instance }}".to_string(),
        )]
        .into(),
    }
}

#[test]
fn pending_firing_resolved_and_retention() {
    let result = Arc::new(Mutex::new(vec![(
        l(&[("__name__", "cpu"), ("instance", "a")]),
        93.0,
    )]));
    let q = fixed(result.clone());
    let mut r = RuleState::new(alert_rule(60, 0));
    r.restored = true;
    let ctx = EvalContext::default();
    let f = Funcs::new();
    let funcs = sightline_template::prometheus_funcs(Default::default());
    let _ = f;

    let out = r.eval(0, 0, &q, &funcs, &ctx).unwrap();
    let a = r.active.values().next().unwrap().clone();
    assert_eq!(a.state, AlertState::Pending);
    assert_eq!(
        a.labels,
        l(&[("alertname", "HighCPU"), ("instance", "a"), ("severity", "page")])
    );
    assert_eq!(a.annotations["summary"], "CPU 93 on a");
    let alerts = out
        .samples
        .iter()
        .find(|(l, _)| l.get("__name__") == Some("ALERTS"))
        .unwrap();
    assert_eq!(alerts.0.get("alertstate"), Some("pending"));
    let fs = out
        .samples
        .iter()
        .find(|(l, _)| l.get("__name__") == Some("ALERTS_FOR_STATE"))
        .unwrap();
    assert_eq!(fs.1, 0.0);
    assert!(
        r.alerts_to_send(0, 60_000, 15_000).is_empty(),
        "pending alerts are not sent"
    );

    r.eval(30_000, 30_000, &q, &funcs, &ctx).unwrap();
    assert_eq!(r.active.values().next().unwrap().state, AlertState::Pending);
    let out = r.eval(60_000, 60_000, &q, &funcs, &ctx).unwrap();
    let a = r.active.values().next().unwrap().clone();
    assert_eq!(
        (a.state, a.fired_at, a.active_at),
        (AlertState::Firing, 60_000, 0)
    );
    assert!(out
        .samples
        .iter()
        .any(|(l, _)| l.get("alertstate") == Some("firing")));
    let sent = r.alerts_to_send(60_000, 60_000, 15_000);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].valid_until, 60_000 + 4 * 60_000);
    // Not re-sent before the resend delay.
    r.eval(75_000, 75_000, &q, &funcs, &ctx).unwrap();
    assert!(r.alerts_to_send(75_000, 60_000, 15_000).is_empty());

    // The condition clears: resolved, sent once as resolved, kept 15m.
    result.lock().clear();
    let out = r.eval(90_000, 90_000, &q, &funcs, &ctx).unwrap();
    assert!(out.samples.is_empty());
    let a = r.active.values().next().unwrap().clone();
    assert_eq!((a.state, a.resolved_at), (AlertState::Inactive, 90_000));
    let sent = r.alerts_to_send(90_000, 60_000, 15_000);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].resolved_at, 90_000);
    r.eval(90_000 + 15 * 60_000 + 1, 0, &q, &funcs, &ctx).unwrap();
    assert!(r.active.is_empty(), "dropped after the resolved retention");
}

#[test]
fn keep_firing_for_and_for_zero() {
    let result = Arc::new(Mutex::new(vec![(l(&[("instance", "a")]), 1.0)]));
    let q = fixed(result.clone());
    let funcs = sightline_template::prometheus_funcs(Default::default());
    let ctx = EvalContext::default();
    let mut r = RuleState::new(alert_rule(0, 120));
    r.eval(0, 0, &q, &funcs, &ctx).unwrap();
    assert_eq!(
        r.active.values().next().unwrap().state,
        AlertState::Firing,
        "for: 0 fires at once"
    );
    result.lock().clear();
    r.eval(60_000, 0, &q, &funcs, &ctx).unwrap();
    let a = r.active.values().next().unwrap();
    assert_eq!((a.state, a.keep_firing_since), (AlertState::Firing, 60_000));
    r.eval(179_000, 0, &q, &funcs, &ctx).unwrap();
    assert_eq!(r.active.values().next().unwrap().state, AlertState::Firing);
    r.eval(180_000, 0, &q, &funcs, &ctx).unwrap();
    assert_eq!(r.active.values().next().unwrap().state, AlertState::Inactive);
}

#[test]
fn duplicate_labelsets_and_limits_are_errors() {
    let q: QueryFn = Arc::new(|_q: &str, _t: i64| {
        Ok(vec![
            (l(&[("__name__", "a"), ("x", "1")]), 1.0),
            (l(&[("__name__", "b"), ("x", "1")]), 2.0),
        ])
    });
    let funcs = sightline_template::prometheus_funcs(Default::default());
    let mut r = RuleState::new(RuleSpec::Recording {
        record: "job:x".into(),
        expr: "a or b".into(),
        labels: BTreeMap::new(),
    });
    let e = r.eval(0, 0, &q, &funcs, &EvalContext::default()).unwrap_err();
    assert!(e.contains("same labelset after applying rule labels"), "{e}");
    assert_eq!(r.health, "err");

    let q: QueryFn = Arc::new(|_q: &str, _t: i64| Ok(vec![(l(&[("x", "1")]), 1.0), (l(&[("x", "2")]), 2.0)]));
    let mut r = RuleState::new(alert_rule(0, 0));
    let ctx = EvalContext {
        limit: 1,
        ..Default::default()
    };
    let e = r.eval(0, 0, &q, &funcs, &ctx).unwrap_err();
    assert_eq!(e, "exceeded limit of 1 with 2 alerts");
    assert!(r.active.is_empty());
}

#[test]
fn group_writes_recording_results_with_staleness_and_restores_for_state() {
    let store = Arc::new(MemStore::default());
    let result = Arc::new(Mutex::new(vec![(l(&[("job", "api")]), 5.0)]));
    let env = Env {
        storage: store.clone(),
        query: fixed(result.clone()),
        external_labels: BTreeMap::new(),
        external_url: "http://sightline:7070".into(),
        notifier: None,
    };
    let spec = GroupSpec {
        name: "g".into(),
        file: "rules.yml".into(),
        interval_ms: 15_000,
        limit: 0,
        query_offset_ms: 0,
        rules: vec![
            RuleSpec::Recording {
                record: "job:requests:rate5m".into(),
                expr: "sum by (job) (rate(requests_total[5m]))".into(),
                labels: [("team".to_string(), "core".to_string())].into(),
            },
            alert_rule(900, 0),
        ],
    };
    let funcs = sightline_template::prometheus_funcs(Default::default());
    let mut g = GroupState::new(spec.clone());
    let t0 = 1_700_000_000_000;
    g.eval(t0, &env, &funcs);
    result.lock().clear();
    g.eval(t0 + 15_000, &env, &funcs);
    let data = store.0.lock().clone();
    let rec = &data[&l(&[
        ("__name__", "job:requests:rate5m"),
        ("job", "api"),
        ("team", "core"),
    ])];
    assert_eq!(rec[0], Sample { t: t0, v: 5.0 });
    assert!(
        sightline_model::is_stale_nan(rec[1].v),
        "series gone -> staleness marker"
    );
    // The first evaluation of a restarted group does not write ALERTS yet.
    assert!(data.keys().all(|k| k.get("__name__") != Some("ALERTS")));

    // A restart: ALERTS_FOR_STATE says the alert has been active for 10m
    // of its 15m `for` when we went down 1m ago.
    let alert_labels = l(&[("alertname", "HighCPU"), ("job", "api"), ("severity", "page")]);
    let mut fs = alert_labels.builder();
    fs.set("__name__", "ALERTS_FOR_STATE");
    let down_at = t0 + 600_000;
    store.0.lock().insert(
        fs.build(),
        vec![Sample {
            t: down_at,
            v: (t0 / 1000) as f64,
        }],
    );
    result.lock().push((l(&[("job", "api")]), 99.0));
    let mut g2 = GroupState::new(spec);
    let now = down_at + 60_000;
    g2.eval(now, &env, &funcs);
    let a = g2.rules[1].active.values().next().unwrap();
    // 5m of `for` remained, less than the 10m grace period: it fires at
    // now + 10m at the earliest.
    assert_eq!(a.active_at, now + 600_000 - 900_000);
    assert!(g2.rules[1].restored);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifier_posts_v2_alerts_with_external_labels() {
    use axum::routing::post;
    let got: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let g2 = got.clone();
    let app = axum::Router::new().route(
        "/prefix/api/v2/alerts",
        post(move |axum::Json(v): axum::Json<serde_json::Value>| {
            let g = g2.clone();
            async move {
                g.lock().push(v);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let n = Notifier::new(NotifierConfig {
        alertmanagers: vec![AlertmanagerTarget {
            base_url: format!("http://{addr}/prefix"),
            timeout: Duration::from_secs(5),
            basic_auth: None,
            bearer_token: None,
        }],
        external_labels: [("cluster".to_string(), "eu-1".to_string())].into(),
        relabel: Some(Arc::new(|l: Labels| {
            if l.get("drop") == Some("yes") {
                None
            } else {
                Some(l)
            }
        })),
    });
    let (tx, rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(n.clone().run(rx));
    let alert = |extra: &[(&str, &str)]| {
        let mut pairs = vec![("alertname", "HighCPU")];
        pairs.extend_from_slice(extra);
        OutAlert {
            labels: l(&pairs),
            annotations: [("summary".to_string(), "hot".to_string())].into(),
            starts_at_ms: 1_700_000_000_000,
            ends_at_ms: 1_700_000_240_000,
            generator_url: sightline_rules::generator_url("http://s:7070", "cpu > 80"),
        }
    };
    n.send(vec![alert(&[]), alert(&[("drop", "yes")])]);
    for _ in 0..100 {
        if !got.lock().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = tx.send(true);
    task.await.unwrap();
    let got = got.lock();
    assert_eq!(got.len(), 1);
    let arr = got[0].as_array().unwrap();
    assert_eq!(arr.len(), 1, "relabel dropped one alert");
    assert_eq!(arr[0]["labels"]["cluster"], "eu-1");
    assert_eq!(arr[0]["labels"]["alertname"], "HighCPU");
    assert_eq!(arr[0]["startsAt"], "2023-11-14T22:13:20.000Z");
    assert_eq!(arr[0]["endsAt"], "2023-11-14T22:17:20.000Z");
    assert_eq!(
        arr[0]["generatorURL"],
        "http://s:7070/graph?g0.expr=cpu+%3E+80&g0.tab=1"
    );
    assert_eq!(n.counts().0, 1);
}
