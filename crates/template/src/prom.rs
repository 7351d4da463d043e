//! Prometheus's template functions and alert-template expansion.
//!
//! Alert labels and annotations are expanded like Prometheus does: the
//! text is prefixed with
//! `{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}`
//! and run with `.Labels`, `.ExternalLabels`, `.ExternalURL` and `.Value`,
//! so positions in error messages match Prometheus's.

use crate::funcs::{arg_count, str_arg, to_display, to_float, wrong_type};
use crate::gofmt::fmt_g;
use crate::{Error, Funcs, Template, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// One sample of a `query` result: its labels and value.
#[derive(Clone, Debug, PartialEq)]
pub struct QuerySample {
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Runs an instant PromQL query at the evaluation time.
pub type QueryFn = Arc<dyn Fn(&str) -> Result<Vec<QuerySample>, String> + Send + Sync>;

/// What Prometheus's functions need from the outside.
#[derive(Clone, Default)]
pub struct PromContext {
    pub query: Option<QueryFn>,
    /// `--web.external-url`, for `externalURL` and links.
    pub external_url: String,
    /// The path prefix of the UI (`pathPrefix`).
    pub path_prefix: String,
}

/// Data of an alert or recording rule template.
#[derive(Clone, Debug, Default)]
pub struct AlertData {
    pub labels: BTreeMap<String, String>,
    pub external_labels: BTreeMap<String, String>,
    pub external_url: String,
    pub value: f64,
}

const DEFS: &str = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}";

/// Expands one label or annotation template; `name` is the rule-derived
/// template name (Prometheus uses `__alert_<alertname>`).
pub fn expand_alert(name: &str, text: &str, data: &AlertData, funcs: &Funcs) -> Result<String, Error> {
    if !text.contains("{{") {
        return Ok(text.to_string());
    }
    let src = format!("{DEFS}{text}");
    let t = Template::parse(name, &src)?;
    let mut m = BTreeMap::new();
    m.insert("Labels".to_string(), Value::StrMap(data.labels.clone()));
    m.insert(
        "ExternalLabels".to_string(),
        Value::StrMap(data.external_labels.clone()),
    );
    m.insert("ExternalURL".to_string(), Value::Str(data.external_url.clone()));
    m.insert("Value".to_string(), Value::Float(data.value));
    t.execute(&Value::Map(m), funcs)
}

fn sample_value(s: &QuerySample) -> Value {
    let mut m = BTreeMap::new();
    m.insert("Labels".to_string(), Value::StrMap(s.labels.clone()));
    m.insert("Value".to_string(), Value::Float(s.value));
    Value::Map(m)
}

/// The `Labels`/`Value` of a sample value (a `query` result element).
fn as_sample(v: &Value, i: usize) -> Result<(BTreeMap<String, String>, f64), String> {
    if let Value::Map(m) = v {
        if let (Some(Value::StrMap(l)), Some(Value::Float(f))) = (m.get("Labels"), m.get("Value")) {
            return Ok((l.clone(), *f));
        }
    }
    Err(wrong_type(i, "*template.sample", v))
}

fn one_float(name: &str, args: &[Value]) -> Result<f64, String> {
    match args {
        [a] => to_float(a),
        _ => Err(arg_count(name, 1, args.len())),
    }
}

fn g4(v: f64) -> String {
    fmt_g(v, Some(4))
}

/// Scales `v` by `base` through `prefixes` (up when |v| >= base).
fn scale_up(mut v: f64, base: f64, prefixes: &[&'static str]) -> (f64, &'static str) {
    let mut prefix = "";
    for p in prefixes {
        if v.abs() < base {
            break;
        }
        prefix = p;
        v /= base;
    }
    (v, prefix)
}

const SMALL: [&str; 8] = ["m", "u", "n", "p", "f", "a", "z", "y"];

fn scale_down(mut v: f64) -> (f64, &'static str) {
    let mut prefix = "";
    for p in SMALL {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    (v, prefix)
}

pub fn humanize(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return g4(v);
    }
    if v.abs() >= 1.0 {
        let (v, p) = scale_up(v, 1000.0, &["k", "M", "G", "T", "P", "E", "Z", "Y"]);
        return format!("{}{p}", g4(v));
    }
    let (v, p) = scale_down(v);
    format!("{}{p}", g4(v))
}

pub fn humanize1024(v: f64) -> String {
    if v.abs() <= 1.0 || !v.is_finite() {
        return g4(v);
    }
    let (v, p) = scale_up(v, 1024.0, &["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"]);
    format!("{}{p}", g4(v))
}

pub fn humanize_duration(v: f64) -> String {
    if !v.is_finite() {
        return g4(v);
    }
    if v == 0.0 {
        return format!("{}s", g4(v));
    }
    if v.abs() >= 1.0 {
        let (sign, v) = if v < 0.0 { ("-", -v) } else { ("", v) };
        let d = v as i64;
        let (secs, mins, hours, days) = (d % 60, (d / 60) % 60, (d / 3600) % 24, d / 86400);
        if days != 0 {
            return format!("{sign}{days}d {hours}h {mins}m {secs}s");
        }
        if hours != 0 {
            return format!("{sign}{hours}h {mins}m {secs}s");
        }
        if mins != 0 {
            return format!("{sign}{mins}m {secs}s");
        }
        return format!("{sign}{}s", g4(v));
    }
    let (v, p) = scale_down(v);
    format!("{}{p}s", g4(v))
}

/// Seconds since the epoch to a time value (errors outside Go's range).
fn float_to_time(v: f64) -> Result<Value, String> {
    if !v.is_finite() {
        return Err("NaN or Inf".into());
    }
    let ns = v * 1e9;
    if ns > i64::MAX as f64 || ns < i64::MIN as f64 {
        return Err(format!(
            "{v} cannot be represented as a nanoseconds timestamp since it overflows int64"
        ));
    }
    Ok(Value::Time(ns.round() as i64))
}

/// Go's `net.SplitHostPort` host part, or the input when it has no port.
fn strip_port(hostport: &str) -> String {
    if let Some(rest) = hostport.strip_prefix('[') {
        if let Some((host, tail)) = rest.split_once(']') {
            if tail.is_empty() || (tail.starts_with(':') && !tail[1..].contains(':')) {
                return host.to_string();
            }
        }
        return hostport.to_string();
    }
    match hostport.rsplit_once(':') {
        Some((host, _)) if !host.contains(':') => host.to_string(),
        _ => hostport.to_string(),
    }
}

fn strip_domain(hostport: &str) -> String {
    let host = strip_port(hostport);
    let port = &hostport[hostport
        .len()
        .min(host.len() + usize::from(hostport.starts_with('[')) * 2)..];
    if host.parse::<std::net::IpAddr>().is_ok() {
        return hostport.to_string();
    }
    let short = host.split('.').next().unwrap_or(&host);
    format!("{short}{port}")
}

fn link(prefix: &str, expr: &str, tab: u8) -> String {
    let q: String = form_urlencoded::byte_serialize(expr.as_bytes()).collect();
    format!("{prefix}/graph?g0.expr={q}&g0.tab={tab}")
}

/// Prometheus's template functions, bound to `ctx`.
pub fn prometheus_funcs(ctx: PromContext) -> Funcs {
    let mut f = Funcs::new();
    let query = ctx.query.clone();
    f.insert("query", move |args| {
        let q = match args {
            [Value::Str(q)] => q,
            [other] => return Err(wrong_type(0, "string", other)),
            _ => return Err(arg_count("query", 1, args.len())),
        };
        let Some(run) = &query else {
            return Err("queries are not available in this template".into());
        };
        Ok(Value::List(run(q)?.iter().map(sample_value).collect()))
    });
    f.insert("first", |args| match args {
        [Value::List(l)] => l
            .first()
            .cloned()
            .ok_or_else(|| "first() called on vector with no elements".into()),
        [other] => Err(wrong_type(0, "queryResult", other)),
        _ => Err(arg_count("first", 1, args.len())),
    });
    f.insert("label", |args| {
        let name = str_arg(args, 0)?;
        let (labels, _) = as_sample(args.get(1).unwrap_or(&Value::Nil), 1)?;
        Ok(Value::Str(labels.get(name).cloned().unwrap_or_default()))
    });
    f.insert("value", |args| match args {
        [s] => Ok(Value::Float(as_sample(s, 0)?.1)),
        _ => Err(arg_count("value", 1, args.len())),
    });
    f.insert("strvalue", |args| match args {
        [s] => Ok(Value::Str(
            as_sample(s, 0)?.0.get("__value__").cloned().unwrap_or_default(),
        )),
        _ => Err(arg_count("strvalue", 1, args.len())),
    });
    f.insert("args", |args| {
        Ok(Value::Map(
            args.iter()
                .enumerate()
                .map(|(i, a)| (format!("arg{i}"), a.clone()))
                .collect(),
        ))
    });
    f.insert("reReplaceAll", |args| {
        let (pat, repl, text) = (str_arg(args, 0)?, str_arg(args, 1)?, str_arg(args, 2)?);
        let re = regex::Regex::new(pat).map_err(|e| format!("error parsing regexp: {e}"))?;
        Ok(Value::Str(re.replace_all(text, repl).into_owned()))
    });
    f.insert("safeHtml", |args| Ok(Value::Str(str_arg(args, 0)?.to_string())));
    f.insert("match", |args| {
        let (pat, s) = (str_arg(args, 0)?, str_arg(args, 1)?);
        let re = regex::Regex::new(pat).map_err(|e| format!("error parsing regexp: {e}"))?;
        Ok(Value::Bool(re.is_match(s)))
    });
    f.insert("title", |args| Ok(Value::Str(title(str_arg(args, 0)?))));
    f.insert("toUpper", |args| Ok(Value::Str(str_arg(args, 0)?.to_uppercase())));
    f.insert("toLower", |args| Ok(Value::Str(str_arg(args, 0)?.to_lowercase())));
    let prefix = ctx.path_prefix.clone();
    f.insert("graphLink", move |args| {
        Ok(Value::Str(link(&prefix, str_arg(args, 0)?, 0)))
    });
    let prefix = ctx.path_prefix.clone();
    f.insert("tableLink", move |args| {
        Ok(Value::Str(link(&prefix, str_arg(args, 0)?, 1)))
    });
    f.insert("sortByLabel", |args| {
        let name = str_arg(args, 0)?.to_string();
        let Some(Value::List(l)) = args.get(1) else {
            return Err(wrong_type(1, "queryResult", args.get(1).unwrap_or(&Value::Nil)));
        };
        let mut l = l.clone();
        let key = |v: &Value| {
            as_sample(v, 1)
                .map(|(l, _)| l.get(&name).cloned().unwrap_or_default())
                .unwrap_or_default()
        };
        l.sort_by_key(key);
        Ok(Value::List(l))
    });
    f.insert("humanize", |args| {
        Ok(Value::Str(humanize(one_float("humanize", args)?)))
    });
    f.insert("humanize1024", |args| {
        Ok(Value::Str(humanize1024(one_float("humanize1024", args)?)))
    });
    f.insert("humanizeDuration", |args| {
        Ok(Value::Str(humanize_duration(one_float(
            "humanizeDuration",
            args,
        )?)))
    });
    f.insert("humanizePercentage", |args| {
        Ok(Value::Str(format!(
            "{}%",
            g4(one_float("humanizePercentage", args)? * 100.0)
        )))
    });
    f.insert("humanizeTimestamp", |args| {
        let v = one_float("humanizeTimestamp", args)?;
        if !v.is_finite() {
            return Ok(Value::Str(g4(v)));
        }
        Ok(Value::Str(to_display(&float_to_time(v)?)))
    });
    f.insert("toTime", |args| float_to_time(one_float("toTime", args)?));
    f.insert("toDuration", |args| {
        let v = one_float("toDuration", args)?;
        if !v.is_finite() || (v * 1e9).abs() > i64::MAX as f64 {
            return Err(format!("{v} cannot be represented as a duration"));
        }
        Ok(Value::Duration((v * 1e9).round() as i64))
    });
    f.insert("parseDuration", |args| {
        let s = str_arg(args, 0)?;
        parse_prom_duration(s)
            .map(Value::Float)
            .ok_or_else(|| format!("not a valid duration string: {s:?}"))
    });
    let url = ctx.external_url.clone();
    f.insert("externalURL", move |_| Ok(Value::Str(url.clone())));
    let prefix = ctx.path_prefix.clone();
    f.insert("pathPrefix", move |_| Ok(Value::Str(prefix.clone())));
    f.insert("stripPort", |args| Ok(Value::Str(strip_port(str_arg(args, 0)?))));
    f.insert("stripDomain", |args| {
        Ok(Value::Str(strip_domain(str_arg(args, 0)?)))
    });
    f
}

/// Go's `strings.Title`: upper-cases the first letter of every word.
fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_sep = true;
    for c in s.chars() {
        if prev_sep {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_sep = !(c.is_alphanumeric() || c == '_' || c == '\'');
    }
    out
}

/// A Prometheus duration (`1d2h3m4s5ms`, `1w`, `1y`) in seconds.
fn parse_prom_duration(s: &str) -> Option<f64> {
    if s.is_empty() {
        return None;
    }
    if s == "0" {
        return Some(0.0);
    }
    // Longest unit names first so "ms" is not read as "m"; the rank is the
    // order units must appear in (largest first, each at most once).
    let units: [(&str, f64, u8); 7] = [
        ("ms", 0.001, 6),
        ("y", 365.0 * 86400.0, 0),
        ("w", 7.0 * 86400.0, 1),
        ("d", 86400.0, 2),
        ("h", 3600.0, 3),
        ("m", 60.0, 4),
        ("s", 1.0, 5),
    ];
    let mut rest = s;
    let mut total = 0.0;
    let mut next_rank = 0u8;
    while !rest.is_empty() {
        let n = rest.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        let v: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let (u, mult, rank) = units.iter().find(|(u, _, _)| rest.starts_with(u))?;
        if *rank < next_rank {
            return None;
        }
        next_rank = rank + 1;
        total += v * mult;
        rest = &rest[u.len()..];
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn humanize_like_prometheus() {
        for (v, want) in [
            (0.0, "0"),
            (1.0, "1"),
            (1234567.0, "1.235M"),
            (12345.0, "12.35k"),
            (0.001234, "1.234m"),
            (0.12345, "123.5m"),
            (-1500.0, "-1.5k"),
            (f64::INFINITY, "+Inf"),
            (1e30, "1e+06Y"),
        ] {
            assert_eq!(humanize(v), want, "{v}");
        }
        assert_eq!(humanize1024(1024.0), "1ki");
        assert_eq!(humanize1024(1048576.0 * 3.5), "3.5Mi");
        assert_eq!(humanize1024(0.5), "0.5");
        assert_eq!(humanize_duration(0.0), "0s");
        assert_eq!(humanize_duration(1.0), "1s");
        assert_eq!(humanize_duration(60.0), "1m 0s");
        assert_eq!(humanize_duration(3600.0 * 25.0 + 61.0), "1d 1h 1m 1s");
        assert_eq!(humanize_duration(0.0012), "1.2ms");
        assert_eq!(humanize_duration(-90.0), "-1m 30s");
    }

    #[test]
    fn durations_and_hosts() {
        assert_eq!(parse_prom_duration("1h30m"), Some(5400.0));
        assert_eq!(parse_prom_duration("1m1h"), None);
        assert_eq!(parse_prom_duration("500ms"), Some(0.5));
        assert_eq!(strip_port("host:9100"), "host");
        assert_eq!(strip_port("[::1]:9100"), "::1");
        assert_eq!(strip_port("host"), "host");
        assert_eq!(strip_domain("node1.example.com:9100"), "node1:9100");
        assert_eq!(strip_domain("10.0.0.1:9100"), "10.0.0.1:9100");
        assert_eq!(title("hello wORLD foo-bar"), "Hello WORLD Foo-Bar");
    }
}
