//! The PromQL side of Prometheus's HTTP API: `/api/v1/query`,
//! `/api/v1/query_range`, `/api/v1/format_query`,
//! `/api/v1/query_exemplars`, `/api/v1/rules`, `/api/v1/alerts` and
//! `/api/v1/status/*`, with Prometheus's parameters, JSON shapes, status
//! codes and error types.

use crate::error::{ApiError, ErrorType};
use crate::params::{parse_time, time_param, Params};
use crate::read_api::{blocking, limit_param, success};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use sightline_promql::{Error as QueryError, QueryOpts, QueryResult};
use std::time::Duration;

/// Most points a range query may return per series (Prometheus's limit).
pub const MAX_POINTS_PER_SERIES: i64 = 11_000;

/// What `/api/v1/rules` and `/api/v1/alerts` read (the rule manager).
pub trait RulesView: Send + Sync {
    fn rules_json(&self, type_filter: Option<&str>) -> Value;
    fn alerts_json(&self) -> Value;
}

/// What `/api/v1/status/*` read (the binary's view of itself).
pub trait StatusView: Send + Sync {
    /// `/api/v1/status/config`: the configuration as YAML.
    fn config_yaml(&self) -> String;
    /// `/api/v1/status/flags`: flag name to value.
    fn flags(&self) -> Value;
    /// `/api/v1/status/runtimeinfo`.
    fn runtime_info(&self) -> Value;
    /// `/api/v1/status/tsdb` with `limit` entries per list.
    fn tsdb(&self, limit: usize) -> Value;
}

fn map_query_error(e: QueryError) -> ApiError {
    let kind = match &e {
        QueryError::Parse { .. } => ErrorType::BadData,
        QueryError::Timeout(_) => ErrorType::Timeout,
        QueryError::Storage(sightline_model::StorageError::DeadlineExceeded) => ErrorType::Timeout,
        QueryError::Storage(_) => ErrorType::Internal,
        QueryError::Execution(_) | QueryError::TooManySamples => ErrorType::Execution,
    };
    let message = match &e {
        QueryError::Parse { .. } => format!("invalid parameter \"query\": {e}"),
        _ => e.to_string(),
    };
    ApiError { kind, message }
}

/// Prometheus's duration parameters: float seconds or a duration string.
fn parse_duration_param(s: &str) -> Result<Duration, String> {
    if let Ok(f) = s.parse::<f64>() {
        if !f.is_finite() || f < 0.0 || f * 1000.0 > i64::MAX as f64 {
            return Err(format!("cannot parse {s:?} to a valid duration"));
        }
        return Ok(Duration::from_secs_f64(f));
    }
    let ms = promql_parser::util::parse_duration(s)
        .map_err(|_| format!("cannot parse {s:?} to a valid duration"))?;
    Ok(ms)
}

fn query_opts(st: &AppState, params: &Params) -> Result<QueryOpts, ApiError> {
    let mut opts = st.engine.opts().clone();
    if let Some(t) = params.get("timeout").filter(|s| !s.is_empty()) {
        let d = parse_duration_param(t)
            .map_err(|e| ApiError::bad_data(format!("invalid parameter \"timeout\": {e}")))?;
        opts.timeout = Some(match opts.timeout {
            Some(max) => d.min(max),
            None => d,
        });
    }
    if let Some(l) = params.get("lookback_delta").filter(|s| !s.is_empty()) {
        let d = parse_duration_param(l)
            .map_err(|e| ApiError::bad_data(format!("invalid parameter \"lookback_delta\": {e}")))?;
        opts.lookback_delta_ms = d.as_millis() as i64;
    }
    Ok(opts)
}

