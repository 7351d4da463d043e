//! A TraceQL subset: parser and evaluator.
//!
//! Supported:
//! - span filters `{ <expr> }` and the empty filter `{}`; spanset
//!   combinators `{..} && {..}` (the trace has spans matching both; the
//!   union is returned) and `{..} || {..}`;
//! - field expressions with `&&`, `||`, `!`, parentheses, and comparisons
//!   `= != > >= < <= =~ !~` (regexes fully anchored, as in Tempo);
//! - attributes `span.x`, `resource.x`, `.x` (span, then resource);
//!   intrinsics `duration`, `name`, `status`, `kind`, `statusMessage`,
//!   `rootName`, `rootServiceName`, `traceDuration` (also with a `span:`
//!   or `trace:` prefix);
//! - literals: strings, integers, floats, durations (`ns us µs ms s m h`),
//!   `true`/`false`, statuses `ok`/`error`/`unset`, kinds `server`,
//!   `client`, `producer`, `consumer`, `internal`, `unspecified`;
//! - aggregate pipeline stages `| count() <op> n`, and
//!   `| avg|min|max|sum(duration) <op> d`.
//!
//! Comparisons between incompatible types are false (never an error at
//! evaluation); a missing attribute compares false except with `!=`.

use crate::model::{Span, SpanKind, StatusCode, Value};
use crate::store::{from_record, LABEL_SERVICE};
use crate::{TraceError, TraceStore};
use regex::Regex;
use sightline_logstore::{Direction, SelectRequest};
use sightline_model::{MatchOp, Matcher};
use std::collections::HashMap;

fn bad(m: impl Into<String>) -> TraceError {
    TraceError::BadInput(format!("invalid TraceQL: {}", m.into()))
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    LBrace,
    RBrace,
    LParen,
    RParen,
    Pipe,
    And,
    Or,
    Not,
    Op(CmpOp),
    Ident(String),
    Str(String),
    Num(f64, bool),
    Dur(i64),
}

/// Comparison operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Re,
    Nre,
}

fn lex(s: &str) -> Result<Vec<Tok>, TraceError> {
    let b: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        let c = b[i];
        let n = b.get(i + 1).copied();
        match c {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '{' => (out.push(Tok::LBrace), i += 1).1,
            '}' => (out.push(Tok::RBrace), i += 1).1,
            '(' => (out.push(Tok::LParen), i += 1).1,
            ')' => (out.push(Tok::RParen), i += 1).1,
            '|' if n == Some('|') => (out.push(Tok::Or), i += 2).1,
            '|' => (out.push(Tok::Pipe), i += 1).1,
            '&' if n == Some('&') => (out.push(Tok::And), i += 2).1,
            '=' if n == Some('~') => (out.push(Tok::Op(CmpOp::Re)), i += 2).1,
            '=' => (out.push(Tok::Op(CmpOp::Eq)), i += 1).1,
            '!' if n == Some('=') => (out.push(Tok::Op(CmpOp::Ne)), i += 2).1,
            '!' if n == Some('~') => (out.push(Tok::Op(CmpOp::Nre)), i += 2).1,
            '!' => (out.push(Tok::Not), i += 1).1,
            '>' if n == Some('=') => (out.push(Tok::Op(CmpOp::Ge)), i += 2).1,
            '>' => (out.push(Tok::Op(CmpOp::Gt)), i += 1).1,
            '<' if n == Some('=') => (out.push(Tok::Op(CmpOp::Le)), i += 2).1,
            '<' => (out.push(Tok::Op(CmpOp::Lt)), i += 1).1,
            '"' | '`' => {
                let q = c;
                let mut v = String::new();
                i += 1;
                loop {
                    let Some(&ch) = b.get(i) else {
                        return Err(bad("unterminated string"));
                    };
                    i += 1;
                    if ch == q {
                        break;
                    }
                    if ch == '\\' && q == '"' {
                        let Some(&e) = b.get(i) else {
                            return Err(bad("unterminated string"));
                        };
                        i += 1;
                        v.push(match e {
                            'n' => '\n',
                            't' => '\t',
                            other => other,
                        });
                    } else {
                        v.push(ch);
                    }
                }
                out.push(Tok::Str(v));
            }
            '0'..='9' | '-' if c != '-' || n.is_some_and(|x| x.is_ascii_digit()) => {
                let st = i;
                i += 1;
                while i < b.len() && (b[i].is_ascii_digit() || b[i] == '.') {
                    i += 1;
                }
                let num: String = b[st..i].iter().collect();
                let us = i;
                while i < b.len() && (b[i].is_ascii_alphabetic() || b[i] == 'µ') {
                    i += 1;
                }
                let unit: String = b[us..i].iter().collect();
                let f: f64 = num.parse().map_err(|_| bad(format!("invalid number {num:?}")))?;
                if unit.is_empty() {
                    out.push(Tok::Num(f, !num.contains('.')));
                } else {
                    let mul = match unit.as_str() {
                        "ns" => 1.0,
                        "us" | "µs" => 1e3,
                        "ms" => 1e6,
                        "s" => 1e9,
                        "m" => 60e9,
                        "h" => 3600e9,
                        _ => return Err(bad(format!("unknown duration unit {unit:?}"))),
                    };
                    out.push(Tok::Dur((f * mul).round() as i64));
                }
            }
            c if c.is_alphabetic() || c == '_' || c == '.' => {
                let st = i;
                while i < b.len() && (b[i].is_alphanumeric() || matches!(b[i], '_' | '.' | ':' | '-' | '/')) {
                    i += 1;
                }
                out.push(Tok::Ident(b[st..i].iter().collect()));
            }
            _ => return Err(bad(format!("unexpected character {c:?}"))),
        }
    }
    Ok(out)
}

