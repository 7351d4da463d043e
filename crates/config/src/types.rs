//! The config file's types: the whole of Prometheus's `prometheus.yml` plus the `sightline:`
//! section. Every struct rejects unknown fields, as Prometheus does. Defaults are Prometheus's.
//!
//! After [`crate::load`], durations and limits that Prometheus inherits from `global` are
//! resolved in each [`ScrapeConfig`] (`scrape_interval`, `scrape_timeout`, limits, protocols),
//! and relative file paths are joined to the config file's directory.

use crate::units;
use serde::{Deserialize, Serialize};
use serde_yaml::Value;
use sightline_relabel::Relabeler;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Defines a config struct with per-field defaults: `pub name: Type = default,`.
macro_rules! config_struct {
    (
        $(#[$m:meta])*
        pub struct $name:ident {
            $( $(#[$fm:meta])* pub $f:ident : $t:ty = $d:expr, )*
        }
    ) => {
        $(#[$m])*
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        #[serde(default, deny_unknown_fields)]
        pub struct $name {
            $( $(#[$fm])* pub $f: $t, )*
        }

        impl Default for $name {
            fn default() -> Self {
                Self { $( $f: $d, )* }
            }
        }
    };
}

/// Adds Prometheus's HTTP client fields (`basic_auth`, `authorization`, `tls_config`, ...).
macro_rules! with_http {
    (
        $(#[$m:meta])*
        pub struct $name:ident { $($body:tt)* }
    ) => {
        config_struct! {
            $(#[$m])*
            pub struct $name {
                $($body)*
                pub basic_auth: Option<BasicAuth> = None,
                pub authorization: Option<Authorization> = None,
                /// Accepted, not supported yet (a warning is given).
                pub oauth2: Option<Value> = None,
                /// Deprecated form of `authorization: {credentials: ...}`.
                pub bearer_token: Option<String> = None,
                /// Deprecated form of `authorization: {credentials_file: ...}`.
                pub bearer_token_file: Option<PathBuf> = None,
                pub tls_config: TlsConfig = TlsConfig::default(),
                pub proxy_url: Option<String> = None,
                pub no_proxy: Option<String> = None,
                pub proxy_from_environment: bool = false,
                pub proxy_connect_header: BTreeMap<String, Vec<String>> = BTreeMap::new(),
                /// Accepted, not supported yet (a warning is given).
                pub http_headers: Option<Value> = None,
                pub follow_redirects: bool = true,
                pub enable_http2: bool = true,
            }
        }

        impl $name {
            /// The HTTP client settings, with `bearer_token(_file)` folded into `authorization`.
            pub fn http_client(&self) -> HttpClientConfig {
                let authorization = self.authorization.clone().or_else(|| {
                    if self.bearer_token.is_some() || self.bearer_token_file.is_some() {
                        Some(Authorization {
                            kind: "Bearer".into(),
                            credentials: self.bearer_token.clone(),
                            credentials_file: self.bearer_token_file.clone(),
                        })
                    } else {
                        None
                    }
                });
                HttpClientConfig {
                    basic_auth: self.basic_auth.clone(),
                    authorization,
                    tls_config: self.tls_config.clone(),
                    proxy_url: self.proxy_url.clone(),
                    follow_redirects: self.follow_redirects,
                    enable_http2: self.enable_http2,
                }
            }

            pub(crate) fn http_fields_mut(&mut self) -> HttpFieldsMut<'_> {
                HttpFieldsMut {
                    basic_auth: &mut self.basic_auth,
                    authorization: &mut self.authorization,
                    oauth2: &self.oauth2,
                    bearer_token: &self.bearer_token,
                    bearer_token_file: &mut self.bearer_token_file,
                    tls_config: &mut self.tls_config,
                    proxy_url: &self.proxy_url,
                    http_headers: &self.http_headers,
                }
            }
        }
    };
}

/// Adds every service-discovery kind Prometheus has besides static and file: they parse (as
/// opaque YAML) and produce a "not supported yet, ignored" warning.
macro_rules! with_sd {
    (
        $(#[$m:meta])*
        pub struct $name:ident { $($body:tt)* }
    ) => {
        with_sd!(@list $(#[$m])* pub struct $name { $($body)* } [
            azure_sd_configs, consul_sd_configs, digitalocean_sd_configs, docker_sd_configs,
            dockerswarm_sd_configs, dns_sd_configs, ec2_sd_configs, eureka_sd_configs, gce_sd_configs,
            hetzner_sd_configs, http_sd_configs, ionos_sd_configs, kubernetes_sd_configs, kuma_sd_configs,
            lightsail_sd_configs, linode_sd_configs, marathon_sd_configs, nerve_sd_configs, nomad_sd_configs,
            openstack_sd_configs, ovhcloud_sd_configs, puppetdb_sd_configs, scaleway_sd_configs,
            serverset_sd_configs, stackit_sd_configs, triton_sd_configs, uyuni_sd_configs, vultr_sd_configs
        ]);
    };
    (@list $(#[$m:meta])* pub struct $name:ident { $($body:tt)* } [$($sd:ident),*]) => {
        with_http! {
            $(#[$m])*
            pub struct $name {
                $($body)*
                $( pub $sd: Option<Value> = None, )*
            }
        }

        impl $name {
            /// Service-discovery kinds present in the file that Sightline does not implement yet.
            pub fn unsupported_sd(&self) -> Vec<&'static str> {
                let mut out = Vec::new();
                $( if self.$sd.is_some() { out.push(stringify!($sd)); } )*
                out
            }
        }
    };
}

/// Borrowed view of the HTTP fields for validation and path resolution.
pub(crate) struct HttpFieldsMut<'a> {
    pub basic_auth: &'a mut Option<BasicAuth>,
    pub authorization: &'a mut Option<Authorization>,
    pub oauth2: &'a Option<Value>,
    pub bearer_token: &'a Option<String>,
    pub bearer_token_file: &'a mut Option<PathBuf>,
    pub tls_config: &'a mut TlsConfig,
    pub proxy_url: &'a Option<String>,
    pub http_headers: &'a Option<Value>,
}

/// The HTTP client settings of a scrape config, Alertmanager, remote write or remote read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HttpClientConfig {
    pub basic_auth: Option<BasicAuth>,
    /// With `bearer_token(_file)` folded in as type `Bearer`.
    pub authorization: Option<Authorization>,
    pub tls_config: TlsConfig,
    pub proxy_url: Option<String>,
    pub follow_redirects: bool,
    pub enable_http2: bool,
}

config_struct! {
    /// `basic_auth`. At most one of `password` / `password_file`.
    pub struct BasicAuth {
        pub username: String = String::new(),
        pub username_file: Option<PathBuf> = None,
        pub password: Option<String> = None,
        pub password_file: Option<PathBuf> = None,
    }
}

config_struct! {
    /// `authorization`. `type` defaults to `Bearer`; at most one of `credentials` /
    /// `credentials_file`.
    pub struct Authorization {
        #[serde(rename = "type")]
        pub kind: String = "Bearer".into(),
        pub credentials: Option<String> = None,
        pub credentials_file: Option<PathBuf> = None,
    }
}

config_struct! {
    /// `tls_config`.
    pub struct TlsConfig {
        pub ca: Option<String> = None,
        pub ca_file: Option<PathBuf> = None,
        pub cert: Option<String> = None,
        pub cert_file: Option<PathBuf> = None,
        pub key: Option<String> = None,
        pub key_file: Option<PathBuf> = None,
        pub server_name: Option<String> = None,
        pub insecure_skip_verify: bool = false,
        /// `TLS10`, `TLS11`, `TLS12` or `TLS13`.
        pub min_version: Option<String> = None,
        pub max_version: Option<String> = None,
    }
}

/// The scrape protocols Prometheus knows, in `scrape_protocols` spelling.
pub const SCRAPE_PROTOCOLS: [&str; 5] = [
    "PrometheusProto",
    "OpenMetricsText0.0.1",
    "OpenMetricsText1.0.0",
    "PrometheusText0.0.4",
    "PrometheusText1.0.0",
];

/// Prometheus 3's default `scrape_protocols`.
pub fn default_scrape_protocols() -> Vec<String> {
    [
        "OpenMetricsText1.0.0",
        "OpenMetricsText0.0.1",
        "PrometheusText1.0.0",
        "PrometheusText0.0.4",
    ]
    .map(String::from)
    .to_vec()
}

config_struct! {
    /// `global`. Zero durations in the file mean "unset" and get Prometheus's defaults at load
    /// (interval 1m; timeout 10s, or the interval when that is shorter; evaluation 1m).
    pub struct GlobalConfig {
        #[serde(default, with = "units::duration")]
        pub scrape_interval: Duration = Duration::from_secs(60),
        #[serde(default, with = "units::duration")]
        pub scrape_timeout: Duration = Duration::from_secs(10),
        pub scrape_protocols: Vec<String> = default_scrape_protocols(),
        #[serde(default, with = "units::duration")]
        pub evaluation_interval: Duration = Duration::from_secs(60),
        #[serde(with = "units::duration")]
        pub rule_query_offset: Duration = Duration::ZERO,
        pub external_labels: BTreeMap<String, String> = BTreeMap::new(),
        pub query_log_file: Option<PathBuf> = None,
        pub scrape_failure_log_file: Option<PathBuf> = None,
        #[serde(with = "units::size")]
        pub body_size_limit: u64 = 0,
        pub sample_limit: u64 = 0,
        pub label_limit: u64 = 0,
        pub label_name_length_limit: u64 = 0,
        pub label_value_length_limit: u64 = 0,
        pub target_limit: u64 = 0,
        pub keep_dropped_targets: u64 = 0,
        pub metric_name_validation_scheme: Option<String> = None,
        pub metric_name_escaping_scheme: Option<String> = None,
        pub always_scrape_classic_histograms: bool = false,
        pub convert_classic_histograms_to_nhcb: bool = false,
        pub native_histogram_bucket_limit: u64 = 0,
        pub native_histogram_min_bucket_factor: f64 = 0.0,
        pub extra_scrape_metrics: bool = false,
    }
}

config_struct! {
    /// A `static_configs` entry: targets (`host:port`) and labels common to them.
    pub struct StaticConfig {
        pub targets: Vec<String> = Vec::new(),
        pub labels: BTreeMap<String, String> = BTreeMap::new(),
    }
}

config_struct! {
    /// A `file_sd_configs` entry. `files` are joined to the config file's directory at load;
    /// the last path element may contain `*`.
    pub struct FileSdConfig {
        pub files: Vec<PathBuf> = Vec::new(),
        #[serde(with = "units::duration")]
        pub refresh_interval: Duration = Duration::from_secs(300),
    }
}

with_sd! {
    /// One `scrape_configs` entry. After [`crate::load`], `scrape_interval` and `scrape_timeout`
    /// are concrete (inherited from `global` when not set) and the limits and protocols are
    /// inherited from `global` when zero/empty, as Prometheus does.
    pub struct ScrapeConfig {
        pub job_name: String = String::new(),
        pub honor_labels: bool = false,
        pub honor_timestamps: bool = true,
        pub track_timestamps_staleness: bool = false,
        #[serde(default, with = "units::duration")]
        pub scrape_interval: Duration = Duration::ZERO,
        #[serde(default, with = "units::duration")]
        pub scrape_timeout: Duration = Duration::ZERO,
        pub scrape_protocols: Vec<String> = Vec::new(),
        pub scrape_fallback_protocol: Option<String> = None,
        pub always_scrape_classic_histograms: Option<bool> = None,
        pub scrape_classic_histograms: Option<bool> = None,
        pub convert_classic_histograms_to_nhcb: Option<bool> = None,
        pub scrape_native_histograms: Option<bool> = None,
        pub enable_compression: bool = true,
        pub metrics_path: String = "/metrics".into(),
        /// `http` or `https`.
        pub scheme: String = "http".into(),
        pub params: BTreeMap<String, Vec<String>> = BTreeMap::new(),
        /// Uncompressed body bytes; 0 = unlimited.
        #[serde(with = "units::size")]
        pub body_size_limit: u64 = 0,
        pub sample_limit: u64 = 0,
        pub target_limit: u64 = 0,
        pub label_limit: u64 = 0,
        pub label_name_length_limit: u64 = 0,
        pub label_value_length_limit: u64 = 0,
        pub native_histogram_bucket_limit: u64 = 0,
        pub native_histogram_min_bucket_factor: f64 = 0.0,
        pub keep_dropped_targets: u64 = 0,
        pub metric_name_validation_scheme: Option<String> = None,
        pub metric_name_escaping_scheme: Option<String> = None,
        pub static_configs: Vec<StaticConfig> = Vec::new(),
        pub file_sd_configs: Vec<FileSdConfig> = Vec::new(),
        pub relabel_configs: Vec<Relabeler> = Vec::new(),
        pub metric_relabel_configs: Vec<Relabeler> = Vec::new(),
    }
}

impl ScrapeConfig {
    /// Sightline scraping itself: 15s interval, 10s timeout, `/metrics` over http.
    pub fn self_scrape(job: &str, address: &str) -> ScrapeConfig {
        ScrapeConfig {
            job_name: job.to_string(),
            scrape_interval: Duration::from_secs(15),
            scrape_timeout: Duration::from_secs(10),
            scrape_protocols: default_scrape_protocols(),
            static_configs: vec![StaticConfig {
                targets: vec![address.to_string()],
                labels: BTreeMap::new(),
            }],
            ..ScrapeConfig::default()
        }
    }
}

config_struct! {
    /// `alerting`.
    pub struct AlertingConfig {
        pub alert_relabel_configs: Vec<Relabeler> = Vec::new(),
        pub alertmanagers: Vec<AlertmanagerConfig> = Vec::new(),
    }
}

with_sd! {
    /// An `alerting.alertmanagers` entry.
    pub struct AlertmanagerConfig {
        pub scheme: String = "http".into(),
        pub path_prefix: String = "/".into(),
        #[serde(with = "units::duration")]
        pub timeout: Duration = Duration::from_secs(10),
        /// Only `v2` (Prometheus 3 dropped v1).
        pub api_version: String = "v2".into(),
        pub static_configs: Vec<StaticConfig> = Vec::new(),
        pub file_sd_configs: Vec<FileSdConfig> = Vec::new(),
        pub relabel_configs: Vec<Relabeler> = Vec::new(),
        pub alert_relabel_configs: Vec<Relabeler> = Vec::new(),
        /// Accepted, not supported yet (a warning is given).
        pub sigv4: Option<Value> = None,
    }
}

config_struct! {
    /// `remote_write[].queue_config`.
    pub struct QueueConfig {
        pub capacity: u64 = 10_000,
        pub max_shards: u64 = 50,
        pub min_shards: u64 = 1,
        pub max_samples_per_send: u64 = 2_000,
        #[serde(with = "units::duration")]
        pub batch_send_deadline: Duration = Duration::from_secs(5),
        #[serde(with = "units::duration")]
        pub min_backoff: Duration = Duration::from_millis(30),
        #[serde(with = "units::duration")]
        pub max_backoff: Duration = Duration::from_secs(5),
        pub retry_on_http_429: bool = true,
        #[serde(with = "units::duration")]
        pub sample_age_limit: Duration = Duration::ZERO,
    }
}

config_struct! {
    /// `remote_write[].metadata_config`.
    pub struct MetadataConfig {
        pub send: bool = true,
        #[serde(with = "units::duration")]
        pub send_interval: Duration = Duration::from_secs(60),
        pub max_samples_per_send: u64 = 500,
    }
}

with_http! {
    /// A `remote_write` entry.
    pub struct RemoteWriteConfig {
        pub url: String = String::new(),
        pub name: Option<String> = None,
        #[serde(with = "units::duration")]
        pub remote_timeout: Duration = Duration::from_secs(30),
        pub headers: BTreeMap<String, String> = BTreeMap::new(),
        pub write_relabel_configs: Vec<Relabeler> = Vec::new(),
        pub send_exemplars: bool = false,
        pub send_native_histograms: bool = false,
        pub round_robin_dns: bool = false,
        /// `prometheus.WriteRequest` (remote write 1.0) or `io.prometheus.write.v2.Request`.
        pub protobuf_message: String = "prometheus.WriteRequest".into(),
        pub queue_config: QueueConfig = QueueConfig::default(),
        pub metadata_config: MetadataConfig = MetadataConfig::default(),
        /// Accepted, not supported yet (a warning is given).
        pub sigv4: Option<Value> = None,
        /// Accepted, not supported yet (a warning is given).
        pub azuread: Option<Value> = None,
        /// Accepted, not supported yet (a warning is given).
        pub google_iam: Option<Value> = None,
    }
}

with_http! {
    /// A `remote_read` entry.
    pub struct RemoteReadConfig {
        pub url: String = String::new(),
        pub name: Option<String> = None,
        #[serde(with = "units::duration")]
        pub remote_timeout: Duration = Duration::from_secs(60),
        pub headers: BTreeMap<String, String> = BTreeMap::new(),
        pub read_recent: bool = false,
        pub required_matchers: BTreeMap<String, String> = BTreeMap::new(),
        pub filter_external_labels: bool = true,
    }
}

config_struct! {
    /// `storage.tsdb`.
    pub struct TsdbConfig {
        /// How far behind the newest sample a sample may arrive; `None` = in-order only.
        #[serde(with = "units::opt_duration")]
        pub out_of_order_time_window: Option<Duration> = None,
    }
}

config_struct! {
    /// `storage.exemplars`.
    pub struct ExemplarsConfig {
        pub max_exemplars: i64 = 100_000,
    }
}

config_struct! {
    /// `storage`.
    pub struct StorageConfig {
        pub tsdb: TsdbConfig = TsdbConfig::default(),
        pub exemplars: Option<ExemplarsConfig> = None,
    }
}

config_struct! {
    /// `tracing` (Prometheus's own trace export). Parsed and validated; Sightline does not
    /// export its traces yet.
    pub struct TracingConfig {
        pub client_type: String = "grpc".into(),
        pub endpoint: String = String::new(),
        pub sampling_fraction: f64 = 0.0,
        pub insecure: bool = false,
        pub headers: BTreeMap<String, String> = BTreeMap::new(),
        pub compression: Option<String> = None,
        #[serde(with = "units::opt_duration")]
        pub timeout: Option<Duration> = None,
        pub tls_config: TlsConfig = TlsConfig::default(),
    }
}

config_struct! {
    /// Prometheus 3's top-level `otlp` section. `promote_resource_attributes` is used when
    /// `sightline.otlp.promote_resource_attributes` is not set.
    pub struct PrometheusOtlpConfig {
        pub promote_resource_attributes: Vec<String> = Vec::new(),
        pub promote_all_resource_attributes: bool = false,
        pub ignore_resource_attributes: Vec<String> = Vec::new(),
        pub translation_strategy: Option<String> = None,
        pub keep_identifying_resource_attributes: bool = false,
        pub convert_histograms_to_nhcb: bool = false,
        /// Adds `otel_scope_name`/`otel_scope_version`/... labels (Prometheus 3).
        pub promote_scope_metadata: bool = false,
    }
}

config_struct! {
    /// `sightline.otlp`.
    pub struct OtlpSection {
        /// OTLP/gRPC listen address (`host:port`); `off` disables. Default `127.0.0.1:4317`.
        pub grpc_listen: Option<String> = None,
        /// Resource attributes copied onto every series as labels.
        pub promote_resource_attributes: Vec<String> = Vec::new(),
    }
}

config_struct! {
    /// `sightline.statsd`.
    pub struct StatsdSection {
        /// StatsD UDP listen address; unset = no StatsD listener.
        pub listen: Option<String> = None,
        /// How often aggregated StatsD metrics are flushed (default 10s).
        #[serde(with = "units::opt_duration")]
        pub flush_interval: Option<Duration> = None,
    }
}

config_struct! {
    /// `sightline.limits`: ingest limits; unset keys keep [`sightline_model::Limits`] defaults.
    pub struct LimitsSection {
        pub max_labels_per_series: Option<usize> = None,
        pub max_label_name_length: Option<usize> = None,
        pub max_label_value_length: Option<usize> = None,
        pub max_series_per_request: Option<usize> = None,
        /// Request body bytes as sent (`64MB`).
        #[serde(with = "units::opt_size")]
        pub max_body_size: Option<u64> = None,
        /// Request body bytes after decompression (`256MB`).
        #[serde(with = "units::opt_size")]
        pub max_decompressed_size: Option<u64> = None,
    }
}

impl LimitsSection {
    /// The model limits: defaults overridden by every key that is set.
    pub fn to_model(&self) -> sightline_model::Limits {
        let d = sightline_model::Limits::default();
        let clamp = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
        sightline_model::Limits {
            max_labels_per_series: self.max_labels_per_series.unwrap_or(d.max_labels_per_series),
            max_label_name_len: self.max_label_name_length.unwrap_or(d.max_label_name_len),
            max_label_value_len: self.max_label_value_length.unwrap_or(d.max_label_value_len),
            max_series_per_request: self.max_series_per_request.unwrap_or(d.max_series_per_request),
            max_body_bytes: self.max_body_size.map(clamp).unwrap_or(d.max_body_bytes),
            max_decompressed_bytes: self
                .max_decompressed_size
                .map(clamp)
                .unwrap_or(d.max_decompressed_bytes),
        }
    }
}

/// WAL fsync policies accepted by `sightline.storage.wal_fsync`.
pub const WAL_FSYNC_POLICIES: [&str; 3] = ["always", "interval", "never"];

config_struct! {
    /// `sightline.storage`.
    pub struct SightlineStorage {
        /// Delete data older than this (default: 15d, applied by the binary).
        #[serde(with = "units::opt_duration")]
        pub retention_time: Option<Duration> = None,
        /// Delete the oldest blocks when the data exceeds this many bytes (`50GB`).
        #[serde(with = "units::opt_size")]
        pub retention_size: Option<u64> = None,
        /// `always`, `interval` or `never`.
        pub wal_fsync: Option<String> = None,
        /// fsync period for `wal_fsync: interval` (default 1s).
        #[serde(with = "units::opt_duration")]
        pub wal_fsync_interval: Option<Duration> = None,
    }
}

config_struct! {
    /// `sightline.log`.
    pub struct LogSection {
        /// `debug`, `info`, `warn` or `error`.
        pub level: Option<String> = None,
        /// `logfmt` or `json`.
        pub format: Option<String> = None,
    }
}

config_struct! {
    /// The `sightline:` top-level section: Sightline's own settings. Command-line flags win
    /// over these.
    pub struct SightlineConfig {
        /// Data directory (default `./data`). Relative paths are relative to the config file.
        pub data_dir: Option<PathBuf> = None,
        /// HTTP listen address (default `127.0.0.1:7070`).
        pub listen: Option<String> = None,
        pub otlp: OtlpSection = OtlpSection::default(),
        pub statsd: StatsdSection = StatsdSection::default(),
        pub limits: LimitsSection = LimitsSection::default(),
        pub storage: SightlineStorage = SightlineStorage::default(),
        pub log: LogSection = LogSection::default(),
    }
}

config_struct! {
    /// The whole config file.
    pub struct Config {
        pub global: GlobalConfig = GlobalConfig::default(),
        /// Rule file globs, joined to the config file's directory at load.
        pub rule_files: Vec<String> = Vec::new(),
        /// Files holding more `scrape_configs` (globs, relative to the config file).
        pub scrape_config_files: Vec<String> = Vec::new(),
        pub scrape_configs: Vec<ScrapeConfig> = Vec::new(),
        pub alerting: AlertingConfig = AlertingConfig::default(),
        pub remote_write: Vec<RemoteWriteConfig> = Vec::new(),
        pub remote_read: Vec<RemoteReadConfig> = Vec::new(),
        pub storage: StorageConfig = StorageConfig::default(),
        pub tracing: Option<TracingConfig> = None,
        pub otlp: PrometheusOtlpConfig = PrometheusOtlpConfig::default(),
        /// Accepted and ignored (Go runtime settings).
        pub runtime: Option<Value> = None,
        pub sightline: SightlineConfig = SightlineConfig::default(),
        /// The rule groups of every file `rule_files` matched, loaded by [`crate::load`].
        #[serde(skip)]
        pub rule_groups: Vec<crate::rules::LoadedGroup> = Vec::new(),
    }
}

config_struct! {
    /// A file named in `scrape_config_files`: only `scrape_configs`.
    pub struct ScrapeConfigFile {
        pub scrape_configs: Vec<ScrapeConfig> = Vec::new(),
    }
}

/// Keys whose string values are secrets (Prometheus's `Secret` fields).
const SECRET_KEYS: [&str; 5] = ["password", "credentials", "bearer_token", "key", "client_secret"];

impl Config {
    /// The effective configuration as YAML (for `/api/v1/status/config`): defaults filled in,
    /// unset keys left out, secrets replaced by `<secret>` as Prometheus does.
    pub fn to_redacted_yaml(&self) -> String {
        let mut v = serde_yaml::to_value(self).unwrap_or(Value::Null);
        redact(&mut v);
        serde_yaml::to_string(&v).unwrap_or_default()
    }
}

fn redact(v: &mut Value) {
    match v {
        Value::Mapping(m) => {
            m.retain(|_, v| !v.is_null());
            for (k, v) in m.iter_mut() {
                let secret = k.as_str().is_some_and(|k| SECRET_KEYS.contains(&k));
                if secret && v.as_str().is_some_and(|s| !s.is_empty()) {
                    *v = Value::String("<secret>".into());
                } else {
                    redact(v);
                }
            }
        }
        Value::Sequence(s) => s.iter_mut().for_each(redact),
        Value::Tagged(t) => redact(&mut t.value),
        _ => {}
    }
}
