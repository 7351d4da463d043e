//! Remote write through the real binary: acknowledged samples are exported,
//! bad requests get the right status, and kill -9 loses nothing acknowledged.

mod common;

use common::{wait_for, Server};
use sightline_metrics_protocols::remote_write::encode;
use sightline_model::{Labels, Sample};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const RW: &[(&str, &str)] = &[
    ("Content-Type", "application/x-protobuf"),
    ("Content-Encoding", "snappy"),
    ("X-Prometheus-Remote-Write-Version", "0.1.0"),
];

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn series(name: &str, extra: &[(&str, &str)]) -> Labels {
    let mut pairs = vec![("__name__", name), ("job", "rw-test")];
    pairs.extend_from_slice(extra);
    Labels::from_pairs(pairs)
}

#[test]
fn written_samples_are_exported_immediately() {
    let s = Server::start(&[]);
    let t0 = now_ms() - 60_000;
    let body = encode(
        &[
            (
                series("rw_a", &[("instance", "x")]),
                (0..10)
                    .map(|i| Sample {
                        t: t0 + i * 1000,
                        v: i as f64,
                    })
                    .collect(),
            ),
            (
                series("rw_b", &[]),
                vec![Sample {
                    t: t0,
                    v: f64::INFINITY,
                }],
            ),
        ],
        &[],
    );
    let (code, msg) = s.post("/api/v1/write", RW, body);
    assert_eq!(code, 204, "{msg}");
    // Queryable right after the acknowledgement: no polling.
    let rows = s.export(r#"{job="rw-test"}"#);
    assert_eq!(rows.len(), 2, "{rows:?}");
    let a = rows.iter().find(|r| r["metric"]["__name__"] == "rw_a").unwrap();
    assert_eq!(a["metric"]["instance"], "x");
    assert_eq!(a["timestamps"].as_array().unwrap().len(), 10);
    assert_eq!(a["values"][9], 9.0);
    let b = rows.iter().find(|r| r["metric"]["__name__"] == "rw_b").unwrap();
    assert_eq!(b["values"][0], "+Inf");

    let series = s.get_json("/api/v1/series?match[]=rw_a");
    assert_eq!(series["data"][0]["instance"], "x");
    let names = s.get_json("/api/v1/label/__name__/values");
    assert!(names["data"].as_array().unwrap().iter().any(|v| v == "rw_b"));
}

#[test]
fn bad_requests_get_clear_errors() {
    let s = Server::start(&[]);
    let (code, msg) = s.post("/api/v1/write", RW, b"not snappy at all".to_vec());
    assert_eq!(code, 400, "{msg}");
    assert!(msg.contains("snappy"), "{msg}");
    let junk = snap::raw::Encoder::new()
        .compress_vec(b"\x0a\xff\xff\xff\xff\x0f")
        .unwrap();
    let (code, msg) = s.post("/api/v1/write", RW, junk);
    assert_eq!(code, 400, "{msg}");
    assert!(msg.contains("protobuf"), "{msg}");
    let (code, _) = s.post(
        "/api/v1/write",
        &[("Content-Type", "application/json")],
        b"{}".to_vec(),
    );
    assert_eq!(code, 415);

    // One out-of-order sample: the rest still lands, the answer names the problem.
    let t0 = now_ms() - 10_000;
    let body = encode(
        &[(series("rw_ooo", &[]), vec![Sample { t: t0 + 1000, v: 1.0 }])],
        &[],
    );
    assert_eq!(s.post("/api/v1/write", RW, body).0, 204);
    let body = encode(
        &[
            (series("rw_ooo", &[]), vec![Sample { t: t0, v: 2.0 }]),
            (series("rw_ok", &[]), vec![Sample { t: t0, v: 3.0 }]),
        ],
        &[],
    );
    let (code, msg) = s.post("/api/v1/write", RW, body);
    assert_eq!(code, 400, "{msg}");
    assert!(msg.contains("out of order") && msg.contains("rw_ooo"), "{msg}");
    assert_eq!(s.export("rw_ok").len(), 1);

    let metrics = s.get("/metrics").1;
    assert!(
        metrics.contains(
            r#"sightline_ingest_samples_rejected_total{path="remote_write",reason="out_of_order"} 1"#
        ),
        "{metrics}"
    );
}

#[test]
fn oversized_bodies_are_refused() {
    let (_cfg_dir, cfg) = write_limits_config();
    let s = Server::start(&["--config", &cfg]);
    let body = vec![0u8; 2 << 20];
    let (code, msg) = s.post("/api/v1/write", RW, body);
    assert_eq!(code, 413, "{msg}");
}

/// A config with a 1 MB body limit; the directory lives as long as the guard.
fn write_limits_config() -> (tempfile::TempDir, String) {
    let dir = common::tempdir();
    let p = dir.path().join("sightline.yml");
    std::fs::write(&p, "sightline:\n  limits:\n    max_body_size: 1MB\n").unwrap();
    let p = p.to_string_lossy().into_owned();
    (dir, p)
}

#[test]
fn data_survives_clean_restart() {
    let tmp = common::tempdir();
    let dir = tmp.path().join("data");
    let t0 = now_ms() - 5_000;
    {
        let mut s = Server::start_in(&dir, &[]);
        let body = encode(
            &[(series("rw_restart", &[]), vec![Sample { t: t0, v: 42.0 }])],
            &[],
        );
        assert_eq!(s.post("/api/v1/write", RW, body).0, 204);
        assert!(s.stop().success());
    }
    let s = Server::start_in(&dir, &[]);
    let rows = s.export("rw_restart");
    assert_eq!(rows[0]["values"][0], 42.0);
}

/// Writers keep sending while the server is killed with SIGKILL; after a
/// restart every sample whose request got a 204 must be there.
#[test]
fn kill_9_loses_nothing_acknowledged() {
    let tmp = common::tempdir();
    let dir = tmp.path().join("data");
    let mut s = Server::start_in(&dir, &[]);
    let url = s.url("/api/v1/write");
    let acked: Arc<Mutex<Vec<(usize, usize, i64)>>> = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let t0 = now_ms() - 3_600_000;
    let writers: Vec<_> = (0..3)
        .map(|w| {
            let (url, acked, stop) = (url.clone(), acked.clone(), stop.clone());
            std::thread::spawn(move || {
                let client = common::client();
                let mut batch = 0usize;
                while !stop.load(Ordering::Relaxed) && batch < 100_000 {
                    let t = t0 + batch as i64 * 1000;
                    let series: Vec<_> = (0..50)
                        .map(|i| {
                            (
                                series("rw_kill", &[("writer", &w.to_string()), ("i", &i.to_string())]),
                                vec![Sample { t, v: batch as f64 }],
                            )
                        })
                        .collect();
                    let mut req = client.post(&url).body(encode(&series, &[]));
                    for (k, v) in RW {
                        req = req.header(*k, *v);
                    }
                    match req.send() {
                        Ok(r) if r.status().as_u16() == 204 => acked.lock().unwrap().push((w, batch, t)),
                        _ => break, // server gone
                    }
                    batch += 1;
                }
            })
        })
        .collect();
    wait_for("some acknowledged writes", Duration::from_secs(30), || {
        (acked.lock().unwrap().len() > 300).then_some(())
    });
    s.kill9();
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();

    let s = Server::start_in(&dir, &[]);
    let rows = s.export("rw_kill");
    let mut missing = 0;
    for (w, _batch, t) in &acked {
        for i in 0..50 {
            let row = rows
                .iter()
                .find(|r| r["metric"]["writer"] == *w.to_string() && r["metric"]["i"] == *i.to_string());
            let found = row.is_some_and(|r| {
                r["timestamps"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|x| x.as_i64() == Some(*t))
            });
            if !found {
                missing += 1;
            }
        }
    }
    assert_eq!(
        missing,
        0,
        "{missing} acknowledged samples lost out of {}",
        acked.len() * 50
    );
}
