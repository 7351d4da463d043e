//! The evaluator.
//!
//! Every query is evaluated as a range query (an instant query is a range of
//! one step), node by node, the way Prometheus does it: a node's result is a
//! set of series holding one point per step at which they have a value.
//!
//! - Vector selectors stream each series' samples once, keeping only the
//!   latest sample per step (lookback window `(t - lookback, t]`, staleness
//!   markers end a series).
//! - Range functions slide a window `(t - range, t]` over each series'
//!   samples, one series at a time; only the current window is held.
//! - Aggregations and binary operators work step by step over their operands,
//!   with grouping keys and match signatures computed once per series.
//! - The metric name is dropped lazily (Prometheus 3 "delayed name removal"):
//!   operations that drop it set a flag and the name is removed when the
//!   result is built (or before grouping), so `label_replace` can still read
//!   or restore it.
//!
//! Invariants: a series in an instant-vector result has points only at step
//! timestamps, strictly increasing; a scalar has exactly one value per step.

use crate::functions;
use crate::value::{InstantSample, QueryResult, RangeSeries, Value};
use promql_parser::label::MatchOp as PMatchOp;
use promql_parser::parser::token::*;
use promql_parser::parser::{
    AggregateExpr, AtModifier, BinaryExpr, Expr, LabelModifier, Offset, SubqueryExpr, VectorMatchCardinality,
    VectorSelector,
};
use sightline_model::{
    is_stale_nan, Labels, MatchOp, Matcher, Querier, Sample, SelectHints, Storage, METRIC_NAME,
};
use std::cell::RefCell;
use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use thiserror::Error;

/// Options of one query.
#[derive(Clone, Debug)]
pub struct QueryOpts {
    /// How far back a vector selector looks for a sample (default 5m).
    pub lookback_delta_ms: i64,
    /// Most samples a query may hold at once (0 = unlimited).
    pub max_samples: usize,
    /// Give up after this long (None = no limit).
    pub timeout: Option<Duration>,
    /// Step of a subquery written without one (`x[5m:]`), default 1m.
    pub default_subquery_step_ms: i64,
}

impl Default for QueryOpts {
    fn default() -> Self {
        Self {
            lookback_delta_ms: 5 * 60 * 1000,
            max_samples: 50_000_000,
            timeout: Some(Duration::from_secs(120)),
            default_subquery_step_ms: 60 * 1000,
        }
    }
}

/// Why a query failed. The HTTP layer maps [`Error::Parse`] to `bad_data`,
/// [`Error::Timeout`] to `timeout` and the rest to `execution`.
#[derive(Debug, Error)]
pub enum Error {
    /// The query text (or a query parameter) is not valid. `position` is a
    /// byte offset when known.
    #[error("parse error: {message}")]
    Parse {
        message: String,
        position: Option<usize>,
    },
    /// The query is valid but cannot be evaluated (e.g. many-to-many matching).
    #[error("{0}")]
    Execution(String),
    #[error("query processing would load too many samples into memory in query execution")]
    TooManySamples,
    #[error("query timed out in {0}")]
    Timeout(&'static str),
    #[error(transparent)]
    Storage(#[from] sightline_model::StorageError),
}

impl Error {
    /// The `errorType` of Prometheus's HTTP API for this error:
    /// `bad_data`, `execution`, `timeout` or `internal` (storage failures).
    pub fn api_error_type(&self) -> &'static str {
        match self {
            Error::Parse { .. } => "bad_data",
            Error::Execution(_) | Error::TooManySamples => "execution",
            Error::Timeout(_) => "timeout",
            Error::Storage(sightline_model::StorageError::DeadlineExceeded) => "timeout",
            Error::Storage(_) => "internal",
        }
    }
}

pub(crate) type Res<T> = Result<T, Error>;

/// Most steps a range query may have (Prometheus's API limit).
pub const MAX_RANGE_POINTS: i64 = 11_000;

/// Most steps a subquery may evaluate when no sample limit is set.
const MAX_SUBQUERY_STEPS: i64 = 100_000_000;

pub(crate) fn exec_err<T>(msg: impl Into<String>) -> Res<T> {
    Err(Error::Execution(msg.into()))
}

/// The PromQL engine. Cheap to create; holds only default options.
#[derive(Clone, Debug, Default)]
pub struct Engine {
    opts: QueryOpts,
}

impl Engine {
    pub fn new(opts: QueryOpts) -> Self {
        Self { opts }
    }

    /// The options this engine was created with.
    pub fn opts(&self) -> &QueryOpts {
        &self.opts
    }

    /// Evaluates `query` at `t_ms`. A range-vector expression yields a matrix.
    pub fn instant(
        &self,
        storage: &dyn Storage,
        query: &str,
        t_ms: i64,
        opts: &QueryOpts,
    ) -> Res<QueryResult> {
        let expr = parse(query)?;
        check_time("evaluation time", t_ms)?;
        let sh = RefCell::new(Shared::new(query, t_ms, t_ms, opts));
        let querier = open_querier(storage, &expr, t_ms, t_ms, opts)?;
        let ev = Ev::new(querier.as_deref(), &sh, t_ms, t_ms, 1, opts);
        let val = ev.eval(&expr)?;
        let value = match val {
            Val::Scalar(v) => Value::Scalar { t: t_ms, v: v[0] },
            Val::Str(s) => Value::String { t: t_ms, v: s },
            Val::Vector(series) => {
                let mut out = Vec::with_capacity(series.len());
                for s in finish_names(series)? {
                    if let Some(p) = s.pts.first() {
                        out.push(InstantSample {
                            labels: s.labels,
                            t: t_ms,
                            v: p.v,
                        });
                    }
                }
                Value::Vector(out)
            }
            Val::Matrix(series) => {
                let mut out = Vec::new();
                for s in finish_names(series)? {
                    if !s.pts.is_empty() {
                        out.push(RangeSeries {
                            labels: s.labels,
                            samples: s.pts.iter().map(|p| Sample { t: p.t, v: p.v }).collect(),
                        });
                    }
                }
                out.sort_by(|a, b| a.labels.cmp(&b.labels));
                Value::Matrix(out)
            }
        };
        Ok(sh.into_inner().into_result(value))
    }

    /// Evaluates `query` at `start_ms, start_ms + step_ms, ... <= end_ms`.
    /// The result is always a matrix sorted by labels.
    pub fn range(
        &self,
        storage: &dyn Storage,
        query: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
        opts: &QueryOpts,
    ) -> Res<QueryResult> {
        let expr = parse(query)?;
        check_time("start time", start_ms)?;
        check_time("end time", end_ms)?;
        check_time("step", step_ms)?;
        if step_ms <= 0 {
            return Err(Error::Parse {
                message: "zero or negative query resolution step widths are not accepted".into(),
                position: None,
            });
        }
        if end_ms < start_ms {
            return Err(Error::Parse {
                message: "end timestamp must not be before start time".into(),
                position: None,
            });
        }
        let points = (end_ms - start_ms) / step_ms + 1;
        if points > MAX_RANGE_POINTS {
            return Err(Error::Parse {
                message: "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)".into(),
                position: None,
            });
        }
        let vt = expr.value_type();
        if !matches!(
            vt,
            promql_parser::parser::value::ValueType::Scalar | promql_parser::parser::value::ValueType::Vector
        ) {
            let name = match vt {
                promql_parser::parser::value::ValueType::Matrix => "range vector",
                _ => "string",
            };
            return exec_err(format!(
                "invalid expression type \"{name}\" for range query, must be Scalar or instant Vector"
            ));
        }
        let mut shared = Shared::new(query, start_ms, end_ms, opts);
        shared.is_range = true;
        shared.q_step = step_ms;
        let sh = RefCell::new(shared);
        let querier = open_querier(storage, &expr, start_ms, end_ms, opts)?;
        let ev = Ev::new(querier.as_deref(), &sh, start_ms, end_ms, step_ms, opts);
        let val = ev.eval(&expr)?;
        let mut out = Vec::new();
        match val {
            Val::Scalar(v) => out.push(RangeSeries {
                labels: Labels::new(),
                samples: v
                    .iter()
                    .enumerate()
                    .map(|(i, v)| Sample { t: ev.ts(i), v: *v })
                    .collect(),
            }),
            Val::Vector(series) => {
                for s in finish_names(series)? {
                    if !s.pts.is_empty() {
                        out.push(RangeSeries {
                            labels: s.labels,
                            samples: s.pts.iter().map(|p| Sample { t: p.t, v: p.v }).collect(),
                        });
                    }
                }
                out.sort_by(|a, b| a.labels.cmp(&b.labels));
            }
            _ => return exec_err("range query must return a scalar or an instant vector"),
        }
        Ok(sh.into_inner().into_result(Value::Matrix(out)))
    }
}

/// Opens one querier covering every sample the query can read, so the whole
/// evaluation sees one consistent view. `None` when nothing is selected.
fn open_querier<'s>(
    storage: &'s dyn Storage,
    expr: &Expr,
    start: i64,
    end: i64,
    opts: &QueryOpts,
) -> Res<Option<Box<dyn Querier + 's>>> {
    let lookback = if opts.lookback_delta_ms > 0 {
        opts.lookback_delta_ms
    } else {
        5 * 60 * 1000
    };
    let mut range: Option<(i64, i64)> = None;
    time_range(expr, (start, end), (start, end), lookback, &mut range);
    match range {
        Some((mint, maxt)) => Ok(Some(storage.querier(mint, maxt)?)),
        None => Ok(None),
    }
}

