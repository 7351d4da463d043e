//! From the config file's [`ScrapeConfig`] to the scraper's [`PoolConfig`].
//!
//! `sightline_config::load` has already resolved what Prometheus inherits
//! from `global` (intervals, timeouts, limits) and made file paths absolute;
//! configs built in code (e.g. [`ScrapeConfig::self_scrape`]) that leave an
//! interval or timeout at zero get the global value here.

use crate::config::{FileSdSettings, HttpSettings, PoolConfig, Secret, TlsSettings};
use crate::discovery::static_groups;
use crate::manager::ScrapeManager;
use sightline_config::{Config, GlobalConfig, ScrapeConfig};
use sightline_model::Labels;
use std::time::Duration;

/// Maps one scrape config.
pub fn pool_config(sc: &ScrapeConfig, global: &GlobalConfig) -> PoolConfig {
    let mut p = PoolConfig::new(sc.job_name.clone());
    p.scrape_interval = if sc.scrape_interval.is_zero() {
        nonzero(global.scrape_interval, Duration::from_secs(60))
    } else {
        sc.scrape_interval
    };
    p.scrape_timeout = if sc.scrape_timeout.is_zero() {
        nonzero(global.scrape_timeout, Duration::from_secs(10)).min(p.scrape_interval)
    } else {
        sc.scrape_timeout
    };
    p.metrics_path = sc.metrics_path.clone();
    p.scheme = sc.scheme.clone();
    p.params = sc.params.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    p.honor_labels = sc.honor_labels;
    p.honor_timestamps = sc.honor_timestamps;
    p.track_timestamps_staleness = sc.track_timestamps_staleness;
    let or_global = |own: u64, g: u64| if own == 0 { g } else { own };
    p.sample_limit = or_global(sc.sample_limit, global.sample_limit) as usize;
    p.label_limit = or_global(sc.label_limit, global.label_limit) as usize;
    p.label_name_length_limit =
        or_global(sc.label_name_length_limit, global.label_name_length_limit) as usize;
    p.label_value_length_limit =
        or_global(sc.label_value_length_limit, global.label_value_length_limit) as usize;
    p.target_limit = or_global(sc.target_limit, global.target_limit) as usize;
    p.keep_dropped_targets = or_global(sc.keep_dropped_targets, global.keep_dropped_targets) as usize;
    p.body_size_limit = or_global(sc.body_size_limit, global.body_size_limit);
    p.http = http_settings(sc);
    p.relabel = sc.relabel_configs.clone();
    p.metric_relabel = sc.metric_relabel_configs.clone();
    p.static_groups = static_groups(sc.static_configs.iter().map(|s| {
        (
            s.targets.clone(),
            Labels::from_pairs(s.labels.iter().map(|(k, v)| (k.clone(), v.clone()))),
        )
    }));
    p.file_sd = sc
        .file_sd_configs
        .iter()
        .map(|f| FileSdSettings {
            files: f.files.clone(),
            refresh_interval: nonzero(f.refresh_interval, Duration::from_secs(300)),
        })
        .collect();
    // Every field takes part: any change rebuilds the pool (with handover).
    p.fingerprint = format!("{sc:?}");
    p
}

fn nonzero(d: Duration, default: Duration) -> Duration {
    if d.is_zero() {
        default
    } else {
        d
    }
}

fn http_settings(sc: &ScrapeConfig) -> HttpSettings {
    let h = sc.http_client();
    let secret = |inline: &Option<String>, file: &Option<std::path::PathBuf>| match (inline, file) {
        (Some(v), _) => Some(Secret::Inline(v.clone())),
        (None, Some(f)) => Some(Secret::File(f.clone())),
        (None, None) => None,
    };
    let basic_auth = h.basic_auth.as_ref().map(|b| {
        let user = match &b.username_file {
            Some(f) if b.username.is_empty() => Secret::File(f.clone()),
            _ => Secret::Inline(b.username.clone()),
        };
        (user, secret(&b.password, &b.password_file))
    });
    let authorization = h.authorization.as_ref().map(|a| {
        let kind = if a.kind.is_empty() {
            "Bearer".to_string()
        } else {
            a.kind.clone()
        };
        (
            kind,
            secret(&a.credentials, &a.credentials_file).unwrap_or(Secret::Inline(String::new())),
        )
    });
    let t = &h.tls_config;
    HttpSettings {
        basic_auth,
        authorization,
        tls: TlsSettings {
            ca: t.ca.clone(),
            ca_file: t.ca_file.clone(),
            cert: t.cert.clone(),
            cert_file: t.cert_file.clone(),
            key: t.key.clone(),
            key_file: t.key_file.clone(),
            server_name: t.server_name.clone(),
            insecure_skip_verify: t.insecure_skip_verify,
            min_version: t.min_version.clone(),
        },
        proxy_url: h.proxy_url.clone(),
        follow_redirects: h.follow_redirects,
        enable_http2: h.enable_http2,
        compression: sc.enable_compression,
    }
}

