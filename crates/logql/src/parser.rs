//! The LogQL lexer and recursive-descent parser.
//!
//! Errors carry the 1-based line and column of the offending token and read
//! like Loki's: `parse error at line 1, col 12: syntax error: unexpected ...`.

use crate::ast::*;
use crate::pattern::Pattern;
use regex::Regex;
use sightline_model::{MatchOp, Matcher};
use sightline_template::Template;
use std::fmt;

/// A parse failure with its position.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ParseError {
    pub line: usize,
    pub col: usize,
    pub msg: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "parse error at line {}, col {}: {}",
            self.line, self.col, self.msg
        )
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    /// A number, possibly with a duration or bytes suffix, as written.
    Num(String),
    Flag(String),
    Punct(&'static str),
    Eof,
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Ident(s) => write!(f, "IDENTIFIER {s}"),
            Tok::Str(s) => write!(f, "STRING {}", quote(s)),
            Tok::Num(s) => write!(f, "NUMBER {s}"),
            Tok::Flag(s) => write!(f, "{s}"),
            Tok::Punct(p) => write!(f, "{p}"),
            Tok::Eof => f.write_str("end of input"),
        }
    }
}

const PUNCTS: [&str; 26] = [
    "|=", "|~", "|>", "!=", "!~", "!>", "=~", "==", ">=", "<=", "{", "}", "(", ")", "[", "]", ",", "|", "=",
    ">", "<", "+", "-", "*", "/", "%",
];

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn err(&self, at: usize, msg: impl Into<String>) -> ParseError {
        let (line, col) = line_col(self.src, at);
        ParseError {
            line,
            col,
            msg: msg.into(),
        }
    }

    fn skip_ws(&mut self) {
        loop {
            let rest = &self.src[self.pos..];
            let t = rest.trim_start();
            self.pos += rest.len() - t.len();
            if t.starts_with('#') {
                let n = t.find('\n').unwrap_or(t.len());
                self.pos += n;
                continue;
            }
            break;
        }
    }

    fn next(&mut self) -> Result<(Tok, usize), ParseError> {
        self.skip_ws();
        let start = self.pos;
        let rest = &self.src[self.pos..];
        let Some(c) = rest.chars().next() else {
            return Ok((Tok::Eof, start));
        };
        if c == '"' || c == '`' {
            let s = self.string(c)?;
            return Ok((Tok::Str(s), start));
        }
        if c.is_ascii_digit() || (c == '.' && rest[1..].starts_with(|d: char| d.is_ascii_digit())) {
            let n = rest
                .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '.' || ch == 'µ'))
                .unwrap_or(rest.len());
            // an exponent sign: 1e-3
            let mut end = n;
            let b = rest.as_bytes();
            if end < b.len()
                && (b[end] == b'-' || b[end] == b'+')
                && end > 0
                && (b[end - 1] == b'e' || b[end - 1] == b'E')
                && !rest[..end - 1].contains(|ch: char| ch.is_ascii_alphabetic())
            {
                end += 1;
                end += rest[end..]
                    .find(|ch: char| !ch.is_ascii_digit())
                    .unwrap_or(rest.len() - end);
            }
            self.pos += end;
            return Ok((Tok::Num(rest[..end].to_string()), start));
        }
        if c.is_ascii_alphabetic() || c == '_' {
            let n = rest
                .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_'))
                .unwrap_or(rest.len());
            self.pos += n;
            return Ok((Tok::Ident(rest[..n].to_string()), start));
        }
        if let Some(flag) = rest.strip_prefix("--") {
            let n = flag
                .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '-' || ch == '_'))
                .unwrap_or(flag.len());
            if n > 0 {
                self.pos += 2 + n;
                return Ok((Tok::Flag(rest[..2 + n].to_string()), start));
            }
        }
        if c == '^' {
            self.pos += 1;
            return Ok((Tok::Punct("^"), start));
        }
        for p in PUNCTS {
            if rest.starts_with(p) {
                self.pos += p.len();
                return Ok((Tok::Punct(p), start));
            }
        }
        Err(self.err(start, format!("syntax error: unexpected character {c:?}")))
    }

    fn string(&mut self, q: char) -> Result<String, ParseError> {
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            let rest = &self.src[self.pos..];
            let Some(c) = rest.chars().next() else {
                return Err(self.err(start, "syntax error: unterminated string"));
            };
            self.pos += c.len_utf8();
            if c == q {
                return Ok(out);
            }
            if q == '`' || c != '\\' {
                if q == '"' && c == '\n' {
                    return Err(self.err(start, "syntax error: newline in string"));
                }
                out.push(c);
                continue;
            }
            let rest = &self.src[self.pos..];
            let Some(e) = rest.chars().next() else {
                return Err(self.err(start, "syntax error: unterminated string"));
            };
            self.pos += e.len_utf8();
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
                    let hex = self.src.get(self.pos..self.pos + n).unwrap_or("");
                    let v = u32::from_str_radix(hex, 16)
                        .ok()
                        .filter(|_| hex.len() == n)
                        .and_then(char::from_u32)
                        .ok_or_else(|| self.err(start, "syntax error: invalid escape in string"))?;
                    self.pos += n;
                    out.push(v);
                }
                c if c.is_digit(8) => {
                    let oct = self.src.get(self.pos - 1..self.pos + 2).unwrap_or("");
                    let v = u32::from_str_radix(oct, 8)
                        .ok()
                        .filter(|v| oct.len() == 3 && *v < 256)
                        .and_then(char::from_u32)
                        .ok_or_else(|| self.err(start, "syntax error: invalid escape in string"))?;
                    self.pos += 2;
                    out.push(v);
                }
                _ => return Err(self.err(start, "syntax error: invalid escape in string")),
            }
        }
    }
}

