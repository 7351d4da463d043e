//! Receiver configuration, mirroring the `otlp:` section of `prometheus.yml`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// How OTLP metric and attribute names become Prometheus names
/// (`otlp.translation_strategy` in Prometheus 3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TranslationStrategy {
    /// Invalid characters become `_`; unit and type suffixes are added
    /// (`http.server.duration` + `s` -> `http_server_duration_seconds`). The default.
    #[default]
    UnderscoreEscapingWithSuffixes,
    /// Invalid characters become `_`; no suffixes.
    UnderscoreEscapingWithoutSuffixes,
    /// Names keep their UTF-8 characters; suffixes are added.
    NoUtf8EscapingWithSuffixes,
    /// Names are used exactly as sent.
    NoTranslation,
}

impl TranslationStrategy {
    /// True when names are escaped to the legacy `[a-zA-Z_:][a-zA-Z0-9_:]*` charset.
    pub fn escapes(self) -> bool {
        matches!(
            self,
            Self::UnderscoreEscapingWithSuffixes | Self::UnderscoreEscapingWithoutSuffixes
        )
    }

    /// True when unit and type suffixes are appended to metric names.
    pub fn adds_suffixes(self) -> bool {
        matches!(
            self,
            Self::UnderscoreEscapingWithSuffixes | Self::NoUtf8EscapingWithSuffixes
        )
    }

    /// The spelling Prometheus uses in `prometheus.yml`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnderscoreEscapingWithSuffixes => "UnderscoreEscapingWithSuffixes",
            Self::UnderscoreEscapingWithoutSuffixes => "UnderscoreEscapingWithoutSuffixes",
            Self::NoUtf8EscapingWithSuffixes => "NoUTF8EscapingWithSuffixes",
            Self::NoTranslation => "NoTranslation",
        }
    }
}

impl fmt::Display for TranslationStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error for an unknown `translation_strategy` spelling.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown OTLP translation strategy {0:?} (expected UnderscoreEscapingWithSuffixes, \
     UnderscoreEscapingWithoutSuffixes, NoUTF8EscapingWithSuffixes or NoTranslation)"
)]
pub struct UnknownStrategy(pub String);

impl FromStr for TranslationStrategy {
    type Err = UnknownStrategy;

    /// Accepts exactly the spellings Prometheus accepts.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "UnderscoreEscapingWithSuffixes" => Ok(Self::UnderscoreEscapingWithSuffixes),
            "UnderscoreEscapingWithoutSuffixes" => Ok(Self::UnderscoreEscapingWithoutSuffixes),
            "NoUTF8EscapingWithSuffixes" => Ok(Self::NoUtf8EscapingWithSuffixes),
            "NoTranslation" => Ok(Self::NoTranslation),
            other => Err(UnknownStrategy(other.to_string())),
        }
    }
}

/// Bounds of the delta-to-cumulative state (Prometheus's
/// `otlp-deltatocumulative` feature, the collector processor's `max_streams`
/// and `max_stale`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeltaConfig {
    /// Streams tracked at once; a new stream beyond this is refused (its
    /// points are rejected) until idle streams are evicted.
    pub max_streams: usize,
    /// A stream that received nothing for this long is forgotten; its next
    /// point starts a new cumulative series (a counter reset).
    pub max_stale: Duration,
}

impl Default for DeltaConfig {
    fn default() -> Self {
        Self {
            max_streams: 100_000,
            max_stale: Duration::from_secs(5 * 60),
        }
    }
}

