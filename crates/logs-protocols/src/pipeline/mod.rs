//! The log processing pipeline: configurable stages applied to each
//! [`LogRecord`] after decoding and before storage, per source or global.
//!
//! A stage reads and writes *fields*; the name `message` means the log line
//! itself, every other name a structured field (the first of that name).
//! Stages run in order; each may carry a `when` condition. Masking
//! ([`mask`]) runs after all stages and is on by default, so secrets that a
//! parsing stage extracted are masked too.
//!
//! Configuration (YAML or JSON, via serde):
//!
//! ```yaml
//! stages:
//!   - type: json                      # parse a JSON line into fields
//!     when: { field: message, matches: '^\{.*\}$' }
//!   - type: grok
//!     patterns: ['%{TIMESTAMP_ISO8601:timestamp} %{LOGLEVEL:level} %{GREEDYDATA:log_message}']
//!   - type: timestamp
//!     source: timestamp
//!     formats: [rfc3339, unix_ms, '%d/%b/%Y:%H:%M:%S %z']
//!   - type: labels                    # field -> stream label
//!     fields: { level: level }
//!   - type: remove
//!     fields: [auth_token]
//!   - type: drop
//!     when: { field: level, equals: DEBUG }
//! masking:
//!   emails: true
//! ```
//!
//! Stage types: `json`, `logfmt`, `grok`, `regex`, `add_fields`, `rename`,
//! `remove`, `drop`, `timestamp`, `labels`, `message`, `user_agent`. Not
//! implemented: GeoIP.

pub mod grok;
pub mod mask;
pub mod useragent;

use crate::{time, LogRecord};
use grok::Grok;
use mask::{Masker, MaskingConfig};
use regex::Regex;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// The whole pipeline configuration.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PipelineConfig {
    pub stages: Vec<StageConfig>,
    pub masking: MaskingConfig,
}

/// A condition on one field (`message` = the line). All given tests must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Condition {
    pub field: String,
    pub equals: Option<String>,
    pub not_equals: Option<String>,
    /// Unanchored regex.
    pub matches: Option<String>,
    pub not_matches: Option<String>,
    /// The field is present (true) or absent (false).
    pub exists: Option<bool>,
    /// The value is one of these.
    #[serde(rename = "in")]
    pub one_of: Option<Vec<String>>,
}

/// One stage with its optional condition.
#[derive(Debug, Clone, PartialEq)]
pub struct StageConfig {
    pub when: Option<Condition>,
    pub stage: Stage,
}

impl<'de> Deserialize<'de> for StageConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut v = Value::deserialize(d)?;
        let when = match v.as_object_mut().and_then(|o| o.remove("when")) {
            Some(w) => Some(Condition::deserialize(w).map_err(D::Error::custom)?),
            None => None,
        };
        let stage = Stage::deserialize(v).map_err(D::Error::custom)?;
        Ok(StageConfig { when, stage })
    }
}

fn message() -> String {
    "message".into()
}

/// The stage kinds.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Stage {
    /// Parses `source` as a JSON object into fields (nested keys dotted),
    /// prefixed with `prefix.` when given. Not an object: no change.
    Json {
        #[serde(default = "message")]
        source: String,
        #[serde(default)]
        prefix: Option<String>,
    },
    /// Parses `key=value key2="quoted value"` pairs into fields.
    Logfmt {
        #[serde(default = "message")]
        source: String,
        #[serde(default)]
        prefix: Option<String>,
    },
    /// Matches `source` against grok patterns (first match wins); captures
    /// become fields. On no match, `tag_on_failure` (if set) is added as the
    /// field `tags`.
    Grok {
        #[serde(default = "message")]
        source: String,
        patterns: Vec<String>,
        #[serde(default)]
        pattern_definitions: BTreeMap<String, String>,
        #[serde(default)]
        tag_on_failure: Option<String>,
    },
    /// Named captures of a regex (`(?P<name>...)`) become fields.
    Regex {
        #[serde(default = "message")]
        source: String,
        pattern: String,
    },
    /// Sets fields; `%{name}` in a value is replaced by that field's value.
    AddFields { fields: BTreeMap<String, String> },
    /// Renames fields `from: to`.
    Rename { fields: BTreeMap<String, String> },
    /// Removes fields.
    Remove { fields: Vec<String> },
    /// Drops the record (use `when`; without it every record is dropped).
    Drop {},
    /// Parses a field as the record's timestamp. Formats: `rfc3339`
    /// (`iso8601`), `unix`, `unix_ms`, `unix_us`, `unix_ns`, `httpdate`,
    /// `auto`, or a strftime subset (`%Y %m %d %H %M %S %f %z %b %y %e %%`,
    /// `%f` = fraction digits). Unparseable: the timestamp is kept.
    Timestamp {
        source: String,
        #[serde(default)]
        formats: Vec<String>,
        /// Remove the source field after a successful parse.
        #[serde(default)]
        remove: bool,
    },
    /// Promotes fields to stream labels `field: label` (removed from fields).
    Labels { fields: BTreeMap<String, String> },
    /// Replaces the message with a field's value (e.g. grok's `log_message`).
    Message { source: String },
    /// Parses a user-agent field into `<target>.browser`,
    /// `<target>.browser_version`, `<target>.os`, `<target>.os_version`,
    /// `<target>.device` (see [`useragent`]).
    UserAgent {
        source: String,
        #[serde(default = "user_agent_target")]
        target: String,
    },
}

