//! JSON for `/api/v1/targets` in Prometheus's exact shape.

use crate::target::Target;
use crate::util;
use sightline_model::Labels;

/// A label set as a JSON object.
pub fn labels_json(l: &Labels) -> serde_json::Value {
    let mut m = serde_json::Map::with_capacity(l.len());
    for p in l.iter() {
        m.insert(p.name.to_string(), p.value.into());
    }
    m.into()
}

/// One entry of `activeTargets`.
pub fn active_target_json(t: &Target, pool: &str, hostname: Option<&str>) -> serde_json::Value {
    let st = t.status.lock().clone();
    serde_json::json!({
        "discoveredLabels": labels_json(&t.discovered),
        "labels": labels_json(&t.public),
        "scrapePool": pool,
        "scrapeUrl": t.url,
        "globalUrl": global_url(&t.url, hostname),
        "lastError": st.last_error,
        // Go's zero time for a target never scraped, as Prometheus shows it.
        "lastScrape": st.last_scrape.map(util::rfc3339).unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
        "lastScrapeDuration": st.last_duration.as_secs_f64(),
        "health": st.health.as_str(),
        "scrapeInterval": util::format_duration(t.interval),
        "scrapeTimeout": util::format_duration(t.timeout),
    })
}

/// The scrape URL as seen from elsewhere: a loopback host is replaced by
/// this machine's host name (Prometheus does the same with its external URL).
pub fn global_url(url: &str, hostname: Option<&str>) -> String {
    let Some(hostname) = hostname else {
        return url.to_string();
    };
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let host_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..host_end];
    let (host, port) = if let Some(stripped) = authority.strip_prefix('[') {
        match stripped.split_once(']') {
            Some((h, p)) => (h, p),
            None => return url.to_string(),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, _)) => (h, &authority[h.len()..]),
            None => (authority, ""),
        }
    };
    let loopback = host == "localhost" || host == "::1" || host.starts_with("127.");
    if !loopback {
        return url.to_string();
    }
    format!("{scheme}://{hostname}{port}{}", &rest[host_end..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_url_replaces_loopback() {
        assert_eq!(
            global_url("http://localhost:9090/metrics", Some("box")),
            "http://box:9090/metrics"
        );
        assert_eq!(
            global_url("http://127.0.0.1:9/m?x=1", Some("box")),
            "http://box:9/m?x=1"
        );
        assert_eq!(global_url("http://[::1]:9/m", Some("box")), "http://box:9/m");
        assert_eq!(global_url("http://web:80/m", Some("box")), "http://web:80/m");
        assert_eq!(global_url("http://localhost/m", Some("box")), "http://box/m");
        assert_eq!(global_url("http://localhost/m", None), "http://localhost/m");
    }
}
