//! StatsD and DogStatsD: datagram parsing and aggregation into Prometheus
//! series. Pure: no sockets, no threads, no clocks.
//!
//! [`parse_line`] decodes one line (`name:value|type[|@rate][|#tags]`);
//! [`Aggregator`] ingests whole datagrams and, on each [`Aggregator::flush`],
//! emits the current value of every series it holds. The mapping rules are
//! documented for users in `docs/ingest/statsd.md`; in short:
//!
//! - names: every character outside `[a-zA-Z0-9_:]` becomes `_` (so `.` and
//!   `-` do), a leading digit gets a `_` prefix;
//! - `c` counters: cumulative Prometheus counter named as given (optionally
//!   with `_total`, [`AggregatorConfig::counter_total_suffix`]); increments
//!   are divided by the sample rate; negative increments are refused;
//! - `g` gauges: `N` sets, `+N`/`-N` adjust;
//! - `ms` timers, `h` histograms, `d` distributions: cumulative Prometheus
//!   histogram (`_bucket{le}`, `_sum`, `_count`) named as given; timer values
//!   are converted from milliseconds to seconds, `h`/`d` values are kept;
//!   with a sample rate each observation counts `1/rate` times;
//! - `s` sets: gauge of the number of distinct values seen in the last
//!   flush interval;
//! - DogStatsD tags `#k:v,k2:v2` become labels (keys sanitized like label
//!   names); a tag without a value, or with a reserved `__` key, is dropped
//!   and counted in [`IngestReport::tags_dropped`];
//! - DogStatsD events (`_e{...}`) and service checks (`_sc|...`) are
//!   recognised and counted as ignored, never as malformed.
//!
//! Invariants:
//! - nothing panics on any input; every refused line is counted under one
//!   [`Malformed`] reason;
//! - counters and histogram buckets/sums/counts never decrease while a
//!   series is held (observations are non-negative weights);
//! - a series not updated for [`AggregatorConfig::idle_flushes`] flushes is
//!   emitted once more as a staleness marker and then forgotten;
//! - at most [`AggregatorConfig::max_series`] series are held; lines that
//!   would create more are counted in [`IngestReport::dropped_series_limit`].

use crate::exposition::format_float;
use sightline_model::{stale_nan, LabelRef, METRIC_NAME};
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

/// The StatsD metric types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MetricKind {
    /// `c`
    Counter,
    /// `g`
    Gauge,
    /// `ms`
    Timer,
    /// `h`
    Histogram,
    /// `d` (DogStatsD)
    Distribution,
    /// `s`
    Set,
}

impl MetricKind {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "c" => MetricKind::Counter,
            "g" => MetricKind::Gauge,
            "ms" => MetricKind::Timer,
            "h" => MetricKind::Histogram,
            "d" => MetricKind::Distribution,
            "s" => MetricKind::Set,
            _ => return None,
        })
    }

    fn is_observer(self) -> bool {
        matches!(
            self,
            MetricKind::Timer | MetricKind::Histogram | MetricKind::Distribution
        )
    }
}

/// Why a line was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Malformed {
    /// The line is not UTF-8.
    InvalidUtf8,
    /// No `:` separating name and value.
    MissingValue,
    /// Nothing before the `:`.
    EmptyName,
    /// No `|type` section.
    MissingType,
    /// A type other than `c`, `g`, `ms`, `h`, `d`, `s`.
    UnknownType,
    /// A value that is not a finite number (or an empty set member).
    InvalidValue,
    /// `@rate` not a number in `(0, 1]`.
    InvalidSampleRate,
    /// An unknown `|` section.
    UnknownField,
    /// A negative counter increment.
    NegativeCounter,
    /// The series already exists with another type.
    TypeConflict,
}

impl Malformed {
    /// Every reason, in the order of [`IngestReport::malformed`].
    pub const ALL: [Malformed; 10] = [
        Malformed::InvalidUtf8,
        Malformed::MissingValue,
        Malformed::EmptyName,
        Malformed::MissingType,
        Malformed::UnknownType,
        Malformed::InvalidValue,
        Malformed::InvalidSampleRate,
        Malformed::UnknownField,
        Malformed::NegativeCounter,
        Malformed::TypeConflict,
    ];

