//! `POST /api/v1/write`: Prometheus remote write 1.0.
//!
//! The body is snappy-compressed protobuf. Decoding borrows label strings
//! from a per-thread reusable buffer, so steady-state ingestion allocates
//! nothing per sample. Samples the store refuses (out of order, duplicate
//! timestamps, invalid labels) are skipped and counted; the rest commit, and
//! the answer is then 400 naming the first problem, so the sender does not
//! retry a batch whose good part is already stored. 204 means everything
//! was written to the WAL.

use crate::body::read_limited;
use crate::error::IngestError;
use crate::ingest::AppendReport;
use crate::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use sightline_metrics_protocols::remote_write::Decoder;
use sightline_model::StorageErrorKind;
use std::cell::RefCell;

const PATH: &str = "remote_write";

thread_local! {
    static DECODER: RefCell<Decoder> = RefCell::new(Decoder::new());
}

pub async fn write(State(st): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let res = handle(st.clone(), headers, body).await;
    let code = match &res {
        Ok(()) => StatusCode::NO_CONTENT,
        Err(e) => e.status,
    };
    st.ingest.request(PATH, code.as_u16());
    match res {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn handle(st: AppState, headers: HeaderMap, body: Body) -> Result<(), IngestError> {
    check_headers(&headers)?;
    let body = read_limited(body, st.limits.max_body_bytes).await?;
    tokio::task::spawn_blocking(move || ingest(&st, &body))
        .await
        .map_err(|e| {
            IngestError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("ingest task failed: {e}"),
            )
        })?
}

fn check_headers(headers: &HeaderMap) -> Result<(), IngestError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if !media.is_empty() && media != "application/x-protobuf" {
        return Err(IngestError::unsupported_media(format!(
            "unsupported Content-Type {ct:?}: remote write takes application/x-protobuf"
        )));
    }
    if let Some(proto) = ct
        .split(';')
        .skip(1)
        .find_map(|p| p.trim().strip_prefix("proto="))
    {
        if proto != "prometheus.WriteRequest" {
            return Err(IngestError::unsupported_media(format!(
                "unsupported remote write message {proto:?}: only prometheus.WriteRequest (remote write 1.0) is accepted"
            )));
        }
    }
    let enc = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("snappy");
    if !enc.eq_ignore_ascii_case("snappy") {
        return Err(IngestError::unsupported_media(format!(
            "unsupported Content-Encoding {enc:?}: remote write bodies are snappy-compressed"
        )));
    }
    Ok(())
}

fn ingest(st: &AppState, body: &[u8]) -> Result<(), IngestError> {
    DECODER.with(|cell| {
        let mut decoder = cell.borrow_mut();
        let res = ingest_with(st, &mut decoder, body);
        decoder.shrink_to(64 << 20);
        res
    })
}

fn ingest_with(st: &AppState, decoder: &mut Decoder, body: &[u8]) -> Result<(), IngestError> {
    let req = decoder.decode(body, &st.limits).map_err(|e| {
        st.ingest.rejected(PATH, "malformed", 1);
        let status = match e.kind() {
            StorageErrorKind::Limit => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        };
        IngestError::new(status, format!("decoding remote write request: {e}"))
    })?;
    let mut report = AppendReport::default();
    let mut app = st.storage.appender();
    for m in req.metadata() {
        app.set_metadata(m.metric_family_name, &m.to_metadata());
    }
    for series in req.series() {
        let mut last = None;
        for s in series.samples {
            report.append(&mut *app, series.labels, &mut last, s.t, s.v);
        }
        report.reject_other("native_histogram", series.histograms as u64, || {
            format!(
                "native histogram samples are not supported yet (series {})",
                crate::ingest::series_string(series.labels)
            )
        });
    }
    report
        .commit(app, &st.ingest, PATH)
        .map_err(|e| IngestError::from_storage(&e))?;
    match report.summary() {
        None => Ok(()),
        Some(msg) => Err(IngestError::bad_request(msg)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.insert(
                header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        m
    }

    #[test]
    fn header_checks() {
        assert!(check_headers(&h(&[])).is_ok());
        assert!(check_headers(&h(&[
            ("content-type", "application/x-protobuf"),
            ("content-encoding", "snappy")
        ]))
        .is_ok());
        assert!(check_headers(&h(&[(
            "content-type",
            "application/x-protobuf;proto=prometheus.WriteRequest"
        )]))
        .is_ok());
        assert_eq!(
            check_headers(&h(&[("content-type", "application/json")]))
                .unwrap_err()
                .status,
            415
        );
        assert_eq!(
            check_headers(&h(&[(
                "content-type",
                "application/x-protobuf;proto=io.prometheus.write.v2.Request"
            )]))
            .unwrap_err()
            .status,
            415
        );
        assert_eq!(
            check_headers(&h(&[("content-encoding", "gzip")]))
                .unwrap_err()
                .status,
            415
        );
    }
}