/// Widens `acc` by the sample times selectors under `e` read when `e` is
/// evaluated at reference times `[lo, hi]`; `query` is the query's own range
/// (for `@ start()` / `@ end()`).
fn time_range(
    e: &Expr,
    (lo, hi): (i64, i64),
    query: (i64, i64),
    lookback: i64,
    acc: &mut Option<(i64, i64)>,
) {
    let at_of = |at: &Option<AtModifier>| match at {
        None => None,
        Some(AtModifier::Start) => Some(query.0),
        Some(AtModifier::End) => Some(query.1),
        Some(AtModifier::At(t)) => Some(system_time_ms(t)),
    };
    let mut add = |a: i64, b: i64| {
        *acc = Some(match *acc {
            None => (a, b),
            Some((x, y)) => (x.min(a), y.max(b)),
        });
    };
    match e {
        Expr::VectorSelector(vs) => {
            let off = offset_ms(&vs.offset);
            let (a, b) = at_of(&vs.at).map_or((lo, hi), |t| (t, t));
            add(a - off - lookback, b - off);
        }
        Expr::MatrixSelector(ms) => {
            let off = offset_ms(&ms.vs.offset);
            let (a, b) = at_of(&ms.vs.at).map_or((lo, hi), |t| (t, t));
            add(a - off - ms.range.as_millis() as i64, b - off);
        }
        Expr::Subquery(sq) => {
            let off = offset_ms(&sq.offset);
            let (a, b) = at_of(&sq.at).map_or((lo, hi), |t| (t, t));
            let r = sq.range.as_millis() as i64;
            time_range(&sq.expr, (a - off - r, b - off), query, lookback, acc);
        }
        Expr::Paren(p) => time_range(&p.expr, (lo, hi), query, lookback, acc),
        Expr::Unary(u) => time_range(&u.expr, (lo, hi), query, lookback, acc),
        Expr::Binary(b) => {
            time_range(&b.lhs, (lo, hi), query, lookback, acc);
            time_range(&b.rhs, (lo, hi), query, lookback, acc);
        }
        Expr::Aggregate(a) => {
            time_range(&a.expr, (lo, hi), query, lookback, acc);
            if let Some(p) = &a.param {
                time_range(p, (lo, hi), query, lookback, acc);
            }
        }
        Expr::Call(c) => {
            for a in &c.args.args {
                time_range(a, (lo, hi), query, lookback, acc);
            }
        }
        Expr::Extension(_) => {
            if let Some(x) = crate::extended::ext_range(e) {
                let off = offset_ms(&x.ms.vs.offset);
                let (a, b) = at_of(&x.ms.vs.at).map_or((lo, hi), |t| (t, t));
                // Anchors look back from the range start, smoothing looks past the end.
                add(
                    a - off - x.ms.range.as_millis() as i64 - lookback,
                    b - off + lookback,
                );
            }
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => {}
    }
}

/// Largest magnitude (ms) of a timestamp, offset, range or step the engine
/// accepts (about 31,700 years); keeps all time arithmetic far from overflow.
pub const MAX_TIME_MS: i64 = 1_000_000_000_000_000;

fn check_time(what: &str, ms: i64) -> Res<()> {
    if ms.unsigned_abs() > MAX_TIME_MS as u64 {
        return Err(Error::Parse {
            message: format!("{what} out of range: {ms}ms"),
            position: None,
        });
    }
    Ok(())
}

fn duration_ms(d: &Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Rejects offsets, ranges, steps and `@` times beyond [`MAX_TIME_MS`].
fn check_times(e: &Expr) -> Res<()> {
    let off = |o: &Option<Offset>| match o {
        None => Ok(()),
        Some(Offset::Pos(d)) | Some(Offset::Neg(d)) => check_time("offset", duration_ms(d)),
    };
    let at = |a: &Option<AtModifier>| match a {
        Some(AtModifier::At(t)) => match t.duration_since(UNIX_EPOCH) {
            Ok(d) => check_time("@ timestamp", duration_ms(&d)),
            Err(e) => check_time("@ timestamp", duration_ms(&e.duration())),
        },
        _ => Ok(()),
    };
    match e {
        Expr::VectorSelector(vs) => {
            off(&vs.offset)?;
            at(&vs.at)
        }
        Expr::MatrixSelector(ms) => {
            off(&ms.vs.offset)?;
            at(&ms.vs.at)?;
            check_time("range", duration_ms(&ms.range))
        }
        Expr::Subquery(sq) => {
            off(&sq.offset)?;
            at(&sq.at)?;
            check_time("subquery range", duration_ms(&sq.range))?;
            if let Some(st) = &sq.step {
                check_time("subquery step", duration_ms(st))?;
            }
            check_times(&sq.expr)
        }
        Expr::Paren(p) => check_times(&p.expr),
        Expr::Unary(u) => check_times(&u.expr),
        Expr::Binary(b) => {
            check_times(&b.lhs)?;
            check_times(&b.rhs)
        }
        Expr::Aggregate(a) => {
            check_times(&a.expr)?;
            match &a.param {
                Some(p) => check_times(p),
                None => Ok(()),
            }
        }
        Expr::Call(c) => c.args.args.iter().try_for_each(|a| check_times(a)),
        Expr::Extension(_) => match crate::extended::ext_range(e) {
            Some(x) => check_times(&Expr::MatrixSelector(x.ms.clone())),
            None => Ok(()),
        },
        _ => Ok(()),
    }
}

/// Parses a query, mapping the parser's message to [`Error::Parse`], and
/// checks that its times are within [`MAX_TIME_MS`].
pub fn parse(query: &str) -> Res<Expr> {
    static EXTRA: std::sync::Once = std::sync::Once::new();
    EXTRA.call_once(|| {
        use promql_parser::parser::value::ValueType;
        // `holt_winters` is the pre-3.0 name of `double_exponential_smoothing`.
        let f = promql_parser::parser::Function::new(
            "holt_winters",
            vec![ValueType::Matrix, ValueType::Scalar, ValueType::Scalar],
            0,
            ValueType::Vector,
            false,
        );
        // Only fails if the parser learns the name itself, which is fine.
        let _ = promql_parser::parser::register_extra_functions(vec![f]);
    });
    let (text, kinds) = crate::extended::preprocess(query);
    let perr = |m: String| Error::Parse {
        message: m,
        position: None,
    };
    let mut expr = promql_parser::parser::parse(&text).map_err(perr)?;
    if kinds.iter().any(Option::is_some) {
        crate::extended::attach(&mut expr, &kinds, &mut 0).map_err(perr)?;
    }
    check_times(&expr)?;
    Ok(expr)
}

/// Removes `__name__` from flagged series and rejects duplicate label sets.
fn finish_names(mut series: Vec<Ser>) -> Res<Vec<Ser>> {
    let mut any = false;
    for s in series.iter_mut() {
        if s.drop_name {
            s.labels = without_name(&s.labels);
            s.drop_name = false;
            any = true;
        }
    }
    if any {
        let mut seen: HashMap<&Labels, Vec<i64>> = HashMap::new();
        for s in &series {
            if s.pts.is_empty() {
                continue;
            }
            if let Some(prev) = seen.get_mut(&s.labels) {
                // Two series may share labels only if they never share a step.
                let mut a = prev.iter().peekable();
                for p in &s.pts {
                    while a.peek().is_some_and(|t| **t < p.t) {
                        a.next();
                    }
                    if a.peek().is_some_and(|t| **t == p.t) {
                        return exec_err("vector cannot contain metrics with the same labelset");
                    }
                }
                prev.extend(s.pts.iter().map(|p| p.t));
                prev.sort_unstable();
            } else {
                seen.insert(&s.labels, s.pts.iter().map(|p| p.t).collect());
            }
        }
        // Merge series that ended up with equal labels at disjoint steps.
        let mut idx: HashMap<Labels, usize> = HashMap::new();
        let mut out: Vec<Ser> = Vec::with_capacity(series.len());
        for s in series {
            match idx.get(&s.labels) {
                Some(&i) => {
                    out[i].pts.extend(s.pts);
                    out[i].pts.sort_by_key(|p| p.t);
                }
                None => {
                    idx.insert(s.labels.clone(), out.len());
                    out.push(s);
                }
            }
        }
        return Ok(out);
    }
    Ok(series)
}

/// Labels that go with the metric name: when the name is dropped, so are the
/// type and unit labels (Prometheus 3's type-and-unit labels).
pub(crate) const NAME_LABELS: [&str; 3] = [METRIC_NAME, "__type__", "__unit__"];

/// `l` without the metric name (and the type and unit labels).
pub(crate) fn without_name(l: &Labels) -> Labels {
    if NAME_LABELS.iter().all(|n| l.get(n).is_none()) {
        return l.clone();
    }
    let mut b = l.builder();
    for n in NAME_LABELS {
        b.del(n);
    }
    b.build()
}

/// A point of a series (step timestamp or raw sample timestamp).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Pt {
    pub t: i64,
    pub v: f64,
}

/// A series during evaluation.
#[derive(Clone, Debug)]
pub(crate) struct Ser {
    pub labels: Labels,
    pub pts: Vec<Pt>,
    /// Remove `__name__` when the result is built.
    pub drop_name: bool,
}

/// An intermediate value.
pub(crate) enum Val {
    /// One value per step.
    Scalar(Vec<f64>),
    Str(String),
    /// Instant vector over the steps.
    Vector(Vec<Ser>),
    /// Range vector (raw samples), only at the top of an instant query.
    Matrix(Vec<Ser>),
}

impl Val {
    fn points(&self) -> usize {
        match self {
            Val::Scalar(v) => v.len(),
            Val::Str(_) => 1,
            Val::Vector(s) | Val::Matrix(s) => s.iter().map(|s| s.pts.len()).sum(),
        }
    }
}

/// State shared by an evaluation and its subqueries.
pub(crate) struct Shared {
    pub query: String,
    /// Start and end of the whole query (for `@ start()` / `@ end()`).
    pub q_start: i64,
    pub q_end: i64,
    pub warnings: Vec<String>,
    pub infos: Vec<String>,
    pub cur_samples: usize,
    pub max_samples: usize,
    pub deadline: Option<Instant>,
    /// Set for range queries (some functions warn).
    pub is_range: bool,
    /// Step of a range query (ms).
    pub q_step: i64,
    /// String literals decoded differently by Go, see [`invalid_utf8_literals`].
    pub bad_literals: Vec<(String, Result<String, String>)>,
}

impl Shared {
    fn new(query: &str, q_start: i64, q_end: i64, opts: &QueryOpts) -> Self {
        Self {
            query: query.to_string(),
            q_start,
            q_end,
            warnings: Vec::new(),
            infos: Vec::new(),
            cur_samples: 0,
            max_samples: opts.max_samples,
            deadline: opts.timeout.map(|d| Instant::now() + d),
            is_range: false,
            q_step: 0,
            bad_literals: invalid_utf8_literals(query),
        }
    }

    fn into_result(self, value: Value) -> QueryResult {
        QueryResult {
            value,
            warnings: self.warnings,
            infos: self.infos,
        }
    }

    /// `line:col` (1-based) of the first occurrence of `needle` at or after
    /// byte `from`, or of the query start.
    pub fn position(&self, needle: &str, from: usize) -> String {
        let from = from.min(self.query.len());
        let off = self
            .query
            .get(from..)
            .and_then(|rest| rest.find(needle))
            .map(|i| i + from)
            .unwrap_or(0);
        let before = &self.query[..off];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map(|s| s.chars().count()).unwrap_or(0) + 1;
        format!("{line}:{col}")
    }

    pub fn find(&self, needle: &str) -> usize {
        self.query.find(needle).unwrap_or(0)
    }
}

/// String literals of `query` whose byte escapes (`\xc3\xa9`, `\303`) the
/// parser decodes differently from Go: the parser maps each byte escape to a
/// code point, Go to a byte. Returns (the parser's decoding, Go's string) or,
/// when Go's bytes are not UTF-8, (the parser's decoding, Go's `%q` of the
/// bytes) — Prometheus rejects such strings as label names.
pub(crate) fn invalid_utf8_literals(query: &str) -> Vec<(String, Result<String, String>)> {
    let b = query.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let q = b[i];
        if q == b'#' {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if q == b'`' {
            i += 1;
            while i < b.len() && b[i] != b'`' {
                i += 1;
            }
            i += 1;
            continue;
        }
        if q != b'"' && q != b'\'' {
            i += 1;
            continue;
        }
        i += 1;
        let (mut bytes, mut decoded) = (Vec::new(), String::new());
        while i < b.len() && b[i] != q {
            if b[i] == b'\\' && i + 1 < b.len() {
                let e = b[i + 1];
                let hex = |s: &[u8]| {
                    std::str::from_utf8(s)
                        .ok()
                        .and_then(|h| u32::from_str_radix(h, 16).ok())
                };
                match e {
                    b'x' if i + 4 <= b.len() => {
                        if let Some(v) = hex(&b[i + 2..i + 4]) {
                            bytes.push(v as u8);
                            decoded.extend(char::from_u32(v));
                        }
                        i += 4;
                    }
                    b'0'..=b'7' if i + 4 <= b.len() => {
                        let v = std::str::from_utf8(&b[i + 1..i + 4])
                            .ok()
                            .and_then(|o| u32::from_str_radix(o, 8).ok());
                        if let Some(v) = v {
                            bytes.push(v as u8);
                            decoded.extend(char::from_u32(v));
                        }
                        i += 4;
                    }
                    b'u' | b'U' => {
                        let n = if e == b'u' { 4 } else { 8 };
                        let c = b.get(i + 2..i + 2 + n).and_then(hex).and_then(char::from_u32);
                        if let Some(c) = c {
                            let mut buf = [0u8; 4];
                            bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                            decoded.push(c);
                        }
                        i += 2 + n;
                    }
                    _ => {
                        let c = match e {
                            b'a' => 7,
                            b'b' => 8,
                            b'f' => 12,
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            b'v' => 11,
                            other => other,
                        };
                        bytes.push(c);
                        decoded.push(c as char);
                        i += 2;
                    }
                }
            } else {
                let start = i;
                i += 1;
                while i < b.len() && (b[i] & 0xC0) == 0x80 {
                    i += 1;
                }
                bytes.extend_from_slice(&b[start..i]);
                decoded.push_str(&query[start..i]);
            }
        }
        i += 1;
        match String::from_utf8(bytes) {
            Ok(go) if go != decoded => out.push((decoded, Ok(go))),
            Ok(_) => {}
            Err(e) => out.push((decoded, Err(go_quote_bytes(e.as_bytes())))),
        }
    }
    out
}

/// Go's `%q` of a byte string: invalid UTF-8 bytes as `\xHH`.
fn go_quote_bytes(bytes: &[u8]) -> String {
    let mut s = String::from("\"");
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => s.push_str("\\\""),
                '\\' => s.push_str("\\\\"),
                '\n' => s.push_str("\\n"),
                '\t' => s.push_str("\\t"),
                c if c.is_control() => s.push_str(&format!("\\x{:02x}", c as u32)),
                c => s.push(c),
            }
        }
        for b in chunk.invalid() {
            s.push_str(&format!("\\x{b:02x}"));
        }
    }
    s.push('"');
    s
}

