//! Rules through the real binary: recording rules write series, an alerting
//! rule fires into a real Alertmanager 0.25 (seen with `amtool alert
//! query`) and resolves; `/api/v1/rules` and `/api/v1/alerts` report it;
//! the seed rule files load unmodified.

mod common;

use common::{free_port, shared, tempdir, wait_for, Server};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Alertmanager {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Alertmanager {
    fn start() -> Alertmanager {
        let dir = tempdir();
        let cfg = dir.path().join("am.yml");
        std::fs::write(
            &cfg,
            "route:\n  receiver: blackhole\n  group_wait: 0s\n  group_interval: 1s\nreceivers:\n  - name: blackhole\n",
        )
        .unwrap();
        let port = free_port();
        let child = Command::new("prometheus-alertmanager")
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!("--storage.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus-alertmanager");
        let url = format!("http://127.0.0.1:{port}");
        wait_for("alertmanager ready", Duration::from_secs(30), || {
            let r = common::client().get(format!("{url}/-/ready")).send().ok()?;
            r.status().is_success().then_some(())
        });
        Alertmanager {
            child,
            url,
            _dir: dir,
        }
    }

    /// `amtool alert query` output.
    fn query(&self) -> String {
        let out = Command::new("amtool")
            .args(["--alertmanager.url", &self.url, "alert", "query"])
            .output()
            .expect("run amtool");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn alert_fires_into_alertmanager_and_resolves() {
    let am = Alertmanager::start();
    let dir = tempdir();
    std::fs::write(
        dir.path().join("rules.yml"),
        r#"groups:
  - name: test
    interval: 1s
    rules:
      - record: job:queue_depth:max
        expr: max by (job) (queue_depth)
      - alert: QueueTooDeep
        expr: queue_depth > 5
        for: 0s
        labels:
          severity: page
        annotations:
          summary: "Queue on {{ $labels.instance }} is {{ $value }} deep"
"#,
    )
    .unwrap();
    let cfg = dir.path().join("sightline.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  evaluation_interval: 1s\n  external_labels:\n    cluster: test\nrule_files: [rules.yml]\nalerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['{}']\n",
            am.url.trim_start_matches("http://")
        ),
    )
    .unwrap();
    let s = Server::start(&["--config", cfg.to_str().unwrap()]);
    let push = |v: u32| {
        let (code, msg) = s.post_method(
            "PUT",
            "/metrics/job/worker/instance/w1",
            &format!("queue_depth {v}\n"),
        );
        assert_eq!(code, 200, "{msg}");
    };
    push(9);

    let out = wait_for("alert in Alertmanager", Duration::from_secs(30), || {
        let o = am.query();
        o.contains("QueueTooDeep").then_some(o)
    });
    assert!(out.contains("Queue on w1 is 9 deep"), "{out}");

    let alerts = s.get_json("/api/v1/alerts");
    let a = &alerts["data"]["alerts"][0];
    assert_eq!(a["state"], "firing");
    assert_eq!(a["labels"]["severity"], "page");
    assert_eq!(a["value"], "9e+00");
    let rules = s.get_json("/api/v1/rules");
    let g = &rules["data"]["groups"][0];
    assert_eq!(g["name"], "test");
    assert_eq!(g["rules"][0]["type"], "recording");
    assert_eq!(g["rules"][0]["health"], "ok");
    assert_eq!(g["rules"][1]["type"], "alerting");
    assert_eq!(g["rules"][1]["state"], "firing");
    let rec = s.export("job:queue_depth:max");
    assert_eq!(rec[0]["metric"]["job"], "worker");
    assert!(!s
        .export(r#"ALERTS{alertname="QueueTooDeep",alertstate="firing"}"#)
        .is_empty());

    push(1);
    wait_for("alert resolved in Alertmanager", Duration::from_secs(30), || {
        (!am.query().contains("QueueTooDeep")).then_some(())
    });
    let alerts = s.get_json("/api/v1/alerts");
    assert_eq!(alerts["data"]["alerts"], serde_json::json!([]));
}

#[test]
fn seed_rule_files_load_and_evaluate() {
    let dir = tempdir();
    let cfg = dir.path().join("sightline.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  evaluation_interval: 1s\nrule_files:\n  - {}\n  - {}\n",
            shared("reference/configs/alert_rules.yml").display(),
            shared("reference/configs/prometheus-alerts.yml").display()
        ),
    )
    .unwrap();
    let s = Server::start(&["--config", cfg.to_str().unwrap()]);
    // `service_alerts` has its own `interval: 30s`: its first slot can be
    // up to 30 s away.
    let rules = wait_for("rules evaluated", Duration::from_secs(75), || {
        let r = s.get_json("/api/v1/rules");
        let groups = r["data"]["groups"].as_array()?.clone();
        let all_ok = groups.iter().all(|g| {
            g["rules"]
                .as_array()
                .is_some_and(|rs| rs.iter().all(|r| r["health"] == "ok"))
        });
        (!groups.is_empty() && all_ok).then_some(r)
    });
    let n: usize = rules["data"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["rules"].as_array().unwrap().len())
        .sum();
    assert!(n >= 5, "{rules}");
}
