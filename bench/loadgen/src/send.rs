//! Replays a load directory against a remote write endpoint.
//!
//! All request bodies are read into memory first, so disk reads are not part
//! of the timed send. Then one thread per shard sends its requests in order
//! over one kept-alive connection, as Prometheus's shards do. A 2xx answer is
//! success; 429, 5xx and connection errors are retried with a doubling backoff
//! (from 50 ms up to 2 s) up to `max_retries` times, again like Prometheus;
//! any other status drops the request and is counted as failed, with the first
//! answer kept for the report.

use crate::http::{Client, Url};
use crate::load::{read_manifest, read_shard, shard_path, Manifest, Request};
use serde::Serialize;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct Options {
    pub url: String,
    pub max_retries: u32,
    pub timeout: Duration,
    /// Stop every shard at the first dropped request.
    pub fail_fast: bool,
}

/// What a replay did; printed as JSON by `loadgen send`.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Report {
    pub requests: u64,
    pub requests_ok: u64,
    pub requests_failed: u64,
    pub retries: u64,
    pub samples: u64,
    pub samples_ok: u64,
    pub bytes_sent: u64,
    pub connections: u64,
    pub elapsed_s: f64,
    pub samples_per_s: f64,
    pub first_error: Option<String>,
}

/// Loads every shard of `dir` (in shard order).
pub fn load(dir: &Path) -> std::io::Result<(Manifest, Vec<Vec<Request>>)> {
    let m = read_manifest(dir)?;
    let shards = (0..m.shards)
        .map(|s| read_shard(&shard_path(dir, s)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((m, shards))
}

/// Sends every shard concurrently (one connection each) and waits for all.
pub fn send(shards: &[Vec<Request>], opts: &Options) -> Result<Report, String> {
    let url = Url::parse(&opts.url)?;
    let total = Mutex::new(Report::default());
    let stop = AtomicBool::new(false);
    let start = Instant::now();
    std::thread::scope(|s| {
        for reqs in shards {
            let (url, total, stop) = (url.clone(), &total, &stop);
            s.spawn(move || {
                let r = send_shard(reqs, url, opts, stop);
                let mut t = total.lock().unwrap_or_else(|p| p.into_inner());
                merge(&mut t, r);
            });
        }
    });
    let mut r = total.into_inner().unwrap_or_else(|p| p.into_inner());
    r.elapsed_s = start.elapsed().as_secs_f64();
    r.samples_per_s = if r.elapsed_s > 0.0 {
        r.samples_ok as f64 / r.elapsed_s
    } else {
        0.0
    };
    Ok(r)
}

fn merge(t: &mut Report, r: Report) {
    t.requests += r.requests;
    t.requests_ok += r.requests_ok;
    t.requests_failed += r.requests_failed;
    t.retries += r.retries;
    t.samples += r.samples;
    t.samples_ok += r.samples_ok;
    t.bytes_sent += r.bytes_sent;
    t.connections += r.connections;
    if t.first_error.is_none() {
        t.first_error = r.first_error;
    }
}

fn send_shard(reqs: &[Request], url: Url, opts: &Options, stop: &AtomicBool) -> Report {
    let headers = [
        ("Content-Type", "application/x-protobuf"),
        ("Content-Encoding", "snappy"),
        ("X-Prometheus-Remote-Write-Version", "0.1.0"),
        ("User-Agent", "sightline-loadgen/0.1"),
    ];
    let mut c = Client::new(url, &headers, opts.timeout);
    let mut rep = Report::default();
    for req in reqs {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        rep.requests += 1;
        rep.samples += u64::from(req.samples);
        let mut backoff = Duration::from_millis(50);
        let mut attempt = 0;
        loop {
            rep.bytes_sent += req.body.len() as u64;
            let (retryable, error) = match c.post(&req.body) {
                Ok(resp) if (200..300).contains(&resp.status) => {
                    rep.requests_ok += 1;
                    rep.samples_ok += u64::from(req.samples);
                    break;
                }
                Ok(resp) => {
                    let text = String::from_utf8_lossy(&resp.body[..resp.body.len().min(500)]).into_owned();
                    (
                        resp.status == 429 || resp.status >= 500,
                        format!("HTTP {}: {}", resp.status, text.trim()),
                    )
                }
                Err(e) => (true, format!("request failed: {e}")),
            };
            if retryable && attempt < opts.max_retries {
                attempt += 1;
                rep.retries += 1;
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(2));
                continue;
            }
            rep.requests_failed += 1;
            rep.first_error.get_or_insert(error);
            if opts.fail_fast {
                stop.store(true, Ordering::Relaxed);
            }
            break;
        }
    }
    rep.connections = c.connects;
    rep
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::{generate, Spec};
    use sightline_metrics_protocols::remote_write::Decoder;
    use sightline_model::Limits;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::sync::atomic::AtomicU64;
    use std::sync::Arc;

    /// A loopback remote write receiver: decodes every body, counts samples,
    /// answers 503 to every `fail_every`-th request and 400 to bodies it
    /// cannot decode.
    fn receiver(fail_every: u64) -> (String, Arc<AtomicU64>, Arc<AtomicU64>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/api/v1/write", l.local_addr().unwrap());
        let samples = Arc::new(AtomicU64::new(0));
        let requests = Arc::new(AtomicU64::new(0));
        let (s2, r2) = (samples.clone(), requests.clone());
        std::thread::spawn(move || {
            for stream in l.incoming() {
                let (samples, requests) = (s2.clone(), r2.clone());
                std::thread::spawn(move || {
                    let mut r = BufReader::new(stream.unwrap());
                    let mut dec = Decoder::new();
                    loop {
                        let mut len = 0usize;
                        loop {
                            let mut line = String::new();
                            if r.read_line(&mut line).unwrap_or(0) == 0 {
                                return;
                            }
                            if let Some(v) = line.strip_prefix("Content-Length: ") {
                                len = v.trim().parse().unwrap();
                            }
                            if line == "\r\n" {
                                break;
                            }
                        }
                        let mut body = vec![0; len];
                        r.read_exact(&mut body).unwrap();
                        let n = requests.fetch_add(1, Ordering::SeqCst) + 1;
                        let resp: &[u8] = if fail_every > 0 && n % fail_every == 0 {
                            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy"
                        } else {
                            match dec.decode(&body, &Limits::default()) {
                                Ok(v) => {
                                    samples.fetch_add(v.sample_count() as u64, Ordering::SeqCst);
                                    b"HTTP/1.1 204 No Content\r\n\r\n"
                                }
                                Err(_) => b"HTTP/1.1 400 Bad Request\r\nContent-Length: 3\r\n\r\nbad",
                            }
                        };
                        r.get_mut().write_all(resp).unwrap();
                    }
                });
            }
        });
        (url, samples, requests)
    }

    fn opts(url: String) -> Options {
        Options {
            url,
            max_retries: 3,
            timeout: Duration::from_secs(10),
            fail_fast: false,
        }
    }

    fn load_dir() -> (tempfile::TempDir, Manifest, Vec<Vec<Request>>) {
        let dir = tempfile::tempdir().unwrap();
        let spec = Spec {
            series: 900,
            samples_per_series: 3,
            interval_ms: 15_000,
            first_ms: 1_700_000_000_000,
            batch_samples: 200,
            shards: 3,
            seed: 1,
        };
        generate(&spec, spec.first_ms, dir.path()).unwrap();
        let (m, shards) = load(dir.path()).unwrap();
        (dir, m, shards)
    }

    #[test]
    fn sends_everything_and_retries_503() {
        let (_d, m, shards) = load_dir();
        let (url, samples, requests) = receiver(5);
        let r = send(&shards, &opts(url)).unwrap();
        assert_eq!(r.samples_ok, m.samples);
        assert_eq!(samples.load(Ordering::SeqCst), m.samples);
        assert_eq!(
            (r.requests, r.requests_ok, r.requests_failed),
            (m.requests, m.requests, 0)
        );
        assert_eq!(requests.load(Ordering::SeqCst), m.requests + r.retries);
        assert!(r.retries > 0);
        assert_eq!(r.connections, 3);
        assert!(r.first_error.is_none());
    }

    #[test]
    fn bad_requests_are_counted_not_retried() {
        let (_d, m, mut shards) = load_dir();
        shards[0][0].body = b"not snappy".to_vec();
        let (url, _samples, requests) = receiver(0);
        let r = send(&shards, &opts(url)).unwrap();
        assert_eq!(r.requests_failed, 1);
        assert_eq!(r.retries, 0);
        assert_eq!(r.requests_ok, m.requests - 1);
        assert_eq!(requests.load(Ordering::SeqCst), m.requests);
        assert_eq!(r.first_error.as_deref(), Some("HTTP 400: bad"));
    }

    #[test]
    fn unreachable_server_fails_after_retries() {
        let (_d, _m, shards) = load_dir();
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/api/v1/write", l.local_addr().unwrap());
        drop(l);
        let mut o = opts(url);
        o.max_retries = 1;
        o.fail_fast = true;
        let r = send(&shards, &o).unwrap();
        assert_eq!(r.requests_ok, 0);
        assert!(r.requests_failed >= 1 && r.requests_failed <= 3, "{r:?}");
        assert!(r.first_error.unwrap().starts_with("request failed"));
        assert!(send(&shards, &opts("ftp://x".into())).is_err());
    }
}
