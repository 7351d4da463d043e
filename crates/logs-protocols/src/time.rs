//! Timestamp parsing shared by the decoders and the pipeline, without a time
//! zone database: offsets are fixed (`Z`, `+02:00`, `+0200`, `+02`); a
//! timestamp without an offset is UTC.
//!
//! All results are nanoseconds since the Unix epoch; out-of-range dates give
//! `None`, never an overflow.

const NS: i64 = 1_000_000_000;

/// Days since 1970-01-01 of a proleptic Gregorian date (valid for any `i64`
/// year that fits; month 1..=12, day 1..=31).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date (year, month, day) of a day number since the epoch.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

/// Nanoseconds of a civil date-time in UTC, checked.
pub fn civil_to_ns(y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32, nanos: u32) -> Option<i64> {
    if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    if !(-100_000..=100_000).contains(&y) {
        return None;
    }
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + (h * 3600 + mi * 60 + s) as i64;
    secs.checked_mul(NS)?.checked_add(nanos as i64)
}

/// Month number of an English abbreviation or name (case-insensitive).
pub fn month_from_name(s: &str) -> Option<u32> {
    const M: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    if s.len() < 3 || !s.is_ascii() {
        return None;
    }
    let p = s[..3].to_ascii_lowercase();
    M.iter().position(|m| *m == p).map(|i| i as u32 + 1)
}

struct Cur<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cur<'_> {
    fn digits(&mut self, min: usize, max: usize) -> Option<u32> {
        let start = self.i;
        let mut v: u32 = 0;
        while self.i < self.b.len() && self.i - start < max && self.b[self.i].is_ascii_digit() {
            v = v * 10 + (self.b[self.i] - b'0') as u32;
            self.i += 1;
        }
        (self.i - start >= min).then_some(v)
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.b.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    fn rest(&self) -> &[u8] {
        &self.b[self.i..]
    }
    /// Fraction after `.`/`,` as nanoseconds (extra digits are ignored).
    fn fraction(&mut self) -> u32 {
        if !(self.eat(b'.') || self.eat(b',')) {
            return 0;
        }
        let mut ns: u32 = 0;
        let mut n = 0;
        while let Some(c) = self.peek().filter(u8::is_ascii_digit) {
            if n < 9 {
                ns = ns * 10 + (c - b'0') as u32;
                n += 1;
            }
            self.i += 1;
        }
        while n < 9 {
            ns *= 10;
            n += 1;
        }
        ns
    }
    /// `Z`, `±HH:MM`, `±HHMM`, `±HH` or nothing (UTC); seconds east of UTC.
    fn offset(&mut self) -> Option<i64> {
        match self.peek() {
            None => Some(0),
            Some(b'Z') | Some(b'z') => {
                self.i += 1;
                Some(0)
            }
            Some(c @ (b'+' | b'-')) => {
                self.i += 1;
                let h = self.digits(2, 2)?;
                self.eat(b':');
                let m = self.digits(2, 2).unwrap_or(0);
                if h > 23 || m > 59 {
                    return None;
                }
                let off = (h * 3600 + m * 60) as i64;
                Some(if c == b'-' { -off } else { off })
            }
            _ => None,
        }
    }
}

/// RFC 3339 / ISO 8601 as loggers write it: `2024-01-02T03:04:05.123456Z`,
/// a space instead of `T`, `,` for the fraction, offsets `Z`, `+01:00`,
/// `+0100`, `+01`, or none (UTC, as Python's `utcnow().isoformat()`).
/// A date alone (`2024-01-02`) is midnight UTC.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let mut c = Cur {
        b: s.trim().as_bytes(),
        i: 0,
    };
    let neg = c.eat(b'-');
    let y = c.digits(4, 6)? as i64;
    let y = if neg { -y } else { y };
    if !c.eat(b'-') {
        return None;
    }
    let mo = c.digits(2, 2)?;
    if !c.eat(b'-') {
        return None;
    }
    let d = c.digits(2, 2)?;
    if c.peek().is_none() {
        return civil_to_ns(y, mo, d, 0, 0, 0, 0);
    }
    if !(c.eat(b'T') || c.eat(b't') || c.eat(b' ')) {
        return None;
    }
    let h = c.digits(2, 2)?;
    if !c.eat(b':') {
        return None;
    }
    let mi = c.digits(2, 2)?;
    let sec = if c.eat(b':') { c.digits(2, 2)? } else { 0 };
    let frac = c.fraction();
    if c.peek() == Some(b' ') {
        c.i += 1;
    }
    let off = c.offset()?;
    if !c.rest().is_empty() {
        return None;
    }
    civil_to_ns(y, mo, d, h, mi, sec.min(59), frac)?.checked_sub(off * NS)
}

