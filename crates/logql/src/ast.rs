//! The LogQL syntax tree and its canonical text form.
//!
//! `Display` prints every node back as LogQL that parses to the same tree
//! (the round-trip invariant the parser tests check).

use regex::Regex;
use sightline_model::{MatchOp, Matcher};
use sightline_template::Template;
use std::fmt;

/// A parsed query: a log query or a metric query.
#[derive(Clone, Debug)]
pub enum Expr {
    Log(LogExpr),
    Metric(MetricExpr),
}

/// A stream selector followed by pipeline stages.
#[derive(Clone, Debug)]
pub struct LogExpr {
    pub matchers: Vec<Matcher>,
    pub stages: Vec<Stage>,
}

/// How a line filter compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineOp {
    /// `|=`
    Contains,
    /// `!=`
    NotContains,
    /// `|~`
    Match,
    /// `!~`
    NotMatch,
    /// `|>`
    Pattern,
    /// `!>`
    NotPattern,
}

impl LineOp {
    pub fn as_str(self) -> &'static str {
        match self {
            LineOp::Contains => "|=",
            LineOp::NotContains => "!=",
            LineOp::Match => "|~",
            LineOp::NotMatch => "!~",
            LineOp::Pattern => "|>",
            LineOp::NotPattern => "!>",
        }
    }

    pub fn negated(self) -> bool {
        matches!(self, LineOp::NotContains | LineOp::NotMatch | LineOp::NotPattern)
    }
}

/// One line filter; `values` holds `or` alternatives (`|= "a" or "b"`).
#[derive(Clone, Debug)]
pub struct LineFilterExpr {
    pub op: LineOp,
    pub values: Vec<String>,
    /// Compiled regexes (for `|~`/`!~`), one per value.
    pub regexes: Vec<Regex>,
    /// Compiled patterns (for `|>`/`!>`), one per value.
    pub patterns: Vec<crate::pattern::Pattern>,
}

/// A label filter expression (`| a="b" and c > 5`).
#[derive(Clone, Debug)]
pub enum LabelFilter {
    Matcher(Matcher),
    Number {
        name: String,
        op: CmpOp,
        value: f64,
    },
    /// Value in nanoseconds; the text as written is kept for printing.
    Duration {
        name: String,
        op: CmpOp,
        value: f64,
        text: String,
    },
    /// Value in bytes; the text as written is kept for printing.
    Bytes {
        name: String,
        op: CmpOp,
        value: f64,
        text: String,
    },
    And(Box<LabelFilter>, Box<LabelFilter>),
    Or(Box<LabelFilter>, Box<LabelFilter>),
    Paren(Box<LabelFilter>),
}

/// Numeric comparison operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CmpOp {
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
        }
    }

    pub fn apply(self, a: f64, b: f64) -> bool {
        match self {
            CmpOp::Eq => a == b,
            CmpOp::Ne => a != b,
            CmpOp::Gt => a > b,
            CmpOp::Ge => a >= b,
            CmpOp::Lt => a < b,
            CmpOp::Le => a <= b,
        }
    }
}

/// Parsers of the pipeline.
#[derive(Clone, Debug)]
pub enum ParserStage {
    /// `json` or `json a="b.c", d`.
    Json(Vec<(String, String)>),
    /// `logfmt [--strict] [--keep-empty] [a="b", ...]`.
    Logfmt {
        strict: bool,
        keep_empty: bool,
        params: Vec<(String, String)>,
    },
    Regexp {
        src: String,
        re: Regex,
    },
    Pattern {
        src: String,
        pattern: crate::pattern::Pattern,
    },
    Unpack,
}

/// One `label_format` assignment.
#[derive(Clone, Debug)]
pub enum LabelFmt {
    /// `dst=src`
    Rename { dst: String, src: String },
    /// `dst="{{template}}"`
    Template {
        dst: String,
        src: String,
        tmpl: Template,
    },
}

/// A `drop`/`keep` item: a bare name or a matcher on the value.
#[derive(Clone, Debug)]
pub enum LabelSel {
    Name(String),
    Matcher(Matcher),
}