fn line_col(src: &str, at: usize) -> (usize, usize) {
    let before = &src[..at.min(src.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// Parses a Go/Prometheus duration (`1h30m`, `250ms`, `1.5s`, `2d`, `1w`).
pub fn parse_duration(s: &str) -> Option<i64> {
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if n == 0 {
            return None;
        }
        let num: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult: f64 = match &rest[..u] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "d" => 86400e9,
            "w" => 7.0 * 86400e9,
            "y" => 365.0 * 86400e9,
            _ => return None,
        };
        rest = &rest[u..];
        total += num * mult;
    }
    if total > i64::MAX as f64 {
        return None;
    }
    let v = total.round() as i64;
    Some(if neg { -v } else { v })
}

/// Parses humanized bytes (`10KB`, `1.5MiB`, `42B`), case-insensitive.
pub fn parse_bytes(s: &str) -> Option<f64> {
    let t = s.trim();
    let n = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+'))
        .unwrap_or(t.len());
    let num: f64 = t[..n].parse().ok()?;
    let unit = t[n..].trim().to_ascii_lowercase();
    let mult: f64 = match unit.as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "ki" | "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mi" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" => 1e9,
        "gi" | "gib" => 1024f64.powi(3),
        "t" | "tb" => 1e12,
        "ti" | "tib" => 1024f64.powi(4),
        "p" | "pb" => 1e15,
        "pi" | "pib" => 1024f64.powi(5),
        "e" | "eb" => 1e18,
        "ei" | "eib" => 1024f64.powi(6),
        _ => return None,
    };
    Some(num * mult)
}

fn parse_number(s: &str) -> Option<f64> {
    if s.bytes()
        .any(|b| b.is_ascii_alphabetic() && b != b'e' && b != b'E')
    {
        return None;
    }
    s.parse().ok()
}

struct Parser<'a> {
    lx: Lexer<'a>,
    tok: Tok,
    at: usize,
    peeked: Option<(Tok, usize)>,
}

/// Parses a LogQL query.
pub fn parse(q: &str) -> Result<Expr, ParseError> {
    let mut lx = Lexer { src: q, pos: 0 };
    let (tok, at) = lx.next()?;
    let mut p = Parser {
        lx,
        tok,
        at,
        peeked: None,
    };
    if p.tok == Tok::Eof {
        return Err(p.err("syntax error: empty query"));
    }
    let e = if p.tok == Tok::Punct("{") {
        let log = p.log_expr()?;
        if p.tok != Tok::Eof {
            return Err(p.unexpected("end of input or pipeline stage"));
        }
        Expr::Log(log)
    } else {
        let m = p.expr(0)?;
        if p.tok != Tok::Eof {
            return Err(p.unexpected("end of input"));
        }
        Expr::Metric(m)
    };
    Ok(e)
}

fn is_kw(t: &Tok, kw: &str) -> bool {
    matches!(t, Tok::Ident(s) if s == kw)
}

impl<'a> Parser<'a> {
    fn err(&self, msg: impl Into<String>) -> ParseError {
        self.lx.err(self.at, msg)
    }

