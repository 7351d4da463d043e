//! Prometheus text exposition format 0.0.4 and OpenMetrics 1.0 text: a
//! zero-copy pull parser and a text encoder.
//!
//! # Parsing
//!
//! [`Parser`] walks the input line by line and hands out [`Entry`] values
//! that borrow from the input. Nothing is allocated except for label values,
//! help texts and quoted names that contain escape sequences (hence the
//! [`Cow`]s).
//!
//! A sample is exposed as its *raw series text* ([`SampleEntry::series`]:
//! `name{labels}` exactly as written, up to and including the closing
//! brace), its value and optional timestamp. The label set is checked for
//! syntax while the line is parsed, but it is split into pairs only on
//! demand ([`SampleEntry::labels`]), which also rejects duplicate label
//! names. A scrape loop can therefore key a cache by the raw series text and
//! skip label handling for series it saw in the previous scrape.
//!
//! Invariants:
//! - the parser never panics on any input; every problem is a [`ParseError`]
//!   carrying the 1-based line number;
//! - after an error the parser is finished (`next_entry` returns `None`):
//!   a scrape with a syntax error is rejected as a whole, as in Prometheus;
//! - the series text of a sample for which [`SampleEntry::labels`] once
//!   returned `Ok` always yields the same labels, so caching by text is sound;
//! - timestamps are milliseconds (OpenMetrics seconds are converted exactly
//!   for up to millisecond precision, finer digits are truncated).
//!
//! Format differences handled here:
//! - text 0.0.4: comments other than `# HELP`/`# TYPE` are ignored, type
//!   `untyped`, integer millisecond timestamps, help escapes `\\` and `\n`;
//! - OpenMetrics: `# UNIT`, mandatory final `# EOF` (missing or followed by
//!   more content is an error), any other `#` line is an error, float-second
//!   timestamps, exemplars (` # {labels} value [timestamp]`; a malformed
//!   exemplar is dropped, never an error), help escapes `\\`, `\n`, `\"`,
//!   and `<family>_created` samples of counters, histograms, summaries and
//!   gauge histograms flagged with [`SampleEntry::created`].
//!
//! Both formats accept the Prometheus 3 quoted-name syntax:
//! `{"my.metric", "label.x"="v"}` and `# TYPE "my.metric" counter`.
//!
//! # Encoding
//!
//! [`write_sample`], [`write_help`] and [`write_type`] produce text format
//! 0.0.4 with Prometheus escaping and float formatting (`+Inf`, `-Inf`,
//! `NaN`, Go's shortest `%g`).

use sightline_model::{Labels, MetricType, METRIC_NAME};
use std::borrow::Cow;
use std::fmt;

/// Which text format the input is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// Prometheus text exposition format 0.0.4.
    PrometheusText,
    /// OpenMetrics 1.0 text.
    OpenMetrics,
}

impl Format {
    /// Picks the format from a `Content-Type` header value:
    /// `application/openmetrics-text` (any parameters) is OpenMetrics,
    /// everything else (including empty or unknown types) is the
    /// Prometheus text format, which is what Prometheus falls back to.
    pub fn from_content_type(content_type: &str) -> Format {
        let media = content_type.split(';').next().unwrap_or("").trim();
        if media.eq_ignore_ascii_case("application/openmetrics-text") {
            Format::OpenMetrics
        } else {
            Format::PrometheusText
        }
    }

