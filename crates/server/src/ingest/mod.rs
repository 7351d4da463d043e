//! Ingest endpoints: each one reads a bounded body, hands it to its
//! protocol's decoder and appends through the storage boundary.

pub mod influx;
pub mod otlp;
pub mod push;
pub mod push_path;
pub mod push_registry;
pub mod remote_write;
pub mod statsd;

use crate::selfmetrics::IngestMetrics;
use sightline_model::{AppendError, Appender, LabelRef, SeriesRef, StorageError};
use std::collections::BTreeMap;

/// Short reason names used in `sightline_ingest_samples_rejected_total`.
pub fn reason(e: &AppendError) -> &'static str {
    match e {
        AppendError::OutOfOrder => "out_of_order",
        AppendError::OutOfBounds(_) => "out_of_bounds",
        AppendError::DuplicateTimestamp(_) => "duplicate_timestamp",
        AppendError::InvalidLabels(_) => "invalid_labels",
        AppendError::UnknownSeriesRef => "unknown_series",
        AppendError::Limit(_) => "limit",
    }
}

/// Tally of one request's appends: what went in, what was refused and why.
#[derive(Debug, Default)]
pub struct AppendReport {
    pub accepted: u64,
    pub rejected: u64,
    pub by_reason: BTreeMap<&'static str, u64>,
    /// The first refusal, with the series it concerned.
    pub first_error: Option<String>,
}

impl AppendReport {
    /// Appends one sample, tallying the outcome. `last` caches the series
    /// reference of the previous sample of the same series.
    pub fn append(
        &mut self,
        app: &mut dyn Appender,
        labels: &[LabelRef<'_>],
        last: &mut Option<SeriesRef>,
        t: i64,
        v: f64,
    ) {
        let res = match *last {
            Some(r) => match app.append_ref(r, t, v) {
                Err(AppendError::UnknownSeriesRef) => app.append(labels, t, v).map(|r| *last = Some(r)),
                other => other,
            },
            None => app.append(labels, t, v).map(|r| *last = Some(r)),
        };
        match res {
            Ok(()) => self.accepted += 1,
            Err(e) => self.reject(&e, || series_string(labels)),
        }
    }

    pub fn reject(&mut self, e: &AppendError, series: impl FnOnce() -> String) {
        self.rejected += 1;
        *self.by_reason.entry(reason(e)).or_default() += 1;
        if self.first_error.is_none() {
            self.first_error = Some(format!("{e} for series {}", series()));
        }
    }

    /// Rejections not tied to the store (unsupported sample kinds and such).
    pub fn reject_other(&mut self, reason: &'static str, n: u64, message: impl FnOnce() -> String) {
        if n == 0 {
            return;
        }
        self.rejected += n;
        *self.by_reason.entry(reason).or_default() += n;
        if self.first_error.is_none() {
            self.first_error = Some(message());
        }
    }

    /// Commits and records the outcome in the self-metrics.
    pub fn commit(
        &mut self,
        app: Box<dyn Appender + '_>,
        metrics: &IngestMetrics,
        path: &str,
    ) -> Result<(), StorageError> {
        let res = app.commit();
        match &res {
            Ok(_) => {
                metrics.received(path, self.accepted);
                for (r, n) in &self.by_reason {
                    metrics.rejected(path, r, *n);
                }
            }
            Err(_) => metrics.rejected(path, "storage_error", self.accepted + self.rejected),
        }
        res.map(|_| ())
    }

    /// "N of M samples rejected (reason: n, ...): first error"
    pub fn summary(&self) -> Option<String> {
        let first = self.first_error.as_ref()?;
        let reasons: Vec<String> = self.by_reason.iter().map(|(r, n)| format!("{r}: {n}")).collect();
        Some(format!(
            "{} of {} samples rejected ({}); first: {first}",
            self.rejected,
            self.rejected + self.accepted,
            reasons.join(", ")
        ))
    }
}

/// `name{a="b", ...}` for error messages, from unsorted borrowed labels.
pub fn series_string(labels: &[LabelRef<'_>]) -> String {
    sightline_model::Labels::from_refs(labels).to_string()
}
