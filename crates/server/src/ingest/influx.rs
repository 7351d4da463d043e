//! `POST /write` (InfluxDB 1.x) and `POST /api/v2/write` (2.x): line
//! protocol from Telegraf and Influx clients, plus the `/ping` and
//! `CREATE DATABASE` probes Telegraf makes before writing. Mapping and
//! answers: docs/ingest/influx.md.

use crate::body::{content_encoding, decompress, read_limited};
use crate::error::IngestError;
use crate::ingest::AppendReport;
use crate::params::Params;
use crate::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use sightline_metrics_protocols::influx::{self, Options, Precision};

const PATH: &str = "influx";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Api {
    V1,
    V2,
}

pub async fn write_v1(st: State<AppState>, uri: Uri, headers: HeaderMap, body: Body) -> Response {
    write(st, Api::V1, uri, headers, body).await
}

pub async fn write_v2(st: State<AppState>, uri: Uri, headers: HeaderMap, body: Body) -> Response {
    write(st, Api::V2, uri, headers, body).await
}

async fn write(State(st): State<AppState>, api: Api, uri: Uri, headers: HeaderMap, body: Body) -> Response {
    let res = handle(&st, api, &uri, &headers, body).await;
    let status = res
        .as_ref()
        .err()
        .map(|e| e.status)
        .unwrap_or(StatusCode::NO_CONTENT);
    st.ingest.request(PATH, status.as_u16());
    match res {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => {
            let body = match api {
                Api::V1 => json!({"error": e.message}),
                Api::V2 => {
                    json!({"code": if e.status == StatusCode::PAYLOAD_TOO_LARGE { "request too large" } else { "invalid" }, "message": e.message})
                }
            };
            (e.status, axum::Json(body)).into_response()
        }
    }
}

async fn handle(
    st: &AppState,
    api: Api,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
) -> Result<(), IngestError> {
    let params = Params::from_pairs(
        uri.query()
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default(),
    );
    let precision = match params.get("precision").filter(|p| !p.is_empty()) {
        None => Precision::Nanoseconds,
        Some(p) => {
            Precision::parse(p).ok_or_else(|| IngestError::bad_request(format!("invalid precision {p:?}")))?
        }
    };
    let db = match api {
        Api::V1 => params.get("db"),
        Api::V2 => params.get("bucket"),
    }
    .map(str::to_string);
    let enc = content_encoding(headers)?;
    let raw = read_limited(body, st.limits.max_body_bytes).await?;
    let body = decompress(raw, enc, st.limits.max_decompressed_bytes)?;
    let now_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0);
    let st = st.clone();
    tokio::task::spawn_blocking(move || {
        let opts = Options {
            precision,
            now_ns,
            db: db.as_deref(),
        };
        let mut report = AppendReport::default();
        let mut app = st.storage.appender();
        let parsed = influx::parse(&body, &opts, &mut |labels, s| {
            report.append(&mut *app, labels, &mut None, s.t, s.v);
        });
        report
            .commit(app, &st.ingest, PATH)
            .map_err(|e| IngestError::from_storage(&e))?;
        if let Some(e) = parsed.first_error() {
            st.ingest.rejected(PATH, "malformed", parsed.error_count as u64);
            return Err(IngestError::bad_request(format!(
                "partial write: {e} ({} of {} lines refused)",
                parsed.error_count,
                parsed.error_count + parsed.points
            )));
        }
        match report.summary() {
            None => Ok(()),
            Some(msg) => Err(IngestError::bad_request(format!("partial write: {msg}"))),
        }
    })
    .await
    .map_err(|e| {
        IngestError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("ingest task failed: {e}"),
        )
    })?
}

/// `GET|HEAD /ping`: InfluxDB's liveness probe.
pub async fn ping() -> Response {
    (
        StatusCode::NO_CONTENT,
        [
            ("X-Influxdb-Version", "1.8.10-sightline"),
            ("X-Influxdb-Build", "OSS"),
        ],
    )
        .into_response()
}

/// `POST /query`: Telegraf's v1 output runs `CREATE DATABASE` first.
/// Databases need no creation here (the `db` is a label), so that statement
/// succeeds; anything else is refused, since InfluxQL queries are not served.
pub async fn query(uri: Uri, body: axum::body::Bytes) -> Response {
    let mut q = String::new();
    for src in [uri.query().unwrap_or("").as_bytes(), &body[..]] {
        if let Some((_, v)) = form_urlencoded::parse(src).find(|(k, _)| k == "q") {
            q = v.into_owned();
        }
    }
    if q.trim_start().to_ascii_uppercase().starts_with("CREATE DATABASE") {
        return axum::Json(json!({"results": [{"statement_id": 0}]})).into_response();
    }
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({"error": "InfluxQL queries are not supported; query with PromQL"})),
    )
        .into_response()
}