/// Apache/nginx `HTTPDATE`: `10/Oct/2000:13:55:36 -0700`.
pub fn parse_httpdate(s: &str) -> Option<i64> {
    let s = s.trim();
    let (date, rest) = s.split_once(':')?;
    let mut p = date.split('/');
    let d: u32 = p.next()?.parse().ok()?;
    let mo = month_from_name(p.next()?)?;
    let y: i64 = p.next()?.parse().ok()?;
    if p.next().is_some() {
        return None;
    }
    let mut c = Cur {
        b: rest.as_bytes(),
        i: 0,
    };
    let h = c.digits(2, 2)?;
    if !c.eat(b':') {
        return None;
    }
    let mi = c.digits(2, 2)?;
    if !c.eat(b':') {
        return None;
    }
    let sec = c.digits(2, 2)?;
    let frac = c.fraction();
    c.eat(b' ');
    let off = c.offset()?;
    if !c.rest().is_empty() {
        return None;
    }
    civil_to_ns(y, mo, d, h, mi, sec.min(59), frac)?.checked_sub(off * NS)
}

/// A Unix timestamp of unknown unit, by magnitude: below 1e11 seconds, below
/// 1e14 milliseconds, below 1e17 microseconds, else nanoseconds. Fractions
/// are kept (`1700000000.123` seconds).
pub fn epoch_guess_ns(v: f64) -> Option<i64> {
    if !v.is_finite() {
        return None;
    }
    let a = v.abs();
    let ns = if a < 1e11 {
        v * 1e9
    } else if a < 1e14 {
        v * 1e6
    } else if a < 1e17 {
        v * 1e3
    } else {
        v
    };
    (ns.abs() < 9.2e18).then_some(ns.round() as i64)
}

/// Integer epoch of unknown unit, exact (no float rounding for nanoseconds).
pub fn epoch_guess_ns_int(v: i64) -> Option<i64> {
    let a = v.unsigned_abs();
    if a < 100_000_000_000 {
        v.checked_mul(NS)
    } else if a < 100_000_000_000_000 {
        v.checked_mul(1_000_000)
    } else if a < 100_000_000_000_000_000 {
        v.checked_mul(1_000)
    } else {
        Some(v)
    }
}

/// A decimal number of seconds (`"1700000000.123456789"`) to nanoseconds,
/// exactly (no float rounding).
pub fn decimal_seconds_ns(s: &str) -> Option<i64> {
    let s = s.trim();
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() || !int.bytes().all(|c| c.is_ascii_digit()) || !frac.bytes().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let secs: i64 = int.parse().ok()?;
    let mut ns: i64 = 0;
    for (i, c) in frac.bytes().take(9).enumerate() {
        ns += (c - b'0') as i64 * 10i64.pow(8 - i as u32);
    }
    let v = secs.checked_mul(NS)?.checked_add(ns)?;
    Some(if neg { -v } else { v })
}

/// Any timestamp a JSON log document may carry: RFC 3339 text, HTTPDATE, or
/// an epoch number (as a number or numeric string) of guessed unit.
pub fn parse_any(s: &str) -> Option<i64> {
    let t = s.trim();
    if t.is_empty() {
        return None;
    }
    if let Ok(i) = t.parse::<i64>() {
        return epoch_guess_ns_int(i);
    }
    if t.bytes().all(|c| c.is_ascii_digit() || c == b'.' || c == b'-')
        && t.contains('.')
        && !t[1..].contains('-')
    {
        let f: f64 = t.parse().ok()?;
        if f.abs() < 1e11 {
            return decimal_seconds_ns(t);
        }
        return epoch_guess_ns(f);
    }
    parse_rfc3339(t).or_else(|| parse_httpdate(t))
}

