//! InfluxDB line protocol (as Telegraf and InfluxDB clients send it), mapped
//! to Prometheus series the way VictoriaMetrics maps it.
//!
//! ```text
//! measurement[,tag=value...] field=value[,field=value...] [timestamp]
//! ```
//!
//! Mapping (documented with examples in `docs/ingest/influx.md`):
//! - every numeric field becomes one sample of the series named
//!   `{measurement}_{field}`, always (also for a field called `value`);
//! - names are sanitized to valid Prometheus names: every character outside
//!   `[a-zA-Z0-9_:]` (`[a-zA-Z0-9_]` for tag keys) becomes `_`, and a name
//!   starting with a digit gets a leading `_`;
//! - tags become labels, tag values are kept as sent (after unescaping);
//! - floats, integers (`1i`), unsigned integers (`1u`) and booleans
//!   (`t`/`T`/`true`/`True`/`TRUE` = 1, `f`/`F`/`false`/`False`/`FALSE` = 0)
//!   are samples; string fields carry no number and are skipped;
//! - [`Options::db`] (the `db` or `bucket` request parameter) adds a `db`
//!   label unless the line has a `db` tag;
//! - timestamps are integers in [`Precision`] units, converted to
//!   milliseconds rounding down; a line without one gets [`Options::now_ns`].
//!
//! Invariants:
//! - parsing is line by line: a bad line is reported in [`ParseReport`] with
//!   its 1-based number and the problem, and produces no sample; the other
//!   lines are unaffected (InfluxDB's partial-write semantics);
//! - a line's samples are handed out only after the whole line parsed;
//! - labels are borrowed from the body when no unescaping or sanitizing was
//!   needed, otherwise from a scratch buffer reused across lines;
//! - no input makes the parser panic.

use sightline_model::{LabelRef, Sample, METRIC_NAME};
use std::fmt;

use crate::remote_write::reuse_vec;

#[cfg(test)]
mod tests;

/// Unit of the timestamps in a request (`precision` request parameter).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Precision {
    #[default]
    Nanoseconds,
    Microseconds,
    Milliseconds,
    Seconds,
    Minutes,
    Hours,
}

impl Precision {
    /// Parses the `precision` parameter: `ns`, `us`, `ms`, `s` (InfluxDB v2)
    /// and the v1 spellings `n`, `u`, `µ`, `m` (minutes), `h`.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "ns" | "n" => Precision::Nanoseconds,
            "us" | "u" | "µ" | "µs" => Precision::Microseconds,
            "ms" => Precision::Milliseconds,
            "s" => Precision::Seconds,
            "m" => Precision::Minutes,
            "h" => Precision::Hours,
            _ => return None,
        })
    }

    /// Converts a timestamp in this unit to milliseconds (rounding down), or
    /// `None` when it does not fit.
    pub fn to_millis(self, ts: i64) -> Option<i64> {
        match self {
            Precision::Nanoseconds => Some(ts.div_euclid(1_000_000)),
            Precision::Microseconds => Some(ts.div_euclid(1_000)),
            Precision::Milliseconds => Some(ts),
            Precision::Seconds => ts.checked_mul(1_000),
            Precision::Minutes => ts.checked_mul(60_000),
            Precision::Hours => ts.checked_mul(3_600_000),
        }
    }
}

/// Request-level settings.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options<'a> {
    pub precision: Precision,
    /// The time given to lines without a timestamp, in ns since the epoch.
    pub now_ns: i64,
    /// Value of the `db` label added to every series (unless a line has a
    /// `db` tag); `None` or empty adds nothing.
    pub db: Option<&'a str>,
}

/// One refused line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineError {
    /// 1-based line number in the body.
    pub line: usize,
    pub message: String,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for LineError {}

/// At most this many line errors are kept (all are counted).
pub const MAX_REPORTED_ERRORS: usize = 100;

/// What one request body held.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParseReport {
    /// Lines parsed successfully (points), comments and blank lines excluded.
    pub points: usize,
    /// Samples handed to the callback.
    pub samples: usize,
    /// Lines refused, counted in full.
    pub error_count: usize,
    /// The first [`MAX_REPORTED_ERRORS`] refused lines, in body order.
    pub errors: Vec<LineError>,
}

impl ParseReport {
    /// The error to answer with (InfluxDB answers a partial write with 400
    /// and the first problem).
    pub fn first_error(&self) -> Option<&LineError> {
        self.errors.first()
    }

    fn push_error(&mut self, line: usize, message: String) {
        self.error_count += 1;
        if self.errors.len() < MAX_REPORTED_ERRORS {
            self.errors.push(LineError { line, message });
        }
    }
}

