//! Prometheus relabeling with Prometheus's exact semantics.
//!
//! A [`RelabelConfig`] is the YAML form (`relabel_configs`, `metric_relabel_configs`,
//! `write_relabel_configs`, `alert_relabel_configs`); it is validated and compiled into a
//! [`Relabeler`] once, at config load. [`process`] applies a list of relabelers to a
//! [`LabelsBuilder`] in order and says whether the series/target is kept.
//!
//! Invariants:
//! - regexes are fully anchored: `regex: foo` is compiled as `^(?s:foo)$`;
//! - a missing source label reads as the empty string, values are joined with `separator`;
//! - setting a label to the empty string deletes it (as in Prometheus);
//! - replacement strings are expanded with Go's `Regexp.Expand` rules ([`expand`]);
//! - a compiled [`Relabeler`] has passed every check Prometheus's `relabel.Config.Validate` makes,
//!   so [`process`] never fails;
//! - a rule that does not apply allocates nothing (single-source rules read the value in place).
//!
//! `hashmod` uses the MD5 of the joined value and takes the last 8 bytes as a big-endian `u64`
//! modulo `modulus`, matching Prometheus target sharding bit for bit.
//!
//! Label names are validated with the classic Prometheus rule `[a-zA-Z_][a-zA-Z0-9_]*` (what
//! Prometheus calls the legacy validation scheme).

mod md5;

use regex::Regex;
use serde::{Deserialize, Serialize};
use sightline_model::{Labels, LabelsBuilder};
use std::fmt;
use thiserror::Error;

pub use md5::md5;

/// A relabeling action. Parsed case-insensitively, as Prometheus does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Action {
    #[default]
    Replace,
    Keep,
    Drop,
    KeepEqual,
    DropEqual,
    HashMod,
    LabelMap,
    LabelDrop,
    LabelKeep,
    Lowercase,
    Uppercase,
}

impl Action {
    pub const ALL: [Action; 11] = [
        Action::Replace,
        Action::Keep,
        Action::Drop,
        Action::KeepEqual,
        Action::DropEqual,
        Action::HashMod,
        Action::LabelMap,
        Action::LabelDrop,
        Action::LabelKeep,
        Action::Lowercase,
        Action::Uppercase,
    ];

    /// The lowercase name used in YAML.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Replace => "replace",
            Action::Keep => "keep",
            Action::Drop => "drop",
            Action::KeepEqual => "keepequal",
            Action::DropEqual => "dropequal",
            Action::HashMod => "hashmod",
            Action::LabelMap => "labelmap",
            Action::LabelDrop => "labeldrop",
            Action::LabelKeep => "labelkeep",
            Action::Lowercase => "lowercase",
            Action::Uppercase => "uppercase",
        }
    }

    /// Parses an action name, ignoring ASCII case.
    pub fn parse(s: &str) -> Result<Action, RelabelError> {
        let lower = s.to_ascii_lowercase();
        Action::ALL
            .into_iter()
            .find(|a| a.as_str() == lower)
            .ok_or_else(|| RelabelError::UnknownAction(s.to_string()))
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Action {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Action {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Action::parse(&s).map_err(serde::de::Error::custom)
    }
}

pub const DEFAULT_SEPARATOR: &str = ";";
pub const DEFAULT_REGEX: &str = "(.*)";
pub const DEFAULT_REPLACEMENT: &str = "$1";

/// One relabeling rule as written in YAML, with Prometheus's defaults.
/// Unknown fields are errors.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RelabelConfig {
    pub source_labels: Vec<String>,
    pub separator: String,
    /// Unanchored source; compiled as `^(?s:regex)$`.
    pub regex: String,
    pub modulus: u64,
    pub target_label: String,
    pub replacement: String,
    pub action: Action,
}

impl Default for RelabelConfig {
    fn default() -> Self {
        Self {
            source_labels: Vec::new(),
            separator: DEFAULT_SEPARATOR.into(),
            regex: DEFAULT_REGEX.into(),
            modulus: 0,
            target_label: String::new(),
            replacement: DEFAULT_REPLACEMENT.into(),
            action: Action::Replace,
        }
    }
}

