//! The metrics TSDB. See `docs/storage.md`.

pub mod block;
pub mod chunkenc;
pub mod compact;
pub mod db;
pub mod head;
pub mod index;
pub mod querier;
pub mod retention;
pub mod wal;
