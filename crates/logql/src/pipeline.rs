//! The log pipeline: runs the stages of a [`LogExpr`] over one line at a
//! time, rewriting the line and its label set.
//!
//! Label semantics follow Loki: a record starts with its stream labels plus
//! its structured metadata (the store's `fields`, names sanitized to
//! `[a-zA-Z0-9_]`, `trace_id`/`span_id` in hex, and `detected_level` from
//! the OpenTelemetry severity unless a field sets it); a parsed label that
//! collides with a stream label gets the suffix `_extracted`; a failing
//! parser, template or numeric label filter sets `__error__` (and
//! `__error_details__`) instead of dropping the line, and never overwrites
//! an earlier error; a numeric, duration or bytes filter drops lines without
//! the label and keeps (with `LabelFilterErr`) lines whose value does not
//! parse; `keep` never removes the error labels.

use crate::ast::*;
use crate::funcs;
use sightline_logstore::{LineFilter, LogRecord};
use sightline_model::Labels;
use std::collections::BTreeMap;

pub const ERROR_LABEL: &str = "__error__";
pub const ERROR_DETAILS_LABEL: &str = "__error_details__";
pub const ERR_JSON: &str = "JSONParserErr";
pub const ERR_LOGFMT: &str = "LogfmtParserErr";
pub const ERR_LABEL_FILTER: &str = "LabelFilterErr";
pub const ERR_TEMPLATE: &str = "TemplateFormatErr";
pub const ERR_SAMPLE: &str = "SampleExtractionErr";

/// The working label set of one line (small: a vector beats a map).
#[derive(Clone, Debug, Default)]
pub struct LineLabels {
    pairs: Vec<(String, String)>,
    /// Names of the stream labels (for `_extracted` renaming).
    stream: Vec<String>,
}

impl LineLabels {
    /// Stream labels plus the record's structured metadata.
    pub fn from_record(r: &LogRecord) -> Self {
        let mut pairs: Vec<(String, String)> = r
            .stream
            .iter()
            .map(|l| (l.name.to_string(), l.value.to_string()))
            .collect();
        let stream = pairs.iter().map(|p| p.0.clone()).collect();
        let mut ll = LineLabels {
            pairs: Vec::new(),
            stream,
        };
        ll.pairs.append(&mut pairs);
        for (k, v) in &r.fields {
            ll.set(sanitize(k), v.clone());
        }
        if let Some(t) = r.trace_id {
            ll.set("trace_id".into(), hex(&t));
        }
        if let Some(s) = r.span_id {
            ll.set("span_id".into(), hex(&s));
        }
        if let Some(sev) = r.severity {
            if ll.get(DETECTED_LEVEL).is_none() {
                if let Some(level) = severity_level(sev) {
                    ll.set(DETECTED_LEVEL.into(), level.into());
                }
            }
        }
        ll
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs.iter().find(|p| p.0 == name).map(|p| p.1.as_str())
    }

    pub fn set(&mut self, name: String, value: String) {
        if let Some(p) = self.pairs.iter_mut().find(|p| p.0 == name) {
            p.1 = value;
        } else {
            self.pairs.push((name, value));
        }
    }

    /// Sets a parsed label, renaming it on collision with a stream label.
    pub fn set_parsed(&mut self, name: String, value: String) {
        if self.stream.contains(&name) {
            self.set(format!("{name}_extracted"), value);
        } else {
            self.set(name, value);
        }
    }

    pub fn del(&mut self, name: &str) {
        self.pairs.retain(|p| p.0 != name);
    }

    pub fn has_err(&self) -> bool {
        self.get(ERROR_LABEL).is_some_and(|v| !v.is_empty())
    }

    pub fn set_err(&mut self, err: &str, details: String) {
        if self.has_err() {
            return;
        }
        self.set(ERROR_LABEL.into(), err.into());
        self.set(ERROR_DETAILS_LABEL.into(), details);
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(a, b)| (a.as_str(), b.as_str()))
    }

    pub fn to_labels(&self) -> Labels {
        Labels::from_pairs(self.pairs.iter().map(|(a, b)| (a.as_str(), b.as_str())))
    }

    fn to_map(&self) -> BTreeMap<String, String> {
        self.pairs
            .iter()
            .filter(|p| !p.1.is_empty())
            .map(|(a, b)| (a.clone(), b.clone()))
            .collect()
    }
}

/// The label Loki 3 derives from a record's level (Grafana's log volume
/// groups by it).
pub const DETECTED_LEVEL: &str = "detected_level";