/// Why a relabel config was refused. Messages follow Prometheus's wording.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RelabelError {
    #[error("unknown relabel action {0:?} (one of replace, keep, drop, keepequal, dropequal, hashmod, labelmap, labeldrop, labelkeep, lowercase, uppercase)")]
    UnknownAction(String),
    #[error("invalid regex {pattern:?}: {message}")]
    BadRegex { pattern: String, message: String },
    #[error("relabel configuration for hashmod requires non-zero modulus")]
    ZeroModulus,
    #[error("relabel configuration for {0} action requires 'target_label' value")]
    MissingTargetLabel(Action),
    #[error("{label:?} is invalid 'target_label' for {action} action")]
    InvalidTargetLabel { label: String, action: Action },
    #[error("{replacement:?} is invalid 'replacement' for {action} action")]
    InvalidReplacement { replacement: String, action: Action },
    #[error("'replacement' can not be set for {0} action")]
    ReplacementNotAllowed(Action),
    #[error("{0} action requires only 'source_labels' and 'target_label', and no other fields")]
    OnlySourceAndTarget(Action),
    #[error("{0} action requires only 'regex', and no other fields")]
    OnlyRegex(Action),
    #[error("{0:?} is not a valid label name in 'source_labels'")]
    InvalidSourceLabel(String),
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_valid_label_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b[1..].iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// A label name that may contain `$name`/`${name}` references:
/// `^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$` in Prometheus.
fn is_valid_label_name_with_vars(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() {
        return false;
    }
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut i = 0;
    // The first item must be a letter/underscore or a variable; after that any word characters
    // or variables may follow.
    let mut first = true;
    while i < b.len() {
        let c = b[i];
        if c == b'$' {
            i += 1;
            if i < b.len() && b[i] == b'{' {
                let start = i + 1;
                let mut j = start;
                while j < b.len() && word(b[j]) {
                    j += 1;
                }
                if j == start || j >= b.len() || b[j] != b'}' {
                    return false;
                }
                i = j + 1;
            } else {
                let start = i;
                while i < b.len() && word(b[i]) {
                    i += 1;
                }
                if i == start {
                    return false;
                }
            }
        } else if (first && c.is_ascii_digit()) || !word(c) {
            return false;
        } else {
            i += 1;
        }
        first = false;
    }
    true
}

impl RelabelConfig {
    /// The checks Prometheus's `relabel.Config.Validate` makes, plus regex compilation.
    pub fn validate(&self) -> Result<(), RelabelError> {
        use Action::*;
        let a = self.action;
        for l in &self.source_labels {
            if l.is_empty() {
                return Err(RelabelError::InvalidSourceLabel(l.clone()));
            }
        }
        if a == HashMod && self.modulus == 0 {
            return Err(RelabelError::ZeroModulus);
        }
        let needs_target = matches!(
            a,
            Replace | HashMod | Lowercase | Uppercase | KeepEqual | DropEqual
        );
        if needs_target && self.target_label.is_empty() {
            return Err(RelabelError::MissingTargetLabel(a));
        }
        let invalid_target = || RelabelError::InvalidTargetLabel {
            label: self.target_label.clone(),
            action: a,
        };
        if a == Replace {
            let ok = if self.target_label.contains('$') {
                is_valid_label_name_with_vars(&self.target_label)
            } else {
                is_valid_label_name(&self.target_label)
            };
            if !ok {
                return Err(invalid_target());
            }
        }
        if matches!(a, Lowercase | Uppercase | KeepEqual | DropEqual | HashMod)
            && !is_valid_label_name(&self.target_label)
        {
            return Err(invalid_target());
        }
        if matches!(a, Lowercase | Uppercase | KeepEqual | DropEqual)
            && self.replacement != DEFAULT_REPLACEMENT
        {
            return Err(RelabelError::ReplacementNotAllowed(a));
        }
        if a == LabelMap && !is_valid_label_name_with_vars(&self.replacement) {
            return Err(RelabelError::InvalidReplacement {
                replacement: self.replacement.clone(),
                action: a,
            });
        }
        if matches!(a, KeepEqual | DropEqual)
            && (self.regex != DEFAULT_REGEX
                || self.modulus != 0
                || self.separator != DEFAULT_SEPARATOR
                || self.replacement != DEFAULT_REPLACEMENT)
        {
            return Err(RelabelError::OnlySourceAndTarget(a));
        }
        if matches!(a, LabelDrop | LabelKeep)
            && (!self.source_labels.is_empty()
                || !self.target_label.is_empty()
                || self.modulus != 0
                || self.separator != DEFAULT_SEPARATOR
                || self.replacement != DEFAULT_REPLACEMENT)
        {
            return Err(RelabelError::OnlyRegex(a));
        }
        compile_regex(&self.regex)?;
        Ok(())
    }