/// Parses a whole body, calling `out` once per numeric field of every good
/// line with the series' labels (`__name__` first, then tags in line order,
/// then `db`) and the sample.
pub fn parse(body: &[u8], opts: &Options<'_>, out: &mut impl FnMut(&[LabelRef<'_>], Sample)) -> ParseReport {
    let mut report = ParseReport::default();
    let mut scratch = Scratch::default();
    let db = opts.db.filter(|d| !d.is_empty());
    for (i, raw) in body.split(|&b| b == b'\n').enumerate() {
        let lineno = i + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let start = raw
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(raw.len());
        let raw = &raw[start..];
        if raw.is_empty() || raw[0] == b'#' {
            continue;
        }
        let line = match std::str::from_utf8(raw) {
            Ok(l) => l,
            Err(e) => {
                report.push_error(
                    lineno,
                    format!("invalid UTF-8 at byte {}", start + e.valid_up_to() + 1),
                );
                continue;
            }
        };
        match scratch.parse_line(line, opts) {
            Ok(t) => {
                report.points += 1;
                report.samples += scratch.emit(line, db, t, out);
            }
            Err(msg) => report.push_error(lineno, msg),
        }
    }
    report
}

/// Where a string lives: in the line itself or in the scratch arena.
#[derive(Clone, Copy, Debug)]
struct Span {
    in_arena: bool,
    start: usize,
    end: usize,
}

impl Span {
    fn get<'x>(self, line: &'x str, arena: &'x str) -> &'x str {
        let src = if self.in_arena { arena } else { line };
        &src[self.start..self.end]
    }
}

#[derive(Default)]
struct Scratch {
    /// Unescaped and sanitized strings of the current line.
    arena: String,
    /// Sanitized key and unescaped value of each tag.
    tags: Vec<(Span, Span)>,
    /// Unescaped key of each numeric field, with its value.
    fields: Vec<(Span, f64)>,
    /// Always empty between lines: only its allocation is kept.
    labels: Vec<LabelRef<'static>>,
    /// Which fields survive de-duplication.
    keep: Vec<bool>,
}

/// Up to this many tags or fields, duplicates are found by comparing pairs.
const SMALL_SET: usize = 16;

const MEASUREMENT_ESCAPES: &[u8] = b", \\";
const KEY_ESCAPES: &[u8] = b",= \\";

impl Scratch {
    /// Parses one non-empty line, leaving its parts in `self`; returns the
    /// sample timestamp in ms.
    fn parse_line(&mut self, line: &str, opts: &Options<'_>) -> Result<i64, String> {
        self.arena.clear();
        self.tags.clear();
        self.fields.clear();
        let b = line.as_bytes();

        let (measurement, mut pos) = self.token(line, 0, b", ", MEASUREMENT_ESCAPES);
        if measurement.start == measurement.end {
            return Err("missing measurement name".into());
        }
        // Tags.
        while pos < b.len() && b[pos] == b',' {
            let (key, p) = self.token(line, pos + 1, b"=, ", KEY_ESCAPES);
            if p >= b.len() || b[p] != b'=' {
                let key = key.get(line, &self.arena);
                return Err(format!("tag {key:?} has no value (expected tag=value)"));
            }
            let (value, p) = self.token(line, p + 1, b", ", KEY_ESCAPES);
            let raw_key = key.get(line, &self.arena);
            if raw_key.is_empty() {
                return Err("empty tag key".into());
            }
            if value.start == value.end {
                return Err(format!("tag {raw_key:?} has an empty value"));
            }
            let label = self.sanitized(key, line, false);
            let name = label.get(line, &self.arena);
            if name == METRIC_NAME {
                return Err(format!("tag key {:?} is reserved", key.get(line, &self.arena)));
            }
            self.tags.push((label, value));
            pos = p;
        }
        if let Some(dup) = self.duplicate_tag(line) {
            return Err(format!("duplicate tag key {dup:?}"));
        }
        if pos >= b.len() {
            return Err("missing fields".into());
        }
        while pos < b.len() && b[pos] == b' ' {
            pos += 1;
        }
        if pos >= b.len() {
            return Err("missing fields".into());
        }
        // Fields.
        loop {
            let (key, p) = self.token(line, pos, b"=, ", KEY_ESCAPES);
            let key_str = key.get(line, &self.arena);
            if p >= b.len() || b[p] != b'=' {
                return Err(format!("field {key_str:?} has no value (expected field=value)"));
            }
            if key_str.is_empty() {
                return Err("empty field key".into());
            }
            pos = p + 1;
            let value = if b.get(pos) == Some(&b'"') {
                pos = skip_string(b, pos + 1)
                    .ok_or_else(|| format!("unterminated string value of field {key_str:?}"))?;
                None
            } else {
                let end = b[pos..]
                    .iter()
                    .position(|&c| c == b',' || c == b' ')
                    .map_or(b.len(), |n| pos + n);
                let text = &line[pos..end];
                pos = end;
                Some(field_value(text).map_err(|why| format!("{why} {text:?} of field {key_str:?}"))?)
            };
            if let Some(v) = value {
                self.fields.push((key, v));
            }
            match b.get(pos) {
                Some(b',') => pos += 1,
                _ => break,
            }
        }
        // Timestamp.
        let rest = line[pos..].trim_matches(|c: char| c == ' ' || c == '\t');
        let t = if rest.is_empty() {
            opts.now_ns.div_euclid(1_000_000)
        } else {
            let ts: i64 = match rest.parse() {
                Ok(ts) if !rest.starts_with('+') => ts,
                _ => return Err(format!("invalid timestamp {rest:?}")),
            };
            opts.precision
                .to_millis(ts)
                .ok_or_else(|| format!("timestamp {rest} out of range"))?
        };
        self.dedup_fields(line);
        self.build_names(line, measurement);
        Ok(t)
    }

