//! `POST /v1/metrics`: OTLP/HTTP metrics, protobuf or JSON, optionally
//! gzip-compressed. Translation to series lives in `sightline_otlp`.
//!
//! Answers as the OTLP/HTTP specification says: 200 with an
//! `ExportMetricsServiceResponse` (its `partial_success` counting refused
//! data points) in the request's encoding; 400 with a `google.rpc.Status`
//! body in the request's encoding when the body cannot be decoded; 413 for
//! oversize bodies; 415 for other content types; 503 when the store cannot
//! take the write (the exporter retries).

use crate::body::{content_encoding, decompress, media_type, read_limited};
use crate::error::IngestError;
use crate::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use sightline_model::StorageErrorKind;
use sightline_otlp::{Encoding, OtlpMetrics};

const PATH: &str = "otlp_http";

/// gRPC status code `INVALID_ARGUMENT`, used in error bodies.
const INVALID_ARGUMENT: u32 = 3;
/// gRPC status code `UNAVAILABLE`.
const UNAVAILABLE: u32 = 14;

pub async fn metrics(State(st): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let ct = media_type(&headers);
    let res = handle(st.clone(), &headers, &ct, body).await;
    let code = match &res {
        Ok(_) => StatusCode::OK,
        Err(e) => e.status,
    };
    st.ingest.request(PATH, code.as_u16());
    match res {
        Ok(body) => ([(header::CONTENT_TYPE, response_type(&ct))], body).into_response(),
        Err(e) => error_response(e, &ct),
    }
}

async fn handle(st: AppState, headers: &HeaderMap, ct: &str, body: Body) -> Result<Vec<u8>, IngestError> {
    let Some(otlp) = st.otlp.clone() else {
        return Err(IngestError::new(
            StatusCode::NOT_FOUND,
            "OTLP ingestion is disabled",
        ));
    };
    if Encoding::from_content_type(ct).is_none() {
        return Err(IngestError::unsupported_media(format!(
            "unsupported Content-Type {ct:?}: OTLP/HTTP takes application/x-protobuf or application/json"
        )));
    }
    let enc = content_encoding(headers)?;
    let body = read_limited(body, st.limits.max_body_bytes).await?;
    let ct = ct.to_string();
    tokio::task::spawn_blocking(move || {
        let body = decompress(body, enc, st.limits.max_decompressed_bytes)?;
        ingest(&st, &otlp, &body, &ct)
    })
    .await
    .map_err(|e| {
        IngestError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("ingest task failed: {e}"),
        )
    })?
}

fn ingest(st: &AppState, otlp: &OtlpMetrics, body: &[u8], ct: &str) -> Result<Vec<u8>, IngestError> {
    let req = OtlpMetrics::decode_request(body, ct).map_err(|e| IngestError::bad_request(e.to_string()))?;
    let mut app = st.storage.appender();
    let report = otlp.ingest(&req, app.as_mut());
    match app.commit() {
        Ok(_) => {
            st.ingest.received(PATH, report.samples);
            if report.rejected > 0 {
                st.ingest.rejected(PATH, "data_point", report.rejected);
            }
            Ok(OtlpMetrics::encode_response(&report, ct))
        }
        Err(e) => {
            st.ingest.rejected(PATH, "storage_error", report.samples);
            let status = match e.kind() {
                StorageErrorKind::Retryable => StatusCode::SERVICE_UNAVAILABLE,
                StorageErrorKind::Corruption => StatusCode::INTERNAL_SERVER_ERROR,
                StorageErrorKind::BadInput | StorageErrorKind::Limit => StatusCode::BAD_REQUEST,
            };
            Err(IngestError::new(status, format!("commit failed: {e}")))
        }
    }
}

fn response_type(ct: &str) -> &'static str {
    match Encoding::from_content_type(ct) {
        Some(Encoding::Json) => "application/json",
        _ => "application/x-protobuf",
    }
}

/// A `google.rpc.Status` body in the request's encoding; plain text when the
/// request's content type is not an OTLP one.
fn error_response(e: IngestError, ct: &str) -> Response {
    let code = if e.status == StatusCode::SERVICE_UNAVAILABLE {
        UNAVAILABLE
    } else {
        INVALID_ARGUMENT
    };
    match Encoding::from_content_type(ct) {
        None => e.into_response(),
        Some(Encoding::Json) => {
            let body = serde_json::json!({"code": code, "message": e.message}).to_string();
            (e.status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
        }
        Some(Encoding::Protobuf) => (
            e.status,
            [(header::CONTENT_TYPE, "application/x-protobuf")],
            encode_status(code, &e.message),
        )
            .into_response(),
    }
}

/// `google.rpc.Status { int32 code = 1; string message = 2; }`.
fn encode_status(code: u32, message: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 8);
    out.push(0x08);
    put_varint(&mut out, u64::from(code));
    out.push(0x12);
    put_varint(&mut out, message.len() as u64);
    out.extend_from_slice(message.as_bytes());
    out
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_body_is_valid_protobuf() {
        let b = encode_status(3, "bad");
        assert_eq!(b, [0x08, 3, 0x12, 3, b'b', b'a', b'd']);
        let long = "x".repeat(200);
        let b = encode_status(14, &long);
        assert_eq!(&b[..5], &[0x08, 14, 0x12, 0xc8, 0x01]);
        assert_eq!(b.len(), 5 + 200);
    }
}
