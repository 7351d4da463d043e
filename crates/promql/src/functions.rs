//! PromQL functions.
//!
//! Instant-vector functions map each series point by point; range-vector
//! functions see one window `(t - range, t]` of one series at a time (see
//! [`Ev::for_each_window`]). Which functions keep the metric name follows
//! Prometheus 3: `last_over_time`, `first_over_time`, the `sort*` and
//! `label_*` functions keep it, everything else computing a new value drops it.

use crate::aggregate::{kahan_inc, quantile, AvgAcc};
use crate::engine::{
    exec_err, go_max, go_min, unwrap_parens, without_name, Cursor, Error, Ev, Out, Pt, Res, Ser, SeriesInfo,
    Val, Window,
};
use promql_parser::parser::{Call, Expr};
use sightline_model::{Labels, METRIC_NAME};
use std::collections::HashMap;

fn scalar_arg(ev: &Ev, e: &Expr) -> Res<Vec<f64>> {
    match ev.eval(e)? {
        Val::Scalar(v) => Ok(v),
        _ => exec_err(format!("expected a scalar argument, got {e}")),
    }
}

pub(crate) fn vector_arg(ev: &Ev, e: &Expr) -> Res<Vec<Ser>> {
    match ev.eval(e)? {
        Val::Vector(v) => Ok(v),
        _ => exec_err(format!("expected an instant vector argument, got {e}")),
    }
}

fn string_arg(ev: &Ev, e: &Expr) -> Res<String> {
    match ev.eval(e)? {
        Val::Str(s) => Ok(s),
        _ => exec_err(format!("expected a string argument, got {e}")),
    }
}

#[inline]
fn step_of(ev: &Ev, t: i64) -> usize {
    ((t - ev.start) / ev.step) as usize
}

/// Maps every point of an instant vector; `None` drops the point.
fn map_points(
    ev: &Ev,
    input: Vec<Ser>,
    drop_name: bool,
    mut f: impl FnMut(f64, usize) -> Option<f64>,
) -> Res<Val> {
    let mut out = Vec::with_capacity(input.len());
    for mut s in input {
        let mut pts = Vec::with_capacity(s.pts.len());
        for p in &s.pts {
            if let Some(v) = f(p.v, step_of(ev, p.t)) {
                pts.push(Pt { t: p.t, v });
            }
        }
        if !pts.is_empty() {
            s.pts = pts;
            s.drop_name |= drop_name;
            out.push(s);
        }
    }
    Ok(Val::Vector(out))
}

/// Runs a range function over the windows of argument `arg`.
fn range_fn(
    ev: &Ev,
    arg: &Expr,
    keep_name: bool,
    mut f: impl FnMut(&SeriesInfo, &Window) -> Res<Option<f64>>,
) -> Res<Val> {
    let mut out: Vec<Ser> = Vec::new();
    let mut cur: Option<usize> = None;
    ev.for_each_window(arg, |info, _i, w| {
        let v = f(info, w)?;
        if let Some(v) = v {
            if cur != Some(info.index) {
                cur = Some(info.index);
                out.push(Ser {
                    labels: info.labels.clone(),
                    pts: Vec::new(),
                    drop_name: info.drop_name || !keep_name,
                });
            }
            if let Some(s) = out.last_mut() {
                s.pts.push(Pt { t: w.ts, v });
                if s.pts.len() % 4096 == 0 {
                    ev.add_samples(4096)?;
                }
            }
        }
        Ok(())
    })?;
    Ok(Val::Vector(out))
}

fn simple(name: &str) -> Option<fn(f64) -> f64> {
    Some(match name {
        "abs" => f64::abs,
        "ceil" => f64::ceil,
        "floor" => f64::floor,
        "exp" => f64::exp,
        "sqrt" => f64::sqrt,
        "ln" => f64::ln,
        "log2" => f64::log2,
        "log10" => f64::log10,
        "sin" => f64::sin,
        "cos" => f64::cos,
        "tan" => f64::tan,
        "asin" => f64::asin,
        "acos" => f64::acos,
        "atan" => f64::atan,
        "sinh" => f64::sinh,
        "cosh" => f64::cosh,
        "tanh" => f64::tanh,
        "asinh" => f64::asinh,
        "acosh" => f64::acosh,
        "atanh" => f64::atanh,
        "deg" => |v: f64| v * 180.0 / std::f64::consts::PI,
        "rad" => |v: f64| v * std::f64::consts::PI / 180.0,
        "sgn" => |v: f64| {
            if v < 0.0 {
                -1.0
            } else if v > 0.0 {
                1.0
            } else {
                v
            }
        },
        _ => return None,
    })
}

fn arg_position(ev: &Ev, c: &Call, idx: usize) -> String {
    let sh = ev.sh.borrow();
    let from = sh.find(&format!("{}(", c.func.name));
    match c.args.args.get(idx) {
        Some(a) => sh.position(&a.to_string(), from),
        None => sh.position(c.func.name, 0),
    }
}

