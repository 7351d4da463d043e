//! Runner for Prometheus's PromQL test scripts (`*.test`, see the format
//! summary in the conformance directory's `FORMAT.md`).
//!
//! Each file is run against a fresh [`MemStorage`]. `load` blocks add
//! samples, `clear` drops them, `eval` blocks run a query and compare the
//! result with the expectation: floats within relative 1e-6 (NaN equals NaN),
//! no missing and no extra series, order only with `expect ordered`, and
//! annotations / error messages when the block asks for them. Like
//! Prometheus's own harness, every successful instant eval is re-run as a
//! range query from t-1m to t+1m (step 1m) and the point at t compared too.
//!
//! Failures listed in a [`KnownGaps`] file are reported but do not make
//! [`Summary::success`] false. Native-histogram sample values (`{{...}}`)
//! and per-sample start timestamps cannot be stored by the float-only
//! storage boundary; such load lines are skipped and evals expecting such
//! values fail (and are expected to be listed as known gaps).

use crate::engine::{Engine, QueryOpts};
use crate::functions::almost_equal;
use crate::memstore::MemStorage;
use crate::value::{format_float, QueryResult, Value};
use sightline_model::{is_stale_nan, stale_nan, Labels};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Expected-failure list: lines `<file>[:<line>] <reason>`; `#` comments.
#[derive(Clone, Debug, Default)]
pub struct KnownGaps {
    entries: Vec<(String, Option<usize>, String)>,
}

impl KnownGaps {
    pub fn empty() -> Self {
        Self::default()
    }

    /// Parses the known-gaps format. Malformed lines are returned as errors.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut entries = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (loc, reason) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            let (file, ln) = match loc.rsplit_once(':') {
                Some((f, l)) => match l.parse::<usize>() {
                    Ok(n) => (f.to_string(), Some(n)),
                    Err(_) => return Err(format!("known gaps line {}: bad line number {l:?}", i + 1)),
                },
                None => (loc.to_string(), None),
            };
            let reason = reason.trim();
            if reason.is_empty() {
                return Err(format!("known gaps line {}: missing reason", i + 1));
            }
            entries.push((file, ln, reason.to_string()));
        }
        Ok(Self { entries })
    }

    /// The gaps shipped with this crate (`crates/promql/known-gaps.txt`),
    /// compiled in so the binary needs no file at run time.
    pub fn builtin() -> Self {
        Self::parse(include_str!("../known-gaps.txt")).unwrap_or_default()
    }

    /// Reads and parses a known-gaps file.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::parse(&text)
    }

    /// The reason if `file` (base name) at `line` is a known gap.
    pub fn lookup(&self, file: &str, line: usize) -> Option<&str> {
        self.entries
            .iter()
            .find(|(f, l, _)| f == file && l.is_none_or(|l| l == line))
            .map(|(_, _, r)| r.as_str())
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Counts for one file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileSummary {
    pub file: String,
    pub passed: usize,
    /// All failures, known gaps included.
    pub failed: usize,
    /// Failures that are listed as known gaps.
    pub known_gaps: usize,
}

/// Totals over all files.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
    pub known_gaps: usize,
    pub files: Vec<FileSummary>,
}

impl Summary {
    /// True when every failure is a listed known gap.
    pub fn success(&self) -> bool {
        self.failed == self.known_gaps
    }
}

/// Runs every file, printing failures and counts to `out`; the last line is
/// `N passed, N failed`.
pub fn run_files(paths: &[PathBuf], known_gaps: &KnownGaps, out: &mut dyn Write) -> Summary {
    let mut sum = Summary::default();
    for p in paths {
        let name = p
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let fs = match std::fs::read_to_string(p) {
            Ok(text) => run_script(&name, &text, known_gaps, out),
            Err(e) => {
                let _ = writeln!(out, "{}: cannot read: {e}", p.display());
                FileSummary {
                    file: name,
                    failed: 1,
                    ..Default::default()
                }
            }
        };
        let _ = writeln!(
            out,
            "{}: {} passed, {} failed ({} known gaps)",
            fs.file, fs.passed, fs.failed, fs.known_gaps
        );
        sum.passed += fs.passed;
        sum.failed += fs.failed;
        sum.known_gaps += fs.known_gaps;
        sum.files.push(fs);
    }
    let _ = writeln!(out, "known gaps: {} of the failures", sum.known_gaps);
    let _ = writeln!(out, "{} passed, {} failed", sum.passed, sum.failed);
    sum
}