impl LabelSel {
    pub fn name(&self) -> &str {
        match self {
            LabelSel::Name(n) => n,
            LabelSel::Matcher(m) => &m.name,
        }
    }
}

/// A pipeline stage.
#[derive(Clone, Debug)]
pub enum Stage {
    LineFilter(LineFilterExpr),
    Parser(ParserStage),
    LabelFilter(LabelFilter),
    LineFormat { src: String, tmpl: Template },
    LabelFormat(Vec<LabelFmt>),
    Drop(Vec<LabelSel>),
    Keep(Vec<LabelSel>),
    Decolorize,
}

/// Conversion applied by `unwrap`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnwrapConv {
    None,
    /// `duration(x)` / `duration_seconds(x)`: Go duration to seconds.
    Duration,
    /// `bytes(x)`: humanized bytes to bytes.
    Bytes,
}

/// `| unwrap [conv(]label[)]` with its post-filters.
#[derive(Clone, Debug)]
pub struct Unwrap {
    pub label: String,
    pub conv: UnwrapConv,
    /// `duration` or `duration_seconds` as written.
    pub conv_name: String,
    pub post_filters: Vec<LabelFilter>,
}

/// A range vector: `{...} | stages [| unwrap x] [range] [offset o]`.
#[derive(Clone, Debug)]
pub struct LogRange {
    pub log: LogExpr,
    pub unwrap: Option<Unwrap>,
    pub range_ns: i64,
    pub offset_ns: i64,
}

/// Range aggregation functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeOp {
    Rate,
    RateCounter,
    CountOverTime,
    BytesRate,
    BytesOverTime,
    AbsentOverTime,
    SumOverTime,
    AvgOverTime,
    MinOverTime,
    MaxOverTime,
    StddevOverTime,
    StdvarOverTime,
    QuantileOverTime,
    FirstOverTime,
    LastOverTime,
}

impl RangeOp {
    pub const ALL: [RangeOp; 15] = [
        RangeOp::Rate,
        RangeOp::RateCounter,
        RangeOp::CountOverTime,
        RangeOp::BytesRate,
        RangeOp::BytesOverTime,
        RangeOp::AbsentOverTime,
        RangeOp::SumOverTime,
        RangeOp::AvgOverTime,
        RangeOp::MinOverTime,
        RangeOp::MaxOverTime,
        RangeOp::StddevOverTime,
        RangeOp::StdvarOverTime,
        RangeOp::QuantileOverTime,
        RangeOp::FirstOverTime,
        RangeOp::LastOverTime,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RangeOp::Rate => "rate",
            RangeOp::RateCounter => "rate_counter",
            RangeOp::CountOverTime => "count_over_time",
            RangeOp::BytesRate => "bytes_rate",
            RangeOp::BytesOverTime => "bytes_over_time",
            RangeOp::AbsentOverTime => "absent_over_time",
            RangeOp::SumOverTime => "sum_over_time",
            RangeOp::AvgOverTime => "avg_over_time",
            RangeOp::MinOverTime => "min_over_time",
            RangeOp::MaxOverTime => "max_over_time",
            RangeOp::StddevOverTime => "stddev_over_time",
            RangeOp::StdvarOverTime => "stdvar_over_time",
            RangeOp::QuantileOverTime => "quantile_over_time",
            RangeOp::FirstOverTime => "first_over_time",
            RangeOp::LastOverTime => "last_over_time",
        }
    }

    /// Whether the function needs an unwrapped range (`| unwrap x`).
    pub fn needs_unwrap(self) -> bool {
        !matches!(
            self,
            RangeOp::Rate
                | RangeOp::CountOverTime
                | RangeOp::BytesRate
                | RangeOp::BytesOverTime
                | RangeOp::AbsentOverTime
        )
    }

    /// Whether the function may take an unwrapped range.
    pub fn allows_unwrap(self) -> bool {
        self.needs_unwrap() || self == RangeOp::Rate
    }
}

/// `by (...)` or `without (...)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grouping {
    pub without: bool,
    pub labels: Vec<String>,
}

