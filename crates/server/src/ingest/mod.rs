//! Ingest endpoints: each one reads a bounded body, hands it to its
//! protocol's decoder and appends through the storage boundary.

pub mod push_path;
pub mod push_registry;