/// A parsed value of the series notation; `None` is a missing point.
type Seq = Vec<Option<f64>>;

#[derive(Debug)]
enum ExpVal {
    Floats(Seq),
    /// Values the store cannot represent (native histograms).
    Unsupported,
}

#[derive(Debug, Default)]
#[allow(dead_code)]
struct EvalCmd {
    line: usize,
    expr: String,
    range: Option<(i64, i64, i64)>,
    at: i64,
    fail: bool,
    fail_msg: Option<String>,
    fail_regex: Option<String>,
    warn: bool,
    warn_msg: Vec<String>,
    warn_regex: Vec<String>,
    no_warn: bool,
    info: bool,
    info_msg: Vec<String>,
    info_regex: Vec<String>,
    no_info: bool,
    ordered: bool,
    string: Option<String>,
    range_vector: Option<(i64, i64, i64)>,
    scalar: Option<f64>,
    series: Vec<(Labels, ExpVal)>,
}

/// Runs one script; `name` is used in messages and known-gap lookups.
pub fn run_script(name: &str, text: &str, gaps: &KnownGaps, out: &mut dyn Write) -> FileSummary {
    let mut fs = FileSummary {
        file: name.to_string(),
        ..Default::default()
    };
    let store = MemStorage::new();
    let engine = Engine::new(test_opts());
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    let mut report = |fs: &mut FileSummary, line: usize, ok: Result<(), String>, expr: &str| match ok {
        Ok(()) => fs.passed += 1,
        Err(msg) => {
            fs.failed += 1;
            match gaps.lookup(name, line) {
                Some(reason) => {
                    fs.known_gaps += 1;
                    let _ = writeln!(out, "{name}:{line}: known gap ({reason}): {expr}");
                }
                None => {
                    let _ = writeln!(
                        out,
                        "{name}:{line}: FAIL: {expr}\n    {}",
                        msg.replace('\n', "\n    ")
                    );
                }
            }
        }
    };
    while i < lines.len() {
        let raw = lines[i];
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            i += 1;
            continue;
        }
        let lineno = i + 1;
        let (cmd, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        match cmd {
            "clear" => {
                store.clear();
                i += 1;
            }
            "load" | "load_with_nhcb" => {
                let step = match parse_duration(rest.trim()) {
                    Some(s) => s,
                    None => {
                        report(&mut fs, lineno, Err(format!("bad load step {rest:?}")), line);
                        0
                    }
                };
                i += 1;
                while i < lines.len() && !lines[i].trim().is_empty() {
                    let l = lines[i].trim();
                    if !l.starts_with('#') {
                        if let Err(e) = load_line(&store, l, step) {
                            report(&mut fs, i + 1, Err(e), l);
                        }
                    }
                    i += 1;
                }
            }
            _ if cmd.starts_with("eval") => {
                let mut body = Vec::new();
                i += 1;
                while i < lines.len() && !lines[i].trim().is_empty() && !starts_command(lines[i]) {
                    body.push((i + 1, lines[i].trim()));
                    i += 1;
                }
                let res = parse_eval(cmd, rest, lineno, &body).and_then(|ev| run_eval(&engine, &store, &ev));
                report(&mut fs, lineno, res, line);
            }
            _ => {
                report(&mut fs, lineno, Err(format!("unknown command {cmd:?}")), line);
                i += 1;
                while i < lines.len() && !lines[i].trim().is_empty() {
                    i += 1;
                }
            }
        }
    }
    fs
}

/// A line that starts a new command even without a blank line before it.
fn starts_command(line: &str) -> bool {
    let first = line.split_whitespace().next().unwrap_or("");
    first.starts_with("eval") || matches!(first, "load" | "load_with_nhcb" | "clear")
}

