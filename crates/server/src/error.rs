//! Error answers. Read APIs answer in Prometheus's JSON error shape; ingest
//! endpoints answer plain text (as Prometheus's remote-write receiver does)
//! unless the protocol defines its own shape.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use sightline_model::{StorageError, StorageErrorKind};

/// Prometheus API error types (`errorType` in the JSON answer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorType {
    BadData,
    Execution,
    Internal,
    Unavailable,
    Timeout,
    Canceled,
    NotFound,
}

impl ErrorType {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::BadData => "bad_data",
            ErrorType::Execution => "execution",
            ErrorType::Internal => "internal",
            ErrorType::Unavailable => "unavailable",
            ErrorType::Timeout => "timeout",
            ErrorType::Canceled => "canceled",
            ErrorType::NotFound => "not_found",
        }
    }

    /// Status codes as Prometheus's API assigns them.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorType::BadData => StatusCode::BAD_REQUEST,
            ErrorType::Execution => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorType::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorType::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorType::Timeout => StatusCode::SERVICE_UNAVAILABLE,
            ErrorType::Canceled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
            ErrorType::NotFound => StatusCode::NOT_FOUND,
        }
    }
}

/// An error from a Prometheus-style read API.
#[derive(Debug)]
pub struct ApiError {
    pub kind: ErrorType,
    pub message: String,
}

impl ApiError {
    pub fn bad_data(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorType::BadData,
            message: message.into(),
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorType::Internal,
            message: message.into(),
        }
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        let kind = match (&e, e.kind()) {
            (StorageError::DeadlineExceeded, _) => ErrorType::Timeout,
            (_, StorageErrorKind::BadInput) | (_, StorageErrorKind::Limit) => ErrorType::Execution,
            _ => ErrorType::Internal,
        };
        Self {
            kind,
            message: e.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "status": "error",
            "errorType": self.kind.as_str(),
            "error": self.message,
        });
        (self.kind.status(), axum::Json(body)).into_response()
    }
}

/// An error from an ingest endpoint: a status and a message naming the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestError {
    pub status: StatusCode,
    pub message: String,
}

impl IngestError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body is larger than the limit of {limit} bytes"),
        )
    }

    pub fn unsupported_media(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, message)
    }

    /// Maps a storage failure: bad input and limits are the client's fault,
    /// everything else is ours and worth a retry.
    pub fn from_storage(e: &StorageError) -> Self {
        let status = match e.kind() {
            StorageErrorKind::BadInput | StorageErrorKind::Limit => StatusCode::BAD_REQUEST,
            StorageErrorKind::Retryable | StorageErrorKind::Corruption => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self::new(status, e.to_string())
    }
}

impl IntoResponse for IngestError {
    fn into_response(self) -> Response {
        let mut msg = self.message;
        msg.push('\n');
        (
            self.status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            msg,
        )
            .into_response()
    }
}