/// OpenTelemetry severity number to Loki's level names.
pub fn severity_level(sev: u8) -> Option<&'static str> {
    Some(match sev {
        1..=4 => "trace",
        5..=8 => "debug",
        9..=12 => "info",
        13..=16 => "warn",
        17..=20 => "error",
        21..=24 => "fatal",
        _ => return None,
    })
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Loki's label-name sanitizing: every byte outside `[a-zA-Z0-9_]` becomes
/// `_`, and a leading digit gets a `_` prefix.
pub fn sanitize(k: &str) -> String {
    let mut out: String = k
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// A compiled pipeline plus the literal filters pushed down to the store.
#[derive(Clone)]
pub struct Pipeline {
    stages: Vec<Stage>,
    funcs: sightline_template::Funcs,
}

/// Splits `stages` into store line filters (the leading run of line filters
/// before any stage that rewrites the line, one-value `|=`/`!=`/`|~`/`!~`)
/// and the pipeline that must run in the engine.
pub fn split_pushdown(stages: &[Stage]) -> (Vec<LineFilter>, Pipeline) {
    let mut pushed = Vec::new();
    let mut rest = Vec::new();
    let mut rewritten = false;
    for s in stages {
        if !rewritten {
            if let Stage::LineFilter(lf) = s {
                if lf.values.len() == 1 {
                    let f = match lf.op {
                        LineOp::Contains => Some(LineFilter::Contains(lf.values[0].clone())),
                        LineOp::NotContains => Some(LineFilter::NotContains(lf.values[0].clone())),
                        LineOp::Match => Some(LineFilter::Regex(lf.regexes[0].clone())),
                        LineOp::NotMatch => Some(LineFilter::NotRegex(lf.regexes[0].clone())),
                        _ => None,
                    };
                    if let Some(f) = f {
                        pushed.push(f);
                        continue;
                    }
                }
            }
        }
        if matches!(
            s,
            Stage::LineFormat { .. } | Stage::Decolorize | Stage::Parser(ParserStage::Unpack)
        ) {
            rewritten = true;
        }
        rest.push(s.clone());
    }
    (
        pushed,
        Pipeline {
            stages: rest,
            funcs: funcs::loki_funcs(),
        },
    )
}

impl Pipeline {
    /// True when the pipeline has no stages (every line passes unchanged).
    pub fn is_empty(&self) -> bool {
        self.stages.is_empty()
    }

    /// Runs every stage; false when the line is filtered out.
    pub fn process(&self, ts_ns: i64, line: &mut String, lbs: &mut LineLabels) -> bool {
        for s in &self.stages {
            if !run_stage(s, &self.funcs, ts_ns, line, lbs) {
                return false;
            }
        }
        true
    }
}

fn line_filter_ok(lf: &LineFilterExpr, line: &str) -> bool {
    let any = match lf.op {
        LineOp::Contains | LineOp::NotContains => lf.values.iter().any(|v| line.contains(v.as_str())),
        LineOp::Match | LineOp::NotMatch => lf.regexes.iter().any(|r| r.is_match(line)),
        LineOp::Pattern | LineOp::NotPattern => lf.patterns.iter().any(|p| p.matches(line)),
    };
    any != lf.op.negated()
}

fn run_stage(
    s: &Stage,
    fs: &sightline_template::Funcs,
    ts: i64,
    line: &mut String,
    lbs: &mut LineLabels,
) -> bool {
    match s {
        Stage::LineFilter(lf) => line_filter_ok(lf, line),
        Stage::Parser(p) => {
            run_parser(p, line, lbs);
            true
        }
        Stage::LabelFilter(f) => label_filter(f, lbs),
        Stage::LineFormat { tmpl, .. } => {
            let data = sightline_template::Value::StrMap(lbs.to_map());
            match funcs::with_line(line, ts, || tmpl.execute(&data, fs)) {
                Ok(out) => *line = out,
                Err(e) => lbs.set_err(ERR_TEMPLATE, e.to_string()),
            }
            true
        }
        Stage::LabelFormat(items) => {
            let data = sightline_template::Value::StrMap(lbs.to_map());
            for it in items {
                match it {
                    LabelFmt::Rename { dst, src } => {
                        let v = lbs.get(src).unwrap_or("").to_string();
                        lbs.del(src);
                        lbs.set(dst.clone(), v);
                    }
                    LabelFmt::Template { dst, tmpl, .. } => {
                        match funcs::with_line(line, ts, || tmpl.execute(&data, fs)) {
                            Ok(v) => lbs.set(dst.clone(), v),
                            Err(e) => lbs.set_err(ERR_TEMPLATE, e.to_string()),
                        }
                    }
                }
            }
            true
        }
        Stage::Drop(items) => {
            for it in items {
                match it {
                    LabelSel::Name(n) => lbs.del(n),
                    LabelSel::Matcher(m) => {
                        if lbs.get(&m.name).is_some_and(|v| m.matches(v)) {
                            lbs.del(&m.name);
                        }
                    }
                }
            }
            true
        }
        Stage::Keep(items) => {
            let keep: Vec<String> = lbs
                .iter()
                .filter(|(n, v)| {
                    *n == ERROR_LABEL
                        || *n == ERROR_DETAILS_LABEL
                        || items.iter().any(|it| match it {
                            LabelSel::Name(x) => x == n,
                            LabelSel::Matcher(m) => m.name == *n && m.matches(v),
                        })
                })
                .map(|(n, _)| n.to_string())
                .collect();
            lbs.pairs.retain(|p| keep.contains(&p.0));
            true
        }
        Stage::Decolorize => {
            if line.contains('\x1b') {
                *line = decolorize(line);
            }
            true
        }
    }
}

/// Removes ANSI escape sequences (CSI, OSC and two-byte escapes).
pub fn decolorize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c != '\x1b' {
            out.push(c);
            continue;
        }
        match it.peek() {
            Some('[') => {
                it.next();
                // parameters and intermediates, then one final byte @..~
                for d in it.by_ref() {
                    if ('@'..='~').contains(&d) {
                        break;
                    }
                }
            }
            Some(']') => {
                it.next();
                while let Some(d) = it.next() {
                    if d == '\x07' {
                        break;
                    }
                    if d == '\x1b' && it.peek() == Some(&'\\') {
                        it.next();
                        break;
                    }
                }
            }
            Some(_) => {
                it.next();
            }
            None => {}
        }
    }
    out
}

