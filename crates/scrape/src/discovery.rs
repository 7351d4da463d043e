//! Target discovery: `static_configs` and `file_sd_configs`.
//!
//! File SD reads JSON (`.json`) or YAML (`.yml`, `.yaml`) files holding a
//! list of `{targets: [..], labels: {..}}` groups. The last path element of
//! a configured path may be a glob. Each group gets the source
//! `<path>:<index>` and the label `__meta_filepath`.
//!
//! Invariants:
//! - a file that cannot be read or parsed keeps the groups it last yielded
//!   (and the error is logged and counted); a file that disappears (or stops
//!   matching the glob) loses its groups;
//! - [`FileSd::refresh`] reports a change only when the set of groups
//!   actually changed, so unchanged files never disturb running loops.

use crate::config::{FileSdSettings, TargetGroup};
use crate::target::ADDRESS;
use serde::Deserialize;
use sightline_metrics_protocols::exposition::is_legacy_label_name;
use sightline_model::Labels;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The label file SD adds to every group.
pub const META_FILEPATH: &str = "__meta_filepath";

/// The groups of a static config, with sources `0`, `1`, ... as Prometheus
/// numbers them.
pub fn static_groups(groups: impl IntoIterator<Item = (Vec<String>, Labels)>) -> Vec<TargetGroup> {
    groups
        .into_iter()
        .enumerate()
        .map(|(i, (targets, labels))| TargetGroup {
            source: i.to_string(),
            targets: targets
                .into_iter()
                .map(|t| Labels::from_pairs([(ADDRESS.to_string(), t)]))
                .collect(),
            labels,
        })
        .collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    #[serde(default)]
    targets: Vec<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

/// Parses one file SD file's content; `path` decides the format and is
/// recorded in sources and `__meta_filepath`.
pub fn parse_file(path: &Path, content: &[u8]) -> Result<Vec<TargetGroup>, String> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
        .unwrap_or_default();
    let raw: Vec<RawGroup> = match ext.as_str() {
        "json" => {
            if content.iter().all(|b| b.is_ascii_whitespace()) {
                Vec::new()
            } else {
                serde_json::from_slice(content).map_err(|e| e.to_string())?
            }
        }
        "yml" | "yaml" => {
            let v: Option<Vec<RawGroup>> = serde_yaml::from_slice(content).map_err(|e| e.to_string())?;
            v.unwrap_or_default()
        }
        _ => {
            return Err(format!(
                "unsupported file extension {ext:?} (use .json, .yml or .yaml)"
            ))
        }
    };
    let file = path.display().to_string();
    let mut out = Vec::with_capacity(raw.len());
    for (i, g) in raw.into_iter().enumerate() {
        for name in g.labels.keys() {
            if !is_legacy_label_name(name) {
                return Err(format!("group {i}: {name:?} is not a valid label name"));
            }
        }
        let mut targets = Vec::with_capacity(g.targets.len());
        for t in g.targets {
            if t.contains('/') {
                return Err(format!("group {i}: {t:?} is not a valid hostname"));
            }
            targets.push(Labels::from_pairs([(ADDRESS.to_string(), t)]));
        }
        let mut labels: Vec<(String, String)> = g.labels.into_iter().collect();
        labels.push((META_FILEPATH.to_string(), file.clone()));
        out.push(TargetGroup {
            source: format!("{file}:{i}"),
            targets,
            labels: Labels::from_pairs(labels),
        });
    }
    Ok(out)
}

