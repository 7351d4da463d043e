//! Grouping keys from Pushgateway URL paths:
//! `job/<job>{/<label>/<value>}`, where any name may carry the `@base64`
//! suffix to mark a base64url-encoded value (needed for values with `/` or
//! empty values, written as `=`).

use sightline_model::Labels;

/// Parses the path after `/metrics/` into grouping labels.
pub fn parse_grouping_key(rest: &str) -> Result<Labels, String> {
    let parts: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    if parts.len() < 2 || !parts.len().is_multiple_of(2) {
        return Err(format!(
            "invalid grouping key path {rest:?}: expected job/<job>{{/<label>/<value>}}"
        ));
    }
    let mut pairs: Vec<(String, String)> = Vec::with_capacity(parts.len() / 2);
    for kv in parts.chunks(2) {
        let (raw_name, raw_value) = (kv[0], kv[1]);
        let (name, value) = match raw_name.strip_suffix("@base64") {
            Some(n) => (
                n,
                decode_base64url(raw_value)
                    .ok_or_else(|| format!("invalid base64 value {raw_value:?} for label {n:?}"))?,
            ),
            None => (raw_name, percent_decode(raw_value)?),
        };
        if !valid_label_name(name) {
            return Err(format!("invalid label name {name:?} in grouping key"));
        }
        if pairs.iter().any(|(n, _)| n == name) {
            return Err(format!("duplicate label {name:?} in grouping key"));
        }
        pairs.push((name.to_string(), value));
    }
    if pairs[0].0 != "job" {
        return Err("grouping key must start with job/<job>".into());
    }
    if pairs[0].1.is_empty() {
        return Err("job name must not be empty".into());
    }
    Ok(Labels::from_pairs(pairs))
}

fn valid_label_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_')
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
        && !s.starts_with("__")
}

fn percent_decode(s: &str) -> Result<String, String> {
    let bytes: Vec<u8> = form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned().into_bytes())
        .unwrap_or_default();
    String::from_utf8(bytes).map_err(|_| format!("label value {s:?} is not valid UTF-8"))
}

/// base64url (RFC 4648 §5), padding optional; `=` alone is the empty string.
fn decode_base64url(s: &str) -> Option<String> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            _ => return None,
        } as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_base64_keys() {
        let l = parse_grouping_key("job/batch/instance/db1").unwrap();
        assert_eq!(l.to_string(), r#"{instance="db1", job="batch"}"#);
        // "a/b" in base64url is YS9i.
        let l = parse_grouping_key("job@base64/YS9i/path@base64/=").unwrap();
        assert_eq!(l.get("job"), Some("a/b"));
        assert_eq!(l.get("path"), None, "empty value means absent");
        assert_eq!(parse_grouping_key("job/a%20b").unwrap().get("job"), Some("a b"));
    }

    #[test]
    fn rejects_bad_keys() {
        assert!(parse_grouping_key("job").is_err());
        assert!(parse_grouping_key("instance/x/job/y")
            .unwrap_err()
            .contains("must start with job"));
        assert!(parse_grouping_key("job/x/job/y")
            .unwrap_err()
            .contains("duplicate"));
        assert!(parse_grouping_key("job/x/bad-name/y")
            .unwrap_err()
            .contains("invalid label name"));
        assert!(parse_grouping_key("job@base64/!!").is_err());
        assert!(parse_grouping_key("job/").is_err());
    }
}