/// Evaluates a label filter; a value that does not parse sets `__error__`
/// (unless already set) and passes the line.
pub fn label_filter(f: &LabelFilter, lbs: &mut LineLabels) -> bool {
    match f {
        LabelFilter::Matcher(m) => m.matches(lbs.get(&m.name).unwrap_or("")),
        LabelFilter::Number { name, op, value } => numeric(lbs, name, *op, *value, |s| {
            s.trim()
                .parse::<f64>()
                .map_err(|e| format!("strconv.ParseFloat: parsing {s:?}: {e}"))
        }),
        LabelFilter::Duration { name, op, value, .. } => numeric(lbs, name, *op, *value, |s| {
            crate::parser::parse_duration(s)
                .map(|d| d as f64)
                .ok_or_else(|| format!("time: invalid duration {s:?}"))
        }),
        LabelFilter::Bytes { name, op, value, .. } => numeric(lbs, name, *op, *value, |s| {
            crate::parser::parse_bytes(s).ok_or_else(|| format!("invalid bytes value {s:?}"))
        }),
        LabelFilter::And(a, b) => label_filter(a, lbs) && label_filter(b, lbs),
        LabelFilter::Or(a, b) => label_filter(a, lbs) || label_filter(b, lbs),
        LabelFilter::Paren(a) => label_filter(a, lbs),
    }
}

fn numeric(
    lbs: &mut LineLabels,
    name: &str,
    op: CmpOp,
    want: f64,
    conv: impl Fn(&str) -> Result<f64, String>,
) -> bool {
    let Some(v) = lbs.get(name) else {
        return false;
    };
    match conv(v) {
        Ok(x) => op.apply(x, want),
        Err(e) => {
            lbs.set_err(ERR_LABEL_FILTER, e);
            true
        }
    }
}