/// Formats nanoseconds as RFC 3339 UTC with nanoseconds
/// (`2024-01-02T03:04:05.000000006Z`).
pub fn format_rfc3339(ns: i64) -> String {
    let secs = ns.div_euclid(NS);
    let sub = ns.rem_euclid(NS);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{sub:09}Z",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    )
}

/// Parses a fixed UTC offset option (`UTC`, `Z`, `+02:00`, `-0530`) to seconds east.
pub fn parse_offset(s: &str) -> Option<i64> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("utc") || t.eq_ignore_ascii_case("gmt") {
        return Some(0);
    }
    let mut c = Cur {
        b: t.as_bytes(),
        i: 0,
    };
    let o = c.offset()?;
    c.rest().is_empty().then_some(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for z in [-800_000i64, -1, 0, 1, 59, 19_000, 2_932_896] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn rfc3339_variants() {
        let base = 1_704_164_645_000_000_000; // 2024-01-02T03:04:05Z
        assert_eq!(parse_rfc3339("2024-01-02T03:04:05Z"), Some(base));
        assert_eq!(parse_rfc3339("2024-01-02T03:04:05.5Z"), Some(base + 500_000_000));
        assert_eq!(
            parse_rfc3339("2024-01-02 03:04:05,123456"),
            Some(base + 123_456_000)
        );
        assert_eq!(parse_rfc3339("2024-01-02T04:04:05+01:00"), Some(base));
        assert_eq!(parse_rfc3339("2024-01-02T04:04:05+0100"), Some(base));
        assert_eq!(parse_rfc3339("2024-01-02T02:04:05-01"), Some(base));
        assert_eq!(
            parse_rfc3339("2024-01-02T03:04:05.123456789123Z"),
            Some(base + 123_456_789)
        );
        assert_eq!(parse_rfc3339("2024-01-02"), Some(base - 3 * 3600 * NS - 245 * NS));
        for bad in [
            "",
            "2024-13-01T00:00:00Z",
            "2024-02-30T00:00:00Z",
            "2024-01-02T03:04:05Q",
            "x",
            "2024-01-02T",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
        assert_eq!(format_rfc3339(base + 6), "2024-01-02T03:04:05.000000006Z");
        assert_eq!(format_rfc3339(-1), "1969-12-31T23:59:59.999999999Z");
    }

    #[test]
    fn httpdate_and_epochs() {
        assert_eq!(
            parse_httpdate("10/Oct/2000:13:55:36 -0700"),
            Some(971_211_336 * NS)
        );
        assert_eq!(parse_any("1700000000"), Some(1_700_000_000 * NS));
        assert_eq!(parse_any("1700000000123"), Some(1_700_000_000_123_000_000));
        assert_eq!(parse_any("1700000000.25"), Some(1_700_000_000_250_000_000));
        assert_eq!(parse_any("1700000000000000001"), Some(1_700_000_000_000_000_001));
        assert_eq!(epoch_guess_ns(1.5), Some(1_500_000_000));
        assert_eq!(epoch_guess_ns(f64::NAN), None);
        assert_eq!(decimal_seconds_ns("-1.5"), Some(-1_500_000_000));
        assert_eq!(parse_offset("+05:30"), Some(19_800));
        assert_eq!(parse_offset("UTC"), Some(0));
        assert_eq!(parse_offset("nope"), None);
    }

    #[test]
    fn garbage_never_panics() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let alphabet = b"0123456789-:TZ+. /,abcOct";
        for _ in 0..20_000 {
            let mut s = String::new();
            for _ in 0..(x % 30) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                s.push(alphabet[(x % alphabet.len() as u64) as usize] as char);
            }
            let _ = parse_any(&s);
            let _ = parse_httpdate(&s);
            let _ = parse_offset(&s);
        }
        let _ = parse_rfc3339("999999-12-31T23:59:59Z");
        let _ = format_rfc3339(i64::MIN);
        let _ = format_rfc3339(i64::MAX);
    }
}
