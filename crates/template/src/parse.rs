//! Lexing and parsing of Go `text/template` source into a tree.
//!
//! Supported: text with `{{ }}` actions and `{{-`/`-}}` trimming, comments,
//! pipelines with `|`, variable declaration (`:=`) and assignment (`=`),
//! `if`/`else if`/`else`, `range` (with `$i, $e :=`, `else`, `break`,
//! `continue`), `with`/`else`, `define`/`template`/`block`, parenthesised
//! pipelines, field chains on `.`, variables and parentheses, and the
//! literals Go has (strings, raw strings, chars, ints, floats, hex, bools,
//! `nil`).

use crate::Error;

#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    Text(String),
    Action {
        pos: Pos,
        pipe: Pipeline,
    },
    If {
        pos: Pos,
        pipe: Pipeline,
        then: Vec<Node>,
        otherwise: Vec<Node>,
    },
    Range {
        pos: Pos,
        pipe: Pipeline,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
    With {
        pos: Pos,
        pipe: Pipeline,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
    Template {
        pos: Pos,
        name: String,
        pipe: Option<Pipeline>,
    },
    Break(Pos),
    Continue(Pos),
}

/// Line and column (1-based) of an action, for error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Pipeline {
    /// Variables declared (`:=`) or assigned (`=`) by this pipeline.
    pub decl: Vec<String>,
    pub assign: bool,
    pub cmds: Vec<Command>,
    /// The action's source text, for error messages (`at <...>`).
    pub text: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Command {
    pub args: Vec<Operand>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Operand {
    /// `.` or `.A.B` (fields of dot).
    Dot(Vec<String>),
    /// `$x.A.B` (`$` alone is the root data).
    Var(String, Vec<String>),
    /// A function name.
    Ident(String),
    /// `(pipeline).A.B`
    Sub(Box<Pipeline>, Vec<String>),
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Nil,
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Dot(Vec<String>),
    Field(Vec<String>),
    Var(String, Vec<String>),
    Ident(String),
    Str(String),
    Int(i64),
    Float(f64),
    Pipe,
    LParen,
    RParen,
    Declare,
    Assign,
    Comma,
}

/// A parsed template set: the main tree plus `define`d templates.
#[derive(Clone, Debug, Default)]
pub struct Tree {
    pub root: Vec<Node>,
    pub defines: Vec<(String, Vec<Node>)>,
}

struct Parser<'a> {
    name: &'a str,
    src: &'a str,
    /// Byte offset into `src`.
    at: usize,
    defines: Vec<(String, Vec<Node>)>,
}

/// What ended a list of nodes.
#[allow(clippy::enum_variant_names)]
enum End {
    Eof,
    End,
    /// `{{else}}`, or `{{else if ...}}` / `{{else with ...}}` with its keyword.
    Else(Option<(&'static str, Pos, Pipeline)>),
}

pub fn parse(name: &str, src: &str) -> Result<Tree, Error> {
    let mut p = Parser {
        name,
        src,
        at: 0,
        defines: Vec::new(),
    };
    let (root, end) = p.list()?;
    match end {
        End::Eof => Ok(Tree {
            root,
            defines: p.defines,
        }),
        End::End => Err(p.err_at(p.at, "unexpected {{end}}")),
        End::Else(_) => Err(p.err_at(p.at, "unexpected {{else}}")),
    }
}

impl<'a> Parser<'a> {
    fn pos(&self, at: usize) -> Pos {
        let before = &self.src[..at.min(self.src.len())];
        let line = before.matches('\n').count() + 1;
        let col = at - before.rfind('\n').map_or(0, |i| i + 1) + 1;
        Pos { line, col }
    }

    fn err_at(&self, at: usize, msg: impl std::fmt::Display) -> Error {
        let p = self.pos(at);
        Error::Parse(format!("template: {}:{}:{}: {msg}", self.name, p.line, p.col))
    }

    /// Parses text and actions until `{{end}}`, `{{else}}` or the end.
    fn list(&mut self) -> Result<(Vec<Node>, End), Error> {
        let mut nodes = Vec::new();
        loop {
            let rest = &self.src[self.at..];
            let Some(open) = rest.find("{{") else {
                if !rest.is_empty() {
                    nodes.push(Node::Text(rest.to_string()));
                }
                self.at = self.src.len();
                return Ok((nodes, End::Eof));
            };
            let mut text = &rest[..open];
            let action_start = self.at + open;
            let mut inner_start = action_start + 2;
            if self.src[inner_start..].starts_with("- ")
                || self.src[inner_start..].starts_with("-\t")
                || self.src[inner_start..].starts_with("-\n")
            {
                text = text.trim_end();
                inner_start += 1;
            }
            if !text.is_empty() {
                nodes.push(Node::Text(text.to_string()));
            }
            let (inner, after, trim_right) = self.action_bounds(action_start, inner_start)?;
            self.at = after;
            if trim_right {
                let skip = self.src[self.at..].len() - self.src[self.at..].trim_start().len();
                self.at += skip;
            }
            let trimmed = inner.trim();
            if trimmed.starts_with("/*") {
                if !trimmed.ends_with("*/") {
                    return Err(self.err_at(action_start, "unclosed comment"));
                }
                continue;
            }
            let pos = self.pos(action_start);
            let toks = self.lex(inner, inner_start)?;
            match toks.first() {
                Some(Tok::Ident(k)) if k == "end" => {
                    if toks.len() > 1 {
                        return Err(self.err_at(action_start, "unexpected tokens after end"));
                    }
                    return Ok((nodes, End::End));
                }
                Some(Tok::Ident(k)) if k == "else" => {
                    if toks.len() == 1 {
                        return Ok((nodes, End::Else(None)));
                    }
                    match &toks[1] {
                        Tok::Ident(k2) if k2 == "if" || k2 == "with" => {
                            let pipe = self.pipeline(&toks[2..], trimmed, action_start)?;
                            let kw = if k2 == "with" { "with" } else { "if" };
                            return Ok((nodes, End::Else(Some((kw, pos, pipe)))));
                        }
                        _ => return Err(self.err_at(action_start, "unexpected tokens after else")),
                    }
                }
                Some(Tok::Ident(k)) if k == "if" || k == "range" || k == "with" => {
                    let kw = k.clone();
                    let pipe = self.pipeline(&toks[1..], trimmed, action_start)?;
                    let node = self.control(&kw, pos, pipe, action_start)?;
                    nodes.push(node);
                }
                Some(Tok::Ident(k)) if k == "break" || k == "continue" => {
                    nodes.push(if k == "break" {
                        Node::Break(pos)
                    } else {
                        Node::Continue(pos)
                    });
                }
                Some(Tok::Ident(k)) if k == "define" => {
                    let Some(Tok::Str(name)) = toks.get(1) else {
                        return Err(self.err_at(action_start, "define requires a quoted template name"));
                    };
                    let name = name.clone();
                    let (body, end) = self.list()?;
                    if !matches!(end, End::End) {
                        return Err(self.err_at(action_start, "define without matching end"));
                    }
                    self.defines.push((name, body));
                }
                Some(Tok::Ident(k)) if k == "template" || k == "block" => {
                    let Some(Tok::Str(name)) = toks.get(1) else {
                        return Err(self.err_at(action_start, format!("{k} requires a quoted template name")));
                    };
                    let name = name.clone();
                    let pipe = if toks.len() > 2 {
                        Some(self.pipeline(&toks[2..], trimmed, action_start)?)
                    } else {
                        None
                    };
                    if k == "block" {
                        let (body, end) = self.list()?;
                        if !matches!(end, End::End) {
                            return Err(self.err_at(action_start, "block without matching end"));
                        }
                        self.defines.push((name.clone(), body));
                    }
                    nodes.push(Node::Template { pos, name, pipe });
                }
                Some(_) => {
                    let pipe = self.pipeline(&toks, trimmed, action_start)?;
                    nodes.push(Node::Action { pos, pipe });
                }
                None => return Err(self.err_at(action_start, "missing value for command")),
            }
        }
    }

    fn control(&mut self, kw: &str, pos: Pos, pipe: Pipeline, at: usize) -> Result<Node, Error> {
        let (body, end) = self.list()?;
        let otherwise = match end {
            End::Eof => {
                return Err(self.err_at(at, format!("unexpected EOF: {{{{{kw}}}}} without {{{{end}}}}")))
            }
            End::End => Vec::new(),
            End::Else(None) => {
                let (other, end) = self.list()?;
                if !matches!(end, End::End) {
                    return Err(self.err_at(at, format!("expected end after else in {kw}")));
                }
                other
            }
            End::Else(Some((inner_kw, p2, pipe2))) => {
                if kw == "range" {
                    return Err(self.err_at(at, "range cannot have else if"));
                }
                // `{{else if X}}` = `{{else}}{{if X}}...{{end}}` sharing our end.
                vec![self.control(inner_kw, p2, pipe2, at)?]
            }
        };
        Ok(match kw {
            "if" => Node::If {
                pos,
                pipe,
                then: body,
                otherwise,
            },
            "range" => Node::Range {
                pos,
                pipe,
                body,
                otherwise,
            },
            _ => Node::With {
                pos,
                pipe,
                body,
                otherwise,
            },
        })
    }

    /// Finds the end of the action opened at `start`: returns its inner
    /// text, the offset after `}}` and whether it ended with `-}}`.
    fn action_bounds(&self, start: usize, inner_start: usize) -> Result<(&'a str, usize, bool), Error> {
        let b = self.src.as_bytes();
        let mut i = inner_start;
        let mut quote: Option<u8> = None;
        while i < b.len() {
            let c = b[i];
            if let Some(q) = quote {
                if c == b'\\' && q != b'`' {
                    i += 2;
                    continue;
                }
                if c == q {
                    quote = None;
                }
                i += 1;
                continue;
            }
            match c {
                b'"' | b'`' | b'\'' => quote = Some(c),
                b'}' if b.get(i + 1) == Some(&b'}') => {
                    let trim =
                        i > inner_start && b[i - 1] == b'-' && i >= 2 && b[i - 2].is_ascii_whitespace();
                    let end = if trim { i - 1 } else { i };
                    return Ok((&self.src[inner_start..end], i + 2, trim));
                }
                b'/' if b.get(i + 1) == Some(&b'*') => {
                    // Comments may contain braces.
                    if let Some(close) = self.src[i + 2..].find("*/") {
                        i = i + 2 + close + 2;
                        continue;
                    }
                }
                _ => {}
            }
            i += 1;
        }
        Err(self.err_at(start, "unclosed action"))
    }

    fn lex(&self, s: &str, base: usize) -> Result<Vec<Tok>, Error> {
        let b = s.as_bytes();
        let mut toks = Vec::new();
        let mut i = 0;
        let ident_char = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80;
        let fields = |i: &mut usize| -> Vec<String> {
            let mut out = Vec::new();
            while *i < b.len() && b[*i] == b'.' && *i + 1 < b.len() && ident_char(b[*i + 1]) {
                let st = *i + 1;
                *i += 1;
                while *i < b.len() && ident_char(b[*i]) {
                    *i += 1;
                }
                out.push(s[st..*i].to_string());
            }
            out
        };
        while i < b.len() {
            let c = b[i];
            match c {
                _ if c.is_ascii_whitespace() => i += 1,
                b'|' => {
                    toks.push(Tok::Pipe);
                    i += 1;
                }
                b'(' => {
                    toks.push(Tok::LParen);
                    i += 1;
                }
                b')' => {
                    toks.push(Tok::RParen);
                    i += 1;
                    let f = fields(&mut i);
                    if !f.is_empty() {
                        toks.push(Tok::Field(f));
                    }
                }
                b',' => {
                    toks.push(Tok::Comma);
                    i += 1;
                }
                b':' if b.get(i + 1) == Some(&b'=') => {
                    toks.push(Tok::Declare);
                    i += 2;
                }
                b'=' => {
                    toks.push(Tok::Assign);
                    i += 1;
                }
                b'.' if i + 1 < b.len() && ident_char(b[i + 1]) && !b[i + 1].is_ascii_digit() => {
                    let f = fields(&mut i);
                    toks.push(Tok::Dot(f));
                }
                b'.' if !(i + 1 < b.len() && b[i + 1].is_ascii_digit()) => {
                    toks.push(Tok::Dot(Vec::new()));
                    i += 1;
                }
                b'$' => {
                    let st = i + 1;
                    i += 1;
                    while i < b.len() && ident_char(b[i]) {
                        i += 1;
                    }
                    let name = s[st..i].to_string();
                    let f = fields(&mut i);
                    toks.push(Tok::Var(name, f));
                }
                b'"' => {
                    let (v, n) = unquote(&s[i..]).map_err(|e| self.err_at(base + i, e))?;
                    toks.push(Tok::Str(v));
                    i += n;
                }
                b'`' => {
                    let Some(end) = s[i + 1..].find('`') else {
                        return Err(self.err_at(base + i, "unterminated raw quoted string"));
                    };
                    toks.push(Tok::Str(s[i + 1..i + 1 + end].to_string()));
                    i += end + 2;
                }
                b'\'' => {
                    let (v, n) = unquote_char(&s[i..]).map_err(|e| self.err_at(base + i, e))?;
                    toks.push(Tok::Int(v as i64));
                    i += n;
                }
                b'0'..=b'9' | b'-' | b'+' | b'.' => {
                    let st = i;
                    i += 1;
                    while i < b.len()
                        && (b[i].is_ascii_alphanumeric()
                            || b[i] == b'.'
                            || b[i] == b'_'
                            || ((b[i] == b'-' || b[i] == b'+')
                                && matches!(b[i - 1], b'e' | b'E' | b'p' | b'P')))
                    {
                        i += 1;
                    }
                    toks.push(number(&s[st..i]).ok_or_else(|| {
                        self.err_at(base + st, format!("bad number syntax: {:?}", &s[st..i]))
                    })?);
                }
                _ if ident_char(c) => {
                    let st = i;
                    while i < b.len() && ident_char(b[i]) {
                        i += 1;
                    }
                    toks.push(Tok::Ident(s[st..i].to_string()));
                }
                _ => {
                    let ch = s[i..].chars().next().unwrap_or('?');
                    return Err(self.err_at(base + i, format!("unexpected {ch:?} in command")));
                }
            }
        }
        Ok(toks)
    }

    fn pipeline(&self, toks: &[Tok], text: &str, at: usize) -> Result<Pipeline, Error> {
        let mut decl = Vec::new();
        let mut assign = false;
        let mut rest = toks;
        // `$x :=`, `$x =`, `$i, $e :=`
        let decl_end = toks.iter().position(|t| matches!(t, Tok::Declare | Tok::Assign));
        if let Some(d) = decl_end {
            let head = &toks[..d];
            let vars: Vec<&Tok> = head.iter().filter(|t| !matches!(t, Tok::Comma)).collect();
            let all_vars = vars.iter().all(|t| matches!(t, Tok::Var(_, f) if f.is_empty()));
            if all_vars && !vars.is_empty() && vars.len() <= 2 {
                decl = vars
                    .iter()
                    .map(|t| match t {
                        Tok::Var(n, _) => n.clone(),
                        _ => unreachable!("filtered above"),
                    })
                    .collect();
                assign = matches!(toks[d], Tok::Assign);
                rest = &toks[d + 1..];
            }
        }
        let (cmds, used) = self.commands(rest, at)?;
        if used != rest.len() {
            return Err(self.err_at(at, format!("unexpected {:?} in operand", rest[used])));
        }
        if cmds.is_empty() {
            return Err(self.err_at(at, "missing value for command"));
        }
        Ok(Pipeline {
            decl,
            assign,
            cmds,
            text: text.to_string(),
        })
    }

    /// Parses `cmd | cmd | ...` up to an unmatched `)` or the end; returns
    /// the commands and the number of tokens consumed.
    fn commands(&self, toks: &[Tok], at: usize) -> Result<(Vec<Command>, usize), Error> {
        let mut cmds = Vec::new();
        let mut args = Vec::new();
        let mut i = 0;
        while i < toks.len() {
            let op = match &toks[i] {
                Tok::Pipe => {
                    if args.is_empty() {
                        return Err(self.err_at(at, "missing command before |"));
                    }
                    cmds.push(Command {
                        args: std::mem::take(&mut args),
                    });
                    i += 1;
                    continue;
                }
                Tok::RParen => break,
                Tok::LParen => {
                    let (sub, used) = self.commands(&toks[i + 1..], at)?;
                    i += 1 + used;
                    if !matches!(toks.get(i), Some(Tok::RParen)) {
                        return Err(self.err_at(at, "unclosed left paren"));
                    }
                    i += 1;
                    let fields = match toks.get(i) {
                        Some(Tok::Field(f)) => {
                            i += 1;
                            f.clone()
                        }
                        _ => Vec::new(),
                    };
                    let pipe = Pipeline {
                        decl: Vec::new(),
                        assign: false,
                        cmds: sub,
                        text: String::new(),
                    };
                    args.push(Operand::Sub(Box::new(pipe), fields));
                    continue;
                }
                Tok::Dot(f) => Operand::Dot(f.clone()),
                Tok::Var(n, f) => Operand::Var(n.clone(), f.clone()),
                Tok::Ident(k) if k == "true" || k == "false" => Operand::Bool(k == "true"),
                Tok::Ident(k) if k == "nil" => Operand::Nil,
                Tok::Ident(k) => Operand::Ident(k.clone()),
                Tok::Str(s) => Operand::Str(s.clone()),
                Tok::Int(n) => Operand::Int(*n),
                Tok::Float(f) => Operand::Float(*f),
                other => return Err(self.err_at(at, format!("unexpected {other:?} in operand"))),
            };
            args.push(op);
            i += 1;
        }
        if !args.is_empty() {
            cmds.push(Command { args });
        } else if !cmds.is_empty() {
            return Err(self.err_at(at, "missing command after |"));
        }
        Ok((cmds, i))
    }
}

fn number(s: &str) -> Option<Tok> {
    let clean: String = s.chars().filter(|c| *c != '_').collect();
    let (neg, body) = match clean.strip_prefix('-') {
        Some(b) => (true, b.to_string()),
        None => (false, clean.trim_start_matches('+').to_string()),
    };
    let lower = body.to_ascii_lowercase();
    let int = if let Some(h) = lower.strip_prefix("0x") {
        i64::from_str_radix(h, 16).ok()
    } else if let Some(o) = lower.strip_prefix("0o") {
        i64::from_str_radix(o, 8).ok()
    } else if let Some(b) = lower.strip_prefix("0b") {
        i64::from_str_radix(b, 2).ok()
    } else if lower.len() > 1 && lower.starts_with('0') && lower.bytes().all(|c| c.is_ascii_digit()) {
        i64::from_str_radix(&lower[1..], 8).ok()
    } else if lower.bytes().all(|c| c.is_ascii_digit()) {
        lower.parse().ok()
    } else {
        None
    };
    if let Some(i) = int {
        return Some(Tok::Int(if neg { -i } else { i }));
    }
    let f: f64 = lower.parse().ok()?;
    if !f.is_finite() {
        return None;
    }
    Some(Tok::Float(if neg { -f } else { f }))
}

/// Unquotes a Go interpreted string literal at the start of `s`; returns
/// the value and the bytes consumed.
fn unquote(s: &str) -> Result<(String, usize), String> {
    let mut out = String::new();
    let mut chars = s.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, i + 1)),
            '\\' => {
                let Some((_, e)) = chars.next() else { break };
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    '\\' => out.push('\\'),
                    '"' => out.push('"'),
                    '\'' => out.push('\''),
                    'a' => out.push('\u{7}'),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'v' => out.push('\u{b}'),
                    'x' | 'u' | 'U' => {
                        let n = match e {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let hex: String = (0..n).filter_map(|_| chars.next().map(|(_, c)| c)).collect();
                        let v =
                            u32::from_str_radix(&hex, 16).map_err(|_| format!("bad escape \\{e}{hex}"))?;
                        out.push(char::from_u32(v).ok_or_else(|| format!("bad escape \\{e}{hex}"))?);
                    }
                    other => return Err(format!("unknown escape sequence \\{other}")),
                }
            }
            '\n' => return Err("newline in string".into()),
            c => out.push(c),
        }
    }
    Err("unterminated quoted string".into())
}

fn unquote_char(s: &str) -> Result<(char, usize), String> {
    let end = s[1..].find('\'').ok_or("unterminated character constant")? + 1;
    let inner = &s[1..end];
    let quoted = format!("\"{}\"", inner.replace('"', "\\\""));
    let (v, _) = unquote(&quoted)?;
    let mut it = v.chars();
    match (it.next(), it.next()) {
        (Some(c), None) => Ok((c, end + 1)),
        _ => Err(format!("malformed character constant: '{inner}'")),
    }
}
