//! Prometheus rule files (`groups: [{name, interval, rules: [...]}]`): types and validation.
//!
//! Validation follows Prometheus's `rulefmt`: exactly one of `record`/`alert`, a non-empty
//! `expr` that parses as PromQL (checked with the `promql-parser` crate), no `for`,
//! `keep_firing_for` or `annotations` on recording rules, a valid metric name for `record`,
//! valid label and annotation names, unique group names within a file. Templates in alerting
//! rule labels and annotations are only checked for balanced `{{ }}` for now.

use crate::env::Seg;
use crate::units;
use crate::{locate_diag, Diagnostic};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A rule file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuleFile {
    pub groups: Vec<RuleGroup>,
}

/// A rule group: evaluated together, every `interval` (default: `global.evaluation_interval`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuleGroup {
    pub name: String,
    #[serde(with = "units::opt_duration")]
    pub interval: Option<Duration>,
    #[serde(with = "units::opt_duration")]
    pub query_offset: Option<Duration>,
    /// Maximum alerts/series a rule may produce; 0 = unlimited.
    pub limit: u64,
    /// Labels added to every rule's output (Prometheus 3.0+).
    pub labels: BTreeMap<String, String>,
    pub rules: Vec<Rule>,
}

/// A recording rule (`record`) or an alerting rule (`alert`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Rule {
    pub record: Option<String>,
    pub alert: Option<String>,
    pub expr: String,
    #[serde(rename = "for", with = "units::opt_duration")]
    pub for_: Option<Duration>,
    #[serde(with = "units::opt_duration")]
    pub keep_firing_for: Option<Duration>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

impl Rule {
    pub fn is_alert(&self) -> bool {
        self.alert.is_some()
    }

    /// The rule's name (`record` or `alert`).
    pub fn name(&self) -> &str {
        self.record.as_deref().or(self.alert.as_deref()).unwrap_or("")
    }
}

/// A group together with the file it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadedGroup {
    pub file: PathBuf,
    pub group: RuleGroup,
}

/// Parses and validates one rule file's text. All problems are reported, not just the first.
pub fn parse_rule_file(path: &Path, src: &str) -> Result<RuleFile, Vec<Diagnostic>> {
    let file: RuleFile = match crate::parse_yaml(path, src, None) {
        Ok((f, _)) => f,
        Err(d) => return Err(vec![d]),
    };
    let diags = validate_rule_file(path, src, &file);
    if diags.iter().any(|d| d.is_error()) {
        Err(diags)
    } else {
        Ok(file)
    }
}

