//! End-to-end scrape tests against an in-test HTTP server and a recording
//! store. Waits poll with a generous deadline; nothing asserts on timing.

mod common;

use common::{wait_for, MemStore, Reply, TestServer};
use prometheus_client::registry::Registry;
use sightline_model::{is_stale_nan, Labels};
use sightline_scrape::discovery::static_groups;
use sightline_scrape::{PoolConfig, ScrapeManager, Secret};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

fn pool(job: &str, addrs: &[&str]) -> PoolConfig {
    let mut c = PoolConfig::new(job);
    c.scrape_interval = Duration::from_millis(100);
    c.scrape_timeout = Duration::from_millis(100);
    c.static_groups = static_groups([(addrs.iter().map(|s| s.to_string()).collect(), Labels::new())]);
    c.fingerprint = format!("{job}-{addrs:?}");
    c
}

fn rules(yaml: &str) -> Vec<sightline_relabel::Relabeler> {
    serde_yaml::from_str(yaml).unwrap()
}

fn manager(store: &Arc<MemStore>) -> ScrapeManager {
    let mut reg = Registry::default();
    ScrapeManager::new(store.clone(), &mut reg)
}

const BODY: &str = "# HELP requests_total Requests.\n# TYPE requests_total counter\nrequests_total{code=\"200\"} 10\nrequests_total{code=\"500\"} 2\ntemp 21.5\n";