fn user_agent_target() -> String {
    "user_agent".into()
}

#[derive(Debug, Clone)]
struct CompiledCond {
    field: String,
    equals: Option<String>,
    not_equals: Option<String>,
    matches: Option<Regex>,
    not_matches: Option<Regex>,
    exists: Option<bool>,
    one_of: Option<Vec<String>>,
}

#[derive(Debug, Clone)]
enum Compiled {
    Json(String, Option<String>),
    Logfmt(String, Option<String>),
    Grok(String, Vec<Grok>, Option<String>),
    Regex(String, Regex),
    AddFields(Vec<(String, String)>),
    Rename(Vec<(String, String)>),
    Remove(Vec<String>),
    Drop,
    Timestamp(String, Vec<String>, bool),
    Labels(Vec<(String, String)>),
    Message(String),
    UserAgent(String, String),
}

/// A compiled pipeline.
#[derive(Debug, Clone)]
pub struct Pipeline {
    stages: Vec<(Option<CompiledCond>, Compiled)>,
    masker: Masker,
}

/// Stage formats known without a strftime pattern.
const NAMED_FORMATS: &[&str] = &[
    "rfc3339", "iso8601", "unix", "unix_ms", "unix_us", "unix_ns", "httpdate", "auto",
];

impl Pipeline {
    /// Compiles the configuration; errors name the stage.
    pub fn new(cfg: &PipelineConfig) -> Result<Pipeline, String> {
        let mut stages = Vec::new();
        for (i, s) in cfg.stages.iter().enumerate() {
            let ctx = |e: String| format!("pipeline stage {i}: {e}");
            let cond = s.when.as_ref().map(compile_cond).transpose().map_err(ctx)?;
            let c = match &s.stage {
                Stage::Json { source, prefix } => Compiled::Json(source.clone(), prefix.clone()),
                Stage::Logfmt { source, prefix } => Compiled::Logfmt(source.clone(), prefix.clone()),
                Stage::Grok {
                    source,
                    patterns,
                    pattern_definitions,
                    tag_on_failure,
                } => {
                    if patterns.is_empty() {
                        return Err(ctx("grok needs at least one pattern".into()));
                    }
                    let g = patterns
                        .iter()
                        .map(|p| Grok::compile(p, pattern_definitions))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(ctx)?;
                    Compiled::Grok(source.clone(), g, tag_on_failure.clone())
                }
                Stage::Regex { source, pattern } => Compiled::Regex(
                    source.clone(),
                    Regex::new(pattern).map_err(|e| ctx(e.to_string()))?,
                ),
                Stage::AddFields { fields } => Compiled::AddFields(fields.clone().into_iter().collect()),
                Stage::Rename { fields } => Compiled::Rename(fields.clone().into_iter().collect()),
                Stage::Remove { fields } => Compiled::Remove(fields.clone()),
                Stage::Drop {} => Compiled::Drop,
                Stage::Timestamp {
                    source,
                    formats,
                    remove,
                } => {
                    for f in formats {
                        if !NAMED_FORMATS.contains(&f.as_str()) && !f.contains('%') {
                            return Err(ctx(format!("unknown timestamp format {f:?}")));
                        }
                    }
                    let formats = if formats.is_empty() {
                        vec!["auto".to_string()]
                    } else {
                        formats.clone()
                    };
                    Compiled::Timestamp(source.clone(), formats, *remove)
                }
                Stage::Labels { fields } => {
                    for l in fields.values() {
                        if !crate::is_valid_label_name(l) {
                            return Err(ctx(format!("invalid label name {l:?}")));
                        }
                    }
                    Compiled::Labels(fields.clone().into_iter().collect())
                }
                Stage::Message { source } => Compiled::Message(source.clone()),
                Stage::UserAgent { source, target } => Compiled::UserAgent(source.clone(), target.clone()),
            };
            stages.push((cond, c));
        }
        Ok(Pipeline {
            stages,
            masker: Masker::new(&cfg.masking)?,
        })
    }

