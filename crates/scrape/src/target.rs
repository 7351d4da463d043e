//! Turning discovered target groups into scrape targets, with Prometheus's
//! label rules:
//!
//! 1. a target's labels are its own labels, then the group's labels for
//!    names it does not set, then the scrape config's defaults for names
//!    still unset: `job`, `__scheme__`, `__metrics_path__`,
//!    `__scrape_interval__`, `__scrape_timeout__` and `__param_<name>` (first
//!    value of each URL parameter). That set is the target's *discovered
//!    labels*;
//! 2. `relabel_configs` run over it; a drop keeps the target only as a
//!    dropped target (discovered labels shown by `/api/v1/targets`);
//! 3. a target without `__address__` is dropped too;
//! 4. `__meta_*` labels are removed; `instance` defaults to `__address__`;
//! 5. `__scrape_interval__`/`__scrape_timeout__` after relabeling set the
//!    target's own interval and timeout (bad values or timeout > interval
//!    drop the target with a logged reason);
//! 6. the scrape URL is `scheme://address/path?params`, where `__param_x`
//!    labels override the first value of parameter `x`;
//! 7. the labels attached to scraped series are the labels not starting
//!    with `__`.
//!
//! Targets are identified by a hash of their full labels and URL; two
//! discovered targets with the same identity are one target.

use crate::config::{PoolConfig, TargetGroup};
use crate::util;
use parking_lot::Mutex;
use sightline_model::{Labels, LabelsBuilder, MetricMetadata};
use std::collections::HashMap;
use std::time::{Duration, SystemTime};

pub const ADDRESS: &str = "__address__";
pub const SCHEME: &str = "__scheme__";
pub const METRICS_PATH: &str = "__metrics_path__";
pub const SCRAPE_INTERVAL: &str = "__scrape_interval__";
pub const SCRAPE_TIMEOUT: &str = "__scrape_timeout__";
pub const PARAM_PREFIX: &str = "__param_";
pub const META_PREFIX: &str = "__meta_";
pub const RESERVED_PREFIX: &str = "__";
pub const INSTANCE: &str = "instance";
pub const JOB: &str = "job";

/// Health as `/api/v1/targets` spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    Unknown,
    Up,
    Down,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Up => "up",
            Health::Down => "down",
        }
    }
}

/// Result of the last scrape of a target.
#[derive(Clone, Debug)]
pub struct TargetStatus {
    pub health: Health,
    pub last_error: String,
    pub last_scrape: Option<SystemTime>,
    pub last_duration: Duration,
}

impl Default for TargetStatus {
    fn default() -> Self {
        Self {
            health: Health::Unknown,
            last_error: String::new(),
            last_scrape: None,
            last_duration: Duration::ZERO,
        }
    }
}

/// An active scrape target.
#[derive(Debug)]
pub struct Target {
    /// Labels before relabeling.
    pub discovered: Labels,
    /// Labels after relabeling, `__meta_*` removed, `instance` set.
    pub labels: Labels,
    /// `labels` without the `__`-prefixed ones: what scraped series get.
    pub public: Labels,
    pub url: String,
    pub interval: Duration,
    pub timeout: Duration,
    /// Identity within the pool (labels and URL).
    pub hash: u64,
    pub status: Mutex<TargetStatus>,
    /// Metadata (`# TYPE`/`# HELP`/`# UNIT`) from the last successful scrape.
    pub metadata: Mutex<HashMap<String, MetricMetadata>>,
}

/// What became of one discovered target.
#[derive(Debug)]
pub enum Populated {
    Active(Box<Target>),
    /// Dropped by relabeling (or invalid): its discovered labels.
    Dropped(Labels, Option<String>),
}

