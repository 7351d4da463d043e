//! Pushgateway semantics for `PUT|POST|DELETE /metrics/job/<job>{/<label>/<value>}`.
//!
//! A group is identified by its grouping key (`job` plus the path labels).
//! `PUT` replaces the group's metrics, `POST` replaces only the metric
//! families it carries, `DELETE` removes the group. Like a Pushgateway that
//! Prometheus scrapes with `honor_labels: true`, the current values of every
//! group are written to storage at each push and re-emitted every interval,
//! so queries see them continuously; series that leave a group get a
//! staleness marker. Each group also carries `push_time_seconds` and
//! `push_failure_time_seconds`. The registry is persisted as JSON (written to
//! a temporary file and renamed) so pushed values survive restarts.

use sightline_model::{stale_nan, Labels, MetricMetadata, METRIC_NAME};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One pushed metric family (name, metadata, samples).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Family {
    pub meta: MetricMetadata,
    /// Full label sets (grouping labels included) and values.
    pub samples: Vec<(Labels, f64)>,
}

/// A group: its families by name, and the push bookkeeping.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Group {
    pub families: BTreeMap<String, Family>,
    pub last_push_ms: i64,
    pub last_failure_ms: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushMethod {
    /// Replace the whole group.
    Put,
    /// Replace the pushed families only.
    Post,
}

/// The groups, keyed by grouping labels.
#[derive(Debug, Default)]
pub struct PushRegistry {
    groups: BTreeMap<Labels, Group>,
    path: Option<PathBuf>,
}

/// What storage must receive after a change: values to write now and
/// series that went away (to be marked stale).
#[derive(Debug, Default, PartialEq)]
pub struct Emission {
    pub samples: Vec<(Labels, f64)>,
    pub gone: Vec<Labels>,
}

impl Emission {
    /// All (labels, value) pairs to append, staleness markers included.
    pub fn into_samples(self) -> Vec<(Labels, f64)> {
        let mut v = self.samples;
        v.extend(self.gone.into_iter().map(|l| (l, stale_nan())));
        v
    }
}

