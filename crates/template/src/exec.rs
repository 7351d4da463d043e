//! Execution of a parsed template tree.

use crate::gofmt::{sprint_value, type_name};
use crate::parse::{Command, Node, Operand, Pipeline, Pos, Tree};
use crate::{funcs, Error, Funcs, Value};

/// Nesting limit for `template` calls (recursion guard).
const MAX_DEPTH: usize = 100;
/// Output limit: a template producing more is stopped with an error.
const MAX_OUTPUT: usize = 16 << 20;

enum Flow {
    Normal,
    Break,
    Continue,
}

struct State<'a> {
    name: &'a str,
    tree: &'a Tree,
    funcs: &'a Funcs,
    vars: Vec<(String, Value)>,
    out: String,
    depth: usize,
}

pub fn execute(name: &str, tree: &Tree, data: &Value, funcs: &Funcs) -> Result<String, Error> {
    let mut st = State {
        name,
        tree,
        funcs,
        vars: vec![("".to_string(), data.clone())],
        out: String::new(),
        depth: 0,
    };
    st.list(&tree.root, data)?;
    Ok(st.out)
}

impl State<'_> {
    fn err(&self, pos: Pos, pipe: &Pipeline, msg: impl std::fmt::Display) -> Error {
        Error::Exec(format!(
            "template: {name}:{}:{}: executing \"{name}\" at <{}>: {msg}",
            pos.line,
            pos.col,
            pipe.text,
            name = self.name
        ))
    }

    fn list(&mut self, nodes: &[Node], dot: &Value) -> Result<Flow, Error> {
        for n in nodes {
            match self.node(n, dot)? {
                Flow::Normal => {}
                other => return Ok(other),
            }
            if self.out.len() > MAX_OUTPUT {
                return Err(Error::Exec(format!(
                    "template: {}: output larger than {MAX_OUTPUT} bytes",
                    self.name
                )));
            }
        }
        Ok(Flow::Normal)
    }

    /// Runs `body` in a new variable scope.
    fn scoped(&mut self, body: &[Node], dot: &Value) -> Result<Flow, Error> {
        let mark = self.vars.len();
        let r = self.list(body, dot);
        self.vars.truncate(mark);
        r
    }

    fn node(&mut self, n: &Node, dot: &Value) -> Result<Flow, Error> {
        match n {
            Node::Text(t) => self.out.push_str(t),
            Node::Action { pos, pipe } => {
                let v = self.pipeline(*pos, pipe, dot)?;
                if pipe.decl.is_empty() {
                    let mut s = String::new();
                    sprint_value(&v, &mut s);
                    self.out.push_str(&s);
                }
            }
            Node::If {
                pos,
                pipe,
                then,
                otherwise,
            } => {
                let mark = self.vars.len();
                let v = self.pipeline(*pos, pipe, dot)?;
                let r = if v.truthy() {
                    self.list(then, dot)
                } else {
                    self.list(otherwise, dot)
                };
                self.vars.truncate(mark);
                return r;
            }
            Node::With {
                pos,
                pipe,
                body,
                otherwise,
            } => {
                let mark = self.vars.len();
                let v = self.pipeline(*pos, pipe, dot)?;
                let r = if v.truthy() {
                    self.list(body, &v)
                } else {
                    self.list(otherwise, dot)
                };
                self.vars.truncate(mark);
                return r;
            }
            Node::Range {
                pos,
                pipe,
                body,
                otherwise,
            } => return self.range(*pos, pipe, body, otherwise, dot),
            Node::Template { pos, name, pipe } => {
                let Some((_, body)) = self.tree.defines.iter().rev().find(|(n, _)| n == name) else {
                    return Err(Error::Exec(format!(
                        "template: {}:{}:{}: no such template {name:?}",
                        self.name, pos.line, pos.col
                    )));
                };
                let arg = match pipe {
                    Some(p) => self.pipeline(*pos, p, dot)?,
                    None => Value::Nil,
                };
                if self.depth >= MAX_DEPTH {
                    return Err(Error::Exec(format!(
                        "template: {}: exceeded maximum template depth ({MAX_DEPTH})",
                        self.name
                    )));
                }
                self.depth += 1;
                // A called template sees only `$` = its argument.
                let saved = std::mem::replace(&mut self.vars, vec![(String::new(), arg.clone())]);
                let r = self.list(body, &arg);
                self.vars = saved;
                self.depth -= 1;
                r?;
            }
            Node::Break(_) => return Ok(Flow::Break),
            Node::Continue(_) => return Ok(Flow::Continue),
        }
        Ok(Flow::Normal)
    }

    fn range(
        &mut self,
        pos: Pos,
        pipe: &Pipeline,
        body: &[Node],
        otherwise: &[Node],
        dot: &Value,
    ) -> Result<Flow, Error> {
        // The declared variables take key/element, not the whole value.
        let plain = Pipeline {
            decl: Vec::new(),
            assign: false,
            cmds: pipe.cmds.clone(),
            text: pipe.text.clone(),
        };
        let v = self.pipeline(pos, &plain, dot)?;
        let items: Vec<(Value, Value)> = match v {
            Value::List(l) => l
                .into_iter()
                .enumerate()
                .map(|(i, e)| (Value::Int(i as i64), e))
                .collect(),
            Value::Map(m) => m.into_iter().map(|(k, e)| (Value::Str(k), e)).collect(),
            Value::StrMap(m) => m
                .into_iter()
                .map(|(k, e)| (Value::Str(k), Value::Str(e)))
                .collect(),
            Value::Int(n) => (0..n.max(0)).map(|i| (Value::Int(i), Value::Int(i))).collect(),
            Value::Nil => Vec::new(),
            other => {
                return Err(self.err(
                    pos,
                    pipe,
                    format!("range can't iterate over {}", funcs::to_display(&other)),
                ))
            }
        };
        if items.is_empty() {
            return self.scoped(otherwise, dot);
        }
        for (k, e) in items {
            let mark = self.vars.len();
            match pipe.decl.as_slice() {
                [one] => self.vars.push((one.clone(), e.clone())),
                [a, b] => {
                    self.vars.push((a.clone(), k));
                    self.vars.push((b.clone(), e.clone()));
                }
                _ => {}
            }
            let r = self.list(body, &e);
            self.vars.truncate(mark);
            if let Flow::Break = r? {
                break;
            }
        }
        Ok(Flow::Normal)
    }

    fn pipeline(&mut self, pos: Pos, pipe: &Pipeline, dot: &Value) -> Result<Value, Error> {
        let mut prev: Option<Value> = None;
        for cmd in &pipe.cmds {
            prev = Some(self.command(pos, pipe, cmd, dot, prev)?);
        }
        let v = prev.unwrap_or(Value::Nil);
        if let [name] = pipe.decl.as_slice() {
            if pipe.assign {
                match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                    Some(slot) => slot.1 = v.clone(),
                    None => return Err(self.err(pos, pipe, format!("undefined variable: ${name}"))),
                }
            } else {
                self.vars.push((name.clone(), v.clone()));
            }
        }
        Ok(v)
    }

    fn command(
        &mut self,
        pos: Pos,
        pipe: &Pipeline,
        cmd: &Command,
        dot: &Value,
        piped: Option<Value>,
    ) -> Result<Value, Error> {
        let first = &cmd.args[0];
        if let Operand::Ident(fname) = first {
            let mut args = Vec::with_capacity(cmd.args.len());
            for a in &cmd.args[1..] {
                args.push(self.operand(pos, pipe, a, dot)?);
            }
            if let Some(p) = piped {
                args.push(p);
            }
            return self.call(pos, pipe, fname, &args);
        }
        if cmd.args.len() > 1 || piped.is_some() {
            let what = match first {
                Operand::Dot(f) if !f.is_empty() => format!(".{}", f.join(".")),
                Operand::Var(n, f) if !f.is_empty() => format!("${n}.{}", f.join(".")),
                _ => {
                    let v = self.operand(pos, pipe, first, dot)?;
                    let mut s = String::new();
                    sprint_value(&v, &mut s);
                    s
                }
            };
            return Err(self.err(pos, pipe, format!("can't give argument to non-function {what}")));
        }
        self.operand(pos, pipe, first, dot)
    }

    fn call(&mut self, pos: Pos, pipe: &Pipeline, fname: &str, args: &[Value]) -> Result<Value, Error> {
        let res = if let Some(f) = self.funcs.get(fname) {
            f(args)
        } else if let Some(r) = funcs::builtin(fname, args) {
            r
        } else {
            return Err(Error::Parse(format!(
                "template: {}:{}:{}: function {fname:?} not defined",
                self.name, pos.line, pos.col
            )));
        };
        res.map_err(|e| self.err(pos, pipe, format!("error calling {fname}: {e}")))
    }

    fn operand(&mut self, pos: Pos, pipe: &Pipeline, op: &Operand, dot: &Value) -> Result<Value, Error> {
        match op {
            Operand::Dot(fields) => self.fields(pos, pipe, dot.clone(), fields),
            Operand::Var(name, fields) => {
                let Some((_, v)) = self.vars.iter().rev().find(|(n, _)| n == name) else {
                    return Err(Error::Parse(format!(
                        "template: {}:{}:{}: undefined variable \"${name}\"",
                        self.name, pos.line, pos.col
                    )));
                };
                let v = v.clone();
                self.fields(pos, pipe, v, fields)
            }
            Operand::Sub(p, fields) => {
                let v = self.pipeline(pos, p, dot)?;
                self.fields(pos, pipe, v, fields)
            }
            Operand::Ident(f) => self.call(pos, pipe, f, &[]),
            Operand::Str(s) => Ok(Value::Str(s.clone())),
            Operand::Int(i) => Ok(Value::Int(*i)),
            Operand::Float(f) => Ok(Value::Float(*f)),
            Operand::Bool(b) => Ok(Value::Bool(*b)),
            Operand::Nil => Err(self.err(pos, pipe, "nil is not a command")),
        }
    }

    fn fields(&self, pos: Pos, pipe: &Pipeline, mut v: Value, fields: &[String]) -> Result<Value, Error> {
        for f in fields {
            v = match v {
                Value::Map(mut m) => m.remove(f).unwrap_or(Value::Nil),
                Value::StrMap(mut m) => Value::Str(m.remove(f).unwrap_or_default()),
                Value::Nil => {
                    return Err(self.err(pos, pipe, format!("nil pointer evaluating interface {{}}.{f}")))
                }
                other => {
                    return Err(self.err(
                        pos,
                        pipe,
                        format!("can't evaluate field {f} in type {}", type_name(&other)),
                    ))
                }
            };
        }
        Ok(v)
    }
}