/// Applies the label rules in the module docs to one target of a group.
pub fn populate(group: &TargetGroup, target: &Labels, cfg: &PoolConfig) -> Populated {
    let mut b = target.builder();
    for l in group.labels.iter() {
        if b.get(l.name).is_none() {
            b.set(l.name, l.value);
        }
    }
    let defaults = [
        (JOB, cfg.job_name.clone()),
        (SCHEME, cfg.scheme.clone()),
        (METRICS_PATH, cfg.metrics_path.clone()),
        (SCRAPE_INTERVAL, util::format_duration(cfg.scrape_interval)),
        (SCRAPE_TIMEOUT, util::format_duration(cfg.scrape_timeout)),
    ];
    for (name, value) in defaults {
        if b.get(name).is_none() {
            b.set(name, value);
        }
    }
    for (name, values) in &cfg.params {
        let label = format!("{PARAM_PREFIX}{name}");
        if let Some(first) = values.first() {
            if b.get(&label).is_none() {
                b.set(label, first.clone());
            }
        }
    }
    let discovered = b.clone().build();

    if !sightline_relabel::process(&mut b, &cfg.relabel) {
        return Populated::Dropped(discovered, None);
    }
    if b.get(ADDRESS).is_none() {
        return Populated::Dropped(discovered, Some("no address".into()));
    }
    let address = b.get(ADDRESS).unwrap_or_default().to_string();
    if address.contains('/') {
        return Populated::Dropped(discovered, Some(format!("{address:?} is not a valid hostname")));
    }
    let mut metas = Vec::new();
    for l in b.iter() {
        if l.name.starts_with(META_PREFIX) {
            metas.push(l.name.to_string());
        }
    }
    for m in metas {
        b.del(&m);
    }
    if b.get(INSTANCE).is_none() {
        b.set(INSTANCE, address.clone());
    }
    let labels = b.build();

    let interval = match labels.get(SCRAPE_INTERVAL).map(util::parse_duration) {
        Some(Ok(d)) if !d.is_zero() => d,
        Some(Ok(_)) => return Populated::Dropped(discovered, Some("scrape interval cannot be 0".into())),
        Some(Err(e)) => {
            return Populated::Dropped(discovered, Some(format!("error parsing scrape interval: {e}")))
        }
        None => cfg.scrape_interval,
    };
    let timeout = match labels.get(SCRAPE_TIMEOUT).map(util::parse_duration) {
        Some(Ok(d)) if !d.is_zero() => d,
        Some(Ok(_)) => return Populated::Dropped(discovered, Some("scrape timeout cannot be 0".into())),
        Some(Err(e)) => {
            return Populated::Dropped(discovered, Some(format!("error parsing scrape timeout: {e}")))
        }
        None => cfg.scrape_timeout,
    };
    if timeout > interval {
        return Populated::Dropped(
            discovered,
            Some(format!(
                "scrape timeout {} greater than scrape interval {}",
                util::format_duration(timeout),
                util::format_duration(interval)
            )),
        );
    }

    let url = scrape_url(&labels, cfg);
    let public = Labels::from_sorted_unchecked(
        labels
            .pairs()
            .iter()
            .filter(|(n, _)| !n.starts_with(RESERVED_PREFIX))
            .cloned()
            .collect(),
    );
    let hash = {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        h.update(&labels.hash64().to_le_bytes());
        h.update(url.as_bytes());
        h.digest()
    };
    Populated::Active(Box::new(Target {
        discovered,
        labels,
        public,
        url,
        interval,
        timeout,
        hash,
        status: Mutex::new(TargetStatus::default()),
        metadata: Mutex::new(HashMap::new()),
    }))
}

/// `scheme://address/path?params` as Prometheus renders it (parameters
/// sorted by name, `__param_x` overriding the first value of `x`).
pub fn scrape_url(labels: &Labels, cfg: &PoolConfig) -> String {
    let mut params: Vec<(String, Vec<String>)> = cfg.params.clone();
    for (name, value) in labels.pairs() {
        let Some(key) = name.strip_prefix(PARAM_PREFIX) else {
            continue;
        };
        match params.iter_mut().find(|(k, _)| k == key) {
            Some((_, vals)) if !vals.is_empty() => vals[0] = value.clone(),
            Some((_, vals)) => vals.push(value.clone()),
            None => params.push((key.to_string(), vec![value.clone()])),
        }
    }
    params.sort_by(|a, b| a.0.cmp(&b.0));
    let mut url = String::new();
    url.push_str(labels.get(SCHEME).unwrap_or("http"));
    url.push_str("://");
    url.push_str(labels.get(ADDRESS).unwrap_or_default());
    let path = labels.get(METRICS_PATH).unwrap_or_default();
    if !path.is_empty() && !path.starts_with('/') {
        url.push('/');
    }
    util::path_escape(path, &mut url);
    let mut first = true;
    for (k, vals) in &params {
        for v in vals {
            url.push(if first { '?' } else { '&' });
            first = false;
            util::query_escape(k, &mut url);
            url.push('=');
            util::query_escape(v, &mut url);
        }
    }
    url
}

