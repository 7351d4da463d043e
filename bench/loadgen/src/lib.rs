//! Remote write load generator for the end-to-end benchmark in `bench/`.
//!
//! - [`gen`]: a deterministic fleet of node_exporter-like series and values.
//! - [`load`]: pre-encoded, snappy-compressed remote write requests in shard
//!   files, generated once and replayed many times.
//! - [`openmetrics`]: the same samples as OpenMetrics text (for promtool).
//! - [`send`] over [`http`]: replays a load directory with one kept-alive
//!   connection per shard and reports what was accepted.
//!
//! The generator does its work before the measurement starts, and the sender
//! only copies pre-encoded bytes to a socket, so the servers under test, not
//! the driver, are the bottleneck.

pub mod gen;
pub mod http;
pub mod load;
pub mod openmetrics;
pub mod send;