    fn unexpected(&self, expecting: &str) -> ParseError {
        self.err(format!(
            "syntax error: unexpected {}, expecting {expecting}",
            self.tok
        ))
    }

    fn bump(&mut self) -> Result<Tok, ParseError> {
        let (t, at) = match self.peeked.take() {
            Some(p) => p,
            None => self.lx.next()?,
        };
        self.at = at;
        Ok(std::mem::replace(&mut self.tok, t))
    }

    fn peek(&mut self) -> Result<&Tok, ParseError> {
        if self.peeked.is_none() {
            self.peeked = Some(self.lx.next()?);
        }
        Ok(&self.peeked.as_ref().expect("set").0)
    }

    fn expect(&mut self, p: &'static str) -> Result<(), ParseError> {
        if self.tok == Tok::Punct(p) {
            self.bump()?;
            Ok(())
        } else {
            Err(self.unexpected(p))
        }
    }

    fn ident(&mut self) -> Result<String, ParseError> {
        match &self.tok {
            Tok::Ident(s) => {
                let s = s.clone();
                self.bump()?;
                Ok(s)
            }
            _ => Err(self.unexpected("IDENTIFIER")),
        }
    }

    fn string(&mut self) -> Result<String, ParseError> {
        match &self.tok {
            Tok::Str(s) => {
                let s = s.clone();
                self.bump()?;
                Ok(s)
            }
            _ => Err(self.unexpected("STRING")),
        }
    }

    fn matcher(&mut self, name: String) -> Result<Matcher, ParseError> {
        let op = match self.tok {
            Tok::Punct("=") => MatchOp::Equal,
            Tok::Punct("!=") => MatchOp::NotEqual,
            Tok::Punct("=~") => MatchOp::Regex,
            Tok::Punct("!~") => MatchOp::NotRegex,
            _ => return Err(self.unexpected("=, !=, =~ or !~")),
        };
        self.bump()?;
        let at = self.at;
        let v = self.string()?;
        Matcher::new(op, name, v).map_err(|e| self.lx.err(at, e.to_string()))
    }

    fn selector(&mut self) -> Result<Vec<Matcher>, ParseError> {
        self.expect("{")?;
        let mut ms = Vec::new();
        while self.tok != Tok::Punct("}") {
            let name = self.ident()?;
            ms.push(self.matcher(name)?);
            if self.tok == Tok::Punct(",") {
                self.bump()?;
            } else if self.tok != Tok::Punct("}") {
                return Err(self.unexpected(", or }"));
            }
        }
        let at = self.at;
        self.bump()?;
        if ms.is_empty() {
            return Err(self
                .lx
                .err(at, "syntax error: unexpected }, expecting IDENTIFIER"));
        }
        if ms.iter().all(|m| m.matches_empty()) {
            return Err(self.lx.err(
                at,
                "queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will",
            ));
        }
        Ok(ms)
    }

    /// Selector and pipeline; stops before `| unwrap`, `[` or anything else.
    fn log_expr(&mut self) -> Result<LogExpr, ParseError> {
        let matchers = self.selector()?;
        let stages = self.pipeline()?;
        Ok(LogExpr { matchers, stages })
    }

    fn pipeline(&mut self) -> Result<Vec<Stage>, ParseError> {
        let mut stages = Vec::new();
        loop {
            let op = match self.tok {
                Tok::Punct("|=") => Some(LineOp::Contains),
                Tok::Punct("!=") => Some(LineOp::NotContains),
                Tok::Punct("|~") => Some(LineOp::Match),
                Tok::Punct("!~") => Some(LineOp::NotMatch),
                Tok::Punct("|>") => Some(LineOp::Pattern),
                Tok::Punct("!>") => Some(LineOp::NotPattern),
                _ => None,
            };
            if let Some(op) = op {
                self.bump()?;
                stages.push(Stage::LineFilter(self.line_filter(op)?));
                continue;
            }
            if self.tok != Tok::Punct("|") || is_kw(self.peek()?, "unwrap") {
                return Ok(stages);
            }
            self.bump()?;
            stages.push(self.stage()?);
        }
    }