fn test_opts() -> QueryOpts {
    QueryOpts {
        lookback_delta_ms: 5 * 60 * 1000,
        max_samples: 50_000_000,
        timeout: Some(Duration::from_secs(120)),
        default_subquery_step_ms: 60 * 1000,
    }
}

/// Prometheus duration (`1h30m`, `5m`, `100ms`, `0`) in ms.
pub fn parse_duration(s: &str) -> Option<i64> {
    if s == "0" {
        return Some(0);
    }
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    if s.is_empty() {
        return None;
    }
    let b = s.as_bytes();
    let mut i = 0;
    let mut total: i64 = 0;
    while i < b.len() {
        let st = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if st == i {
            return None;
        }
        let n: i64 = s[st..i].parse().ok()?;
        let us = i;
        while i < b.len() && b[i].is_ascii_alphabetic() {
            i += 1;
        }
        let mult = match &s[us..i] {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 7 * 86_400_000,
            "y" => 365 * 86_400_000,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(mult)?)?;
    }
    Some(if neg { -total } else { total })
}

/// A time: a duration since the epoch or (float) seconds.
fn parse_time(s: &str) -> Option<i64> {
    parse_duration(s).or_else(|| s.parse::<f64>().ok().map(|x| (x * 1000.0).round() as i64))
}

/// Splits `<selector> <rest>`; the selector may contain quoted strings and braces.
fn split_selector(line: &str) -> Result<(&str, &str), String> {
    let b = line.as_bytes();
    let mut i = 0;
    let mut depth = 0;
    let mut quote: Option<u8> = None;
    while i < b.len() {
        let c = b[i];
        if let Some(q) = quote {
            if c == b'\\' {
                i += 2;
                continue;
            }
            if c == q {
                quote = None;
            }
        } else {
            match c {
                b'"' | b'\'' | b'`' => quote = Some(c),
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok((&line[..=i], line[i + 1..].trim()));
                    }
                }
                c if c.is_ascii_whitespace() && depth == 0 => return Ok((&line[..i], line[i..].trim())),
                _ => {}
            }
        }
        i += 1;
    }
    if depth != 0 || quote.is_some() {
        return Err(format!("unterminated series selector in {line:?}"));
    }
    Ok((line, ""))
}

/// Unescapes a Go-style quoted string starting at `s[0]` (the quote).
/// Returns (value, bytes consumed).
fn unquote(s: &str) -> Result<(String, usize), String> {
    let q = s.chars().next().ok_or("empty string")?;
    let mut out = String::new();
    let mut it = s.char_indices().skip(1);
    while let Some((i, c)) = it.next() {
        if c == q {
            return Ok((out, i + 1));
        }
        if c == '\\' && q != '`' {
            let (_, e) = it.next().ok_or("bad escape")?;
            match e {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                'a' => out.push('\x07'),
                'b' => out.push('\x08'),
                'f' => out.push('\x0c'),
                'v' => out.push('\x0b'),
                '\\' => out.push('\\'),
                '"' => out.push('"'),
                '\'' => out.push('\''),
                'x' | 'u' | 'U' => {
                    let n = match e {
                        'x' => 2,
                        'u' => 4,
                        _ => 8,
                    };
                    let mut h = String::new();
                    for _ in 0..n {
                        h.push(it.next().ok_or("bad escape")?.1);
                    }
                    let v = u32::from_str_radix(&h, 16).map_err(|_| "bad escape")?;
                    out.push(char::from_u32(v).ok_or("bad escape")?);
                }
                _ => return Err(format!("unknown escape \\{e}")),
            }
        } else {
            out.push(c);
        }
    }
    Err("unterminated string".into())
}

