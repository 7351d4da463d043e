//! HTTP side of the Pushgateway-compatible endpoint (semantics in
//! `push_registry`, user docs in docs/ingest/push.md).

use crate::body::{content_encoding, decompress, read_limited};
use crate::error::IngestError;
use crate::ingest::push_path::parse_grouping_key;
use crate::ingest::push_registry::{Emission, Family, PushMethod, PushRegistry};
use crate::ingest::AppendReport;
use crate::AppState;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use sightline_metrics_protocols::exposition::{Entry, Format, Parser};
use sightline_model::{Labels, LabelsBuilder, MetricMetadata};
use std::collections::BTreeMap;
use std::sync::Arc;

const PATH: &str = "push";

pub async fn push(
    State(st): State<AppState>,
    Path(rest): Path<String>,
    method: Method,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let res = handle(&st, &rest, method, &headers, body).await;
    let status = res.as_ref().err().map(|e| e.status).unwrap_or(StatusCode::OK);
    st.ingest.request(PATH, status.as_u16());
    match res {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn handle(
    st: &AppState,
    rest: &str,
    method: Method,
    headers: &HeaderMap,
    body: Body,
) -> Result<(), IngestError> {
    let Some(registry) = st.push.clone() else {
        return Err(IngestError::new(StatusCode::NOT_FOUND, "push is not enabled"));
    };
    if !rest.starts_with("job/") && !rest.starts_with("job@base64/") {
        return Err(IngestError::new(
            StatusCode::NOT_FOUND,
            "push path must be /metrics/job/<job>{/<label>/<value>}",
        ));
    }
    let key = parse_grouping_key(rest).map_err(IngestError::bad_request)?;
    let now_ms = now_ms();
    if method == Method::DELETE {
        let st = st.clone();
        return blocking(move || {
            let mut reg = registry.lock();
            let e = reg.delete(&key);
            apply(&st, &reg, e, now_ms)
        })
        .await;
    }
    let push_method = if method == Method::PUT {
        PushMethod::Put
    } else {
        PushMethod::Post
    };
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ct.starts_with("application/vnd.google.protobuf") {
        return Err(IngestError::unsupported_media(
            "the delimited protobuf push format is not supported: push the text format (text/plain; version=0.0.4)",
        ));
    }
    let enc = content_encoding(headers)?;
    let raw = read_limited(body, st.limits.max_body_bytes).await?;
    let body = decompress(raw, enc, st.limits.max_decompressed_bytes)?;
    let st = st.clone();
    blocking(move || match parse_families(&body, &key, &st) {
        Ok(families) => {
            let mut reg = registry.lock();
            let e = reg.push(key, push_method, families, now_ms);
            apply(&st, &reg, e, now_ms)
        }
        Err(err) => {
            let mut reg = registry.lock();
            let e = reg.record_failure(&key, now_ms);
            apply(&st, &reg, e, now_ms)?;
            st.ingest.rejected(PATH, "malformed", 1);
            Err(err)
        }
    })
    .await
}

async fn blocking(f: impl FnOnce() -> Result<(), IngestError> + Send + 'static) -> Result<(), IngestError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        IngestError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("push task failed: {e}"),
        )
    })?
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Writes an emission to storage and persists the registry. Called with the
/// registry locked, so pushes and re-emits reach the store in time order.
fn apply(st: &AppState, reg: &PushRegistry, e: Emission, now_ms: i64) -> Result<(), IngestError> {
    let meta = reg.metadata();
    append_all(st, e.into_samples(), &meta, now_ms)?;
    reg.persist().map_err(|e| {
        IngestError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("persisting pushed metrics: {e}"),
        )
    })
}

/// Appends (labels, value) pairs at `t`, as one commit.
pub fn append_all(
    st: &AppState,
    samples: Vec<(Labels, f64)>,
    meta: &[(String, MetricMetadata)],
    t: i64,
) -> Result<(), IngestError> {
    let mut app = st.storage.appender();
    for (name, m) in meta {
        app.set_metadata(name, m);
    }
    let mut report = AppendReport::default();
    for (l, v) in &samples {
        report.append(&mut *app, &l.as_refs(), &mut None, t, *v);
    }
    report
        .commit(app, &st.ingest, PATH)
        .map_err(|e| IngestError::from_storage(&e))?;
    match report.summary() {
        None => Ok(()),
        Some(msg) => Err(IngestError::bad_request(msg)),
    }
}