/// Vector aggregation operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AggOp {
    Sum,
    Avg,
    Min,
    Max,
    Count,
    Stddev,
    Stdvar,
    Topk,
    Bottomk,
    Sort,
    SortDesc,
}

impl AggOp {
    pub const ALL: [AggOp; 11] = [
        AggOp::Sum,
        AggOp::Avg,
        AggOp::Min,
        AggOp::Max,
        AggOp::Count,
        AggOp::Stddev,
        AggOp::Stdvar,
        AggOp::Topk,
        AggOp::Bottomk,
        AggOp::Sort,
        AggOp::SortDesc,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AggOp::Sum => "sum",
            AggOp::Avg => "avg",
            AggOp::Min => "min",
            AggOp::Max => "max",
            AggOp::Count => "count",
            AggOp::Stddev => "stddev",
            AggOp::Stdvar => "stdvar",
            AggOp::Topk => "topk",
            AggOp::Bottomk => "bottomk",
            AggOp::Sort => "sort",
            AggOp::SortDesc => "sort_desc",
        }
    }
}

/// Binary operators, PromQL precedence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Or,
    And,
    Unless,
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
}

impl BinOp {
    pub fn as_str(self) -> &'static str {
        match self {
            BinOp::Or => "or",
            BinOp::And => "and",
            BinOp::Unless => "unless",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Mod => "%",
            BinOp::Pow => "^",
        }
    }

    pub fn precedence(self) -> u8 {
        match self {
            BinOp::Or => 1,
            BinOp::And | BinOp::Unless => 2,
            BinOp::Eq | BinOp::Ne | BinOp::Gt | BinOp::Ge | BinOp::Lt | BinOp::Le => 3,
            BinOp::Add | BinOp::Sub => 4,
            BinOp::Mul | BinOp::Div | BinOp::Mod => 5,
            BinOp::Pow => 6,
        }
    }

    pub fn is_comparison(self) -> bool {
        self.precedence() == 3
    }

    pub fn is_set(self) -> bool {
        matches!(self, BinOp::Or | BinOp::And | BinOp::Unless)
    }
}

/// `on(...)`/`ignoring(...)` and `group_left/right(...)`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VectorMatching {
    /// `Some(false)` = on, `Some(true)` = ignoring.
    pub on: Option<(bool, Vec<String>)>,
    /// `Some((true, labels))` = group_left, `Some((false, ..))` = group_right.
    pub group: Option<(bool, Vec<String>)>,
}

/// A metric query node.
#[derive(Clone, Debug)]
pub enum MetricExpr {
    Range {
        op: RangeOp,
        /// The quantile for `quantile_over_time`.
        param: Option<f64>,
        range: LogRange,
        grouping: Option<Grouping>,
    },
    Agg {
        op: AggOp,
        /// k of topk/bottomk.
        param: Option<f64>,
        grouping: Option<Grouping>,
        inner: Box<MetricExpr>,
    },
    Binary {
        op: BinOp,
        bool_mod: bool,
        matching: VectorMatching,
        lhs: Box<MetricExpr>,
        rhs: Box<MetricExpr>,
    },
    Number(f64),
    /// `vector(x)`
    Vector(f64),
    LabelReplace {
        inner: Box<MetricExpr>,
        dst: String,
        replacement: String,
        src: String,
        regex_src: String,
        regex: Regex,
    },
    Paren(Box<MetricExpr>),
}

/// Go `strconv.Quote`-style quoting for printing strings.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Prints a duration in nanoseconds the way Prometheus model.Duration does
/// (`1h30m`, `5m`, `250ms`), falling back to Go's form for sub-ms values.
pub fn fmt_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    if ns % 1_000_000 != 0 {
        let neg = ns < 0;
        let a = ns.unsigned_abs();
        let s = if a.is_multiple_of(1000) {
            format!("{}us", a / 1000)
        } else {
            format!("{a}ns")
        };
        return if neg { format!("-{s}") } else { s };
    }
    let mut ms = ns / 1_000_000;
    let mut out = String::new();
    if ms < 0 {
        out.push('-');
        ms = -ms;
    }
    let units: [(&str, i64); 7] = [
        ("y", 365 * 24 * 3600 * 1000),
        ("w", 7 * 24 * 3600 * 1000),
        ("d", 24 * 3600 * 1000),
        ("h", 3600 * 1000),
        ("m", 60 * 1000),
        ("s", 1000),
        ("ms", 1),
    ];
    for (u, n) in units {
        if ms >= n {
            out.push_str(&format!("{}{u}", ms / n));
            ms %= n;
        }
    }
    out
}