    /// The `Content-Type` a server sends for this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::PrometheusText => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// A syntax error with the 1-based line it was found on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl ParseError {
    fn new(line: usize, message: impl Into<String>) -> Self {
        Self {
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

/// One meaningful line of the input.
#[derive(Clone, Debug, PartialEq)]
pub enum Entry<'a> {
    /// `# HELP <family> <text>` (text unescaped).
    Help {
        family: Cow<'a, str>,
        help: Cow<'a, str>,
    },
    /// `# TYPE <family> <type>`; `untyped` (text) and `unknown` (OpenMetrics)
    /// are [`MetricType::Unknown`].
    Type {
        family: Cow<'a, str>,
        metric_type: MetricType,
    },
    /// `# UNIT <family> <unit>` (OpenMetrics only).
    Unit { family: Cow<'a, str>, unit: &'a str },
    /// A sample line.
    Sample(SampleEntry<'a>),
}

/// A label pair handed out by [`SampleEntry::labels`] and [`Exemplar::labels`].
pub type LabelPair<'a> = (Cow<'a, str>, Cow<'a, str>);

/// One sample line.
#[derive(Clone, Debug, PartialEq)]
pub struct SampleEntry<'a> {
    /// The series exactly as written: `name`, `name{...}` or `{"name", ...}`.
    pub series: &'a str,
    /// The metric name (unescaped when it was quoted).
    pub name: Cow<'a, str>,
    pub value: f64,
    /// Milliseconds since the epoch, when the line carried a timestamp.
    pub timestamp: Option<i64>,
    /// OpenMetrics `<family>_created` sample of a counter, histogram,
    /// summary or gauge histogram: a creation time, not a measurement. The
    /// scraper may skip it.
    pub created: bool,
    /// OpenMetrics exemplar attached to the line, if well formed.
    pub exemplar: Option<Exemplar<'a>>,
    /// 1-based line number of the sample.
    pub line: usize,
    /// The label set including its braces (empty without braces).
    label_text: &'a str,
}

impl<'a> SampleEntry<'a> {
    /// Clears `out` and fills it with `("__name__", name)` followed by the
    /// label pairs in the order written (escapes resolved). Fails on a
    /// duplicate label name (including an explicit `__name__`).
    pub fn labels(&self, out: &mut Vec<LabelPair<'a>>) -> Result<(), ParseError> {
        out.clear();
        out.push((Cow::Borrowed(METRIC_NAME), self.name.clone()));
        collect_pairs(self.label_text, out).map_err(|m| ParseError::new(self.line, m))
    }

    /// True when the series carries labels besides the name.
    pub fn has_labels(&self) -> bool {
        self.label_text.bytes().any(|b| b == b'=')
    }
}

/// An OpenMetrics exemplar: ` # {trace_id="..."} 1.5 1520879607.789`.
#[derive(Clone, Debug, PartialEq)]
pub struct Exemplar<'a> {
    label_text: &'a str,
    pub value: f64,
    /// Milliseconds since the epoch.
    pub timestamp: Option<i64>,
}

impl<'a> Exemplar<'a> {
    /// Clears `out` and fills it with the exemplar's label pairs.
    pub fn labels(&self, out: &mut Vec<LabelPair<'a>>) -> Result<(), String> {
        out.clear();
        collect_pairs(self.label_text, out)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Running,
    /// OpenMetrics `# EOF` seen.
    SawEof,
    Done,
}

/// Pull parser over one exposition payload. See the module docs.
pub struct Parser<'a> {
    input: &'a [u8],
    pos: usize,
    /// Number of the line last read (1-based).
    line: usize,
    format: Format,
    state: State,
    /// Family and type from the last `# TYPE` line (for `_created`).
    family: Option<(Cow<'a, str>, MetricType)>,
}

impl<'a> Parser<'a> {
    pub fn new(input: &'a [u8], format: Format) -> Self {
        Self {
            input,
            pos: 0,
            line: 0,
            format,
            state: State::Running,
            family: None,
        }
    }

    pub fn format(&self) -> Format {
        self.format
    }

    /// The next entry, `None` at the end (or after an error).
    #[allow(clippy::should_implement_trait)]
    pub fn next_entry(&mut self) -> Option<Result<Entry<'a>, ParseError>> {
        loop {
            if self.state == State::Done {
                return None;
            }
            if self.pos >= self.input.len() {
                let state = self.state;
                self.state = State::Done;
                if self.format == Format::OpenMetrics && state != State::SawEof {
                    return Some(Err(ParseError::new(self.line + 1, "missing final \"# EOF\"")));
                }
                return None;
            }
            let rest = &self.input[self.pos..];
            let (raw, advance) = match memchr::memchr(b'\n', rest) {
                Some(i) => (&rest[..i], i + 1),
                None => (rest, rest.len()),
            };
            self.pos += advance;
            self.line += 1;
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            match self.parse_line(raw) {
                Ok(Some(e)) => return Some(Ok(e)),
                Ok(None) => continue,
                Err(msg) => {
                    self.state = State::Done;
                    return Some(Err(ParseError::new(self.line, msg)));
                }
            }
        }
    }

