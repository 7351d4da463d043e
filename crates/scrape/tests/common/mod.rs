//! Test support: a recording in-memory store and a tiny HTTP server.

#![allow(dead_code)]

use parking_lot::Mutex;
use sightline_model::{
    AppendError, Appender, CommitStats, LabelRef, Labels, MetricMetadata, Querier, SeriesRef, Storage,
    StorageError,
};
use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Default)]
pub struct MemStore {
    pub refs: Mutex<HashMap<Labels, SeriesRef>>,
    pub by_ref: Mutex<HashMap<SeriesRef, Labels>>,
    pub samples: Mutex<Vec<(Labels, i64, f64)>>,
    pub metadata: Mutex<HashMap<String, MetricMetadata>>,
    pub commits: AtomicU64,
    pub appends_by_labels: AtomicU64,
    pub appends_by_ref: AtomicU64,
    next: AtomicU64,
}

impl MemStore {
    /// Every sample of the series whose labels equal `want`.
    pub fn series(&self, want: &[(&str, &str)]) -> Vec<(i64, f64)> {
        let want = Labels::from_pairs(want.iter().copied());
        self.samples
            .lock()
            .iter()
            .filter(|(l, _, _)| *l == want)
            .map(|(_, t, v)| (*t, *v))
            .collect()
    }

    /// Samples of every series named `name`.
    pub fn named(&self, name: &str) -> Vec<(Labels, i64, f64)> {
        self.samples
            .lock()
            .iter()
            .filter(|(l, _, _)| l.metric_name() == Some(name))
            .cloned()
            .collect()
    }

    /// Forgets all series references (like head truncation).
    pub fn forget_refs(&self) {
        self.by_ref.lock().clear();
        self.refs.lock().clear();
    }
}

struct MemAppender<'a> {
    store: &'a MemStore,
    batch: Vec<(Labels, i64, f64)>,
    meta: Vec<(String, MetricMetadata)>,
}

impl Appender for MemAppender<'_> {
    fn append(&mut self, labels: &[LabelRef<'_>], t: i64, v: f64) -> Result<SeriesRef, AppendError> {
        let l = Labels::from_refs(labels);
        sightline_model::Limits::default().check_labels(&l.as_refs())?;
        self.store.appends_by_labels.fetch_add(1, Ordering::Relaxed);
        let r = *self
            .store
            .refs
            .lock()
            .entry(l.clone())
            .or_insert_with(|| SeriesRef(self.store.next.fetch_add(1, Ordering::Relaxed) + 1));
        self.store.by_ref.lock().insert(r, l.clone());
        self.batch.push((l, t, v));
        Ok(r)
    }

    fn append_ref(&mut self, series: SeriesRef, t: i64, v: f64) -> Result<(), AppendError> {
        let l = self.store.by_ref.lock().get(&series).cloned();
        let l = l.ok_or(AppendError::UnknownSeriesRef)?;
        self.store.appends_by_ref.fetch_add(1, Ordering::Relaxed);
        self.batch.push((l, t, v));
        Ok(())
    }

    fn set_metadata(&mut self, family: &str, meta: &MetricMetadata) {
        self.meta.push((family.to_string(), meta.clone()));
    }

    fn commit(self: Box<Self>) -> Result<CommitStats, StorageError> {
        let n = self.batch.len() as u64;
        self.store.samples.lock().extend(self.batch);
        self.store.metadata.lock().extend(self.meta);
        self.store.commits.fetch_add(1, Ordering::Relaxed);
        Ok(CommitStats {
            samples: n,
            new_series: 0,
        })
    }

    fn rollback(self: Box<Self>) {}
}

impl Storage for MemStore {
    fn appender(&self) -> Box<dyn Appender + '_> {
        Box::new(MemAppender {
            store: self,
            batch: Vec::new(),
            meta: Vec::new(),
        })
    }

    fn querier(&self, _mint: i64, _maxt: i64) -> Result<Box<dyn Querier + '_>, StorageError> {
        Err(StorageError::Other("not supported in tests".into()))
    }
}

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct SeenRequest {
    pub target: String,
    pub headers: HashMap<String, String>,
}