/// Parses `name{a="b", ...}`, `{a="b"}` or `{"name", a="b"}` into labels.
fn parse_labels(sel: &str) -> Result<Labels, String> {
    let sel = sel.trim();
    let (name, body) = match sel.find('{') {
        Some(i) => (sel[..i].trim(), Some(&sel[i + 1..])),
        None => (sel, None),
    };
    let mut pairs: Vec<(String, String)> = Vec::new();
    if !name.is_empty() {
        pairs.push(("__name__".into(), name.to_string()));
    }
    if let Some(body) = body {
        let body = body
            .strip_suffix('}')
            .ok_or_else(|| format!("missing '}}' in {sel:?}"))?;
        let mut rest = body.trim();
        while !rest.is_empty() {
            // Label name: identifier or quoted string.
            let lname;
            if rest.starts_with('"') || rest.starts_with('\'') {
                let (s, n) = unquote(rest)?;
                rest = rest[n..].trim_start();
                if rest.is_empty() || rest.starts_with(',') {
                    // `{"metric.name"}`: a bare quoted string is the metric name.
                    pairs.push(("__name__".into(), s));
                    rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
                    continue;
                }
                lname = s;
            } else {
                let end = rest
                    .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':' || c == '.'))
                    .unwrap_or(rest.len());
                lname = rest[..end].to_string();
                rest = rest[end..].trim_start();
            }
            rest = rest
                .strip_prefix('=')
                .ok_or_else(|| format!("expected '=' in {sel:?}"))?
                .trim_start();
            let (v, n) = unquote(rest)?;
            rest = rest[n..].trim_start();
            rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
            pairs.push((lname, v));
        }
    }
    Ok(Labels::from_pairs(pairs))
}

fn parse_number(s: &str) -> Option<f64> {
    let l = s.to_ascii_lowercase();
    let t = l.strip_prefix('+').unwrap_or(&l);
    match t {
        "inf" => return Some(f64::INFINITY),
        "-inf" => return Some(f64::NEG_INFINITY),
        "nan" => return Some(f64::NAN),
        _ => {}
    }
    if t.is_empty() || !t.bytes().all(|c| c.is_ascii_digit() || b".e+-".contains(&c)) {
        return None;
    }
    t.parse::<f64>().ok()
}

/// Parses the value notation. `Ok(None)` when it contains native histograms.
fn parse_values(s: &str) -> Result<Option<Seq>, String> {
    if s.contains("{{") {
        return Ok(None);
    }
    let mut out = Vec::new();
    for tok in s.split_whitespace() {
        if tok == "_" {
            out.push(None);
            continue;
        }
        if tok == "stale" {
            out.push(Some(stale_nan()));
            continue;
        }
        if let Some(n) = tok.strip_prefix("_x") {
            let n: usize = n.parse().map_err(|_| format!("bad repetition {tok:?}"))?;
            out.extend(std::iter::repeat_n(None, n));
            continue;
        }
        if let Some(v) = parse_number(tok) {
            out.push(Some(v));
            continue;
        }
        // a+bxn / a-bxn / axn
        let (expr, times) = tok.rsplit_once('x').ok_or_else(|| format!("bad value {tok:?}"))?;
        let times: usize = times.parse().map_err(|_| format!("bad value {tok:?}"))?;
        if expr == "stale" {
            out.extend(std::iter::repeat_n(Some(stale_nan()), times + 1));
            continue;
        }
        let (a, b) = match parse_number(expr) {
            Some(a) => (a, 0.0),
            None => {
                let bytes = expr.as_bytes();
                let mut split = None;
                for k in (1..bytes.len()).rev() {
                    if (bytes[k] == b'+' || bytes[k] == b'-') && !matches!(bytes[k - 1], b'e' | b'E') {
                        split = Some(k);
                        break;
                    }
                }
                let k = split.ok_or_else(|| format!("bad value {tok:?}"))?;
                let a = parse_number(&expr[..k]).ok_or_else(|| format!("bad value {tok:?}"))?;
                let mut b = parse_number(&expr[k + 1..]).ok_or_else(|| format!("bad value {tok:?}"))?;
                if bytes[k] == b'-' {
                    b = -b;
                }
                (a, b)
            }
        };
        let mut v = a;
        for _ in 0..=times {
            out.push(Some(v));
            v += b;
        }
    }
    Ok(Some(out))
}

fn load_line(store: &MemStorage, line: &str, step: i64) -> Result<(), String> {
    let (sel, vals) = split_selector(line)?;
    if sel.ends_with("@st") || vals.starts_with("@st") {
        // Per-sample start timestamps: nothing to store them in.
        return Ok(());
    }
    let labels = parse_labels(sel)?;
    let Some(seq) = parse_values(vals)? else {
        return Ok(());
    };
    for (k, v) in seq.into_iter().enumerate() {
        if let Some(v) = v {
            store.add(&labels, (k as i64).saturating_mul(step), v);
        }
    }
    Ok(())
}

