//! Label matchers (`=`, `!=`, `=~`, `!~`) with Prometheus semantics: regexes
//! are fully anchored, and a missing label matches as the empty string.

use regex::Regex;
use std::fmt;
use thiserror::Error;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatchOp {
    Equal,
    NotEqual,
    Regex,
    NotRegex,
}

#[derive(Debug, Error)]
#[error("invalid regular expression {pattern:?} for label {name:?}: {source}")]
pub struct MatcherError {
    pub name: String,
    pub pattern: String,
    #[source]
    pub source: regex::Error,
}

#[derive(Clone, Debug)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
    re: Option<Regex>,
}

impl Matcher {
    pub fn new(op: MatchOp, name: impl Into<String>, value: impl Into<String>) -> Result<Self, MatcherError> {
        let (name, value) = (name.into(), value.into());
        let re = match op {
            MatchOp::Regex | MatchOp::NotRegex => Some(Regex::new(&format!("^(?s:{value})$")).map_err(
                |source| MatcherError {
                    name: name.clone(),
                    pattern: value.clone(),
                    source,
                },
            )?),
            _ => None,
        };
        Ok(Self { name, op, value, re })
    }

    /// Shorthand for an equality matcher (cannot fail).
    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            op: MatchOp::Equal,
            value: value.into(),
            re: None,
        }
    }

    /// Whether `value` (the empty string for a missing label) matches.
    #[inline]
    pub fn matches(&self, value: &str) -> bool {
        match self.op {
            MatchOp::Equal => self.value == value,
            MatchOp::NotEqual => self.value != value,
            MatchOp::Regex => self.re.as_ref().is_some_and(|r| r.is_match(value)),
            MatchOp::NotRegex => !self.re.as_ref().is_some_and(|r| r.is_match(value)),
        }
    }

    /// True when the matcher also matches series that lack the label.
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }

    /// For `=~`, the literal alternatives when the pattern is a plain
    /// `a|b|c` list (lets the index do direct lookups instead of a scan).
    pub fn set_matches(&self) -> Option<Vec<&str>> {
        if self.op != MatchOp::Regex {
            return None;
        }
        let special = |c: char| "\\.+*?()[]{}^$".contains(c);
        if self.value.chars().any(special) {
            return None;
        }
        Some(self.value.split('|').collect())
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.op {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        };
        write!(f, "{}{}{:?}", self.name, op, self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_is_anchored_and_empty_matches_missing() {
        let m = Matcher::new(MatchOp::Regex, "job", "api|web").unwrap();
        assert!(m.matches("api") && !m.matches("xapi") && !m.matches(""));
        assert_eq!(m.set_matches(), Some(vec!["api", "web"]));
        let m = Matcher::new(MatchOp::Regex, "job", ".*").unwrap();
        assert!(m.matches_empty() && m.set_matches().is_none());
        let m = Matcher::new(MatchOp::NotEqual, "job", "").unwrap();
        assert!(!m.matches_empty() && m.matches("x"));
        assert!(Matcher::new(MatchOp::Regex, "job", "(").is_err());
    }
}
