//! LogQL for Sightline: a parser, the log pipeline and a metric query engine
//! over [`sightline_logstore::LogStore`], and Loki's JSON result shapes.
//!
//! Public surface for the Loki HTTP handlers:
//! - [`parse`] turns query text into an [`Expr`] or a [`ParseError`] with line
//!   and column;
//! - [`Engine::query_logs`] runs a log query into [`Streams`],
//!   [`Engine::instant`] and [`Engine::range`] run metric queries into a
//!   [`Value`] (vector/scalar or matrix);
//! - [`to_loki_json`] renders either as the `data` object of Loki's
//!   `/loki/api/v1/query(_range)` responses.
//!
//! Invariants:
//! - timestamps are nanoseconds since the Unix epoch (`i64`), as in the store;
//! - a range window at evaluation time `t` is left-open, right-closed:
//!   `(t - range - offset, t - offset]`, as in Loki;
//! - range-query steps are `start, start + step, ...` up to and including `end`;
//! - literal line filters ahead of any line-rewriting stage are pushed down to
//!   the store (where its token bloom filters can skip blocks); everything else
//!   runs in [`pipeline`];
//! - nothing here panics on any query text or any log line: failures are a
//!   [`ParseError`] or an [`Error`].

pub mod ast;
pub mod parser;
pub mod pattern;

pub use ast::Expr;
pub use parser::{parse, ParseError};
pub mod engine;
pub mod funcs;
pub mod pipeline;
pub mod value;

pub use engine::{Engine, EngineOptions, Error};
pub use sightline_logstore::Direction;
pub use value::{format_value, to_loki_json, Sample, Series, Stream, Streams, Value};