fn fmt_matchers(f: &mut fmt::Formatter<'_>, ms: &[Matcher]) -> fmt::Result {
    f.write_str("{")?;
    for (i, m) in ms.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        fmt_matcher(f, m)?;
    }
    f.write_str("}")
}

fn fmt_matcher(f: &mut fmt::Formatter<'_>, m: &Matcher) -> fmt::Result {
    let op = match m.op {
        MatchOp::Equal => "=",
        MatchOp::NotEqual => "!=",
        MatchOp::Regex => "=~",
        MatchOp::NotRegex => "!~",
    };
    write!(f, "{}{}{}", m.name, op, quote(&m.value))
}

fn fmt_params(f: &mut fmt::Formatter<'_>, ps: &[(String, String)]) -> fmt::Result {
    for (i, (k, v)) in ps.iter().enumerate() {
        f.write_str(if i == 0 { " " } else { ", " })?;
        write!(f, "{k}={}", quote(v))?;
    }
    Ok(())
}

fn fmt_grouping(f: &mut fmt::Formatter<'_>, g: &Grouping) -> fmt::Result {
    write!(
        f,
        "{} ({})",
        if g.without { "without" } else { "by" },
        g.labels.join(", ")
    )
}

impl fmt::Display for LogExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_matchers(f, &self.matchers)?;
        for s in &self.stages {
            write!(f, " {s}")?;
        }
        Ok(())
    }
}

impl fmt::Display for LabelFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LabelFilter::Matcher(m) => fmt_matcher(f, m),
            LabelFilter::Number { name, op, value } => write!(f, "{name}{}{}", op.as_str(), fmt_num(*value)),
            LabelFilter::Duration { name, op, text, .. } | LabelFilter::Bytes { name, op, text, .. } => {
                write!(f, "{name}{}{text}", op.as_str())
            }
            LabelFilter::And(a, b) => write!(f, "{a} and {b}"),
            LabelFilter::Or(a, b) => write!(f, "{a} or {b}"),
            LabelFilter::Paren(a) => write!(f, "({a})"),
        }
    }
}

fn fmt_num(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else if v.is_nan() {
        "NaN".to_string()
    } else {
        format!("{v}")
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stage::LineFilter(lf) => {
                f.write_str(lf.op.as_str())?;
                for (i, v) in lf.values.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" or")?;
                    }
                    write!(f, " {}", quote(v))?;
                }
                Ok(())
            }
            Stage::Parser(p) => match p {
                ParserStage::Json(ps) => {
                    f.write_str("| json")?;
                    fmt_params(f, ps)
                }
                ParserStage::Logfmt {
                    strict,
                    keep_empty,
                    params,
                } => {
                    f.write_str("| logfmt")?;
                    if *strict {
                        f.write_str(" --strict")?;
                    }
                    if *keep_empty {
                        f.write_str(" --keep-empty")?;
                    }
                    fmt_params(f, params)
                }
                ParserStage::Regexp { src, .. } => write!(f, "| regexp {}", quote(src)),
                ParserStage::Pattern { src, .. } => write!(f, "| pattern {}", quote(src)),
                ParserStage::Unpack => f.write_str("| unpack"),
            },
            Stage::LabelFilter(lf) => write!(f, "| {lf}"),
            Stage::LineFormat { src, .. } => write!(f, "| line_format {}", quote(src)),
            Stage::LabelFormat(items) => {
                f.write_str("| label_format ")?;
                for (i, it) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    match it {
                        LabelFmt::Rename { dst, src } => write!(f, "{dst}={src}")?,
                        LabelFmt::Template { dst, src, .. } => write!(f, "{dst}={}", quote(src))?,
                    }
                }
                Ok(())
            }
            Stage::Drop(items) | Stage::Keep(items) => {
                f.write_str(if matches!(self, Stage::Drop(_)) {
                    "| drop "
                } else {
                    "| keep "
                })?;
                for (i, it) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    match it {
                        LabelSel::Name(n) => f.write_str(n)?,
                        LabelSel::Matcher(m) => fmt_matcher(f, m)?,
                    }
                }
                Ok(())
            }
            Stage::Decolorize => f.write_str("| decolorize"),
        }
    }
}

