//! The metrics TSDB. See `docs/storage.md`.
//!
//! Modules: [`chunkenc`] (in-memory chunk encoding), [`head`] (in-memory
//! series and the appender), [`wal`] (write-ahead log), [`block`] and
//! [`index`] (immutable on-disk blocks), [`compact`] and [`retention`]
//! (block lifecycle), [`querier`] (merged read view) and [`db`] (the
//! [`Tsdb`] tying them together behind `sightline_model::Storage`).

pub mod block;
pub mod chunkenc;
pub mod compact;
pub mod db;
pub mod head;
pub mod index;
pub mod postings;
pub mod querier;
pub mod retention;
pub mod wal;

pub use db::{Tsdb, TsdbOptions, TsdbStats};
pub use head::{Cardinality, HeadStats};
pub use wal::WalSync;