pub(crate) fn eval_call(ev: &Ev, c: &Call) -> Res<Val> {
    let name = c.func.name;
    let args = &c.args.args;
    let n = ev.n();
    let types = c.func.arg_types.len();
    let min_args = match c.func.variadic {
        0 => types,
        v if v > 0 => types.saturating_sub(v as usize),
        _ => types.saturating_sub(1),
    };
    if args.len() < min_args {
        return exec_err(format!(
            "expected at least {min_args} argument(s) in call to \"{name}\", got {}",
            args.len()
        ));
    }
    if let Some(f) = simple(name) {
        let input = vector_arg(ev, &args[0])?;
        return map_points(ev, input, true, |v, _| Some(f(v)));
    }
    match name {
        "time" => Ok(Val::Scalar((0..n).map(|i| ev.ts(i) as f64 / 1000.0).collect())),
        "pi" => Ok(Val::Scalar(vec![std::f64::consts::PI; n])),
        // Query-shape functions (Prometheus 3.x, experimental): constant over the query.
        "step" | "range" | "start" | "end" => {
            let (q_start, q_end, q_step, is_range) = {
                let sh = ev.sh.borrow();
                (sh.q_start, sh.q_end, sh.q_step, sh.is_range)
            };
            let v = match name {
                "step" if is_range => q_step as f64 / 1000.0,
                "step" => 0.0,
                "range" => (q_end - q_start) as f64 / 1000.0,
                "start" => q_start as f64 / 1000.0,
                _ => q_end as f64 / 1000.0,
            };
            Ok(Val::Scalar(vec![v; n]))
        }
        "min_of" | "max_of" => {
            let a = scalar_arg(ev, &args[0])?;
            let b = scalar_arg(ev, &args[1])?;
            let f = if name == "min_of" { go_min } else { go_max };
            Ok(Val::Scalar(a.iter().zip(&b).map(|(x, y)| f(*x, *y)).collect()))
        }
        "vector" => {
            let v = scalar_arg(ev, &args[0])?;
            Ok(Val::Vector(vec![Ser {
                labels: Labels::new(),
                pts: v
                    .iter()
                    .enumerate()
                    .map(|(i, v)| Pt { t: ev.ts(i), v: *v })
                    .collect(),
                drop_name: false,
            }]))
        }
        "scalar" => {
            let input = vector_arg(ev, &args[0])?;
            let mut cur = Cursor::new(input.len());
            let mut out = Vec::with_capacity(n);
            for i in 0..n {
                let t = ev.ts(i);
                let mut found = None;
                let mut count = 0;
                for j in 0..input.len() {
                    if let Some(v) = cur.at(&input, j, t) {
                        count += 1;
                        found = Some(v);
                    }
                }
                out.push(if count == 1 {
                    found.unwrap_or(f64::NAN)
                } else {
                    f64::NAN
                });
            }
            Ok(Val::Scalar(out))
        }
        "round" => {
            let input = vector_arg(ev, &args[0])?;
            let to = match args.get(1) {
                Some(a) => scalar_arg(ev, a)?,
                None => vec![1.0; n],
            };
            map_points(ev, input, true, |v, i| {
                let inv = 1.0 / to[i];
                Some((v * inv + 0.5).floor() / inv)
            })
        }
        "clamp" => {
            let input = vector_arg(ev, &args[0])?;
            let lo = scalar_arg(ev, &args[1])?;
            let hi = scalar_arg(ev, &args[2])?;
            map_points(ev, input, true, |v, i| {
                if hi[i] < lo[i] {
                    None
                } else {
                    Some(go_max(lo[i], go_min(hi[i], v)))
                }
            })
        }
        "clamp_min" => {
            let input = vector_arg(ev, &args[0])?;
            let lo = scalar_arg(ev, &args[1])?;
            map_points(ev, input, true, |v, i| Some(go_max(lo[i], v)))
        }
        "clamp_max" => {
            let input = vector_arg(ev, &args[0])?;
            let hi = scalar_arg(ev, &args[1])?;
            map_points(ev, input, true, |v, i| Some(go_min(hi[i], v)))
        }
        "timestamp" => {
            let input = match unwrap_parens(&args[0]) {
                Expr::VectorSelector(vs) => ev.eval_vector_selector(vs, true)?,
                other => {
                    let mut v = vector_arg(ev, other)?;
                    for s in v.iter_mut() {
                        for p in s.pts.iter_mut() {
                            p.v = p.t as f64 / 1000.0;
                        }
                    }
                    v
                }
            };
            map_points(ev, input, true, |v, _| Some(v))
        }
        "day_of_month" | "day_of_week" | "day_of_year" | "days_in_month" | "hour" | "minute" | "month"
        | "year" => {
            let input = match args.first() {
                Some(a) => vector_arg(ev, a)?,
                None => vec![Ser {
                    labels: Labels::new(),
                    pts: (0..n)
                        .map(|i| Pt {
                            t: ev.ts(i),
                            v: ev.ts(i) as f64 / 1000.0,
                        })
                        .collect(),
                    drop_name: false,
                }],
            };
            map_points(ev, input, true, |v, _| Some(date_part(name, v)))
        }
        "label_replace" => label_replace(ev, c),
        "label_join" => label_join(ev, c),
        "sort" | "sort_desc" | "sort_by_label" | "sort_by_label_desc" => sort_fn(ev, c),
        "absent" => {
            let input = vector_arg(ev, &args[0])?;
            let mut has = vec![false; n];
            for s in &input {
                for p in &s.pts {
                    has[step_of(ev, p.t)] = true;
                }
            }
            let pts: Vec<Pt> = (0..n)
                .filter(|i| !has[*i])
                .map(|i| Pt { t: ev.ts(i), v: 1.0 })
                .collect();
            absent_result(&args[0], pts)
        }
        "absent_over_time" => {
            let mut has = vec![false; n];
            ev.for_each_window(&args[0], |_, i, w| {
                if !w.pts.is_empty() {
                    has[i] = true;
                }
                Ok(())
            })?;
            let pts: Vec<Pt> = (0..n)
                .filter(|i| !has[*i])
                .map(|i| Pt { t: ev.ts(i), v: 1.0 })
                .collect();
            absent_result(&args[0], pts)
        }
        "info" => crate::info::info(ev, c),
        "histogram_quantile" => histogram_quantile(ev, c),
        "histogram_fraction" => histogram_fraction(ev, c),
        "histogram_quantiles" => histogram_quantiles(ev, c),
        "histogram_count" | "histogram_sum" | "histogram_avg" | "histogram_stddev" | "histogram_stdvar" => {
            // Native histograms only: float series have none.
            for a in args.iter() {
                ev.eval(a)?;
            }
            Ok(Val::Vector(Vec::new()))
        }
        _ => eval_range_call(ev, c),
    }
}