    /// A stable snake_case name, for self-metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Malformed::InvalidUtf8 => "invalid_utf8",
            Malformed::MissingValue => "missing_value",
            Malformed::EmptyName => "empty_name",
            Malformed::MissingType => "missing_type",
            Malformed::UnknownType => "unknown_type",
            Malformed::InvalidValue => "invalid_value",
            Malformed::InvalidSampleRate => "invalid_sample_rate",
            Malformed::UnknownField => "unknown_field",
            Malformed::NegativeCounter => "negative_counter",
            Malformed::TypeConflict => "type_conflict",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One decoded line.
#[derive(Clone, Debug, PartialEq)]
pub enum Line<'a> {
    Metric(Metric<'a>),
    /// A DogStatsD event (`_e{...}`), not turned into samples.
    Event,
    /// A DogStatsD service check (`_sc|...`), not turned into samples.
    ServiceCheck,
}

/// A metric line: `name:v1[:v2...]|type[|@rate][|#tags]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Metric<'a> {
    /// The name as sent (not sanitized).
    pub name: &'a str,
    /// The value section, `:`-separated when several (DogStatsD packed form).
    values: &'a str,
    pub kind: MetricKind,
    /// In `(0, 1]`; 1 when absent.
    pub sample_rate: f64,
    /// The raw tag list after `#` (empty when absent).
    pub tags: &'a str,
}

/// A value of a metric line.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value<'a> {
    /// Counters, timers, histograms, distributions, absolute gauges.
    Number(f64),
    /// A gauge `+N` / `-N`: add this (signed) delta.
    GaugeDelta(f64),
    /// A set member.
    Member(&'a str),
}

impl<'a> Metric<'a> {
    /// The values of the line, in order. Already validated by [`parse_line`].
    pub fn values(&self) -> impl Iterator<Item = Value<'a>> + '_ {
        self.values
            .split(':')
            .map(move |v| parse_value(v, self.kind).unwrap_or(Value::Number(0.0)))
    }

    /// Tag pairs `(key, value)` as sent; a tag without `:` has value `None`.
    pub fn tag_pairs(&self) -> impl Iterator<Item = (&'a str, Option<&'a str>)> + 'a {
        let tags = self.tags;
        tags.split(',')
            .filter(|t| !t.is_empty())
            .map(|t| match t.split_once(':') {
                Some((k, v)) => (k, Some(v)),
                None => (t, None),
            })
    }
}

fn parse_value(v: &str, kind: MetricKind) -> Result<Value<'_>, Malformed> {
    if kind == MetricKind::Set {
        return if v.is_empty() {
            Err(Malformed::InvalidValue)
        } else {
            Ok(Value::Member(v))
        };
    }
    let n: f64 = v.trim().parse().map_err(|_| Malformed::InvalidValue)?;
    if !n.is_finite() {
        return Err(Malformed::InvalidValue);
    }
    if kind == MetricKind::Gauge && (v.starts_with('+') || v.starts_with('-')) {
        return Ok(Value::GaugeDelta(n));
    }
    if kind == MetricKind::Counter && n < 0.0 {
        return Err(Malformed::NegativeCounter);
    }
    Ok(Value::Number(n))
}

/// Decodes one line (without its newline). Empty lines are the caller's
/// business ([`Aggregator::ingest`] skips them).
pub fn parse_line(line: &[u8]) -> Result<Line<'_>, Malformed> {
    if line.starts_with(b"_e{") {
        return Ok(Line::Event);
    }
    if line.starts_with(b"_sc|") {
        return Ok(Line::ServiceCheck);
    }
    let line = std::str::from_utf8(line).map_err(|_| Malformed::InvalidUtf8)?;
    let (name, rest) = line.split_once(':').ok_or(Malformed::MissingValue)?;
    let name = name.trim();
    if name.is_empty() {
        return Err(Malformed::EmptyName);
    }
    let mut sections = rest.split('|');
    let values = sections.next().unwrap_or("");
    let kind_str = sections.next().ok_or(Malformed::MissingType)?;
    let kind = MetricKind::parse(kind_str.trim()).ok_or(Malformed::UnknownType)?;
    let mut sample_rate = 1.0;
    let mut tags = "";
    for s in sections {
        if let Some(r) = s.strip_prefix('@') {
            let r: f64 = r.parse().map_err(|_| Malformed::InvalidSampleRate)?;
            if !(r > 0.0 && r <= 1.0) {
                return Err(Malformed::InvalidSampleRate);
            }
            sample_rate = r;
        } else if let Some(t) = s.strip_prefix('#') {
            tags = t;
        } else if s.starts_with("c:") || s.starts_with("e:") || is_timestamp_field(s) || s.is_empty() {
            // DogStatsD container ID, external data, client timestamp: not
            // used for aggregation (samples are stamped at flush time).
        } else {
            return Err(Malformed::UnknownField);
        }
    }
    for v in values.split(':') {
        parse_value(v, kind)?;
    }
    Ok(Line::Metric(Metric {
        name,
        values,
        kind,
        sample_rate,
        tags,
    }))
}