    /// A tag name given twice (after sanitizing), if any. Quadratic for the
    /// usual handful of tags, hashed for long lines so a hostile line with
    /// thousands of tags costs linear time.
    fn duplicate_tag<'x>(&'x self, line: &'x str) -> Option<&'x str> {
        let arena = self.arena.as_str();
        let keys = self.tags.iter().map(|(k, _)| k.get(line, arena));
        if self.tags.len() <= SMALL_SET {
            for (i, k) in keys.clone().enumerate() {
                if keys.clone().take(i).any(|o| o == k) {
                    return Some(k);
                }
            }
            return None;
        }
        let mut seen = std::collections::HashSet::with_capacity(self.tags.len());
        keys.into_iter().find(|k| !seen.insert(*k))
    }

    /// Keeps the last value of a field key given more than once in a line
    /// (quadratic for few fields, hashed for many, like `duplicate_tag`).
    fn dedup_fields(&mut self, line: &str) {
        let n = self.fields.len();
        if n < 2 {
            return;
        }
        let arena = self.arena.as_str();
        let key = |f: &(Span, f64)| f.0.get(line, arena);
        self.keep.clear();
        if n <= SMALL_SET {
            let fields = &self.fields;
            self.keep
                .extend((0..n).map(|i| !fields[i + 1..].iter().any(|f| key(f) == key(&fields[i]))));
        } else {
            let mut last = std::collections::HashMap::with_capacity(n);
            for (i, f) in self.fields.iter().enumerate() {
                last.insert(key(f), i);
            }
            self.keep
                .extend(self.fields.iter().enumerate().map(|(i, f)| last[key(f)] == i));
        }
        if self.keep.iter().all(|&k| k) {
            return;
        }
        let mut i = 0;
        let keep = &self.keep;
        self.fields.retain(|_| {
            i += 1;
            keep[i - 1]
        });
    }

    /// Appends `{measurement}_{field}` for each numeric field to the arena,
    /// replacing each field's key span by the name's span.
    fn build_names(&mut self, line: &str, measurement: Span) {
        for i in 0..self.fields.len() {
            let start = self.arena.len();
            self.push_sanitized_span(line, measurement, true);
            self.arena.push('_');
            self.push_sanitized_span(line, self.fields[i].0, false);
            self.fields[i].0 = Span {
                in_arena: true,
                start,
                end: self.arena.len(),
            };
        }
    }

    fn push_sanitized_span(&mut self, line: &str, s: Span, at_start: bool) {
        if s.in_arena {
            // Rare (the text had escapes): copy it out before appending.
            let text = self.arena[s.start..s.end].to_owned();
            push_sanitized(&mut self.arena, &text, true, at_start);
        } else {
            push_sanitized(&mut self.arena, &line[s.start..s.end], true, at_start);
        }
    }