    /// Validates and compiles.
    pub fn compile(&self) -> Result<Relabeler, RelabelError> {
        self.validate()?;
        Ok(Relabeler {
            regex: compile_regex(&self.regex)?,
            fast_set: self.action == Action::Replace
                && self.regex == DEFAULT_REGEX
                && !self.target_label.contains('$')
                && !self.replacement.contains('$'),
            cfg: self.clone(),
        })
    }
}

/// Compiles `pattern` anchored as Prometheus does: `^(?s:pattern)$`.
pub fn compile_regex(pattern: &str) -> Result<Regex, RelabelError> {
    Regex::new(&format!("^(?s:{pattern})$")).map_err(|e| {
        // The regex crate's syntax errors span several lines (pattern, caret, "error: ...");
        // keep the one-line reason so diagnostics stay `file:line:col: message`.
        let text = e.to_string();
        let message = text
            .lines()
            .rev()
            .find_map(|l| l.trim().strip_prefix("error: "))
            .unwrap_or(text.trim())
            .to_string();
        RelabelError::BadRegex {
            pattern: pattern.to_string(),
            message,
        }
    })
}

/// A validated, compiled relabel rule. Deserializes from the YAML form; validation runs inside
/// the deserializer's map visitor, so YAML loaders report errors at the rule's location.
#[derive(Clone, Debug)]
pub struct Relabeler {
    cfg: RelabelConfig,
    regex: Regex,
    /// Prometheus's fast path: with the default regex and no `$` in target or replacement,
    /// an empty joined value sets target to the replacement literally.
    fast_set: bool,
}

impl TryFrom<RelabelConfig> for Relabeler {
    type Error = RelabelError;
    fn try_from(c: RelabelConfig) -> Result<Self, RelabelError> {
        c.compile()
    }
}

impl<'de> Deserialize<'de> for Relabeler {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Relabeler;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a relabel config (a map)")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Relabeler, A::Error> {
                let cfg = RelabelConfig::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                cfg.compile().map_err(serde::de::Error::custom)
            }
        }
        d.deserialize_map(V)
    }
}

impl Serialize for Relabeler {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.cfg.serialize(s)
    }
}

impl PartialEq for Relabeler {
    fn eq(&self, other: &Self) -> bool {
        self.cfg == other.cfg
    }
}

impl Relabeler {
    /// The rule as configured.
    pub fn config(&self) -> &RelabelConfig {
        &self.cfg
    }

    pub fn action(&self) -> Action {
        self.cfg.action
    }

    /// The compiled (anchored) regex.
    pub fn regex(&self) -> &Regex {
        &self.regex
    }