fn parse_eval(cmd: &str, rest: &str, line: usize, body: &[(usize, &str)]) -> Result<EvalCmd, String> {
    let mut ev = EvalCmd {
        line,
        ..Default::default()
    };
    match cmd {
        "eval" => {}
        "eval_fail" => ev.fail = true,
        "eval_warn" => ev.warn = true,
        "eval_info" => ev.info = true,
        "eval_ordered" => ev.ordered = true,
        _ => return Err(format!("unknown command {cmd:?}")),
    }
    let rest = rest.trim();
    if let Some(r) = rest.strip_prefix("instant") {
        let r = r
            .trim_start()
            .strip_prefix("at")
            .ok_or("expected 'at'")?
            .trim_start();
        let (t, expr) = r.split_once(char::is_whitespace).ok_or("missing expression")?;
        ev.at = parse_time(t).ok_or_else(|| format!("bad time {t:?}"))?;
        ev.expr = expr.trim().to_string();
    } else if let Some(r) = rest.strip_prefix("range") {
        let toks: Vec<&str> = r.split_whitespace().collect();
        if toks.len() < 7 || toks[0] != "from" || toks[2] != "to" || toks[4] != "step" {
            return Err("expected 'range from <t> to <t> step <d> <expr>'".into());
        }
        let s = parse_time(toks[1]).ok_or("bad start")?;
        let e = parse_time(toks[3]).ok_or("bad end")?;
        let st = parse_duration(toks[5]).ok_or("bad step")?;
        // The expression is everything after the step value (the 6th token).
        let pos = nth_token_end(r, 6);
        ev.expr = r[pos..].trim().to_string();
        ev.range = Some((s, e, st));
    } else {
        return Err(format!("bad eval command {rest:?}"));
    }
    for &(_, l) in body {
        if l.starts_with('#') {
            continue;
        }
        if let Some(x) = l.strip_prefix("expected_fail_message") {
            ev.fail = true;
            ev.fail_msg = Some(x.trim().to_string());
            continue;
        }
        if let Some(x) = l.strip_prefix("expected_fail_regexp") {
            ev.fail = true;
            ev.fail_regex = Some(x.trim().to_string());
            continue;
        }
        if let Some(x) = l.strip_prefix("expect ") {
            let x = x.trim();
            let (kind, arg) = x.split_once(char::is_whitespace).unwrap_or((x, ""));
            let arg = arg.trim();
            let (msg, re) = if let Some(m) = arg.strip_prefix("msg:") {
                (Some(m.trim().to_string()), None)
            } else if let Some(m) = arg.strip_prefix("regex:") {
                (None, Some(m.trim().to_string()))
            } else {
                (None, None)
            };
            match kind {
                "fail" => {
                    ev.fail = true;
                    ev.fail_msg = msg;
                    ev.fail_regex = re;
                }
                "warn" => {
                    ev.warn = true;
                    ev.warn_msg.extend(msg);
                    ev.warn_regex.extend(re);
                }
                "info" => {
                    ev.info = true;
                    ev.info_msg.extend(msg);
                    ev.info_regex.extend(re);
                }
                "no_warn" => ev.no_warn = true,
                "no_info" => ev.no_info = true,
                "ordered" => ev.ordered = true,
                "string" => {
                    let (s, _) = unquote(arg)?;
                    ev.string = Some(s);
                }
                "range" => {
                    let t: Vec<&str> = arg.split_whitespace().collect();
                    if t.len() != 7 || t[0] != "vector" || t[1] != "from" || t[3] != "to" || t[5] != "step" {
                        return Err(format!("bad expect range vector line {l:?}"));
                    }
                    ev.range_vector = Some((
                        parse_time(t[2]).ok_or("bad time")?,
                        parse_time(t[4]).ok_or("bad time")?,
                        parse_duration(t[6]).ok_or("bad step")?,
                    ));
                }
                _ => return Err(format!("unknown expectation {l:?}")),
            }
            continue;
        }
        // A bare number is a scalar result.
        if !l.contains('{') && l.split_whitespace().count() == 1 {
            if let Some(v) = parse_number(l) {
                ev.scalar = Some(v);
                continue;
            }
        }
        let (sel, vals) = split_selector(l)?;
        let labels = parse_labels(sel)?;
        let v = match parse_values(vals)? {
            Some(seq) => ExpVal::Floats(seq),
            None => ExpVal::Unsupported,
        };
        ev.series.push((labels, v));
    }
    Ok(ev)
}

