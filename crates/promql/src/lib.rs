//! PromQL for Sightline: an engine that evaluates `promql-parser` ASTs over
//! [`sightline_model::Storage`] with Prometheus 3 semantics, and a runner for
//! Prometheus's PromQL test scripts.
//!
//! Public surface:
//! - [`Engine::new`], [`Engine::instant`], [`Engine::range`] with
//!   [`QueryOpts`]; results are a [`QueryResult`] (value plus warnings and
//!   infos) or a typed [`Error`] ([`Error::api_error_type`] gives the HTTP
//!   API's `errorType`).
//! - [`to_prometheus_json`] renders a [`Value`] as the `data` object of
//!   Prometheus's query API.
//! - [`memstore::MemStorage`], an in-memory store for tests.
//! - [`promqltest::run_files`], the conformance runner, with
//!   [`promqltest::KnownGaps`] and [`promqltest::Summary`].
//!
//! Invariants: timestamps are milliseconds; a query sees one consistent
//! storage view (one querier per query); evaluation never panics on any
//! input, it returns an [`Error`].

mod aggregate;
mod engine;
mod extended;
mod functions;
mod info;
pub mod memstore;
pub mod promqltest;
mod value;

pub use engine::{parse, Engine, Error, QueryOpts};
pub use value::{format_float, to_prometheus_json, InstantSample, QueryResult, RangeSeries, Value};
