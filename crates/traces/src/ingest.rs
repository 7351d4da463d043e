//! The ingest path shared by every transport: store the spans, then feed
//! the span-metrics generator.

use crate::spanmetrics::SpanMetrics;
use crate::{Span, TraceError, TraceStore};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Stores spans and updates span metrics. Cheap to share (`Arc`).
pub struct Ingester {
    pub store: Arc<TraceStore>,
    pub metrics: Option<Arc<SpanMetrics>>,
    /// Tenant used for every append.
    pub tenant: String,
    accepted: AtomicU64,
    refused: AtomicU64,
}

/// Self-metrics of an [`Ingester`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IngestStats {
    pub accepted_spans: u64,
    pub refused_batches: u64,
}

impl Ingester {
    pub fn new(store: Arc<TraceStore>, metrics: Option<Arc<SpanMetrics>>, tenant: impl Into<String>) -> Self {
        Self {
            store,
            metrics,
            tenant: tenant.into(),
            accepted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
    }

    /// Appends `spans` durably, then counts them in the span metrics (only
    /// once stored, so metrics never count spans that were refused).
    pub fn ingest(&self, spans: &[Span], now_ns: i64) -> Result<(), TraceError> {
        if spans.is_empty() {
            return Ok(());
        }
        if let Err(e) = self.store.append(&self.tenant, spans) {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return Err(e);
        }
        self.accepted.fetch_add(spans.len() as u64, Ordering::Relaxed);
        if let Some(m) = &self.metrics {
            m.observe(spans, now_ns);
        }
        Ok(())
    }

    /// Counts a batch refused by a decoder (for the self-metrics).
    pub fn count_refused(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }

    pub fn stats(&self) -> IngestStats {
        IngestStats {
            accepted_spans: self.accepted.load(Ordering::Relaxed),
            refused_batches: self.refused.load(Ordering::Relaxed),
        }
    }
}

/// Nanoseconds since the Unix epoch, now.
pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}