    fn parse_line(&mut self, raw: &'a [u8]) -> Result<Option<Entry<'a>>, String> {
        if self.state == State::SawEof {
            if raw.iter().all(|b| *b == b' ' || *b == b'\t') {
                return Ok(None);
            }
            return Err("content after \"# EOF\"".into());
        }
        let line = std::str::from_utf8(raw)
            .map_err(|e| format!("invalid UTF-8 at column {}", e.valid_up_to() + 1))?;
        if line.bytes().all(|b| b == b' ' || b == b'\t') {
            return Ok(None);
        }
        if line.as_bytes()[0] == b'#' {
            return self.parse_comment(line);
        }
        self.parse_sample(line).map(|s| Some(Entry::Sample(s)))
    }

    fn parse_comment(&mut self, line: &'a str) -> Result<Option<Entry<'a>>, String> {
        let om = self.format == Format::OpenMetrics;
        if om && line == "# EOF" {
            self.state = State::SawEof;
            return Ok(None);
        }
        let b = line.as_bytes();
        let after_hash = 1;
        if b.len() < 2 || !is_ws(b[1]) {
            return if om { Err(invalid_om_comment()) } else { Ok(None) };
        }
        let kw_start = skip_ws(b, after_hash);
        let kw_end = b[kw_start..]
            .iter()
            .position(|c| is_ws(*c))
            .map_or(b.len(), |p| kw_start + p);
        let keyword = &line[kw_start..kw_end];
        let known = matches!(keyword, "HELP" | "TYPE") || (om && keyword == "UNIT");
        if !known || kw_end == b.len() {
            return if om { Err(invalid_om_comment()) } else { Ok(None) };
        }
        let name_start = skip_ws(b, kw_end);
        let (family, name_end) =
            parse_name_token(line, name_start, is_metric_name_start, is_metric_name_char)?;
        let after_name = if name_end < b.len() {
            if !is_ws(b[name_end]) {
                return Err(format!(
                    "invalid character {:?} after metric name in # {keyword}",
                    char_at(line, name_end)
                ));
            }
            skip_ws(b, name_end)
        } else {
            name_end
        };
        let rest = &line[after_name..];
        match keyword {
            "HELP" => {
                let help = if om {
                    unescape(rest, true)
                } else {
                    unescape(rest, false)
                };
                Ok(Some(Entry::Help { family, help }))
            }
            "TYPE" => {
                let word = rest.trim_end_matches([' ', '\t']);
                let metric_type = parse_type(word, om)
                    .ok_or_else(|| format!("invalid metric type {word:?} for {family}"))?;
                self.family = Some((family.clone(), metric_type));
                Ok(Some(Entry::Type { family, metric_type }))
            }
            _ => Ok(Some(Entry::Unit {
                family,
                unit: rest.trim_end_matches([' ', '\t']),
            })),
        }
    }

    fn parse_sample(&mut self, line: &'a str) -> Result<SampleEntry<'a>, String> {
        let b = line.as_bytes();
        let om = self.format == Format::OpenMetrics;
        let mut name: Option<Cow<'a, str>> = None;
        let mut i = 0;
        if b[0] != b'{' {
            if !is_metric_name_start(b[0]) {
                return Err(format!("invalid metric name start {:?}", char_at(line, 0)));
            }
            i = 1 + b[1..]
                .iter()
                .position(|c| !is_metric_name_char(*c))
                .unwrap_or(b.len() - 1);
            name = Some(Cow::Borrowed(&line[..i]));
        }
        let mut label_text = "";
        // Blanks between the name and the brace are allowed (`m {a="b"} 1`).
        let brace = skip_ws(b, i);
        if brace < b.len() && b[brace] == b'{' {
            i = brace;
            let open = i;
            let mut quoted_name = None;
            let end = scan_label_set(line, open + 1, &mut |item| {
                if let LabelItem::Name(n) = item {
                    if quoted_name.is_some() {
                        return Err("metric name given twice".to_string());
                    }
                    quoted_name = Some(n);
                }
                Ok(())
            })?;
            label_text = &line[open..end];
            if let Some(q) = quoted_name {
                if name.is_some() {
                    return Err("metric name given both before and inside the braces".into());
                }
                if q.is_empty() {
                    return Err("empty metric name".into());
                }
                name = Some(unescape(q, true));
            }
            i = end;
        }
        let name = name.ok_or("sample has no metric name")?;
        let series = &line[..i];
        if i >= b.len() {
            return Err(format!("missing value after {series}"));
        }
        if !is_ws(b[i]) {
            return Err(format!(
                "invalid character {:?} after series {series}",
                char_at(line, i)
            ));
        }
        let (value_tok, mut i) = token(line, skip_ws(b, i));
        let value = parse_value(value_tok).ok_or_else(|| format!("invalid value {value_tok:?}"))?;
        let mut timestamp = None;
        let mut exemplar = None;
        i = skip_ws(b, i);
        if i < b.len() && b[i] != b'#' {
            let (ts_tok, next) = token(line, i);
            timestamp = Some(if om {
                parse_om_timestamp(ts_tok).ok_or_else(|| format!("invalid timestamp {ts_tok:?}"))?
            } else {
                ts_tok
                    .parse::<i64>()
                    .map_err(|_| format!("invalid timestamp {ts_tok:?}"))?
            });
            i = skip_ws(b, next);
        }
        if i < b.len() {
            if om && b[i] == b'#' {
                // Exemplars never fail a scrape: a malformed one is dropped.
                exemplar = parse_exemplar(&line[i..]);
            } else {
                return Err(format!("unexpected {:?} after sample", &line[i..]));
            }
        }
        let created = om && self.is_created(&name);
        Ok(SampleEntry {
            series,
            name,
            value,
            timestamp,
            created,
            exemplar,
            line: self.line,
            label_text,
        })
    }

    fn is_created(&self, name: &str) -> bool {
        let Some((family, t)) = &self.family else {
            return false;
        };
        matches!(
            t,
            MetricType::Counter | MetricType::Histogram | MetricType::Summary | MetricType::GaugeHistogram
        ) && name.strip_suffix("_created") == Some(family.as_ref())
    }
}

impl<'a> Iterator for Parser<'a> {
    type Item = Result<Entry<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_entry()
    }
}

fn invalid_om_comment() -> String {
    "invalid comment: OpenMetrics allows only # HELP, # TYPE, # UNIT and # EOF".into()
}

fn parse_type(word: &str, om: bool) -> Option<MetricType> {
    Some(match word {
        "counter" => MetricType::Counter,
        "gauge" => MetricType::Gauge,
        "histogram" => MetricType::Histogram,
        "summary" => MetricType::Summary,
        "untyped" if !om => MetricType::Unknown,
        "unknown" if om => MetricType::Unknown,
        "gaugehistogram" if om => MetricType::GaugeHistogram,
        "info" if om => MetricType::Info,
        "stateset" if om => MetricType::Stateset,
        _ => return None,
    })
}

/// Parses a sample value: decimal and exponent forms, `NaN`, `+Inf`, `-Inf`
/// (case-insensitive, as Go's `ParseFloat`).
fn parse_value(tok: &str) -> Option<f64> {
    if tok.is_empty() || tok.len() > 64 {
        return None;
    }
    tok.parse::<f64>().ok()
}

/// OpenMetrics timestamp (float seconds) to milliseconds. Plain decimals are
/// converted exactly (digits beyond milliseconds truncated); exponent forms
/// go through `f64`.
fn parse_om_timestamp(tok: &str) -> Option<i64> {
    let (neg, digits) = match tok.as_bytes().first()? {
        b'-' => (true, &tok[1..]),
        b'+' => (false, &tok[1..]),
        _ => (false, tok),
    };
    let (int_part, frac_part) = digits.split_once('.').unwrap_or((digits, ""));
    let plain = !int_part.is_empty()
        && int_part.bytes().all(|c| c.is_ascii_digit())
        && frac_part.bytes().all(|c| c.is_ascii_digit());
    if plain {
        let secs: i64 = int_part.parse().ok()?;
        let mut ms: i64 = 0;
        for (k, c) in frac_part.bytes().take(3).enumerate() {
            ms += i64::from(c - b'0') * [100, 10, 1][k];
        }
        let v = secs.checked_mul(1000)?.checked_add(ms)?;
        return Some(if neg { -v } else { v });
    }
    let f = parse_value(tok)?;
    let ms = f * 1000.0;
    if !ms.is_finite() || ms.abs() >= 9.2e18 {
        return None;
    }
    Some(ms as i64)
}

fn parse_exemplar(s: &str) -> Option<Exemplar<'_>> {
    // s starts with '#'.
    let b = s.as_bytes();
    if b.len() < 3 || b[1] != b' ' {
        return None;
    }
    let i = skip_ws(b, 1);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    let end = scan_label_set(s, i + 1, &mut |item| match item {
        LabelItem::Name(_) => Err(String::new()),
        LabelItem::Pair(..) => Ok(()),
    })
    .ok()?;
    let label_text = &s[i..end];
    if end >= b.len() || !is_ws(b[end]) {
        return None;
    }
    let (vtok, next) = token(s, skip_ws(b, end));
    let value = parse_value(vtok)?;
    let next = skip_ws(b, next);
    let mut timestamp = None;
    if next < b.len() {
        let (ttok, after) = token(s, next);
        timestamp = Some(parse_om_timestamp(ttok)?);
        if skip_ws(b, after) != b.len() {
            return None;
        }
    }
    Some(Exemplar {
        label_text,
        value,
        timestamp,
    })
}

/// Pieces of a label set, handed to the scanner's callback. Quoted strings
/// are given raw (escapes unresolved).
enum LabelItem<'a> {
    /// A quoted metric name inside the braces.
    Name(&'a str),
    /// `name="value"`: the name (raw, `true` when it was quoted) and the raw value.
    Pair(&'a str, bool, &'a str),
}

/// Scans a label set starting just after `{`; returns the index just past
/// the closing `}`. Accepts whitespace between tokens and a trailing comma.
fn scan_label_set<'a>(
    s: &'a str,
    mut i: usize,
    sink: &mut dyn FnMut(LabelItem<'a>) -> Result<(), String>,
) -> Result<usize, String> {
    let b = s.as_bytes();
    loop {
        i = skip_ws(b, i);
        match b.get(i) {
            None => return Err("unterminated label set (missing '}')".into()),
            Some(b'}') => return Ok(i + 1),
            _ => {}
        }
        let (name, quoted, after_name) = if b[i] == b'"' {
            let (raw, end) = scan_quoted(s, i)?;
            (raw, true, end)
        } else if is_label_name_start(b[i]) {
            let end = b[i..]
                .iter()
                .position(|c| !is_label_name_char(*c))
                .map_or(b.len(), |p| i + p);
            (&s[i..end], false, end)
        } else {
            return Err(format!("invalid label name start {:?}", char_at(s, i)));
        };
        i = skip_ws(b, after_name);
        match b.get(i) {
            Some(b'=') => {
                if name.is_empty() {
                    return Err("empty label name".into());
                }
                i = skip_ws(b, i + 1);
                if b.get(i) != Some(&b'"') {
                    return Err(format!("expected '\"' to start the value of label {name}"));
                }
                let (value, end) = scan_quoted(s, i)?;
                sink(LabelItem::Pair(name, quoted, value))?;
                i = end;
            }
            Some(b',') | Some(b'}') if quoted => sink(LabelItem::Name(name))?,
            Some(_) => {
                return Err(format!(
                    "expected '=' after label name {name}, found {:?}",
                    char_at(s, i)
                ))
            }
            None => return Err("unterminated label set (missing '}')".into()),
        }
        i = skip_ws(b, i);
        match b.get(i) {
            Some(b',') => i += 1,
            Some(b'}') => return Ok(i + 1),
            Some(_) => {
                return Err(format!(
                    "expected ',' or '}}' in label set, found {:?}",
                    char_at(s, i)
                ))
            }
            None => return Err("unterminated label set (missing '}')".into()),
        }
    }
}

/// Scans a quoted string starting at the `"` at `start`; returns the raw
/// contents and the index just past the closing quote.
fn scan_quoted(s: &str, start: usize) -> Result<(&str, usize), String> {
    let b = s.as_bytes();
    let mut i = start + 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Ok((&s[start + 1..i], i + 1)),
            _ => i += 1,
        }
    }
    Err("unterminated quoted string".into())
}