/// Rejects label names Prometheus would reject: empty, or invalid UTF-8 in
/// the query text. Returns the name quoted like Go's `%q` on error.
pub(crate) fn check_label_name(ev: &Ev, name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("\"\"".into());
    }
    let sh = ev.sh.borrow();
    match sh.bad_literals.iter().find(|(d, _)| d == name) {
        Some((_, Err(quoted))) => Err(quoted.clone()),
        _ => Ok(()),
    }
}

impl Shared {
    /// A string literal as Go would have decoded it (see [`invalid_utf8_literals`]).
    pub fn go_string(&self, parsed: &str) -> String {
        match self.bad_literals.iter().find(|(d, _)| d == parsed) {
            Some((_, Ok(go))) => go.clone(),
            _ => parsed.to_string(),
        }
    }
}

/// One evaluation context: a time range and step.
pub(crate) struct Ev<'a> {
    /// One read view for the whole query (None when it selects nothing).
    pub q: Option<&'a dyn Querier>,
    pub sh: &'a RefCell<Shared>,
    pub start: i64,
    pub end: i64,
    pub step: i64,
    pub lookback: i64,
    pub sub_step: i64,
}

/// Converts a parser offset to signed milliseconds.
pub(crate) fn offset_ms(o: &Option<Offset>) -> i64 {
    match o {
        None => 0,
        Some(Offset::Pos(d)) => d.as_millis() as i64,
        Some(Offset::Neg(d)) => -(d.as_millis() as i64),
    }
}

