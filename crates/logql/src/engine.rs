//! Query evaluation over the log store.
//!
//! Log queries stream records from [`LogStore::select`] in the requested
//! direction over `[start, end)`, run the pipeline and stop after `limit`
//! accepted entries (so a backward query returns the newest entries).
//!
//! Metric queries read every record once for the whole query range
//! (`(first_step - range - offset, last_step - offset]`), turn each accepted
//! line into a sample of its final label set, and then evaluate each step's
//! window `(t - range - offset, t - offset]` by binary search. Operators above
//! range aggregations work step by step on instant vectors, with PromQL's
//! matching rules.

use crate::ast::*;
use crate::parser::{parse_bytes, parse_duration, ParseError};
use crate::pipeline::{self, LineLabels, ERROR_LABEL, ERR_SAMPLE};
use crate::value::{Sample, Series, Stream, Streams, Value};
use sightline_logstore::{Direction, LogStore, LogStoreError, SelectRequest};
use sightline_model::{Labels, MatchOp, StorageErrorKind};
use std::collections::HashMap;

/// Errors of query evaluation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Parse(#[from] ParseError),
    /// The query is valid LogQL but cannot run as asked (400).
    #[error("{0}")]
    BadQuery(String),
    /// A pipeline error reached a metric result (400).
    #[error("{0}")]
    Pipeline(String),
    /// A query limit was hit (400).
    #[error("{0}")]
    Limit(String),
    /// The query ran longer than [`EngineOptions::timeout`] (Loki answers 504).
    #[error("query timed out after {0:?}")]
    Timeout(std::time::Duration),
    #[error(transparent)]
    Store(#[from] LogStoreError),
}

impl Error {
    pub fn kind(&self) -> StorageErrorKind {
        match self {
            Error::Parse(_) | Error::BadQuery(_) | Error::Pipeline(_) => StorageErrorKind::BadInput,
            Error::Limit(_) => StorageErrorKind::Limit,
            Error::Timeout(_) => StorageErrorKind::Retryable,
            Error::Store(e) => e.kind(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Query limits (Loki's defaults).
#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// Series in a metric query result or any intermediate range aggregation
    /// (`max_query_series`).
    pub max_series: usize,
    /// Largest `limit` of a log query (`max_entries_limit_per_query`).
    pub max_entries_limit: usize,
    /// Most steps of a range query.
    pub max_points: i64,
    /// Give up after this long (`query_timeout`; checked every 1024 records).
    pub timeout: Option<std::time::Duration>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            max_series: 500,
            max_entries_limit: 5000,
            max_points: 11_000,
            timeout: Some(std::time::Duration::from_secs(60)),
        }
    }
}

/// The LogQL engine (stateless apart from its limits).
#[derive(Clone, Debug, Default)]
pub struct Engine {
    pub opts: EngineOptions,
}

/// Per-step intermediate results.
enum Ev {
    Scalar(Vec<f64>),
    Vector(Vec<Vec<(Labels, f64)>>),
}

struct Ctx<'a> {
    store: &'a LogStore,
    tenant: &'a str,
    steps: Vec<i64>,
    deadline: Deadline,
}

/// Checks the query timeout every 1024 calls.
#[derive(Clone)]
struct Deadline {
    at: Option<(std::time::Instant, std::time::Duration)>,
    n: std::cell::Cell<u32>,
}

impl Deadline {
    fn new(timeout: Option<std::time::Duration>) -> Self {
        Self {
            at: timeout.map(|t| (std::time::Instant::now() + t, t)),
            n: std::cell::Cell::new(0),
        }
    }

    fn check(&self) -> Result<()> {
        let n = self.n.get().wrapping_add(1);
        self.n.set(n);
        if n.is_multiple_of(1024) {
            if let Some((at, t)) = self.at {
                if std::time::Instant::now() > at {
                    return Err(Error::Timeout(t));
                }
            }
        }
        Ok(())
    }
}

impl Engine {
    pub fn new(opts: EngineOptions) -> Self {
        Self { opts }
    }

