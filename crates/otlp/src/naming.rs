//! OTLP metric, unit and attribute names to Prometheus names, following
//! Prometheus 3's `otlptranslator` rules.
//!
//! Metric names with [`TranslationStrategy::UnderscoreEscapingWithSuffixes`]:
//! the name is split into tokens at every character outside `[a-zA-Z0-9:]`
//! (so runs of `_` collapse and leading/trailing `_` vanish), the unit's
//! Prometheus spelling is appended unless already a token (`s` -> `seconds`,
//! `By/s` -> `bytes_per_second`, `{packets}` -> nothing), `total` is moved to
//! the end for monotonic sums and `ratio` for gauges with unit `1`. A name
//! starting with a digit gets a `_` prefix.
//!
//! Label names are escaped character by character (anything outside
//! `[a-zA-Z0-9_]` becomes `_`), then a leading digit gets `key_` and a single
//! leading `_` gets `key` (`_foo` -> `key_foo`, `__foo` kept).
//!
//! Invariant: every `Ok` name is non-empty, and with escaping it is a valid
//! legacy Prometheus name that is not made only of underscores.

use crate::config::TranslationStrategy;
use std::borrow::Cow;

/// The OTLP metric kinds that change a name's suffixes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MetricKind {
    Gauge,
    /// A monotonic sum (a Prometheus counter, gets `_total`).
    MonotonicCounter,
    /// A non-monotonic sum (a Prometheus gauge, no `_total`, no `_ratio`).
    NonMonotonicCounter,
    Histogram,
    ExponentialHistogram,
    Summary,
}

/// Why a name could not be translated.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("normalization for metric {0:?} resulted in empty name")]
    EmptyMetric(String),
    #[error("normalization for metric {0:?} resulted in invalid name {1:?}")]
    InvalidMetric(String, String),
    #[error("normalization for label name {0:?} resulted in empty name")]
    EmptyLabel(String),
    #[error("normalization for label name {0:?} resulted in invalid name {1:?}")]
    InvalidLabel(String, String),
}

/// OTel unit -> Prometheus unit word.
fn unit_word(unit: &str) -> &str {
    match unit {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tibibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "TBy" => "terabytes",
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "Cel" => "celsius",
        "Hz" => "hertz",
        "1" => "",
        "%" => "percent",
        other => other,
    }
}

/// OTel "per" unit (after `/`) -> singular Prometheus word.
fn per_unit_word(unit: &str) -> &str {
    match unit {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        other => other,
    }
}

/// Main and `per_` unit suffixes, untransformed characters. Annotations
/// (`{...}`) and blank parts give no suffix.
fn unit_suffixes(unit: &str) -> (String, String) {
    let (main_raw, per_raw) = match unit.split_once('/') {
        Some((m, p)) => (m, Some(p)),
        None => (unit, None),
    };
    let mut main = String::new();
    let m = main_raw.trim();
    if !m.is_empty() && !m.contains(['{', '}']) {
        main = unit_word(m).to_string();
    }
    let mut per = String::new();
    if let Some(p) = per_raw.filter(|p| !p.is_empty()) {
        let p = p.trim();
        if !p.is_empty() && !p.contains(['{', '}']) {
            let w = per_unit_word(p);
            if !w.is_empty() {
                per = format!("per_{w}");
            }
        }
    }
    (main, per)
}

#[inline]
fn is_metric_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == ':'
}

/// Escapes a unit suffix: invalid characters to `_`, runs of `_` collapsed,
/// one leading `_` dropped.
fn clean_unit(unit: &str) -> String {
    let mut out = String::with_capacity(unit.len());
    let mut prev_us = false;
    for c in unit.chars() {
        let c = if is_metric_token_char(c) { c } else { '_' };
        if c == '_' {
            if prev_us {
                continue;
            }
            prev_us = true;
        } else {
            prev_us = false;
        }
        out.push(c);
    }
    if out.starts_with('_') {
        out.remove(0);
    }
    out
}

fn trim_suffix_and_delimiter<'a>(name: &'a str, suffix: &str) -> &'a str {
    if name.ends_with(suffix) && name.len() > suffix.len() + 1 {
        &name[..name.len() - suffix.len() - 1]
    } else {
        name
    }
}

