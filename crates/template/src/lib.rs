//! A Go `text/template` engine with Prometheus's template functions, for
//! alerting and recording rule labels and annotations.
//!
//! Users' rule files carry templates written for Prometheus, so this
//! renders them the way Go does: the same actions and pipelines
//! ([`parse`]), the same printing of values (`%v` of a float is the
//! shortest `%g`, missing map keys print `<no value>` or, for label maps,
//! nothing), the same `printf` verbs ([`gofmt`]), the same comparison
//! rules (`eq 1 1.0` is an error, as in Go), and Prometheus's functions
//! (`humanize*`, `query`, `first`, `label`, `value`, `reReplaceAll`,
//! `match`, `title`, ... in [`prom`]).
//!
//! Invariants: parsing and execution never panic on any template text;
//! every failure is an [`Error`] naming the template, line, column and,
//! for execution errors, the action that failed, in Go's message format.

mod exec;
pub mod funcs;
pub mod gofmt;
pub mod parse;
pub mod prom;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

pub use prom::{expand_alert, prometheus_funcs, AlertData, PromContext, QueryFn, QuerySample};

/// A template value: what Go's `interface{}` holds in Prometheus's data.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// A point in time (Unix nanoseconds), printed as Go's `time.Time`.
    Time(i64),
    /// A span in nanoseconds, printed as Go's `time.Duration`.
    Duration(i64),
    List(Vec<Value>),
    /// `map[string]interface{}`: a missing key is `<no value>`.
    Map(BTreeMap<String, Value>),
    /// `map[string]string` (label sets): a missing key is `""`.
    StrMap(BTreeMap<String, String>),
}

impl Value {
    /// Go's truth: false, 0, nil and empty values are false.
    pub fn truthy(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::Time(_) => true,
            Value::Duration(d) => *d != 0,
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.is_empty(),
            Value::StrMap(m) => !m.is_empty(),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(s)
    }
}

impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Value::Float(f)
    }
}

/// Parse or execution failure, with Go's message text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Parse(String),
    #[error("{0}")]
    Exec(String),
}

/// A template function: arguments in, a value or an error message out.
pub type Func = Arc<dyn Fn(&[Value]) -> Result<Value, String> + Send + Sync>;

/// The functions a template may call, beyond Go's builtins.
#[derive(Clone, Default)]
pub struct Funcs(HashMap<String, Func>);

impl Funcs {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(
        &mut self,
        name: &str,
        f: impl Fn(&[Value]) -> Result<Value, String> + Send + Sync + 'static,
    ) {
        self.0.insert(name.to_string(), Arc::new(f));
    }

    pub fn get(&self, name: &str) -> Option<&Func> {
        self.0.get(name)
    }
}

/// A parsed template, ready to execute any number of times.
#[derive(Clone, Debug)]
pub struct Template {
    name: String,
    tree: parse::Tree,
}

impl Template {
    /// Parses `src`; `name` appears in error messages.
    pub fn parse(name: &str, src: &str) -> Result<Template, Error> {
        Ok(Template {
            name: name.to_string(),
            tree: parse::parse(name, src)?,
        })
    }

    /// Renders the template with `data` as `.` (and `$`).
    pub fn execute(&self, data: &Value, funcs: &Funcs) -> Result<String, Error> {
        exec::execute(&self.name, &self.tree, data, funcs)
    }
}