fn absent_result(arg: &Expr, pts: Vec<Pt>) -> Res<Val> {
    if pts.is_empty() {
        return Ok(Val::Vector(Vec::new()));
    }
    let vs = match unwrap_parens(arg) {
        Expr::VectorSelector(vs) => Some(vs),
        Expr::MatrixSelector(ms) => Some(&ms.vs),
        Expr::Subquery(_) => None,
        _ => None,
    };
    let mut labels = Labels::new();
    if let Some(vs) = vs {
        if vs.matchers.or_matchers.is_empty() {
            let mut seen: HashMap<&str, usize> = HashMap::new();
            for m in &vs.matchers.matchers {
                if m.name != METRIC_NAME {
                    *seen.entry(m.name.as_str()).or_default() += 1;
                }
            }
            let pairs = vs.matchers.matchers.iter().filter(|m| {
                m.name != METRIC_NAME
                    && matches!(m.op, promql_parser::label::MatchOp::Equal)
                    && seen.get(m.name.as_str()) == Some(&1)
            });
            labels = Labels::from_pairs(pairs.map(|m| (m.name.clone(), m.value.clone())));
        }
    }
    Ok(Val::Vector(vec![Ser {
        labels,
        pts,
        drop_name: false,
    }]))
}

fn eval_range_call(ev: &Ev, c: &Call) -> Res<Val> {
    let name = c.func.name;
    let args = &c.args.args;
    if let Some(x) = args.iter().find_map(|a| crate::extended::ext_range(a)) {
        let allowed = x.kind.allowed();
        if !allowed.contains(&name) {
            return exec_err(format!(
                "{} modifier can only be used with: {} - not with {name}",
                x.kind.name(),
                allowed.join(", ")
            ));
        }
    }
    let n = ev.n();
    let m = &args[0];
    match name {
        "rate" | "increase" | "delta" => {
            let (is_counter, is_rate) = (name != "delta", name == "rate");
            let mut warned_series = usize::MAX;
            let pos_needed = name != "delta";
            range_fn(ev, m, false, |info, w| {
                if pos_needed && warned_series != info.index && !w.pts.is_empty() && !info.drop_name {
                    warned_series = info.index;
                    if let Some(mn) = info.labels.metric_name() {
                        if !["_total", "_sum", "_count", "_bucket"]
                            .iter()
                            .any(|s| mn.ends_with(s))
                        {
                            let pos = arg_position(ev, c, 0);
                            ev.info(format!(
                                "PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {mn:?} ({pos})"
                            ));
                        }
                    }
                }
                Ok(extrapolated_rate(w, is_counter, is_rate))
            })
        }
        "irate" | "idelta" => {
            let is_rate = name == "irate";
            range_fn(ev, m, false, |_, w| {
                let p = w.pts;
                if p.len() < 2 {
                    return Ok(None);
                }
                let (a, b) = (p[p.len() - 2], p[p.len() - 1]);
                let mut v = if is_rate && b.v < a.v { b.v } else { b.v - a.v };
                if is_rate {
                    let dt = b.t - a.t;
                    if dt == 0 {
                        return Ok(None);
                    }
                    v /= dt as f64 / 1000.0;
                }
                Ok(Some(v))
            })
        }
        "deriv" => range_fn(ev, m, false, |_, w| {
            if w.pts.len() < 2 {
                return Ok(None);
            }
            Ok(Some(linear_regression(w.pts, w.pts[0].t).0))
        }),
        "predict_linear" => {
            let d = scalar_arg(ev, &args[1])?;
            range_fn(ev, m, false, |_, w| {
                if w.pts.len() < 2 {
                    return Ok(None);
                }
                let (slope, intercept) = linear_regression(w.pts, w.ts);
                Ok(Some(slope * d[step_of(ev, w.ts)] + intercept))
            })
        }
        "changes" => range_fn(ev, m, false, |_, w| {
            if w.pts.is_empty() {
                return Ok(None);
            }
            let mut changes = 0.0;
            for p in w.pts.windows(2) {
                let (a, b) = (p[0].v, p[1].v);
                if a != b && !(a.is_nan() && b.is_nan()) {
                    changes += 1.0;
                }
            }
            Ok(Some(changes))
        }),
        "resets" => range_fn(ev, m, false, |_, w| {
            if w.pts.is_empty() {
                return Ok(None);
            }
            Ok(Some(w.pts.windows(2).filter(|p| p[1].v < p[0].v).count() as f64))
        }),
        "avg_over_time" => over_time(ev, m, false, |p| {
            let mut acc = AvgAcc::default();
            for x in p {
                acc.add(x.v);
            }
            acc.value()
        }),
        "sum_over_time" => over_time(ev, m, false, |p| {
            let (mut s, mut c) = (0.0, 0.0);
            for x in p {
                (s, c) = kahan_inc(x.v, s, c);
            }
            if s.is_infinite() {
                s
            } else {
                s + c
            }
        }),
        "count_over_time" => over_time(ev, m, false, |p| p.len() as f64),
        "present_over_time" => over_time(ev, m, false, |_| 1.0),
        "last_over_time" => over_time(ev, m, true, |p| p[p.len() - 1].v),
        "first_over_time" => over_time(ev, m, true, |p| p[0].v),
        "ts_of_last_over_time" => over_time(ev, m, false, |p| p[p.len() - 1].t as f64 / 1000.0),
        "ts_of_first_over_time" => over_time(ev, m, false, |p| p[0].t as f64 / 1000.0),
        "max_over_time" | "ts_of_max_over_time" => {
            let ts = name.starts_with("ts_");
            over_time(ev, m, false, move |p| {
                let mut best = p[0];
                for x in &p[1..] {
                    if x.v > best.v || best.v.is_nan() || (ts && x.v == best.v) {
                        best = *x;
                    }
                }
                if ts {
                    best.t as f64 / 1000.0
                } else {
                    best.v
                }
            })
        }
        "min_over_time" | "ts_of_min_over_time" => {
            let ts = name.starts_with("ts_");
            over_time(ev, m, false, move |p| {
                let mut best = p[0];
                for x in &p[1..] {
                    if x.v < best.v || best.v.is_nan() || (ts && x.v == best.v) {
                        best = *x;
                    }
                }
                if ts {
                    best.t as f64 / 1000.0
                } else {
                    best.v
                }
            })
        }
        "stddev_over_time" | "stdvar_over_time" => {
            let dev = name == "stddev_over_time";
            over_time(ev, m, false, move |p| {
                let (mut count, mut mean, mut cm, mut aux, mut ca) = (0.0, 0.0, 0.0, 0.0, 0.0);
                for x in p {
                    count += 1.0;
                    let delta = x.v - (mean + cm);
                    (mean, cm) = kahan_inc(delta / count, mean, cm);
                    (aux, ca) = kahan_inc(delta * (x.v - (mean + cm)), aux, ca);
                }
                let var = (aux + ca) / count;
                if dev {
                    var.sqrt()
                } else {
                    var
                }
            })
        }
        "quantile_over_time" => {
            let q = scalar_arg(ev, &args[0])?;
            let mut warned = false;
            let mut buf = Vec::new();
            range_fn(ev, &args[1], false, |_, w| {
                if w.pts.is_empty() {
                    return Ok(None);
                }
                let qv = q[step_of(ev, w.ts)];
                if !(0.0..=1.0).contains(&qv) && !warned {
                    warned = true;
                    let pos = arg_position(ev, c, 0);
                    ev.warn(format!(
                        "PromQL warning: quantile value should be between 0 and 1, got {} ({pos})",
                        crate::value::format_float(qv)
                    ));
                }
                buf.clear();
                buf.extend(w.pts.iter().map(|p| p.v));
                Ok(Some(quantile(qv, &mut buf)))
            })
        }
        "mad_over_time" => {
            let mut buf = Vec::new();
            range_fn(ev, m, false, |_, w| {
                if w.pts.is_empty() {
                    return Ok(None);
                }
                buf.clear();
                buf.extend(w.pts.iter().map(|p| p.v));
                let med = quantile(0.5, &mut buf);
                buf.clear();
                buf.extend(w.pts.iter().map(|p| (p.v - med).abs()));
                Ok(Some(quantile(0.5, &mut buf)))
            })
        }
        "double_exponential_smoothing" | "holt_winters" => {
            let sf = scalar_arg(ev, &args[1])?;
            let tf = scalar_arg(ev, &args[2])?;
            for i in 0..n {
                if !(sf[i] > 0.0 && sf[i] < 1.0) {
                    return exec_err(format!(
                        "invalid smoothing factor. Expected: 0 < sf < 1, got: {:.6}",
                        sf[i]
                    ));
                }
                if !(tf[i] > 0.0 && tf[i] < 1.0) {
                    return exec_err(format!(
                        "invalid trend factor. Expected: 0 < tf < 1, got: {:.6}",
                        tf[i]
                    ));
                }
            }
            range_fn(ev, m, false, |_, w| {
                let p = w.pts;
                if p.len() < 2 {
                    return Ok(None);
                }
                let i = step_of(ev, w.ts);
                let (sf, tf) = (sf[i], tf[i]);
                let (mut s0, mut s1, mut b) = (0.0, p[0].v, p[1].v - p[0].v);
                for (k, x) in p.iter().enumerate().skip(1) {
                    let xs = sf * x.v;
                    if k > 1 {
                        b = tf * (s1 - s0) + (1.0 - tf) * b;
                    }
                    let y = (1.0 - sf) * (s1 + b);
                    s0 = s1;
                    s1 = xs + y;
                }
                Ok(Some(s1))
            })
        }
        _ => exec_err(format!("function \"{name}\" is not supported")),
    }
}

