//! Prometheus durations (`1y2w3d4h5m6s7ms`, `0`) and byte sizes (`512MB`, `1GiB`).

use serde::{Deserializer, Serializer};
use std::fmt;
use std::time::Duration;

/// Why a duration or size string was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnitError(pub String);

impl fmt::Display for UnitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UnitError {}

const MS_PER: [(&str, u64); 7] = [
    ("y", 365 * 24 * 3600 * 1000),
    ("w", 7 * 24 * 3600 * 1000),
    ("d", 24 * 3600 * 1000),
    ("h", 3600 * 1000),
    ("m", 60 * 1000),
    ("s", 1000),
    ("ms", 1),
];

/// Parses a Prometheus duration: `0`, or number+unit pairs with units `y w d h m s ms`, each at
/// most once and in that order (`1h30m`, not `30m1h`). A year is 365 days, a week 7 days.
pub fn parse_duration(s: &str) -> Result<Duration, UnitError> {
    let bad = || UnitError(format!("not a valid duration string: {s:?}"));
    if s.is_empty() {
        return Err(UnitError("empty duration string".into()));
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let b = s.as_bytes();
    let mut i = 0;
    let mut next_unit = 0; // index into MS_PER the next unit may start at
    let mut total: u64 = 0;
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return Err(bad());
        }
        let n: u64 = s[start..i].parse().map_err(|_| bad())?;
        let ustart = i;
        while i < b.len() && b[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit = &s[ustart..i];
        let idx = MS_PER[next_unit..]
            .iter()
            .position(|(u, _)| *u == unit)
            .map(|p| p + next_unit)
            .ok_or_else(bad)?;
        next_unit = idx + 1;
        total = n
            .checked_mul(MS_PER[idx].1)
            .and_then(|v| total.checked_add(v))
            .filter(|v| *v <= i64::MAX as u64)
            .ok_or_else(|| UnitError(format!("duration out of range: {s:?}")))?;
    }
    Ok(Duration::from_millis(total))
}

/// Formats like Prometheus (`1h30m`, `15s`, `0s`), the inverse of [`parse_duration`] for whole
/// milliseconds.
pub fn format_duration(d: Duration) -> String {
    let mut ms = d.as_millis() as u64;
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (u, per) in MS_PER {
        if ms >= per {
            out.push_str(&format!("{}{u}", ms / per));
            ms %= per;
        }
    }
    out
}

/// Parses a byte size: a number (decimals allowed) followed by a unit; every unit is base 2 as
/// in Prometheus (`KB` = `KiB` = 1024). Several parts add up (`1GB512MB`). A bare integer is bytes.
pub fn parse_size(s: &str) -> Result<u64, UnitError> {
    let bad = || UnitError(format!("not a valid size: {s:?} (examples: 512MB, 1GiB, 100KB)"));
    let t = s.trim();
    if t.is_empty() {
        return Err(UnitError("empty size string".into()));
    }
    if let Ok(n) = t.parse::<u64>() {
        return Ok(n);
    }
    let b = t.as_bytes();
    let mut i = 0;
    let mut total: f64 = 0.0;
    while i < b.len() {
        let start = i;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
            i += 1;
        }
        let n: f64 = t[start..i].parse().map_err(|_| bad())?;
        let ustart = i;
        while i < b.len() && b[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit = &t[ustart..i];
        let shift = match unit {
            "B" => 0,
            "KB" | "KiB" => 10,
            "MB" | "MiB" => 20,
            "GB" | "GiB" => 30,
            "TB" | "TiB" => 40,
            "PB" | "PiB" => 50,
            "EB" | "EiB" => 60,
            _ => return Err(bad()),
        };
        total += n * (1u64 << shift) as f64;
    }
    if total >= u64::MAX as f64 {
        return Err(UnitError(format!("size out of range: {s:?}")));
    }
    Ok(total as u64)
}

/// Formats a size with the largest base-2 unit that divides it (`512MB`, `1GB`, `100B`).
pub fn format_size(n: u64) -> String {
    for (u, shift) in [
        ("EB", 60),
        ("PB", 50),
        ("TB", 40),
        ("GB", 30),
        ("MB", 20),
        ("KB", 10),
    ] {
        if n != 0 && n & ((1u64 << shift) - 1) == 0 {
            return format!("{}{u}", n >> shift);
        }
    }
    format!("{n}B")
}