/// Byte offset just past the `n`-th whitespace-separated token.
fn nth_token_end(s: &str, n: usize) -> usize {
    let mut count = 0;
    let mut in_tok = false;
    for (i, c) in s.char_indices() {
        if c.is_whitespace() {
            if in_tok {
                in_tok = false;
                count += 1;
                if count == n {
                    return i;
                }
            }
        } else {
            in_tok = true;
        }
    }
    s.len()
}

fn float_eq(a: f64, b: f64) -> bool {
    if is_stale_nan(a) || is_stale_nan(b) {
        return is_stale_nan(a) && is_stale_nan(b);
    }
    almost_equal(a, b, 1e-6)
}

fn run_eval(engine: &Engine, store: &MemStorage, ev: &EvalCmd) -> Result<(), String> {
    let opts = test_opts();
    let res = match ev.range {
        Some((s, e, st)) => engine.range(store, &ev.expr, s, e, st, &opts),
        None => engine.instant(store, &ev.expr, ev.at, &opts),
    };
    let res = match res {
        Err(e) => {
            if !ev.fail {
                return Err(format!("unexpected error: {e}"));
            }
            let msg = e.to_string();
            if let Some(m) = &ev.fail_msg {
                if &msg != m {
                    return Err(format!("expected error {m:?}, got {msg:?}"));
                }
            }
            if let Some(r) = &ev.fail_regex {
                let re = regex::Regex::new(r).map_err(|e| format!("bad regex in test: {e}"))?;
                if !re.is_match(&msg) {
                    return Err(format!("expected error matching {r:?}, got {msg:?}"));
                }
            }
            return Ok(());
        }
        Ok(r) => r,
    };
    if ev.fail {
        return Err(format!("expected an error, got {}", describe(&res.value)));
    }
    check_annotations(ev, &res)?;
    compare(ev, &res.value, ev.range.is_some())?;
    // Re-run instant evals as range queries and check the middle point.
    if ev.range.is_none()
        && ev.range_vector.is_none()
        && ev.string.is_none()
        && !ev.ordered
        && !depends_on_query_shape(&ev.expr)
    {
        let t = ev.at;
        let r = engine
            .range(
                store,
                &ev.expr,
                t.saturating_sub(60_000),
                t.saturating_add(60_000),
                60_000,
                &opts,
            )
            .map_err(|e| format!("error in range mode: {e}"))?;
        let Value::Matrix(m) = r.value else {
            return Err("range mode did not return a matrix".into());
        };
        let v = if matches!(res.value, Value::Scalar { .. }) {
            let p = m.first().and_then(|s| s.samples.iter().find(|p| p.t == t));
            Value::Scalar {
                t,
                v: p.map(|p| p.v).unwrap_or(f64::NAN),
            }
        } else {
            Value::Vector(
                m.into_iter()
                    .filter_map(|s| {
                        s.samples
                            .iter()
                            .find(|p| p.t == t)
                            .map(|p| crate::value::InstantSample {
                                labels: s.labels.clone(),
                                t,
                                v: p.v,
                            })
                    })
                    .collect(),
            )
        };
        compare(ev, &v, false).map_err(|e| format!("in range mode: {e}"))?;
    }
    Ok(())
}

/// Whether the expression reads the query's own start, end, step or range
/// (`step()`, `range()`, `start()`, `end()`), whose values differ between the
/// instant query and its range re-run.
fn depends_on_query_shape(expr: &str) -> bool {
    let re = regex::Regex::new(r"\b(step|range|start|end)\s*\(\s*\)").expect("static regex");
    re.is_match(expr)
}