    /// Runs every stage and the masking; `None` when a `drop` stage fired.
    pub fn process(&self, mut rec: LogRecord) -> Option<LogRecord> {
        for (cond, st) in &self.stages {
            if let Some(c) = cond {
                if !eval(c, &rec) {
                    continue;
                }
            }
            match st {
                Compiled::Json(src, prefix) => {
                    if let Some(text) = get(&rec, src).map(str::to_string) {
                        if let Ok(Value::Object(o)) = serde_json::from_str::<Value>(text.trim()) {
                            let mut out = Vec::new();
                            for (k, v) in &o {
                                let name = match prefix {
                                    Some(p) => format!("{p}.{k}"),
                                    None => k.clone(),
                                };
                                crate::doc::flatten_into(&name, v, &mut out);
                            }
                            for (k, v) in out {
                                set(&mut rec, &k, v);
                            }
                        }
                    }
                }
                Compiled::Logfmt(src, prefix) => {
                    if let Some(text) = get(&rec, src).map(str::to_string) {
                        for (k, v) in logfmt(&text) {
                            let name = match prefix {
                                Some(p) => format!("{p}.{k}"),
                                None => k,
                            };
                            set(&mut rec, &name, v);
                        }
                    }
                }
                Compiled::Grok(src, groks, tag) => {
                    let Some(text) = get(&rec, src).map(str::to_string) else {
                        continue;
                    };
                    match groks.iter().find_map(|g| g.captures(&text)) {
                        Some(caps) => {
                            for (k, v) in caps {
                                set(&mut rec, &k, v);
                            }
                        }
                        None => {
                            if let Some(t) = tag {
                                set(&mut rec, "tags", t.clone());
                            }
                        }
                    }
                }
                Compiled::Regex(src, re) => {
                    let Some(text) = get(&rec, src).map(str::to_string) else {
                        continue;
                    };
                    if let Some(c) = re.captures(&text) {
                        let pairs: Vec<(String, String)> = re
                            .capture_names()
                            .flatten()
                            .filter_map(|n| c.name(n).map(|m| (n.to_string(), m.as_str().to_string())))
                            .collect();
                        for (k, v) in pairs {
                            set(&mut rec, &k, v);
                        }
                    }
                }
                Compiled::AddFields(fields) => {
                    for (k, tmpl) in fields {
                        let v = substitute(tmpl, &rec);
                        set(&mut rec, k, v);
                    }
                }
                Compiled::Rename(pairs) => {
                    for (from, to) in pairs {
                        if let Some(v) = take(&mut rec, from) {
                            set(&mut rec, to, v);
                        }
                    }
                }
                Compiled::Remove(names) => {
                    for n in names {
                        while take(&mut rec, n).is_some() && n != "message" {}
                    }
                }
                Compiled::Drop => return None,
                Compiled::Timestamp(src, formats, remove) => {
                    if let Some(v) = get(&rec, src) {
                        if let Some(ts) = formats.iter().find_map(|f| parse_with(f, v)) {
                            rec.ts_ns = ts;
                            if *remove {
                                take(&mut rec, src);
                            }
                        }
                    }
                }
                Compiled::Labels(pairs) => {
                    let mut b = rec.stream.builder();
                    let mut changed = false;
                    for (field, label) in pairs {
                        if field == "message" {
                            continue;
                        }
                        if let Some(v) = take(&mut rec, field) {
                            b.set(label.clone(), v);
                            changed = true;
                        }
                    }
                    if changed {
                        rec.stream = b.build();
                    }
                }
                Compiled::UserAgent(src, target) => {
                    if let Some(ua) = get(&rec, src).map(useragent::parse) {
                        for (k, v) in [
                            ("browser", ua.browser),
                            ("browser_version", ua.browser_version),
                            ("os", ua.os),
                            ("os_version", ua.os_version),
                            ("device", ua.device),
                        ] {
                            if !v.is_empty() {
                                set(&mut rec, &format!("{target}.{k}"), v);
                            }
                        }
                    }
                }
                Compiled::Message(src) => {
                    if let Some(v) = get(&rec, src).map(str::to_string) {
                        rec.message = v;
                    }
                }
            }
        }
        self.masker.apply(&mut rec);
        Some(rec)
    }