    /// Applies this rule; returns false when the series/target must be dropped.
    /// `scratch` is reused to join several source labels.
    fn apply(&self, lb: &mut LabelsBuilder, scratch: &mut Scratch) -> bool {
        use Action::*;
        let cfg = &self.cfg;
        match cfg.action {
            Keep | Drop | KeepEqual | DropEqual => {
                let val = joined(lb, &cfg.source_labels, &cfg.separator, scratch);
                let hit = match cfg.action {
                    Keep | Drop => self.regex.is_match(val),
                    _ => lb.get(&cfg.target_label).unwrap_or("") == val,
                };
                match cfg.action {
                    Keep | KeepEqual => hit,
                    _ => !hit,
                }
            }
            Replace => {
                let val = joined(lb, &cfg.source_labels, &cfg.separator, scratch);
                if val.is_empty() && self.fast_set {
                    let (t, r) = (cfg.target_label.clone(), cfg.replacement.clone());
                    lb.set(t, r);
                    return true;
                }
                // is_match first: a rule that does not apply must not allocate (captures does).
                if !self.regex.is_match(val) {
                    return true;
                }
                let Some(caps) = self.regex.captures(val) else {
                    return true;
                };
                let mut target = String::new();
                expand(&self.regex, &caps, &cfg.target_label, &mut target);
                if !is_valid_label_name(&target) {
                    return true;
                }
                let mut res = String::new();
                expand(&self.regex, &caps, &cfg.replacement, &mut res);
                if res.is_empty() {
                    lb.del(&target);
                } else {
                    lb.set(target, res);
                }
                true
            }
            Lowercase | Uppercase => {
                let val = joined(lb, &cfg.source_labels, &cfg.separator, scratch);
                let v = if cfg.action == Lowercase {
                    val.to_lowercase()
                } else {
                    val.to_uppercase()
                };
                lb.set(cfg.target_label.clone(), v);
                true
            }
            HashMod => {
                let val = joined(lb, &cfg.source_labels, &cfg.separator, scratch);
                let v = hashmod(val, cfg.modulus);
                lb.set(cfg.target_label.clone(), v.to_string());
                true
            }
            LabelMap => {
                let matching: Vec<(String, String)> = lb
                    .iter()
                    .filter(|l| self.regex.is_match(l.name))
                    .map(|l| (l.name.to_string(), l.value.to_string()))
                    .collect();
                for (name, value) in matching {
                    // The regex is anchored, so ReplaceAllString is one expansion of the whole name.
                    if let Some(caps) = self.regex.captures(&name) {
                        let mut res = String::new();
                        expand(&self.regex, &caps, &cfg.replacement, &mut res);
                        lb.set(res, value);
                    }
                }
                true
            }
            LabelDrop => {
                lb.retain(|n, _| !self.regex.is_match(n));
                true
            }
            LabelKeep => {
                lb.retain(|n, _| self.regex.is_match(n));
                true
            }
        }
    }
}

/// `md5(value)[8..16]` as a big-endian `u64`, modulo `modulus` (which must be non-zero).
pub fn hashmod(value: &str, modulus: u64) -> u64 {
    let sum = md5(value.as_bytes());
    let mut tail = [0u8; 8];
    tail.copy_from_slice(&sum[8..]);
    u64::from_be_bytes(tail) % modulus
}

/// Reusable buffers for joining several source label values: a stack buffer for the usual
/// short values (no allocation), a heap string beyond that.
struct Scratch {
    stack: [u8; 512],
    heap: String,
}

impl Scratch {
    fn new() -> Self {
        Self {
            stack: [0; 512],
            heap: String::new(),
        }
    }
}

/// The source label values joined by `sep`; missing labels read as "". Borrows the value in
/// place for zero or one source label; joins into `scratch` otherwise.
fn joined<'a>(lb: &'a LabelsBuilder, names: &[String], sep: &str, scratch: &'a mut Scratch) -> &'a str {
    match names {
        [] => "",
        [one] => lb.get(one).unwrap_or(""),
        many => {
            let value = |n: &String| lb.get(n).unwrap_or("");
            let total = many.iter().map(|n| value(n).len()).sum::<usize>() + sep.len() * (many.len() - 1);
            if total <= scratch.stack.len() {
                let mut at = 0;
                for (i, n) in many.iter().enumerate() {
                    if i > 0 {
                        scratch.stack[at..at + sep.len()].copy_from_slice(sep.as_bytes());
                        at += sep.len();
                    }
                    let v = value(n);
                    scratch.stack[at..at + v.len()].copy_from_slice(v.as_bytes());
                    at += v.len();
                }
                // Concatenated UTF-8 strings are UTF-8, so this never falls back.
                std::str::from_utf8(&scratch.stack[..at]).unwrap_or("")
            } else {
                scratch.heap.clear();
                for (i, n) in many.iter().enumerate() {
                    if i > 0 {
                        scratch.heap.push_str(sep);
                    }
                    scratch.heap.push_str(value(n));
                }
                &scratch.heap
            }
        }
    }
}