fn check_annotations(ev: &EvalCmd, res: &QueryResult) -> Result<(), String> {
    let check = |kind: &str,
                 want: bool,
                 none: bool,
                 msgs: &[String],
                 res_: &[String],
                 got: &[String]|
     -> Result<(), String> {
        if want && got.is_empty() {
            return Err(format!("expected {kind} annotations, got none"));
        }
        if none && !got.is_empty() {
            return Err(format!("expected no {kind} annotations, got {got:?}"));
        }
        for m in msgs {
            if !got.iter().any(|g| g == m) {
                return Err(format!("expected {kind} {m:?}, got {got:?}"));
            }
        }
        for r in res_ {
            let re = regex::Regex::new(r).map_err(|e| format!("bad regex in test: {e}"))?;
            if !got.iter().any(|g| re.is_match(g)) {
                return Err(format!("expected {kind} matching {r:?}, got {got:?}"));
            }
        }
        Ok(())
    };
    check(
        "warn",
        ev.warn,
        ev.no_warn,
        &ev.warn_msg,
        &ev.warn_regex,
        &res.warnings,
    )?;
    check(
        "info",
        ev.info,
        ev.no_info,
        &ev.info_msg,
        &ev.info_regex,
        &res.infos,
    )
}

fn describe(v: &Value) -> String {
    match v {
        Value::Scalar { v, .. } => format!("scalar {}", format_float(*v)),
        Value::String { v, .. } => format!("string {v:?}"),
        Value::Vector(s) => {
            let mut out = format!("vector with {} samples", s.len());
            for x in s.iter().take(20) {
                out.push_str(&format!("\n  {} {}", x.labels, format_float(x.v)));
            }
            out
        }
        Value::Matrix(m) => {
            let mut out = format!("matrix with {} series", m.len());
            for x in m.iter().take(20) {
                let pts: Vec<String> = x
                    .samples
                    .iter()
                    .map(|p| format!("{}@{}", format_float(p.v), p.t as f64 / 1000.0))
                    .collect();
                out.push_str(&format!("\n  {} {}", x.labels, pts.join(" ")));
            }
            out
        }
    }
}

fn expected_desc(ev: &EvalCmd) -> String {
    let mut s = String::new();
    if let Some(v) = ev.scalar {
        s.push_str(&format!("scalar {}", format_float(v)));
    }
    for (l, v) in &ev.series {
        let vals = match v {
            ExpVal::Floats(seq) => seq
                .iter()
                .map(|x| x.map(format_float).unwrap_or_else(|| "_".into()))
                .collect::<Vec<_>>()
                .join(" "),
            ExpVal::Unsupported => "<native histogram>".into(),
        };
        s.push_str(&format!("\n  {l} {vals}"));
    }
    if s.is_empty() {
        s.push_str("empty result");
    }
    s
}