fn system_time_ms(t: &SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    }
}

/// Go's `math.Max`: +Inf wins, then NaN.
pub(crate) fn go_max(a: f64, b: f64) -> f64 {
    if a == f64::INFINITY || b == f64::INFINITY {
        f64::INFINITY
    } else if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a > b {
        a
    } else {
        b
    }
}

/// Go's `math.Min`: -Inf wins, then NaN.
pub(crate) fn go_min(a: f64, b: f64) -> f64 {
    if a == f64::NEG_INFINITY || b == f64::NEG_INFINITY {
        f64::NEG_INFINITY
    } else if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a < b {
        a
    } else {
        b
    }
}

/// Per-series cursors that read an instant vector step by step.
pub(crate) struct Cursor {
    pos: Vec<usize>,
}

impl Cursor {
    pub fn new(n: usize) -> Self {
        Self { pos: vec![0; n] }
    }

    /// The value of series `i` at step timestamp `t` (steps must be read in order).
    #[inline]
    pub fn at(&mut self, series: &[Ser], i: usize, t: i64) -> Option<f64> {
        let pts = &series[i].pts;
        let p = &mut self.pos[i];
        while *p < pts.len() && pts[*p].t < t {
            *p += 1;
        }
        if *p < pts.len() && pts[*p].t == t {
            Some(pts[*p].v)
        } else {
            None
        }
    }
}

/// Collects output series keyed by labels.
#[derive(Default)]
pub(crate) struct Out {
    idx: HashMap<Labels, usize>,
    pub series: Vec<Ser>,
}

impl Out {
    pub fn push(&mut self, labels: Labels, drop_name: bool, t: i64, v: f64) -> Res<()> {
        let i = self.index(labels, drop_name);
        self.push_at(i, t, v)
    }

    /// The output series for `labels`, created if needed.
    pub fn index(&mut self, labels: Labels, drop_name: bool) -> usize {
        match self.idx.get(&labels) {
            Some(&i) => i,
            None => {
                let i = self.series.len();
                self.idx.insert(labels.clone(), i);
                self.series.push(Ser {
                    labels,
                    pts: Vec::new(),
                    drop_name,
                });
                i
            }
        }
    }

    /// Appends a point to output series `i` (from [`Out::index`]).
    pub fn push_at(&mut self, i: usize, t: i64, v: f64) -> Res<()> {
        let s = &mut self.series[i];
        if s.pts.last().is_some_and(|p| p.t == t) {
            return exec_err("vector cannot contain metrics with the same labelset");
        }
        s.pts.push(Pt { t, v });
        Ok(())
    }
}

/// Go's `labels.String()`: `{a="b", c="d"}` with every label, name included.
pub(crate) fn go_labels_string(l: &Labels) -> String {
    let mut s = String::from("{");
    for (i, p) in l.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(p.name);
        s.push('=');
        s.push_str(&format!("{:?}", p.value));
    }
    s.push('}');
    s
}

impl<'a> Ev<'a> {
    pub fn new(
        q: Option<&'a dyn Querier>,
        sh: &'a RefCell<Shared>,
        start: i64,
        end: i64,
        step: i64,
        opts: &QueryOpts,
    ) -> Self {
        Self {
            q,
            sh,
            start,
            end,
            step: step.max(1),
            lookback: if opts.lookback_delta_ms > 0 {
                opts.lookback_delta_ms
            } else {
                5 * 60 * 1000
            },
            sub_step: if opts.default_subquery_step_ms > 0 {
                opts.default_subquery_step_ms
            } else {
                60_000
            },
        }
    }