fn over_time(ev: &Ev, m: &Expr, keep_name: bool, f: impl Fn(&[Pt]) -> f64) -> Res<Val> {
    range_fn(ev, m, keep_name, |_, w| {
        Ok(if w.pts.is_empty() { None } else { Some(f(w.pts)) })
    })
}

/// `rate`/`increase`/`delta` with Prometheus's extrapolation to the window edges.
fn extrapolated_rate(w: &Window, is_counter: bool, is_rate: bool) -> Option<f64> {
    let p = w.pts;
    if w.exact {
        // anchored/smoothed: the window's ends are real values.
        let (first, last) = (p.first()?, p.last()?);
        let mut result = last.v - first.v;
        if is_counter {
            let mut prev = first.v;
            for x in &p[1..] {
                if x.v < prev {
                    result += prev;
                }
                prev = x.v;
            }
        }
        return Some(if is_rate {
            result / (w.range_ms as f64 / 1000.0)
        } else {
            result
        });
    }
    if p.len() < 2 {
        return None;
    }
    let (first, last) = (p[0], p[p.len() - 1]);
    let mut result = last.v - first.v;
    if is_counter {
        let mut prev = first.v;
        for x in &p[1..] {
            if x.v < prev {
                result += prev;
            }
            prev = x.v;
        }
    }
    let mut to_start = (first.t - w.range_start) as f64 / 1000.0;
    let mut to_end = (w.range_end - last.t) as f64 / 1000.0;
    let sampled = (last.t - first.t) as f64 / 1000.0;
    let avg = sampled / (p.len() - 1) as f64;
    let threshold = avg * 1.1;
    if to_start >= threshold {
        to_start = avg / 2.0;
    }
    if is_counter {
        let mut to_zero = to_start;
        if result > 0.0 && first.v >= 0.0 {
            to_zero = sampled * (first.v / result);
        }
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    if to_end >= threshold {
        to_end = avg / 2.0;
    }
    let mut factor = (sampled + to_start + to_end) / sampled;
    if is_rate {
        factor /= w.range_ms as f64 / 1000.0;
    }
    Some(result * factor)
}

/// Least-squares fit of the points with x relative to `intercept_t`: (slope, intercept).
fn linear_regression(p: &[Pt], intercept_t: i64) -> (f64, f64) {
    let (mut n, mut sx, mut cx, mut sy, mut cy, mut sxy, mut cxy, mut sx2, mut cx2) =
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    let init = p[0].v;
    let mut const_y = true;
    for (i, s) in p.iter().enumerate() {
        if const_y && i > 0 && s.v != init {
            const_y = false;
        }
        n += 1.0;
        let x = (s.t - intercept_t) as f64 / 1e3;
        (sx, cx) = kahan_inc(x, sx, cx);
        (sy, cy) = kahan_inc(s.v, sy, cy);
        (sxy, cxy) = kahan_inc(x * s.v, sxy, cxy);
        (sx2, cx2) = kahan_inc(x * x, sx2, cx2);
    }
    if const_y {
        if init.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init);
    }
    sx += cx;
    sy += cy;
    sxy += cxy;
    sx2 += cx2;
    let cov = sxy - sx * sy / n;
    let var = sx2 - sx * sx / n;
    let slope = cov / var;
    (slope, sy / n - slope * sx / n)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// Calendar fields of a Unix time in UTC.
fn date_part(part: &str, v: f64) -> f64 {
    if !v.is_finite() {
        return f64::NAN;
    }
    let secs = v.trunc() as i64;
    let days = secs.div_euclid(86400);
    let sod = secs.rem_euclid(86400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let mut y = yoe + era * 400;
    let doy0 = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy0 + 2) / 153;
    let d = doy0 - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    if m <= 2 {
        y += 1;
    }
    const CUM: [i64; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    const DIM: [i64; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let leap = is_leap(y);
    (match part {
        "day_of_month" => d,
        "day_of_week" => (days + 4).rem_euclid(7),
        "day_of_year" => CUM[(m - 1) as usize] + d + i64::from(leap && m > 2),
        "days_in_month" => DIM[(m - 1) as usize] + i64::from(leap && m == 2),
        "hour" => sod / 3600,
        "minute" => (sod % 3600) / 60,
        "month" => m,
        _ => y,
    }) as f64
}

fn label_replace(ev: &Ev, c: &Call) -> Res<Val> {
    let args = &c.args.args;
    let input = vector_arg(ev, &args[0])?;
    let dst = string_arg(ev, &args[1])?;
    let repl = string_arg(ev, &args[2])?;
    let src = string_arg(ev, &args[3])?;
    let re_s = string_arg(ev, &args[4])?;
    let re = regex::Regex::new(&format!("^(?s:{re_s})$"))
        .map_err(|e| Error::Execution(format!("invalid regular expression in label_replace(): {e}")))?;
    if let Err(quoted) = crate::engine::check_label_name(ev, &dst) {
        return exec_err(format!(
            "invalid destination label name in label_replace(): {quoted}"
        ));
    }
    let mut out = Out::default();
    for s in input {
        let val = s.labels.get(&src).unwrap_or("");
        let (labels, drop) = match re.captures(val) {
            Some(caps) => {
                let mut res = String::new();
                caps.expand(&repl, &mut res);
                let mut b = s.labels.builder();
                b.set(dst.clone(), res);
                (b.build(), if dst == METRIC_NAME { false } else { s.drop_name })
            }
            None => (s.labels.clone(), s.drop_name),
        };
        for p in &s.pts {
            out.push(labels.clone(), drop, p.t, p.v)?;
        }
    }
    Ok(Val::Vector(fix_out_order(out)))
}

/// `Out` keeps points per labels in push order; re-sort points by time.
fn fix_out_order(out: Out) -> Vec<Ser> {
    let mut v = out.series;
    for s in v.iter_mut() {
        if !s.pts.windows(2).all(|w| w[0].t < w[1].t) {
            s.pts.sort_by_key(|p| p.t);
        }
    }
    v
}

fn label_join(ev: &Ev, c: &Call) -> Res<Val> {
    let args = &c.args.args;
    let input = vector_arg(ev, &args[0])?;
    let dst = string_arg(ev, &args[1])?;
    let sep = string_arg(ev, &args[2])?;
    let mut srcs = Vec::new();
    for a in &args[3..] {
        srcs.push(string_arg(ev, a)?);
    }
    if let Err(quoted) = crate::engine::check_label_name(ev, &dst) {
        return exec_err(format!(
            "invalid destination label name in label_join(): {quoted}"
        ));
    }
    let mut out = Out::default();
    for s in input {
        let joined: Vec<&str> = srcs.iter().map(|n| s.labels.get(n).unwrap_or("")).collect();
        let mut b = s.labels.builder();
        b.set(dst.clone(), joined.join(&sep));
        let labels = b.build();
        let drop = if dst == METRIC_NAME { false } else { s.drop_name };
        for p in &s.pts {
            out.push(labels.clone(), drop, p.t, p.v)?;
        }
    }
    Ok(Val::Vector(fix_out_order(out)))
}

/// Natural-order comparison: digit runs compare numerically.
fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (ab, bb) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < ab.len() && j < bb.len() {
        if ab[i].is_ascii_digit() && bb[j].is_ascii_digit() {
            let si = i;
            while i < ab.len() && ab[i].is_ascii_digit() {
                i += 1;
            }
            let sj = j;
            while j < bb.len() && bb[j].is_ascii_digit() {
                j += 1;
            }
            let na = a[si..i].trim_start_matches('0');
            let nb = b[sj..j].trim_start_matches('0');
            let o = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
            if o != Ordering::Equal {
                return o;
            }
        } else {
            if ab[i] != bb[j] {
                return ab[i].cmp(&bb[j]);
            }
            i += 1;
            j += 1;
        }
    }
    (ab.len() - i).cmp(&(bb.len() - j))
}

fn sort_fn(ev: &Ev, c: &Call) -> Res<Val> {
    let name = c.func.name;
    let args = &c.args.args;
    let mut input = vector_arg(ev, &args[0])?;
    let mut names = Vec::new();
    for a in &args[1..] {
        names.push(string_arg(ev, a)?);
    }
    if ev.sh.borrow().is_range {
        let pos = {
            let sh = ev.sh.borrow();
            sh.position(&format!("{name}("), 0)
        };
        ev.warn(format!(
            "PromQL warning: sort is ineffective for range queries since results are always ordered by labels ({pos})"
        ));
        return Ok(Val::Vector(input));
    }
    let first = |s: &Ser| s.pts.first().map(|p| p.v).unwrap_or(f64::NAN);
    match name {
        "sort" => input.sort_by(|a, b| cmp_nan_last(first(a), first(b), false)),
        "sort_desc" => input.sort_by(|a, b| cmp_nan_last(first(a), first(b), true)),
        _ => {
            let desc = name.ends_with("_desc");
            input.sort_by(|a, b| {
                let mut o = std::cmp::Ordering::Equal;
                for n in &names {
                    o = natural_cmp(a.labels.get(n).unwrap_or(""), b.labels.get(n).unwrap_or(""));
                    if o != std::cmp::Ordering::Equal {
                        break;
                    }
                }
                let o = o.then_with(|| a.labels.cmp(&b.labels));
                if desc {
                    o.reverse()
                } else {
                    o
                }
            });
        }
    }
    Ok(Val::Vector(input))
}

fn cmp_nan_last(a: f64, b: f64, desc: bool) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Equal,
        (true, false) => Greater,
        (false, true) => Less,
        _ => {
            let o = a.partial_cmp(&b).unwrap_or(Equal);
            if desc {
                o.reverse()
            } else {
                o
            }
        }
    }
}

