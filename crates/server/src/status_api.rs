//! `/api/v1/targets` and `/api/v1/metadata` in Prometheus's shapes.

use crate::error::ApiError;
use crate::params::Params;
use crate::read_api::success;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

pub async fn targets(
    State(st): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let params = Params::from_request(&method, &uri, &headers, &body)?;
    let state = params.get("state").filter(|s| !s.is_empty());
    if let Some(s) = state {
        if !matches!(s.to_ascii_lowercase().as_str(), "active" | "dropped" | "any") {
            return Err(ApiError::bad_data(format!(
                "invalid state {s:?}: use active, dropped or any"
            )));
        }
    }
    let data = match &st.targets {
        Some(t) => t.targets_json(state, params.get("scrapePool").filter(|s| !s.is_empty())),
        None => json!({"activeTargets": [], "droppedTargets": []}),
    };
    Ok(success(data))
}

/// `GET /api/v1/metadata?metric=&limit=&limit_per_metric=`
pub async fn metadata(
    State(st): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let params = Params::from_request(&method, &uri, &headers, &body)?;
    let int = |name: &str| -> Result<Option<usize>, ApiError> {
        match params.get(name) {
            None | Some("") => Ok(None),
            Some(s) => match s.parse::<i64>() {
                Ok(n) if n < 0 => Ok(None),
                Ok(n) => Ok(Some(n as usize)),
                Err(_) => Err(ApiError::bad_data(format!(
                    "invalid parameter {name:?}: {s:?} is not a number"
                ))),
            },
        }
    };
    let (limit, per_metric) = (int("limit")?, int("limit_per_metric")?);
    let metric = params.get("metric").filter(|s| !s.is_empty()).map(str::to_string);
    let storage = st.storage.clone();
    let all = tokio::task::spawn_blocking(move || storage.metadata())
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let mut by_name: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for (name, m) in all {
        if metric.as_deref().is_some_and(|want| want != name) {
            continue;
        }
        let entry = json!({"type": m.metric_type.as_str(), "help": m.help, "unit": m.unit});
        let list = by_name.entry(name).or_default();
        if !list.contains(&entry) {
            list.push(entry);
        }
    }
    let mut out = Map::new();
    for (name, mut list) in by_name {
        if limit.is_some_and(|l| out.len() >= l) {
            break;
        }
        if let Some(p) = per_metric {
            list.truncate(p);
        }
        out.insert(name, Value::Array(list));
    }
    Ok(success(Value::Object(out)))
}
