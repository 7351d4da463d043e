//! Request parameters the way Prometheus reads them: from the query string
//! and, for POST, a form-encoded body, with repeated keys (`match[]`).

use crate::error::ApiError;
use axum::body::Bytes;
use axum::http::{header, HeaderMap, Method, Uri};

/// All parameters of a request, in order, query string first.
#[derive(Clone, Debug, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn from_request(
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> Result<Self, ApiError> {
        let mut out = Vec::new();
        if let Some(q) = uri.query() {
            out.extend(form_urlencoded::parse(q.as_bytes()).into_owned());
        }
        if method == Method::POST && !body.is_empty() {
            let ct = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if ct.starts_with("application/x-www-form-urlencoded") {
                out.extend(form_urlencoded::parse(body).into_owned());
            } else if !ct.is_empty() {
                return Err(ApiError::bad_data(format!(
                    "unsupported Content-Type {ct:?}: expected application/x-www-form-urlencoded"
                )));
            }
        }
        Ok(Self(out))
    }

    pub fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        Self(pairs)
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Every value of `name`.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The earliest and latest times Prometheus clients send for "unbounded".
pub const MIN_TIME_MS: i64 = i64::MIN / 2;
pub const MAX_TIME_MS: i64 = i64::MAX / 2;

/// Parses a Prometheus API time: Unix seconds (float) or RFC 3339.
/// Returns milliseconds.
pub fn parse_time(s: &str) -> Result<i64, String> {
    // The strings Prometheus's own clients use for min/max time.
    match s {
        "-292273086-05-16T16:47:06Z" => return Ok(MIN_TIME_MS),
        "292277025-08-18T07:12:54.999999999Z" => return Ok(MAX_TIME_MS),
        _ => {}
    }
    if let Ok(f) = s.parse::<f64>() {
        if !f.is_finite() {
            return Err(format!("cannot parse {s:?} to a valid timestamp"));
        }
        let ms = (f * 1000.0).round();
        if ms < MIN_TIME_MS as f64 || ms > MAX_TIME_MS as f64 {
            return Err(format!("cannot parse {s:?} to a valid timestamp: out of range"));
        }
        return Ok(ms as i64);
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp_millis())
        .map_err(|_| format!("cannot parse {s:?} to a valid timestamp"))
}

/// Parses an optional time parameter with a default.
pub fn time_param(params: &Params, name: &str, default: i64) -> Result<i64, ApiError> {
    match params.get(name) {
        None | Some("") => Ok(default),
        Some(s) => parse_time(s).map_err(|e| ApiError::bad_data(format!("invalid parameter {name:?}: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prometheus_times() {
        assert_eq!(parse_time("1700000000").unwrap(), 1_700_000_000_000);
        assert_eq!(parse_time("1700000000.123").unwrap(), 1_700_000_000_123);
        assert_eq!(parse_time("2023-11-14T22:13:20Z").unwrap(), 1_700_000_000_000);
        assert_eq!(
            parse_time("2023-11-14T22:13:20.5+00:00").unwrap(),
            1_700_000_000_500
        );
        assert_eq!(parse_time("-292273086-05-16T16:47:06Z").unwrap(), MIN_TIME_MS);
        assert!(parse_time("yesterday").is_err());
        assert!(parse_time("NaN").is_err());
    }

    #[test]
    fn repeated_keys_and_form_body() {
        let uri: Uri = "/api/v1/series?match[]=up&match[]=foo".parse().unwrap();
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            "application/x-www-form-urlencoded".parse().unwrap(),
        );
        let p = Params::from_request(
            &Method::POST,
            &uri,
            &h,
            &Bytes::from_static(b"match%5B%5D=bar&start=1"),
        )
        .unwrap();
        assert_eq!(p.get_all("match[]").collect::<Vec<_>>(), ["up", "foo", "bar"]);
        assert_eq!(p.get("start"), Some("1"));
    }
}