/// Re-writes every group's current values (called periodically).
pub fn reemit(st: &AppState, registry: &Arc<Mutex<PushRegistry>>) {
    let reg = registry.lock();
    let now = now_ms();
    let samples = reg.emit_all(now);
    if samples.is_empty() {
        return;
    }
    if let Err(e) = append_all(st, samples, &reg.metadata(), now) {
        tracing::warn!(error = %e.message, "re-emitting pushed metrics");
    }
}

/// Parses a text-format body into families carrying the grouping labels.
fn parse_families(body: &[u8], key: &Labels, st: &AppState) -> Result<BTreeMap<String, Family>, IngestError> {
    let mut families: BTreeMap<String, Family> = BTreeMap::new();
    let mut meta: BTreeMap<String, MetricMetadata> = BTreeMap::new();
    let mut pairs = Vec::new();
    let mut count = 0usize;
    for entry in Parser::new(body, Format::PrometheusText) {
        let entry = entry.map_err(|e| IngestError::bad_request(format!("line {}: {}", e.line, e.message)))?;
        match entry {
            Entry::Help { family, help } => {
                meta.entry(family.into_owned()).or_default().help = help.into_owned()
            }
            Entry::Type { family, metric_type } => {
                meta.entry(family.into_owned()).or_default().metric_type = metric_type
            }
            Entry::Unit { family, unit } => {
                meta.entry(family.into_owned()).or_default().unit = unit.to_string()
            }
            Entry::Sample(s) => {
                if s.timestamp.is_some() {
                    return Err(IngestError::bad_request(format!(
                        "line {}: pushed metrics must not have timestamps ({})",
                        s.line, s.series
                    )));
                }
                count += 1;
                if count > st.limits.max_series_per_request {
                    return Err(IngestError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        format!(
                            "more than {} series in one push",
                            st.limits.max_series_per_request
                        ),
                    ));
                }
                s.labels(&mut pairs)
                    .map_err(|e| IngestError::bad_request(format!("line {}: {}", e.line, e.message)))?;
                let mut b = LabelsBuilder::with_capacity(pairs.len() + key.len());
                for (n, v) in &pairs {
                    if let Some(kv) = key.get(n) {
                        if kv != v.as_ref() {
                            return Err(IngestError::bad_request(format!(
                                "line {}: label {n}={v:?} contradicts the grouping key ({n}={kv:?})",
                                s.line
                            )));
                        }
                    }
                    b.set(n.as_ref(), v.as_ref());
                }
                for l in key.iter() {
                    b.set(l.name, l.value);
                }
                let labels = b.build();
                st.limits
                    .check_labels(&labels.as_refs())
                    .map_err(|e| IngestError::bad_request(format!("line {}: {e}", s.line)))?;
                let name = labels.metric_name().unwrap_or_default();
                let family = family_of(name, &meta);
                families
                    .entry(family)
                    .or_default()
                    .samples
                    .push((labels, s.value));
            }
        }
    }
    for (name, f) in families.iter_mut() {
        if let Some(m) = meta.remove(name) {
            f.meta = m;
        }
    }
    Ok(families)
}

/// The family a sample belongs to: `foo_bucket`, `foo_sum`, `foo_count` of
/// a declared histogram or summary `foo` belong to `foo`; `foo_total` to a
/// declared counter `foo`.
fn family_of(name: &str, meta: &BTreeMap<String, MetricMetadata>) -> String {
    if meta.contains_key(name) {
        return name.to_string();
    }
    for suffix in ["_bucket", "_sum", "_count", "_total", "_created", "_info"] {
        if let Some(base) = name.strip_suffix(suffix) {
            if meta.contains_key(base) {
                return base.to_string();
            }
        }
    }
    name.to_string()
}