impl ScrapeManager {
    /// Applies the `scrape_configs` of a loaded config (see
    /// [`ScrapeManager::apply_pools`] for what a reload keeps). Sync and
    /// non-blocking; must run inside the manager's tokio runtime context or
    /// on one of its blocking threads.
    pub fn apply_config(&self, cfg: &Config) {
        let pools = cfg
            .scrape_configs
            .iter()
            .map(|sc| pool_config(sc, &cfg.global))
            .collect();
        self.apply_pools(pools);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_every_setting() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("prometheus.yml");
        let yaml = r#"
global:
  scrape_interval: 30s
  sample_limit: 500
scrape_configs:
  - job_name: node
    honor_labels: true
    metrics_path: /m
    scheme: https
    params: {module: [a, b]}
    basic_auth: {username: u, password_file: pw}
    tls_config: {insecure_skip_verify: true, server_name: x}
    body_size_limit: 1KB
    static_configs:
      - targets: ['h:1', 'h:2']
        labels: {env: prod}
    file_sd_configs:
      - files: ['sd/*.json']
        refresh_interval: 1m
    relabel_configs:
      - {source_labels: [__address__], regex: 'h:2', action: drop}
    metric_relabel_configs:
      - {source_labels: [__name__], regex: 'go_.*', action: drop}
  - job_name: bearer
    scrape_interval: 5s
    bearer_token: tok
    enable_compression: false
"#;
        let (cfg, _) = sightline_config::load_str(&path, yaml, &|_| None).unwrap();
        let p = pool_config(&cfg.scrape_configs[0], &cfg.global);
        assert_eq!(p.scrape_interval, Duration::from_secs(30));
        assert_eq!(p.scrape_timeout, Duration::from_secs(10));
        assert_eq!((p.metrics_path.as_str(), p.scheme.as_str()), ("/m", "https"));
        assert_eq!(
            p.params,
            vec![("module".to_string(), vec!["a".to_string(), "b".to_string()])]
        );
        assert!(p.honor_labels && p.honor_timestamps);
        assert_eq!(p.sample_limit, 500);
        assert_eq!(p.body_size_limit, 1024);
        assert_eq!(p.static_groups[0].targets.len(), 2);
        assert_eq!(p.static_groups[0].labels.get("env"), Some("prod"));
        assert_eq!(p.file_sd[0].files, vec![dir.path().join("sd/*.json")]);
        assert_eq!(p.file_sd[0].refresh_interval, Duration::from_secs(60));
        assert_eq!((p.relabel.len(), p.metric_relabel.len()), (1, 1));
        assert_eq!(
            p.http.basic_auth,
            Some((
                Secret::Inline("u".into()),
                Some(Secret::File(dir.path().join("pw")))
            ))
        );
        assert!(p.http.tls.insecure_skip_verify);
        let b = pool_config(&cfg.scrape_configs[1], &cfg.global);
        assert_eq!(b.scrape_interval, Duration::from_secs(5));
        assert_eq!(b.scrape_timeout, Duration::from_secs(5));
        assert_eq!(
            b.http.authorization,
            Some(("Bearer".into(), Secret::Inline("tok".into())))
        );
        assert!(!b.http.compression);
        // Identical configs have identical fingerprints; any change differs.
        assert_eq!(
            p.fingerprint,
            pool_config(&cfg.scrape_configs[0], &cfg.global).fingerprint
        );
        assert_ne!(p.fingerprint, b.fingerprint);
    }

    #[test]
    fn self_scrape_config_is_usable() {
        let sc = ScrapeConfig::self_scrape("sightline", "127.0.0.1:9090");
        let p = pool_config(&sc, &GlobalConfig::default());
        assert_eq!(p.scrape_interval, Duration::from_secs(15));
        assert_eq!(p.scrape_timeout, Duration::from_secs(10));
        assert_eq!(p.metrics_path, "/metrics");
        assert_eq!(
            p.static_groups[0].targets[0].get("__address__"),
            Some("127.0.0.1:9090")
        );
    }
}