    /// Processes a batch; returns the kept records and how many were dropped.
    pub fn process_batch(&self, recs: Vec<LogRecord>) -> (Vec<LogRecord>, usize) {
        let n = recs.len();
        let kept: Vec<LogRecord> = recs.into_iter().filter_map(|r| self.process(r)).collect();
        let dropped = n - kept.len();
        (kept, dropped)
    }

    /// Processes a decoded batch in place and re-checks the limits (stages
    /// can add labels, fields and text): records that now break a limit move
    /// to `batch.rejected` with their position in `batch.records` before
    /// processing. Returns how many records `drop` stages removed.
    pub fn process_checked(&self, batch: &mut crate::Batch, limits: &crate::IngestLimits) -> usize {
        let recs = std::mem::take(&mut batch.records);
        let mut dropped = 0;
        for (i, r) in recs.into_iter().enumerate() {
            match self.process(r) {
                None => dropped += 1,
                Some(mut r) => match limits.check_record(&mut r) {
                    Ok(()) => batch.records.push(r),
                    Err(e) => batch.reject(i, e),
                },
            }
        }
        dropped
    }
}

impl Default for Pipeline {
    /// No stages, default masking.
    fn default() -> Self {
        Pipeline {
            stages: Vec::new(),
            masker: Masker::new(&MaskingConfig::default()).unwrap_or_else(|_| unreachable_masker()),
        }
    }
}

// The default masking rules are constants that compile (tested); this
// fallback keeps `Default` free of a panic path regardless.
fn unreachable_masker() -> Masker {
    Masker::new(&MaskingConfig {
        enabled: false,
        field_names: Vec::new(),
        ..MaskingConfig::default()
    })
    .unwrap_or_else(|_| std::process::abort())
}

fn compile_cond(c: &Condition) -> Result<CompiledCond, String> {
    let re = |p: &Option<String>| {
        p.as_deref()
            .map(Regex::new)
            .transpose()
            .map_err(|e| e.to_string())
    };
    Ok(CompiledCond {
        field: if c.field.is_empty() {
            "message".into()
        } else {
            c.field.clone()
        },
        equals: c.equals.clone(),
        not_equals: c.not_equals.clone(),
        matches: re(&c.matches)?,
        not_matches: re(&c.not_matches)?,
        exists: c.exists,
        one_of: c.one_of.clone(),
    })
}

fn eval(c: &CompiledCond, rec: &LogRecord) -> bool {
    let v = get(rec, &c.field);
    if let Some(e) = c.exists {
        if v.is_some() != e {
            return false;
        }
    }
    let s = v.unwrap_or("");
    c.equals.as_ref().is_none_or(|e| v.is_some() && s == e)
        && c.not_equals.as_ref().is_none_or(|e| s != e)
        && c.matches.as_ref().is_none_or(|r| v.is_some() && r.is_match(s))
        && c.not_matches.as_ref().is_none_or(|r| !r.is_match(s))
        && c.one_of
            .as_ref()
            .is_none_or(|l| v.is_some() && l.iter().any(|x| x == s))
}

/// Reads `message` or a field (stream labels as a fallback, read-only).
fn get<'a>(rec: &'a LogRecord, name: &str) -> Option<&'a str> {
    if name == "message" {
        return Some(&rec.message);
    }
    rec.fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .or_else(|| rec.stream.get(name))
}

fn set(rec: &mut LogRecord, name: &str, value: String) {
    if name == "message" {
        rec.message = value;
    } else if let Some(p) = rec.fields.iter_mut().find(|(k, _)| k == name) {
        p.1 = value;
    } else {
        rec.fields.push((name.to_string(), value));
    }
}