fn is_timestamp_field(s: &str) -> bool {
    s.len() > 1 && s.starts_with('T') && s[1..].bytes().all(|c| c.is_ascii_digit())
}

/// Counts from one [`Aggregator::ingest`] call (or, via
/// [`Aggregator::totals`], from all of them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IngestReport {
    /// Metric lines applied.
    pub accepted: u64,
    /// DogStatsD events skipped.
    pub events_ignored: u64,
    /// DogStatsD service checks skipped.
    pub service_checks_ignored: u64,
    /// Lines refused because they would create a series beyond
    /// [`AggregatorConfig::max_series`].
    pub dropped_series_limit: u64,
    /// Tags dropped (no value, reserved `__` key, or `le` on a histogram).
    pub tags_dropped: u64,
    /// Refused lines per reason, indexed like [`Malformed::ALL`].
    pub malformed: [u64; Malformed::ALL.len()],
}

impl IngestReport {
    /// Lines refused for `reason`.
    pub fn malformed_count(&self, reason: Malformed) -> u64 {
        self.malformed[reason.index()]
    }

    /// Lines refused for any reason.
    pub fn malformed_total(&self) -> u64 {
        self.malformed.iter().sum()
    }

    /// Adds `other`'s counts to this report.
    pub fn merge(&mut self, other: &IngestReport) {
        self.accepted += other.accepted;
        self.events_ignored += other.events_ignored;
        self.service_checks_ignored += other.service_checks_ignored;
        self.dropped_series_limit += other.dropped_series_limit;
        self.tags_dropped += other.tags_dropped;
        for (a, b) in self.malformed.iter_mut().zip(other.malformed) {
            *a += b;
        }
    }
}

/// Aggregation settings.
#[derive(Clone, Debug, PartialEq)]
pub struct AggregatorConfig {
    /// Histogram upper bounds (seconds for timers), ascending, finite; `+Inf`
    /// is always added. Default: Prometheus's default buckets.
    pub buckets: Vec<f64>,
    /// Append `_total` to counter names that lack it (default `false`, the
    /// statsd_exporter naming).
    pub counter_total_suffix: bool,
    /// Maximum series held at once (default 100,000).
    pub max_series: usize,
    /// Forget a series after this many flushes without an update, after one
    /// staleness marker (default 30; 0 = never).
    pub idle_flushes: u32,
}

impl Default for AggregatorConfig {
    fn default() -> Self {
        Self {
            buckets: vec![0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0],
            counter_total_suffix: false,
            max_series: 100_000,
            idle_flushes: 30,
        }
    }
}

#[derive(Debug)]
enum State {
    Counter(f64),
    Gauge(f64),
    /// Per-bucket (non-cumulative) weights; the last slot is `+Inf`.
    Histogram {
        buckets: Vec<f64>,
        sum: f64,
        count: f64,
    },
    /// Hashes of the members seen this interval.
    Set(HashSet<u64>),
}

#[derive(Debug)]
struct Series {
    key: Box<str>,
    kind: MetricKind,
    /// Output metric name (sanitized, suffix applied).
    name: String,
    /// Sorted labels, without `__name__`.
    labels: Vec<(String, String)>,
    state: State,
    /// Flush sequence number of the interval of the last update.
    last_update: u64,
}

/// Turns StatsD datagrams into cumulative Prometheus series. See the module
/// docs for the rules.
#[derive(Debug)]
pub struct Aggregator {
    config: AggregatorConfig,
    /// `le` strings of the configured buckets plus `+Inf`.
    le: Vec<String>,
    bounds: Vec<f64>,
    index: HashMap<Box<str>, usize>,
    series: Vec<Series>,
    /// Number of flushes done so far = sequence number of the open interval.
    seq: u64,
    totals: IngestReport,
    last_flush_ms: Option<i64>,
    // Scratch buffers reused across lines.
    key_buf: String,
    tag_buf: Vec<(String, String)>,
}

impl Default for Aggregator {
    fn default() -> Self {
        Self::new(AggregatorConfig::default())
    }
}