/// Groups the series of a classic histogram (`le` buckets) by their labels
/// without `le`, calling `f(group_labels, buckets, step)` per group and step
/// with `(upper_bound, count)` pairs; the result keeps the group's labels
/// minus the metric name.
fn classic_buckets(
    ev: &Ev,
    c: &Call,
    input: Vec<Ser>,
    mut f: impl FnMut(&Labels, &mut Vec<(f64, f64)>, usize) -> Option<f64>,
) -> Res<Val> {
    let n = ev.n();
    let mut gidx: HashMap<Labels, usize> = HashMap::new();
    let mut groups: Vec<Labels> = Vec::new();
    let mut bucket_of: Vec<Option<(usize, f64)>> = Vec::with_capacity(input.len());
    let last = if c.func.name == "histogram_quantiles" {
        0
    } else {
        c.args.args.len().saturating_sub(1)
    };
    for s in &input {
        let le = s.labels.get("le").unwrap_or("");
        let ub = match parse_go_float(le) {
            Some(v) => v,
            None => {
                let pos = arg_position(ev, c, last);
                ev.warn(format!(
                    "PromQL warning: bucket label \"le\" is missing or has a malformed value of {le:?} for metric name {:?} ({pos})",
                    s.labels.metric_name().unwrap_or("")
                ));
                bucket_of.push(None);
                continue;
            }
        };
        let mut b = s.labels.builder();
        b.del("le");
        let key = b.build();
        let g = match gidx.get(&key) {
            Some(&g) => g,
            None => {
                groups.push(key.clone());
                gidx.insert(key, groups.len() - 1);
                groups.len() - 1
            }
        };
        bucket_of.push(Some((g, ub)));
    }
    let out_labels: Vec<Labels> = groups.iter().map(without_name).collect();
    let mut cur = Cursor::new(input.len());
    let mut out = Out::default();
    let mut buckets: Vec<Vec<(f64, f64)>> = vec![Vec::new(); groups.len()];
    for i in 0..n {
        let t = ev.ts(i);
        for b in buckets.iter_mut() {
            b.clear();
        }
        for (j, bo) in bucket_of.iter().enumerate() {
            let Some((g, ub)) = bo else { continue };
            if let Some(v) = cur.at(&input, j, t) {
                buckets[*g].push((*ub, v));
            }
        }
        for (g, b) in buckets.iter_mut().enumerate() {
            if b.is_empty() {
                continue;
            }
            if let Some(v) = f(&groups[g], b, i) {
                out.push(out_labels[g].clone(), false, t, v)?;
            }
        }
    }
    Ok(Val::Vector(out.series))
}