fn up_values(store: &MemStore, job: &str, addr: &str) -> Vec<f64> {
    store
        .series(&[("__name__", "up"), ("job", job), ("instance", addr)])
        .into_iter()
        .map(|(_, v)| v)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrapes_samples_with_target_labels_and_report_series() {
    let srv = TestServer::start(Reply::text(BODY)).await;
    let store = Arc::new(MemStore::default());
    let m = manager(&store);
    m.apply_pools(vec![pool("app", &[&srv.addr])]);
    wait_for("two scrapes", || up_values(&store, "app", &srv.addr).len() >= 2).await;
    let a = &srv.addr;
    let s = store.series(&[
        ("__name__", "requests_total"),
        ("code", "200"),
        ("job", "app"),
        ("instance", a),
    ]);
    assert!(!s.is_empty() && s.iter().all(|(_, v)| *v == 10.0));
    assert!(!store
        .series(&[("__name__", "temp"), ("job", "app"), ("instance", a)])
        .is_empty());
    for name in [
        "scrape_duration_seconds",
        "scrape_samples_scraped",
        "scrape_samples_post_metric_relabeling",
        "scrape_series_added",
    ] {
        assert!(
            !store
                .series(&[("__name__", name), ("job", "app"), ("instance", a)])
                .is_empty(),
            "{name}"
        );
    }
    let scraped = store.series(&[
        ("__name__", "scrape_samples_scraped"),
        ("job", "app"),
        ("instance", a),
    ]);
    assert_eq!(scraped[0].1, 3.0);
    let added = store.series(&[
        ("__name__", "scrape_series_added"),
        ("job", "app"),
        ("instance", a),
    ]);
    assert_eq!(added[0].1, 3.0);
    assert_eq!(added[1].1, 0.0, "second scrape adds no series");
    assert!(up_values(&store, "app", a).iter().all(|v| *v == 1.0));
    // Sample and report timestamps are the scrape's.
    let up = store.series(&[("__name__", "up"), ("job", "app"), ("instance", a)]);
    assert_eq!(up[0].0, s[0].0);
    // Metadata went to the store.
    let meta = store.metadata.lock().get("requests_total").cloned().unwrap();
    assert_eq!(meta.help, "Requests.");
    assert_eq!(meta.metric_type, sightline_model::MetricType::Counter);
    // Request headers as Prometheus sends them.
    let req = srv.requests.lock()[0].clone();
    assert_eq!(req.target, "/metrics");
    assert_eq!(
        req.headers["accept"],
        "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.1"
    );
    assert_eq!(req.headers["x-prometheus-scrape-timeout-seconds"], "0.1");
    assert!(req.headers["accept-encoding"].contains("gzip"));
    // Per-target metadata for /api/v1/targets/metadata.
    let md = m.targets_metadata_json(&|_| true, Some("requests_total"), 0);
    assert_eq!(
        md,
        serde_json::json!([{"target": {"instance": a, "job": "app"}, "type": "counter", "help": "Requests.", "unit": ""}])
    );
    let all = m.targets_metadata_json(&|l| l.get("job") == Some("app"), None, 1);
    assert_eq!(all.as_array().unwrap().len(), 1);
    assert_eq!(all[0]["metric"], "requests_total");
    assert_eq!(
        m.targets_metadata_json(&|_| false, None, 0),
        serde_json::json!([])
    );
    // Repeat scrapes go through the cache: by reference, not by labels.
    wait_for("more scrapes", || up_values(&store, "app", &srv.addr).len() >= 4).await;
    assert!(store.appends_by_ref.load(Ordering::Relaxed) > store.appends_by_labels.load(Ordering::Relaxed));
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disappearing_series_and_failed_scrapes_get_staleness_markers() {
    let srv = TestServer::start(Reply::text(BODY)).await;
    let store = Arc::new(MemStore::default());
    let m = manager(&store);
    m.apply_pools(vec![pool("app", &[&srv.addr])]);
    let a = srv.addr.clone();
    wait_for("a scrape", || !up_values(&store, "app", &a).is_empty()).await;
    srv.set(|r| r.body = b"temp 20\n".to_vec());
    let c500 = [
        ("__name__", "requests_total"),
        ("code", "500"),
        ("job", "app"),
        ("instance", a.as_str()),
    ];
    wait_for("stale marker for a vanished series", || {
        store.series(&c500).iter().any(|(_, v)| is_stale_nan(*v))
    })
    .await;
    // Exactly one marker, then nothing more for that series.
    let n = store.series(&c500).len();
    wait_for("two more scrapes", || up_values(&store, "app", &a).len() >= 4).await;
    let later = store.series(&c500);
    assert_eq!(later.len(), n);
    assert_eq!(later.iter().filter(|(_, v)| is_stale_nan(*v)).count(), 1);

    // A failing target: up=0, stale marker for everything it exposed.
    srv.set(|r| r.status = 500);
    let temp = [("__name__", "temp"), ("job", "app"), ("instance", a.as_str())];
    wait_for("up=0", || up_values(&store, "app", &a).last() == Some(&0.0)).await;
    wait_for("temp stale", || {
        store.series(&temp).last().is_some_and(|(_, v)| is_stale_nan(*v))
    })
    .await;
    let j = m.targets_json(None, None);
    let t = &j["activeTargets"][0];
    assert_eq!(t["health"], "down");
    assert!(t["lastError"].as_str().unwrap().contains("500"), "{t}");
    // Recovery: samples again, up=1.
    srv.set(|r| r.status = 200);
    wait_for("up=1 again", || up_values(&store, "app", &a).last() == Some(&1.0)).await;
    wait_for("temp back", || {
        store.series(&temp).last().is_some_and(|(_, v)| *v == 20.0)
    })
    .await;
    m.stop().await;
    // Stop writes staleness markers for the series and the report series.
    assert!(store.series(&temp).last().is_some_and(|(_, v)| is_stale_nan(*v)));
    let up = store.series(&[("__name__", "up"), ("job", "app"), ("instance", a.as_str())]);
    assert!(is_stale_nan(up.last().unwrap().1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_target_gets_staleness_markers_and_kept_target_is_untouched() {
    let s1 = TestServer::start(Reply::text("a 1\n")).await;
    let s2 = TestServer::start(Reply::text("b 2\n")).await;
    let store = Arc::new(MemStore::default());
    let m = manager(&store);
    m.apply_pools(vec![pool("p", &[&s1.addr, &s2.addr])]);
    wait_for("both scraped", || {
        !up_values(&store, "p", &s1.addr).is_empty() && !up_values(&store, "p", &s2.addr).is_empty()
    })
    .await;
    m.apply_pools(vec![pool("p", &[&s1.addr])]);
    let b = [("__name__", "b"), ("job", "p"), ("instance", s2.addr.as_str())];
    wait_for("b stale", || {
        store.series(&b).last().is_some_and(|(_, v)| is_stale_nan(*v))
    })
    .await;
    let up2 = store.series(&[("__name__", "up"), ("job", "p"), ("instance", s2.addr.as_str())]);
    wait_for("up of removed target stale", || {
        store
            .series(&[("__name__", "up"), ("job", "p"), ("instance", s2.addr.as_str())])
            .last()
            .is_some_and(|(_, v)| is_stale_nan(*v))
    })
    .await;
    assert!(!up2.is_empty());
    let a = [("__name__", "a"), ("job", "p"), ("instance", s1.addr.as_str())];
    let n = store.series(&a).len();
    wait_for("a keeps being scraped", || store.series(&a).len() >= n + 2).await;
    assert!(store.series(&a).iter().all(|(_, v)| *v == 1.0));
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unchanged_config_keeps_loops_and_changed_config_hands_over() {
    let srv = TestServer::start(Reply::text("x 1\n")).await;
    let store = Arc::new(MemStore::default());
    let m = manager(&store);
    let cfg = pool("p", &[&srv.addr]);
    m.apply_pools(vec![cfg.clone()]);
    let a = srv.addr.clone();
    let x = [("__name__", "x"), ("job", "p"), ("instance", a.as_str())];
    wait_for("scrapes", || store.series(&x).len() >= 2).await;
    for _ in 0..5 {
        m.apply_pools(vec![cfg.clone()]);
    }
    // A changed config (different limit) replaces the loop, keeping state.
    let mut changed = cfg.clone();
    changed.sample_limit = 100;
    changed.fingerprint.push_str("-limit");
    m.apply_pools(vec![changed]);
    let n = store.series(&x).len();
    wait_for("scrapes after reload", || store.series(&x).len() >= n + 3).await;
    m.stop().await;
    let xs = store.series(&x);
    // Timestamps strictly increase: no duplicate scrape; only the final
    // marker at stop is stale (no marker at reload).
    assert!(xs.windows(2).all(|w| w[0].0 < w[1].0), "{xs:?}");
    let stale: Vec<usize> = xs
        .iter()
        .enumerate()
        .filter(|(_, s)| is_stale_nan(s.1))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(stale, vec![xs.len() - 1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honor_labels_and_exported_prefix() {
    let body = "m{job=\"inner\",instance=\"i\",exported_job=\"e\",other=\"o\"} 1\n";
    let s1 = TestServer::start(Reply::text(body)).await;
    let store = Arc::new(MemStore::default());
    let m = manager(&store);
    let mut honored = pool("honored", &[&s1.addr]);
    honored.honor_labels = true;
    m.apply_pools(vec![pool("plain", &[&s1.addr]), honored]);
    let a = s1.addr.as_str();
    let plain = [
        ("__name__", "m"),
        ("job", "plain"),
        ("instance", a),
        ("exported_job", "e"),
        ("exported_exported_job", "inner"),
        ("exported_instance", "i"),
        ("other", "o"),
    ];
    wait_for("plain series", || !store.series(&plain).is_empty()).await;
    let honor = [
        ("__name__", "m"),
        ("job", "inner"),
        ("instance", "i"),
        ("exported_job", "e"),
        ("other", "o"),
    ];
    wait_for("honored series", || !store.series(&honor).is_empty()).await;
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metric_relabel_drop_and_sample_limit() {
    let srv = TestServer::start(Reply::text("keep 1\ndrop_me 2\ndrop_me{a=\"b\"} 3\n")).await;
    let store = Arc::new(MemStore::default());
    let m = manager(&store);
    let mut c = pool("r", &[&srv.addr]);
    c.metric_relabel = rules("- {source_labels: [__name__], regex: drop_me, action: drop}");
    let mut limited = pool("limited", &[&srv.addr]);
    limited.sample_limit = 2;
    m.apply_pools(vec![c, limited]);
    let a = srv.addr.as_str();
    let post = [
        ("__name__", "scrape_samples_post_metric_relabeling"),
        ("job", "r"),
        ("instance", a),
    ];
    wait_for("relabeled scrape", || !store.series(&post).is_empty()).await;
    assert_eq!(store.series(&post)[0].1, 1.0);
    assert_eq!(
        store.series(&[
            ("__name__", "scrape_samples_scraped"),
            ("job", "r"),
            ("instance", a)
        ])[0]
            .1,
        3.0
    );
    assert!(store.named("drop_me").is_empty());
    assert!(!store
        .series(&[("__name__", "keep"), ("job", "r"), ("instance", a)])
        .is_empty());
    // Limit 2 < 3 samples: whole scrape rejected, up=0, nothing stored.
    wait_for("limited scrape", || !up_values(&store, "limited", a).is_empty()).await;
    assert_eq!(up_values(&store, "limited", a)[0], 0.0);
    assert!(store
        .series(&[("__name__", "keep"), ("job", "limited"), ("instance", a)])
        .is_empty());
    let j = m.targets_json(Some("active"), Some("limited"));
    wait_for("error shown", || {
        m.targets_json(Some("active"), Some("limited"))["activeTargets"][0]["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("sample limit"))
    })
    .await;
    assert_eq!(j["activeTargets"].as_array().unwrap().len(), 1);
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_bodies_and_body_size_limit() {
    let mut reply = Reply::text(&"big_metric 1\n".repeat(200));
    reply.gzip = true;
    let srv = TestServer::start(reply).await;
    let store = Arc::new(MemStore::default());
    let m = manager(&store);
    let mut small = pool("small", &[&srv.addr]);
    small.body_size_limit = 100;
    m.apply_pools(vec![pool("gz", &[&srv.addr]), small]);
    let a = srv.addr.as_str();
    wait_for("gzip scrape", || up_values(&store, "gz", a).first() == Some(&1.0)).await;
    wait_for("limited scrape", || !up_values(&store, "small", a).is_empty()).await;
    assert_eq!(up_values(&store, "small", a)[0], 0.0);
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_and_bearer_file_reread() {
    let mut reply = Reply::text("ok 1\n");
    reply.require_auth = Some("Basic dXNlcjpwYXNz".into()); // user:pass
    let srv = TestServer::start(reply).await;
    let store = Arc::new(MemStore::default());
    let m = manager(&store);
    let mut c = pool("basic", &[&srv.addr]);
    c.http.basic_auth = Some((Secret::Inline("user".into()), Some(Secret::Inline("pass".into()))));
    m.apply_pools(vec![c]);
    let a = srv.addr.clone();
    wait_for("authorized scrape", || {
        up_values(&store, "basic", &a).first() == Some(&1.0)
    })
    .await;

    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "one\n").unwrap();
    srv.set(|r| r.require_auth = Some("Bearer two".into()));
    let mut c = pool("bearer", &[&srv.addr]);
    c.http.authorization = Some(("Bearer".into(), Secret::File(token.clone())));
    m.apply_pools(vec![c]);
    wait_for("rejected with old token", || {
        up_values(&store, "bearer", &a).first() == Some(&0.0)
    })
    .await;
    std::fs::write(&token, "two").unwrap();
    wait_for("accepted after file change", || {
        up_values(&store, "bearer", &a).last() == Some(&1.0)
    })
    .await;
    assert!(srv
        .requests
        .lock()
        .iter()
        .any(|r| r.headers.get("authorization").map(String::as_str) == Some("Bearer one")));
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_sd_changes_are_picked_up() {
    let s1 = TestServer::start(Reply::text("f 1\n")).await;
    let s2 = TestServer::start(Reply::text("f 2\n")).await;
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("targets.json");
    std::fs::write(
        &f,
        format!(r#"[{{"targets": ["{}"], "labels": {{"team": "a"}}}}]"#, s1.addr),
    )
    .unwrap();
    let store = Arc::new(MemStore::default());
    let m = manager(&store);
    let mut c = pool("files", &[]);
    c.file_sd = vec![sightline_scrape::FileSdSettings {
        files: vec![dir.path().join("*.json")],
        refresh_interval: Duration::from_secs(300),
    }];
    c.file_sd_poll = Duration::from_millis(50);
    m.apply_pools(vec![c]);
    let f1 = [
        ("__name__", "f"),
        ("job", "files"),
        ("instance", s1.addr.as_str()),
        ("team", "a"),
    ];
    wait_for("file target scraped", || !store.series(&f1).is_empty()).await;
    let j = m.targets_json(None, None);
    assert_eq!(
        j["activeTargets"][0]["discoveredLabels"]["__meta_filepath"],
        f.display().to_string()
    );
    // A broken file keeps the last good targets.
    std::fs::write(&f, "[{").unwrap();
    let n = store.series(&f1).len();
    wait_for("still scraping", || store.series(&f1).len() >= n + 3).await;
    // New content: the old target goes (stale), the new one comes.
    std::fs::write(&f, format!(r#"[{{"targets": ["{}"]}}]"#, s2.addr)).unwrap();
    let f2 = [
        ("__name__", "f"),
        ("job", "files"),
        ("instance", s2.addr.as_str()),
    ];
    wait_for("new file target scraped", || !store.series(&f2).is_empty()).await;
    wait_for("old target stale", || {
        store.series(&f1).last().is_some_and(|(_, v)| is_stale_nan(*v))
    })
    .await;
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn targets_json_has_prometheus_shape() {
    let srv = TestServer::start(Reply::text("x 1\n")).await;
    let store = Arc::new(MemStore::default());
    let m = manager(&store);
    let mut c = pool("shape", &[&srv.addr, "dropme:1"]);
    c.params = vec![("module".into(), vec!["m1".into()])];
    c.relabel = rules("- {source_labels: [__address__], regex: 'dropme:1', action: drop}");
    m.apply_pools(vec![c]);
    wait_for("first scrape", || {
        m.targets_json(None, None)["activeTargets"][0]["health"] == "up"
    })
    .await;
    let j = m.targets_json(None, None);
    let t = &j["activeTargets"][0];
    let keys: Vec<&str> = t.as_object().unwrap().keys().map(String::as_str).collect();
    for k in [
        "discoveredLabels",
        "labels",
        "scrapePool",
        "scrapeUrl",
        "globalUrl",
        "lastError",
        "lastScrape",
        "lastScrapeDuration",
        "health",
        "scrapeInterval",
        "scrapeTimeout",
    ] {
        assert!(keys.contains(&k), "{k} missing in {t}");
    }
    assert_eq!(t["scrapePool"], "shape");
    assert_eq!(t["scrapeUrl"], format!("http://{}/metrics?module=m1", srv.addr));
    assert_eq!(
        t["labels"],
        serde_json::json!({"instance": srv.addr, "job": "shape"})
    );
    assert_eq!(t["discoveredLabels"]["__param_module"], "m1");
    assert_eq!(t["discoveredLabels"]["__scrape_interval__"], "100ms");
    assert_eq!(t["scrapeInterval"], "100ms");
    assert_eq!(t["lastError"], "");
    let ls = t["lastScrape"].as_str().unwrap();
    assert!(ls.ends_with('Z') && ls.len() >= 20, "{ls}");
    assert!(t["lastScrapeDuration"].as_f64().unwrap() > 0.0);
    assert_eq!(
        j["droppedTargets"][0]["discoveredLabels"]["__address__"],
        "dropme:1"
    );
    assert_eq!(j["droppedTargetCounts"]["shape"], 1);
    let active = m.targets_json(Some("active"), None);
    assert_eq!(active["droppedTargets"], serde_json::json!([]));
    assert!(active["droppedTargetCounts"].is_null());
    let dropped = m.targets_json(Some("dropped"), None);
    assert_eq!(dropped["activeTargets"], serde_json::json!([]));
    assert_eq!(
        m.targets_json(None, Some("nope"))["activeTargets"],
        serde_json::json!([])
    );
    let meta = m.targets_metadata_json(&|_| true, None, 0);
    assert!(meta.as_array().is_some());
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explicit_timestamps_and_lost_series_refs() {
    let srv = TestServer::start(Reply::text("ts_metric 5 1000\nplain 1\n")).await;
    let store = Arc::new(MemStore::default());
    let m = manager(&store);
    let mut ignore = pool("ignore", &[&srv.addr]);
    ignore.honor_timestamps = false;
    m.apply_pools(vec![pool("honor", &[&srv.addr]), ignore]);
    let a = srv.addr.as_str();
    let honored = [("__name__", "ts_metric"), ("job", "honor"), ("instance", a)];
    wait_for("honored", || !store.series(&honored).is_empty()).await;
    assert_eq!(store.series(&honored)[0].0, 1000);
    let ignored = [("__name__", "ts_metric"), ("job", "ignore"), ("instance", a)];
    wait_for("ignored", || !store.series(&ignored).is_empty()).await;
    assert!(store.series(&ignored)[0].0 > 1000);
    // The store forgets references: the loops fall back to labels.
    store.forget_refs();
    let plain = [("__name__", "plain"), ("job", "honor"), ("instance", a)];
    let n = store.series(&plain).len();
    wait_for("scrapes continue", || store.series(&plain).len() >= n + 2).await;
    srv.set(|r| r.body = b"plain 1\n".to_vec());
    wait_for("plain continues", || store.series(&plain).len() >= n + 4).await;
    m.stop().await;
    // Explicitly timestamped series are not staleness-tracked.
    assert!(store.series(&honored).iter().all(|(_, v)| !is_stale_nan(*v)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_targets_time_out() {
    let mut reply = Reply::text("slow 1\n");
    reply.delay = Duration::from_secs(2);
    let srv = TestServer::start(reply).await;
    let store = Arc::new(MemStore::default());
    let m = manager(&store);
    m.apply_pools(vec![pool("slow", &[&srv.addr])]);
    let a = srv.addr.clone();
    wait_for("a failed scrape", || !up_values(&store, "slow", &a).is_empty()).await;
    assert_eq!(up_values(&store, "slow", &a)[0], 0.0);
    let j = m.targets_json(None, None);
    let err = j["activeTargets"][0]["lastError"].as_str().unwrap().to_string();
    assert!(err.contains("context deadline exceeded"), "{err}");
    assert!(store.named("slow").is_empty());
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_limit_fails_scrapes_and_dropped_targets_are_capped() {
    let srv = TestServer::start(Reply::text("t 1\n")).await;
    let store = Arc::new(MemStore::default());
    let m = manager(&store);
    let other = "127.0.0.1:1".to_string();
    let mut c = pool("lim", &[&srv.addr, &other]);
    c.target_limit = 1;
    let mut d = pool("drops", &[&srv.addr, "x:1", "x:2", "x:3"]);
    d.relabel = rules("- {source_labels: [__address__], regex: 'x:.*', action: drop}");
    d.keep_dropped_targets = 2;
    m.apply_pools(vec![c.clone(), d]);
    let a = srv.addr.clone();
    wait_for("limited scrape", || !up_values(&store, "lim", &a).is_empty()).await;
    assert_eq!(up_values(&store, "lim", &a)[0], 0.0);
    assert!(store
        .series(&[("__name__", "t"), ("job", "lim"), ("instance", a.as_str())])
        .is_empty());
    wait_for("error shown", || {
        m.targets_json(Some("active"), Some("lim"))["activeTargets"][0]["lastError"]
            .as_str()
            .is_some_and(|e| e.starts_with("target_limit exceeded"))
    })
    .await;
    let j = m.targets_json(Some("dropped"), Some("drops"));
    assert_eq!(j["droppedTargets"].as_array().unwrap().len(), 2);
    assert_eq!(j["droppedTargetCounts"]["drops"], 3);
    // Raising the limit lets the same targets scrape again.
    c.target_limit = 5;
    c.fingerprint.push_str("-raised");
    m.apply_pools(vec![c]);
    wait_for("scrapes after raising the limit", || {
        up_values(&store, "lim", &a).last() == Some(&1.0)
    })
    .await;
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_ca_file_and_server_name() {
    let srv = TestServer::start_tls(Reply::text("secure 1\n")).await;
    let store = Arc::new(MemStore::default());
    let m = manager(&store);
    let ca = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ca.pem");
    let https = |job: &str| {
        let mut c = pool(job, &[&srv.addr]);
        c.scheme = "https".into();
        c.http.tls.ca_file = Some(ca.clone());
        c
    };
    // The certificate is for scrape.test, not 127.0.0.1: verification
    // fails without server_name and passes with it.
    let plain = https("no_name");
    let mut named = https("named");
    named.http.tls.server_name = Some("scrape.test".into());
    let mut wrong = https("wrong_name");
    wrong.http.tls.server_name = Some("other.test".into());
    let mut insecure = pool("insecure", &[&srv.addr]);
    insecure.scheme = "https".into();
    insecure.http.tls.insecure_skip_verify = true;
    m.apply_pools(vec![plain, named, wrong, insecure]);
    let a = srv.addr.clone();
    wait_for("named scrape", || {
        up_values(&store, "named", &a).first() == Some(&1.0)
    })
    .await;
    wait_for("insecure scrape", || {
        up_values(&store, "insecure", &a).first() == Some(&1.0)
    })
    .await;
    wait_for("unnamed scrape", || !up_values(&store, "no_name", &a).is_empty()).await;
    wait_for("wrong-name scrape", || {
        !up_values(&store, "wrong_name", &a).is_empty()
    })
    .await;
    assert_eq!(up_values(&store, "no_name", &a)[0], 0.0);
    assert_eq!(up_values(&store, "wrong_name", &a)[0], 0.0);
    for job in ["no_name", "wrong_name"] {
        wait_for("certificate error shown", || {
            m.targets_json(None, Some(job))["activeTargets"][0]["lastError"]
                .as_str()
                .is_some_and(|e| e.contains("certificate"))
        })
        .await;
    }
    assert!(!store
        .series(&[("__name__", "secure"), ("job", "named"), ("instance", a.as_str())])
        .is_empty());
    m.stop().await;
}
