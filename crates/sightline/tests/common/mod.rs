//! Test harness: starts the real `sightline` binary on loopback with a
//! private data directory, learns its ports from its logs, and talks to it
//! over HTTP.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Server {
    child: Option<Child>,
    pub http: SocketAddr,
    pub grpc: Option<SocketAddr>,
    pub statsd: Option<SocketAddr>,
    pub data_dir: PathBuf,
    log: Arc<Mutex<Vec<String>>>,
    _tmp: Option<tempfile::TempDir>,
}

/// A fresh temporary directory that lives as long as the returned guard.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("sightline-it-")
        .tempdir()
        .expect("tempdir")
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_sightline")
}

/// The Python with the test clients installed (`scripts/test.sh` makes it).
pub fn python() -> String {
    if let Ok(p) = std::env::var("SIGHTLINE_PYTHON") {
        return p;
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    if venv.exists() {
        return venv.to_string_lossy().into_owned();
    }
    panic!("no Python with the test clients: run scripts/test.sh (or set SIGHTLINE_PYTHON)");
}

/// Path of a read-only reference file in ../shared (never copied here).
pub fn shared(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared")
        .join(rel)
}

/// Waits until `f` returns Some, or panics after `timeout` naming `what`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Server {
    /// Starts `sightline serve` on ephemeral ports with extra `args`.
    pub fn start(args: &[&str]) -> Server {
        let tmp = tempdir();
        let dir = tmp.path().join("data");
        let mut s = Self::start_in(&dir, args);
        s._tmp = Some(tmp);
        s
    }

    /// Starts on a given data directory (to restart on the same data).
    pub fn start_in(data_dir: &Path, args: &[&str]) -> Server {
        let mut cmd = Command::new(bin());
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--listen", "127.0.0.1:0", "--otlp.grpc-listen", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn sightline");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if std::env::var_os("SIGHTLINE_TEST_LOG").is_some() {
                        eprintln!("[sightline] {line}");
                    }
                    let _ = tx.send(line.clone());
                    log.lock().unwrap().push(line);
                }
            });
        }
        let (mut http, mut grpc, mut statsd) = (None, None, None);
        let deadline = Instant::now() + Duration::from_secs(60);
        while http.is_none() || (grpc.is_none() && !args.contains(&"off")) {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match rx.recv_timeout(left) {
                Ok(l) => l,
                Err(_) => {
                    let _ = child.kill();
                    panic!(
                        "sightline did not report its listeners; log:\n{}",
                        log.lock().unwrap().join("\n")
                    );
                }
            };
            if let Some(addr) = field(&line, "address") {
                match field(&line, "listener").as_deref() {
                    Some("http") => http = addr.parse().ok(),
                    Some("otlp-grpc") => grpc = addr.parse().ok(),
                    Some("statsd") => statsd = addr.parse().ok(),
                    _ => {}
                }
            }
        }
        let s = Server {
            child: Some(child),
            http: http.unwrap(),
            grpc,
            statsd,
            data_dir: data_dir.to_path_buf(),
            log,
            _tmp: None,
        };
        wait_for("/-/ready", Duration::from_secs(60), || {
            (s.get("/-/ready").0 == 200).then_some(())
        });
        // The statsd address is logged before ready, but the loop above may
        // have stopped before reading it.
        let mut s = s;
        if s.statsd.is_none() {
            s.statsd = s
                .log_lines()
                .iter()
                .filter(|l| field(l, "listener").as_deref() == Some("statsd"))
                .find_map(|l| field(l, "address")?.parse().ok());
        }
        s
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.http, path)
    }

    pub fn log_lines(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        let r = client().get(self.url(path)).send().expect("GET");
        (r.status().as_u16(), r.text().unwrap_or_default())
    }

    pub fn get_json(&self, path: &str) -> serde_json::Value {
        let (code, body) = self.get(path);
        assert_eq!(code, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {body}"))
    }

    pub fn post(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<reqwest::blocking::Body>,
    ) -> (u16, String) {
        let mut req = client().post(self.url(path)).body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let r = req.send().expect("POST");
        (r.status().as_u16(), r.text().unwrap_or_default())
    }

    pub fn post_method(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let r = client()
            .request(m, self.url(path))
            .body(body.to_string())
            .send()
            .expect("request");
        (r.status().as_u16(), r.text().unwrap_or_default())
    }

    /// `/api/v1/export` for `selector` as (labels, timestamps, values) rows.
    pub fn export(&self, selector: &str) -> Vec<serde_json::Value> {
        let (code, body) = self.get(&format!("/api/v1/export?match[]={}", urlencode(selector)));
        assert_eq!(code, 200, "export {selector}: {body}");
        body.lines()
            .map(|l| serde_json::from_str(l).expect("export line is JSON"))
            .collect()
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().unwrap().id() as i32
    }

    /// kill -9: no chance to flush anything.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for a clean exit; returns the exit status.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut c = self.child.take().expect("running");
        unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(st) = c.try_wait().unwrap() {
                return st;
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                panic!("sightline did not exit within 30s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn signal(&self, sig: i32) {
        unsafe { libc::kill(self.pid(), sig) };
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

pub fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Reads `key=value` (or `key="value"`) from a logfmt line.
pub fn field(line: &str, key: &str) -> Option<String> {
    let pat = format!(" {key}=");
    let i = line.find(&pat)? + pat.len();
    let rest = &line[i..];
    if let Some(q) = rest.strip_prefix('"') {
        Some(q[..q.find('"')?].to_string())
    } else {
        Some(rest.split(' ').next()?.to_string())
    }
}

/// A free TCP port on loopback (for peers that need a fixed port).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