fn run_parser(p: &ParserStage, line: &mut String, lbs: &mut LineLabels) {
    match p {
        ParserStage::Json(params) if params.is_empty() => {
            match serde_json::from_str::<serde_json::Value>(line) {
                Ok(serde_json::Value::Object(m)) => {
                    for (k, v) in m {
                        flatten_json(&sanitize(&k), &v, lbs);
                    }
                }
                Ok(_) => lbs.set_err(
                    ERR_JSON,
                    "Value looks like object, but can't find closing '}' symbol".into(),
                ),
                Err(e) => lbs.set_err(ERR_JSON, e.to_string()),
            }
        }
        ParserStage::Json(params) => match serde_json::from_str::<serde_json::Value>(line) {
            Ok(v) => {
                for (name, path) in params {
                    let val = json_path(&v, path).map(json_text).unwrap_or_default();
                    lbs.set_parsed(name.clone(), val);
                }
            }
            Err(e) => lbs.set_err(ERR_JSON, e.to_string()),
        },
        ParserStage::Unpack => match serde_json::from_str::<serde_json::Value>(line) {
            Ok(serde_json::Value::Object(m)) => {
                let mut entry = None;
                for (k, v) in m {
                    if let serde_json::Value::String(s) = v {
                        if k == "_entry" {
                            entry = Some(s);
                        } else {
                            lbs.set_parsed(sanitize(&k), s);
                        }
                    }
                }
                if let Some(e) = entry {
                    *line = e;
                }
            }
            Ok(_) => lbs.set_err(ERR_JSON, "expecting a JSON object".into()),
            Err(e) => lbs.set_err(ERR_JSON, e.to_string()),
        },
        ParserStage::Logfmt {
            strict,
            keep_empty,
            params,
        } => match logfmt(line, *strict) {
            Ok(pairs) => {
                if params.is_empty() {
                    for (k, v) in pairs {
                        if v.is_empty() && !keep_empty {
                            continue;
                        }
                        lbs.set_parsed(sanitize(&k), v);
                    }
                } else {
                    for (name, key) in params {
                        let v = pairs.iter().rev().find(|p| p.0 == *key).map(|p| p.1.clone());
                        lbs.set_parsed(name.clone(), v.unwrap_or_default());
                    }
                }
            }
            Err(e) => lbs.set_err(ERR_LOGFMT, e),
        },
        ParserStage::Regexp { re, .. } => {
            if let Some(c) = re.captures(line) {
                for name in re.capture_names().flatten() {
                    if let Some(m) = c.name(name) {
                        lbs.set_parsed(sanitize(name), m.as_str().to_string());
                    }
                }
            }
        }
        ParserStage::Pattern { pattern, .. } => {
            if let Some((caps, _)) = pattern.captures(line) {
                let caps: Vec<(String, String)> = caps
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                for (k, v) in caps {
                    lbs.set_parsed(k, v);
                }
            }
        }
    }
}

fn json_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn flatten_json(prefix: &str, v: &serde_json::Value, lbs: &mut LineLabels) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                flatten_json(&format!("{prefix}_{}", sanitize(k)), v, lbs);
            }
        }
        serde_json::Value::Array(_) | serde_json::Value::Null => {}
        other => lbs.set_parsed(prefix.to_string(), json_text(other)),
    }
}

/// Follows a Loki JSON expression: `a.b`, `a[0]`, `a["x.y"]`.
fn json_path<'a>(v: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    let mut cur = v;
    let mut rest = path.trim();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            rest = r;
            continue;
        }
        if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            let key = r[..end].trim();
            rest = &r[end + 1..];
            if let Some(q) = key.strip_prefix('"').and_then(|k| k.strip_suffix('"')) {
                cur = cur.get(q)?;
            } else {
                cur = cur.get(key.parse::<usize>().ok()?)?;
            }
            continue;
        }
        let end = rest.find(['.', '[']).unwrap_or(rest.len());
        cur = cur.get(&rest[..end])?;
        rest = &rest[end..];
    }
    Some(cur)
}