/// Parses a scalar (string or integer) with `parse` *inside* the visitor, so the YAML
/// deserializer attaches the scalar's location and path to any error.
struct ParseVisitor<F>(F, &'static str);

impl<'de, T, F: FnOnce(&str) -> Result<T, UnitError>> serde::de::Visitor<'de> for ParseVisitor<F> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.1)
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<T, E> {
        (self.0)(v).map_err(E::custom)
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<T, E> {
        (self.0)(&v.to_string()).map_err(E::custom)
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<T, E> {
        (self.0)(&v.to_string()).map_err(E::custom)
    }
}

/// Like [`ParseVisitor`] for `Option<T>`: null/absent is `None`.
struct OptVisitor<F>(F, &'static str);

impl<'de, T, F: FnOnce(&str) -> Result<T, UnitError>> serde::de::Visitor<'de> for OptVisitor<F> {
    type Value = Option<T>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.1)
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
        d.deserialize_any(ParseVisitor(self.0, self.1)).map(Some)
    }
}

const DURATION: &str = "a duration like 30s, 5m or 1h30m";
const SIZE: &str = "a size like 512MB or 1GiB";

/// Serde helpers: `#[serde(with = "units::duration")]` for `Duration` fields.
pub mod duration {
    use super::*;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        d.deserialize_any(ParseVisitor(parse_duration, DURATION))
    }

    pub fn serialize<S: Serializer>(v: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(*v))
    }
}

/// Serde helpers for `Option<Duration>` fields.
pub mod opt_duration {
    use super::*;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        d.deserialize_option(OptVisitor(parse_duration, DURATION))
    }

    pub fn serialize<S: Serializer>(v: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(d) => s.serialize_str(&format_duration(*d)),
            None => s.serialize_none(),
        }
    }
}

/// Serde helpers for `u64` byte sizes (`0` = unlimited where used as a limit).
pub mod size {
    use super::*;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        d.deserialize_any(ParseVisitor(parse_size, SIZE))
    }

    pub fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_size(*v))
    }
}

/// Serde helpers for `Option<u64>` byte sizes.
pub mod opt_size {
    use super::*;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        d.deserialize_option(OptVisitor(parse_size, SIZE))
    }

    pub fn serialize<S: Serializer>(v: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(n) => s.serialize_str(&format_size(*n)),
            None => s.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let ok = [
            ("0", 0),
            ("0s", 0),
            ("15s", 15_000),
            ("1m", 60_000),
            ("1h30m", 5_400_000),
            ("500ms", 500),
            ("1d", 86_400_000),
            ("2w", 14 * 86_400_000),
            ("1y", 365 * 86_400_000),
            (
                "1y2w3d4h5m6s7ms",
                ((((365 + 14 + 3) * 24 + 4) * 60 + 5) * 60 + 6) * 1000 + 7,
            ),
        ];
        for (s, ms) in ok {
            assert_eq!(parse_duration(s), Ok(Duration::from_millis(ms)), "{s}");
        }
        for bad in [
            "", "1", "5x", "1.5s", "-1s", "30m1h", "1h1h", "s", "1 s", "1m1ms1s",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(
            parse_duration("").unwrap_err().to_string(),
            "empty duration string"
        );
        assert!(parse_duration("999999999999y")
            .unwrap_err()
            .to_string()
            .contains("out of range"));
        for s in ["15s", "1h30m", "1d", "2w", "500ms", "1y2w3d4h5m6s7ms", "0s"] {
            assert_eq!(format_duration(parse_duration(s).unwrap()), s);
        }
    }

    #[test]
    fn sizes() {
        let ok = [
            ("0", 0),
            ("100", 100),
            ("100B", 100),
            ("1KB", 1024),
            ("1KiB", 1024),
            ("512MB", 512 << 20),
            ("1GB", 1 << 30),
            ("1GiB", 1 << 30),
            ("1.5GB", 3 << 29),
            ("2TB", 2 << 40),
            ("1GB512MB", (1 << 30) + (512 << 20)),
        ];
        for (s, n) in ok {
            assert_eq!(parse_size(s), Ok(n), "{s}");
        }
        // "kB" is the SI spelling, which Prometheus rejects too.
        for bad in ["", "MB", "1XB", "1 GB x", "-1GB", "1.2.3MB", "1kB"] {
            assert!(parse_size(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(format_size(512 << 20), "512MB");
        assert_eq!(format_size(1000), "1000B");
    }
}
