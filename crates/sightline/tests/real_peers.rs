//! Real peers from Debian's packages and PyPI: Prometheus 2.42 remote-writes
//! into Sightline, node_exporter and a prometheus_client app are scraped.

mod common;

use common::{free_port, wait_for, Server};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A child process killed when dropped.
struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(cmd: &mut Command) -> Peer {
    let what = format!("{cmd:?}");
    Peer(
        cmd.stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{what}: {e} (run scripts/test.sh to install peers)")),
    )
}

fn write_config(dir: &std::path::Path, yaml: &str) -> String {
    let p = dir.join("prometheus.yml");
    std::fs::write(&p, yaml).unwrap();
    p.to_string_lossy().into_owned()
}

#[test]
fn prometheus_remote_writes_into_sightline() {
    let s = Server::start(&[]);
    let tmp = common::tempdir();
    let prom_port = free_port();
    let cfg = write_config(
        tmp.path(),
        &format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: prom-self\n    static_configs:\n      - targets: ['127.0.0.1:{prom_port}']\n\
             remote_write:\n  - url: http://{}/api/v1/write\n    queue_config:\n      batch_send_deadline: 1s\n      min_backoff: 100ms\n",
            s.http
        ),
    );
    let _prom = spawn(Command::new("prometheus").args([
        &format!("--config.file={cfg}"),
        &format!("--storage.tsdb.path={}", tmp.path().join("prom").display()),
        &format!("--web.listen-address=127.0.0.1:{prom_port}"),
    ]));
    let rows = wait_for(
        "Prometheus's samples in Sightline",
        Duration::from_secs(60),
        || {
            let rows = s.export(r#"{job="prom-self"}"#);
            (rows.len() > 100).then_some(rows)
        },
    );
    let up = rows
        .iter()
        .find(|r| r["metric"]["__name__"] == "up")
        .expect("up series");
    assert_eq!(up["metric"]["instance"], format!("127.0.0.1:{prom_port}"));
    assert!(up["values"].as_array().unwrap().iter().all(|v| v == 1.0));
    // Metadata travels with remote write in 2.42.
    wait_for("metadata from Prometheus", Duration::from_secs(70), || {
        let m = s.get_json("/api/v1/metadata?metric=prometheus_http_requests_total");
        (m["data"]["prometheus_http_requests_total"][0]["type"] == "counter").then_some(())
    });
    // Prometheus saw no failed sends.
    let metrics = common::client()
        .get(format!("http://127.0.0.1:{prom_port}/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let failed: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("prometheus_remote_storage_samples_failed_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(failed, 0.0, "Prometheus reports failed remote-write samples");
}

#[test]
fn node_exporter_is_scraped() {
    let ne_port = free_port();
    let _ne = spawn(
        Command::new("prometheus-node-exporter").arg(format!("--web.listen-address=127.0.0.1:{ne_port}")),
    );
    let tmp = common::tempdir();
    let cfg = write_config(
        tmp.path(),
        &format!("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['127.0.0.1:{ne_port}']\n        labels:\n          env: test\n"),
    );
    let s = Server::start(&["--config", &cfg]);
    wait_for("node_exporter's series", Duration::from_secs(60), || {
        let rows = s.export(r#"node_cpu_seconds_total{job="node"}"#);
        (!rows.is_empty()).then_some(())
    });
    let rows = s.export(r#"node_cpu_seconds_total{job="node",mode="idle"}"#);
    assert_eq!(rows[0]["metric"]["env"], "test");
    assert_eq!(rows[0]["metric"]["instance"], format!("127.0.0.1:{ne_port}"));
    // The first scrape may have raced node_exporter's start: look at the
    // latest scrape, which produced the series above.
    let up = s.export(r#"up{job="node"}"#);
    assert_eq!(up[0]["values"].as_array().unwrap().last().unwrap(), 1.0);
    let scraped = s.export(r#"scrape_samples_scraped{job="node"}"#);
    assert!(
        scraped[0]["values"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .as_f64()
            .unwrap()
            > 100.0
    );
    for synthetic in [
        "scrape_duration_seconds",
        "scrape_samples_post_metric_relabeling",
        "scrape_series_added",
    ] {
        assert!(
            !s.export(&format!(r#"{synthetic}{{job="node"}}"#)).is_empty(),
            "{synthetic} missing"
        );
    }
    let t = s.get_json("/api/v1/targets?state=active");
    let target = &t["data"]["activeTargets"][0];
    assert_eq!(target["health"], "up", "{t}");
    assert_eq!(target["scrapePool"], "node");
    assert_eq!(target["labels"]["env"], "test");
    let meta = s.get_json("/api/v1/metadata?metric=node_cpu_seconds_total");
    assert_eq!(
        meta["data"]["node_cpu_seconds_total"][0]["type"], "counter",
        "{meta}"
    );
}

const PY_APP: &str = r#"
import sys, time
from prometheus_client import Counter, Histogram, start_http_server
c = Counter('orders', 'Orders placed', ['shop'])
h = Histogram('checkout_seconds', 'Checkout latency', buckets=[0.1, 0.5, 1.0])
start_http_server(int(sys.argv[1]), addr='127.0.0.1')
c.labels(shop='north').inc(3)
for v in (0.05, 0.3, 0.7, 2.0):
    h.observe(v)
print('ready', flush=True)
time.sleep(120)
"#;

#[test]
fn prometheus_client_app_is_scraped() {
    let port = free_port();
    let tmp = common::tempdir();
    let script = tmp.path().join("app.py");
    std::fs::write(&script, PY_APP).unwrap();
    let _app = spawn(Command::new(common::python()).arg(&script).arg(port.to_string()));
    let cfg = write_config(
        tmp.path(),
        &format!("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"),
    );
    let s = Server::start(&["--config", &cfg]);
    let rows = wait_for("the app's counter", Duration::from_secs(60), || {
        let rows = s.export(r#"orders_total{job="app"}"#);
        let done = rows
            .first()
            .is_some_and(|r| r["values"].as_array().unwrap().contains(&3.0.into()));
        done.then_some(rows)
    });
    assert_eq!(rows[0]["metric"]["shop"], "north");
    let buckets = s.export(r#"checkout_seconds_bucket{job="app"}"#);
    let by_le = |le: &str| {
        buckets
            .iter()
            .find(|r| r["metric"]["le"] == le)
            .map(|r| r["values"][0].as_f64().unwrap())
    };
    assert_eq!(by_le("0.1"), Some(1.0));
    assert_eq!(by_le("1.0"), Some(3.0));
    assert_eq!(by_le("+Inf"), Some(4.0));
    assert_eq!(
        s.export(r#"checkout_seconds_count{job="app"}"#)[0]["values"][0],
        4.0
    );
}
