//! Traces: the span model, ingest decoders, the trace store and the query
//! output encoders.
//!
//! Data flows `decoder -> model::Span -> store::TraceStore -> encoders`:
//! - [`model`]: the span model and its invariants;
//! - [`otlp`]: OTLP protobuf and OTLP/JSON in, OTLP (Tempo) out;
//! - [`zipkin`]: Zipkin v2 JSON and protobuf in;
//! - [`thrift`] and [`jaeger`]: Jaeger thrift (compact and binary) in,
//!   Jaeger query JSON out;
//! - [`store`]: spans stored as log-store records (one record per span);
//! - [`ingest`]: store + span metrics for every transport; [`grpc`]: the
//!   OTLP/gRPC `TraceService`;
//! - [`spanmetrics`]: RED and service-graph metrics from spans;
//! - [`tempo`]: Tempo API response shapes; [`traceql`]: a TraceQL subset.
//!
//! Decoders are pure (no I/O) and return [`TraceError`], classified so
//! handlers map it to a status code in one place; they never panic on any
//! input.

pub mod grpc;
pub mod ingest;
pub mod jaeger;
pub mod model;
pub mod otlp;
pub mod spanmetrics;
pub mod store;
pub mod tempo;
pub mod thrift;
pub mod traceql;
pub mod zipkin;

pub use model::{Limits, Span, SpanKind, StatusCode, Value};
pub use store::{SearchRequest, TraceStore};

use sightline_model::StorageErrorKind;
use thiserror::Error;

/// Errors of the traces crate.
#[derive(Debug, Error)]
pub enum TraceError {
    /// Malformed payload or invalid ids (HTTP 400).
    #[error("invalid input: {0}")]
    BadInput(String),
    /// A size limit was exceeded (HTTP 400/413, or a counted drop).
    #[error("limit exceeded: {0}")]
    Limit(String),
    /// The underlying store failed.
    #[error("store: {0}")]
    Store(#[from] sightline_logstore::LogStoreError),
}

impl TraceError {
    pub fn kind(&self) -> StorageErrorKind {
        match self {
            TraceError::BadInput(_) => StorageErrorKind::BadInput,
            TraceError::Limit(_) => StorageErrorKind::Limit,
            TraceError::Store(e) => e.kind(),
        }
    }

    /// Prefixes the message with where in the payload it happened.
    pub(crate) fn context(self, at: &str) -> TraceError {
        match self {
            TraceError::BadInput(m) => TraceError::BadInput(format!("{at}: {m}")),
            TraceError::Limit(m) => TraceError::Limit(format!("{at}: {m}")),
            other => other,
        }
    }
}