/// The success body with Prometheus's `warnings` / `infos` when present.
fn query_success(res: QueryResult, limit: usize) -> Response {
    let mut value = res.value;
    let mut warnings = res.warnings;
    if limit > 0 {
        let truncated = match &mut value {
            sightline_promql::Value::Vector(v) if v.len() > limit => {
                v.truncate(limit);
                true
            }
            sightline_promql::Value::Matrix(m) if m.len() > limit => {
                m.truncate(limit);
                true
            }
            _ => false,
        };
        if truncated {
            warnings.push(format!("results truncated due to limit of {limit}"));
        }
    }
    let mut body = json!({"status": "success", "data": sightline_promql::to_prometheus_json(&value)});
    if !warnings.is_empty() {
        body["warnings"] = json!(warnings);
    }
    if !res.infos.is_empty() {
        body["infos"] = json!(res.infos);
    }
    axum::Json(body).into_response()
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// `GET|POST /api/v1/query?query=&time=&timeout=&limit=`
pub async fn query(
    State(st): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p = Params::from_request(&method, &uri, &headers, &body)?;
    let q = p.get("query").unwrap_or("").to_string();
    let t = time_param(&p, "time", now_ms())?;
    let opts = query_opts(&st, &p)?;
    let limit = limit_param(&p)?;
    let st2 = st.clone();
    let res = blocking(move || {
        st2.engine
            .instant(st2.storage.as_ref(), &q, t, &opts)
            .map_err(map_query_error)
    })
    .await?;
    Ok(query_success(res, limit))
}

/// `GET|POST /api/v1/query_range?query=&start=&end=&step=&timeout=&limit=`
pub async fn query_range(
    State(st): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p = Params::from_request(&method, &uri, &headers, &body)?;
    let required = |name: &str| -> Result<i64, ApiError> {
        let s = p.get(name).unwrap_or("");
        parse_time(s).map_err(|e| ApiError::bad_data(format!("invalid parameter {name:?}: {e}")))
    };
    let (start, end) = (required("start")?, required("end")?);
    if end < start {
        return Err(ApiError::bad_data("end timestamp must not be before start time"));
    }
    let step_s = p.get("step").unwrap_or("");
    let step = parse_duration_param(step_s)
        .map_err(|e| ApiError::bad_data(format!("invalid parameter \"step\": {e}")))?
        .as_millis() as i64;
    if step <= 0 {
        return Err(ApiError::bad_data(
            "zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    if (end - start) / step > MAX_POINTS_PER_SERIES {
        return Err(ApiError::bad_data(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ));
    }
    let q = p.get("query").unwrap_or("").to_string();
    let opts = query_opts(&st, &p)?;
    let limit = limit_param(&p)?;
    let st2 = st.clone();
    let res = blocking(move || {
        st2.engine
            .range(st2.storage.as_ref(), &q, start, end, step, &opts)
            .map_err(map_query_error)
    })
    .await?;
    Ok(query_success(res, limit))
}

/// `GET|POST /api/v1/format_query?query=`: the expression pretty-printed.
pub async fn format_query(
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p = Params::from_request(&method, &uri, &headers, &body)?;
    let q = p.get("query").unwrap_or("");
    let expr = sightline_promql::parse(q).map_err(map_query_error)?;
    Ok(success(json!(expr.prettify())))
}

/// `GET|POST /api/v1/query_exemplars`: exemplars are not stored yet, so
/// the answer is always an empty list (after validating the parameters as
/// Prometheus does).
pub async fn query_exemplars(
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p = Params::from_request(&method, &uri, &headers, &body)?;
    time_param(&p, "start", crate::params::MIN_TIME_MS)?;
    time_param(&p, "end", crate::params::MAX_TIME_MS)?;
    sightline_promql::parse(p.get("query").unwrap_or("")).map_err(map_query_error)?;
    Ok(success(json!([])))
}

/// `GET /api/v1/rules?type=alert|record`
pub async fn rules(
    State(st): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p = Params::from_request(&method, &uri, &headers, &body)?;
    let ty = match p.get("type").map(str::to_ascii_lowercase).as_deref() {
        None | Some("") => None,
        Some("alert") => Some("alert"),
        Some("record") => Some("record"),
        Some(other) => {
            return Err(ApiError::bad_data(format!(
                "invalid type parameter {other:?}: use alert or record"
            )))
        }
    };
    Ok(success(match &st.rules {
        Some(r) => r.rules_json(ty),
        None => json!({"groups": []}),
    }))
}

/// `GET /api/v1/alerts`
pub async fn alerts(State(st): State<AppState>) -> Response {
    success(match &st.rules {
        Some(r) => r.alerts_json(),
        None => json!({"alerts": []}),
    })
}

/// `GET /api/v1/status/{buildinfo,config,flags,runtimeinfo,tsdb}`
pub async fn status(
    State(st): State<AppState>,
    Path(what): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let view = st.status.clone();
    let data = match what.as_str() {
        "buildinfo" => json!({
            // The Prometheus API level we answer for (Grafana reads it to
            // enable features); our own version is in `revision`.
            "version": PROMETHEUS_API_VERSION,
            "revision": format!("sightline-{}", env!("CARGO_PKG_VERSION")),
            "branch": "",
            "buildUser": "",
            "buildDate": "",
            "goVersion": "",
        }),
        "config" => json!({"yaml": view.as_ref().map(|v| v.config_yaml()).unwrap_or_default()}),
        "flags" => view.as_ref().map(|v| v.flags()).unwrap_or_else(|| json!({})),
        "runtimeinfo" => view
            .as_ref()
            .map(|v| v.runtime_info())
            .unwrap_or_else(|| json!({})),
        "tsdb" => {
            let p = Params::from_request(&method, &uri, &headers, &body)?;
            let limit = match p.get("limit").filter(|s| !s.is_empty()) {
                None => 10,
                Some(s) => match s.parse::<usize>() {
                    Ok(n) if n > 0 => n,
                    _ => return Err(ApiError::bad_data("limit must be a positive number")),
                },
            };
            view.as_ref().map(|v| v.tsdb(limit)).unwrap_or_else(|| json!({}))
        }
        _ => {
            return Err(ApiError {
                kind: ErrorType::NotFound,
                message: format!("unknown status page {what:?}"),
            });
        }
    };
    Ok(success(data))
}

/// The Prometheus version whose API Sightline answers for.
pub const PROMETHEUS_API_VERSION: &str = "2.53.0";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_params() {
        assert_eq!(parse_duration_param("15").unwrap(), Duration::from_secs(15));
        assert_eq!(parse_duration_param("0.5").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration_param("1m30s").unwrap(), Duration::from_secs(90));
        assert!(parse_duration_param("abc").is_err());
        assert!(parse_duration_param("-1").is_err());
    }
}
