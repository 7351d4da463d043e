//! StatsD / DogStatsD over UDP through the real binary, with the `statsd`
//! client from PyPI and raw DogStatsD datagrams.

mod common;

use common::{python, wait_for, Server};
use std::net::UdpSocket;
use std::time::Duration;

fn value(s: &Server, selector: &str) -> Option<f64> {
    let rows = s.export(selector);
    let row = rows.first()?;
    row["values"].as_array()?.last()?.as_f64()
}

#[test]
fn python_statsd_client_and_dogstatsd_tags() {
    let s = Server::start(&[
        "--statsd.listen",
        "127.0.0.1:0",
        "--statsd.flush-interval",
        "200ms",
    ]);
    let addr = s.statsd.expect("statsd listener address in the log");

    let script = format!(
        r#"
import statsd
c = statsd.StatsClient("{host}", {port}, prefix="shop")
for _ in range(3):
    c.incr("orders")
c.gauge("queue.depth", 40)
c.gauge("queue.depth", -5, delta=True)
c.timing("checkout.latency", 250)
c.timing("checkout.latency", 20)
c.set("users", "alice")
c.set("users", "bob")
c.set("users", "alice")
"#,
        host = addr.ip(),
        port = addr.port()
    );
    let out = std::process::Command::new(python())
        .args(["-c", &script])
        .output()
        .expect("run python");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // The client samples on its side, so send the rated line raw.
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.send_to(b"shop.orders:10|c|@0.5\n", addr).unwrap();
    // 3 + 10 / 0.5
    let orders = wait_for("orders counter", Duration::from_secs(20), || {
        value(&s, "shop_orders").filter(|v| *v == 23.0)
    });
    assert_eq!(orders, 23.0);
    assert_eq!(value(&s, "shop_queue_depth"), Some(35.0));
    // Timers become histograms in seconds.
    assert_eq!(value(&s, "shop_checkout_latency_count"), Some(2.0));
    let sum = value(&s, "shop_checkout_latency_sum").unwrap();
    assert!((sum - 0.27).abs() < 1e-9, "{sum}");
    assert_eq!(value(&s, r#"shop_checkout_latency_bucket{le="0.25"}"#), Some(2.0));
    assert_eq!(value(&s, r#"shop_checkout_latency_bucket{le="0.1"}"#), Some(1.0));
    assert_eq!(value(&s, r#"shop_checkout_latency_bucket{le="+Inf"}"#), Some(2.0));
    // Sets count distinct members per interval (the last non-empty interval
    // saw both members).
    let users = s.export("shop_users");
    let vals: Vec<f64> = users[0]["values"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_f64())
        .collect();
    assert!(vals.contains(&2.0), "{vals:?}");

    // DogStatsD tags become labels; malformed lines are counted, not fatal.
    sock.send_to(
        b"api.requests:1|c|#env:prod,route:/cart\napi.requests:2|c|#env:prod,route:/cart\nbroken line\n",
        addr,
    )
    .unwrap();
    wait_for("tagged counter", Duration::from_secs(20), || {
        value(&s, r#"api_requests{env="prod",route="/cart"}"#).filter(|v| *v == 3.0)
    });
    let metrics = wait_for("malformed count", Duration::from_secs(20), || {
        let (_, m) = s.get("/metrics");
        m.contains("path=\"statsd\"").then_some(m)
    });
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("sightline_ingest_samples_rejected_total") && l.contains("statsd")),
        "{metrics}"
    );
}

#[test]
fn statsd_flushes_on_shutdown() {
    let tmp = common::tempdir();
    let dir = tmp.path().join("data");
    let mut s = Server::start_in(
        &dir,
        &["--statsd.listen", "127.0.0.1:0", "--statsd.flush-interval", "1h"],
    );
    let addr = s.statsd.unwrap();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.send_to(b"jobs.done:5|c\n", addr).unwrap();
    // Give the datagram time to be read (the flush interval is an hour, so
    // only the shutdown flush can write it).
    std::thread::sleep(Duration::from_millis(300));
    assert!(s.stop().success());
    let s = Server::start_in(&dir, &[]);
    assert_eq!(value(&s, "jobs_done"), Some(5.0));
}