    fn line_filter(&mut self, op: LineOp) -> Result<LineFilterExpr, ParseError> {
        let mut values = Vec::new();
        let mut regexes = Vec::new();
        let mut patterns = Vec::new();
        loop {
            let at = self.at;
            if is_kw(&self.tok, "ip") {
                return Err(self.err("ip() line filters are not supported"));
            }
            let v = self.string()?;
            match op {
                LineOp::Match | LineOp::NotMatch => {
                    regexes.push(Regex::new(&v).map_err(|e| self.lx.err(at, format!("invalid regex: {e}")))?)
                }
                LineOp::Pattern | LineOp::NotPattern => patterns
                    .push(Pattern::parse(&v).map_err(|e| self.lx.err(at, format!("invalid pattern: {e}")))?),
                _ => {}
            }
            values.push(v);
            if is_kw(&self.tok, "or") && matches!(self.peek()?, Tok::Str(_)) {
                self.bump()?;
                continue;
            }
            break;
        }
        Ok(LineFilterExpr {
            op,
            values,
            regexes,
            patterns,
        })
    }

    fn params(&mut self) -> Result<Vec<(String, String)>, ParseError> {
        let mut out = Vec::new();
        while let Tok::Ident(name) = &self.tok {
            let name = name.clone();
            if !matches!(
                self.peek()?,
                Tok::Punct("=") | Tok::Punct(",") | Tok::Punct("|") | Tok::Eof
            ) && !matches!(self.peek()?, Tok::Punct(")") | Tok::Punct("["))
            {
                break;
            }
            self.bump()?;
            let expr = if self.tok == Tok::Punct("=") {
                self.bump()?;
                self.string()?
            } else {
                name.clone()
            };
            out.push((name, expr));
            if self.tok == Tok::Punct(",") {
                self.bump()?;
            } else {
                break;
            }
        }
        Ok(out)
    }

    fn stage(&mut self) -> Result<Stage, ParseError> {
        let at = self.at;
        let kw = match &self.tok {
            Tok::Ident(s) => s.clone(),
            Tok::Punct("(") => return Ok(Stage::LabelFilter(self.label_filter()?)),
            _ => return Err(self.unexpected("parser, label filter or format expression")),
        };
        let next_is_op = matches!(
            self.peek()?,
            Tok::Punct("=" | "!=" | "=~" | "!~" | "==" | ">" | ">=" | "<" | "<=")
        );
        if next_is_op {
            return Ok(Stage::LabelFilter(self.label_filter()?));
        }
        self.bump()?;
        Ok(match kw.as_str() {
            "json" => Stage::Parser(ParserStage::Json(self.params()?)),
            "logfmt" => {
                let (mut strict, mut keep_empty) = (false, false);
                while let Tok::Flag(f) = &self.tok {
                    match f.as_str() {
                        "--strict" => strict = true,
                        "--keep-empty" => keep_empty = true,
                        _ => return Err(self.err(format!("syntax error: unknown logfmt flag {f}"))),
                    }
                    self.bump()?;
                }
                Stage::Parser(ParserStage::Logfmt {
                    strict,
                    keep_empty,
                    params: self.params()?,
                })
            }
            "regexp" => {
                let at = self.at;
                let src = self.string()?;
                let re = Regex::new(&src).map_err(|e| self.lx.err(at, format!("invalid regex: {e}")))?;
                if !re.capture_names().flatten().any(|_| true) {
                    return Err(self.lx.err(at, "at least one named capture must be supplied"));
                }
                Stage::Parser(ParserStage::Regexp { src, re })
            }
            "pattern" => {
                let at = self.at;
                let src = self.string()?;
                let pattern = Pattern::parse(&src).map_err(|e| self.lx.err(at, format!("invalid pattern: {e}")))?;
                if pattern.names().next().is_none() {
                    return Err(self.lx.err(at, "invalid pattern: at least one named capture is required"));
                }
                Stage::Parser(ParserStage::Pattern { src, pattern })
            }
            "unpack" => Stage::Parser(ParserStage::Unpack),
            "decolorize" => Stage::Decolorize,
            "line_format" => {
                let at = self.at;
                let src = self.string()?;
                let tmpl = Template::parse("line", &src).map_err(|e| self.lx.err(at, e.to_string()))?;
                Stage::LineFormat { src, tmpl }
            }
            "label_format" => {
                let mut items = Vec::new();
                loop {
                    let dst = self.ident()?;
                    self.expect("=")?;
                    match &self.tok {
                        Tok::Ident(src) => {
                            let src = src.clone();
                            self.bump()?;
                            items.push(LabelFmt::Rename { dst, src });
                        }
                        Tok::Str(_) => {
                            let at = self.at;
                            let src = self.string()?;
                            let tmpl = Template::parse("label", &src).map_err(|e| self.lx.err(at, e.to_string()))?;
                            items.push(LabelFmt::Template { dst, src, tmpl });
                        }
                        _ => return Err(self.unexpected("IDENTIFIER or STRING")),
                    }
                    if self.tok == Tok::Punct(",") {
                        self.bump()?;
                    } else {
                        break;
                    }
                }
                let mut seen = std::collections::HashSet::new();
                for it in &items {
                    let d = match it {
                        LabelFmt::Rename { dst, .. } | LabelFmt::Template { dst, .. } => dst,
                    };
                    if !seen.insert(d.clone()) {
                        return Err(self.lx.err(at, format!("multiple label name '{d}' in label_format")));
                    }
                }
                Stage::LabelFormat(items)
            }
            "drop" | "keep" => {
                let mut items = Vec::new();
                loop {
                    let name = self.ident()?;
                    if matches!(self.tok, Tok::Punct("=" | "!=" | "=~" | "!~")) {
                        items.push(LabelSel::Matcher(self.matcher(name)?));
                    } else {
                        items.push(LabelSel::Name(name));
                    }
                    if self.tok == Tok::Punct(",") {
                        self.bump()?;
                    } else {
                        break;
                    }
                }
                if kw == "drop" {
                    Stage::Drop(items)
                } else {
                    Stage::Keep(items)
                }
            }
            _ => {
                return Err(self.lx.err(
                    at,
                    format!("syntax error: unexpected IDENTIFIER {kw}, expecting parser, label filter or format expression"),
                ))
            }
        })
    }