    fn child(&self, start: i64, end: i64, step: i64) -> Ev<'a> {
        Ev {
            q: self.q,
            sh: self.sh,
            start,
            end,
            step: step.max(1),
            lookback: self.lookback,
            sub_step: self.sub_step,
        }
    }

    /// Number of steps.
    pub fn n(&self) -> usize {
        ((self.end - self.start) / self.step) as usize + 1
    }

    /// Timestamp of step `i`.
    #[inline]
    pub fn ts(&self, i: usize) -> i64 {
        self.start + i as i64 * self.step
    }

    pub fn warn(&self, msg: String) {
        let mut sh = self.sh.borrow_mut();
        if !sh.warnings.contains(&msg) {
            sh.warnings.push(msg);
        }
    }

    pub fn info(&self, msg: String) {
        let mut sh = self.sh.borrow_mut();
        if !sh.infos.contains(&msg) {
            sh.infos.push(msg);
        }
    }

    pub fn check_deadline(&self) -> Res<()> {
        if let Some(d) = self.sh.borrow().deadline {
            if Instant::now() >= d {
                return Err(Error::Timeout("expression evaluation"));
            }
        }
        Ok(())
    }

    /// Accounts for `n` more samples held.
    pub fn add_samples(&self, n: usize) -> Res<()> {
        let mut sh = self.sh.borrow_mut();
        sh.cur_samples += n;
        if sh.max_samples > 0 && sh.cur_samples > sh.max_samples {
            return Err(Error::TooManySamples);
        }
        Ok(())
    }

    pub fn at_ms(&self, at: &Option<AtModifier>) -> Option<i64> {
        match at {
            None => None,
            Some(AtModifier::Start) => Some(self.sh.borrow().q_start),
            Some(AtModifier::End) => Some(self.sh.borrow().q_end),
            Some(AtModifier::At(t)) => Some(system_time_ms(t)),
        }
    }

    /// Evaluates a node; intermediate results of children are released
    /// (for sample accounting) once the node is done.
    pub fn eval(&self, e: &Expr) -> Res<Val> {
        self.check_deadline()?;
        let before = self.sh.borrow().cur_samples;
        let v = self.eval_inner(e)?;
        let pts = v.points();
        {
            let mut sh = self.sh.borrow_mut();
            sh.cur_samples = before;
        }
        self.add_samples(pts)?;
        Ok(v)
    }

    fn eval_inner(&self, e: &Expr) -> Res<Val> {
        match e {
            Expr::NumberLiteral(n) => Ok(Val::Scalar(vec![n.val; self.n()])),
            Expr::StringLiteral(s) => Ok(Val::Str(self.sh.borrow().go_string(&s.val))),
            Expr::Paren(p) => self.eval(&p.expr),
            Expr::Unary(u) => match self.eval(&u.expr)? {
                Val::Scalar(v) => Ok(Val::Scalar(v.into_iter().map(|x| -x).collect())),
                Val::Vector(mut ss) => {
                    for s in ss.iter_mut() {
                        s.drop_name = true;
                        for p in s.pts.iter_mut() {
                            p.v = -p.v;
                        }
                    }
                    Ok(Val::Vector(ss))
                }
                _ => exec_err("unary expression only allowed on expressions of type scalar or vector"),
            },
            Expr::VectorSelector(vs) => Ok(Val::Vector(self.eval_vector_selector(vs, false)?)),
            Expr::MatrixSelector(ms) => {
                // Only valid at the top of an instant query: the raw window at the start.
                let mut out = Vec::new();
                let range = ms.range.as_millis() as i64;
                let ref_t = self.at_ms(&ms.vs.at).unwrap_or(self.start) - offset_ms(&ms.vs.offset);
                self.for_each_selected(&ms.vs, ref_t - range + 1, ref_t, |labels, samples| {
                    let pts: Vec<Pt> = samples
                        .into_iter()
                        .filter(|s| s.t > ref_t - range && s.t <= ref_t && !is_stale_nan(s.v))
                        .map(|s| Pt { t: s.t, v: s.v })
                        .collect();
                    if !pts.is_empty() {
                        out.push(Ser {
                            labels,
                            pts,
                            drop_name: false,
                        });
                    }
                    Ok(())
                })?;
                Ok(Val::Matrix(out))
            }
            Expr::Subquery(sq) => {
                let mut out = Vec::new();
                let ref_t = self.at_ms(&sq.at).unwrap_or(self.start) - offset_ms(&sq.offset);
                let range = sq.range.as_millis() as i64;
                let inner = self.eval_subquery_inner(sq, ref_t, ref_t)?;
                for s in inner {
                    let pts: Vec<Pt> = s
                        .pts
                        .into_iter()
                        .filter(|p| p.t > ref_t - range && p.t <= ref_t)
                        .collect();
                    if !pts.is_empty() {
                        out.push(Ser {
                            labels: s.labels,
                            pts,
                            drop_name: s.drop_name,
                        });
                    }
                }
                Ok(Val::Matrix(out))
            }
            Expr::Aggregate(a) => self.eval_aggregate(a),
            Expr::Binary(b) => self.eval_binary(b),
            Expr::Call(c) => functions::eval_call(self, c),
            Expr::Extension(_) => {
                exec_err("anchored and smoothed range selectors are only supported as function arguments")
            }
        }
    }

    /// Reference timestamps (selector time minus offset) of every step.
    fn window_refs(&self, at: &Option<AtModifier>, offset: &Option<Offset>) -> Vec<i64> {
        let off = offset_ms(offset);
        let at = self.at_ms(at);
        (0..self.n()).map(|i| at.unwrap_or(self.ts(i)) - off).collect()
    }

    /// Converts a selector's matchers (plus its name) to model matchers.
    /// Several sets when the selector uses `or`.
    pub fn matcher_sets(&self, vs: &VectorSelector) -> Res<Vec<Vec<Matcher>>> {
        let conv = |ms: &[promql_parser::label::Matcher]| -> Res<Vec<Matcher>> {
            let mut out = Vec::with_capacity(ms.len() + 1);
            if let Some(name) = &vs.name {
                out.push(Matcher::equal(METRIC_NAME, name.clone()));
            }
            for m in ms {
                let op = match m.op {
                    PMatchOp::Equal => MatchOp::Equal,
                    PMatchOp::NotEqual => MatchOp::NotEqual,
                    PMatchOp::Re(_) => MatchOp::Regex,
                    PMatchOp::NotRe(_) => MatchOp::NotRegex,
                };
                let value = self.sh.borrow().go_string(&m.value);
                out.push(Matcher::new(op, m.name.clone(), value).map_err(|e| Error::Parse {
                    message: e.to_string(),
                    position: None,
                })?);
            }
            // Every alternative must select something specific (the storage contract).
            if out.iter().all(|m| m.matches_empty()) {
                return Err(Error::Parse {
                    message: "vector selector must contain at least one non-empty matcher".into(),
                    position: None,
                });
            }
            Ok(out)
        };
        if vs.matchers.or_matchers.is_empty() {
            Ok(vec![conv(&vs.matchers.matchers)?])
        } else {
            let mut sets = Vec::new();
            for g in &vs.matchers.or_matchers {
                sets.push(conv(g)?);
            }
            if !vs.matchers.matchers.is_empty() {
                sets.push(conv(&vs.matchers.matchers)?);
            }
            Ok(sets)
        }
    }

    /// Selects series for `vs` with samples in `[mint, maxt]`, calling `f`
    /// with each series' labels and samples (sorted by labels, deduplicated
    /// across `or` matcher sets).
    pub fn for_each_selected(
        &self,
        vs: &VectorSelector,
        mint: i64,
        maxt: i64,
        f: impl FnMut(Labels, Vec<Sample>) -> Res<()>,
    ) -> Res<()> {
        let sets = self.matcher_sets(vs)?;
        self.select_sets(&sets, mint, maxt, f)
    }

    /// Like [`Ev::for_each_selected`] for explicit matcher sets (their union).
    pub fn select_sets(
        &self,
        sets: &[Vec<Matcher>],
        mint: i64,
        maxt: i64,
        mut f: impl FnMut(Labels, Vec<Sample>) -> Res<()>,
    ) -> Res<()> {
        let Some(q) = self.q else {
            return Ok(());
        };
        let hints = SelectHints {
            start: mint,
            end: maxt,
            deadline: self.sh.borrow().deadline,
            ..Default::default()
        };
        if sets.len() == 1 {
            for s in q.select(&sets[0], &hints)? {
                self.check_deadline()?;
                let mut s = s?;
                let mut samples = Vec::new();
                let mut cur = s.samples.seek(mint);
                while let Some(x) = cur {
                    if x.t > maxt {
                        break;
                    }
                    samples.push(x);
                    cur = s.samples.next();
                }
                if let Some(e) = s.samples.error() {
                    return Err(Error::Storage(sightline_model::StorageError::Other(
                        e.to_string(),
                    )));
                }
                self.add_samples(samples.len())?;
                f(s.labels, samples)?;
            }
            return Ok(());
        }
        let mut all: std::collections::BTreeMap<Labels, Vec<Sample>> = Default::default();
        for set in sets {
            for s in q.select(set, &hints)? {
                let mut s = s?;
                if all.contains_key(&s.labels) {
                    continue;
                }
                let mut samples = Vec::new();
                let mut cur = s.samples.seek(mint);
                while let Some(x) = cur {
                    if x.t > maxt {
                        break;
                    }
                    samples.push(x);
                    cur = s.samples.next();
                }
                self.add_samples(samples.len())?;
                all.insert(s.labels, samples);
            }
        }
        for (l, s) in all {
            f(l, s)?;
        }
        Ok(())
    }

    /// Evaluates a vector selector over all steps. With `keep_ts` the value
    /// is the selected sample's timestamp in seconds (for `timestamp()`).
    pub fn eval_vector_selector(&self, vs: &VectorSelector, keep_ts: bool) -> Res<Vec<Ser>> {
        let refs = self.window_refs(&vs.at, &vs.offset);
        let lb = self.lookback;
        let (mint, maxt) = (
            refs.iter().copied().min().unwrap_or(0) - lb + 1,
            refs.iter().copied().max().unwrap_or(0),
        );
        let mut out = Vec::new();
        self.for_each_selected(vs, mint, maxt, |labels, samples| {
            let mut pts = Vec::new();
            let mut j = 0usize; // samples[..j] have t <= current ref
            for (i, &r) in refs.iter().enumerate() {
                if r < samples.get(j.saturating_sub(1)).map_or(i64::MIN, |s| s.t) {
                    // Refs only go backwards with @ (constant) so this is rare: restart.
                    j = samples.partition_point(|s| s.t <= r);
                }
                while j < samples.len() && samples[j].t <= r {
                    j += 1;
                }
                if j == 0 {
                    continue;
                }
                let s = samples[j - 1];
                if s.t > r - lb && !is_stale_nan(s.v) {
                    let v = if keep_ts { s.t as f64 / 1000.0 } else { s.v };
                    pts.push(Pt { t: self.ts(i), v });
                }
            }
            if !pts.is_empty() {
                out.push(Ser {
                    labels,
                    pts,
                    drop_name: false,
                });
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Evaluates the inner expression of a subquery for windows ending
    /// between `first_ref` and `last_ref`, at the subquery's step aligned to
    /// multiples of the step.
    pub fn eval_subquery_inner(&self, sq: &SubqueryExpr, first_ref: i64, last_ref: i64) -> Res<Vec<Ser>> {
        let range = sq.range.as_millis() as i64;
        let step = match &sq.step {
            Some(d) if !d.is_zero() => d.as_millis() as i64,
            _ => self.sub_step,
        };
        let lo = first_ref - range;
        // First multiple of step that is >= lo.
        let mut start = lo.div_euclid(step) * step;
        if start < lo {
            start += step;
        }
        if start > last_ref {
            return Ok(Vec::new());
        }
        let steps = (last_ref - start) / step + 1;
        let max = self.sh.borrow().max_samples as i64;
        if steps > MAX_SUBQUERY_STEPS || (max > 0 && steps > max) {
            return Err(Error::TooManySamples);
        }
        let child = self.child(start, last_ref, step);
        match child.eval(&sq.expr)? {
            Val::Vector(v) => Ok(v),
            Val::Scalar(v) => Ok(vec![Ser {
                labels: Labels::new(),
                pts: v
                    .iter()
                    .enumerate()
                    .map(|(i, x)| Pt {
                        t: child.ts(i),
                        v: *x,
                    })
                    .collect(),
                drop_name: false,
            }]),
            _ => exec_err("subquery is only allowed on instant vector or scalar expressions"),
        }
    }

    /// Calls `f(series_index_in_output, step, window)` for every step and every
    /// series of a range-vector argument (matrix selector or subquery), one
    /// series at a time. Returns the labels of each series (in call order)
    /// and the `(range_start, range_end]` bounds per step.
    pub fn for_each_window(
        &self,
        arg: &Expr,
        mut f: impl FnMut(&SeriesInfo, usize, &Window) -> Res<()>,
    ) -> Res<()> {
        let arg = unwrap_parens(arg);
        match arg {
            Expr::MatrixSelector(ms) => {
                let range = ms.range.as_millis() as i64;
                let refs = self.window_refs(&ms.vs.at, &ms.vs.offset);
                let mint = refs.iter().copied().min().unwrap_or(0) - range + 1;
                let maxt = refs.iter().copied().max().unwrap_or(0);
                let mut idx = 0usize;
                self.for_each_selected(&ms.vs, mint, maxt, |labels, samples| {
                    let info = SeriesInfo {
                        labels,
                        drop_name: false,
                        index: idx,
                    };
                    idx += 1;
                    let pts: Vec<Pt> = samples
                        .iter()
                        .filter(|s| !is_stale_nan(s.v))
                        .map(|s| Pt { t: s.t, v: s.v })
                        .collect();
                    self.slide(&info, &pts, &refs, range, &mut f)
                })
            }
            Expr::Subquery(sq) => {
                let range = sq.range.as_millis() as i64;
                let refs = self.window_refs(&sq.at, &sq.offset);
                let first = refs.iter().copied().min().unwrap_or(0);
                let last = refs.iter().copied().max().unwrap_or(0);
                let inner = self.eval_subquery_inner(sq, first, last)?;
                for (idx, s) in inner.into_iter().enumerate() {
                    let info = SeriesInfo {
                        labels: s.labels,
                        drop_name: s.drop_name,
                        index: idx,
                    };
                    self.slide(&info, &s.pts, &refs, range, &mut f)?;
                }
                Ok(())
            }
            Expr::Extension(_) => match crate::extended::ext_range(arg) {
                Some(x) => self.extended_windows(x, &mut f),
                None => exec_err("unsupported extension expression"),
            },
            _ => exec_err(format!("expected a range vector argument, got {arg}")),
        }
    }

    /// Windows of an `anchored` or `smoothed` range selector.
    fn extended_windows(
        &self,
        x: &crate::extended::ExtRange,
        f: &mut impl FnMut(&SeriesInfo, usize, &Window) -> Res<()>,
    ) -> Res<()> {
        use crate::extended::Kind;
        let range = x.ms.range.as_millis() as i64;
        let refs = self.window_refs(&x.ms.vs.at, &x.ms.vs.offset);
        let lb = self.lookback;
        let mint = refs.iter().copied().min().unwrap_or(0) - range - lb + 1;
        let maxt = refs.iter().copied().max().unwrap_or(0) + if x.kind == Kind::Smoothed { lb } else { 0 };
        let mut idx = 0usize;
        let mut buf: Vec<Pt> = Vec::new();
        self.for_each_selected(&x.ms.vs, mint, maxt, |labels, samples| {
            let info = SeriesInfo {
                labels,
                drop_name: false,
                index: idx,
            };
            idx += 1;
            let pts: Vec<Pt> = samples
                .iter()
                .filter(|s| !is_stale_nan(s.v))
                .map(|s| Pt { t: s.t, v: s.v })
                .collect();
            for (i, &r) in refs.iter().enumerate() {
                let from = r - range;
                let a = pts.partition_point(|p| p.t <= from);
                let b = pts.partition_point(|p| p.t <= r);
                buf.clear();
                match x.kind {
                    // No sample inside the range: no result.
                    Kind::Anchored if a < b => {
                        if a > 0 && pts[a - 1].t > from - lb {
                            buf.push(Pt {
                                t: from,
                                v: pts[a - 1].v,
                            });
                        }
                        buf.extend_from_slice(&pts[a..b]);
                    }
                    Kind::Anchored => {}
                    // Data only before or only after the range: no result.
                    Kind::Smoothed
                        if b == 0
                            || pts[b - 1].t <= r - lb
                            || a == pts.len() && pts[a - 1].t < from
                            || pts
                                .get(a.saturating_sub(1)..)
                                .is_some_and(|rest| rest.iter().all(|p| p.t < from || p.t >= r + lb)) => {}
                    Kind::Smoothed => {
                        let counter = x.counter;
                        let at = |t: i64, k: usize| -> Option<f64> {
                            // k = number of points with p.t <= t.
                            let prev = k.checked_sub(1).map(|j| pts[j]).filter(|p| p.t > t - lb);
                            let next = pts.get(k).copied().filter(|p| p.t < t + lb);
                            match (prev, next) {
                                (Some(p), _) if p.t == t => Some(p.v),
                                (Some(p), Some(n)) => {
                                    let frac = (t - p.t) as f64 / (n.t - p.t) as f64;
                                    if counter && n.v < p.v {
                                        // A counter reset between them: it restarted from zero.
                                        Some(n.v * frac)
                                    } else {
                                        Some(p.v + (n.v - p.v) * frac)
                                    }
                                }
                                (Some(p), None) => Some(p.v),
                                (None, Some(n)) => Some(n.v),
                                (None, None) => None,
                            }
                        };
                        if let Some(v) = at(from, a) {
                            buf.push(Pt { t: from, v });
                        }
                        buf.extend(pts[a..b].iter().filter(|p| p.t < r));
                        if let Some(v) = at(r, b) {
                            buf.push(Pt { t: r, v });
                        }
                    }
                }
                let w = Window {
                    pts: &buf,
                    range_start: from,
                    range_end: r,
                    range_ms: range,
                    ts: self.ts(i),
                    exact: true,
                };
                f(&info, i, &w)?;
            }
            Ok(())
        })
    }

    fn slide(
        &self,
        info: &SeriesInfo,
        pts: &[Pt],
        refs: &[i64],
        range: i64,
        f: &mut impl FnMut(&SeriesInfo, usize, &Window) -> Res<()>,
    ) -> Res<()> {
        let (mut lo, mut hi) = (0usize, 0usize);
        for (i, &r) in refs.iter().enumerate() {
            let from = r - range;
            // Reference times never decrease (they follow the steps, or are
            // constant with `@`); restart the search if they ever did.
            if (hi > 0 && pts[hi - 1].t > r) || (lo > 0 && pts[lo - 1].t > from) {
                lo = pts.partition_point(|p| p.t <= from);
                hi = lo;
            }
            while lo < pts.len() && pts[lo].t <= from {
                lo += 1;
            }
            if hi < lo {
                hi = lo;
            }
            while hi < pts.len() && pts[hi].t <= r {
                hi += 1;
            }
            let w = Window {
                pts: &pts[lo..hi],
                range_start: from,
                range_end: r,
                range_ms: range,
                ts: self.ts(i),
                exact: false,
            };
            f(info, i, &w)?;
        }
        Ok(())
    }

    // ---------------------------------------------------------------- aggregation

    fn eval_aggregate(&self, a: &AggregateExpr) -> Res<Val> {
        crate::aggregate::eval(self, a)
    }

    // ---------------------------------------------------------------- binary operators

    fn eval_binary(&self, b: &BinaryExpr) -> Res<Val> {
        let op = b.op.id();
        let return_bool = b.return_bool();
        let lhs = self.eval(&b.lhs)?;
        let rhs = self.eval(&b.rhs)?;
        match (lhs, rhs) {
            (Val::Scalar(l), Val::Scalar(r)) => {
                let mut out = Vec::with_capacity(l.len());
                for (a, c) in l.iter().zip(r.iter()) {
                    let (v, keep) = scalar_op(op, *a, *c)?;
                    out.push(if op_is_comparison(op) {
                        if keep {
                            1.0
                        } else {
                            0.0
                        }
                    } else {
                        v
                    });
                }
                Ok(Val::Scalar(out))
            }
            (Val::Vector(l), Val::Scalar(r)) => {
                Ok(Val::Vector(self.vector_scalar(op, l, &r, false, return_bool)?))
            }
            (Val::Scalar(l), Val::Vector(r)) => {
                Ok(Val::Vector(self.vector_scalar(op, r, &l, true, return_bool)?))
            }
            (Val::Vector(l), Val::Vector(r)) => Ok(Val::Vector(self.vector_vector(b, op, l, r)?)),
            _ => exec_err("binary expression must contain only scalar and instant vector types"),
        }
    }

    fn vector_scalar(
        &self,
        op: TokenId,
        vec: Vec<Ser>,
        sc: &[f64],
        swap: bool,
        return_bool: bool,
    ) -> Res<Vec<Ser>> {
        let cmp = op_is_comparison(op);
        let mut out = Vec::with_capacity(vec.len());
        for mut s in vec {
            let mut pts = Vec::with_capacity(s.pts.len());
            for p in &s.pts {
                let si = ((p.t - self.start) / self.step) as usize;
                let c = sc[si.min(sc.len() - 1)];
                let (l, r) = if swap { (c, p.v) } else { (p.v, c) };
                let (mut v, mut keep) = scalar_op(op, l, r)?;
                if cmp && swap {
                    v = r;
                }
                if return_bool {
                    v = if keep { 1.0 } else { 0.0 };
                    keep = true;
                }
                if keep {
                    pts.push(Pt { t: p.t, v });
                }
            }
            if !cmp || return_bool {
                s.drop_name = true;
            }
            if !pts.is_empty() {
                s.pts = pts;
                out.push(s);
            }
        }
        Ok(out)
    }

    fn vector_vector(&self, b: &BinaryExpr, op: TokenId, lhs: Vec<Ser>, rhs: Vec<Ser>) -> Res<Vec<Ser>> {
        let modifier = b.modifier.as_ref();
        let card = modifier
            .map(|m| m.card.clone())
            .unwrap_or(VectorMatchCardinality::OneToOne);
        let matching = modifier.and_then(|m| m.matching.clone());
        let return_bool = b.return_bool();
        let (on, match_names): (bool, Vec<String>) = match &matching {
            Some(LabelModifier::Include(l)) => (true, l.labels.clone()),
            Some(LabelModifier::Exclude(l)) => (false, l.labels.clone()),
            None => (false, Vec::new()),
        };
        let sig_of = |l: &Labels| -> Labels { match_labels(l, on, &match_names) };
        let mut sig_ids: HashMap<Labels, u32> = HashMap::new();
        let mut intern = |l: Labels| -> u32 {
            let n = sig_ids.len() as u32;
            *sig_ids.entry(l).or_insert(n)
        };
        let lsig: Vec<u32> = lhs.iter().map(|s| intern(sig_of(&s.labels))).collect();
        let rsig: Vec<u32> = rhs.iter().map(|s| intern(sig_of(&s.labels))).collect();
        let nsig = sig_ids.len();
        let n = self.n();
        let (mut lc, mut rc) = (Cursor::new(lhs.len()), Cursor::new(rhs.len()));

        if matches!(op, T_LAND | T_LOR | T_LUNLESS) {
            // Set operators keep series identity; build per-series outputs.
            let mut lout: Vec<Vec<Pt>> = vec![Vec::new(); lhs.len()];
            let mut rout: Vec<Vec<Pt>> = vec![Vec::new(); rhs.len()];
            let mut present = vec![u32::MAX; nsig];
            for i in 0..n {
                let t = self.ts(i);
                let stamp = i as u32;
                match op {
                    T_LAND | T_LUNLESS => {
                        for j in 0..rhs.len() {
                            if rc.at(&rhs, j, t).is_some() {
                                present[rsig[j] as usize] = stamp;
                            }
                        }
                        for j in 0..lhs.len() {
                            if let Some(v) = lc.at(&lhs, j, t) {
                                let hit = present[lsig[j] as usize] == stamp;
                                if hit == (op == T_LAND) {
                                    lout[j].push(Pt { t, v });
                                }
                            }
                        }
                    }
                    _ => {
                        for j in 0..lhs.len() {
                            if let Some(v) = lc.at(&lhs, j, t) {
                                present[lsig[j] as usize] = stamp;
                                lout[j].push(Pt { t, v });
                            }
                        }
                        for j in 0..rhs.len() {
                            if let Some(v) = rc.at(&rhs, j, t) {
                                if present[rsig[j] as usize] != stamp {
                                    rout[j].push(Pt { t, v });
                                }
                            }
                        }
                    }
                }
            }
            let mut out = Vec::new();
            for (s, pts) in lhs.into_iter().zip(lout).chain(rhs.into_iter().zip(rout)) {
                if !pts.is_empty() {
                    out.push(Ser {
                        labels: s.labels,
                        pts,
                        drop_name: s.drop_name,
                    });
                }
            }
            return Ok(out);
        }

        let one_to_many = matches!(card, VectorMatchCardinality::OneToMany(_));
        let include: Vec<String> = match &card {
            VectorMatchCardinality::ManyToOne(l) | VectorMatchCardinality::OneToMany(l) => l.labels.clone(),
            _ => Vec::new(),
        };
        let one_to_one = matches!(card, VectorMatchCardinality::OneToOne);
        let (ls, rs, lsg, rsg) = if one_to_many {
            (&rhs, &lhs, &rsig, &lsig)
        } else {
            (&lhs, &rhs, &lsig, &rsig)
        };
        let (mut lcur, mut rcur) = if one_to_many { (rc, lc) } else { (lc, rc) };
        let drop_by_op = op_drops_name(op);
        let mut out = Out::default();
        // Output series per (lhs series, rhs series) pair are cached.
        let mut metric_cache: HashMap<(usize, usize), usize> = HashMap::new();
        let mut right_at = vec![(u32::MAX, 0usize, 0.0f64); nsig];
        let mut matched = vec![u32::MAX; nsig];
        let mut right_matched = vec![u32::MAX; nsig];
        // Fill values (experimental `fill`, `fill_left`, `fill_right`), applied
        // after the sides are swapped for `group_right`.
        let fills = modifier.map(|m| m.fill_values.clone()).unwrap_or_default();
        let (fill_ls, fill_rs) = (fills.lhs, fills.rhs);
        for i in 0..n {
            self.check_deadline()?;
            let t = self.ts(i);
            let stamp = i as u32;
            for j in 0..rs.len() {
                if let Some(v) = rcur.at(rs, j, t) {
                    let sg = rsg[j] as usize;
                    if right_at[sg].0 == stamp {
                        let prev = right_at[sg].1;
                        let side = if one_to_many { "left" } else { "right" };
                        let group = match_labels(&rs[j].labels, on, &match_names);
                        return exec_err(format!(
                            "found duplicate series for the match group {} on the {side} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                            go_labels_string(&group),
                            go_labels_string(&rs[prev].labels),
                            go_labels_string(&rs[j].labels)
                        ));
                    }
                    right_at[sg] = (stamp, j, v);
                }
            }
            let mut inserted: HashMap<usize, ()> = HashMap::new();
            for j in 0..ls.len() {
                let Some(lv) = lcur.at(ls, j, t) else { continue };
                let sg = lsg[j] as usize;
                let (rj, rv) = if right_at[sg].0 == stamp {
                    if one_to_one {
                        if matched[sg] == stamp {
                            return exec_err(
                                "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
                            );
                        }
                        matched[sg] = stamp;
                    }
                    right_matched[sg] = stamp;
                    (Some(right_at[sg].1), right_at[sg].2)
                } else if let Some(f) = fill_rs {
                    (None, f)
                } else {
                    continue;
                };
                let (fl, fr) = if one_to_many { (rv, lv) } else { (lv, rv) };
                let (mut v, mut keep) = scalar_op(op, fl, fr)?;
                if return_bool {
                    v = if keep { 1.0 } else { 0.0 };
                    keep = true;
                }
                if !keep {
                    continue;
                }
                let drop = drop_by_op || return_bool || ls[j].drop_name;
                let oi = match rj {
                    Some(rj) => *metric_cache.entry((j, rj)).or_insert_with(|| {
                        let m = result_metric(
                            &ls[j].labels,
                            &rs[rj].labels,
                            one_to_one,
                            on,
                            &match_names,
                            &include,
                        );
                        out.index(m, drop)
                    }),
                    None => {
                        let m = result_metric(
                            &ls[j].labels,
                            &Labels::new(),
                            one_to_one,
                            on,
                            &match_names,
                            &include,
                        );
                        out.index(m, drop)
                    }
                };
                if !one_to_one && inserted.insert(oi, ()).is_some() {
                    return exec_err(
                        "multiple matches for labels: grouping labels must ensure unique matches",
                    );
                }
                out.push_at(oi, t, v)?;
            }
            // `fill` for the other side: "one"-side samples nothing matched.
            if let Some(f) = fill_ls {
                for (sg, &(st, rj, rv)) in right_at.iter().enumerate() {
                    if st != stamp || right_matched[sg] == stamp {
                        continue;
                    }
                    let (fl, fr) = if one_to_many { (rv, f) } else { (f, rv) };
                    let (mut v, mut keep) = scalar_op(op, fl, fr)?;
                    if return_bool {
                        v = if keep { 1.0 } else { 0.0 };
                        keep = true;
                    }
                    if !keep {
                        continue;
                    }
                    let metric = match_labels(&rs[rj].labels, on, &match_names);
                    out.push(metric, drop_by_op || return_bool, t, v)?;
                }
            }
        }
        Ok(out.series)
    }
}

/// Info about one series passed to range functions.
pub(crate) struct SeriesInfo {
    pub labels: Labels,
    pub drop_name: bool,
    pub index: usize,
}

/// One window of a range-vector argument: samples in `(range_start, range_end]`.
pub(crate) struct Window<'p> {
    pub pts: &'p [Pt],
    pub range_start: i64,
    pub range_end: i64,
    pub range_ms: i64,
    /// The step's evaluation timestamp.
    pub ts: i64,
    /// The window's ends are real values (`anchored`/`smoothed`): no extrapolation.
    pub exact: bool,
}

pub(crate) fn unwrap_parens(e: &Expr) -> &Expr {
    match e {
        Expr::Paren(p) => unwrap_parens(&p.expr),
        e => e,
    }
}

/// The labels that decide matching: only `names` with `on`, else all but
/// `names` and the metric name.
pub(crate) fn match_labels(l: &Labels, on: bool, names: &[String]) -> Labels {
    let mut b = l.builder();
    if on {
        b.retain(|n, _| names.iter().any(|x| x == n));
    } else {
        b.retain(|n, _| n != METRIC_NAME && !names.iter().any(|x| x == n));
    }
    b.build()
}

fn result_metric(
    l: &Labels,
    r: &Labels,
    one_to_one: bool,
    on: bool,
    names: &[String],
    include: &[String],
) -> Labels {
    let mut b = l.builder();
    if one_to_one {
        if on {
            b.retain(|n, _| names.iter().any(|x| x == n));
        } else {
            b.retain(|n, _| !names.iter().any(|x| x == n));
        }
    }
    for name in include {
        match r.get(name) {
            Some(v) => {
                b.set(name.clone(), v.to_string());
            }
            None => {
                b.del(name);
            }
        }
    }
    b.build()
}

fn op_is_comparison(op: TokenId) -> bool {
    matches!(op, T_EQLC | T_NEQ | T_GTR | T_LSS | T_GTE | T_LTE)
}

fn op_drops_name(op: TokenId) -> bool {
    matches!(op, T_ADD | T_SUB | T_MUL | T_DIV | T_MOD | T_POW | T_ATAN2)
}

/// Applies a binary operator to two floats: (value, keep).
pub(crate) fn scalar_op(op: TokenId, l: f64, r: f64) -> Res<(f64, bool)> {
    Ok(match op {
        T_ADD => (l + r, true),
        T_SUB => (l - r, true),
        T_MUL => (l * r, true),
        T_DIV => (l / r, true),
        T_MOD => (l % r, true),
        T_POW => (l.powf(r), true),
        T_ATAN2 => (l.atan2(r), true),
        T_EQLC => (l, l == r),
        T_NEQ => (l, l != r),
        T_GTR => (l, l > r),
        T_LSS => (l, l < r),
        T_GTE => (l, l >= r),
        T_LTE => (l, l <= r),
        _ => return exec_err(format!("operator \"{}\" not allowed here", TokenType::new(op))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_escapes_are_decoded_like_go() {
        let lits = invalid_utf8_literals(r#"f("a\xc5z", 'x', "\xc3\xa9", `\xff`, "plain") # "\xff""#);
        assert_eq!(
            lits,
            vec![
                ("a\u{c5}z".to_string(), Err("\"a\\xc5z\"".to_string())),
                ("\u{c3}\u{a9}".to_string(), Ok("é".to_string())),
            ]
        );
        assert_eq!(go_quote_bytes(b"q\"\\\n\xff"), "\"q\\\"\\\\\\n\\xff\"");
    }

    #[test]
    fn go_min_max_propagate_nan_and_infinities() {
        assert!(go_max(f64::NAN, 1.0).is_nan());
        assert_eq!(go_max(f64::NAN, f64::INFINITY), f64::INFINITY);
        assert_eq!(go_min(f64::NAN, f64::NEG_INFINITY), f64::NEG_INFINITY);
        assert_eq!(go_min(2.0, 1.0), 1.0);
    }
}
