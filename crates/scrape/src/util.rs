//! Small formatting and parsing helpers that must match Prometheus byte for
//! byte: duration strings, RFC 3339 timestamps, URL escaping and the
//! file-name globs `file_sd_configs` accepts.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

const MS_MINUTE: u64 = 60 * 1000;
const MS_HOUR: u64 = 60 * MS_MINUTE;
const MS_DAY: u64 = 24 * MS_HOUR;
const MS_WEEK: u64 = 7 * MS_DAY;
const MS_YEAR: u64 = 365 * MS_DAY;

/// Formats a duration the way Prometheus prints `model.Duration`
/// (`15s`, `1m30s`, `2w`, `0s`); years and weeks only when exact.
pub fn format_duration(d: Duration) -> String {
    let mut ms = d.as_millis() as u64;
    if ms == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    for (unit, mult, exact) in [
        ("y", MS_YEAR, true),
        ("w", MS_WEEK, true),
        ("d", MS_DAY, false),
        ("h", MS_HOUR, false),
        ("m", MS_MINUTE, false),
        ("s", 1000, false),
        ("ms", 1, false),
    ] {
        if exact && !ms.is_multiple_of(mult) {
            continue;
        }
        let v = ms / mult;
        if v > 0 {
            out.push_str(&v.to_string());
            out.push_str(unit);
            ms -= v * mult;
        }
    }
    out
}

/// Parses a Prometheus duration (`1y2w3d4h5m6s7ms`, `0`): units in
/// decreasing order, each at most once, integer counts.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err("empty duration string".into());
    }
    let units: [(&str, u64); 7] = [
        ("y", MS_YEAR),
        ("w", MS_WEEK),
        ("d", MS_DAY),
        ("h", MS_HOUR),
        ("ms", 1),
        ("m", MS_MINUTE),
        ("s", 1000),
    ];
    // Order rank so "ms" sorts after "s".
    let rank = |u: &str| match u {
        "y" => 0,
        "w" => 1,
        "d" => 2,
        "h" => 3,
        "m" => 4,
        "s" => 5,
        _ => 6,
    };
    let bad = || format!("not a valid duration string: {s:?}");
    let b = s.as_bytes();
    let (mut i, mut total, mut last_rank) = (0usize, 0u64, -1i32);
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if start == i {
            return Err(bad());
        }
        let n: u64 = s[start..i].parse().map_err(|_| bad())?;
        let rest = &s[i..];
        let (unit, mult) = units.iter().find(|(u, _)| rest.starts_with(u)).ok_or_else(bad)?;
        let r = rank(unit);
        if r <= last_rank {
            return Err(bad());
        }
        last_rank = r;
        i += unit.len();
        total = n
            .checked_mul(*mult)
            .and_then(|v| v.checked_add(total))
            .ok_or_else(|| format!("duration out of range: {s:?}"))?;
    }
    Ok(Duration::from_millis(total))
}

/// RFC 3339 in UTC with the fractional seconds Go's `RFC3339Nano` prints
/// (trailing zeros trimmed, none when whole): `2024-05-01T10:00:00.123Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let nanos = d.subsec_nanos();
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, dd) = civil_from_days(days);
    let mut out = format!(
        "{y:04}-{m:02}-{dd:02}T{:02}:{:02}:{:02}",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    );
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian
/// calendar (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Go's `url.QueryEscape`: unreserved bytes kept, space as `+`, the rest
/// percent-encoded.
pub fn query_escape(s: &str, out: &mut String) {
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            _ => push_pct(out, b),
        }
    }
}

/// Go's path escaping for `url.URL.String()`: keeps unreserved bytes, `/`
/// and the sub-delimiters allowed in a path segment.
pub fn path_escape(s: &str, out: &mut String) {
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'-'
            | b'_'
            | b'.'
            | b'~'
            | b'/'
            | b'$'
            | b'&'
            | b'+'
            | b','
            | b';'
            | b'='
            | b':'
            | b'@'
            | b'!'
            | b'\''
            | b'('
            | b')'
            | b'*' => out.push(b as char),
            _ => push_pct(out, b),
        }
    }
}

fn push_pct(out: &mut String, b: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('%');
    out.push(HEX[(b >> 4) as usize] as char);
    out.push(HEX[(b & 15) as usize] as char);
}

/// Go's `path.Match` for one path element: `*` (any run of characters),
/// `?` (one character), `[...]` classes with ranges and `^` negation, `\`
/// escapes. A malformed pattern matches nothing.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    glob_rec(&p, &n).unwrap_or(false)
}