    /// Runs a log query over `[start_ns, end_ns)`; at most `limit` entries.
    #[allow(clippy::too_many_arguments)]
    pub fn query_logs(
        &self,
        store: &LogStore,
        tenant: &str,
        expr: &Expr,
        start_ns: i64,
        end_ns: i64,
        direction: Direction,
        limit: usize,
    ) -> Result<Streams> {
        let Expr::Log(log) = expr else {
            return Err(Error::BadQuery(
                "a metric query cannot be run as a log query".into(),
            ));
        };
        if limit > self.opts.max_entries_limit {
            return Err(Error::Limit(format!(
                "max entries limit per query exceeded, limit > max_entries_limit ({limit} > {})",
                self.opts.max_entries_limit
            )));
        }
        let (filters, pipe) = pipeline::split_pushdown(&log.stages);
        let req = SelectRequest {
            matchers: log.matchers.clone(),
            start_ns,
            end_ns,
            filters,
            direction,
            // the store can stop early when nothing else filters
            limit: pipe.is_empty().then_some(limit),
        };
        let deadline = Deadline::new(self.opts.timeout);
        let mut streams: HashMap<Labels, Vec<(i64, String)>> = HashMap::new();
        let mut n = 0;
        if limit > 0 {
            for rec in store.select(tenant, &req)? {
                let rec = rec?;
                deadline.check()?;
                let mut lbs = LineLabels::from_record(&rec);
                let mut line = rec.message;
                if !pipe.process(rec.ts_ns, &mut line, &mut lbs) {
                    continue;
                }
                streams
                    .entry(lbs.to_labels())
                    .or_default()
                    .push((rec.ts_ns, line));
                n += 1;
                if n >= limit {
                    break;
                }
            }
        }
        let mut out: Streams = streams
            .into_iter()
            .map(|(labels, entries)| Stream { labels, entries })
            .collect();
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(out)
    }

    /// Evaluates a metric query at `t_ns` (a vector or a scalar).
    pub fn instant(&self, store: &LogStore, tenant: &str, expr: &Expr, t_ns: i64) -> Result<Value> {
        let Expr::Metric(m) = expr else {
            return Err(Error::BadQuery(
                "log queries are not supported as an instant query type, please change your query to a range query type"
                    .into(),
            ));
        };
        let ctx = Ctx {
            store,
            tenant,
            steps: vec![t_ns],
            deadline: Deadline::new(self.opts.timeout),
        };
        Ok(match self.eval(&ctx, m)? {
            Ev::Scalar(v) => Value::Scalar { t_ns, v: v[0] },
            Ev::Vector(mut v) => {
                let mut vec = std::mem::take(&mut v[0]);
                check_unique(&vec)?;
                if !is_sorting(m) {
                    vec.sort_by(|a, b| a.0.cmp(&b.0));
                }
                Value::Vector(
                    vec.into_iter()
                        .map(|(labels, v)| Sample { labels, t_ns, v })
                        .collect(),
                )
            }
        })
    }