    /// Calls `out` for each numeric field; returns how many.
    fn emit(
        &mut self,
        line: &str,
        db: Option<&str>,
        t: i64,
        out: &mut impl FnMut(&[LabelRef<'_>], Sample),
    ) -> usize {
        let arena = self.arena.as_str();
        let mut labels: Vec<LabelRef<'_>> = reuse_vec(std::mem::take(&mut self.labels));
        labels.push(LabelRef::new(METRIC_NAME, ""));
        for (k, v) in &self.tags {
            labels.push(LabelRef::new(k.get(line, arena), v.get(line, arena)));
        }
        if let Some(db) = db {
            if !labels.iter().any(|l| l.name == "db") {
                labels.push(LabelRef::new("db", db));
            }
        }
        for (name, v) in &self.fields {
            labels[0].value = name.get(line, arena);
            out(&labels, Sample { t, v: *v });
        }
        self.labels = reuse_vec(labels);
        self.fields.len()
    }

    /// Reads from `pos` up to the first unescaped byte in `stops` (or the
    /// end). A backslash before a byte in `escapes` escapes it; any other
    /// backslash is literal. Returns the unescaped text's span and the index
    /// of the stop byte.
    fn token(&mut self, line: &str, pos: usize, stops: &[u8], escapes: &[u8]) -> (Span, usize) {
        let b = line.as_bytes();
        let mut i = pos;
        let mut escaped = false;
        while i < b.len() {
            let c = b[i];
            if c == b'\\' && i + 1 < b.len() && escapes.contains(&b[i + 1]) {
                escaped = true;
                i += 2;
            } else if stops.contains(&c) {
                break;
            } else {
                i += 1;
            }
        }
        if !escaped {
            return (
                Span {
                    in_arena: false,
                    start: pos,
                    end: i,
                },
                i,
            );
        }
        let start = self.arena.len();
        let mut j = pos;
        let mut run = pos;
        while j < i {
            if b[j] == b'\\' && j + 1 < i && escapes.contains(&b[j + 1]) {
                self.arena.push_str(&line[run..j]);
                run = j + 1;
                j += 2;
            } else {
                j += 1;
            }
        }
        self.arena.push_str(&line[run..i]);
        (
            Span {
                in_arena: true,
                start,
                end: self.arena.len(),
            },
            i,
        )
    }

    /// The span of `s` as a valid label name (itself when already valid).
    fn sanitized(&mut self, s: Span, line: &str, allow_colon: bool) -> Span {
        let text = s.get(line, &self.arena);
        if is_valid_name(text, allow_colon) {
            return s;
        }
        let text = text.to_owned();
        let start = self.arena.len();
        push_sanitized(&mut self.arena, &text, allow_colon, true);
        Span {
            in_arena: true,
            start,
            end: self.arena.len(),
        }
    }
}

fn is_name_char(c: char, allow_colon: bool) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || (allow_colon && c == ':')
}

fn is_valid_name(s: &str, allow_colon: bool) -> bool {
    !s.starts_with(|c: char| c.is_ascii_digit()) && s.chars().all(|c| is_name_char(c, allow_colon))
}

/// Appends `s` with every character outside the name alphabet replaced by
/// `_`, and a leading `_` if `at_start` and `s` starts with a digit.
fn push_sanitized(out: &mut String, s: &str, allow_colon: bool, at_start: bool) {
    if at_start && s.starts_with(|c: char| c.is_ascii_digit()) {
        out.push('_');
    }
    for c in s.chars() {
        out.push(if is_name_char(c, allow_colon) { c } else { '_' });
    }
}

/// Skips a string field value whose opening quote precedes `pos`; returns
/// the index after the closing quote. `\"` and `\\` are escapes.
fn skip_string(b: &[u8], mut pos: usize) -> Option<usize> {
    while pos < b.len() {
        match b[pos] {
            b'\\' if pos + 1 < b.len() => pos += 2,
            b'"' => return Some(pos + 1),
            _ => pos += 1,
        }
    }
    None
}

/// The numeric value of an unquoted field value.
fn field_value(text: &str) -> Result<f64, &'static str> {
    match text {
        "" => return Err("empty value"),
        "t" | "T" | "true" | "True" | "TRUE" => return Ok(1.0),
        "f" | "F" | "false" | "False" | "FALSE" => return Ok(0.0),
        _ => {}
    }
    if let Some(int) = text.strip_suffix('i') {
        return int
            .parse::<i64>()
            .map(|v| v as f64)
            .map_err(|_| "invalid integer value");
    }
    if let Some(uint) = text.strip_suffix('u') {
        if uint.starts_with(['-', '+']) {
            return Err("invalid unsigned integer value");
        }
        return uint
            .parse::<u64>()
            .map(|v| v as f64)
            .map_err(|_| "invalid unsigned integer value");
    }
    // Rust would also accept `inf`, `NaN` and `infinity`; line protocol does not.
    if !text
        .bytes()
        .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return Err("invalid value");
    }
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err("float value out of range"),
        Err(_) => Err("invalid float value"),
    }
}