/// `histogram_quantile` over classic `le` buckets.
fn histogram_quantile(ev: &Ev, c: &Call) -> Res<Val> {
    let args = &c.args.args;
    let q = scalar_arg(ev, &args[0])?;
    let input = vector_arg(ev, &args[1])?;
    histogram_quantile_with(ev, c, input, &q, true)
}

/// Quantile `q` (per step) of classic histograms; `warn_q` reports
/// out-of-range quantiles (the caller does it for `histogram_quantiles`).
fn histogram_quantile_with(ev: &Ev, c: &Call, input: Vec<Ser>, q: &[f64], warn_q: bool) -> Res<Val> {
    let mut qwarned = !warn_q;
    let buckets_arg = if warn_q { 1 } else { 0 };
    classic_buckets(ev, c, input, |group, b, i| {
        let qv = q[i];
        if !(0.0..=1.0).contains(&qv) && !qwarned {
            qwarned = true;
            let pos = arg_position(ev, c, 0);
            ev.warn(format!(
                "PromQL warning: quantile value should be between 0 and 1, got {} ({pos})",
                crate::value::format_float(qv)
            ));
        }
        let (v, forced) = bucket_quantile(qv, b);
        if forced {
            let pos = arg_position(ev, c, buckets_arg);
            ev.info(format!(
                "PromQL info: input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) for metric name {:?} ({pos})",
                group.metric_name().unwrap_or("")
            ));
        }
        Some(v)
    })
}

