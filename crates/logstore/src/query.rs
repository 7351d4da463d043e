//! Query request types: what the LogQL engine hands the store.

use crate::tokens::{self, Condition};
use regex::Regex;
use sightline_model::Matcher;

/// Order of returned records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Direction {
    /// Oldest first.
    #[default]
    Forward,
    /// Newest first.
    Backward,
}

/// A case-sensitive line filter (`|=`, `!=`, `|~`, `!~`). Regexes are not
/// anchored, as in LogQL.
#[derive(Clone, Debug)]
pub enum LineFilter {
    Contains(String),
    NotContains(String),
    Regex(Regex),
    NotRegex(Regex),
}

impl LineFilter {
    #[inline]
    pub fn matches(&self, line: &str) -> bool {
        match self {
            LineFilter::Contains(s) => memchr::memmem::find(line.as_bytes(), s.as_bytes()).is_some(),
            LineFilter::NotContains(s) => memchr::memmem::find(line.as_bytes(), s.as_bytes()).is_none(),
            LineFilter::Regex(r) => r.is_match(line),
            LineFilter::NotRegex(r) => !r.is_match(line),
        }
    }
}

/// A log query: streams matching all `matchers`, records with
/// `start_ns <= ts < end_ns` whose line passes every filter.
#[derive(Clone, Debug)]
pub struct SelectRequest {
    pub matchers: Vec<Matcher>,
    pub start_ns: i64,
    pub end_ns: i64,
    pub filters: Vec<LineFilter>,
    pub direction: Direction,
    /// Stop after this many records.
    pub limit: Option<usize>,
}

impl SelectRequest {
    /// All records of streams matching `matchers` in `[start_ns, end_ns)`, forward.
    pub fn new(matchers: Vec<Matcher>, start_ns: i64, end_ns: i64) -> Self {
        Self {
            matchers,
            start_ns,
            end_ns,
            filters: Vec::new(),
            direction: Direction::Forward,
            limit: None,
        }
    }

    pub fn filter(mut self, f: LineFilter) -> Self {
        self.filters.push(f);
        self
    }

    pub fn direction(mut self, d: Direction) -> Self {
        self.direction = d;
        self
    }

    pub fn limit(mut self, n: usize) -> Self {
        self.limit = Some(n);
        self
    }

    pub(crate) fn line_ok(&self, line: &str) -> bool {
        self.filters.iter().all(|f| f.matches(line))
    }

    /// Token-index conditions from the `Contains` filters.
    pub(crate) fn index_conditions(&self) -> Vec<Condition> {
        let mut out = Vec::new();
        for f in &self.filters {
            if let LineFilter::Contains(s) = f {
                out.extend(tokens::needle_conditions(s.as_bytes()));
            }
        }
        out
    }
}