/// Expands `template` into `dst` with Go's `Regexp.Expand` rules: `$$` is a literal `$`;
/// `$name` takes the longest run of letters, digits and `_` as the name; `${name}` is
/// braced; an all-digit name (no leading zero) is a group number, anything else a group
/// name (`$1x` is the group named `1x`, usually empty); a reference to a group that does
/// not exist or did not participate expands to nothing; a malformed `$` is copied as is.
pub fn expand(re: &Regex, caps: &regex::Captures<'_>, template: &str, dst: &mut String) {
    let mut rest = template;
    while let Some(pos) = rest.find('$') {
        dst.push_str(&rest[..pos]);
        rest = &rest[pos + 1..];
        if let Some(r) = rest.strip_prefix('$') {
            dst.push('$');
            rest = r;
            continue;
        }
        let Some((name, after)) = extract_name(rest) else {
            dst.push('$');
            continue;
        };
        rest = after;
        let m = match group_number(name) {
            Some(n) => caps.get(n),
            None => re
                .capture_names()
                .position(|n| n == Some(name))
                .and_then(|i| caps.get(i)),
        };
        if let Some(m) = m {
            dst.push_str(m.as_str());
        }
    }
    dst.push_str(rest);
}

/// Go's `extract`: the name after `$`, braced or not, and the remaining template.
fn extract_name(s: &str) -> Option<(&str, &str)> {
    let (body, brace) = match s.strip_prefix('{') {
        Some(b) => (b, true),
        None => (s, false),
    };
    let end = body
        .char_indices()
        .find(|(_, c)| !(c.is_alphanumeric() || *c == '_'))
        .map_or(body.len(), |(i, _)| i);
    if end == 0 {
        return None;
    }
    let name = &body[..end];
    if brace {
        let after = body[end..].strip_prefix('}')?;
        Some((name, after))
    } else {
        Some((name, &body[end..]))
    }
}

fn group_number(name: &str) -> Option<usize> {
    if !name.bytes().all(|b| b.is_ascii_digit()) || (name.len() > 1 && name.starts_with('0')) {
        return None;
    }
    // Go stops at 1e8 and treats larger numbers as names; no regex has that many groups.
    if name.len() > 8 {
        return None;
    }
    name.parse().ok()
}

/// Applies `rules` in order to `lb`. Returns false as soon as a rule drops the series or
/// target (`lb` is then partially relabeled and must be discarded).
pub fn process(lb: &mut LabelsBuilder, rules: &[Relabeler]) -> bool {
    let mut scratch = Scratch::new();
    rules.iter().all(|r| r.apply(lb, &mut scratch))
}

/// Relabels a label set; `None` when dropped. An empty result (every label removed) is
/// also reported as `None`, as Prometheus drops such series/targets.
pub fn process_labels(labels: &Labels, rules: &[Relabeler]) -> Option<Labels> {
    if rules.is_empty() {
        return Some(labels.clone());
    }
    let mut lb = labels.builder();
    if !process(&mut lb, rules) {
        return None;
    }
    let out = lb.build();
    (!out.is_empty()).then_some(out)
}

/// Relabeling as a method on [`Labels`].
pub trait RelabelExt {
    /// Applies `rules`; `None` when dropped (or when no label is left).
    fn relabel(&self, rules: &[Relabeler]) -> Option<Labels>;
}

impl RelabelExt for Labels {
    fn relabel(&self, rules: &[Relabeler]) -> Option<Labels> {
        process_labels(self, rules)
    }
}

/// Compiles a list of YAML-form configs, naming the index of the first bad one.
pub fn compile_all(cfgs: &[RelabelConfig]) -> Result<Vec<Relabeler>, (usize, RelabelError)> {
    cfgs.iter()
        .enumerate()
        .map(|(i, c)| c.compile().map_err(|e| (i, e)))
        .collect()
}

#[cfg(test)]
mod tests;
