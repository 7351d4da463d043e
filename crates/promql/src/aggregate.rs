//! Aggregation operators (`sum`, `avg`, `topk`, `quantile`, ...).
//!
//! Grouping keys are computed once per input series; values are then
//! accumulated step by step. Series whose metric name is due to be dropped
//! lose it before grouping, so `by (__name__)` sees what the user would see.

use crate::engine::{exec_err, Cursor, Ev, Out, Pt, Res, Ser, Val, NAME_LABELS};
use promql_parser::parser::token::*;
use promql_parser::parser::{AggregateExpr, Expr, LabelModifier};
use sightline_model::Labels;
use std::collections::HashMap;

/// Neumaier-compensated addition: returns (sum, compensation).
pub(crate) fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// Prometheus's quantile over a sorted-in-place slice (`q` outside [0,1] gives ±Inf).
pub(crate) fn quantile(q: f64, vals: &mut [f64]) -> f64 {
    if vals.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    vals.sort_by(|a, b| {
        a.partial_cmp(b)
            .unwrap_or_else(|| a.is_nan().cmp(&b.is_nan()).reverse())
    });
    let n = vals.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    vals[lower as usize] * (1.0 - weight) + vals[upper as usize] * weight
}

/// Running state of `avg` (Kahan sum, switching to an incremental mean on overflow).
#[derive(Clone, Copy, Default)]
pub(crate) struct AvgAcc {
    pub count: f64,
    sum: f64,
    c: f64,
    mean: f64,
    incremental: bool,
}

impl AvgAcc {
    pub fn add(&mut self, f: f64) {
        self.count += 1.0;
        if self.count == 1.0 {
            self.sum = f;
            self.c = 0.0;
            return;
        }
        if !self.incremental {
            let (ns, nc) = kahan_inc(f, self.sum, self.c);
            if !ns.is_infinite() {
                self.sum = ns;
                self.c = nc;
                return;
            }
            self.incremental = true;
            self.mean = self.sum / (self.count - 1.0);
            self.c /= self.count - 1.0;
        }
        if self.mean.is_infinite() {
            if f.is_infinite() && (self.mean > 0.0) == (f > 0.0) {
                return;
            }
            if !f.is_infinite() && !f.is_nan() {
                return;
            }
        }
        let cur = self.mean + self.c;
        let (m, c) = kahan_inc(f / self.count - cur / self.count, self.mean, self.c);
        self.mean = m;
        self.c = c;
    }

    pub fn value(&self) -> f64 {
        if self.incremental {
            self.mean + self.c
        } else if self.count == 1.0 {
            self.sum
        } else {
            self.sum / self.count + self.c / self.count
        }
    }
}