/// The OTLP receiver's settings. Defaults are Prometheus 3's.
#[derive(Clone, Debug, PartialEq)]
pub struct OtlpConfig {
    /// `translation_strategy`.
    pub translation: TranslationStrategy,
    /// `promote_resource_attributes`: resource attributes copied onto every
    /// series of the resource (a data-point attribute of the same name wins).
    pub promote_resource_attributes: Vec<String>,
    /// `promote_all_resource_attributes`: promote every resource attribute
    /// except those in `ignore_resource_attributes`.
    pub promote_all_resource_attributes: bool,
    /// `ignore_resource_attributes` (only with `promote_all_resource_attributes`).
    pub ignore_resource_attributes: Vec<String>,
    /// `keep_identifying_resource_attributes`: also keep `service.name`,
    /// `service.namespace` and `service.instance.id` on `target_info`.
    pub keep_identifying_resource_attributes: bool,
    /// `promote_scope_metadata`: add `otel_scope_name`, `otel_scope_version`,
    /// `otel_scope_schema_url` and `otel_scope_<attr>` labels. Off by default,
    /// as in Prometheus.
    pub promote_scope_metadata: bool,
    /// `label_name_underscore_sanitization`: prefix a label name starting with a
    /// single `_` with `key` (so `_foo` -> `key_foo`). On by default.
    pub label_name_underscore_sanitization: bool,
    /// `label_name_preserve_multiple_underscores`: keep runs of `_` in label
    /// names instead of collapsing them. On by default.
    pub label_name_preserve_multiple_underscores: bool,
    /// PromQL lookback delta; `target_info` gets a sample every half of it
    /// between the earliest and latest sample of its resource.
    pub lookback_delta: Duration,
    /// Delta-to-cumulative state bounds.
    pub delta: DeltaConfig,
    /// Exponential histograms with a finer scale are merged down to this one
    /// before becoming classic buckets (Prometheus caps native histograms at 8).
    /// Lower values mean fewer, stabler `le` buckets.
    pub exp_histogram_max_scale: i32,
}

impl Default for OtlpConfig {
    fn default() -> Self {
        Self {
            translation: TranslationStrategy::default(),
            promote_resource_attributes: Vec::new(),
            promote_all_resource_attributes: false,
            ignore_resource_attributes: Vec::new(),
            keep_identifying_resource_attributes: false,
            promote_scope_metadata: false,
            label_name_underscore_sanitization: true,
            label_name_preserve_multiple_underscores: true,
            lookback_delta: Duration::from_secs(5 * 60),
            delta: DeltaConfig::default(),
            exp_histogram_max_scale: 8,
        }
    }
}

/// A configuration Prometheus would refuse to load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("'promote_all_resource_attributes' and 'promote_resource_attributes' cannot be configured simultaneously")]
    PromoteAllAndList,
    #[error(
        "'ignore_resource_attributes' cannot be configured unless 'promote_all_resource_attributes' is true"
    )]
    IgnoreWithoutPromoteAll,
    #[error("empty {0} OTel resource attribute")]
    EmptyAttribute(&'static str),
    #[error("duplicated {0} OTel resource attribute {1:?}")]
    DuplicateAttribute(&'static str, String),
    #[error("exp_histogram_max_scale {0} is outside the OTLP scale range -10..=20")]
    BadMaxScale(i32),
}

impl OtlpConfig {
    /// Checks the rules Prometheus applies when loading the `otlp:` section and
    /// trims attribute names. Call before [`crate::OtlpMetrics::new`].
    pub fn validate(&mut self) -> Result<(), ConfigError> {
        if self.promote_all_resource_attributes {
            if !self.promote_resource_attributes.is_empty() {
                return Err(ConfigError::PromoteAllAndList);
            }
            check_attrs(&mut self.ignore_resource_attributes, "ignored")?;
        } else {
            if !self.ignore_resource_attributes.is_empty() {
                return Err(ConfigError::IgnoreWithoutPromoteAll);
            }
            check_attrs(&mut self.promote_resource_attributes, "promoted")?;
        }
        if !(-10..=20).contains(&self.exp_histogram_max_scale) {
            return Err(ConfigError::BadMaxScale(self.exp_histogram_max_scale));
        }
        Ok(())
    }
}

fn check_attrs(attrs: &mut [String], adjective: &'static str) -> Result<(), ConfigError> {
    let mut seen = std::collections::HashSet::new();
    for a in attrs.iter_mut() {
        let t = a.trim();
        if t.is_empty() {
            return Err(ConfigError::EmptyAttribute(adjective));
        }
        if !seen.insert(t.to_string()) {
            return Err(ConfigError::DuplicateAttribute(adjective, t.to_string()));
        }
        *a = t.to_string();
    }
    Ok(())
}