impl Aggregator {
    /// Creates an aggregator. Non-finite or unsorted buckets are cleaned up
    /// (sorted, deduplicated, non-finite removed).
    pub fn new(config: AggregatorConfig) -> Self {
        let mut bounds: Vec<f64> = config.buckets.iter().copied().filter(|b| b.is_finite()).collect();
        bounds.sort_by(f64::total_cmp);
        bounds.dedup();
        let mut le: Vec<String> = bounds
            .iter()
            .map(|b| {
                let mut s = String::new();
                format_float(&mut s, *b);
                s
            })
            .collect();
        le.push("+Inf".to_string());
        Self {
            config,
            le,
            bounds,
            index: HashMap::new(),
            series: Vec::new(),
            seq: 0,
            totals: IngestReport::default(),
            last_flush_ms: None,
            key_buf: String::new(),
            tag_buf: Vec::new(),
        }
    }

    pub fn config(&self) -> &AggregatorConfig {
        &self.config
    }

    /// Series currently held.
    pub fn series_count(&self) -> usize {
        self.series.len()
    }

    /// Counts over every ingest so far.
    pub fn totals(&self) -> &IngestReport {
        &self.totals
    }

    /// The `now_ms` of the last flush.
    pub fn last_flush_ms(&self) -> Option<i64> {
        self.last_flush_ms
    }

    /// Applies every line of one datagram (lines separated by `\n`, an
    /// optional `\r` before it is ignored, empty lines skipped).
    pub fn ingest(&mut self, datagram: &[u8]) -> IngestReport {
        let mut report = IngestReport::default();
        for raw in datagram.split(|b| *b == b'\n') {
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            if raw.iter().all(|b| b.is_ascii_whitespace()) {
                continue;
            }
            match parse_line(raw) {
                Ok(Line::Event) => report.events_ignored += 1,
                Ok(Line::ServiceCheck) => report.service_checks_ignored += 1,
                Ok(Line::Metric(m)) => self.apply(&m, &mut report),
                Err(reason) => report.malformed[reason.index()] += 1,
            }
        }
        self.totals.merge(&report);
        report
    }

    fn apply(&mut self, m: &Metric<'_>, report: &mut IngestReport) {
        // Output name.
        let mut name = sanitize(m.name, true);
        if m.kind == MetricKind::Counter && self.config.counter_total_suffix && !name.ends_with("_total") {
            name.push_str("_total");
        }
        // Labels: sanitized keys, last value wins, empty values dropped.
        let mut tags = std::mem::take(&mut self.tag_buf);
        tags.clear();
        for (k, v) in m.tag_pairs() {
            let Some(v) = v else {
                report.tags_dropped += 1;
                continue;
            };
            let k = sanitize(k, false);
            if k.is_empty() || k.starts_with("__") || (m.kind.is_observer() && k == "le") {
                report.tags_dropped += 1;
                continue;
            }
            if v.is_empty() {
                continue;
            }
            match tags.iter_mut().find(|(n, _)| *n == k) {
                Some(p) => p.1 = v.to_string(),
                None => tags.push((k, v.to_string())),
            }
        }
        tags.sort_by(|a, b| a.0.cmp(&b.0));
        // Series key: name and labels; NUL cannot occur in sanitized names.
        let mut key = std::mem::take(&mut self.key_buf);
        key.clear();
        key.push_str(&name);
        for (k, v) in &tags {
            // Values may hold any byte: length-prefix them.
            let _ = write!(key, "\u{0}{k}\u{0}{}\u{0}{v}", v.len());
        }
        let idx = match self.index.get(key.as_str()) {
            Some(&i) => {
                if self.series[i].kind != m.kind
                    && !(self.series[i].kind.is_observer() && m.kind.is_observer())
                {
                    report.malformed[Malformed::TypeConflict.index()] += 1;
                    self.key_buf = key;
                    self.tag_buf = tags;
                    return;
                }
                i
            }
            None => {
                if self.series.len() >= self.config.max_series {
                    report.dropped_series_limit += 1;
                    self.key_buf = key;
                    self.tag_buf = tags;
                    return;
                }
                let state = match m.kind {
                    MetricKind::Counter => State::Counter(0.0),
                    MetricKind::Gauge => State::Gauge(0.0),
                    MetricKind::Set => State::Set(HashSet::new()),
                    _ => State::Histogram {
                        buckets: vec![0.0; self.le.len()],
                        sum: 0.0,
                        count: 0.0,
                    },
                };
                let boxed: Box<str> = key.as_str().into();
                self.series.push(Series {
                    key: boxed.clone(),
                    kind: m.kind,
                    name,
                    labels: tags.clone(),
                    state,
                    last_update: self.seq,
                });
                self.index.insert(boxed, self.series.len() - 1);
                self.series.len() - 1
            }
        };
        self.key_buf = key;
        self.tag_buf = tags;
        let weight = 1.0 / m.sample_rate;
        let timer = m.kind == MetricKind::Timer;
        let s = &mut self.series[idx];
        s.last_update = self.seq;
        for v in m.values() {
            match (&mut s.state, v) {
                (State::Counter(c), Value::Number(n)) => *c += n * weight,
                (State::Gauge(g), Value::Number(n)) => *g = n,
                (State::Gauge(g), Value::GaugeDelta(d)) => *g += d,
                (State::Set(set), Value::Member(member)) => {
                    set.insert(member_hash(member));
                }
                (State::Histogram { buckets, sum, count }, Value::Number(n)) => {
                    let x = if timer { n / 1000.0 } else { n };
                    let b = self.bounds.partition_point(|ub| *ub < x);
                    buckets[b] += weight;
                    *sum += x * weight;
                    *count += weight;
                }
                // Unreachable by construction (values are validated for the
                // kind, and kinds are checked above); ignore defensively.
                _ => {}
            }
        }
        report.accepted += 1;
    }

