//! The scraper's own view of one scrape config: every value resolved
//! (intervals inherited, defaults applied, relabel rules compiled), so the
//! loops never look at the config file's types.

use sightline_model::Labels;
use sightline_relabel::Relabeler;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// A secret given inline or read from a file at every use (Prometheus
/// re-reads `*_file` credentials on each request, so rotation needs no reload).
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    Inline(String),
    File(PathBuf),
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secret::Inline(_) => f.write_str("<secret>"),
            Secret::File(p) => write!(f, "file {}", p.display()),
        }
    }
}

/// HTTP client settings of a scrape config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpSettings {
    /// `basic_auth`: username and password (either may come from a file).
    pub basic_auth: Option<(Secret, Option<Secret>)>,
    /// `authorization` / `bearer_token(_file)`: scheme (`Bearer`) and credentials.
    pub authorization: Option<(String, Secret)>,
    pub tls: TlsSettings,
    pub proxy_url: Option<String>,
    pub follow_redirects: bool,
    pub enable_http2: bool,
    /// Ask for gzip (`enable_compression`, default true).
    pub compression: bool,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            basic_auth: None,
            authorization: None,
            tls: TlsSettings::default(),
            proxy_url: None,
            follow_redirects: true,
            enable_http2: true,
            compression: true,
        }
    }
}

/// `tls_config`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsSettings {
    /// Inline PEM CA bundle (`ca`); with `ca_file` both are trusted.
    pub ca: Option<String>,
    pub ca_file: Option<PathBuf>,
    /// Inline PEM client certificate (`cert`) or file.
    pub cert: Option<String>,
    pub cert_file: Option<PathBuf>,
    /// Inline PEM client key (`key`) or file.
    pub key: Option<String>,
    pub key_file: Option<PathBuf>,
    pub server_name: Option<String>,
    pub insecure_skip_verify: bool,
    /// `TLS12` or `TLS13` (older versions are not offered by the TLS stack).
    pub min_version: Option<String>,
}

/// A target group as service discovery hands it out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TargetGroup {
    /// Identifies the group within its provider (`0`, `file.json:2`).
    pub source: String,
    /// One label set per target, each with at least `__address__`.
    pub targets: Vec<Labels>,
    /// Labels common to all targets of the group.
    pub labels: Labels,
}

/// `file_sd_configs` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSdSettings {
    /// Paths; the last element may hold `*`, `?` or `[...]` globs.
    pub files: Vec<PathBuf>,
    pub refresh_interval: Duration,
}

/// A fully resolved scrape config.
#[derive(Clone)]
pub struct PoolConfig {
    pub job_name: String,
    pub scrape_interval: Duration,
    pub scrape_timeout: Duration,
    pub metrics_path: String,
    pub scheme: String,
    /// URL parameters by name (sorted by name when rendered).
    pub params: Vec<(String, Vec<String>)>,
    pub honor_labels: bool,
    pub honor_timestamps: bool,
    /// Staleness markers also for series exposed with explicit timestamps.
    pub track_timestamps_staleness: bool,
    /// Samples per scrape after metric relabeling (0 = unlimited).
    pub sample_limit: usize,
    /// Labels per series after metric relabeling (0 = unlimited).
    pub label_limit: usize,
    pub label_name_length_limit: usize,
    pub label_value_length_limit: usize,
    /// Targets per pool after relabeling (0 = unlimited).
    pub target_limit: usize,
    /// Dropped targets kept for the targets API (0 = all).
    pub keep_dropped_targets: usize,
    /// Uncompressed body bytes (0 = unlimited).
    pub body_size_limit: u64,
    pub http: HttpSettings,
    /// `relabel_configs`, applied to targets.
    pub relabel: Vec<Relabeler>,
    /// `metric_relabel_configs`, applied to scraped series.
    pub metric_relabel: Vec<Relabeler>,
    pub static_groups: Vec<TargetGroup>,
    pub file_sd: Vec<FileSdSettings>,
    /// How often file_sd checks file modification times (Sightline's
    /// addition; Prometheus relies on inotify).
    pub file_sd_poll: Duration,
    /// Equal fingerprints mean equal configs: a reload keeps the pool's
    /// loops untouched. Built from the source config's full text.
    pub fingerprint: String,
}

impl fmt::Debug for PoolConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolConfig")
            .field("job_name", &self.job_name)
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl PoolConfig {
    /// A config with Prometheus's defaults (1m interval, 10s timeout,
    /// `/metrics`, `http`) and no targets.
    pub fn new(job_name: impl Into<String>) -> Self {
        let job_name = job_name.into();
        Self {
            fingerprint: job_name.clone(),
            job_name,
            scrape_interval: Duration::from_secs(60),
            scrape_timeout: Duration::from_secs(10),
            metrics_path: "/metrics".into(),
            scheme: "http".into(),
            params: Vec::new(),
            honor_labels: false,
            honor_timestamps: true,
            track_timestamps_staleness: false,
            sample_limit: 0,
            label_limit: 0,
            label_name_length_limit: 0,
            label_value_length_limit: 0,
            target_limit: 0,
            keep_dropped_targets: 0,
            body_size_limit: 0,
            http: HttpSettings::default(),
            relabel: Vec::new(),
            metric_relabel: Vec::new(),
            static_groups: Vec::new(),
            file_sd: Vec::new(),
            file_sd_poll: Duration::from_secs(5),
        }
    }
}