/// Builds the `instance`-style label builder used by tests and callers that
/// hand in plain addresses.
pub fn address_target(address: &str) -> Labels {
    let mut b = LabelsBuilder::default();
    b.set(ADDRESS, address);
    b.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(addrs: &[&str], labels: &[(&str, &str)]) -> TargetGroup {
        TargetGroup {
            source: "0".into(),
            targets: addrs.iter().map(|a| address_target(a)).collect(),
            labels: Labels::from_pairs(labels.iter().copied()),
        }
    }

    fn active(p: Populated) -> Target {
        match p {
            Populated::Active(t) => *t,
            Populated::Dropped(l, why) => panic!("dropped {l} {why:?}"),
        }
    }

    #[test]
    fn default_labels_and_url() {
        let mut cfg = PoolConfig::new("node");
        cfg.scrape_interval = Duration::from_secs(15);
        cfg.params = vec![
            ("module".into(), vec!["http_2xx".into(), "x".into()]),
            ("a b".into(), vec!["c".into()]),
        ];
        let g = group(&["h:9100"], &[("env", "prod")]);
        let t = active(populate(&g, &g.targets[0], &cfg));
        assert_eq!(
            t.discovered.to_string(),
            r#"{__address__="h:9100", __metrics_path__="/metrics", __param_a b="c", __param_module="http_2xx", __scheme__="http", __scrape_interval__="15s", __scrape_timeout__="10s", env="prod", job="node"}"#
        );
        assert_eq!(
            t.public.to_string(),
            r#"{env="prod", instance="h:9100", job="node"}"#
        );
        assert_eq!(t.url, "http://h:9100/metrics?a+b=c&module=http_2xx&module=x");
        assert_eq!(t.interval, Duration::from_secs(15));
    }

    #[test]
    fn target_labels_win_over_group_and_defaults() {
        let cfg = PoolConfig::new("j");
        let g = TargetGroup {
            source: "0".into(),
            targets: vec![Labels::from_pairs([(ADDRESS, "a:1"), ("job", "own"), ("x", "t")])],
            labels: Labels::from_pairs([("x", "g"), ("y", "g")]),
        };
        let t = active(populate(&g, &g.targets[0], &cfg));
        assert_eq!(
            t.public.to_string(),
            r#"{instance="a:1", job="own", x="t", y="g"}"#
        );
    }

    #[test]
    fn relabel_can_drop_rewrite_and_change_interval() {
        let rules = |y: &str| serde_yaml::from_str::<Vec<sightline_relabel::Relabeler>>(y).unwrap();
        let mut cfg = PoolConfig::new("j");
        cfg.relabel = rules("- {source_labels: [__address__], regex: 'drop:1', action: drop}");
        let g = group(&["keep:1", "drop:1"], &[]);
        assert!(matches!(
            populate(&g, &g.targets[1], &cfg),
            Populated::Dropped(_, None)
        ));
        cfg.relabel = rules(
            "- {target_label: __scrape_interval__, replacement: 30s}\n\
             - {target_label: __param_target, replacement: 'x y'}\n\
             - {target_label: __metrics_path__, replacement: /probe}\n\
             - {target_label: __meta_foo, replacement: bar}",
        );
        let t = active(populate(&g, &g.targets[0], &cfg));
        assert_eq!(t.interval, Duration::from_secs(30));
        assert_eq!(t.url, "http://keep:1/probe?target=x+y");
        assert!(t.labels.get("__meta_foo").is_none());
        assert!(t.discovered.get("__meta_foo").is_none());
        cfg.relabel = rules("- {action: labeldrop, regex: __address__}");
        assert!(matches!(
            populate(&g, &g.targets[0], &cfg),
            Populated::Dropped(_, Some(_))
        ));
        cfg.relabel = rules("- {target_label: __scrape_timeout__, replacement: 2m}");
        assert!(matches!(
            populate(&g, &g.targets[0], &cfg),
            Populated::Dropped(_, Some(_))
        ));
    }

    #[test]
    fn instance_kept_when_set_and_hash_is_identity() {
        let cfg = PoolConfig::new("j");
        let g = group(&["a:1"], &[("instance", "mine")]);
        let t1 = active(populate(&g, &g.targets[0], &cfg));
        let t2 = active(populate(&g, &g.targets[0], &cfg));
        assert_eq!(t1.public.get("instance"), Some("mine"));
        assert_eq!(t1.hash, t2.hash);
        let g2 = group(&["a:2"], &[("instance", "mine")]);
        assert_ne!(t1.hash, active(populate(&g2, &g2.targets[0], &cfg)).hash);
    }
}
