//! The per-scrape processing, driven directly (no HTTP, no timers).

mod common;

use common::MemStore;
use sightline_model::{is_stale_nan, Labels};
use sightline_scrape::client::Fetched;
use sightline_scrape::config::{PoolConfig, TargetGroup};
use sightline_scrape::metrics::Metrics;
use sightline_scrape::scrape_loop::{LoopCtx, LoopState};
use sightline_scrape::target::{address_target, populate, Populated};
use sightline_scrape::ScrapeError;
use std::sync::Arc;
use std::time::Duration;

fn ctx(store: &Arc<MemStore>, cfg: PoolConfig) -> LoopCtx {
    let g = TargetGroup {
        source: "0".into(),
        targets: vec![address_target("h:1")],
        labels: Labels::new(),
    };
    let Populated::Active(t) = populate(&g, &g.targets[0], &cfg) else {
        panic!("dropped")
    };
    LoopCtx {
        target: Arc::from(t),
        cfg: Arc::new(cfg),
        client: Err("unused".into()),
        storage: store.clone(),
        metrics: Metrics::default(),
        forced_error: None,
    }
}

fn body(s: &str) -> Result<Fetched, ScrapeError> {
    Ok(Fetched {
        body: s.as_bytes().to_vec(),
        content_type: "text/plain; version=0.0.4".into(),
    })
}

fn series(store: &MemStore, name: &str) -> Vec<(i64, f64)> {
    store.series(&[("__name__", name), ("job", "j"), ("instance", "h:1")])
}

#[test]
fn staleness_follows_presence_and_failures() {
    let store = Arc::new(MemStore::default());
    let c = ctx(&store, PoolConfig::new("j"));
    let mut st = LoopState::default();
    let r = st.scrape(&c, body("a 1\nb 2\n"), 1000, Duration::from_millis(5));
    assert!(r.error.is_none());
    assert_eq!((r.scraped, r.post_relabel, r.added), (2, 2, 2));
    st.scrape(&c, body("a 1\n"), 2000, Duration::ZERO);
    assert_eq!(series(&store, "b").len(), 2);
    assert!(is_stale_nan(series(&store, "b")[1].1));
    assert_eq!(series(&store, "b")[1].0, 2000);
    st.scrape(&c, body("a 1\n"), 3000, Duration::ZERO);
    assert_eq!(series(&store, "b").len(), 2, "one marker only");
    // A parse error fails the whole scrape and marks everything stale.
    let r = st.scrape(&c, body("a 1\nbad line here\n"), 4000, Duration::ZERO);
    assert!(matches!(r.error, Some(ScrapeError::Parse(_))), "{r:?}");
    assert!(is_stale_nan(series(&store, "a").last().unwrap().1));
    assert_eq!(series(&store, "up").last().unwrap(), &(4000, 0.0));
    // A second failure writes no more markers.
    let n = series(&store, "a").len();
    st.scrape(&c, Err(ScrapeError::Http("refused".into())), 5000, Duration::ZERO);
    assert_eq!(series(&store, "a").len(), n);
    // End of run: markers for report series too.
    st.scrape(&c, body("a 2\n"), 6000, Duration::ZERO);
    st.stale_all(store.as_ref(), 7000);
    assert!(is_stale_nan(series(&store, "a").last().unwrap().1));
    for name in [
        "up",
        "scrape_duration_seconds",
        "scrape_samples_scraped",
        "scrape_series_added",
    ] {
        let s = series(&store, name);
        assert_eq!(s.last().unwrap().0, 7000, "{name}");
        assert!(is_stale_nan(s.last().unwrap().1), "{name}");
    }
}

#[test]
fn handover_keeps_surviving_series_live() {
    let store = Arc::new(MemStore::default());
    let c = ctx(&store, PoolConfig::new("j"));
    let mut st = LoopState::default();
    st.scrape(&c, body("x 1\ny 1\n"), 1000, Duration::ZERO);
    st.detach();
    let r = st.scrape(&c, body("x{} 2\n"), 2000, Duration::ZERO);
    assert_eq!(r.added, 0, "x re-attached by labels");
    assert!(series(&store, "x").iter().all(|(_, v)| !is_stale_nan(*v)));
    let y = series(&store, "y");
    assert_eq!(y.iter().filter(|(_, v)| is_stale_nan(*v)).count(), 1, "{y:?}");
    st.scrape(&c, body("x 3\n"), 3000, Duration::ZERO);
    st.scrape(&c, body(""), 4000, Duration::ZERO);
    assert_eq!(
        series(&store, "x")
            .iter()
            .filter(|(_, v)| is_stale_nan(*v))
            .count(),
        1
    );
}

#[test]
fn cache_is_bounded_for_churning_series() {
    let store = Arc::new(MemStore::default());
    let c = ctx(&store, PoolConfig::new("j"));
    let mut st = LoopState::default();
    for i in 0..100 {
        st.scrape(
            &c,
            body(&format!("churn{{id=\"{i}\"}} 1\n")),
            1000 * (i + 1),
            Duration::ZERO,
        );
    }
    assert!(st.cached() <= 21, "{}", st.cached());
}

#[test]
fn label_limits_fail_the_scrape() {
    let store = Arc::new(MemStore::default());
    let mut cfg = PoolConfig::new("j");
    cfg.label_limit = 3;
    let c = ctx(&store, cfg);
    let mut st = LoopState::default();
    let r = st.scrape(&c, body("m{a=\"1\",b=\"2\"} 1\n"), 1000, Duration::ZERO);
    match r.error {
        Some(ScrapeError::LabelLimit(m)) => assert!(m.contains("label_limit exceeded"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(store.named("m").is_empty());
    let mut cfg = PoolConfig::new("j");
    cfg.label_value_length_limit = 3;
    let c = ctx(&store, cfg);
    let r = LoopState::default().scrape(&c, body("m{a=\"long\"} 1\n"), 1000, Duration::ZERO);
    assert!(matches!(r.error, Some(ScrapeError::LabelLimit(_))));
}

#[test]
fn openmetrics_payloads_and_metadata() {
    let store = Arc::new(MemStore::default());
    let c = ctx(&store, PoolConfig::new("j"));
    let mut st = LoopState::default();
    let om = "# TYPE req counter\n# HELP req Requests.\n# UNIT req seconds\nreq_total 3 1.5\nreq_created 1\n# EOF\n";
    let r = st.scrape(
        &c,
        Ok(Fetched {
            body: om.as_bytes().to_vec(),
            content_type: "application/openmetrics-text; version=1.0.0".into(),
        }),
        2000,
        Duration::ZERO,
    );
    assert!(r.error.is_none(), "{r:?}");
    assert_eq!(series(&store, "req_total"), vec![(1500, 3.0)]);
    let meta = c.target.metadata.lock().get("req").cloned().unwrap();
    assert_eq!((meta.help.as_str(), meta.unit.as_str()), ("Requests.", "seconds"));
    assert_eq!(
        store.metadata.lock()["req"].metric_type,
        sightline_model::MetricType::Counter
    );
    // Missing # EOF is a failed scrape.
    let r = st.scrape(
        &c,
        Ok(Fetched {
            body: b"req_total 3\n".to_vec(),
            content_type: "application/openmetrics-text".into(),
        }),
        3000,
        Duration::ZERO,
    );
    assert!(matches!(r.error, Some(ScrapeError::Parse(_))));
}