/// Where an attribute is looked up.
#[derive(Clone, Debug, PartialEq)]
pub enum Field {
    Span(String),
    Resource(String),
    Any(String),
    Duration,
    Name,
    Status,
    StatusMessage,
    Kind,
    RootName,
    RootServiceName,
    TraceDuration,
}

/// A literal or field value.
#[derive(Clone, Debug, PartialEq)]
pub enum Lit {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Dur(i64),
    Status(StatusCode),
    Kind(SpanKind),
}

#[derive(Clone, Debug)]
pub enum Expr {
    Cmp(Field, CmpOp, Lit, Option<Regex>),
    /// A bare field: true when present and (for booleans) true.
    Exists(Field),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    True,
}

#[derive(Clone, Debug)]
pub enum Spanset {
    Filter(Expr),
    And(Box<Spanset>, Box<Spanset>),
    Or(Box<Spanset>, Box<Spanset>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AggFn {
    Count,
    Avg,
    Min,
    Max,
    Sum,
}

/// `| fn(arg) op value`.
#[derive(Clone, Debug)]
pub struct Aggregate {
    pub func: AggFn,
    pub op: CmpOp,
    pub value: f64,
}

/// A parsed query.
#[derive(Clone, Debug)]
pub struct Query {
    pub spanset: Spanset,
    pub aggregates: Vec<Aggregate>,
}

struct P {
    t: Vec<Tok>,
    i: usize,
}

impl P {
    fn peek(&self) -> Option<&Tok> {
        self.t.get(self.i)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.t.get(self.i).cloned();
        self.i += 1;
        t
    }
    fn expect(&mut self, t: Tok, what: &str) -> Result<(), TraceError> {
        match self.next() {
            Some(x) if x == t => Ok(()),
            other => Err(bad(format!("expected {what}, found {}", show(other.as_ref())))),
        }
    }
}

fn show(t: Option<&Tok>) -> String {
    match t {
        None => "end of query".into(),
        Some(t) => format!("{t:?}"),
    }
}

/// Parses a TraceQL query.
pub fn parse(q: &str) -> Result<Query, TraceError> {
    if q.len() > 64 * 1024 {
        return Err(bad("query too long"));
    }
    let mut p = P { t: lex(q)?, i: 0 };
    let spanset = spanset_or(&mut p, 0)?;
    let mut aggregates = Vec::new();
    while p.peek() == Some(&Tok::Pipe) {
        p.next();
        aggregates.push(aggregate(&mut p)?);
    }
    if p.peek().is_some() {
        return Err(bad(format!("unexpected {}", show(p.peek()))));
    }
    Ok(Query { spanset, aggregates })
}

const MAX_DEPTH: usize = 64;

fn spanset_or(p: &mut P, d: usize) -> Result<Spanset, TraceError> {
    let mut l = spanset_and(p, d)?;
    while p.peek() == Some(&Tok::Or) {
        p.next();
        l = Spanset::Or(Box::new(l), Box::new(spanset_and(p, d)?));
    }
    Ok(l)
}

fn spanset_and(p: &mut P, d: usize) -> Result<Spanset, TraceError> {
    let mut l = spanset_primary(p, d)?;
    while p.peek() == Some(&Tok::And) {
        p.next();
        l = Spanset::And(Box::new(l), Box::new(spanset_primary(p, d)?));
    }
    Ok(l)
}

fn spanset_primary(p: &mut P, d: usize) -> Result<Spanset, TraceError> {
    if d > MAX_DEPTH {
        return Err(bad("nesting too deep"));
    }
    match p.next() {
        Some(Tok::LBrace) => {
            if p.peek() == Some(&Tok::RBrace) {
                p.next();
                return Ok(Spanset::Filter(Expr::True));
            }
            let e = expr_or(p, d + 1)?;
            p.expect(Tok::RBrace, "'}'")?;
            Ok(Spanset::Filter(e))
        }
        Some(Tok::LParen) => {
            let s = spanset_or(p, d + 1)?;
            p.expect(Tok::RParen, "')'")?;
            Ok(s)
        }
        other => Err(bad(format!("expected '{{', found {}", show(other.as_ref())))),
    }
}

fn expr_or(p: &mut P, d: usize) -> Result<Expr, TraceError> {
    let mut l = expr_and(p, d)?;
    while p.peek() == Some(&Tok::Or) {
        p.next();
        l = Expr::Or(Box::new(l), Box::new(expr_and(p, d)?));
    }
    Ok(l)
}

fn expr_and(p: &mut P, d: usize) -> Result<Expr, TraceError> {
    let mut l = expr_unary(p, d)?;
    while p.peek() == Some(&Tok::And) {
        p.next();
        l = Expr::And(Box::new(l), Box::new(expr_unary(p, d)?));
    }
    Ok(l)
}

fn expr_unary(p: &mut P, d: usize) -> Result<Expr, TraceError> {
    if d > MAX_DEPTH {
        return Err(bad("nesting too deep"));
    }
    match p.peek() {
        Some(Tok::Not) => {
            p.next();
            Ok(Expr::Not(Box::new(expr_unary(p, d + 1)?)))
        }
        Some(Tok::LParen) => {
            p.next();
            let e = expr_or(p, d + 1)?;
            p.expect(Tok::RParen, "')'")?;
            Ok(e)
        }
        _ => comparison(p),
    }
}

fn field(name: &str) -> Result<Field, TraceError> {
    let n = name
        .strip_prefix("span:")
        .or_else(|| name.strip_prefix("trace:"))
        .unwrap_or(name);
    Ok(match n {
        "duration" => Field::Duration,
        "name" => Field::Name,
        "status" => Field::Status,
        "statusMessage" => Field::StatusMessage,
        "kind" => Field::Kind,
        "rootName" => Field::RootName,
        "rootServiceName" | "rootService" => Field::RootServiceName,
        "traceDuration" => Field::TraceDuration,
        _ => {
            if let Some(k) = name.strip_prefix("span.") {
                Field::Span(k.into())
            } else if let Some(k) = name.strip_prefix("resource.") {
                Field::Resource(k.into())
            } else if let Some(k) = name.strip_prefix('.') {
                Field::Any(k.into())
            } else {
                return Err(bad(format!(
                    "unknown field {name:?} (attributes need a span., resource. or . scope)"
                )));
            }
        }
    })
}

fn literal(t: Option<Tok>) -> Result<Lit, TraceError> {
    Ok(match t {
        Some(Tok::Str(s)) => Lit::Str(s),
        Some(Tok::Num(f, true)) if f.abs() < 9.2e18 => Lit::Int(f as i64),
        Some(Tok::Num(f, _)) => Lit::Float(f),
        Some(Tok::Dur(d)) => Lit::Dur(d),
        Some(Tok::Ident(i)) => match i.as_str() {
            "true" => Lit::Bool(true),
            "false" => Lit::Bool(false),
            "ok" | "error" | "unset" => Lit::Status(StatusCode::parse(&i).unwrap_or_default()),
            "server" | "client" | "producer" | "consumer" | "internal" | "unspecified" => {
                Lit::Kind(SpanKind::parse(&i).unwrap_or_default())
            }
            _ => return Err(bad(format!("expected a value, found {i:?}"))),
        },
        other => return Err(bad(format!("expected a value, found {}", show(other.as_ref())))),
    })
}

fn comparison(p: &mut P) -> Result<Expr, TraceError> {
    let f = match p.next() {
        Some(Tok::Ident(n)) => field(&n)?,
        other => return Err(bad(format!("expected a field, found {}", show(other.as_ref())))),
    };
    let op = match p.peek() {
        Some(Tok::Op(op)) => *op,
        _ => return Ok(Expr::Exists(f)),
    };
    p.next();
    let lit = literal(p.next())?;
    let re = match (op, &lit) {
        (CmpOp::Re | CmpOp::Nre, Lit::Str(s)) => {
            Some(Regex::new(&format!("^(?:{s})$")).map_err(|e| bad(format!("invalid regex {s:?}: {e}")))?)
        }
        (CmpOp::Re | CmpOp::Nre, _) => return Err(bad("a regex match needs a string")),
        _ => None,
    };
    Ok(Expr::Cmp(f, op, lit, re))
}

fn aggregate(p: &mut P) -> Result<Aggregate, TraceError> {
    let func = match p.next() {
        Some(Tok::Ident(n)) => match n.as_str() {
            "count" => AggFn::Count,
            "avg" => AggFn::Avg,
            "min" => AggFn::Min,
            "max" => AggFn::Max,
            "sum" => AggFn::Sum,
            _ => return Err(bad(format!("unsupported pipeline stage {n:?}"))),
        },
        other => {
            return Err(bad(format!(
                "expected an aggregate, found {}",
                show(other.as_ref())
            )))
        }
    };
    p.expect(Tok::LParen, "'('")?;
    if func != AggFn::Count {
        match p.next() {
            Some(Tok::Ident(n)) if field(&n)? == Field::Duration => {}
            other => {
                return Err(bad(format!(
                    "only duration can be aggregated, found {}",
                    show(other.as_ref())
                )))
            }
        }
    }
    p.expect(Tok::RParen, "')'")?;
    let op = match p.next() {
        Some(Tok::Op(op)) if !matches!(op, CmpOp::Re | CmpOp::Nre) => op,
        other => {
            return Err(bad(format!(
                "expected a comparison, found {}",
                show(other.as_ref())
            )))
        }
    };
    let value = match p.next() {
        Some(Tok::Num(f, _)) => f,
        Some(Tok::Dur(d)) => d as f64,
        other => return Err(bad(format!("expected a number, found {}", show(other.as_ref())))),
    };
    Ok(Aggregate { func, op, value })
}

// -------------------------------------------------------------- evaluation

/// Per-trace context for trace-level intrinsics.
struct TraceCtx {
    root_name: String,
    root_service: String,
    duration: i64,
}

fn trace_ctx(spans: &[Span]) -> TraceCtx {
    let root = spans
        .iter()
        .find(|s| s.parent_span_id.is_none())
        .or_else(|| spans.iter().min_by_key(|s| s.start_ns));
    let start = spans.iter().map(|s| s.start_ns).min().unwrap_or(0);
    let end = spans.iter().map(|s| s.end_ns).max().unwrap_or(0);
    TraceCtx {
        root_name: root.map(|r| r.name.clone()).unwrap_or_default(),
        root_service: root.map(|r| r.service_name()).unwrap_or_default(),
        duration: end - start,
    }
}

fn lit_of(v: &Value) -> Lit {
    match v {
        Value::Str(s) => Lit::Str(s.clone()),
        Value::Int(i) => Lit::Int(*i),
        Value::Double(d) => Lit::Float(*d),
        Value::Bool(b) => Lit::Bool(*b),
        other => Lit::Str(other.as_text()),
    }
}

fn get(f: &Field, s: &Span, t: &TraceCtx) -> Option<Lit> {
    Some(match f {
        Field::Span(k) => lit_of(s.attr(k)?),
        Field::Resource(k) if k == "service.name" => Lit::Str(s.service_name()),
        Field::Resource(k) => lit_of(s.resource_attr(k)?),
        Field::Any(k) if k == "service.name" && s.attr(k).is_none() => Lit::Str(s.service_name()),
        Field::Any(k) => lit_of(s.attr(k).or_else(|| s.resource_attr(k))?),
        Field::Duration => Lit::Dur(s.duration_ns()),
        Field::Name => Lit::Str(s.name.clone()),
        Field::Status => Lit::Status(s.status.code),
        Field::StatusMessage => Lit::Str(s.status.message.clone()),
        Field::Kind => Lit::Kind(s.kind),
        Field::RootName => Lit::Str(t.root_name.clone()),
        Field::RootServiceName => Lit::Str(t.root_service.clone()),
        Field::TraceDuration => Lit::Dur(t.duration),
    })
}

fn ord(op: CmpOp, o: std::cmp::Ordering) -> bool {
    use std::cmp::Ordering::*;
    match op {
        CmpOp::Eq => o == Equal,
        CmpOp::Ne => o != Equal,
        CmpOp::Gt => o == Greater,
        CmpOp::Ge => o != Less,
        CmpOp::Lt => o == Less,
        CmpOp::Le => o != Greater,
        CmpOp::Re | CmpOp::Nre => false,
    }
}

fn num(l: &Lit) -> Option<f64> {
    match l {
        Lit::Int(i) => Some(*i as f64),
        Lit::Float(f) => Some(*f),
        Lit::Dur(d) => Some(*d as f64),
        _ => None,
    }
}

fn compare(a: &Lit, op: CmpOp, b: &Lit, re: Option<&Regex>) -> bool {
    if let Some(re) = re {
        let s = match a {
            Lit::Str(s) => s.clone(),
            Lit::Int(i) => i.to_string(),
            _ => return false,
        };
        return re.is_match(&s) == (op == CmpOp::Re);
    }
    match (a, b) {
        (Lit::Str(x), Lit::Str(y)) => ord(op, x.as_str().cmp(y.as_str())),
        (Lit::Bool(x), Lit::Bool(y)) => matches!(op, CmpOp::Eq | CmpOp::Ne) && ord(op, x.cmp(y)),
        (Lit::Status(x), Lit::Status(y)) => matches!(op, CmpOp::Eq | CmpOp::Ne) && ord(op, x.cmp(y)),
        (Lit::Kind(x), Lit::Kind(y)) => matches!(op, CmpOp::Eq | CmpOp::Ne) && ord(op, x.cmp(y)),
        (Lit::Dur(_), Lit::Int(_) | Lit::Float(_)) | (Lit::Int(_) | Lit::Float(_), Lit::Dur(_)) => false,
        _ => match (num(a), num(b)) {
            (Some(x), Some(y)) => x.partial_cmp(&y).is_some_and(|o| ord(op, o)),
            _ => false,
        },
    }
}

fn eval_expr(e: &Expr, s: &Span, t: &TraceCtx) -> bool {
    match e {
        Expr::True => true,
        Expr::And(a, b) => eval_expr(a, s, t) && eval_expr(b, s, t),
        Expr::Or(a, b) => eval_expr(a, s, t) || eval_expr(b, s, t),
        Expr::Not(a) => !eval_expr(a, s, t),
        Expr::Exists(f) => match get(f, s, t) {
            Some(Lit::Bool(b)) => b,
            Some(_) => true,
            None => false,
        },
        Expr::Cmp(f, op, lit, re) => match get(f, s, t) {
            Some(v) => compare(&v, *op, lit, re.as_ref()),
            None => *op == CmpOp::Ne || *op == CmpOp::Nre,
        },
    }
}

fn eval_set(q: &Spanset, spans: &[Span], t: &TraceCtx) -> Vec<usize> {
    match q {
        Spanset::Filter(e) => (0..spans.len()).filter(|&i| eval_expr(e, &spans[i], t)).collect(),
        Spanset::And(a, b) => {
            let (x, y) = (eval_set(a, spans, t), eval_set(b, spans, t));
            if x.is_empty() || y.is_empty() {
                Vec::new()
            } else {
                union(x, y)
            }
        }
        Spanset::Or(a, b) => union(eval_set(a, spans, t), eval_set(b, spans, t)),
    }
}

fn union(mut x: Vec<usize>, y: Vec<usize>) -> Vec<usize> {
    x.extend(y);
    x.sort_unstable();
    x.dedup();
    x
}

impl Query {
    /// The spans of one whole trace that the query selects (empty: the
    /// trace does not match).
    pub fn eval(&self, trace: &[Span]) -> Vec<Span> {
        let t = trace_ctx(trace);
        let idx = eval_set(&self.spanset, trace, &t);
        if idx.is_empty() {
            return Vec::new();
        }
        for a in &self.aggregates {
            let durs = idx.iter().map(|&i| trace[i].duration_ns() as f64);
            let v = match a.func {
                AggFn::Count => idx.len() as f64,
                AggFn::Sum => durs.sum(),
                AggFn::Avg => durs.sum::<f64>() / idx.len() as f64,
                AggFn::Min => durs.fold(f64::INFINITY, f64::min),
                AggFn::Max => durs.fold(f64::NEG_INFINITY, f64::max),
            };
            if !v.partial_cmp(&a.value).is_some_and(|o| ord(a.op, o)) {
                return Vec::new();
            }
        }
        idx.into_iter().map(|i| trace[i].clone()).collect()
    }

    /// Whether the query can select a span with this trace context ignored
    /// (used to pick candidate traces while scanning).
    fn may_select(&self, s: &Span) -> bool {
        fn any(q: &Spanset, s: &Span, t: &TraceCtx) -> bool {
            match q {
                Spanset::Filter(e) => uses_trace(e) || eval_expr(e, s, t),
                Spanset::And(a, b) | Spanset::Or(a, b) => any(a, s, t) || any(b, s, t),
            }
        }
        let t = TraceCtx {
            root_name: String::new(),
            root_service: String::new(),
            duration: 0,
        };
        any(&self.spanset, s, &t)
    }
}

fn uses_trace(e: &Expr) -> bool {
    match e {
        Expr::Cmp(f, ..) | Expr::Exists(f) => {
            matches!(f, Field::RootName | Field::RootServiceName | Field::TraceDuration)
        }
        Expr::And(a, b) | Expr::Or(a, b) => uses_trace(a) || uses_trace(b),
        Expr::Not(a) => uses_trace(a),
        Expr::True => false,
    }
}

/// A matching trace: all its spans, and the spans the query selected.
pub type Match = (Vec<Span>, Vec<Span>);

/// Runs `query` over spans starting in `[start_ns, end_ns)`, newest first:
/// candidate traces are those with a span the query may select; each
/// candidate's whole trace is then evaluated. Returns up to `limit`
/// `(trace, matched spans)` pairs and the number of traces inspected.
/// At most `max_scan` spans are read.
pub fn search(
    store: &TraceStore,
    tenant: &str,
    query: &Query,
    start_ns: i64,
    end_ns: i64,
    limit: usize,
    max_scan: usize,
) -> Result<(Vec<Match>, u64), TraceError> {
    let m = vec![Matcher::new(MatchOp::Regex, LABEL_SERVICE, ".+").expect("valid regex")];
    let sel = SelectRequest::new(m, start_ns, end_ns)
        .direction(Direction::Backward)
        .limit(max_scan.max(1));
    let mut seen: HashMap<[u8; 16], ()> = HashMap::new();
    let mut out = Vec::new();
    let mut inspected = 0u64;
    for r in store.log_store().select(tenant, &sel)? {
        let r = r?;
        let s = from_record(&r)?;
        if seen.contains_key(&s.trace_id) || !query.may_select(&s) {
            continue;
        }
        seen.insert(s.trace_id, ());
        inspected += 1;
        let trace = store.trace(tenant, s.trace_id)?;
        let matched = query.eval(&trace);
        if !matched.is_empty() {
            out.push((trace, matched));
            if out.len() >= limit.max(1) {
                break;
            }
        }
    }
    Ok((out, inspected))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sp(id: u8, parent: Option<u8>, svc: &str, name: &str, dur_ms: i64) -> Span {
        Span {
            trace_id: [1; 16],
            span_id: [id; 8],
            parent_span_id: parent.map(|p| [p; 8]),
            name: name.into(),
            kind: if parent.is_none() {
                SpanKind::Server
            } else {
                SpanKind::Client
            },
            start_ns: 0,
            end_ns: dur_ms * 1_000_000,
            resource: vec![("service.name".into(), Value::Str(svc.into()))],
            ..Default::default()
        }
    }

    fn trace() -> Vec<Span> {
        let mut a = sp(1, None, "frontend", "GET /dispatch", 700);
        a.attributes.push(("http.status_code".into(), Value::Int(200)));
        let mut b = sp(2, Some(1), "frontend", "HTTP GET /customer", 300);
        b.attributes
            .push(("http.method".into(), Value::Str("GET".into())));
        let mut c = sp(3, Some(2), "mysql", "SQL SELECT", 250);
        c.status.code = StatusCode::Error;
        c.attributes
            .push(("sql.query".into(), Value::Str("select *".into())));
        c.attributes.push(("retry".into(), Value::Bool(true)));
        vec![a, b, c]
    }

    fn names(q: &str) -> Vec<String> {
        parse(q)
            .unwrap()
            .eval(&trace())
            .into_iter()
            .map(|s| s.name)
            .collect()
    }

    #[test]
    fn filters() {
        assert_eq!(names(r#"{ resource.service.name = "mysql" }"#), ["SQL SELECT"]);
        assert_eq!(
            names(r#"{ span.http.method = "GET" && resource.service.name = "frontend" }"#),
            ["HTTP GET /customer"]
        );
        assert_eq!(
            names(r#"{ .http.status_code >= 200 && .http.status_code < 300 }"#),
            ["GET /dispatch"]
        );
        assert_eq!(
            names("{ duration > 280ms }"),
            ["GET /dispatch", "HTTP GET /customer"]
        );
        assert_eq!(names("{ duration <= 250ms }"), ["SQL SELECT"]);
        assert_eq!(names("{ status = error }"), ["SQL SELECT"]);
        assert_eq!(names("{ kind = server }"), ["GET /dispatch"]);
        assert_eq!(names(r#"{ name =~ "HTTP.*" }"#), ["HTTP GET /customer"]);
        assert_eq!(names(r#"{ name =~ "HTTP" }"#), Vec::<String>::new(), "anchored");
        assert_eq!(names(r#"{ name !~ ".*SQL.*" }"#).len(), 2);
        assert_eq!(names(r#"{ span.missing != "x" }"#).len(), 3);
        assert_eq!(names("{ .retry }"), ["SQL SELECT"]);
        assert_eq!(names("{ !(kind = server) }").len(), 2);
        assert_eq!(names(r#"{ name = "SQL SELECT" || kind = server }"#).len(), 2);
        assert_eq!(names("{}").len(), 3);
        assert_eq!(
            names(r#"{ rootServiceName = "frontend" && status = error }"#),
            ["SQL SELECT"]
        );
        assert_eq!(
            names("{ traceDuration > 500ms && kind = server }"),
            ["GET /dispatch"]
        );
        assert_eq!(names(r#"{ span:name = "SQL SELECT" }"#), ["SQL SELECT"]);
        // incompatible types are false
        assert!(names(r#"{ duration = "x" }"#).is_empty());
    }

    #[test]
    fn spansets_and_aggregates() {
        assert_eq!(names(r#"{ status = error } && { kind = server }"#).len(), 2);
        assert!(names(r#"{ status = error } && { name = "nope" }"#).is_empty());
        assert_eq!(names(r#"{ status = error } || { name = "nope" }"#).len(), 1);
        assert_eq!(
            names(r#"{ resource.service.name = "frontend" } | count() > 1"#).len(),
            2
        );
        assert!(names(r#"{ resource.service.name = "frontend" } | count() > 2"#).is_empty());
        assert_eq!(names("{ } | avg(duration) > 400ms").len(), 3);
        assert!(names("{ } | max(duration) < 700ms").is_empty());
        assert_eq!(names("{ } | count() = 3 | min(duration) >= 250ms").len(), 3);
    }

    #[test]
    fn parse_errors() {
        for (q, want) in [
            ("", "expected '{'"),
            ("{ name = }", "expected a value"),
            ("{ foo = 1 }", "unknown field"),
            ("{ name = \"x\"", "expected '}'"),
            ("{ name =~ 3 }", "needs a string"),
            ("{ name =~ \"(\" }", "invalid regex"),
            ("{ duration > 3parsecs }", "unknown duration unit"),
            ("{ } | count( > 1", "expected ')'"),
            ("{ } | rate() > 1", "unsupported pipeline stage"),
            ("{ } | avg(name) > 1", "only duration"),
            ("{ } }", "unexpected"),
            ("{ name = \"x }", "unterminated"),
            ("{ name # 1 }", "unexpected character"),
        ] {
            let e = parse(q).unwrap_err().to_string();
            assert!(e.contains(want), "{q}: {e}");
        }
        let deep = "{".to_string() + &"(".repeat(200) + "kind = server" + &")".repeat(200) + "}";
        assert!(parse(&deep).unwrap_err().to_string().contains("too deep"));
        // never panics on arbitrary input
        for q in [
            "{{{{",
            "}}}",
            "| | |",
            "{ .a = -",
            "{ -1 }",
            "\"",
            "{ . = 1 }",
            "{ duration > 1.2.3s }",
        ] {
            let _ = parse(q);
        }
    }

    #[test]
    fn search_over_store() {
        let dir = tempfile::tempdir().unwrap();
        let st = TraceStore::open(
            dir.path(),
            sightline_logstore::Options {
                fsync: sightline_logstore::FsyncPolicy::Never,
                ..Default::default()
            },
        )
        .unwrap();
        let mut t2 = trace();
        for s in &mut t2 {
            s.trace_id = [2; 16];
            s.status.code = StatusCode::Unset;
        }
        st.append("t", &trace()).unwrap();
        st.append("t", &t2).unwrap();
        let q = parse("{ status = error }").unwrap();
        let (res, _) = search(&st, "t", &q, 0, i64::MAX, 10, 1000).unwrap();
        assert_eq!(res.len(), 1);
        assert_eq!(res[0].0.len(), 3);
        assert_eq!(res[0].1[0].name, "SQL SELECT");
        let q = parse(r#"{ rootServiceName = "frontend" }"#).unwrap();
        let (res, n) = search(&st, "t", &q, 0, i64::MAX, 10, 1000).unwrap();
        assert_eq!((res.len(), n), (2, 2));
        let (res, _) = search(&st, "t", &q, 0, i64::MAX, 1, 1000).unwrap();
        assert_eq!(res.len(), 1);
    }
}