#[derive(Clone, Default)]
struct Acc {
    seen: bool,
    count: f64,
    value: f64,
    c: f64,
    mean: f64,
    avg: AvgAcc,
    vals: Vec<f64>,
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)` as used by `count_values`.
fn format_value(v: f64) -> String {
    crate::value::format_float(v)
}

fn grouping_key(l: &Labels, modifier: &Option<LabelModifier>) -> Labels {
    match modifier {
        None => Labels::new(),
        Some(LabelModifier::Include(names)) => {
            let mut b = l.builder();
            b.retain(|n, _| names.labels.iter().any(|x| x == n));
            b.build()
        }
        Some(LabelModifier::Exclude(names)) => {
            let mut b = l.builder();
            b.retain(|n, _| !NAME_LABELS.contains(&n) && !names.labels.iter().any(|x| x == n));
            b.build()
        }
    }
}

fn param_position(ev: &Ev, a: &AggregateExpr, param: &Expr) -> String {
    let sh = ev.sh.borrow();
    let name = &a.op.to_string();
    let from = sh.find(name);
    sh.position(&param.to_string(), from)
}

pub(crate) fn eval(ev: &Ev, a: &AggregateExpr) -> Res<Val> {
    let op = a.op.id();
    let n = ev.n();
    let param = match &a.param {
        Some(p) => Some(ev.eval(p)?),
        None => None,
    };
    let input = match ev.eval(&a.expr)? {
        Val::Vector(v) => v,
        _ => return exec_err("aggregation requires an instant vector"),
    };
    let mut group_idx: HashMap<Labels, usize> = HashMap::new();
    let mut groups: Vec<Labels> = Vec::new();
    let mut group_of = Vec::with_capacity(input.len());
    // A group's name is dropped at the end if any member's would be.
    let mut group_drop: Vec<bool> = Vec::new();
    for s in &input {
        let key = grouping_key(&s.labels, &a.modifier);
        let g = match group_idx.get(&key) {
            Some(&g) => g,
            None => {
                groups.push(key.clone());
                group_idx.insert(key, groups.len() - 1);
                groups.len() - 1
            }
        };
        group_of.push(g);
        if group_drop.len() < groups.len() {
            group_drop.resize(groups.len(), false);
        }
        group_drop[g] |= s.drop_name;
    }
    let mut cur = Cursor::new(input.len());

    let scalar_param = |what: &str| -> Res<Vec<f64>> {
        match &param {
            Some(Val::Scalar(v)) => Ok(v.clone()),
            _ => exec_err(format!("expected scalar parameter for {what}")),
        }
    };

    match op {
        T_TOPK | T_BOTTOMK | T_LIMITK | T_LIMIT_RATIO => {
            let ps = scalar_param(&TokenType::new(op).to_string())?;
            let mut outs: Vec<Vec<Pt>> = vec![Vec::new(); input.len()];
            // Order of first output per series, for instant-query ordering.
            let mut order: Vec<(usize, usize, usize)> = Vec::new();
            let mut members: Vec<Vec<(usize, f64)>> = vec![Vec::new(); groups.len()];
            let mut warned = false;
            for (i, &p) in ps.iter().enumerate().take(n) {
                ev.check_deadline()?;
                let t = ev.ts(i);
                for m in members.iter_mut() {
                    m.clear();
                }
                for (j, &g) in group_of.iter().enumerate() {
                    if let Some(v) = cur.at(&input, j, t) {
                        members[g].push((j, v));
                    }
                }
                if p.is_nan() {
                    return exec_err(if op == T_LIMIT_RATIO {
                        "Ratio value is NaN"
                    } else {
                        "Parameter value is NaN"
                    });
                }
                if members.iter().all(|m| m.is_empty()) {
                    continue;
                }
                if op == T_LIMIT_RATIO {
                    let mut r = p;
                    if !(-1.0..=1.0).contains(&r) {
                        r = r.clamp(-1.0, 1.0);
                        if !warned {
                            warned = true;
                            let pos = param_position(ev, a, a.param.as_deref().unwrap_or(&a.expr));
                            ev.warn(format!(
                                "PromQL warning: ratio value should be between -1 and 1, got {}, capping to {} ({pos})",
                                crate::value::format_float(p),
                                crate::value::format_float(r)
                            ));
                        }
                    }
                    for m in &members {
                        for &(j, v) in m {
                            let off = ratio_offset(&input[j].labels);
                            let keep = if r >= 0.0 { off < r } else { off >= 1.0 + r };
                            if keep {
                                outs[j].push(Pt { t, v });
                            }
                        }
                    }
                    continue;
                }
                let k = if p >= 9.2e18 { i64::MAX } else { p as i64 };
                if k < 1 {
                    continue;
                }
                let k = usize::try_from(k).unwrap_or(usize::MAX);
                for (g, m) in members.iter_mut().enumerate() {
                    if m.is_empty() {
                        continue;
                    }
                    match op {
                        T_TOPK => m.sort_by(|a, b| cmp_desc_nan_last(a.1, b.1)),
                        T_BOTTOMK => m.sort_by(|a, b| cmp_asc_nan_last(a.1, b.1)),
                        _ => {}
                    }
                    for (rank, &(j, v)) in m.iter().take(k).enumerate() {
                        if outs[j].is_empty() {
                            order.push((g, rank, j));
                        }
                        outs[j].push(Pt { t, v });
                    }
                }
            }
            let mut out = Vec::new();
            if op == T_LIMIT_RATIO {
                for (s, pts) in input.into_iter().zip(outs) {
                    if !pts.is_empty() {
                        out.push(Ser { pts, ..s });
                    }
                }
            } else {
                let mut input: Vec<Option<Ser>> = input.into_iter().map(Some).collect();
                for (_, _, j) in order {
                    if let Some(s) = input[j].take() {
                        out.push(Ser {
                            pts: std::mem::take(&mut outs[j]),
                            ..s
                        });
                    }
                }
            }
            Ok(Val::Vector(out))
        }
        T_COUNT_VALUES => {
            let label = match &param {
                Some(Val::Str(s)) => s.clone(),
                _ => return exec_err("count_values requires a string parameter"),
            };
            if let Err(quoted) = crate::engine::check_label_name(ev, &label) {
                return exec_err(format!("invalid label name {quoted}"));
            }
            let mut out = Out::default();
            for i in 0..n {
                let t = ev.ts(i);
                let mut counts: Vec<(Labels, f64)> = Vec::new();
                let mut idx: HashMap<Labels, usize> = HashMap::new();
                for (j, &g) in group_of.iter().enumerate() {
                    if let Some(v) = cur.at(&input, j, t) {
                        let mut b = groups[g].builder();
                        b.set(label.clone(), format_value(v));
                        let key = b.build();
                        match idx.get(&key) {
                            Some(&k) => counts[k].1 += 1.0,
                            None => {
                                idx.insert(key.clone(), counts.len());
                                counts.push((key, 1.0));
                            }
                        }
                    }
                }
                for (l, c) in counts {
                    let drop = group_drop_of_labels(&l, &label, &groups, &group_drop);
                    out.push(l, drop, t, c)?;
                }
            }
            Ok(Val::Vector(out.series))
        }
        _ => {
            let qs = if op == T_QUANTILE {
                Some(scalar_param("quantile")?)
            } else {
                None
            };
            let mut accs: Vec<Acc> = vec![Acc::default(); groups.len()];
            let mut outs: Vec<Vec<Pt>> = vec![Vec::new(); groups.len()];
            let mut warned = false;
            for i in 0..n {
                ev.check_deadline()?;
                let t = ev.ts(i);
                for acc in accs.iter_mut() {
                    acc.seen = false;
                    acc.count = 0.0;
                    acc.value = 0.0;
                    acc.c = 0.0;
                    acc.mean = 0.0;
                    acc.avg = AvgAcc::default();
                    acc.vals.clear();
                }
                for (j, &g) in group_of.iter().enumerate() {
                    let Some(f) = cur.at(&input, j, t) else { continue };
                    let acc = &mut accs[g];
                    let first = !acc.seen;
                    acc.seen = true;
                    match op {
                        T_SUM => {
                            if first {
                                acc.value = f;
                            } else {
                                let (v, c) = kahan_inc(f, acc.value, acc.c);
                                acc.value = v;
                                acc.c = c;
                            }
                        }
                        T_AVG => acc.avg.add(f),
                        T_COUNT => acc.count += 1.0,
                        T_GROUP => {}
                        T_MAX => {
                            if first || acc.value < f || acc.value.is_nan() {
                                acc.value = f;
                            }
                        }
                        T_MIN => {
                            if first || acc.value > f || acc.value.is_nan() {
                                acc.value = f;
                            }
                        }
                        T_STDDEV | T_STDVAR => {
                            acc.count += 1.0;
                            let delta = f - acc.mean;
                            acc.mean += delta / acc.count;
                            acc.value += delta * (f - acc.mean);
                        }
                        T_QUANTILE => acc.vals.push(f),
                        _ => return exec_err(format!("unsupported aggregation {}", TokenType::new(op))),
                    }
                }
                for (g, acc) in accs.iter_mut().enumerate() {
                    if !acc.seen {
                        continue;
                    }
                    let v = match op {
                        T_SUM => acc.value + acc.c,
                        T_AVG => acc.avg.value(),
                        T_COUNT => acc.count,
                        T_GROUP => 1.0,
                        T_MAX | T_MIN => acc.value,
                        T_STDVAR => acc.value / acc.count,
                        T_STDDEV => (acc.value / acc.count).sqrt(),
                        T_QUANTILE => {
                            let q = qs.as_ref().map(|q| q[i]).unwrap_or(f64::NAN);
                            if !(0.0..=1.0).contains(&q) && !warned {
                                warned = true;
                                let pos = param_position(ev, a, a.param.as_deref().unwrap_or(&a.expr));
                                ev.warn(format!(
                                    "PromQL warning: quantile value should be between 0 and 1, got {} ({pos})",
                                    crate::value::format_float(q)
                                ));
                            }
                            quantile(q, &mut acc.vals)
                        }
                        _ => f64::NAN,
                    };
                    outs[g].push(Pt { t, v });
                }
            }
            let out = groups
                .into_iter()
                .zip(outs)
                .zip(group_drop)
                .filter(|((_, p), _)| !p.is_empty())
                .map(|((labels, pts), drop_name)| Ser {
                    labels,
                    pts,
                    drop_name,
                })
                .collect();
            Ok(Val::Vector(out))
        }
    }
}

fn cmp_desc_nan_last(a: f64, b: f64) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Equal,
        (true, false) => Greater,
        (false, true) => Less,
        _ => b.partial_cmp(&a).unwrap_or(Equal),
    }
}

fn cmp_asc_nan_last(a: f64, b: f64) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Equal,
        (true, false) => Greater,
        (false, true) => Less,
        _ => a.partial_cmp(&b).unwrap_or(Equal),
    }
}

/// Prometheus's label-set hash (xxHash64 over `name 0xff value 0xff ...`)
/// scaled to [0, 1], which decides `limit_ratio` membership.
fn ratio_offset(l: &Labels) -> f64 {
    let mut buf = Vec::with_capacity(128);
    for p in l.iter() {
        buf.extend_from_slice(p.name.as_bytes());
        buf.push(0xff);
        buf.extend_from_slice(p.value.as_bytes());
        buf.push(0xff);
    }
    let h = xxhash_rust::xxh64::xxh64(&buf, 0);
    h as f64 / u64::MAX as f64
}

/// Whether a `count_values` output (group labels plus the value label)
/// belongs to a group whose name is to be dropped.
fn group_drop_of_labels(l: &Labels, value_label: &str, groups: &[Labels], drop: &[bool]) -> bool {
    let mut b = l.builder();
    b.del(value_label);
    let key = b.build();
    groups.iter().zip(drop).any(|(g, d)| *d && (g == &key || g == l))
}