    /// Evaluates a metric query at `start, start + step, ... <= end` (a matrix).
    pub fn range(
        &self,
        store: &LogStore,
        tenant: &str,
        expr: &Expr,
        start_ns: i64,
        end_ns: i64,
        step_ns: i64,
    ) -> Result<Value> {
        let Expr::Metric(m) = expr else {
            return Err(Error::BadQuery(
                "a log query has no matrix result: use query_logs".into(),
            ));
        };
        if step_ns <= 0 {
            return Err(Error::BadQuery(
                "zero or negative query resolution step widths are not accepted. Try a positive integer"
                    .into(),
            ));
        }
        if end_ns < start_ns {
            return Err(Error::BadQuery(
                "end timestamp must not be before start time".into(),
            ));
        }
        let points = (i128::from(end_ns) - i128::from(start_ns)) / i128::from(step_ns) + 1;
        if points > i128::from(self.opts.max_points) {
            return Err(Error::Limit(format!(
                "exceeded maximum resolution of {} points per timeseries. Try decreasing the query resolution (?step=XX)",
                self.opts.max_points
            )));
        }
        let steps: Vec<i64> = (0..points as i64).map(|i| start_ns + i * step_ns).collect();
        let ctx = Ctx {
            store,
            tenant,
            steps,
            deadline: Deadline::new(self.opts.timeout),
        };
        Ok(match self.eval(&ctx, m)? {
            Ev::Scalar(v) => Value::Matrix(vec![Series {
                labels: Labels::new(),
                points: ctx.steps.iter().copied().zip(v).collect(),
            }]),
            Ev::Vector(v) => {
                let mut series: HashMap<Labels, Vec<(i64, f64)>> = HashMap::new();
                for (i, vec) in v.into_iter().enumerate() {
                    check_unique(&vec)?;
                    for (l, x) in vec {
                        series.entry(l).or_default().push((ctx.steps[i], x));
                    }
                }
                if series.len() > self.opts.max_series {
                    return Err(self.series_limit());
                }
                let mut out: Vec<Series> = series
                    .into_iter()
                    .map(|(labels, points)| Series { labels, points })
                    .collect();
                out.sort_by(|a, b| a.labels.cmp(&b.labels));
                Value::Matrix(out)
            }
        })
    }

    fn series_limit(&self) -> Error {
        Error::Limit(format!(
            "maximum number of series ({}) reached for a single query; consider reducing query cardinality by adding more filters or aggregating",
            self.opts.max_series
        ))
    }

    fn eval(&self, ctx: &Ctx<'_>, e: &MetricExpr) -> Result<Ev> {
        let n = ctx.steps.len();
        Ok(match e {
            MetricExpr::Number(v) => Ev::Scalar(vec![*v; n]),
            MetricExpr::Vector(v) => Ev::Vector(vec![vec![(Labels::new(), *v)]; n]),
            MetricExpr::Paren(inner) => self.eval(ctx, inner)?,
            MetricExpr::Range {
                op,
                param,
                range,
                grouping,
            } => Ev::Vector(self.eval_range(ctx, *op, *param, range, grouping.as_ref())?),
            MetricExpr::Agg {
                op,
                param,
                grouping,
                inner,
            } => {
                let Ev::Vector(v) = self.eval(ctx, inner)? else {
                    return Err(Error::BadQuery(format!(
                        "expected a vector expression for {} aggregation, got a scalar",
                        op.as_str()
                    )));
                };
                Ev::Vector(
                    v.into_iter()
                        .map(|vec| aggregate(*op, *param, grouping.as_ref(), vec))
                        .collect(),
                )
            }
            MetricExpr::LabelReplace {
                inner,
                dst,
                replacement,
                src,
                regex,
                ..
            } => {
                if !valid_label_name(dst) {
                    return Err(Error::BadQuery(format!(
                        "invalid destination label name in label_replace(): {dst}"
                    )));
                }
                let Ev::Vector(v) = self.eval(ctx, inner)? else {
                    return Err(Error::BadQuery("label_replace expects a vector".into()));
                };
                Ev::Vector(
                    v.into_iter()
                        .map(|vec| {
                            vec.into_iter()
                                .map(|(l, x)| {
                                    let val = l.get(src).unwrap_or("");
                                    let Some(c) = regex.captures(val) else {
                                        return (l, x);
                                    };
                                    let mut out = String::new();
                                    c.expand(replacement, &mut out);
                                    let mut b = l.builder();
                                    b.set(dst.clone(), out);
                                    (b.build(), x)
                                })
                                .collect()
                        })
                        .collect(),
                )
            }
            MetricExpr::Binary {
                op,
                bool_mod,
                matching,
                lhs,
                rhs,
            } => {
                let l = self.eval(ctx, lhs)?;
                let r = self.eval(ctx, rhs)?;
                binary(*op, *bool_mod, matching, l, r)?
            }
        })
    }