    fn label_filter(&mut self) -> Result<LabelFilter, ParseError> {
        let mut lhs = self.label_filter_and()?;
        while is_kw(&self.tok, "or") {
            self.bump()?;
            let rhs = self.label_filter_and()?;
            lhs = LabelFilter::Or(Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn label_filter_and(&mut self) -> Result<LabelFilter, ParseError> {
        let mut lhs = self.label_filter_primary()?;
        loop {
            let and = if is_kw(&self.tok, "and") || self.tok == Tok::Punct(",") {
                self.bump()?;
                true
            } else {
                // implicit `and`: a space-separated predicate
                matches!(&self.tok, Tok::Ident(s) if s != "or" && s != "offset" && s != "by" && s != "without")
                    && matches!(
                        self.peek()?,
                        Tok::Punct("=" | "!=" | "=~" | "!~" | "==" | ">" | ">=" | "<" | "<=")
                    )
            };
            if !and {
                return Ok(lhs);
            }
            let rhs = self.label_filter_primary()?;
            lhs = LabelFilter::And(Box::new(lhs), Box::new(rhs));
        }
    }

    fn label_filter_primary(&mut self) -> Result<LabelFilter, ParseError> {
        if self.tok == Tok::Punct("(") {
            self.bump()?;
            let f = self.label_filter()?;
            self.expect(")")?;
            return Ok(LabelFilter::Paren(Box::new(f)));
        }
        let name = self.ident()?;
        let op_tok = self.tok.clone();
        let op = match op_tok {
            Tok::Punct("=~") | Tok::Punct("!~") => return Ok(LabelFilter::Matcher(self.matcher(name)?)),
            Tok::Punct("=") => CmpOp::Eq,
            Tok::Punct("==") => CmpOp::Eq,
            Tok::Punct("!=") => CmpOp::Ne,
            Tok::Punct(">") => CmpOp::Gt,
            Tok::Punct(">=") => CmpOp::Ge,
            Tok::Punct("<") => CmpOp::Lt,
            Tok::Punct("<=") => CmpOp::Le,
            _ => return Err(self.unexpected("comparison operator")),
        };
        self.bump()?;
        let neg = if self.tok == Tok::Punct("-") {
            self.bump()?;
            true
        } else {
            false
        };
        match self.tok.clone() {
            Tok::Str(s) if !neg => {
                let mop = match op {
                    CmpOp::Eq => MatchOp::Equal,
                    CmpOp::Ne => MatchOp::NotEqual,
                    _ => {
                        return Err(
                            self.err("syntax error: strings can only be compared with =, ==, != , =~ or !~")
                        )
                    }
                };
                self.bump()?;
                Ok(LabelFilter::Matcher(
                    Matcher::new(mop, name, s).expect("no regex"),
                ))
            }
            Tok::Num(text) => {
                self.bump()?;
                let sign = if neg { -1.0 } else { 1.0 };
                let shown = if neg { format!("-{text}") } else { text.clone() };
                if let Some(v) = parse_number(&text) {
                    Ok(LabelFilter::Number {
                        name,
                        op,
                        value: sign * v,
                    })
                } else if let Some(d) = parse_duration(&text) {
                    Ok(LabelFilter::Duration {
                        name,
                        op,
                        value: sign * d as f64,
                        text: shown,
                    })
                } else if text.ends_with(['b', 'B']) && parse_bytes(&text).is_some() {
                    Ok(LabelFilter::Bytes {
                        name,
                        op,
                        value: sign * parse_bytes(&text).unwrap_or(0.0),
                        text: shown,
                    })
                } else {
                    Err(self.err(format!(
                        "syntax error: invalid number, duration or bytes value {text}"
                    )))
                }
            }
            _ => Err(self.unexpected("STRING, NUMBER, DURATION or BYTES")),
        }
    }

    fn duration(&mut self) -> Result<i64, ParseError> {
        match self.tok.clone() {
            Tok::Num(t) => {
                let d = parse_duration(&t)
                    .ok_or_else(|| self.err(format!("syntax error: invalid duration {t}")))?;
                self.bump()?;
                Ok(d)
            }
            _ => Err(self.unexpected("DURATION")),
        }
    }

    fn number(&mut self) -> Result<f64, ParseError> {
        let neg = if self.tok == Tok::Punct("-") {
            self.bump()?;
            true
        } else {
            false
        };
        match self.tok.clone() {
            Tok::Num(t) => {
                let v =
                    parse_number(&t).ok_or_else(|| self.err(format!("syntax error: invalid number {t}")))?;
                self.bump()?;
                Ok(if neg { -v } else { v })
            }
            _ => Err(self.unexpected("NUMBER")),
        }
    }

    fn log_range(&mut self) -> Result<LogRange, ParseError> {
        // `({...} | ...)` is accepted around the log part.
        let paren = self.tok == Tok::Punct("(");
        if paren {
            self.bump()?;
        }
        if self.tok != Tok::Punct("{") {
            return Err(self.unexpected("{"));
        }
        let matchers = self.selector()?;
        let mut stages = Vec::new();
        let mut range_ns = None;
        if self.tok == Tok::Punct("[") && !paren {
            self.bump()?;
            range_ns = Some(self.duration()?);
            self.expect("]")?;
        }
        stages.extend(self.pipeline()?);
        let mut unwrap = None;
        if self.tok == Tok::Punct("|") {
            self.bump()?;
            self.bump()?; // `unwrap`
            let first = self.ident()?;
            let (label, conv, conv_name) = if self.tok == Tok::Punct("(") {
                let conv = match first.as_str() {
                    "duration" | "duration_seconds" => UnwrapConv::Duration,
                    "bytes" => UnwrapConv::Bytes,
                    _ => return Err(self.err(format!("syntax error: unknown unwrap conversion {first}"))),
                };
                self.bump()?;
                let l = self.ident()?;
                self.expect(")")?;
                (l, conv, first)
            } else {
                (first, UnwrapConv::None, String::new())
            };
            let mut post_filters = Vec::new();
            while self.tok == Tok::Punct("|") {
                self.bump()?;
                post_filters.push(self.label_filter()?);
            }
            unwrap = Some(Unwrap {
                label,
                conv,
                conv_name,
                post_filters,
            });
        }
        if paren {
            self.expect(")")?;
        }
        let range_ns = match range_ns {
            Some(r) => r,
            None => {
                if self.tok != Tok::Punct("[") {
                    return Err(self.unexpected("[ (a range)"));
                }
                self.bump()?;
                let r = self.duration()?;
                self.expect("]")?;
                r
            }
        };
        if range_ns <= 0 {
            return Err(self.err("syntax error: range must be positive"));
        }
        let mut offset_ns = 0;
        if is_kw(&self.tok, "offset") {
            self.bump()?;
            let neg = if self.tok == Tok::Punct("-") {
                self.bump()?;
                true
            } else {
                false
            };
            offset_ns = self.duration()?;
            if neg {
                offset_ns = -offset_ns;
            }
        }
        Ok(LogRange {
            log: LogExpr { matchers, stages },
            unwrap,
            range_ns,
            offset_ns,
        })
    }

    fn grouping(&mut self) -> Result<Option<Grouping>, ParseError> {
        let without = match &self.tok {
            Tok::Ident(s) if s == "by" => false,
            Tok::Ident(s) if s == "without" => true,
            _ => return Ok(None),
        };
        self.bump()?;
        Ok(Some(Grouping {
            without,
            labels: self.label_list()?,
        }))
    }

    fn label_list(&mut self) -> Result<Vec<String>, ParseError> {
        self.expect("(")?;
        let mut labels = Vec::new();
        while self.tok != Tok::Punct(")") {
            labels.push(self.ident()?);
            if self.tok == Tok::Punct(",") {
                self.bump()?;
            } else if self.tok != Tok::Punct(")") {
                return Err(self.unexpected(", or )"));
            }
        }
        self.bump()?;
        Ok(labels)
    }

    fn binop(&self) -> Option<BinOp> {
        Some(match &self.tok {
            Tok::Punct("+") => BinOp::Add,
            Tok::Punct("-") => BinOp::Sub,
            Tok::Punct("*") => BinOp::Mul,
            Tok::Punct("/") => BinOp::Div,
            Tok::Punct("%") => BinOp::Mod,
            Tok::Punct("^") => BinOp::Pow,
            Tok::Punct("==") => BinOp::Eq,
            Tok::Punct("!=") => BinOp::Ne,
            Tok::Punct(">") => BinOp::Gt,
            Tok::Punct(">=") => BinOp::Ge,
            Tok::Punct("<") => BinOp::Lt,
            Tok::Punct("<=") => BinOp::Le,
            Tok::Ident(s) if s == "or" => BinOp::Or,
            Tok::Ident(s) if s == "and" => BinOp::And,
            Tok::Ident(s) if s == "unless" => BinOp::Unless,
            _ => return None,
        })
    }

    fn expr(&mut self, min_prec: u8) -> Result<MetricExpr, ParseError> {
        let mut lhs = self.unary()?;
        while let Some(op) = self.binop() {
            let prec = op.precedence();
            if prec < min_prec {
                break;
            }
            self.bump()?;
            let mut bool_mod = false;
            if is_kw(&self.tok, "bool") {
                if !op.is_comparison() {
                    return Err(
                        self.err("syntax error: bool modifier can only be used on comparison operators")
                    );
                }
                self.bump()?;
                bool_mod = true;
            }
            let mut matching = VectorMatching::default();
            if is_kw(&self.tok, "on") || is_kw(&self.tok, "ignoring") {
                let ignoring = is_kw(&self.tok, "ignoring");
                self.bump()?;
                matching.on = Some((ignoring, self.label_list()?));
                if is_kw(&self.tok, "group_left") || is_kw(&self.tok, "group_right") {
                    let left = is_kw(&self.tok, "group_left");
                    self.bump()?;
                    let ls = if self.tok == Tok::Punct("(") {
                        self.label_list()?
                    } else {
                        Vec::new()
                    };
                    if op.is_set() {
                        return Err(self.err(
                            "syntax error: no grouping allowed for \"and\", \"or\" and \"unless\" operations",
                        ));
                    }
                    matching.group = Some((left, ls));
                }
            }
            // `^` is right-associative
            let next_min = if op == BinOp::Pow { prec } else { prec + 1 };
            let rhs = self.expr(next_min)?;
            lhs = MetricExpr::Binary {
                op,
                bool_mod,
                matching,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
            };
        }
        Ok(lhs)
    }

    fn unary(&mut self) -> Result<MetricExpr, ParseError> {
        if self.tok == Tok::Punct("-") || self.tok == Tok::Punct("+") {
            let neg = self.tok == Tok::Punct("-");
            self.bump()?;
            let inner = self.unary_operand()?;
            if !neg {
                return Ok(inner);
            }
            return Ok(match inner {
                MetricExpr::Number(v) => MetricExpr::Number(-v),
                other => MetricExpr::Binary {
                    op: BinOp::Mul,
                    bool_mod: false,
                    matching: VectorMatching::default(),
                    lhs: Box::new(MetricExpr::Number(-1.0)),
                    rhs: Box::new(other),
                },
            });
        }
        self.unary_operand()
    }

    /// The operand of a unary sign: a primary, with `^` binding tighter.
    fn unary_operand(&mut self) -> Result<MetricExpr, ParseError> {
        let p = self.primary()?;
        if self.tok == Tok::Punct("^") {
            self.bump()?;
            let rhs = self.expr(BinOp::Pow.precedence())?;
            return Ok(MetricExpr::Binary {
                op: BinOp::Pow,
                bool_mod: false,
                matching: VectorMatching::default(),
                lhs: Box::new(p),
                rhs: Box::new(rhs),
            });
        }
        Ok(p)
    }

    fn primary(&mut self) -> Result<MetricExpr, ParseError> {
        match self.tok.clone() {
            Tok::Num(_) => Ok(MetricExpr::Number(self.number()?)),
            Tok::Punct("(") => {
                self.bump()?;
                let e = self.expr(0)?;
                self.expect(")")?;
                Ok(MetricExpr::Paren(Box::new(e)))
            }
            Tok::Punct("{") => Err(self.err(
                "syntax error: unexpected {, a log query cannot be used here (wrap it in a range aggregation such as count_over_time)",
            )),
            Tok::Ident(name) => {
                if let Some(op) = RangeOp::ALL.iter().copied().find(|o| o.as_str() == name) {
                    return self.range_agg(op);
                }
                if let Some(op) = AggOp::ALL.iter().copied().find(|o| o.as_str() == name) {
                    return self.vector_agg(op);
                }
                match name.as_str() {
                    "vector" => {
                        self.bump()?;
                        self.expect("(")?;
                        let v = self.number()?;
                        self.expect(")")?;
                        Ok(MetricExpr::Vector(v))
                    }
                    "label_replace" => {
                        self.bump()?;
                        self.expect("(")?;
                        let inner = self.expr(0)?;
                        self.expect(",")?;
                        let dst = self.string()?;
                        self.expect(",")?;
                        let replacement = self.string()?;
                        self.expect(",")?;
                        let src = self.string()?;
                        self.expect(",")?;
                        let at = self.at;
                        let regex_src = self.string()?;
                        let regex = Regex::new(&format!("^(?s:{regex_src})$"))
                            .map_err(|e| self.lx.err(at, format!("invalid regex: {e}")))?;
                        self.expect(")")?;
                        Ok(MetricExpr::LabelReplace {
                            inner: Box::new(inner),
                            dst,
                            replacement,
                            src,
                            regex_src,
                            regex,
                        })
                    }
                    _ => Err(self.unexpected("metric expression")),
                }
            }
            _ => Err(self.unexpected("metric expression")),
        }
    }

    fn range_agg(&mut self, op: RangeOp) -> Result<MetricExpr, ParseError> {
        let at = self.at;
        self.bump()?;
        self.expect("(")?;
        let param = if op == RangeOp::QuantileOverTime {
            let v = self.number()?;
            self.expect(",")?;
            Some(v)
        } else {
            None
        };
        let range = self.log_range()?;
        self.expect(")")?;
        let grouping = self.grouping()?;
        match (&range.unwrap, op.needs_unwrap(), op.allows_unwrap()) {
            (None, true, _) => {
                return Err(self
                    .lx
                    .err(at, format!("invalid aggregation {} without unwrap", op.as_str())))
            }
            (Some(_), _, false) => {
                return Err(self
                    .lx
                    .err(at, format!("invalid aggregation {} with unwrap", op.as_str())))
            }
            _ => {}
        }
        if grouping.is_some() && range.unwrap.is_none() {
            return Err(self.lx.err(
                at,
                format!("grouping not allowed for {} aggregation", op.as_str()),
            ));
        }
        Ok(MetricExpr::Range {
            op,
            param,
            range,
            grouping,
        })
    }

    fn vector_agg(&mut self, op: AggOp) -> Result<MetricExpr, ParseError> {
        let at = self.at;
        self.bump()?;
        let mut grouping = self.grouping()?;
        self.expect("(")?;
        let param = if matches!(op, AggOp::Topk | AggOp::Bottomk) {
            let v = self.number()?;
            if v < 1.0 || v.fract() != 0.0 {
                return Err(self.lx.err(
                    at,
                    format!(
                        "invalid parameter {v} for {}: must be a positive integer",
                        op.as_str()
                    ),
                ));
            }
            self.expect(",")?;
            Some(v)
        } else {
            None
        };
        let inner = self.expr(0)?;
        self.expect(")")?;
        if grouping.is_none() {
            grouping = self.grouping()?;
        }
        if matches!(op, AggOp::Sort | AggOp::SortDesc) && grouping.is_some() {
            return Err(self.lx.err(
                at,
                format!("grouping not allowed for {} aggregation", op.as_str()),
            ));
        }
        Ok(MetricExpr::Agg {
            op,
            param,
            grouping,
            inner: Box::new(inner),
        })
    }
}