/// Builds the Prometheus metric family name for an OTLP metric.
pub fn metric_name(
    name: &str,
    unit: &str,
    kind: MetricKind,
    strategy: TranslationStrategy,
) -> Result<String, NameError> {
    let out = match strategy {
        TranslationStrategy::UnderscoreEscapingWithSuffixes => escaped_with_suffixes(name, unit, kind),
        TranslationStrategy::UnderscoreEscapingWithoutSuffixes => {
            let joined = name
                .split(|c: char| !(is_metric_token_char(c) || c == '_'))
                .filter(|t| !t.is_empty())
                .collect::<Vec<_>>()
                .join("_");
            if joined.starts_with(|c: char| c.is_ascii_digit()) {
                format!("_{joined}")
            } else {
                joined
            }
        }
        TranslationStrategy::NoUtf8EscapingWithSuffixes => utf8_with_suffixes(name, unit, kind),
        TranslationStrategy::NoTranslation => name.to_string(),
    };
    if out.is_empty() {
        return Err(NameError::EmptyMetric(name.to_string()));
    }
    if strategy.escapes() && out != name && out.bytes().all(|b| b == b'_') {
        return Err(NameError::InvalidMetric(name.to_string(), out));
    }
    Ok(out)
}

fn escaped_with_suffixes(name: &str, unit: &str, kind: MetricKind) -> String {
    let mut tokens: Vec<String> = name
        .split(|c: char| !is_metric_token_char(c))
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect();
    let (main, per) = unit_suffixes(unit);
    let mut main = clean_unit(&main);
    let mut per = clean_unit(&per);
    if tokens.contains(&main) {
        main.clear();
    }
    if per == "per_" {
        per.clear();
    } else {
        if per.ends_with('_') {
            per.pop();
        }
        if tokens.contains(&per) {
            per.clear();
        }
    }
    if !per.is_empty() && main.ends_with('_') {
        main.pop();
    }
    if !main.is_empty() {
        tokens.push(main);
    }
    if !per.is_empty() {
        tokens.push(per);
    }
    if kind == MetricKind::MonotonicCounter {
        tokens.retain(|t| t != "total");
        tokens.push("total".into());
    }
    if unit == "1" && kind == MetricKind::Gauge {
        tokens.retain(|t| t != "ratio");
        tokens.push("ratio".into());
    }
    let joined = tokens.join("_");
    if joined.starts_with(|c: char| c.is_ascii_digit()) {
        format!("_{joined}")
    } else {
        joined
    }
}

fn utf8_with_suffixes(name: &str, unit: &str, kind: MetricKind) -> String {
    let ratio = unit == "1" && kind == MetricKind::Gauge;
    let total = kind == MetricKind::MonotonicCounter;
    let mut n: &str = name;
    if ratio {
        n = trim_suffix_and_delimiter(n, "ratio");
    }
    if total {
        n = trim_suffix_and_delimiter(n, "total");
    }
    let (main, per) = unit_suffixes(unit);
    if !per.is_empty() {
        n = trim_suffix_and_delimiter(n, &per);
    }
    let mut out = n.to_string();
    if !main.is_empty() && !out.ends_with(&main) {
        out.push('_');
        out.push_str(&main);
    }
    if !per.is_empty() {
        out.push('_');
        out.push_str(&per);
    }
    if total {
        out.push_str("_total");
    }
    if ratio {
        out.push_str("_ratio");
    }
    out
}

/// Translates attribute names to label names.
#[derive(Clone, Copy, Debug)]
pub struct LabelNamer {
    pub utf8_allowed: bool,
    pub underscore_sanitization: bool,
    pub preserve_multiple_underscores: bool,
}

