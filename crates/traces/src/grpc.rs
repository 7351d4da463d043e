//! The OTLP/gRPC `TraceService`.

use crate::ingest::{now_ns, Ingester};
use crate::{otlp, Limits};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use sightline_model::StorageErrorKind;
use std::sync::Arc;
use tonic::codec::CompressionEncoding;
use tonic::{Request, Response, Status};

/// Largest request message accepted (after decompression).
pub const MAX_MESSAGE_BYTES: usize = 64 << 20;

struct GrpcTraces {
    ingester: Arc<Ingester>,
    limits: Limits,
}

/// The tonic `TraceService`: each `Export` is converted and stored on a
/// blocking thread. Accepts gzip; messages up to [`MAX_MESSAGE_BYTES`].
///
/// Status codes: invalid spans `INVALID_ARGUMENT` (the message names the
/// reason; the batch is refused whole), a limit `RESOURCE_EXHAUSTED`, a
/// retryable store error `UNAVAILABLE` (exporters retry), corruption
/// `INTERNAL`.
pub fn trace_grpc_service(ingester: Arc<Ingester>, limits: Limits) -> TraceServiceServer<impl TraceService> {
    TraceServiceServer::new(GrpcTraces { ingester, limits })
        .accept_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
}

#[tonic::async_trait]
impl TraceService for GrpcTraces {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let req = request.into_inner();
        let ing = self.ingester.clone();
        let limits = self.limits.clone();
        let result = tokio::task::spawn_blocking(move || {
            let spans = otlp::from_request(&req, &limits).inspect_err(|_| ing.count_refused())?;
            ing.ingest(&spans, now_ns())
        })
        .await
        .map_err(|e| Status::internal(format!("ingest task failed: {e}")))?;
        match result {
            Ok(()) => Ok(Response::new(ExportTraceServiceResponse {
                partial_success: None,
            })),
            Err(e) => {
                let msg = e.to_string();
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