fn compare(ev: &EvalCmd, got: &Value, is_range: bool) -> Result<(), String> {
    let mismatch = |why: String| {
        Err(format!(
            "{why}\n  expected: {}\n  got: {}",
            expected_desc(ev),
            describe(got)
        ))
    };
    if ev.series.iter().any(|(_, v)| matches!(v, ExpVal::Unsupported)) {
        return mismatch("expected native histogram values, which cannot be stored".into());
    }
    if let Some(s) = &ev.string {
        return match got {
            Value::String { v, .. } if v == s => Ok(()),
            _ => mismatch(format!("expected string {s:?}")),
        };
    }
    if let Some(x) = ev.scalar {
        return match got {
            Value::Scalar { v, .. } if float_eq(*v, x) => Ok(()),
            _ => mismatch("scalar mismatch".into()),
        };
    }
    let range_params = if is_range { ev.range } else { ev.range_vector };
    if let Some((start, _end, step)) = range_params {
        let Value::Matrix(m) = got else {
            return mismatch("expected a matrix".into());
        };
        if m.len() != ev.series.len() {
            return mismatch(format!("expected {} series, got {}", ev.series.len(), m.len()));
        }
        for (labels, v) in &ev.series {
            let ExpVal::Floats(seq) = v else { continue };
            let Some(s) = m.iter().find(|s| &s.labels == labels) else {
                return mismatch(format!("missing series {labels}"));
            };
            let want: Vec<(i64, f64)> = seq
                .iter()
                .enumerate()
                .filter_map(|(k, x)| x.map(|x| (start.saturating_add((k as i64).saturating_mul(step)), x)))
                .collect();
            if want.len() != s.samples.len()
                || !want
                    .iter()
                    .zip(&s.samples)
                    .all(|(w, g)| w.0 == g.t && float_eq(w.1, g.v))
            {
                return mismatch(format!("points differ for {labels}"));
            }
        }
        return Ok(());
    }
    match got {
        Value::Vector(vec) => {
            if vec.len() != ev.series.len() {
                return mismatch(format!("expected {} samples, got {}", ev.series.len(), vec.len()));
            }
            for (k, (labels, v)) in ev.series.iter().enumerate() {
                let ExpVal::Floats(seq) = v else { continue };
                if seq.len() != 1 || seq[0].is_none() {
                    return mismatch(format!(
                        "expected exactly one value for {labels} in an instant eval"
                    ));
                }
                let want = seq[0].unwrap_or(f64::NAN);
                let found = if ev.ordered {
                    vec.get(k).filter(|s| &s.labels == labels)
                } else {
                    vec.iter().find(|s| &s.labels == labels)
                };
                match found {
                    Some(s) if float_eq(s.v, want) => {}
                    Some(_) => return mismatch(format!("value differs for {labels}")),
                    None if ev.ordered => return mismatch(format!("expected {labels} at position {k}")),
                    None => return mismatch(format!("missing series {labels}")),
                }
            }
            Ok(())
        }
        Value::Scalar { .. } => mismatch("got a scalar".into()),
        _ => mismatch("unexpected result type".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_notation() {
        let v = parse_values("1+2x3 _ stale 5x1 -1-1x2 _x2 1e3").unwrap().unwrap();
        let f: Vec<String> = v
            .iter()
            .map(|x| x.map(format_float).unwrap_or("_".into()))
            .collect();
        assert_eq!(
            f,
            vec!["1", "3", "5", "7", "_", "NaN", "5", "5", "-1", "-2", "-3", "_", "_", "1000"]
        );
        assert!(is_stale_nan(v[5].unwrap()));
        assert!(parse_values("{{schema:0 sum:1}}").unwrap().is_none());
    }

    #[test]
    fn durations_and_labels() {
        assert_eq!(parse_duration("1h30m"), Some(5_400_000));
        assert_eq!(parse_duration("100ms"), Some(100));
        assert_eq!(parse_duration("x"), None);
        let l = parse_labels(r#"m{a="x\"y", b='z'}"#).unwrap();
        assert_eq!(l.to_string(), r#"m{a="x\"y", b="z"}"#);
        let l = parse_labels(r#"{"my.metric", "a.b"="c"}"#).unwrap();
        assert_eq!(l.get("__name__"), Some("my.metric"));
        assert_eq!(l.get("a.b"), Some("c"));
        assert_eq!(
            split_selector(r#"m{a="} "} 1 2"#).unwrap(),
            (r#"m{a="} "}"#, "1 2")
        );
    }

    #[test]
    fn script_passes_and_fails() {
        let script = "load 1m\n  m{a=\"1\"} 0+1x5\n\neval instant at 2m m\n  m{a=\"1\"} 2\n\neval instant at 2m m\n  m{a=\"1\"} 3\n\neval range from 0 to 2m step 1m m * 2\n  {a=\"1\"} 0 2 4\n";
        let mut out = Vec::new();
        let fs = run_script("x.test", script, &KnownGaps::empty(), &mut out);
        assert_eq!(
            (fs.passed, fs.failed),
            (2, 1),
            "{}",
            String::from_utf8_lossy(&out)
        );
        let gaps = KnownGaps::parse("x.test:7 demo\n").unwrap();
        let fs = run_script("x.test", script, &gaps, &mut Vec::new());
        assert_eq!(fs.known_gaps, 1);
        assert!(KnownGaps::parse("x.test:abc reason").is_err());
        let builtin = KnownGaps::builtin();
        assert!(!builtin.is_empty());
        assert!(builtin.lookup("native_histograms.test", 1).is_some());
    }
}