impl LabelNamer {
    /// The label name for attribute `name`; borrowed when unchanged.
    pub fn build<'a>(&self, name: &'a str) -> Result<Cow<'a, str>, NameError> {
        if name.is_empty() {
            return Err(NameError::EmptyLabel(String::new()));
        }
        if self.utf8_allowed {
            return Ok(Cow::Borrowed(name));
        }
        let mut out = self.sanitize(name);
        if out.starts_with(|c: char| c.is_ascii_digit()) {
            out = Cow::Owned(format!("key_{out}"));
        } else if self.underscore_sanitization && out.starts_with('_') && !out.starts_with("__") {
            out = Cow::Owned(format!("key{out}"));
        }
        if out.is_empty() {
            return Err(NameError::EmptyLabel(name.to_string()));
        }
        if out != name && out.bytes().all(|b| b == b'_') {
            return Err(NameError::InvalidLabel(name.to_string(), out.into_owned()));
        }
        Ok(out)
    }

    fn sanitize<'a>(&self, name: &'a str) -> Cow<'a, str> {
        let valid = |c: char| c.is_ascii_alphanumeric();
        if self.preserve_multiple_underscores {
            if name.chars().all(|c| valid(c) || c == '_') {
                return Cow::Borrowed(name);
            }
            return Cow::Owned(
                name.chars()
                    .map(|c| if valid(c) || c == '_' { c } else { '_' })
                    .collect(),
            );
        }
        let reserved = name.len() >= 4 && name.starts_with("__") && name.ends_with("__");
        let inner = if reserved { &name[2..name.len() - 2] } else { name };
        let mut out = String::with_capacity(name.len());
        if reserved {
            out.push_str("__");
        }
        let mut prev_us = false;
        for c in inner.chars() {
            if valid(c) {
                out.push(c);
                prev_us = false;
            } else if !prev_us {
                out.push('_');
                prev_us = true;
            }
        }
        if reserved {
            out.push_str("__");
        }
        if out == name {
            Cow::Borrowed(name)
        } else {
            Cow::Owned(out)
        }
    }
}