fn validate_rule_file(path: &Path, src: &str, file: &RuleFile) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut names = HashSet::new();
    let at = |segs: Vec<Seg>, msg: String| locate_diag(path, src, &segs, msg);
    for (gi, g) in file.groups.iter().enumerate() {
        let gpath = vec![Seg::Key("groups".into()), Seg::Index(gi)];
        let child = |k: &str| {
            let mut p = gpath.clone();
            p.push(Seg::Key(k.into()));
            p
        };
        if g.name.is_empty() {
            out.push(at(gpath.clone(), "group name must not be empty".into()));
        } else if !names.insert(g.name.as_str()) {
            out.push(at(
                child("name"),
                format!("group name {:?} is repeated in the same file", g.name),
            ));
        }
        for name in g.labels.keys() {
            if !sightline_relabel::is_valid_label_name(name) || name == "__name__" {
                out.push(at(
                    child("labels"),
                    format!("group {:?}: invalid label name {name:?}", g.name),
                ));
            }
        }
        for (ri, r) in g.rules.iter().enumerate() {
            let mut rpath = child("rules");
            rpath.push(Seg::Index(ri));
            let field = |k: &str| {
                let mut p = rpath.clone();
                p.push(Seg::Key(k.into()));
                p
            };
            let ctx = format!("group {:?}, rule {} ({:?})", g.name, ri + 1, r.name());
            let mut err = |p: Vec<Seg>, m: String| out.push(at(p, format!("{ctx}: {m}")));
            match (&r.record, &r.alert) {
                (Some(_), Some(_)) => err(
                    rpath.clone(),
                    "only one of 'record' and 'alert' must be set".into(),
                ),
                (None, None) => err(rpath.clone(), "one of 'record' or 'alert' must be set".into()),
                (Some(rec), None) => {
                    if rec.is_empty() {
                        err(field("record"), "one of 'record' or 'alert' must be set".into());
                    } else if !is_valid_metric_name(rec) {
                        err(field("record"), format!("invalid recording rule name: {rec}"));
                    }
                    if !r.annotations.is_empty() {
                        err(
                            field("annotations"),
                            "invalid field 'annotations' in recording rule".into(),
                        );
                    }
                    if r.for_.is_some() {
                        err(field("for"), "invalid field 'for' in recording rule".into());
                    }
                    if r.keep_firing_for.is_some() {
                        err(
                            field("keep_firing_for"),
                            "invalid field 'keep_firing_for' in recording rule".into(),
                        );
                    }
                }
                (None, Some(a)) => {
                    if a.is_empty() {
                        err(field("alert"), "one of 'record' or 'alert' must be set".into());
                    }
                }
            }
            if r.expr.trim().is_empty() {
                err(rpath.clone(), "field 'expr' must be set in rule".into());
            } else if let Err(e) = promql_parser::parser::parse(&r.expr) {
                err(field("expr"), format!("could not parse expression: {}", e.trim()));
            }
            for (name, value) in &r.labels {
                if !sightline_relabel::is_valid_label_name(name) || name == "__name__" {
                    err(field("labels"), format!("invalid label name: {name}"));
                }
                if r.is_alert() {
                    if let Err(m) = check_template(value) {
                        err(field("labels"), format!("label {name:?}: {m}"));
                    }
                }
            }
            for (name, value) in &r.annotations {
                if !sightline_relabel::is_valid_label_name(name) {
                    err(field("annotations"), format!("invalid annotation name: {name}"));
                }
                if let Err(m) = check_template(value) {
                    err(field("annotations"), format!("annotation {name:?}: {m}"));
                }
            }
        }
    }
    out
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn is_valid_metric_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_' || b[0] == b':')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b':')
}

/// Checks that every `{{` has a matching `}}` (and no `}}` comes unopened), skipping Go
/// template string literals inside actions.
pub fn check_template(s: &str) -> Result<(), String> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"{{") {
            let open = i;
            i += 2;
            let mut closed = false;
            while i < b.len() {
                match b[i] {
                    q @ (b'"' | b'`' | b'\'') => {
                        // Skip a quoted literal (with backslash escapes, except in raw strings).
                        i += 1;
                        while i < b.len() && b[i] != q {
                            if b[i] == b'\\' && q != b'`' {
                                i += 1;
                            }
                            i += 1;
                        }
                        i += 1;
                    }
                    b'}' if b[i..].starts_with(b"}}") => {
                        i += 2;
                        closed = true;
                        break;
                    }
                    _ => i += 1,
                }
            }
            if !closed {
                return Err(format!("template: unclosed action (\"{{{{\" at byte {open})"));
            }
        } else if b[i..].starts_with(b"}}") {
            return Err(format!("template: unexpected \"}}}}\" at byte {i}"));
        } else {
            i += 1;
        }
    }
    Ok(())
}

/// True when the YAML text looks like a rule file (a top-level `groups` key) rather than a
/// main config.
pub fn looks_like_rule_file(src: &str) -> bool {
    match serde_yaml::from_str::<serde_yaml::Value>(src) {
        Ok(serde_yaml::Value::Mapping(m)) => m.contains_key("groups"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates() {
        for ok in [
            "",
            "plain",
            "{{ $labels.instance }}",
            "a {{ $value | humanizePercentage }} b {{ .Labels.x }}",
            "{{ \"}}\" }}",
            "{{ `}}` }}",
            "x } y { z",
        ] {
            assert!(check_template(ok).is_ok(), "{ok:?}");
        }
        for bad in [
            "{{ $labels.instance",
            "oops }}",
            "{{ a }} {{",
            "{{ \"unterminated }}",
        ] {
            assert!(check_template(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn metric_names() {
        assert!(is_valid_metric_name("job:http_requests:rate5m"));
        assert!(!is_valid_metric_name("1x"));
        assert!(!is_valid_metric_name("a-b"));
    }
}