    fn eval_range(
        &self,
        ctx: &Ctx<'_>,
        op: RangeOp,
        param: Option<f64>,
        range: &LogRange,
        grouping: Option<&Grouping>,
    ) -> Result<Vec<Vec<(Labels, f64)>>> {
        let first = ctx.steps[0];
        let last = *ctx.steps.last().expect("at least one step");
        let (filters, pipe) = pipeline::split_pushdown(&range.log.stages);
        let req = SelectRequest {
            matchers: range.log.matchers.clone(),
            start_ns: first
                .saturating_sub(range.offset_ns)
                .saturating_sub(range.range_ns)
                .saturating_add(1),
            end_ns: last.saturating_sub(range.offset_ns).saturating_add(1),
            filters,
            direction: Direction::Forward,
            limit: None,
        };
        let bytes = matches!(op, RangeOp::BytesOverTime | RangeOp::BytesRate);
        let mut series: HashMap<Labels, Vec<(i64, f64)>> = HashMap::new();
        'records: for rec in ctx.store.select(ctx.tenant, &req)? {
            let rec = rec?;
            ctx.deadline.check()?;
            let mut lbs = LineLabels::from_record(&rec);
            let mut line = rec.message;
            if !pipe.process(rec.ts_ns, &mut line, &mut lbs) {
                continue;
            }
            let v = match &range.unwrap {
                None if bytes => line.len() as f64,
                None => 1.0,
                Some(u) => {
                    let raw = lbs.get(&u.label).unwrap_or("").to_string();
                    if raw.is_empty() {
                        // a line without the label has no sample (not an error), as in Loki
                        continue;
                    }
                    lbs.del(&u.label);
                    let conv = match u.conv {
                        UnwrapConv::None => raw.trim().parse::<f64>().ok(),
                        UnwrapConv::Duration => parse_duration(raw.trim()).map(|d| d as f64 / 1e9),
                        UnwrapConv::Bytes => parse_bytes(&raw),
                    };
                    let v = match conv {
                        Some(v) => v,
                        None => {
                            lbs.set_err(
                                ERR_SAMPLE,
                                format!("cannot convert {raw:?} of label {} to a number", u.label),
                            );
                            0.0
                        }
                    };
                    for f in &u.post_filters {
                        if !pipeline::label_filter(f, &mut lbs) {
                            continue 'records;
                        }
                    }
                    v
                }
            };
            let mut labels = lbs.to_labels();
            if let Some(err) = labels.get(ERROR_LABEL) {
                return Err(Error::Pipeline(format!(
                    "pipeline error: '{err}' for series: '{labels}'.\nUse a label filter to intentionally skip this error. (e.g | __error__!=\"{err}\").\nTo skip all potential errors you can match empty errors.(e.g __error__=\"\")\nThe label filter can also be specified after unwrap. (e.g | unwrap latency | __error__=\"\" )"
                )));
            }
            if let Some(g) = grouping {
                labels = group_labels(&labels, g);
            }
            series.entry(labels).or_default().push((rec.ts_ns, v));
            if series.len() > self.opts.max_series {
                return Err(self.series_limit());
            }
        }
        let range_secs = range.range_ns as f64 / 1e9;
        let mut out: Vec<Vec<(Labels, f64)>> = vec![Vec::new(); ctx.steps.len()];
        if op == RangeOp::AbsentOverTime {
            let labels = Labels::from_pairs(
                range
                    .log
                    .matchers
                    .iter()
                    .filter(|m| m.op == MatchOp::Equal)
                    .map(|m| (m.name.clone(), m.value.clone())),
            );
            for (i, &t) in ctx.steps.iter().enumerate() {
                let (lo, hi) = bounds(t, range);
                let any = series.values().any(|s| !window(s, lo, hi).is_empty());
                if !any {
                    out[i].push((labels.clone(), 1.0));
                }
            }
            return Ok(out);
        }
        let mut keys: Vec<Labels> = series.keys().cloned().collect();
        keys.sort();
        for k in keys {
            let mut s = series.remove(&k).expect("key from map");
            s.sort_by_key(|p| p.0);
            for (i, &t) in ctx.steps.iter().enumerate() {
                let (lo, hi) = bounds(t, range);
                let w = window(&s, lo, hi);
                if w.is_empty() {
                    continue;
                }
                if let Some(v) = range_fn(op, param, w, range_secs, lo, hi) {
                    out[i].push((k.clone(), v));
                }
            }
        }
        Ok(out)
    }
}