/// `histogram_quantiles(v, "label", q1, q2, ...)`: one series per quantile,
/// told apart by `label` (value formatted like `0.5`, `1.0`).
fn histogram_quantiles(ev: &Ev, c: &Call) -> Res<Val> {
    let args = &c.args.args;
    let input = vector_arg(ev, &args[0])?;
    let label = string_arg(ev, &args[1])?;
    let mut qs = Vec::new();
    for (k, a) in args[2..].iter().enumerate() {
        let q = scalar_arg(ev, a)?;
        if let Some(bad) = q.iter().copied().find(|v| !(0.0..=1.0).contains(v)) {
            let pos = arg_position(ev, c, k + 2);
            ev.warn(format!(
                "PromQL warning: quantile value should be between 0 and 1, got {} ({pos})",
                crate::value::format_float(bad)
            ));
        }
        qs.push(q);
    }
    let mut out = Out::default();
    for q in &qs {
        let Val::Vector(part) = histogram_quantile_with(ev, c, input.clone(), q, false)? else {
            continue;
        };
        for s in part {
            for p in &s.pts {
                // The label holds the step's quantile (constant in practice).
                let mut b = s.labels.builder();
                b.set(label.clone(), quantile_label(q[step_of(ev, p.t)]));
                out.push(b.build(), false, p.t, p.v)?;
            }
        }
    }
    Ok(Val::Vector(fix_out_order(out)))
}

/// A quantile as a label value: shortest form with at least one decimal.
fn quantile_label(q: f64) -> String {
    let s = crate::value::format_float(q);
    if q.is_finite() && !s.contains('.') && !s.contains('e') {
        format!("{s}.0")
    } else {
        s
    }
}

/// `histogram_fraction(lower, upper, buckets)` over classic `le` buckets.
fn histogram_fraction(ev: &Ev, c: &Call) -> Res<Val> {
    let args = &c.args.args;
    let lo = scalar_arg(ev, &args[0])?;
    let hi = scalar_arg(ev, &args[1])?;
    let input = vector_arg(ev, &args[2])?;
    classic_buckets(ev, c, input, |_, b, i| Some(bucket_fraction(lo[i], hi[i], b)))
}

/// Sorts buckets by upper bound and merges equal bounds.
fn coalesce(b: &mut [(f64, f64)]) -> Vec<(f64, f64)> {
    b.sort_by(|x, y| x.0.partial_cmp(&y.0).unwrap_or(std::cmp::Ordering::Equal));
    let mut merged: Vec<(f64, f64)> = Vec::with_capacity(b.len());
    for &(ub, c) in b.iter() {
        match merged.last_mut() {
            Some(last) if last.0 == ub => last.1 += c,
            _ => merged.push((ub, c)),
        }
    }
    merged
}

