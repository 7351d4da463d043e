//! Prometheus read APIs that need no query engine: `/api/v1/series`,
//! `/api/v1/labels`, `/api/v1/label/<name>/values`, and the raw export
//! `/api/v1/export` (JSON lines, one series per line).

use crate::error::ApiError;
use crate::params::{time_param, Params, MAX_TIME_MS, MIN_TIME_MS};
use crate::selector::{match_params, MatcherSets};
use crate::AppState;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};
use sightline_model::{is_stale_nan, Labels, SelectHints, Storage};
use std::collections::{BTreeMap, BTreeSet};

/// The `{"status":"success","data":...}` envelope.
pub fn success(data: Value) -> Response {
    axum::Json(json!({"status": "success", "data": data})).into_response()
}

fn success_with_warnings(data: Value, warnings: Vec<String>) -> Response {
    if warnings.is_empty() {
        return success(data);
    }
    axum::Json(json!({"status": "success", "data": data, "warnings": warnings})).into_response()
}

fn range(params: &Params) -> Result<(i64, i64), ApiError> {
    let start = time_param(params, "start", MIN_TIME_MS)?;
    let end = time_param(params, "end", MAX_TIME_MS)?;
    if end < start {
        return Err(ApiError::bad_data("end timestamp must not be before start time"));
    }
    Ok((start, end))
}

pub(crate) fn limit_param(params: &Params) -> Result<usize, ApiError> {
    match params.get("limit") {
        None | Some("") => Ok(0),
        Some(s) => s.parse::<usize>().map_err(|_| {
            ApiError::bad_data(format!(
                "invalid parameter \"limit\": cannot parse {s:?} to a non-negative integer"
            ))
        }),
    }
}

/// Runs blocking storage work off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("query task failed: {e}")))?
}

/// Label sets of series matching any of `sets` in `[start, end]`, sorted.
fn series_labels(
    storage: &dyn Storage,
    sets: &MatcherSets,
    start: i64,
    end: i64,
    limit: usize,
) -> Result<BTreeSet<Labels>, ApiError> {
    let q = storage.querier(start, end)?;
    let hints = SelectHints {
        start,
        end,
        labels_only: true,
        limit,
        deadline: None,
    };
    let mut out = BTreeSet::new();
    for set in sets {
        for s in q.select(set, &hints)? {
            out.insert(s?.labels);
        }
    }
    Ok(out)
}

fn labels_json(l: &Labels) -> Value {
    Value::Object(
        l.iter()
            .map(|l| (l.name.to_string(), Value::String(l.value.to_string())))
            .collect::<Map<_, _>>(),
    )
}

pub async fn series(
    State(st): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let params = Params::from_request(&method, &uri, &headers, &body)?;
    let sets = match_params(&params, true)?;
    let (start, end) = range(&params)?;
    let limit = limit_param(&params)?;
    let storage = st.storage.clone();
    let found = blocking(move || series_labels(&*storage, &sets, start, end, 0)).await?;
    let mut warnings = Vec::new();
    let mut data: Vec<Value> = found.iter().map(labels_json).collect();
    if limit > 0 && data.len() > limit {
        data.truncate(limit);
        warnings.push("results truncated due to limit".to_string());
    }
    Ok(success_with_warnings(Value::Array(data), warnings))
}

pub async fn label_names(
    State(st): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let params = Params::from_request(&method, &uri, &headers, &body)?;
    let sets = match_params(&params, false)?;
    let (start, end) = range(&params)?;
    let limit = limit_param(&params)?;
    let storage = st.storage.clone();
    let names = blocking(move || {
        let q = storage.querier(start, end)?;
        let mut names = BTreeSet::new();
        if sets.is_empty() {
            names.extend(q.label_names(&[])?);
        }
        for set in &sets {
            names.extend(q.label_names(set)?);
        }
        Ok(names)
    })
    .await?;
    truncated_list(names, limit)
}

pub async fn label_values(
    State(st): State<AppState>,
    Path(name): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let params = Params::from_request(&method, &uri, &headers, &body)?;
    // Prometheus 3 accepts UTF-8 names, escaped as `U__...` in the path.
    let name = unescape_label_name(&name)
        .ok_or_else(|| ApiError::bad_data(format!("invalid label name: {name:?}")))?;
    let sets = match_params(&params, false)?;
    let (start, end) = range(&params)?;
    let limit = limit_param(&params)?;
    let storage = st.storage.clone();
    let values = blocking(move || {
        let q = storage.querier(start, end)?;
        let mut values = BTreeSet::new();
        if sets.is_empty() {
            values.extend(q.label_values(&name, &[])?);
        }
        for set in &sets {
            values.extend(q.label_values(&name, set)?);
        }
        Ok(values)
    })
    .await?;
    truncated_list(values, limit)
}

