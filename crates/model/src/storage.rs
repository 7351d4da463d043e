//! The storage boundary: one append path and one query path.
//!
//! Write side: [`Storage::appender`] gives an [`Appender`] that buffers
//! samples for one request (or one scrape) and ends in [`Appender::commit`]
//! or [`Appender::rollback`]. `commit` returns only once the batch is in the
//! write-ahead log (and fsynced when the configured policy says so) and
//! visible to queries: a caller that acknowledges after `commit` never
//! acknowledges data that kill -9 could lose.
//!
//! Read side: [`Storage::querier`] opens a consistent view over `[mint, maxt]`
//! whose [`Querier::select`] streams series matching label matchers, each with
//! a [`SampleIterator`] that skips chunks outside the range.
//!
//! Appends are synchronous and may block on disk I/O: async callers run them
//! on a blocking thread.

use crate::labels::{LabelRef, Labels};
use crate::limits::LabelError;
use crate::matcher::Matcher;
use crate::Sample;
use std::time::Instant;
use thiserror::Error;

/// Opaque handle of a series inside the store, valid for the life of the
/// process. Lets repeat writers (a scrape loop) skip the label lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesRef(pub u64);

/// How an error should be treated by the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StorageErrorKind {
    /// The input was wrong (answer 4xx, do not retry).
    BadInput,
    /// A limit was hit (answer 4xx/429 naming the limit).
    Limit,
    /// Temporary (disk full, I/O error): the caller may retry (answer 5xx).
    Retryable,
    /// On-disk data is damaged.
    Corruption,
}

/// Errors from the storage layer as a whole.
#[derive(Debug, Error)]
pub enum StorageError {
    #[error(transparent)]
    Append(#[from] AppendError),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("data corruption in {path}: {detail}")]
    Corruption { path: String, detail: String },
    #[error("query deadline exceeded")]
    DeadlineExceeded,
    #[error("{0}")]
    Other(String),
}

impl StorageError {
    pub fn kind(&self) -> StorageErrorKind {
        match self {
            StorageError::Append(e) => e.kind(),
            StorageError::Io(_) | StorageError::DeadlineExceeded | StorageError::Other(_) => {
                StorageErrorKind::Retryable
            }
            StorageError::Corruption { .. } => StorageErrorKind::Corruption,
        }
    }
}

/// Why one sample was refused. The rest of the batch is unaffected: the
/// appender skips the sample and the caller reports it (Prometheus's
/// partial-failure semantics).
#[derive(Debug, Error, Clone, PartialEq)]
pub enum AppendError {
    #[error("out of order sample")]
    OutOfOrder,
    #[error("out of bounds: timestamp {0} is older than the head's window")]
    OutOfBounds(i64),
    #[error("duplicate sample for timestamp {0} with a different value")]
    DuplicateTimestamp(i64),
    #[error("invalid labels: {0}")]
    InvalidLabels(#[from] LabelError),
    #[error("unknown series reference")]
    UnknownSeriesRef,
    #[error("limit exceeded: {0}")]
    Limit(String),
}

impl AppendError {
    pub fn kind(&self) -> StorageErrorKind {
        match self {
            AppendError::Limit(_) => StorageErrorKind::Limit,
            _ => StorageErrorKind::BadInput,
        }
    }
}

/// What the store knows about a metric family (from `# HELP`/`# TYPE`,
/// remote-write metadata or OTLP descriptions).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetricMetadata {
    pub metric_type: MetricType,
    pub help: String,
    pub unit: String,
}

/// Prometheus metric types, spelled as `/api/v1/metadata` spells them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum MetricType {
    #[default]
    Unknown,
    Counter,
    Gauge,
    Histogram,
    GaugeHistogram,
    Summary,
    Info,
    Stateset,
}