/// Estimated fraction of observations in `[lower, upper]`, interpolating
/// linearly inside buckets (the first bucket starts at 0 if its bound is positive).
fn bucket_fraction(lower: f64, upper: f64, b: &mut [(f64, f64)]) -> f64 {
    if b.is_empty() {
        return f64::NAN;
    }
    let b = coalesce(b);
    if b.last().map(|x| x.0) != Some(f64::INFINITY) {
        return f64::NAN;
    }
    let count = b[b.len() - 1].1;
    if count == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }
    let (mut rank, mut lower_rank, mut upper_rank) = (0.0, 0.0, 0.0);
    let (mut lower_set, mut upper_set) = (false, false);
    for (i, &(ub, cnt)) in b.iter().enumerate() {
        let lb = if i > 0 {
            b[i - 1].0
        } else if ub > 0.0 {
            0.0
        } else {
            f64::NEG_INFINITY
        };
        let interp = |v: f64| -> f64 {
            if lb == f64::NEG_INFINITY || ub == f64::INFINITY {
                // No finite width to interpolate over.
                if v >= ub {
                    cnt
                } else {
                    rank
                }
            } else {
                rank + (cnt - rank) * (v - lb) / (ub - lb)
            }
        };
        if !lower_set && lb >= lower {
            lower_rank = rank;
            lower_set = true;
        }
        if !upper_set && lb >= upper {
            upper_rank = rank;
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        if !lower_set && lb < lower && ub > lower {
            lower_rank = interp(lower);
            lower_set = true;
        }
        if !upper_set && lb < upper && ub > upper {
            upper_rank = interp(upper);
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        rank = cnt;
    }
    if !lower_set || lower_rank > count {
        lower_rank = count;
    }
    if !upper_set || upper_rank > count {
        upper_rank = count;
    }
    (upper_rank - lower_rank) / count
}

/// Parses a float the way Go's `strconv.ParseFloat` accepts `le` values.
pub(crate) fn parse_go_float(s: &str) -> Option<f64> {
    let t = s.trim();
    if t != s || t.is_empty() {
        return None;
    }
    match t.to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => return Some(f64::INFINITY),
        "-inf" | "-infinity" => return Some(f64::NEG_INFINITY),
        "nan" => return Some(f64::NAN),
        _ => {}
    }
    if t.contains('_') {
        return None;
    }
    t.parse::<f64>().ok().filter(|v| !v.is_nan())
}

/// Prometheus's bucket interpolation; returns (quantile, forced monotonic).
fn bucket_quantile(q: f64, b: &mut [(f64, f64)]) -> (f64, bool) {
    if q.is_nan() {
        return (f64::NAN, false);
    }
    if q < 0.0 {
        return (f64::NEG_INFINITY, false);
    }
    if q > 1.0 {
        return (f64::INFINITY, false);
    }
    if b.is_empty() {
        return (f64::NAN, false);
    }
    let mut merged = coalesce(b);
    if merged.last().map(|x| x.0) != Some(f64::INFINITY) {
        return (f64::NAN, false);
    }
    let b = &mut merged;
    let mut forced = false;
    let mut prev = b[0].1;
    for x in b.iter_mut().skip(1) {
        let cur = x.1;
        if cur == prev {
            continue;
        }
        if almost_equal(prev, cur, 1e-12) {
            x.1 = prev;
            continue;
        }
        if cur < prev {
            x.1 = prev;
            forced = true;
            continue;
        }
        prev = cur;
    }
    if b.len() < 2 {
        return (f64::NAN, forced);
    }
    let obs = b[b.len() - 1].1;
    if obs == 0.0 {
        return (f64::NAN, forced);
    }
    let mut rank = q * obs;
    let idx = b[..b.len() - 1].partition_point(|x| x.1 < rank);
    if idx == b.len() - 1 {
        return (b[b.len() - 2].0, forced);
    }
    if idx == 0 && b[0].0 <= 0.0 {
        return (b[0].0, forced);
    }
    let (mut start, end, mut count) = (0.0, b[idx].0, b[idx].1);
    if idx > 0 {
        start = b[idx - 1].0;
        count -= b[idx - 1].1;
        rank -= b[idx - 1].1;
    }
    (start + (end - start) * (rank / count), forced)
}

/// Prometheus's relative float comparison.
pub(crate) fn almost_equal(a: f64, b: f64, eps: f64) -> bool {
    if a == b {
        return true;
    }
    if a.is_nan() && b.is_nan() {
        return true;
    }
    let min_normal = f64::from_bits(0x0010000000000000);
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < min_normal {
        return diff < eps * min_normal;
    }
    diff / abs_sum.min(f64::MAX) < eps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        // 2024-02-29T13:45:00Z
        let t = 1_709_214_300.0;
        assert_eq!(date_part("year", t), 2024.0);
        assert_eq!(date_part("month", t), 2.0);
        assert_eq!(date_part("day_of_month", t), 29.0);
        assert_eq!(date_part("days_in_month", t), 29.0);
        assert_eq!(date_part("day_of_year", t), 60.0);
        assert_eq!(date_part("day_of_week", t), 4.0);
        assert_eq!(date_part("hour", t), 13.0);
        assert_eq!(date_part("minute", t), 45.0);
        assert_eq!(date_part("year", -1.0), 1969.0);
    }

    #[test]
    fn natural_order() {
        assert_eq!(natural_cmp("a10", "a9"), std::cmp::Ordering::Greater);
        assert_eq!(natural_cmp("a1", "b0"), std::cmp::Ordering::Less);
    }

    #[test]
    fn buckets() {
        let mut b = vec![(0.1, 1.0), (0.5, 3.0), (f64::INFINITY, 4.0)];
        assert!((bucket_quantile(0.5, &mut b).0 - 0.3).abs() < 1e-12);
        let mut b = vec![(0.1, 1.0), (0.5, 0.5), (f64::INFINITY, 4.0)];
        assert!(bucket_quantile(0.5, &mut b).1);
    }
}
