//! The Sightline config file: an unmodified Prometheus `prometheus.yml` (plus its rule files)
//! with Sightline's own settings in an optional `sightline:` section.
//!
//! [`load`] reads, expands `${VAR}`s ([`env`]), parses strictly (unknown keys are errors, as in
//! Prometheus), validates, resolves inherited values and relative paths, and loads every rule
//! file `rule_files` matches. [`check_files`] backs `sightline check-config`.
//!
//! Invariants after a successful [`load`]:
//! - every [`ScrapeConfig`] has a non-zero `scrape_interval`, a `scrape_timeout` no greater than
//!   it, non-empty `scrape_protocols`, and limits inherited from `global` where unset;
//! - `job_name`s are unique and non-empty; relabel rules are compiled and valid;
//! - file paths (`file_sd_configs.files`, TLS files, credential files, `rule_files`,
//!   `sightline.data_dir`) are absolute or relative to the working directory, never to the
//!   config file;
//! - `rule_groups` holds every group of every matched rule file, each validated (PromQL parsed).
//!
//! Every error and warning names the file, line and column (1-based) of the offending node and,
//! for problems found after parsing, its path (`scrape_configs[2].scrape_timeout`).

pub mod env;
pub mod locate;
pub mod rules;
pub mod types;
pub mod units;

pub use rules::{LoadedGroup, Rule, RuleFile, RuleGroup};
pub use sightline_relabel::{RelabelConfig, Relabeler};
pub use types::*;
pub use units::{format_duration, format_size, parse_duration, parse_size, UnitError};

mod validate;

use env::Seg;
use serde::de::DeserializeOwned;
use std::fmt;
use std::path::{Path, PathBuf};

/// How serious a [`Diagnostic`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// A problem in a config or rule file, with its location when known.
/// Displays as `file:line:col: message` (`file:line:col: warning: message` for warnings).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    /// 1-based line and column.
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub severity: Severity,
    pub message: String,
}

/// A non-fatal finding of [`load`] (an unset `${VAR}`, an unsupported discovery kind, ...).
pub type Warning = Diagnostic;

impl Diagnostic {
    pub fn error(file: &Path, loc: Option<(usize, usize)>, message: impl Into<String>) -> Self {
        Self {
            file: file.to_path_buf(),
            line: loc.map(|l| l.0),
            column: loc.map(|l| l.1),
            severity: Severity::Error,
            message: message.into(),
        }
    }

    pub fn warning(file: &Path, loc: Option<(usize, usize)>, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(file, loc, message)
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
            if let Some(c) = self.column {
                write!(f, ":{c}")?;
            }
        }
        match self.severity {
            Severity::Error => write!(f, ": {}", self.message),
            Severity::Warning => write!(f, ": warning: {}", self.message),
        }
    }
}

/// Why [`load`] refused a config: one or more errors (all of them, not just the first).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub diagnostics: Vec<Diagnostic>,
}