/// Removes a field (or empties the message) and returns its value.
fn take(rec: &mut LogRecord, name: &str) -> Option<String> {
    if name == "message" {
        return Some(std::mem::take(&mut rec.message));
    }
    let i = rec.fields.iter().position(|(k, _)| k == name)?;
    Some(rec.fields.remove(i).1)
}

fn substitute(tmpl: &str, rec: &LogRecord) -> String {
    let mut out = String::with_capacity(tmpl.len());
    let mut rest = tmpl;
    while let Some(i) = rest.find("%{") {
        out.push_str(&rest[..i]);
        match rest[i + 2..].find('}') {
            Some(end) => {
                let name = &rest[i + 2..i + 2 + end];
                out.push_str(get(rec, name).unwrap_or(""));
                rest = &rest[i + 2 + end + 1..];
            }
            None => {
                out.push_str(&rest[i..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Parses logfmt: `k=v`, `k="quoted \" v"`, bare `k` (value `true`).
pub fn logfmt(s: &str) -> Vec<(String, String)> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let ks = i;
        while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'=' && b[i] != b'"' {
            i += 1;
        }
        let key = &s[ks..i];
        if i < b.len() && b[i] == b'=' {
            i += 1;
            if i < b.len() && b[i] == b'"' {
                i += 1;
                let mut v = String::new();
                let mut seg = i;
                loop {
                    match b.get(i) {
                        None => {
                            v.push_str(&s[seg..]);
                            break;
                        }
                        Some(b'"') => {
                            v.push_str(&s[seg..i]);
                            i += 1;
                            break;
                        }
                        Some(b'\\') if i + 1 < b.len() && b[i + 1].is_ascii() => {
                            v.push_str(&s[seg..i]);
                            v.push(match b[i + 1] {
                                b'n' => '\n',
                                b't' => '\t',
                                b'r' => '\r',
                                c => c as char,
                            });
                            i += 2;
                            seg = i;
                        }
                        _ => i += 1,
                    }
                }
                if !key.is_empty() {
                    out.push((key.to_string(), v));
                }
            } else {
                let vs = i;
                while i < b.len() && !b[i].is_ascii_whitespace() {
                    i += 1;
                }
                if !key.is_empty() {
                    out.push((key.to_string(), s[vs..i].to_string()));
                }
            }
        } else if !key.is_empty() {
            out.push((key.to_string(), "true".to_string()));
        } else if i < b.len() {
            // A stray quote or '=': skip it.
            i += 1;
        }
    }
    out
}

/// Parses `v` with one named format or strftime pattern.
pub fn parse_with(format: &str, v: &str) -> Option<i64> {
    let v = v.trim();
    let int = || v.parse::<i64>().ok();
    match format {
        "rfc3339" | "iso8601" => time::parse_rfc3339(v),
        "unix" => time::decimal_seconds_ns(v),
        "unix_ms" => int()?.checked_mul(1_000_000),
        "unix_us" => int()?.checked_mul(1_000),
        "unix_ns" => int(),
        "httpdate" => time::parse_httpdate(v),
        "auto" => time::parse_any(v),
        f => strptime(f, v),
    }
}

/// A strftime subset: `%Y %y %m %d %e %H %M %S %f %z %b %%`; other
/// characters match literally. Missing date parts default to 1970-01-01.
pub fn strptime(fmt: &str, v: &str) -> Option<i64> {
    let (mut y, mut mo, mut d, mut h, mut mi, mut s, mut ns, mut off) =
        (1970i64, 1u32, 1u32, 0u32, 0u32, 0u32, 0u32, 0i64);
    let vb = v.as_bytes();
    let mut i = 0;
    let num = |i: &mut usize, max: usize| -> Option<u32> {
        let st = *i;
        while *i < vb.len() && *i - st < max && vb[*i].is_ascii_digit() {
            *i += 1;
        }
        if *i == st {
            return None;
        }
        v[st..*i].parse().ok()
    };
    let mut f = fmt.chars();
    while let Some(c) = f.next() {
        if c != '%' {
            let mut buf = [0u8; 4];
            let lit = c.encode_utf8(&mut buf).as_bytes();
            if vb.get(i..i + lit.len())? != lit {
                return None;
            }
            i += lit.len();
            continue;
        }
        match f.next()? {
            'Y' => y = num(&mut i, 4)? as i64,
            'y' => y = 2000 + num(&mut i, 2)? as i64,
            'm' => mo = num(&mut i, 2)?,
            'd' => d = num(&mut i, 2)?,
            'e' => {
                if vb.get(i) == Some(&b' ') {
                    i += 1;
                }
                d = num(&mut i, 2)?
            }
            'H' => h = num(&mut i, 2)?,
            'M' => mi = num(&mut i, 2)?,
            'S' => s = num(&mut i, 2)?,
            'f' => {
                let st = i;
                while i < vb.len() && vb[i].is_ascii_digit() {
                    i += 1;
                }
                let digits = &v[st..i];
                if digits.is_empty() {
                    return None;
                }
                ns = 0;
                for (k, c) in digits.bytes().take(9).enumerate() {
                    ns += (c - b'0') as u32 * 10u32.pow(8 - k as u32);
                }
            }
            'b' => {
                mo = time::month_from_name(v.get(i..i + 3)?)?;
                i += 3;
            }
            'z' => {
                let rest = &v[i..];
                let len = rest
                    .bytes()
                    .take_while(|c| c.is_ascii_digit() || matches!(c, b'+' | b'-' | b':' | b'Z'))
                    .count();
                off = time::parse_offset(&rest[..len])?;
                i += len;
            }
            '%' => {
                if vb.get(i) != Some(&b'%') {
                    return None;
                }
                i += 1;
            }
            _ => return None,
        }
    }
    if i != vb.len() {
        return None;
    }
    time::civil_to_ns(y, mo, d, h, mi, s.min(59), ns)?.checked_sub(off * 1_000_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sightline_model::Labels;

    fn pipeline(yaml_like_json: &str) -> Pipeline {
        let cfg: PipelineConfig = serde_json::from_str(yaml_like_json).unwrap();
        Pipeline::new(&cfg).unwrap()
    }

    fn field<'a>(r: &'a LogRecord, k: &str) -> Option<&'a str> {
        r.fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }

    #[test]
    fn logstash_conf_equivalent() {
        // The guides' logstash.conf filter block, expressed as stages.
        let p = pipeline(
            r#"{"stages":[
                {"type":"json","prefix":"parsed_json","when":{"field":"message","matches":"^\\{.*\\}$"}},
                {"type":"grok","patterns":["%{TIMESTAMP_ISO8601:timestamp} %{LOGLEVEL:level} %{GREEDYDATA:log_message}"]},
                {"type":"timestamp","source":"timestamp","formats":["rfc3339"],"remove":true},
                {"type":"labels","fields":{"level":"level"}},
                {"type":"remove","fields":["password","credit_card","ssn","auth_token"]}
            ]}"#,
        );
        let mut r = LogRecord::new(
            5,
            Labels::from_pairs([("job", "app")]),
            "2024-01-02T03:04:05Z ERROR db down",
        );
        r.fields.push(("auth_token".into(), "abc".into()));
        let r = p.process(r).unwrap();
        assert_eq!(r.ts_ns, 1_704_164_645_000_000_000);
        assert_eq!(r.stream, Labels::from_pairs([("job", "app"), ("level", "ERROR")]));
        assert_eq!(r.fields, vec![("log_message".to_string(), "db down".to_string())]);

        let r = p
            .process(LogRecord::new(
                5,
                Labels::new(),
                r#"{"user":"bob","password":"hunter2","n":{"a":1}}"#,
            ))
            .unwrap();
        assert_eq!(field(&r, "parsed_json.user"), Some("bob"));
        assert_eq!(field(&r, "parsed_json.n.a"), Some("1"));
        // Masking is on by default: the nested password field and the line.
        assert_eq!(field(&r, "parsed_json.password"), Some("[REDACTED]"));
        assert_eq!(r.message, r#"{"user":"bob","password":"[REDACTED]","n":{"a":1}}"#);
        assert_eq!(r.ts_ns, 5);
    }

    #[test]
    fn logfmt_regex_add_rename_message_drop() {
        let p = pipeline(
            r#"{"stages":[
                {"type":"logfmt"},
                {"type":"regex","source":"path","pattern":"^/api/(?P<api_version>v\\d+)/"},
                {"type":"add_fields","fields":{"summary":"%{method} %{path} -> %{status}"}},
                {"type":"rename","fields":{"msg":"text"}},
                {"type":"message","source":"text"},
                {"type":"drop","when":{"field":"status","in":["200","204"]}}
            ]}"#,
        );
        let line = r#"level=info method=GET path=/api/v2/users status=500 msg="user \"x\" failed" cached"#;
        let r = p.process(LogRecord::new(0, Labels::new(), line)).unwrap();
        assert_eq!(field(&r, "api_version"), Some("v2"));
        assert_eq!(field(&r, "summary"), Some("GET /api/v2/users -> 500"));
        assert_eq!(field(&r, "cached"), Some("true"));
        assert_eq!(field(&r, "msg"), None);
        assert_eq!(r.message, "user \"x\" failed");
        let ok = LogRecord::new(0, Labels::new(), "status=204 path=/x");
        assert!(p.process(ok.clone()).is_none());
        let (kept, dropped) = p.process_batch(vec![ok, LogRecord::new(0, Labels::new(), "status=500")]);
        assert_eq!((kept.len(), dropped), (1, 1));
    }

    #[test]
    fn grok_failure_tag_and_conditions() {
        let p = pipeline(
            r#"{"stages":[
                {"type":"grok","patterns":["^%{IP:client} %{WORD:verb}$","^%{WORD:verb}$"],"tag_on_failure":"_grokparsefailure"},
                {"type":"drop","when":{"field":"verb","exists":true,"not_equals":"KEEP","not_matches":"^X"}}
            ]}"#,
        );
        let r = p
            .process(LogRecord::new(0, Labels::new(), "no match here"))
            .unwrap();
        assert_eq!(field(&r, "tags"), Some("_grokparsefailure"));
        assert!(p
            .process(LogRecord::new(0, Labels::new(), "10.0.0.1 GET"))
            .is_none());
        assert!(p.process(LogRecord::new(0, Labels::new(), "KEEP")).is_some());
        assert!(p.process(LogRecord::new(0, Labels::new(), "XRAY")).is_some());
    }

    #[test]
    fn config_errors_name_the_stage() {
        for (bad, want) in [
            (
                r#"{"stages":[{"type":"grok","patterns":["%{NOPE}"]}]}"#,
                "stage 0",
            ),
            (
                r#"{"stages":[{"type":"json"},{"type":"regex","pattern":"("}]}"#,
                "stage 1",
            ),
            (
                r#"{"stages":[{"type":"timestamp","source":"t","formats":["weird"]}]}"#,
                "unknown timestamp format",
            ),
            (
                r#"{"stages":[{"type":"labels","fields":{"a":"b.c"}}]}"#,
                "invalid label name",
            ),
            (r#"{"stages":[{"type":"grok","patterns":[]}]}"#, "at least one"),
            (
                r#"{"stages":[{"type":"drop","when":{"matches":"("}}]}"#,
                "stage 0",
            ),
        ] {
            let cfg: PipelineConfig = serde_json::from_str(bad).unwrap();
            let e = Pipeline::new(&cfg).unwrap_err();
            assert!(e.contains(want), "{bad}: {e}");
        }
        for bad in [
            r#"{"stages":[{"type":"frobnicate"}]}"#,
            r#"{"stages":[{"type":"json","sauce":"x"}]}"#,
            r#"{"stagez":[]}"#,
            r#"{"stages":[{"type":"drop","when":{"feild":"x"}}]}"#,
        ] {
            assert!(serde_json::from_str::<PipelineConfig>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn timestamp_formats() {
        let y2k = 946_684_800_000_000_000i64;
        assert_eq!(parse_with("unix", "946684800.5"), Some(y2k + 500_000_000));
        assert_eq!(parse_with("unix_ms", "946684800000"), Some(y2k));
        assert_eq!(parse_with("unix_us", "946684800000000"), Some(y2k));
        assert_eq!(parse_with("unix_ns", "946684800000000000"), Some(y2k));
        assert_eq!(parse_with("httpdate", "01/Jan/2000:01:00:00 +0100"), Some(y2k));
        assert_eq!(
            parse_with("%d/%b/%Y:%H:%M:%S %z", "01/Jan/2000:01:00:00 +0100"),
            Some(y2k)
        );
        assert_eq!(
            parse_with("%Y-%m-%d %H:%M:%S.%f", "2000-01-01 00:00:00.25"),
            Some(y2k + 250_000_000)
        );
        assert_eq!(parse_with("%y%m%d %e %%", "000101  1 %"), Some(y2k));
        assert_eq!(parse_with("%Y-%m-%d", "2000-01-01x"), None);
        assert_eq!(parse_with("%Q", "x"), None);
        assert_eq!(parse_with("unix_ms", "x"), None);
    }

    #[test]
    fn logfmt_edge_cases() {
        assert_eq!(
            logfmt(r#"a=1 b="two words" c= d e="unterminated"#),
            vec![
                ("a".to_string(), "1".to_string()),
                ("b".into(), "two words".into()),
                ("c".into(), "".into()),
                ("d".into(), "true".into()),
                ("e".into(), "unterminated".into()),
            ]
        );
        assert!(logfmt("  ").is_empty());
        // A pair without a key is dropped; a stray quote is skipped.
        assert_eq!(logfmt("=x \"y"), vec![("y".to_string(), "true".to_string())]);
    }

    #[test]
    fn process_checked_rechecks_limits() {
        let p = pipeline(
            r#"{"stages":[{"type":"logfmt"},{"type":"labels","fields":{"a":"a","b":"b"}},
                                      {"type":"drop","when":{"field":"message","equals":"bye"}}]}"#,
        );
        let mut batch = crate::Batch {
            records: vec![
                LogRecord::new(0, Labels::new(), "a=1"),
                LogRecord::new(0, Labels::new(), "a=1 b=2"),
                LogRecord::new(0, Labels::new(), "bye"),
            ],
            rejected: vec![],
        };
        let limits = crate::IngestLimits {
            max_labels_per_stream: 1,
            ..Default::default()
        };
        assert_eq!(p.process_checked(&mut batch, &limits), 1);
        assert_eq!(batch.records.len(), 1);
        assert_eq!(batch.records[0].stream, Labels::from_pairs([("a", "1")]));
        assert_eq!(batch.rejected.len(), 1);
        assert_eq!(batch.rejected[0].index, 1);
    }

    #[test]
    fn user_agent_stage() {
        let p = pipeline(
            r#"{"stages":[{"type":"grok","patterns":["%{COMBINEDAPACHELOG}"]},
                          {"type":"user_agent","source":"agent","target":"ua"}]}"#,
        );
        let line = r#"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 5 "-" "curl/8.4.0""#;
        let r = p.process(LogRecord::new(0, Labels::new(), line)).unwrap();
        assert_eq!(field(&r, "ua.browser"), Some("curl"));
        assert_eq!(field(&r, "ua.device"), Some("bot"));
    }

    #[test]
    fn default_pipeline_masks_only() {
        let p = Pipeline::default();
        let r = p.process(LogRecord::new(0, Labels::new(), "token=abc")).unwrap();
        assert_eq!(r.message, "token=[REDACTED]");
        let cfg: PipelineConfig = serde_json::from_str("{}").unwrap();
        assert!(cfg.masking.enabled);
    }

    #[test]
    fn garbage_never_panics() {
        let p = pipeline(
            r#"{"stages":[{"type":"json"},{"type":"logfmt"},
                {"type":"grok","patterns":["%{COMBINEDAPACHELOG}","%{SYSLOGBASE} %{GREEDYDATA:rest}"]},
                {"type":"timestamp","source":"timestamp","formats":["auto","httpdate","%d/%b/%Y:%H:%M:%S %z"]},
                {"type":"add_fields","fields":{"x":"%{a}%{"}}]}"#,
        );
        let mut x: u64 = 0x0123_4567_89ab_cdef;
        let alphabet = "a=\"\\ {}:,1-./%[]éZ+Bearer 4111111111111111 password"
            .chars()
            .collect::<Vec<_>>();
        for _ in 0..3_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let s: String = (0..(x % 60))
                .map(|i| alphabet[((x >> (i % 40)) as usize + i as usize) % alphabet.len()])
                .collect();
            let _ = p.process(LogRecord::new(0, Labels::new(), s.clone()));
            let _ = logfmt(&s);
            let _ = strptime("%Y-%m-%d %H:%M:%S.%f %z %b %e", &s);
        }
    }
}