fn collect_pairs<'a>(label_set: &'a str, out: &mut Vec<LabelPair<'a>>) -> Result<(), String> {
    if label_set.is_empty() {
        return Ok(());
    }
    // `label_set` includes both braces; scan from just after `{`.
    scan_label_set(label_set, 1, &mut |item| {
        if let LabelItem::Pair(n, quoted, v) = item {
            let name = if quoted {
                unescape(n, true)
            } else {
                Cow::Borrowed(n)
            };
            out.push((name, unescape(v, true)));
        }
        Ok(())
    })?;
    // Duplicate names (sets are small: quadratic beats hashing).
    for k in 1..out.len() {
        if out[..k].iter().any(|(n, _)| *n == out[k].0) {
            return Err(format!("duplicate label name {:?}", out[k].0));
        }
    }
    Ok(())
}

/// Resolves escapes: `\\`, `\n` and (when `quote`) `\"`. Other backslash
/// sequences are kept verbatim, as Prometheus does.
fn unescape(s: &str, quote: bool) -> Cow<'_, str> {
    if !s.contains('\\') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('"') if quote => out.push('"'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    Cow::Owned(out)
}

/// Reads a metric or label name at `start`: a legacy name or a quoted one.
fn parse_name_token(
    s: &str,
    start: usize,
    first: fn(u8) -> bool,
    rest: fn(u8) -> bool,
) -> Result<(Cow<'_, str>, usize), String> {
    let b = s.as_bytes();
    match b.get(start) {
        Some(b'"') => {
            let (raw, end) = scan_quoted(s, start)?;
            if raw.is_empty() {
                return Err("empty metric name".into());
            }
            Ok((unescape(raw, true), end))
        }
        Some(c) if first(*c) => {
            let end = b[start..]
                .iter()
                .position(|c| !rest(*c))
                .map_or(b.len(), |p| start + p);
            Ok((Cow::Borrowed(&s[start..end]), end))
        }
        Some(_) => Err(format!("invalid metric name start {:?}", char_at(s, start))),
        None => Err("missing metric name".into()),
    }
}