impl ConfigError {
    fn one(d: Diagnostic) -> Self {
        Self { diagnostics: vec![d] }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Loads a config file with `${VAR}` taken from the process environment.
pub fn load(path: &Path) -> Result<(Config, Vec<Warning>), ConfigError> {
    load_with_env(path, &|name| std::env::var(name).ok())
}

/// [`load`] with an explicit variable lookup (tests, embedding).
pub fn load_with_env(path: &Path, lookup: env::Lookup<'_>) -> Result<(Config, Vec<Warning>), ConfigError> {
    let src = read(path).map_err(ConfigError::one)?;
    load_str(path, &src, lookup)
}

/// Loads config text as if read from `path` (relative paths resolve against its directory).
pub fn load_str(
    path: &Path,
    src: &str,
    lookup: env::Lookup<'_>,
) -> Result<(Config, Vec<Warning>), ConfigError> {
    let (cfg, warnings, errors) = load_inner(path, src, lookup);
    match cfg {
        Some(cfg) if errors.is_empty() => Ok((cfg, warnings)),
        _ => Err(ConfigError { diagnostics: errors }),
    }
}

/// Parses and validates, keeping warnings even when there are errors (for check-config).
fn load_inner(
    path: &Path,
    src: &str,
    lookup: env::Lookup<'_>,
) -> (Option<Config>, Vec<Warning>, Vec<Diagnostic>) {
    match parse_yaml::<Config>(path, src, Some(lookup)) {
        Err(mut d) => {
            if d.message.starts_with("unknown field `groups`") {
                d.message
                    .push_str(" (this looks like a rule file: list it under rule_files in the main config)");
            }
            (None, Vec::new(), vec![d])
        }
        Ok((mut cfg, mut warnings)) => {
            let errors = validate::validate(path, src, &mut cfg, &mut warnings, lookup);
            (Some(cfg), warnings, errors)
        }
    }
}

/// Loads and validates one rule file.
pub fn load_rule_file(path: &Path) -> Result<RuleFile, Vec<Diagnostic>> {
    let src = read(path).map_err(|d| vec![d])?;
    rules::parse_rule_file(path, &src)
}

/// Checks config and rule files for `sightline check-config`. Each file is recognised as a rule
/// file (top-level `groups:`) or a main config; a main config's rule files are checked too.
/// Returns every error and warning; none with [`Diagnostic::is_error`] means all are valid.
pub fn check_files(paths: &[PathBuf]) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for p in paths {
        let src = match read(p) {
            Ok(s) => s,
            Err(d) => {
                out.push(d);
                continue;
            }
        };
        if rules::looks_like_rule_file(&src) {
            if let Err(ds) = rules::parse_rule_file(p, &src) {
                out.extend(ds);
            }
        } else {
            let (_, warnings, errors) = load_inner(p, &src, &|name| std::env::var(name).ok());
            out.extend(warnings);
            out.extend(errors);
        }
    }
    out
}

fn read(path: &Path) -> Result<String, Diagnostic> {
    std::fs::read_to_string(path).map_err(|e| Diagnostic::error(path, None, format!("cannot read file: {e}")))
}

/// Parses YAML into `T` strictly, expanding `${VAR}` when `lookup` is given. Syntax and type
/// errors carry serde_yaml's location; unset variables become located warnings.
pub(crate) fn parse_yaml<T: DeserializeOwned>(
    path: &Path,
    src: &str,
    lookup: Option<env::Lookup<'_>>,
) -> Result<(T, Vec<Warning>), Diagnostic> {
    // An empty document (or only comments) is a valid, all-defaults file.
    let text = match serde_yaml::from_str::<serde_yaml::Value>(src) {
        Ok(serde_yaml::Value::Null) => "{}",
        _ => src,
    };
    match deserialize_expanding::<T, _>(path, src, serde_yaml::Deserializer::from_str(text), lookup) {
        Err(e) if e.to_string().contains("unknown field `<<`") => {
            // YAML merge keys (`<<: *base`), which Prometheus's YAML library supports: apply
            // them on a value tree and deserialize from that. Parse errors then carry no
            // location (semantic errors are still located in the original text).
            let merged = serde_yaml::from_str::<serde_yaml::Value>(text).and_then(|mut v| {
                v.apply_merge()?;
                Ok(v)
            });
            match merged {
                Ok(v) => {
                    deserialize_expanding::<T, _>(path, src, v, lookup).map_err(|e| yaml_diag(path, src, &e))
                }
                Err(e2) => Err(yaml_diag(path, src, &e2)),
            }
        }
        r => r.map_err(|e| yaml_diag(path, src, &e)),
    }
}

fn deserialize_expanding<'de, T: DeserializeOwned, D>(
    path: &Path,
    src: &str,
    de: D,
    lookup: Option<env::Lookup<'_>>,
) -> Result<(T, Vec<Warning>), serde_yaml::Error>
where
    D: serde::Deserializer<'de, Error = serde_yaml::Error>,
{
    let Some(lookup) = lookup else {
        return T::deserialize(de).map(|v| (v, Vec::new()));
    };
    let ctx = env::Ctx::new(lookup);
    let v = T::deserialize(env::Wrap::new(de, &ctx))?;
    let warnings = ctx
        .unset
        .into_inner()
        .into_iter()
        .map(|(segs, name)| {
            Diagnostic::warning(
                path,
                locate::locate_nearest(src, &segs),
                format!(
                    "{}: environment variable {name} is not set; expanded to \"\"",
                    env::path_string(&segs)
                ),
            )
        })
        .collect();
    Ok((v, warnings))
}