impl fmt::Display for LogRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.log)?;
        if let Some(u) = &self.unwrap {
            match u.conv {
                UnwrapConv::None => write!(f, " | unwrap {}", u.label)?,
                _ => write!(f, " | unwrap {}({})", u.conv_name, u.label)?,
            }
            for pf in &u.post_filters {
                write!(f, " | {pf}")?;
            }
        }
        write!(f, " [{}]", fmt_duration(self.range_ns))?;
        if self.offset_ns != 0 {
            write!(f, " offset {}", fmt_duration(self.offset_ns))?;
        }
        Ok(())
    }
}

impl fmt::Display for MetricExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetricExpr::Range {
                op,
                param,
                range,
                grouping,
            } => {
                write!(f, "{}(", op.as_str())?;
                if let Some(p) = param {
                    write!(f, "{}, ", fmt_num(*p))?;
                }
                write!(f, "{range})")?;
                if let Some(g) = grouping {
                    f.write_str(" ")?;
                    fmt_grouping(f, g)?;
                }
                Ok(())
            }
            MetricExpr::Agg {
                op,
                param,
                grouping,
                inner,
            } => {
                f.write_str(op.as_str())?;
                if let Some(g) = grouping {
                    f.write_str(" ")?;
                    fmt_grouping(f, g)?;
                    f.write_str(" ")?;
                }
                f.write_str("(")?;
                if let Some(p) = param {
                    write!(f, "{}, ", fmt_num(*p))?;
                }
                write!(f, "{inner})")
            }
            MetricExpr::Binary {
                op,
                bool_mod,
                matching,
                lhs,
                rhs,
            } => {
                // parenthesize operands that would otherwise re-associate
                let prec = |e: &MetricExpr| match e {
                    MetricExpr::Binary { op, .. } => Some(op.precedence()),
                    _ => None,
                };
                let p = op.precedence();
                let right_assoc = *op == BinOp::Pow;
                let lhs_paren = prec(lhs).is_some_and(|q| q < p || (right_assoc && q == p));
                let rhs_paren = prec(rhs).is_some_and(|q| q < p || (!right_assoc && q == p));
                if lhs_paren {
                    write!(f, "({lhs}) {}", op.as_str())?;
                } else {
                    write!(f, "{lhs} {}", op.as_str())?;
                }
                if *bool_mod {
                    f.write_str(" bool")?;
                }
                if let Some((ignoring, ls)) = &matching.on {
                    write!(
                        f,
                        " {} ({})",
                        if *ignoring { "ignoring" } else { "on" },
                        ls.join(", ")
                    )?;
                }
                if let Some((left, ls)) = &matching.group {
                    write!(
                        f,
                        " {} ({})",
                        if *left { "group_left" } else { "group_right" },
                        ls.join(", ")
                    )?;
                }
                if rhs_paren {
                    write!(f, " ({rhs})")
                } else {
                    write!(f, " {rhs}")
                }
            }
            MetricExpr::Number(v) => f.write_str(&fmt_num(*v)),
            MetricExpr::Vector(v) => write!(f, "vector({})", fmt_num(*v)),
            MetricExpr::LabelReplace {
                inner,
                dst,
                replacement,
                src,
                regex_src,
                ..
            } => write!(
                f,
                "label_replace({inner}, {}, {}, {}, {})",
                quote(dst),
                quote(replacement),
                quote(src),
                quote(regex_src)
            ),
            MetricExpr::Paren(e) => write!(f, "({e})"),
        }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Log(l) => write!(f, "{l}"),
            Expr::Metric(m) => write!(f, "{m}"),
        }
    }
}