impl PushRegistry {
    /// Opens (or creates) the registry persisted at `path`.
    pub fn open(path: Option<PathBuf>) -> std::io::Result<Self> {
        let mut r = Self {
            groups: BTreeMap::new(),
            path,
        };
        if let Some(p) = &r.path {
            match std::fs::read(p) {
                Ok(bytes) => {
                    r.groups =
                        decode(&bytes).map_err(|e| std::io::Error::other(format!("{}: {e}", p.display())))?
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(r)
    }

    /// Applies a push. `families` carry full label sets (the handler has
    /// already merged grouping labels and checked conflicts).
    pub fn push(
        &mut self,
        key: Labels,
        method: PushMethod,
        families: BTreeMap<String, Family>,
        now_ms: i64,
    ) -> Emission {
        let before = self.group_series(&key);
        let group = self.groups.entry(key.clone()).or_default();
        match method {
            PushMethod::Put => group.families = families,
            PushMethod::Post => group.families.extend(families),
        }
        group.last_push_ms = now_ms;
        let after = self.emit_group(&key, now_ms);
        let gone = before
            .into_iter()
            .filter(|l| !after.iter().any(|(a, _)| a == l))
            .collect();
        Emission { samples: after, gone }
    }

    /// Records a failed push (malformed body) for `push_failure_time_seconds`.
    pub fn record_failure(&mut self, key: &Labels, now_ms: i64) -> Emission {
        let Some(group) = self.groups.get_mut(key) else {
            return Emission::default();
        };
        group.last_failure_ms = now_ms;
        Emission {
            samples: self.emit_group(key, now_ms),
            gone: Vec::new(),
        }
    }

    /// Deletes a group; every series it had goes stale.
    pub fn delete(&mut self, key: &Labels) -> Emission {
        let gone = self.group_series(key);
        self.groups.remove(key);
        Emission {
            samples: Vec::new(),
            gone,
        }
    }

    /// Every group's current values (the periodic re-emit).
    pub fn emit_all(&self, now_ms: i64) -> Vec<(Labels, f64)> {
        self.groups
            .keys()
            .flat_map(|k| self.emit_group(k, now_ms))
            .collect()
    }

    pub fn groups(&self) -> &BTreeMap<Labels, Group> {
        &self.groups
    }

    /// Metadata of every pushed family.
    pub fn metadata(&self) -> Vec<(String, MetricMetadata)> {
        self.groups
            .values()
            .flat_map(|g| g.families.iter().map(|(n, f)| (n.clone(), f.meta.clone())))
            .collect()
    }

    /// Writes the registry to its file (no-op without one).
    pub fn persist(&self) -> std::io::Result<()> {
        let Some(path) = &self.path else { return Ok(()) };
        write_atomic(path, &encode(&self.groups))
    }

    fn group_series(&self, key: &Labels) -> Vec<Labels> {
        self.emit_group(key, 0).into_iter().map(|(l, _)| l).collect()
    }

    fn emit_group(&self, key: &Labels, _now_ms: i64) -> Vec<(Labels, f64)> {
        let Some(g) = self.groups.get(key) else {
            return Vec::new();
        };
        let mut out: Vec<(Labels, f64)> = g
            .families
            .values()
            .flat_map(|f| f.samples.iter().cloned())
            .collect();
        let with_name = |name: &str| {
            let mut b = key.builder();
            b.set(METRIC_NAME, name);
            b.build()
        };
        out.push((with_name("push_time_seconds"), g.last_push_ms as f64 / 1000.0));
        out.push((
            with_name("push_failure_time_seconds"),
            g.last_failure_ms as f64 / 1000.0,
        ));
        out
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

fn labels_to_json(l: &Labels) -> serde_json::Value {
    serde_json::Value::Object(l.iter().map(|l| (l.name.to_string(), l.value.into())).collect())
}

fn labels_from_json(v: &serde_json::Value) -> Result<Labels, String> {
    let obj = v.as_object().ok_or("labels must be an object")?;
    let mut pairs = Vec::with_capacity(obj.len());
    for (k, v) in obj {
        pairs.push((
            k.clone(),
            v.as_str().ok_or("label values must be strings")?.to_string(),
        ));
    }
    Ok(Labels::from_pairs(pairs))
}

/// Values are written as strings so NaN and infinities survive JSON.
fn encode(groups: &BTreeMap<Labels, Group>) -> Vec<u8> {
    use serde_json::json;
    let groups: Vec<_> = groups
        .iter()
        .map(|(key, g)| {
            let families: serde_json::Map<_, _> = g
                .families
                .iter()
                .map(|(name, f)| {
                    let samples: Vec<_> =
                        f.samples.iter().map(|(l, v)| json!({"labels": labels_to_json(l), "value": v.to_string()})).collect();
                    (
                        name.clone(),
                        json!({"type": f.meta.metric_type.as_str(), "help": f.meta.help, "unit": f.meta.unit, "samples": samples}),
                    )
                })
                .collect();
            json!({"key": labels_to_json(key), "last_push_ms": g.last_push_ms, "last_failure_ms": g.last_failure_ms, "families": families})
        })
        .collect();
    serde_json::to_vec(&json!({"version": 1, "groups": groups})).unwrap_or_default()
}

fn decode(bytes: &[u8]) -> Result<BTreeMap<Labels, Group>, String> {
    let v: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let mut out = BTreeMap::new();
    for g in v["groups"].as_array().ok_or("missing groups")? {
        let key = labels_from_json(&g["key"])?;
        let mut group = Group {
            last_push_ms: g["last_push_ms"].as_i64().unwrap_or(0),
            last_failure_ms: g["last_failure_ms"].as_i64().unwrap_or(0),
            ..Default::default()
        };
        for (name, f) in g["families"].as_object().ok_or("missing families")? {
            let meta = MetricMetadata {
                metric_type: sightline_model::MetricType::parse(f["type"].as_str().unwrap_or("")),
                help: f["help"].as_str().unwrap_or("").to_string(),
                unit: f["unit"].as_str().unwrap_or("").to_string(),
            };
            let mut samples = Vec::new();
            for s in f["samples"].as_array().ok_or("missing samples")? {
                let value = s["value"].as_str().ok_or("value must be a string")?;
                samples.push((
                    labels_from_json(&s["labels"])?,
                    value.parse::<f64>().map_err(|e| e.to_string())?,
                ));
            }
            group.families.insert(name.clone(), Family { meta, samples });
        }
        out.insert(key, group);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fam(name: &str, key: &Labels, vals: &[(&str, f64)]) -> (String, Family) {
        let samples = vals
            .iter()
            .map(|(inst, v)| {
                let mut b = key.builder();
                b.set(METRIC_NAME, name).set("x", *inst);
                (b.build(), *v)
            })
            .collect();
        (
            name.to_string(),
            Family {
                meta: MetricMetadata::default(),
                samples,
            },
        )
    }

    fn names(e: &[(Labels, f64)]) -> Vec<String> {
        e.iter().map(|(l, _)| l.to_string()).collect()
    }

    #[test]
    fn put_post_delete_semantics() {
        let key = Labels::from_pairs([("job", "batch")]);
        let mut r = PushRegistry::open(None).unwrap();
        let e = r.push(
            key.clone(),
            PushMethod::Put,
            [fam("a", &key, &[("1", 1.0)]), fam("b", &key, &[("1", 2.0)])].into(),
            1000,
        );
        assert_eq!(e.samples.len(), 4, "{:?}", names(&e.samples));
        assert!(e.gone.is_empty());
        // POST replaces only family b; a stays.
        let e = r.push(
            key.clone(),
            PushMethod::Post,
            [fam("b", &key, &[("2", 3.0)])].into(),
            2000,
        );
        assert!(names(&e.samples).contains(&r#"a{job="batch", x="1"}"#.to_string()));
        assert_eq!(
            names(&e.gone.iter().map(|l| (l.clone(), 0.0)).collect::<Vec<_>>()),
            [r#"b{job="batch", x="1"}"#]
        );
        // PUT without a: a goes stale.
        let e = r.push(
            key.clone(),
            PushMethod::Put,
            [fam("b", &key, &[("2", 3.0)])].into(),
            3000,
        );
        assert_eq!(e.gone.len(), 1);
        let pt = e
            .samples
            .iter()
            .find(|(l, _)| l.metric_name() == Some("push_time_seconds"))
            .unwrap();
        assert_eq!(pt.1, 3.0);
        let e = r.delete(&key);
        assert_eq!(e.gone.len(), 3);
        assert!(r.emit_all(0).is_empty());
    }

    #[test]
    fn persists_across_reopen() {
        let dir = std::env::temp_dir().join(format!("sl-push-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("push.json");
        let key = Labels::from_pairs([("job", "j"), ("instance", "i")]);
        let mut r = PushRegistry::open(Some(path.clone())).unwrap();
        r.push(
            key.clone(),
            PushMethod::Put,
            [fam("a", &key, &[("1", f64::INFINITY)])].into(),
            5000,
        );
        r.persist().unwrap();
        let r2 = PushRegistry::open(Some(path)).unwrap();
        assert_eq!(r2.groups(), r.groups());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
