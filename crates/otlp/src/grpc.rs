//! The OTLP/gRPC `MetricsService`.

use crate::{IngestReport, OtlpMetrics};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use sightline_model::{Storage, StorageErrorKind};
use std::sync::Arc;
use tonic::codec::CompressionEncoding;
use tonic::{Request, Response, Status};

/// Largest request message accepted (after decompression), the same as the
/// default HTTP body limit.
pub const MAX_MESSAGE_BYTES: usize = 64 << 20;

struct GrpcMetrics {
    otlp: Arc<OtlpMetrics>,
    storage: Arc<dyn Storage>,
}

/// The tonic `MetricsService`: each `Export` is translated and committed
/// through `storage.appender()` on a blocking thread, then answered with the
/// partial-success counts. Accepts gzip-compressed requests; messages up to
/// [`MAX_MESSAGE_BYTES`].
///
/// Status codes: a commit failing with a retryable error gives `UNAVAILABLE`
/// (exporters retry), a limit gives `RESOURCE_EXHAUSTED`, bad input
/// `INVALID_ARGUMENT`, corruption `INTERNAL`.
pub fn metrics_grpc_service(
    otlp: Arc<OtlpMetrics>,
    storage: Arc<dyn Storage>,
) -> MetricsServiceServer<impl MetricsService> {
    MetricsServiceServer::new(GrpcMetrics { otlp, storage })
        .accept_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
}

/// The response for a report (no `partial_success` when nothing was rejected
/// and there is no message).
pub fn response_for(report: &IngestReport) -> ExportMetricsServiceResponse {
    let message = report.first_error.clone().unwrap_or_default();
    if report.rejected == 0 && message.is_empty() {
        return ExportMetricsServiceResponse {
            partial_success: None,
        };
    }
    ExportMetricsServiceResponse {
        partial_success: Some(ExportMetricsPartialSuccess {
            rejected_data_points: i64::try_from(report.rejected).unwrap_or(i64::MAX),
            error_message: message,
        }),
    }
}

#[tonic::async_trait]
impl MetricsService for GrpcMetrics {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        let req = request.into_inner();
        let otlp = self.otlp.clone();
        let storage = self.storage.clone();
        let result = tokio::task::spawn_blocking(move || {
            let mut app = storage.appender();
            let report = otlp.ingest(&req, app.as_mut());
            app.commit().map(|_| report)
        })
        .await
        .map_err(|e| Status::internal(format!("ingest task failed: {e}")))?;
        match result {
            Ok(report) => Ok(Response::new(response_for(&report))),
            Err(e) => {
                let msg = format!("commit failed: {e}");
                Err(match e.kind() {
                    StorageErrorKind::Retryable => Status::unavailable(msg),
                    StorageErrorKind::Limit => Status::resource_exhausted(msg),
                    StorageErrorKind::BadInput => Status::invalid_argument(msg),
                    StorageErrorKind::Corruption => Status::internal(msg),
                })
            }
        }
    }
}