fn glob_rec(p: &[char], n: &[char]) -> Option<bool> {
    let (mut pi, mut ni) = (0usize, 0usize);
    let (mut star_p, mut star_n) = (None::<usize>, 0usize);
    loop {
        if pi < p.len() {
            match p[pi] {
                '*' => {
                    star_p = Some(pi);
                    star_n = ni;
                    pi += 1;
                    continue;
                }
                '?' if ni < n.len() => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                '[' if ni < n.len() => {
                    let (matched, next) = class_match(p, pi, n[ni])?;
                    if matched {
                        pi = next;
                        ni += 1;
                        continue;
                    }
                }
                '\\' if pi + 1 < p.len() && ni < n.len() && p[pi + 1] == n[ni] => {
                    pi += 2;
                    ni += 1;
                    continue;
                }
                c if c != '?' && c != '[' && c != '\\' && ni < n.len() && c == n[ni] => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                _ => {}
            }
        } else if ni == n.len() {
            return Some(true);
        }
        // Mismatch: backtrack to the last star, letting it eat one more char.
        match star_p {
            Some(sp) if star_n < n.len() => {
                star_n += 1;
                ni = star_n;
                pi = sp + 1;
            }
            _ => return Some(false),
        }
    }
}

/// Matches `c` against the class starting at `p[start] == '['`; returns
/// whether it matched and the index after the closing `]` (None if malformed).
fn class_match(p: &[char], start: usize, c: char) -> Option<(bool, usize)> {
    let mut i = start + 1;
    let negate = p.get(i) == Some(&'^');
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let ch = *p.get(i)?;
        if ch == ']' && !first {
            i += 1;
            break;
        }
        first = false;
        let lo = if ch == '\\' {
            i += 1;
            *p.get(i)?
        } else {
            ch
        };
        i += 1;
        let hi = if p.get(i) == Some(&'-') && p.get(i + 1).is_some_and(|c| *c != ']') {
            i += 1;
            let h = if p[i] == '\\' {
                i += 1;
                *p.get(i)?
            } else {
                p[i]
            };
            i += 1;
            h
        } else {
            lo
        };
        if lo <= c && c <= hi {
            matched = true;
        }
    }
    Some((matched != negate, i))
}

/// Current wall-clock time in milliseconds since the epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_format_like_prometheus() {
        let f = |ms: u64| format_duration(Duration::from_millis(ms));
        assert_eq!(f(0), "0s");
        assert_eq!(f(15_000), "15s");
        assert_eq!(f(90_000), "1m30s");
        assert_eq!(f(60_000), "1m");
        assert_eq!(f(1_500), "1s500ms");
        assert_eq!(f(MS_WEEK * 2), "2w");
        assert_eq!(f(MS_DAY * 90), "90d");
        assert_eq!(f(MS_YEAR), "1y");
        assert_eq!(f(MS_HOUR + 5), "1h5ms");
    }

    #[test]
    fn durations_parse_like_prometheus() {
        assert_eq!(parse_duration("15s"), Ok(Duration::from_secs(15)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1s500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(
            parse_duration("1y2w3d4h5m6s7ms"),
            Ok(Duration::from_millis(
                MS_YEAR + 2 * MS_WEEK + 3 * MS_DAY + 4 * MS_HOUR + 5 * MS_MINUTE + 6007
            ))
        );
        for bad in ["", "s", "15", "1s1m", "1m1m", "1.5s", "-1s", "1x"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rfc3339_matches_go() {
        let t = UNIX_EPOCH + Duration::new(1_700_000_000, 123_000_000);
        assert_eq!(rfc3339(t), "2023-11-14T22:13:20.123Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00Z"
        );
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::new(0, 1)),
            "1970-01-01T00:00:00.000000001Z"
        );
    }

    #[test]
    fn escapes_like_go() {
        let mut s = String::new();
        query_escape("a b&c=d/é~", &mut s);
        assert_eq!(s, "a+b%26c%3Dd%2F%C3%A9~");
        let mut s = String::new();
        path_escape("/probe metrics?x", &mut s);
        assert_eq!(s, "/probe%20metrics%3Fx");
    }

    #[test]
    fn globs_match_like_go_path_match() {
        assert!(glob_match("*.json", "targets.json"));
        assert!(!glob_match("*.json", "targets.yml"));
        assert!(glob_match("tg_?.y*ml", "tg_1.yaml"));
        assert!(glob_match("tg_[0-9].json", "tg_7.json"));
        assert!(!glob_match("tg_[^0-9].json", "tg_7.json"));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(!glob_match("a*b*c", "axxbyy"));
        assert!(glob_match("lit\\*", "lit*"));
        assert!(!glob_match("[", "a"));
    }
}