impl MetricType {
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Unknown => "unknown",
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::Stateset => "stateset",
        }
    }

    pub fn parse(s: &str) -> Self {
        match s.to_ascii_lowercase().as_str() {
            "counter" => MetricType::Counter,
            "gauge" => MetricType::Gauge,
            "histogram" => MetricType::Histogram,
            "gaugehistogram" => MetricType::GaugeHistogram,
            "summary" => MetricType::Summary,
            "info" => MetricType::Info,
            "stateset" => MetricType::Stateset,
            _ => MetricType::Unknown,
        }
    }
}

/// Counts returned by a commit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// Samples written.
    pub samples: u64,
    /// Series created by this batch.
    pub new_series: u64,
}

/// Buffers one batch of samples; nothing is visible or durable before
/// [`Appender::commit`].
pub trait Appender: Send {
    /// Adds a sample for the series named by `labels`. Labels may come in
    /// any order; empty values are ignored. `v` may be a staleness marker.
    /// Returns the series' reference for [`Appender::append_ref`].
    fn append(&mut self, labels: &[LabelRef<'_>], t: i64, v: f64) -> Result<SeriesRef, AppendError>;

    /// Adds a sample to a series by reference (fast path for repeat writers).
    /// Fails with [`AppendError::UnknownSeriesRef`] if the series was removed
    /// (e.g. by head truncation); the caller then falls back to `append`.
    fn append_ref(&mut self, series: SeriesRef, t: i64, v: f64) -> Result<(), AppendError>;

    /// Records metadata for a metric family. Stores that keep none ignore it.
    fn set_metadata(&mut self, _metric_family: &str, _meta: &MetricMetadata) {}

    /// Makes the batch durable (per fsync policy) and visible.
    fn commit(self: Box<Self>) -> Result<CommitStats, StorageError>;

    /// Discards the batch.
    fn rollback(self: Box<Self>);
}

/// Hints that let the store skip work.
#[derive(Clone, Debug, Default)]
pub struct SelectHints {
    /// Inclusive range in ms; samples outside may be skipped.
    pub start: i64,
    pub end: i64,
    /// Only labels are needed (series API); iterators may be empty.
    pub labels_only: bool,
    /// Stop after this many series (0 = no limit).
    pub limit: usize,
    /// Give up with [`StorageError::DeadlineExceeded`] after this instant.
    pub deadline: Option<Instant>,
}

/// Samples of one series in timestamp order.
pub trait SampleIterator: Send {
    /// The next sample, or `None` at the end.
    fn next(&mut self) -> Option<Sample>;

    /// Advances to the first sample with timestamp `>= t` and returns it
    /// (the current sample if it already qualifies).
    fn seek(&mut self, t: i64) -> Option<Sample> {
        loop {
            let s = self.next()?;
            if s.t >= t {
                return Some(s);
            }
        }
    }

    /// Set when iteration stopped early because stored data was unreadable.
    fn error(&self) -> Option<&StorageError> {
        None
    }
}

/// One series of a select.
pub struct Series {
    pub labels: Labels,
    pub samples: Box<dyn SampleIterator>,
}

/// Series of a select, sorted by labels.
pub type SeriesSet<'a> = Box<dyn Iterator<Item = Result<Series, StorageError>> + Send + 'a>;

/// A consistent read view over a time range.
pub trait Querier: Send + Sync {
    /// Series matching all `matchers` (at least one must not match the empty
    /// string), sorted by their labels.
    fn select(&self, matchers: &[Matcher], hints: &SelectHints) -> Result<SeriesSet<'_>, StorageError>;

    /// Sorted label names of series matching `matchers` (all series if empty).
    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, StorageError>;

    /// Sorted values of `name` over series matching `matchers`.
    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, StorageError>;
}

/// A metrics store: the only thing ingest and query paths see.
pub trait Storage: Send + Sync {
    fn appender(&self) -> Box<dyn Appender + '_>;

    /// A read view over `[mint, maxt]` (ms, inclusive).
    fn querier(&self, mint: i64, maxt: i64) -> Result<Box<dyn Querier + '_>, StorageError>;

    /// Metadata per metric family (for `/api/v1/metadata`).
    fn metadata(&self) -> Vec<(String, MetricMetadata)> {
        Vec::new()
    }
}