/// The window `(lo, hi]` of the step at `t`.
fn bounds(t: i64, range: &LogRange) -> (i64, i64) {
    let hi = t.saturating_sub(range.offset_ns);
    (hi.saturating_sub(range.range_ns), hi)
}

/// Samples with `lo < ts <= hi`.
fn window(s: &[(i64, f64)], lo: i64, hi: i64) -> &[(i64, f64)] {
    let a = s.partition_point(|p| p.0 <= lo);
    let b = s.partition_point(|p| p.0 <= hi);
    &s[a..b.max(a)]
}

fn range_fn(
    op: RangeOp,
    param: Option<f64>,
    w: &[(i64, f64)],
    range_secs: f64,
    lo: i64,
    hi: i64,
) -> Option<f64> {
    let n = w.len() as f64;
    let sum = || w.iter().map(|p| p.1).sum::<f64>();
    Some(match op {
        RangeOp::CountOverTime => n,
        RangeOp::Rate | RangeOp::BytesRate => sum() / range_secs,
        RangeOp::BytesOverTime | RangeOp::SumOverTime => sum(),
        RangeOp::AvgOverTime => {
            // incremental mean, as Prometheus, to limit overflow
            let mut mean = 0.0;
            for (i, p) in w.iter().enumerate() {
                mean += (p.1 - mean) / (i as f64 + 1.0);
            }
            mean
        }
        RangeOp::MinOverTime => w
            .iter()
            .map(|p| p.1)
            .fold(f64::NAN, |a, b| if a.is_nan() || b < a { b } else { a }),
        RangeOp::MaxOverTime => w
            .iter()
            .map(|p| p.1)
            .fold(f64::NAN, |a, b| if a.is_nan() || b > a { b } else { a }),
        RangeOp::StddevOverTime | RangeOp::StdvarOverTime => {
            let (mut mean, mut m2) = (0.0, 0.0);
            for (i, p) in w.iter().enumerate() {
                let d = p.1 - mean;
                mean += d / (i as f64 + 1.0);
                m2 += d * (p.1 - mean);
            }
            let var = m2 / n;
            if op == RangeOp::StddevOverTime {
                var.sqrt()
            } else {
                var
            }
        }
        RangeOp::QuantileOverTime => {
            let mut vals: Vec<f64> = w.iter().map(|p| p.1).collect();
            quantile(param.unwrap_or(0.5), &mut vals)
        }
        RangeOp::FirstOverTime => w[0].1,
        RangeOp::LastOverTime => w[w.len() - 1].1,
        RangeOp::RateCounter => return extrapolated_rate(w, lo, hi, range_secs),
        RangeOp::AbsentOverTime => 1.0,
    })
}

/// Prometheus's quantile: linear interpolation between closest ranks.
fn quantile(q: f64, vals: &mut [f64]) -> f64 {
    if vals.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    vals.sort_by(|a, b| a.total_cmp(b));
    let n = vals.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    vals[lower as usize] * (1.0 - weight) + vals[upper as usize] * weight
}