fn yaml_diag(path: &Path, src: &str, e: &serde_yaml::Error) -> Diagnostic {
    let mut loc = e.location().map(|l| (l.line(), l.column()));
    let mut msg = e.to_string();
    // serde_yaml appends " at line L column C"; the location is reported up front instead.
    if let Some(i) = msg.rfind(" at line ") {
        if msg[i + 9..].split(" column ").all(|p| p.parse::<usize>().is_ok()) {
            msg.truncate(i);
        }
    }
    msg = shorten_unknown_field(&msg);
    // A relabel rule is validated as a whole, so serde_yaml points at the rule; point at the
    // offending field instead (`...relabel_configs[0].regex`).
    if let Some((p, rest)) = msg.split_once(": ") {
        if let (Some(field), Some(mut segs)) = (relabel_error_field(rest), parse_path(p)) {
            segs.push(Seg::Key(field.into()));
            if let Some(l) = locate::locate(src, &segs) {
                loc = Some(l);
                msg = format!("{}: {rest}", env::path_string(&segs));
            }
        }
    }
    Diagnostic::error(path, loc, msg)
}

/// The relabel config field a [`sightline_relabel::RelabelError`] message is about.
fn relabel_error_field(msg: &str) -> Option<&'static str> {
    if msg.starts_with("unknown relabel action ") {
        Some("action")
    } else if msg.starts_with("invalid regex ") {
        Some("regex")
    } else if msg.contains("requires non-zero modulus") {
        Some("modulus")
    } else if msg.contains("is invalid 'target_label'") {
        Some("target_label")
    } else if msg.contains("is invalid 'replacement'") || msg.starts_with("'replacement' can not be set") {
        Some("replacement")
    } else if msg.contains("in 'source_labels'") {
        Some("source_labels")
    } else {
        None
    }
}

/// Parses serde_yaml's path text (`a.b[2].c`) back into segments.
fn parse_path(p: &str) -> Option<Vec<Seg>> {
    let mut segs = Vec::new();
    for part in p.split('.') {
        let (key, idx) = part.split_once('[').map_or((part, ""), |(k, i)| (k, i));
        if !key.is_empty() {
            segs.push(Seg::Key(key.to_string()));
        }
        if !idx.is_empty() {
            for i in idx.split('[') {
                segs.push(Seg::Index(i.trim_end_matches(']').parse().ok()?));
            }
        }
    }
    (!segs.is_empty()).then_some(segs)
}

/// serde lists every expected field after an unknown one (over 70 for a scrape config);
/// keep the message short and suggest the closest field name instead.
fn shorten_unknown_field(msg: &str) -> String {
    let Some(i) = msg.find("unknown field `") else {
        return msg.to_string();
    };
    let after = &msg[i + 15..];
    let Some(end) = after.find('`') else {
        return msg.to_string();
    };
    let field = &after[..end];
    let rest = &after[end + 1..];
    let Some(list) = rest
        .strip_prefix(", expected one of ")
        .or(rest.strip_prefix(", expected "))
    else {
        return msg.to_string();
    };
    let best = list
        .split(", ")
        .map(|c| c.trim_matches('`'))
        .map(|c| (edit_distance(field, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4))
        .min();
    let mut out = format!("{}unknown field `{field}`", &msg[..i]);
    if let Some((_, c)) = best {
        out.push_str(&format!(" (did you mean `{c}`?)"));
    }
    out
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// An error at the node `segs` of `src` (or its nearest existing ancestor), message prefixed
/// with the path.
pub(crate) fn locate_diag(file: &Path, src: &str, segs: &[Seg], msg: String) -> Diagnostic {
    let loc = locate::locate_nearest(src, segs);
    let p = env::path_string(segs);
    let msg = if p.is_empty() { msg } else { format!("{p}: {msg}") };
    Diagnostic::error(file, loc, msg)
}

#[cfg(test)]
mod tests;