    /// Emits every held series once through `out` (labels sorted by name,
    /// `__name__` included); the caller stamps them with `now_ms`. Sets are
    /// reset for the next interval. Series idle for
    /// [`AggregatorConfig::idle_flushes`] flushes are emitted as a staleness
    /// marker and removed.
    pub fn flush(&mut self, now_ms: i64, out: &mut impl FnMut(&[LabelRef<'_>], f64)) {
        self.last_flush_ms = Some(now_ms);
        let idle_limit = u64::from(self.config.idle_flushes);
        let mut i = 0;
        while i < self.series.len() {
            let s = &mut self.series[i];
            let expired = idle_limit > 0 && self.seq - s.last_update >= idle_limit;
            let value_of = |v: f64| if expired { stale_nan() } else { v };
            match &mut s.state {
                State::Counter(c) => emit(&s.name, "", &s.labels, None, value_of(*c), out),
                State::Gauge(g) => emit(&s.name, "", &s.labels, None, value_of(*g), out),
                State::Set(set) => {
                    emit(&s.name, "", &s.labels, None, value_of(set.len() as f64), out);
                    set.clear();
                }
                State::Histogram { buckets, sum, count } => {
                    let mut cum = 0.0;
                    for (b, le) in buckets.iter().zip(&self.le) {
                        cum += b;
                        emit(&s.name, "_bucket", &s.labels, Some(le), value_of(cum), out);
                    }
                    emit(&s.name, "_sum", &s.labels, None, value_of(*sum), out);
                    emit(&s.name, "_count", &s.labels, None, value_of(*count), out);
                }
            }
            if expired {
                let removed = self.series.swap_remove(i);
                self.index.remove(&removed.key);
                if let Some(moved) = self.series.get(i) {
                    self.index.insert(moved.key.clone(), i);
                }
            } else {
                i += 1;
            }
        }
        self.seq += 1;
    }
}

fn emit(
    name: &str,
    suffix: &str,
    labels: &[(String, String)],
    le: Option<&str>,
    v: f64,
    out: &mut impl FnMut(&[LabelRef<'_>], f64),
) {
    let full = format!("{name}{suffix}");
    let mut refs = Vec::with_capacity(labels.len() + 2);
    refs.push(LabelRef::new(METRIC_NAME, &full));
    refs.extend(labels.iter().map(|(k, v)| LabelRef::new(k, v)));
    if let Some(le) = le {
        refs.push(LabelRef::new("le", le));
    }
    refs.sort_unstable_by(|a, b| a.name.cmp(b.name));
    out(&refs, v);
}

/// Hash of a set member (members are counted, not stored). SipHash with
/// fixed keys: deterministic across runs.
fn member_hash(s: &str) -> u64 {
    use std::hash::Hasher;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    h.write(s.as_bytes());
    h.finish()
}

/// Replaces every character outside `[a-zA-Z0-9_]` (plus `:` for metric
/// names) with `_` and prefixes a leading digit with `_`.
pub fn sanitize(s: &str, metric_name: bool) -> String {
    let mut out = String::with_capacity(s.len() + 1);
    if s.as_bytes().first().is_some_and(|c| c.is_ascii_digit()) {
        out.push('_');
    }
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || c == '_' || (metric_name && c == ':') {
            out.push(c);
        } else {
            out.push('_');
        }
    }
    out
}

#[cfg(test)]
mod tests;
