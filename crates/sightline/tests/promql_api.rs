//! The Prometheus query API through the real binary, read by the real
//! `promtool` (Debian's `prometheus` package) and checked for Prometheus's
//! JSON shapes and error types.

mod common;

use common::{urlencode, wait_for, Server};
use std::process::Command;
use std::time::Duration;

/// Pushes a few series through the Pushgateway path and returns the time
/// (seconds) they are stamped at, roughly.
fn seed(s: &Server) {
    let body = "# TYPE http_requests_total counter\n\
                http_requests_total{code=\"200\",handler=\"/api\"} 1027\n\
                http_requests_total{code=\"500\",handler=\"/api\"} 3\n\
                # TYPE temperature_celsius gauge\n\
                temperature_celsius{room=\"lab\"} 21.5\n";
    let (code, msg) = s.post_method("PUT", "/metrics/job/app/instance/i1", body);
    assert_eq!(code, 200, "{msg}");
}

fn promtool(args: &[&str]) -> String {
    let out = Command::new("promtool")
        .args(args)
        .output()
        .expect("run promtool");
    assert!(
        out.status.success(),
        "promtool {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn promtool_queries() {
    let s = Server::start(&[]);
    seed(&s);
    let url = format!("http://{}", s.http);

    let out = wait_for("promtool instant", Duration::from_secs(20), || {
        let o = promtool(&[
            "query",
            "instant",
            &url,
            "sum by (code) (http_requests_total{job=\"app\"})",
        ]);
        o.contains("1027").then_some(o)
    });
    assert!(out.contains("{code=\"200\"} => 1027"), "{out}");
    assert!(out.contains("{code=\"500\"} => 3"), "{out}");

    let now = chrono_now();
    let out = promtool(&[
        "query",
        "range",
        "--start",
        // Steps land on end, after the sample's (sub-second) timestamp.
        &(now - 55).to_string(),
        "--end",
        // The pushed sample is stamped "now" in ms; end a little later.
        &(now + 5).to_string(),
        "--step",
        "15s",
        &url,
        "temperature_celsius * 2",
    ]);
    assert!(
        out.contains("{instance=\"i1\", job=\"app\", room=\"lab\"} =>"),
        "{out}"
    );
    assert!(out.contains("43 @["), "{out}");

    let out = promtool(&["query", "series", "--match", "temperature_celsius", &url]);
    assert!(out.contains("temperature_celsius"), "{out}");
    let out = promtool(&["query", "labels", &url, "room"]);
    assert_eq!(out.trim(), "lab");
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn json_shapes_and_errors() {
    let s = Server::start(&[]);
    seed(&s);
    let q = |expr: &str| format!("/api/v1/query?query={}", urlencode(expr));
    let v = wait_for("vector", Duration::from_secs(20), || {
        let v = s.get_json(&q("temperature_celsius"));
        (!v["data"]["result"].as_array()?.is_empty()).then_some(v)
    });
    assert_eq!(v["status"], "success");
    assert_eq!(v["data"]["resultType"], "vector");
    let r = &v["data"]["result"][0];
    assert_eq!(r["metric"]["room"], "lab");
    assert_eq!(r["value"][1], "21.5");
    assert!(r["value"][0].is_number());

    let v = s.get_json(&q("1 + 1"));
    assert_eq!(v["data"]["resultType"], "scalar");
    assert_eq!(v["data"]["result"][1], "2");
    let v = s.get_json(&q("temperature_celsius[5m]"));
    assert_eq!(v["data"]["resultType"], "matrix");

    // POST form, as Grafana sends it.
    let (code, body) = s.post(
        "/api/v1/query",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        format!("query={}", urlencode("vector(1)")),
    );
    assert_eq!(code, 200, "{body}");

    // Parse errors: 400 bad_data; execution errors: 422 execution.
    let (code, body) = s.get(&q("sum(("));
    assert_eq!(code, 400, "{body}");
    let e: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(e["errorType"], "bad_data");
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .contains("invalid parameter \"query\""),
        "{e}"
    );
    let (code, body) = s.get(&q("http_requests_total + on(job) http_requests_total"));
    assert_eq!(code, 422, "{body}");
    assert!(body.contains("\"errorType\":\"execution\""), "{body}");
    assert!(body.contains("many-to-many"), "{body}");

    let (code, body) = s.get("/api/v1/query_range?query=up&start=10&end=5&step=1");
    assert_eq!(code, 400, "{body}");
    assert!(
        body.contains("end timestamp must not be before start time"),
        "{body}"
    );
    let (code, body) = s.get("/api/v1/query_range?query=up&start=0&end=100000&step=1");
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("11,000 points"), "{body}");

    let v = s.get_json(&format!(
        "/api/v1/format_query?query={}",
        urlencode("sum(rate(x[5m]))by(job)")
    ));
    assert_eq!(v["data"], "sum by (job) (rate(x[5m]))");
    let v = s.get_json("/api/v1/status/buildinfo");
    assert!(v["data"]["version"].as_str().unwrap().starts_with("2."), "{v}");
    let v = s.get_json("/api/v1/status/tsdb");
    assert!(v["data"]["headStats"]["numSeries"].as_u64().unwrap() > 0, "{v}");
    assert!(v["data"]["seriesCountByMetricName"].is_array(), "{v}");
    let v = s.get_json("/api/v1/status/runtimeinfo");
    assert!(v["data"]["startTime"].is_string(), "{v}");
    let v = s.get_json("/api/v1/status/flags");
    assert!(v["data"]["web.listen-address"].is_string(), "{v}");
    let v = s.get_json("/api/v1/status/config");
    assert!(v["data"]["yaml"].is_string(), "{v}");
    let v = s.get_json("/api/v1/query_exemplars?query=up");
    assert_eq!(v["data"], serde_json::json!([]));
}