/// What the server answers.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
    /// Compress with gzip when the client accepts it.
    pub gzip: bool,
    /// Require this `Authorization` header value (401 otherwise).
    pub require_auth: Option<String>,
    /// Wait this long before answering.
    pub delay: Duration,
}

impl Reply {
    pub fn text(body: &str) -> Self {
        Self {
            status: 200,
            content_type: "text/plain; version=0.0.4; charset=utf-8".into(),
            body: body.as_bytes().to_vec(),
            gzip: false,
            require_auth: None,
            delay: Duration::ZERO,
        }
    }
}

async fn serve<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    mut sock: S,
    r: Arc<Mutex<Reply>>,
    q: Arc<Mutex<Vec<SeenRequest>>>,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let text = String::from_utf8_lossy(&buf).to_string();
    let mut lines = text.split("\r\n");
    let target = lines
        .next()
        .unwrap_or("")
        .split(' ')
        .nth(1)
        .unwrap_or("")
        .to_string();
    let mut headers = HashMap::new();
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    q.lock().push(SeenRequest {
        target,
        headers: headers.clone(),
    });
    let reply = r.lock().clone();
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let authorized = reply
        .require_auth
        .as_ref()
        .is_none_or(|want| headers.get("authorization") == Some(want));
    let (status, mut body) = if authorized {
        (reply.status, reply.body.clone())
    } else {
        (401, b"unauthorized".to_vec())
    };
    let mut extra = String::new();
    let accepts_gzip = headers.get("accept-encoding").is_some_and(|v| v.contains("gzip"));
    if reply.gzip && accepts_gzip {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&body).unwrap();
        body = enc.finish().unwrap();
        extra.push_str("Content-Encoding: gzip\r\n");
    }
    let head = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: {}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n",
        reply.content_type,
        body.len()
    );
    let _ = sock.write_all(head.as_bytes()).await;
    let _ = sock.write_all(&body).await;
    let _ = sock.shutdown().await;
}

pub struct TestServer {
    pub addr: String,
    pub reply: Arc<Mutex<Reply>>,
    pub requests: Arc<Mutex<Vec<SeenRequest>>>,
}

impl TestServer {
    pub async fn start(reply: Reply) -> Self {
        Self::start_with(reply, None).await
    }

    /// An HTTPS server with the certificate and key in `tests/fixtures`.
    pub async fn start_tls(reply: Reply) -> Self {
        use tokio_rustls::rustls;
        use tokio_rustls::rustls::pki_types::pem::PemObject;
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let certs = rustls::pki_types::CertificateDer::pem_file_iter(dir.join("server.pem"))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = rustls::pki_types::PrivateKeyDer::from_pem_file(dir.join("server.key")).unwrap();
        let cfg =
            rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(certs, key)
                .unwrap();
        Self::start_with(reply, Some(tokio_rustls::TlsAcceptor::from(Arc::new(cfg)))).await
    }

    async fn start_with(reply: Reply, tls: Option<tokio_rustls::TlsAcceptor>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let reply = Arc::new(Mutex::new(reply));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (r, q) = (reply.clone(), requests.clone());
        tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    return;
                };
                let (r, q) = (r.clone(), q.clone());
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        Some(acc) => {
                            if let Ok(s) = acc.accept(sock).await {
                                serve(s, r, q).await;
                            }
                        }
                        None => serve(sock, r, q).await,
                    }
                });
            }
        });
        Self {
            addr,
            reply,
            requests,
        }
    }

    pub fn set(&self, f: impl FnOnce(&mut Reply)) {
        f(&mut self.reply.lock());
    }

    pub fn request_count(&self) -> usize {
        self.requests.lock().len()
    }
}

/// Polls `cond` every 20 ms until it holds; panics after a generous deadline.
pub async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        if Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
