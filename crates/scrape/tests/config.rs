//! The manager driven by real `prometheus.yml` text through
//! `sightline_config`, including reloads.

mod common;

use common::{wait_for, MemStore, Reply, TestServer};
use prometheus_client::registry::Registry;
use sightline_model::is_stale_nan;
use sightline_scrape::ScrapeManager;
use std::path::Path;
use std::sync::Arc;

fn load(path: &Path, yaml: &str) -> sightline_config::Config {
    std::fs::write(path, yaml).unwrap();
    sightline_config::load(path).unwrap().0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_file_scrape_and_reload() {
    let srv = TestServer::start(Reply::text("# TYPE jobs_done counter\njobs_done 7\n")).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("prometheus.yml");
    let store = Arc::new(MemStore::default());
    let mut reg = Registry::default();
    let m = ScrapeManager::new(store.clone(), &mut reg);
    let a = srv.addr.clone();
    let base = format!(
        "global:\n  scrape_interval: 100ms\n  scrape_timeout: 100ms\nscrape_configs:\n  - job_name: web\n    static_configs:\n      - targets: ['{a}']\n        labels: {{env: prod}}\n"
    );
    m.apply_config(&load(&path, &base));
    let sel = [
        ("__name__", "jobs_done"),
        ("job", "web"),
        ("instance", a.as_str()),
        ("env", "prod"),
    ];
    wait_for("scraped via config", || store.series(&sel).len() >= 2).await;

    // Reloading the same file keeps the loop; adding a metric relabel rule
    // rebuilds the pool with handover: no staleness for surviving series.
    m.apply_config(&load(&path, &base));
    let relabeled =
        format!("{base}    metric_relabel_configs:\n      - {{target_label: stage, replacement: two}}\n");
    m.apply_config(&load(&path, &relabeled));
    let sel2 = [
        ("__name__", "jobs_done"),
        ("job", "web"),
        ("instance", a.as_str()),
        ("env", "prod"),
        ("stage", "two"),
    ];
    wait_for("relabeled series", || store.series(&sel2).len() >= 2).await;
    // The old label set disappeared, so it got exactly one marker.
    wait_for("old series stale", || {
        store.series(&sel).iter().any(|(_, v)| is_stale_nan(*v))
    })
    .await;
    assert_eq!(
        store
            .series(&sel)
            .iter()
            .filter(|(_, v)| is_stale_nan(*v))
            .count(),
        1
    );
    let up = [
        ("__name__", "up"),
        ("job", "web"),
        ("instance", a.as_str()),
        ("env", "prod"),
    ];
    assert!(
        store.series(&up).iter().all(|(_, v)| *v == 1.0),
        "no marker for up at reload"
    );

    // Removing the job stops it with staleness markers.
    m.apply_config(&load(&path, "scrape_configs: []\n"));
    wait_for("up stale", || {
        store.series(&up).last().is_some_and(|(_, v)| is_stale_nan(*v))
    })
    .await;
    assert_eq!(m.targets_json(None, None)["activeTargets"], serde_json::json!([]));
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &reg).unwrap();
    assert!(text.contains("prometheus_target_scrape_pools_total 1"), "{text}");
    assert!(
        text.contains("prometheus_target_scrape_pool_reloads_total 1"),
        "{text}"
    );
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_reference_config_yields_its_targets() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/configs/prometheus.yml");
    let Ok((cfg, _)) = sightline_config::load(&path) else {
        panic!("reference prometheus.yml must load");
    };
    let store = Arc::new(MemStore::default());
    let mut reg = Registry::default();
    let m = ScrapeManager::new(store.clone(), &mut reg);
    m.apply_config(&cfg);
    let j = m.targets_json(Some("active"), None);
    let pools: Vec<&str> = j["activeTargets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["scrapePool"].as_str().unwrap())
        .collect();
    assert_eq!(
        pools,
        ["business-metrics", "node", "postgres", "prometheus", "web-api"]
    );
    let web = &j["activeTargets"][4];
    assert_eq!(web["scrapeUrl"], "http://web-api:8080/metrics");
    assert_eq!(web["scrapeInterval"], "15s");
    // Not scraped yet (first scrape is spread over the interval), or failed
    // (the names do not resolve here).
    if web["health"] == "unknown" {
        assert_eq!(web["lastScrape"], "0001-01-01T00:00:00Z");
    } else {
        assert_eq!(web["health"], "down");
    }
    m.stop().await;
}
