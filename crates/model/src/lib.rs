//! The metric data model and the storage boundary.
//!
//! Every metrics ingest path (remote write, scraping, OTLP, StatsD, push,
//! Influx line protocol) turns its wire format into calls on [`Appender`],
//! and every read path (series/labels APIs, export, PromQL) goes through
//! [`Querier`]. Nothing above this crate knows how samples are stored.
//!
//! Invariants the whole workspace relies on:
//! - timestamps are milliseconds since the Unix epoch (`i64`), as in Prometheus;
//! - a [`Labels`] set is sorted by name, names are unique and values non-empty
//!   (an empty value means "label absent", as in Prometheus);
//! - the metric name is the label [`METRIC_NAME`] (`__name__`);
//! - a staleness marker is the NaN with bit pattern [`STALE_NAN_BITS`].

pub mod labels;
pub mod limits;
pub mod matcher;
pub mod storage;

pub use labels::{LabelRef, Labels, LabelsBuilder, METRIC_NAME};
pub use limits::{LabelError, Limits};
pub use matcher::{MatchOp, Matcher, MatcherError};
pub use storage::{
    AppendError, Appender, CommitStats, MetricMetadata, MetricType, Querier, SampleIterator, SelectHints,
    Series, SeriesRef, SeriesSet, Storage, StorageError, StorageErrorKind,
};

/// Bit pattern of the NaN Prometheus uses as a staleness marker.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// The staleness-marker value.
#[inline]
pub fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

/// True when `v` is exactly the staleness marker (not any NaN).
#[inline]
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// One float sample.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// Milliseconds since the Unix epoch.
    pub t: i64,
    pub v: f64,
}