fn token(s: &str, start: usize) -> (&str, usize) {
    let b = s.as_bytes();
    let end = b[start..]
        .iter()
        .position(|c| is_ws(*c))
        .map_or(b.len(), |p| start + p);
    (&s[start..end], end)
}

fn char_at(s: &str, i: usize) -> char {
    s.get(i..).and_then(|r| r.chars().next()).unwrap_or('?')
}

#[inline]
fn is_ws(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

#[inline]
fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && is_ws(b[i]) {
        i += 1;
    }
    i
}

#[inline]
fn is_metric_name_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c == b':'
}

#[inline]
fn is_metric_name_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b':'
}

#[inline]
fn is_label_name_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

#[inline]
fn is_label_name_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// True when `name` can be written unquoted as a metric name.
pub fn is_legacy_metric_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty() && is_metric_name_start(b[0]) && b[1..].iter().all(|c| is_metric_name_char(*c))
}

/// True when `name` can be written unquoted as a label name.
pub fn is_legacy_label_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty() && is_label_name_start(b[0]) && b[1..].iter().all(|c| is_label_name_char(*c))
}

// ---------------------------------------------------------------------------
// Encoder
// ---------------------------------------------------------------------------

/// Appends one sample line in text format 0.0.4: `name{a="x",b="y"} v [ts]`.
/// Names that are not legacy names are quoted (`{"my.metric","a.b"="x"}`);
/// label values are escaped (`\\`, `\"`, `\n`); `v` is formatted as
/// Prometheus does ([`format_float`]).
pub fn write_sample(out: &mut String, labels: &Labels, v: f64, ts: Option<i64>) {
    let name = labels.metric_name();
    let mut first = true;
    let mut open = false;
    match name {
        Some(n) if is_legacy_metric_name(n) => out.push_str(n),
        Some(n) => {
            out.push('{');
            write_quoted(out, n);
            open = true;
            first = false;
        }
        None => {}
    }
    for l in labels.iter() {
        if l.name == METRIC_NAME {
            continue;
        }
        if !open {
            out.push('{');
            open = true;
        }
        if !first {
            out.push(',');
        }
        first = false;
        if is_legacy_label_name(l.name) {
            out.push_str(l.name);
        } else {
            write_quoted(out, l.name);
        }
        out.push('=');
        write_quoted(out, l.value);
    }
    if open {
        out.push('}');
    } else if name.is_none() {
        out.push_str("{}");
    }
    out.push(' ');
    format_float(out, v);
    if let Some(ts) = ts {
        out.push(' ');
        out.push_str(&ts.to_string());
    }
    out.push('\n');
}

