//! `info(v [, selector])` (experimental in Prometheus 3): adds the data labels
//! of info series (`target_info` by default, any `*_info` metric when the
//! selector only excludes names) to the series of `v` that share their
//! identifying labels (`instance`, `job`).
//!
//! Rules, per step:
//! - info series are read as of the step's *reference time* — the step time
//!   shifted by the `offset`/`@` of the selectors inside `v` (subqueries
//!   included) — with the usual lookback and staleness;
//! - a base series matches an info series when every identifying label has
//!   the same value on both (absent = empty); a base series without any
//!   identifying label, or that is itself an info series (selected by a
//!   positive name matcher and not excluded by another), passes unchanged;
//! - added labels: all info labels but the name and identifying labels (or
//!   only those named by the selector's data matchers), never overriding a
//!   label the base series has; among info series of the same name the one
//!   with the latest sample wins, different values from different info
//!   metrics are an error;
//! - without a matching info series the sample is kept unchanged, unless a
//!   data matcher does not match the empty string, in which case it is dropped.

use crate::engine::{exec_err, offset_ms, unwrap_parens, Ev, Out, Res, Val};
use crate::functions::vector_arg;
use promql_parser::label::MatchOp as PMatchOp;
use promql_parser::parser::{Call, Expr};
use sightline_model::{is_stale_nan, Labels, MatchOp, Matcher, Sample, METRIC_NAME};
use std::collections::BTreeMap;

const IDENTIFYING: [&str; 2] = ["instance", "job"];

/// How a node's reference time relates to the evaluation time.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Shift {
    /// `t - offset`.
    Rel(i64),
    /// A fixed time (`@`).
    Abs(i64),
}

fn compose(outer: Shift, inner: Shift) -> Shift {
    match (outer, inner) {
        (_, Shift::Abs(x)) => Shift::Abs(x),
        (Shift::Abs(a), Shift::Rel(o)) => Shift::Abs(a - o),
        (Shift::Rel(p), Shift::Rel(o)) => Shift::Rel(p + o),
    }
}

fn has_selector(e: &Expr) -> bool {
    match e {
        Expr::VectorSelector(_) | Expr::MatrixSelector(_) => true,
        Expr::Subquery(s) => has_selector(&s.expr),
        Expr::Paren(p) => has_selector(&p.expr),
        Expr::Unary(u) => has_selector(&u.expr),
        Expr::Binary(b) => has_selector(&b.lhs) || has_selector(&b.rhs),
        Expr::Aggregate(a) => has_selector(&a.expr),
        Expr::Call(c) => c.args.args.iter().any(|a| has_selector(a)),
        _ => false,
    }
}

/// The reference-time shift of the first selector in `e`.
fn ref_shift(ev: &Ev, e: &Expr) -> Shift {
    match e {
        Expr::VectorSelector(vs) => match ev.at_ms(&vs.at) {
            Some(a) => Shift::Abs(a - offset_ms(&vs.offset)),
            None => Shift::Rel(offset_ms(&vs.offset)),
        },
        Expr::MatrixSelector(ms) => ref_shift(ev, &Expr::VectorSelector(ms.vs.clone())),
        Expr::Subquery(sq) => {
            let off = offset_ms(&sq.offset);
            let outer = match ev.at_ms(&sq.at) {
                Some(a) => Shift::Abs(a - off),
                None => Shift::Rel(off),
            };
            compose(outer, ref_shift(ev, &sq.expr))
        }
        Expr::Paren(p) => ref_shift(ev, &p.expr),
        Expr::Unary(u) => ref_shift(ev, &u.expr),
        Expr::Aggregate(a) => ref_shift(ev, &a.expr),
        Expr::Binary(b) => ref_shift(ev, if has_selector(&b.lhs) { &b.lhs } else { &b.rhs }),
        Expr::Call(c) => match c.args.args.iter().find(|a| has_selector(a)) {
            Some(a) => ref_shift(ev, a),
            None => Shift::Rel(0),
        },
        _ => Shift::Rel(0),
    }
}

fn convert(m: &promql_parser::label::Matcher) -> Res<Matcher> {
    let op = match m.op {
        PMatchOp::Equal => MatchOp::Equal,
        PMatchOp::NotEqual => MatchOp::NotEqual,
        PMatchOp::Re(_) => MatchOp::Regex,
        PMatchOp::NotRe(_) => MatchOp::NotRegex,
    };
    Matcher::new(op, m.name.clone(), m.value.clone())
        .map_err(|e| crate::engine::Error::Execution(e.to_string()))
}

fn convert_re(re: &str) -> Res<Matcher> {
    Matcher::new(MatchOp::Regex, METRIC_NAME, re).map_err(|e| crate::engine::Error::Execution(e.to_string()))
}

/// One info series with its samples.
struct InfoSeries {
    labels: Labels,
    samples: Vec<Sample>,
}

impl InfoSeries {
    /// The latest non-stale sample in `(r - lookback, r]`.
    fn at(&self, r: i64, lookback: i64) -> Option<Sample> {
        let i = self.samples.partition_point(|s| s.t <= r);
        let s = *self.samples.get(i.checked_sub(1)?)?;
        (s.t > r - lookback && !is_stale_nan(s.v)).then_some(s)
    }
}