/// Prometheus's extrapolated counter rate over `(lo, hi]` (Loki's `rate_counter`).
fn extrapolated_rate(w: &[(i64, f64)], lo: i64, hi: i64, range_secs: f64) -> Option<f64> {
    if w.len() < 2 {
        return None;
    }
    let (first, last) = (w[0], w[w.len() - 1]);
    let mut result = last.1 - first.1;
    for p in w.windows(2) {
        if p[1].1 < p[0].1 {
            result += p[0].1;
        }
    }
    let mut to_start = (first.0 as f64 - lo as f64) / 1e9;
    let to_end = (hi as f64 - last.0 as f64) / 1e9;
    let sampled = (last.0 as f64 - first.0 as f64) / 1e9;
    let avg = sampled / (w.len() - 1) as f64;
    if result > 0.0 && first.1 >= 0.0 {
        let to_zero = sampled * (first.1 / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    let threshold = avg * 1.1;
    let mut interval = sampled;
    interval += if to_start < threshold { to_start } else { avg / 2.0 };
    interval += if to_end < threshold { to_end } else { avg / 2.0 };
    if sampled == 0.0 {
        return None;
    }
    Some(result * (interval / sampled) / range_secs)
}

fn group_labels(l: &Labels, g: &Grouping) -> Labels {
    if g.without {
        Labels::from_pairs(
            l.iter()
                .filter(|p| !g.labels.iter().any(|n| n == p.name))
                .map(|p| (p.name, p.value)),
        )
    } else {
        Labels::from_pairs(
            l.iter()
                .filter(|p| g.labels.iter().any(|n| n == p.name))
                .map(|p| (p.name, p.value)),
        )
    }
}

fn is_sorting(e: &MetricExpr) -> bool {
    match e {
        MetricExpr::Agg { op, .. } => matches!(op, AggOp::Sort | AggOp::SortDesc),
        MetricExpr::Paren(i) => is_sorting(i),
        _ => false,
    }
}

fn valid_label_name(s: &str) -> bool {
    let mut cs = s.chars();
    matches!(cs.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && cs.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn check_unique(v: &[(Labels, f64)]) -> Result<()> {
    let mut seen = std::collections::HashSet::with_capacity(v.len());
    for (l, _) in v {
        if !seen.insert(l) {
            return Err(Error::BadQuery(format!(
                "vector cannot contain metrics with the same labelset: {l}"
            )));
        }
    }
    Ok(())
}

fn aggregate(
    op: AggOp,
    param: Option<f64>,
    g: Option<&Grouping>,
    vec: Vec<(Labels, f64)>,
) -> Vec<(Labels, f64)> {
    match op {
        AggOp::Sort | AggOp::SortDesc => {
            let mut v = vec;
            v.sort_by(|a, b| {
                let o = a.1.total_cmp(&b.1);
                // NaN sorts last either way
                match (a.1.is_nan(), b.1.is_nan()) {
                    (true, false) => std::cmp::Ordering::Greater,
                    (false, true) => std::cmp::Ordering::Less,
                    _ if op == AggOp::SortDesc => o.reverse(),
                    _ => o,
                }
            });
            return v;
        }
        AggOp::Topk | AggOp::Bottomk => {
            let k = param.unwrap_or(1.0) as usize;
            let mut groups: Vec<(Labels, Vec<(Labels, f64)>)> = Vec::new();
            let mut idx: HashMap<Labels, usize> = HashMap::new();
            for (l, v) in vec {
                let key = g.map_or_else(Labels::new, |g| group_labels(&l, g));
                let i = *idx.entry(key.clone()).or_insert_with(|| {
                    groups.push((key, Vec::new()));
                    groups.len() - 1
                });
                groups[i].1.push((l, v));
            }
            let mut out = Vec::new();
            for (_, mut members) in groups {
                members.sort_by(|a, b| {
                    let o = match (a.1.is_nan(), b.1.is_nan()) {
                        (true, false) => std::cmp::Ordering::Greater,
                        (false, true) => std::cmp::Ordering::Less,
                        _ if op == AggOp::Topk => b.1.total_cmp(&a.1),
                        _ => a.1.total_cmp(&b.1),
                    };
                    o.then_with(|| a.0.cmp(&b.0))
                });
                members.truncate(k);
                out.extend(members);
            }
            return out;
        }
        _ => {}
    }
    struct Acc {
        labels: Labels,
        n: f64,
        sum: f64,
        mean: f64,
        m2: f64,
        min: f64,
        max: f64,
    }
    let mut order: Vec<Acc> = Vec::new();
    let mut idx: HashMap<Labels, usize> = HashMap::new();
    for (l, v) in vec {
        let key = g.map_or_else(Labels::new, |g| group_labels(&l, g));
        let i = *idx.entry(key.clone()).or_insert_with(|| {
            order.push(Acc {
                labels: key,
                n: 0.0,
                sum: 0.0,
                mean: 0.0,
                m2: 0.0,
                min: f64::NAN,
                max: f64::NAN,
            });
            order.len() - 1
        });
        let a = &mut order[i];
        a.n += 1.0;
        a.sum += v;
        let d = v - a.mean;
        a.mean += d / a.n;
        a.m2 += d * (v - a.mean);
        if a.min.is_nan() || v < a.min {
            a.min = v;
        }
        if a.max.is_nan() || v > a.max {
            a.max = v;
        }
    }
    order
        .into_iter()
        .map(|a| {
            let v = match op {
                AggOp::Sum => a.sum,
                AggOp::Avg => a.mean,
                AggOp::Min => a.min,
                AggOp::Max => a.max,
                AggOp::Count => a.n,
                AggOp::Stdvar => a.m2 / a.n,
                AggOp::Stddev => (a.m2 / a.n).sqrt(),
                _ => unreachable!("handled above"),
            };
            (a.labels, v)
        })
        .collect()
}

fn arith(op: BinOp, a: f64, b: f64) -> f64 {
    match op {
        BinOp::Add => a + b,
        BinOp::Sub => a - b,
        BinOp::Mul => a * b,
        BinOp::Div => a / b,
        BinOp::Mod => a % b,
        BinOp::Pow => a.powf(b),
        BinOp::Eq => f64::from(u8::from(a == b)),
        BinOp::Ne => f64::from(u8::from(a != b)),
        BinOp::Gt => f64::from(u8::from(a > b)),
        BinOp::Ge => f64::from(u8::from(a >= b)),
        BinOp::Lt => f64::from(u8::from(a < b)),
        BinOp::Le => f64::from(u8::from(a <= b)),
        BinOp::Or | BinOp::And | BinOp::Unless => f64::NAN,
    }
}

fn signature(l: &Labels, m: &VectorMatching) -> Labels {
    match &m.on {
        Some((false, on)) => Labels::from_pairs(
            l.iter()
                .filter(|p| on.iter().any(|n| n == p.name))
                .map(|p| (p.name, p.value)),
        ),
        Some((true, ign)) => Labels::from_pairs(
            l.iter()
                .filter(|p| !ign.iter().any(|n| n == p.name))
                .map(|p| (p.name, p.value)),
        ),
        None => l.clone(),
    }
}

/// Applies a comparison/arithmetic result: `Some(value)` to keep the sample.
fn apply(op: BinOp, bool_mod: bool, a: f64, b: f64, keep: f64) -> Option<f64> {
    let r = arith(op, a, b);
    if op.is_comparison() {
        if bool_mod {
            Some(r)
        } else if r == 1.0 {
            Some(keep)
        } else {
            None
        }
    } else {
        Some(r)
    }
}

fn binary(op: BinOp, bool_mod: bool, m: &VectorMatching, l: Ev, r: Ev) -> Result<Ev> {
    Ok(match (l, r) {
        (Ev::Scalar(a), Ev::Scalar(b)) => {
            if op.is_set() {
                return Err(Error::BadQuery(format!(
                    "set operator \"{}\" not allowed in binary scalar expression",
                    op.as_str()
                )));
            }
            if op.is_comparison() && !bool_mod {
                return Err(Error::BadQuery(
                    "comparisons between scalars must use BOOL modifier".into(),
                ));
            }
            Ev::Scalar(a.into_iter().zip(b).map(|(x, y)| arith(op, x, y)).collect())
        }
        (Ev::Vector(v), Ev::Scalar(s)) | (Ev::Scalar(s), Ev::Vector(v)) if op.is_set() => {
            let _ = (v, s);
            return Err(Error::BadQuery(format!(
                "set operator \"{}\" not allowed in binary scalar expression",
                op.as_str()
            )));
        }
        (Ev::Vector(v), Ev::Scalar(s)) => Ev::Vector(
            v.into_iter()
                .zip(s)
                .map(|(vec, x)| {
                    vec.into_iter()
                        .filter_map(|(l, a)| apply(op, bool_mod, a, x, a).map(|r| (l, r)))
                        .collect()
                })
                .collect(),
        ),
        (Ev::Scalar(s), Ev::Vector(v)) => Ev::Vector(
            v.into_iter()
                .zip(s)
                .map(|(vec, x)| {
                    vec.into_iter()
                        .filter_map(|(l, b)| apply(op, bool_mod, x, b, b).map(|r| (l, r)))
                        .collect()
                })
                .collect(),
        ),
        (Ev::Vector(a), Ev::Vector(b)) => {
            let mut out = Vec::with_capacity(a.len());
            for (va, vb) in a.into_iter().zip(b) {
                out.push(vector_binary(op, bool_mod, m, va, vb)?);
            }
            Ev::Vector(out)
        }
    })
}

fn vector_binary(
    op: BinOp,
    bool_mod: bool,
    m: &VectorMatching,
    lhs: Vec<(Labels, f64)>,
    rhs: Vec<(Labels, f64)>,
) -> Result<Vec<(Labels, f64)>> {
    match op {
        BinOp::And | BinOp::Unless => {
            let sigs: std::collections::HashSet<Labels> = rhs.iter().map(|(l, _)| signature(l, m)).collect();
            let want = op == BinOp::And;
            return Ok(lhs
                .into_iter()
                .filter(|(l, _)| sigs.contains(&signature(l, m)) == want)
                .collect());
        }
        BinOp::Or => {
            let sigs: std::collections::HashSet<Labels> = lhs.iter().map(|(l, _)| signature(l, m)).collect();
            let mut out = lhs;
            out.extend(rhs.into_iter().filter(|(l, _)| !sigs.contains(&signature(l, m))));
            return Ok(out);
        }
        _ => {}
    }
    // group_right swaps the roles: the "many" side is always `many`.
    let (group_left, include) = match &m.group {
        Some((left, inc)) => (Some(*left), inc.clone()),
        None => (None, Vec::new()),
    };
    let swapped = group_left == Some(false);
    let (many, one) = if swapped { (rhs, lhs) } else { (lhs, rhs) };
    let mut one_by_sig: HashMap<Labels, (Labels, f64)> = HashMap::new();
    for (l, v) in one {
        let sig = signature(&l, m);
        if one_by_sig.insert(sig.clone(), (l, v)).is_some() {
            let side = if swapped { "left" } else { "right" };
            return Err(Error::BadQuery(format!(
                "found duplicate series for the match group {sig} on the {side} hand-side of the operation; many-to-many matching not allowed: matching labels must be unique on one side"
            )));
        }
    }
    let mut out = Vec::new();
    let mut seen: HashMap<Labels, ()> = HashMap::new();
    for (l, v) in many {
        let sig = signature(&l, m);
        let Some((ol, ov)) = one_by_sig.get(&sig) else {
            continue;
        };
        let (a, b) = if swapped { (*ov, v) } else { (v, *ov) };
        let Some(r) = apply(op, bool_mod, a, b, a) else {
            continue;
        };
        let labels = if group_left.is_some() {
            let mut bld = l.builder();
            for name in &include {
                bld.set(name.clone(), ol.get(name).unwrap_or("").to_string());
            }
            bld.build()
        } else {
            match &m.on {
                Some((false, _)) => sig.clone(),
                _ => signature(&l, m),
            }
        };
        if group_left.is_none() && seen.insert(labels.clone(), ()).is_some() {
            return Err(Error::BadQuery(format!(
                "found duplicate series for the match group {sig} on the left hand-side of the operation; many-to-many matching not allowed: matching labels must be unique on one side"
            )));
        }
        out.push((labels, r));
    }
    Ok(out)
}
