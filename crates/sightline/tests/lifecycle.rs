//! The binary's contract: version, health endpoints, self-metrics,
//! self-scrape without a config, clean SIGTERM, SIGHUP reload.

mod common;

use common::{wait_for, Server};
use std::time::Duration;

#[test]
fn version_prints() {
    let out = std::process::Command::new(common::bin())
        .arg("version")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("sightline, version "));
}

#[test]
fn health_endpoints_and_self_metrics() {
    let mut s = Server::start(&[]);
    assert_eq!(s.get("/-/healthy").0, 200);
    assert_eq!(s.get("/-/ready").0, 200);
    let h = s.get_json("/health");
    assert_eq!(h["status"], "ok", "{h}");
    for c in ["disk", "storage"] {
        assert_eq!(h["components"][c]["status"], "ok", "{h}");
    }
    let (code, m) = s.get("/metrics");
    assert_eq!(code, 200);
    for name in [
        "sightline_tsdb_head_series",
        "sightline_tsdb_wal_size_bytes",
        "sightline_http_request_duration_seconds",
    ] {
        assert!(m.contains(name), "/metrics lacks {name}:\n{m}");
    }
    // Without a config it scrapes itself.
    wait_for("self-scrape up=1", Duration::from_secs(40), || {
        let rows = s.export(r#"up{job="sightline"}"#);
        rows.first()
            .filter(|r| r["values"].as_array().is_some_and(|v| v.contains(&1.0.into())))
            .cloned()
    });
    let t = s.get_json("/api/v1/targets");
    assert_eq!(t["data"]["activeTargets"][0]["health"], "up", "{t}");
    assert!(s.stop().success(), "SIGTERM must exit 0");
}

#[test]
fn sighup_reloads_config() {
    let tmp = common::tempdir();
    let cfg = tmp.path().join("prometheus.yml");
    std::fs::write(&cfg, "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: one\n    static_configs:\n      - targets: ['127.0.0.1:1']\n").unwrap();
    let s = Server::start(&["--config", cfg.to_str().unwrap()]);
    let pools = |s: &Server| -> Vec<String> {
        let t = s.get_json("/api/v1/targets");
        t["data"]["activeTargets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["scrapePool"].as_str().unwrap().to_string())
            .collect()
    };
    wait_for("target one", Duration::from_secs(10), || {
        pools(&s).contains(&"one".to_string()).then_some(())
    });
    std::fs::write(&cfg, "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: two\n    static_configs:\n      - targets: ['127.0.0.1:2']\n").unwrap();
    s.signal(libc::SIGHUP);
    wait_for("target two after SIGHUP", Duration::from_secs(10), || {
        (pools(&s) == ["two"]).then_some(())
    });
    let info = s.get_json("/api/v1/status/runtimeinfo");
    assert_eq!(info["data"]["reloadConfigSuccess"], true, "{info}");
    // A broken file keeps the running config and reports the error.
    std::fs::write(&cfg, "scrape_configs: [").unwrap();
    let (code, msg) = s.post("/-/reload", &[], Vec::new());
    assert_eq!(code, 500, "{msg}");
    assert_eq!(pools(&s), ["two"]);
    let info = s.get_json("/api/v1/status/runtimeinfo");
    assert_eq!(info["data"]["reloadConfigSuccess"], false, "{info}");
}

#[test]
fn check_config_accepts_the_seed_files_and_names_errors() {
    let files = [
        "reference/configs/prometheus.yml",
        "reference/configs/alert_rules.yml",
        "reference/configs/prometheus-alerts.yml",
    ];
    for f in files {
        let p = common::shared(f);
        let out = std::process::Command::new(common::bin())
            .arg("check-config")
            .arg(&p)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{f}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let tmp = common::tempdir();
    let bad = tmp.path().join("bad.yml");
    std::fs::write(
        &bad,
        "global:\n  scrape_interval: 15s\nscrape_configs:\n  - job_name: x\n    scrape_interval: fast\n",
    )
    .unwrap();
    let out = std::process::Command::new(common::bin())
        .arg("check-config")
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.yml:5"), "error must name file and line: {err}");
}