/// Decodes logfmt pairs (go-logfmt rules). Non-strict mode skips malformed
/// pairs; strict mode fails on the first one.
pub fn logfmt(line: &str, strict: bool) -> Result<Vec<(String, String)>, String> {
    let b = line.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && b[i] <= b' ' {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let ks = i;
        while i < b.len() && b[i] > b' ' && b[i] != b'=' && b[i] != b'"' {
            i += 1;
        }
        let key = &line[ks..i];
        if key.is_empty() {
            if strict {
                return Err(format!(
                    "logfmt syntax error at pos {}: unexpected '{}'",
                    i + 1,
                    b[i] as char
                ));
            }
            // skip the malformed token
            while i < b.len() && b[i] > b' ' {
                i += 1;
            }
            continue;
        }
        if i >= b.len() || b[i] != b'=' {
            if i < b.len() && b[i] == b'"' {
                if strict {
                    return Err(format!("logfmt syntax error at pos {}: unexpected '\"'", i + 1));
                }
                while i < b.len() && b[i] > b' ' {
                    i += 1;
                }
                continue;
            }
            out.push((key.to_string(), String::new()));
            continue;
        }
        i += 1; // '='
        if i < b.len() && b[i] == b'"' {
            let mut v = String::new();
            let mut j = i + 1;
            let mut closed = false;
            while j < b.len() {
                match b[j] {
                    b'"' => {
                        closed = true;
                        j += 1;
                        break;
                    }
                    b'\\' if j + 1 < b.len() => {
                        let e = b[j + 1];
                        match e {
                            b'n' => v.push('\n'),
                            b't' => v.push('\t'),
                            b'r' => v.push('\r'),
                            b'"' => v.push('"'),
                            b'\\' => v.push('\\'),
                            b'/' => v.push('/'),
                            b'u' if j + 6 <= b.len() => {
                                if let Some(c) = u32::from_str_radix(&line[j + 2..j + 6], 16)
                                    .ok()
                                    .and_then(char::from_u32)
                                {
                                    v.push(c);
                                    j += 6;
                                    continue;
                                }
                                v.push_str("\\u");
                            }
                            _ => {
                                v.push('\\');
                                v.push(e as char);
                            }
                        }
                        j += 2;
                    }
                    _ => {
                        let c = line[j..].chars().next().unwrap_or('\u{fffd}');
                        v.push(c);
                        j += c.len_utf8();
                    }
                }
            }
            if !closed {
                if strict {
                    return Err(format!(
                        "logfmt syntax error at pos {}: unterminated quoted value",
                        b.len() + 1
                    ));
                }
                break;
            }
            i = j;
            out.push((key.to_string(), v));
        } else {
            let vs = i;
            while i < b.len() && b[i] > b' ' {
                if (b[i] == b'"' || b[i] == b'=') && strict {
                    return Err(format!(
                        "logfmt syntax error at pos {}: unexpected '{}'",
                        i + 1,
                        b[i] as char
                    ));
                }
                i += 1;
            }
            out.push((key.to_string(), line[vs..i].to_string()));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logfmt_pairs() {
        let p = logfmt(r#"level=info msg="hello \"w\"" dur=1.5s bare ts="#, false).unwrap();
        assert_eq!(
            p,
            vec![
                ("level".into(), "info".into()),
                ("msg".into(), "hello \"w\"".into()),
                ("dur".into(), "1.5s".into()),
                ("bare".into(), "".into()),
                ("ts".into(), "".into()),
            ]
        );
        assert!(logfmt(r#"a="unterminated"#, true).is_err());
        assert!(logfmt(r#"=x a=1"#, true).is_err());
        assert_eq!(
            logfmt(r#"=x a=1"#, false).unwrap(),
            vec![("a".into(), "1".into())]
        );
    }

    #[test]
    fn decolorize_strips_ansi() {
        assert_eq!(
            decolorize("\x1b[31mred\x1b[0m plain \x1b[1;32mg\x1b[m"),
            "red plain g"
        );
    }

    #[test]
    fn json_paths() {
        let v: serde_json::Value = serde_json::from_str(r#"{"a":{"b":[1,{"c":"x"}]},"d.e":2}"#).unwrap();
        assert_eq!(json_path(&v, "a.b[1].c"), Some(&serde_json::json!("x")));
        assert_eq!(json_path(&v, r#"["d.e"]"#), Some(&serde_json::json!(2)));
        assert_eq!(json_path(&v, "a.z"), None);
    }

    #[test]
    fn never_panics_on_odd_lines() {
        let q = r#"{a="b"} | json | logfmt --strict | logfmt | unpack | regexp "(?P<x>.)" | pattern "<a> <b>" | x > 1 | y > 1s | z > 1KB | line_format "{{.x}}{{__line__}}" | label_format w="{{.a}}", v=x | drop a | keep x | decolorize"#;
        let crate::ast::Expr::Log(l) = crate::parse(q).unwrap() else {
            panic!()
        };
        let (_, pipe) = split_pushdown(&l.stages);
        let lines = [
            "",
            "{",
            "}",
            "\"",
            "a=",
            "=",
            "a=\"",
            "a=\"\\",
            "\x1b[",
            "\x1b]",
            "{\"a\":[1,{\"b\":null}]}",
            "é=ü x=\"\\u12\"",
            "{\"_entry\":5}",
            "a b c",
            "\u{0}\u{7f}",
            "x=1e999 y=1.5h z=9EiB",
        ];
        for line in lines {
            let r = LogRecord::new(0, Labels::from_pairs([("a", "b")]), line);
            let mut lbs = LineLabels::from_record(&r);
            let mut l = line.to_string();
            let _ = pipe.process(0, &mut l, &mut lbs);
            for cut in 0..line.len() {
                if line.is_char_boundary(cut) {
                    let _ = logfmt(&line[..cut], true);
                    let _ = logfmt(&line[..cut], false);
                }
            }
        }
    }
}