pub(crate) fn info(ev: &Ev, c: &Call) -> Res<Val> {
    let args = &c.args.args;
    let base = vector_arg(ev, &args[0])?;
    // Name and data matchers of the optional selector.
    let (mut name_m, mut data_m) = (Vec::new(), Vec::new());
    if let Some(sel) = args.get(1) {
        let Expr::VectorSelector(vs) = unwrap_parens(sel) else {
            return exec_err("expected a label selector as the second argument of info()");
        };
        if let Some(n) = &vs.name {
            name_m.push(Matcher::equal(METRIC_NAME, n.clone()));
        }
        for m in &vs.matchers.matchers {
            let m = convert(m)?;
            if m.name == METRIC_NAME {
                name_m.push(m);
            } else {
                data_m.push(m);
            }
        }
    }
    if name_m.is_empty() {
        name_m.push(Matcher::equal(METRIC_NAME, "target_info"));
    } else if !name_m
        .iter()
        .any(|m| matches!(m.op, MatchOp::Equal | MatchOp::Regex))
    {
        // Only exclusions: choose among all info metrics (`*_info`).
        name_m.push(convert_re(".+_info")?);
    }
    let drop_unmatched = data_m.iter().any(|m| !m.matches_empty());
    // A base series is an info series itself when a positive name matcher
    // selects it and no other name matcher excludes it.
    let positive = name_m
        .iter()
        .any(|m| matches!(m.op, MatchOp::Equal | MatchOp::Regex));
    let is_info = |l: &Labels| positive && name_m.iter().all(|m| m.matches(l.get(METRIC_NAME).unwrap_or("")));

    // Reference times per step, and the info series around them.
    let shift = ref_shift(ev, &args[0]);
    let refs: Vec<i64> = (0..ev.n())
        .map(|i| match shift {
            Shift::Rel(o) => ev.ts(i) - o,
            Shift::Abs(a) => a,
        })
        .collect();
    let lookback = ev.lookback;
    let (lo, hi) = (
        refs.iter().copied().min().unwrap_or(0),
        refs.iter().copied().max().unwrap_or(0),
    );
    let mut infos: Vec<InfoSeries> = Vec::new();
    let mut set = name_m.clone();
    set.extend(data_m.iter().cloned());
    ev.select_sets(&[set], lo - lookback + 1, hi, |labels, samples| {
        infos.push(InfoSeries { labels, samples });
        Ok(())
    })?;
    // Info series by identifying labels.
    let mut by_id: BTreeMap<Vec<String>, Vec<usize>> = BTreeMap::new();
    for (k, s) in infos.iter().enumerate() {
        let key = IDENTIFYING
            .iter()
            .map(|n| s.labels.get(n).unwrap_or("").to_string())
            .collect();
        by_id.entry(key).or_default().push(k);
    }
    let wanted = |name: &str| {
        name != METRIC_NAME
            && !IDENTIFYING.contains(&name)
            && (data_m.is_empty() || data_m.iter().any(|m| m.name == name))
    };

    let mut out = Out::default();
    for s in base {
        let has_id = IDENTIFYING.iter().any(|n| s.labels.get(n).is_some());
        if !has_id || is_info(&s.labels) {
            for p in &s.pts {
                out.push(s.labels.clone(), s.drop_name, p.t, p.v)?;
            }
            continue;
        }
        let key: Vec<String> = IDENTIFYING
            .iter()
            .map(|n| s.labels.get(n).unwrap_or("").to_string())
            .collect();
        let candidates = by_id.get(&key).map(Vec::as_slice).unwrap_or(&[]);
        for p in &s.pts {
            let r = refs[((p.t - ev.start) / ev.step) as usize];
            // Latest sample per info metric name.
            let mut per_name: BTreeMap<&str, (i64, usize)> = BTreeMap::new();
            for &k in candidates {
                if let Some(x) = infos[k].at(r, lookback) {
                    let name = infos[k].labels.get(METRIC_NAME).unwrap_or("");
                    let e = per_name.entry(name).or_insert((x.t, k));
                    if x.t > e.0 {
                        *e = (x.t, k);
                    }
                }
            }
            if per_name.is_empty() {
                if !drop_unmatched {
                    out.push(s.labels.clone(), s.drop_name, p.t, p.v)?;
                }
                continue;
            }
            let mut add: BTreeMap<&str, &str> = BTreeMap::new();
            for &(_, k) in per_name.values() {
                for l in infos[k].labels.iter() {
                    if !wanted(l.name) || s.labels.get(l.name).is_some() {
                        continue;
                    }
                    if let Some(prev) = add.insert(l.name, l.value) {
                        if prev != l.value {
                            return exec_err(format!(
                                "conflicting label: {} has values {prev:?} and {:?} in different info metrics",
                                l.name, l.value
                            ));
                        }
                    }
                }
            }
            let mut b = s.labels.builder();
            for (n, v) in add {
                b.set(n, v);
            }
            out.push(b.build(), s.drop_name, p.t, p.v)?;
        }
    }
    let mut series = out.series;
    for s in series.iter_mut() {
        s.pts.sort_by_key(|p| p.t);
    }
    Ok(Val::Vector(series))
}
