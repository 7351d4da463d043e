//! OTLP metrics ingestion: decoding `ExportMetricsServiceRequest` (protobuf
//! and OTLP/JSON), translating it to Sightline samples exactly as Prometheus
//! 3's OTLP receiver does, and the OTLP/gRPC `MetricsService`.
//!
//! Mapping (details in `docs/ingest/otlp.md`):
//! - gauge -> gauge; monotonic sum -> counter (`_total`); non-monotonic sum
//!   -> gauge; histogram -> classic `_bucket{le}`/`_sum`/`_count`;
//!   exponential histogram -> classic buckets derived from scale and offset;
//!   summary -> `{quantile}`/`_sum`/`_count`;
//! - names per [`TranslationStrategy`] (default
//!   `UnderscoreEscapingWithSuffixes`), see [`naming`];
//! - resource: `service.namespace/service.name` -> `job`,
//!   `service.instance.id` -> `instance`, every other attribute on a
//!   `target_info` series; `promote_resource_attributes` copies chosen ones
//!   onto every series;
//! - delta temporality is converted to cumulative ([`delta`]);
//! - `NoRecordedValue` points become staleness markers; timestamps are
//!   nanoseconds truncated to milliseconds; exemplars are ignored.
//!
//! Invariants: decoding never panics on any input; [`OtlpMetrics::ingest`]
//! never panics and reports every data point as accepted or rejected
//! (`accepted + rejected` = data points in the request); a point is accepted
//! only if every sample it produced was appended. [`OtlpMetrics`] is
//! `Send + Sync`; its only mutable state is the delta-to-cumulative map behind
//! a mutex, bounded by [`DeltaConfig`].

pub mod attrs;
pub mod config;
pub mod delta;
pub mod exphist;
mod grpc;
pub mod json;
pub mod naming;
mod translate;

pub use config::{ConfigError, DeltaConfig, OtlpConfig, TranslationStrategy};
pub use grpc::{metrics_grpc_service, response_for, MAX_MESSAGE_BYTES};
/// The generated OTLP types (common, resource, metrics, collector).
pub use opentelemetry_proto::tonic as proto;
pub use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
pub use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
pub use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};

use delta::DeltaToCumulative;
use naming::LabelNamer;
use parking_lot::Mutex;
use prost::Message;
use sightline_model::{Appender, StorageErrorKind};
use std::time::Instant;

/// The outcome of one [`OtlpMetrics::ingest`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IngestReport {
    /// Data points whose samples were all appended.
    pub accepted: u64,
    /// Data points refused (translation error, delta conflict, or a sample the
    /// appender refused). This is OTLP's `rejected_data_points`.
    pub rejected: u64,
    /// Samples appended (a histogram point gives several).
    pub samples: u64,
    /// `target_info` samples the appender refused (not data points).
    pub target_info_errors: u64,
    /// The first problem met, for OTLP's `error_message`.
    pub first_error: Option<String>,
}

/// Why a request body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("invalid OTLP protobuf: {0}")]
    Protobuf(String),
    #[error("invalid OTLP/JSON: {0}")]
    Json(String),
    #[error("unsupported content type {0:?} (expected application/x-protobuf or application/json)")]
    UnsupportedContentType(String),
}

impl DecodeError {
    /// Always bad input (answer 400; 415 for the content type).
    pub fn kind(&self) -> StorageErrorKind {
        StorageErrorKind::BadInput
    }
}

/// Wire encodings of OTLP/HTTP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    /// From a `Content-Type` header value (parameters and case ignored).
    pub fn from_content_type(content_type: &str) -> Option<Self> {
        let ct = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match ct.as_str() {
            "application/x-protobuf" | "application/protobuf" => Some(Encoding::Protobuf),
            "application/json" => Some(Encoding::Json),
            _ => None,
        }
    }
}

/// The OTLP metrics receiver: configuration plus delta-to-cumulative state.
/// `Send + Sync`; share it in an `Arc` between the HTTP handler and gRPC.
#[derive(Debug)]
pub struct OtlpMetrics {
    cfg: OtlpConfig,
    namer: LabelNamer,
    delta: Mutex<DeltaToCumulative>,
}

impl OtlpMetrics {
    /// A receiver with `cfg` (see [`OtlpConfig::validate`]).
    pub fn new(cfg: OtlpConfig) -> Self {
        let namer = LabelNamer {
            utf8_allowed: !cfg.translation.escapes(),
            underscore_sanitization: cfg.label_name_underscore_sanitization,
            preserve_multiple_underscores: cfg.label_name_preserve_multiple_underscores,
        };
        let delta = Mutex::new(DeltaToCumulative::new(cfg.delta.clone()));
        Self { cfg, namer, delta }
    }

    pub fn config(&self) -> &OtlpConfig {
        &self.cfg
    }

    /// Delta streams currently tracked.
    pub fn delta_streams(&self) -> usize {
        self.delta.lock().len()
    }

    /// Decodes a body (already decompressed) sent with `content_type`.
    pub fn decode_request(
        body: &[u8],
        content_type: &str,
    ) -> Result<ExportMetricsServiceRequest, DecodeError> {
        match Encoding::from_content_type(content_type) {
            Some(Encoding::Protobuf) => {
                ExportMetricsServiceRequest::decode(body).map_err(|e| DecodeError::Protobuf(e.to_string()))
            }
            Some(Encoding::Json) => json::decode_request(body).map_err(|e| DecodeError::Json(e.to_string())),
            None => Err(DecodeError::UnsupportedContentType(content_type.to_string())),
        }
    }

    /// Translates `req` into `app` (the caller commits or rolls back).
    pub fn ingest(&self, req: &ExportMetricsServiceRequest, app: &mut dyn Appender) -> IngestReport {
        self.ingest_at(req, app, Instant::now())
    }

    /// [`Self::ingest`] with an explicit clock for delta-state idleness.
    pub fn ingest_at(
        &self,
        req: &ExportMetricsServiceRequest,
        app: &mut dyn Appender,
        now: Instant,
    ) -> IngestReport {
        translate::Translator::new(&self.cfg, self.namer, &self.delta, now, app).run(req)
    }

    /// An `ExportMetricsServiceResponse` for `report`, in the request's
    /// encoding (protobuf unless `content_type` is JSON).
    pub fn encode_response(report: &IngestReport, content_type: &str) -> Vec<u8> {
        let resp = response_for(report);
        match Encoding::from_content_type(content_type) {
            Some(Encoding::Json) => {
                let (rejected, msg) = resp
                    .partial_success
                    .as_ref()
                    .map(|p| (p.rejected_data_points, p.error_message.as_str()))
                    .unwrap_or((0, ""));
                json::encode_response(rejected, msg)
            }
            _ => resp.encode_to_vec(),
        }
    }
}