/// Appends `# HELP <family> <help>` with `\\` and `\n` escaped.
pub fn write_help(out: &mut String, family: &str, help: &str) {
    out.push_str("# HELP ");
    write_family(out, family);
    out.push(' ');
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('\n');
}

/// Appends `# TYPE <family> <type>`. Types the text format lacks
/// (`gaugehistogram`, `info`, `stateset`, unknown) are written `untyped`.
pub fn write_type(out: &mut String, family: &str, metric_type: MetricType) {
    out.push_str("# TYPE ");
    write_family(out, family);
    out.push(' ');
    out.push_str(match metric_type {
        MetricType::Counter => "counter",
        MetricType::Gauge => "gauge",
        MetricType::Histogram => "histogram",
        MetricType::Summary => "summary",
        _ => "untyped",
    });
    out.push('\n');
}

fn write_family(out: &mut String, family: &str) {
    if is_legacy_metric_name(family) {
        out.push_str(family);
    } else {
        write_quoted(out, family);
    }
}

fn write_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends `v` as Prometheus writes floats: `+Inf`, `-Inf`, `NaN`, `0` for
/// both zeros, otherwise Go's `strconv.FormatFloat(v, 'g', -1, 64)`:
/// shortest round-trip digits, in exponent form (`1.234567e+06`, at least
/// two exponent digits) when the decimal exponent is below -4 or at least
/// 6, plain decimal otherwise (`123456`, `0.0001`).
pub fn format_float(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
        return;
    }
    if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
        return;
    }
    if v == 0.0 {
        out.push('0');
        return;
    }
    // Shortest round-trip digits and decimal exponent from Rust's `{:e}`.
    let e = format!("{v:e}");
    let (mantissa, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (neg, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let nd = digits.len() as i32;
    if neg {
        out.push('-');
    }
    if !(-4..6).contains(&exp) {
        out.push_str(&digits[..1]);
        if nd > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let a = exp.unsigned_abs();
        if a < 10 {
            out.push('0');
        }
        out.push_str(&a.to_string());
    } else if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(&digits);
    } else {
        let int_len = (exp + 1) as usize;
        if digits.len() <= int_len {
            out.push_str(&digits);
            for _ in digits.len()..int_len {
                out.push('0');
            }
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    }
}

#[cfg(test)]
mod tests;