/// Expands the configured paths: a glob in the last element is matched
/// against the directory's entries; other paths are taken as they are.
/// Sorted, deduplicated.
pub fn expand_paths(patterns: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in patterns {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if !name.contains(['*', '?', '[']) {
            out.push(p.clone());
            continue;
        }
        let dir = match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            if let Some(n) = e.file_name().to_str() {
                if crate::util::glob_match(name, n) && e.file_type().is_ok_and(|t| !t.is_dir()) {
                    out.push(dir.join(n));
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

#[derive(Debug, Clone)]
struct FileState {
    mtime: Option<SystemTime>,
    len: u64,
    groups: Vec<TargetGroup>,
}

/// The state of one pool's file SD configs across refreshes.
#[derive(Debug, Default)]
pub struct FileSd {
    files: HashMap<PathBuf, FileState>,
}

/// Outcome of a refresh.
#[derive(Debug, Default)]
pub struct Refresh {
    /// True when the groups differ from the previous refresh.
    pub changed: bool,
    /// Per-file read/parse errors (the file's previous groups were kept).
    pub errors: Vec<String>,
}

impl FileSd {
    /// True when a file appeared, vanished or changed size or mtime since
    /// the last refresh (cheap: metadata only).
    pub fn stale(&self, settings: &[FileSdSettings]) -> bool {
        let paths: Vec<PathBuf> = settings.iter().flat_map(|s| expand_paths(&s.files)).collect();
        if paths.len() != self.files.len() {
            return true;
        }
        paths.iter().any(|p| {
            let Some(st) = self.files.get(p) else { return true };
            let meta = std::fs::metadata(p).ok();
            meta.as_ref().and_then(|m| m.modified().ok()) != st.mtime
                || meta.map(|m| m.len()).unwrap_or(0) != st.len
        })
    }

    /// Re-reads every file.
    pub fn refresh(&mut self, settings: &[FileSdSettings]) -> Refresh {
        let mut paths: Vec<PathBuf> = settings.iter().flat_map(|s| expand_paths(&s.files)).collect();
        paths.sort();
        paths.dedup();
        let mut next = HashMap::with_capacity(paths.len());
        let mut errors = Vec::new();
        for p in paths {
            let meta = std::fs::metadata(&p);
            let read = std::fs::read(&p).map_err(|e| e.to_string());
            let parsed = read.and_then(|c| parse_file(&p, &c));
            match parsed {
                Ok(groups) => {
                    let meta = meta.ok();
                    next.insert(
                        p,
                        FileState {
                            mtime: meta.as_ref().and_then(|m| m.modified().ok()),
                            len: meta.map(|m| m.len()).unwrap_or(0),
                            groups,
                        },
                    );
                }
                Err(e) => {
                    // A file that is gone (not just broken) loses its groups.
                    let missing = matches!(&meta, Err(err) if err.kind() == std::io::ErrorKind::NotFound);
                    if !missing {
                        errors.push(format!("{}: {e}", p.display()));
                        let meta = meta.ok();
                        let mut st = self.files.get(&p).cloned().unwrap_or(FileState {
                            mtime: None,
                            len: 0,
                            groups: Vec::new(),
                        });
                        st.mtime = meta.as_ref().and_then(|m| m.modified().ok());
                        st.len = meta.map(|m| m.len()).unwrap_or(0);
                        next.insert(p, st);
                    } else {
                        errors.push(format!("{}: {e}", p.display()));
                    }
                }
            }
        }
        let changed = next.len() != self.files.len()
            || next
                .iter()
                .any(|(p, st)| self.files.get(p).is_none_or(|old| old.groups != st.groups));
        self.files = next;
        Refresh { changed, errors }
    }

    /// All groups from all files, ordered by file path.
    pub fn groups(&self) -> Vec<TargetGroup> {
        let mut paths: Vec<&PathBuf> = self.files.keys().collect();
        paths.sort();
        paths
            .into_iter()
            .flat_map(|p| self.files[p].groups.iter().cloned())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn parses_json_and_yaml() {
        let j = br#"[{"targets": ["a:1", "b:2"], "labels": {"env": "prod"}}, {"targets": []}]"#;
        let g = parse_file(Path::new("/x/t.json"), j).unwrap();
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].source, "/x/t.json:0");
        assert_eq!(g[0].targets[1].get(ADDRESS), Some("b:2"));
        assert_eq!(g[0].labels.get("env"), Some("prod"));
        assert_eq!(g[0].labels.get(META_FILEPATH), Some("/x/t.json"));
        let y = b"- targets: ['c:3']\n  labels:\n    team: db\n";
        let g = parse_file(Path::new("t.yaml"), y).unwrap();
        assert_eq!(g[0].targets[0].get(ADDRESS), Some("c:3"));
        assert_eq!(g[0].labels.get("team"), Some("db"));
        assert!(parse_file(Path::new("t.yml"), b"").unwrap().is_empty());
    }

    #[test]
    fn rejects_bad_files() {
        for (name, body) in [
            ("t.json", &b"[{\"targets\": [\"a:1\"]"[..]),
            ("t.json", b"[{\"targets\": [\"a/b\"]}]"),
            ("t.json", b"[{\"labels\": {\"bad-name\": \"x\"}}]"),
            ("t.json", b"[{\"target\": [\"a:1\"]}]"),
            ("t.txt", b"[]"),
            ("t.yml", b"targets: a"),
        ] {
            assert!(
                parse_file(Path::new(name), body).is_err(),
                "{name} {:?}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn refresh_keeps_last_good_and_drops_missing() {
        let dir = tempfile::tempdir().unwrap();
        let settings = vec![FileSdSettings {
            files: vec![dir.path().join("*.json")],
            refresh_interval: Duration::from_secs(300),
        }];
        let mut sd = FileSd::default();
        assert!(!sd.refresh(&settings).changed);
        let f = dir.path().join("a.json");
        std::fs::write(&f, r#"[{"targets": ["a:1"]}]"#).unwrap();
        assert!(sd.stale(&settings));
        let r = sd.refresh(&settings);
        assert!(r.changed && r.errors.is_empty());
        assert_eq!(sd.groups().len(), 1);
        assert!(!sd.refresh(&settings).changed);
        std::fs::write(&f, "[{").unwrap();
        let r = sd.refresh(&settings);
        assert!(!r.changed);
        assert_eq!(r.errors.len(), 1);
        assert_eq!(sd.groups()[0].targets[0].get(ADDRESS), Some("a:1"));
        std::fs::remove_file(&f).unwrap();
        let r = sd.refresh(&settings);
        assert!(r.changed);
        assert!(sd.groups().is_empty());
    }
}
