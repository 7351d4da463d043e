//! Pushgateway-style push and Influx line protocol through the real binary.

mod common;

use common::Server;

#[test]
fn push_put_post_delete() {
    let s = Server::start(&[]);
    let body = "# TYPE backup_duration_seconds gauge\nbackup_duration_seconds 312.5\n# TYPE backup_files counter\nbackup_files_total{kind=\"full\"} 7\n";
    let (code, msg) = s.post_method("PUT", "/metrics/job/nightly/instance/db1", body);
    assert_eq!(code, 200, "{msg}");
    let rows = s.export(r#"{job="nightly"}"#);
    let names: Vec<&str> = rows
        .iter()
        .map(|r| r["metric"]["__name__"].as_str().unwrap())
        .collect();
    for n in [
        "backup_duration_seconds",
        "backup_files_total",
        "push_time_seconds",
        "push_failure_time_seconds",
    ] {
        assert!(names.contains(&n), "{n} missing from {names:?}");
    }
    let d = rows
        .iter()
        .find(|r| r["metric"]["__name__"] == "backup_duration_seconds")
        .unwrap();
    assert_eq!(d["metric"]["instance"], "db1");
    assert_eq!(d["values"][0], 312.5);
    let meta = s.get_json("/api/v1/metadata?metric=backup_duration_seconds");
    assert_eq!(
        meta["data"]["backup_duration_seconds"][0]["type"], "gauge",
        "{meta}"
    );

    // POST replaces only the families it carries.
    let (code, _) = s.post_method(
        "POST",
        "/metrics/job/nightly/instance/db1",
        "backup_duration_seconds 100\n",
    );
    assert_eq!(code, 200);
    assert!(!s.export("backup_files_total").is_empty());

    // Bad bodies are refused with a reason and counted as failures.
    let (code, msg) = s.post_method("POST", "/metrics/job/nightly/instance/db1", "x 1 1700000000000\n");
    assert_eq!(code, 400);
    assert!(msg.contains("timestamps"), "{msg}");
    let (code, msg) = s.post_method(
        "PUT",
        "/metrics/job/nightly/instance/db1",
        "x{instance=\"other\"} 1\n",
    );
    assert_eq!(code, 400);
    assert!(msg.contains("grouping key"), "{msg}");
    let (code, _) = s.post_method("PUT", "/metrics/instance/x", "x 1\n");
    assert_eq!(code, 404);

    // DELETE removes the group (its series get staleness markers, which
    // export leaves out) from the persisted registry.
    let persisted = || std::fs::read_to_string(s.data_dir.join("push.json")).unwrap();
    assert!(persisted().contains("nightly"));
    let (code, _) = s.post_method("DELETE", "/metrics/job/nightly/instance/db1", "");
    assert_eq!(code, 200);
    assert!(!persisted().contains("nightly"), "{}", persisted());
}

#[test]
fn pushed_groups_survive_restart() {
    let tmp = common::tempdir();
    let dir = tmp.path().join("data");
    {
        let mut s = Server::start_in(&dir, &[]);
        assert_eq!(s.post_method("PUT", "/metrics/job/keep", "kept_value 5\n").0, 200);
        assert!(s.stop().success());
    }
    assert!(dir.join("push.json").exists());
    let s = Server::start_in(&dir, &[]);
    let groups = std::fs::read_to_string(dir.join("push.json")).unwrap();
    assert!(groups.contains("kept_value"));
    assert_eq!(s.export("kept_value")[0]["values"][0], 5.0);
}

#[test]
fn influx_line_protocol_v1_and_v2() {
    let s = Server::start(&[]);
    assert_eq!(s.get("/ping").0, 204);
    let (code, body) = s.post("/query?q=CREATE+DATABASE+%22telegraf%22", &[], Vec::new());
    assert_eq!(code, 200, "{body}");
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let lines = format!("cpu,host=web-01,cpu=cpu0 usage_user=2.5,usage_idle=97.5 {now_s}\nmem,host=web-01 used=3221225472i {now_s}\n");
    let (code, msg) = s.post("/write?db=telegraf&precision=s", &[], lines);
    assert_eq!(code, 204, "{msg}");
    let rows = s.export(r#"cpu_usage_user{db="telegraf"}"#);
    assert_eq!(rows[0]["metric"]["host"], "web-01");
    assert_eq!(rows[0]["values"][0], 2.5);
    assert_eq!(s.export("mem_used")[0]["values"][0], 3221225472.0);

    // gzip + v2 + a bad line: good lines stored, 400 names the line.
    let body = format!("room value=21.5 {now_s}000\nroom value=oops {now_s}001\n");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, body.as_bytes()).unwrap();
    let (code, msg) = s.post(
        "/api/v2/write?bucket=home&precision=ms",
        &[("Content-Encoding", "gzip")],
        gz.finish().unwrap(),
    );
    assert_eq!(code, 400, "{msg}");
    let err: serde_json::Value = serde_json::from_str(&msg).unwrap();
    assert_eq!(err["code"], "invalid");
    assert!(err["message"].as_str().unwrap().contains("line 2"), "{msg}");
    assert_eq!(s.export(r#"room_value{db="home"}"#)[0]["values"][0], 21.5);
}
