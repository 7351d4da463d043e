//! The log event store.
//!
//! Write path: [`LogStore::append`] encodes a batch of [`LogRecord`]s into the
//! write-ahead log and returns only after `write(2)` (plus `fdatasync` when the
//! [`FsyncPolicy`] says so), then adds the records to an in-memory head. When the
//! head grows past [`Options::head_max_bytes`] (or on [`LogStore::flush`]) it is cut
//! into immutable, compressed, columnar segments, one per tenant and day,
//! written through an [`ObjectStore`]; the WAL files the segments cover are
//! deleted only after the segments are durable.
//!
//! Read path: [`LogStore::select`] merges the head and every segment whose
//! time range and stream set can match, skipping blocks with the per-block
//! token bloom filter when the line filters contain literal text, and streams
//! records in time order (forward or backward) with memory bounded by the
//! blocks that overlap the merge frontier.
//!
//! Invariants:
//! - timestamps are nanoseconds since the Unix epoch (`i64`), as in Loki;
//! - a stream is a [`Labels`] set; records of one stream may arrive out of order
//!   and are returned sorted by timestamp (ties keep arrival order);
//! - an acknowledged append survives kill -9 (and power loss with
//!   [`FsyncPolicy::Always`]); a torn WAL tail is truncated at open and reported
//!   in [`OpenReport`], never fatal;
//! - segments are never modified in place: compaction writes a new segment and
//!   deletes the inputs once no query holds them.
//!
//! The segment format is described in [`segment`]; measured compression and
//! search figures are in `docs/storage-logs.md`.

pub mod bloom;
pub mod codec;
pub mod colenc;
pub mod objstore;
pub mod query;
pub mod record;
pub mod segment;
pub mod shred;
mod store;
pub mod tokens;
pub mod wal;

pub use objstore::{LocalDisk, ObjectStore};
pub use query::{Direction, LineFilter, SelectRequest};
pub use record::LogRecord;
pub use store::{
    CompactStats, IndexStats, LogStore, OpenReport, Options, RetentionStats, SelectIter, StoreMetrics,
};
pub use wal::FsyncPolicy;

use sightline_model::{StorageError, StorageErrorKind};
use thiserror::Error;

pub use sightline_model::Labels;

/// Tenant used when a request carries no tenant header (Loki's single-tenant
/// mode uses `fake`).
pub const DEFAULT_TENANT: &str = "fake";

/// Errors of the log store.
#[derive(Debug, Error)]
pub enum LogStoreError {
    #[error("invalid input: {0}")]
    BadInput(String),
    #[error("limit exceeded: {0}")]
    Limit(String),
    #[error("I/O error on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("data corruption in {path}: {detail}")]
    Corruption { path: String, detail: String },
    #[error("the store is closed")]
    Closed,
}

impl LogStoreError {
    pub fn kind(&self) -> StorageErrorKind {
        match self {
            LogStoreError::BadInput(_) => StorageErrorKind::BadInput,
            LogStoreError::Limit(_) => StorageErrorKind::Limit,
            LogStoreError::Io { .. } | LogStoreError::Closed => StorageErrorKind::Retryable,
            LogStoreError::Corruption { .. } => StorageErrorKind::Corruption,
        }
    }

    pub(crate) fn io(path: impl std::fmt::Display, source: std::io::Error) -> Self {
        LogStoreError::Io {
            path: path.to_string(),
            source,
        }
    }

    pub(crate) fn corrupt(path: impl std::fmt::Display, detail: impl std::fmt::Display) -> Self {
        LogStoreError::Corruption {
            path: path.to_string(),
            detail: detail.to_string(),
        }
    }
}

impl From<LogStoreError> for StorageError {
    fn from(e: LogStoreError) -> Self {
        match e {
            LogStoreError::Io { source, .. } => StorageError::Io(source),
            LogStoreError::Corruption { path, detail } => StorageError::Corruption { path, detail },
            other => StorageError::Other(other.to_string()),
        }
    }
}

pub type Result<T, E = LogStoreError> = std::result::Result<T, E>;