fn truncated_list(items: BTreeSet<String>, limit: usize) -> Result<Response, ApiError> {
    let mut v: Vec<Value> = items.into_iter().map(Value::String).collect();
    let mut warnings = Vec::new();
    if limit > 0 && v.len() > limit {
        v.truncate(limit);
        warnings.push("results truncated due to limit".to_string());
    }
    Ok(success_with_warnings(Value::Array(v), warnings))
}

/// Decodes Prometheus's `U__` escaping of UTF-8 label names in URL paths
/// (`U__my_2e_label` is `my.label`); plain names pass through.
fn unescape_label_name(s: &str) -> Option<String> {
    if s.is_empty() {
        return None;
    }
    let Some(rest) = s.strip_prefix("U__") else {
        return Some(s.to_string());
    };
    let mut out = String::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '_' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'_') {
            chars.next();
            out.push('_');
            continue;
        }
        let hex: String = chars.by_ref().take_while(|&c| c != '_').collect();
        out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
    }
    (!out.is_empty()).then_some(out)
}

/// Formats a value for export: JSON numbers, with NaN and infinities as the
/// strings Prometheus uses.
fn export_value(v: f64) -> Value {
    if v.is_nan() {
        Value::String("NaN".into())
    } else if v.is_infinite() {
        Value::String(if v > 0.0 { "+Inf" } else { "-Inf" }.into())
    } else {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .unwrap_or(Value::Null)
    }
}

/// `GET|POST /api/v1/export?match[]=...&start=&end=`: one JSON object per
/// line, `{"metric":{...},"values":[...],"timestamps":[...]}` (ms), the shape
/// VictoriaMetrics uses. Staleness markers are internal and not exported.
pub async fn export(
    State(st): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let params = Params::from_request(&method, &uri, &headers, &body)?;
    let sets = match_params(&params, true)?;
    let (start, end) = range(&params)?;
    let storage = st.storage.clone();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    // Bad parameters were answered above with a proper status; a failure
    // while streaming ends the body early (the client sees a broken chunked
    // response, not a silently short export).
    tokio::task::spawn_blocking(move || export_into(&*storage, &sets, start, end, &tx));
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    Ok(([(header::CONTENT_TYPE, "application/stream+json")], body).into_response())
}

fn export_into(
    storage: &dyn Storage,
    sets: &MatcherSets,
    start: i64,
    end: i64,
    tx: &tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
) {
    let run = || -> Result<(), ApiError> {
        let q = storage.querier(start, end)?;
        let hints = SelectHints {
            start,
            end,
            ..Default::default()
        };
        // Union over selectors, each series once.
        let mut seen = BTreeMap::new();
        for set in sets {
            for s in q.select(set, &hints)? {
                let mut s = s?;
                if seen.contains_key(&s.labels) {
                    continue;
                }
                let (mut ts, mut vs) = (Vec::new(), Vec::new());
                let mut next = s.samples.seek(start);
                while let Some(smp) = next {
                    if smp.t > end {
                        break;
                    }
                    if !is_stale_nan(smp.v) {
                        ts.push(smp.t);
                        vs.push(export_value(smp.v));
                    }
                    next = s.samples.next();
                }
                if let Some(e) = s.samples.error() {
                    return Err(ApiError::internal(e.to_string()));
                }
                seen.insert(s.labels.clone(), ());
                if ts.is_empty() {
                    continue;
                }
                let mut line = serde_json::to_vec(
                    &json!({"metric": labels_json(&s.labels), "values": vs, "timestamps": ts}),
                )
                .map_err(|e| ApiError::internal(e.to_string()))?;
                line.push(b'\n');
                if tx.blocking_send(Ok(Bytes::from(line))).is_err() {
                    return Ok(()); // client went away
                }
            }
        }
        Ok(())
    };
    if let Err(e) = run() {
        tracing::warn!(error = %e.message, "export failed mid-stream");
        let _ = tx.blocking_send(Err(std::io::Error::other(e.message)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_utf8_label_names() {
        assert_eq!(unescape_label_name("job").as_deref(), Some("job"));
        assert_eq!(unescape_label_name("U__my_2e_label").as_deref(), Some("my.label"));
        assert_eq!(unescape_label_name("U__a__b").as_deref(), Some("a_b"));
        assert_eq!(unescape_label_name(""), None);
    }

    #[test]
    fn export_values_use_prometheus_spellings() {
        assert_eq!(export_value(f64::INFINITY), json!("+Inf"));
        assert_eq!(export_value(1.5), json!(1.5));
        assert_eq!(export_value(f64::NAN), json!("NaN"));
    }
}