/// Formats a float the way Go's `strconv.FormatFloat(f, 'f', -1, 64)` does,
/// as Prometheus uses for `le` and `quantile` values (`+Inf` for infinity).
pub fn format_bound(v: f64) -> String {
    if v == f64::INFINITY {
        "+Inf".to_string()
    } else if v == f64::NEG_INFINITY {
        "-Inf".to_string()
    } else {
        // Rust's shortest round-trip Display never uses an exponent, like 'f' with precision -1.
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use MetricKind::*;
    use TranslationStrategy::*;

    fn m(name: &str, unit: &str, kind: MetricKind) -> String {
        metric_name(name, unit, kind, UnderscoreEscapingWithSuffixes).unwrap()
    }

    #[test]
    fn units_and_types() {
        let cases = [
            (
                "http.server.request.duration",
                "s",
                Histogram,
                "http_server_request_duration_seconds",
            ),
            ("system.memory.usage", "By", Gauge, "system_memory_usage_bytes"),
            ("latency", "ms", Gauge, "latency_milliseconds"),
            ("cpu.utilization", "1", Gauge, "cpu_utilization_ratio"),
            ("cpu.utilization", "1", NonMonotonicCounter, "cpu_utilization"),
            ("requests", "1", MonotonicCounter, "requests_total"),
            ("packets", "{packets}", MonotonicCounter, "packets_total"),
            ("throughput", "By/s", Gauge, "throughput_bytes_per_second"),
            ("rate", "{req}/s", Gauge, "rate_per_second"),
            ("x", "foo/bar", Gauge, "x_foo_per_bar"),
            (
                "requests.total.count",
                "",
                MonotonicCounter,
                "requests_count_total",
            ),
            ("disk_io_seconds", "s", Gauge, "disk_io_seconds"),
            ("ratio.of.things", "1", Gauge, "of_things_ratio"),
            ("temp", "Cel", Gauge, "temp_celsius"),
            ("usage", "%", Gauge, "usage_percent"),
            ("mem", "TiBy", Gauge, "mem_tibibytes"),
            ("__weird__name__", "", Gauge, "weird_name"),
            ("2xx.responses", "", MonotonicCounter, "_2xx_responses_total"),
            ("métrique.été", "", Gauge, "m_trique_t"),
            ("a:b.c", "", Gauge, "a:b_c"),
        ];
        for (name, unit, kind, want) in cases {
            assert_eq!(m(name, unit, kind), want, "{name} {unit} {kind:?}");
        }
    }

    #[test]
    fn bad_metric_names() {
        assert!(matches!(
            metric_name("", "", Gauge, UnderscoreEscapingWithSuffixes),
            Err(NameError::EmptyMetric(_))
        ));
        assert!(matches!(
            metric_name("...", "", Gauge, UnderscoreEscapingWithSuffixes),
            Err(NameError::EmptyMetric(_))
        ));
        assert!(matches!(
            metric_name("..", "", Gauge, UnderscoreEscapingWithoutSuffixes),
            Err(NameError::EmptyMetric(_))
        ));
        assert!(matches!(
            metric_name("", "", Gauge, NoTranslation),
            Err(NameError::EmptyMetric(_))
        ));
    }

    #[test]
    fn other_strategies() {
        let w = |n, u, k, s| metric_name(n, u, k, s).unwrap();
        assert_eq!(
            w(
                "http.server.duration",
                "s",
                Histogram,
                UnderscoreEscapingWithoutSuffixes
            ),
            "http_server_duration"
        );
        assert_eq!(
            w("a__b.c", "s", MonotonicCounter, UnderscoreEscapingWithoutSuffixes),
            "a__b_c"
        );
        assert_eq!(w("1st", "", Gauge, UnderscoreEscapingWithoutSuffixes), "_1st");
        assert_eq!(
            w("http.server.duration", "s", Histogram, NoUtf8EscapingWithSuffixes),
            "http.server.duration_seconds"
        );
        assert_eq!(
            w("reqs_total", "1", MonotonicCounter, NoUtf8EscapingWithSuffixes),
            "reqs_total"
        );
        assert_eq!(
            w("io", "By/s", MonotonicCounter, NoUtf8EscapingWithSuffixes),
            "io_bytes_per_second_total"
        );
        assert_eq!(
            w("cpu.ratio", "1", Gauge, NoUtf8EscapingWithSuffixes),
            "cpu_ratio"
        );
        assert_eq!(
            w("http.server.duration", "s", Histogram, NoTranslation),
            "http.server.duration"
        );
    }

    fn ln() -> LabelNamer {
        LabelNamer {
            utf8_allowed: false,
            underscore_sanitization: true,
            preserve_multiple_underscores: true,
        }
    }

    #[test]
    fn label_names() {
        let n = ln();
        let cases = [
            ("http.method", "http_method"),
            ("http_method", "http_method"),
            ("123abc", "key_123abc"),
            ("_private", "key_private"),
            ("__reserved__", "__reserved__"),
            ("a..b", "a__b"),
            ("k8s.pod.name", "k8s_pod_name"),
            ("été", "key_t_"),
        ];
        for (i, want) in cases {
            assert_eq!(n.build(i).unwrap(), want, "{i}");
        }
        assert!(matches!(n.build(""), Err(NameError::EmptyLabel(_))));
        assert!(matches!(n.build("..."), Err(NameError::InvalidLabel(..))));
        let collapse = LabelNamer {
            preserve_multiple_underscores: false,
            ..n
        };
        assert_eq!(collapse.build("a..b").unwrap(), "a_b");
        assert_eq!(collapse.build("__a..b__").unwrap(), "__a_b__");
        let permissive = LabelNamer {
            underscore_sanitization: false,
            ..n
        };
        assert_eq!(permissive.build("_private").unwrap(), "_private");
        let utf8 = LabelNamer {
            utf8_allowed: true,
            ..n
        };
        assert_eq!(utf8.build("http.method").unwrap(), "http.method");
        assert!(matches!(n.build("plain"), Ok(Cow::Borrowed("plain"))));
    }

    #[test]
    fn bounds_format_like_go() {
        assert_eq!(format_bound(0.005), "0.005");
        assert_eq!(format_bound(1.0), "1");
        assert_eq!(format_bound(1e-7), "0.0000001");
        assert_eq!(format_bound(2.5e21), "2500000000000000000000");
        assert_eq!(format_bound(f64::INFINITY), "+Inf");
        assert_eq!(format_bound(-1.5), "-1.5");
    }
}
