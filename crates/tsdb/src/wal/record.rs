//! Record payload encodings (the bytes after the frame header's type byte).
//!
//! All integers are little-endian or LEB128 varints; signed deltas are
//! zigzag-encoded. Layouts (see `docs/storage-wal.md` for diagrams):
//!
//! - series (`TYPE_SERIES`): `uvarint count`, then per series `id u64 LE`,
//!   `uvarint nlabels`, then per label `uvarint len | name | uvarint len | value`;
//!   labels are sorted by name with unique names and non-empty values;
//! - samples (`TYPE_SAMPLES`): `uvarint count`, then per sample
//!   `varint(id - prev_id) | varint(t - prev_t) | v f64 bits LE` where
//!   `prev_*` start at 0 (so the first entry holds the first id and time);
//! - metadata (`TYPE_METADATA`): `uvarint count`, then per family
//!   `uvarint len | name | type u8 | uvarint len | unit | uvarint len | help`.
//!
//! Decoding treats the payload as untrusted: every length is bounds-checked,
//! strings must be UTF-8, counts are checked against the bytes left before
//! anything is allocated, and trailing bytes are an error. Decoders never
//! panic; they return [`DecodeError`].

use super::{Record, RefMetadata, RefSample, RefSeries};
use sightline_model::{Labels, MetricMetadata, MetricType};
use std::fmt;

/// Frame type byte of a series record.
pub const TYPE_SERIES: u8 = 1;
/// Frame type byte of a samples record.
pub const TYPE_SAMPLES: u8 = 2;
/// Frame type byte of a metadata record.
pub const TYPE_METADATA: u8 = 3;

/// Why a payload could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// Byte offset inside the payload where decoding failed.
    pub offset: usize,
    pub what: &'static str,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at payload offset {}", self.what, self.offset)
    }
}

impl std::error::Error for DecodeError {}

// ---------------------------------------------------------------- encoding

#[inline]
pub(crate) fn put_uvarint(buf: &mut Vec<u8>, mut x: u64) {
    while x >= 0x80 {
        buf.push((x as u8) | 0x80);
        x >>= 7;
    }
    buf.push(x as u8);
}

#[inline]
pub(crate) fn put_varint(buf: &mut Vec<u8>, x: i64) {
    put_uvarint(buf, ((x << 1) ^ (x >> 63)) as u64);
}

#[inline]
fn put_bytes(buf: &mut Vec<u8>, b: &[u8]) {
    put_uvarint(buf, b.len() as u64);
    buf.extend_from_slice(b);
}

/// Appends the payload of a series record.
pub fn encode_series(series: &[RefSeries], buf: &mut Vec<u8>) {
    put_uvarint(buf, series.len() as u64);
    for s in series {
        buf.extend_from_slice(&s.id.to_le_bytes());
        put_uvarint(buf, s.labels.len() as u64);
        for (n, v) in s.labels.pairs() {
            put_bytes(buf, n.as_bytes());
            put_bytes(buf, v.as_bytes());
        }
    }
}

/// Appends the payload of a samples record.
pub fn encode_samples(samples: &[RefSample], buf: &mut Vec<u8>) {
    // Worst case per sample: 10 + 10 + 8 bytes.
    buf.reserve(10 + samples.len() * 28);
    put_uvarint(buf, samples.len() as u64);
    let (mut prev_id, mut prev_t) = (0u64, 0i64);
    for s in samples {
        put_varint(buf, s.id.wrapping_sub(prev_id) as i64);
        put_varint(buf, s.t.wrapping_sub(prev_t));
        buf.extend_from_slice(&s.v.to_bits().to_le_bytes());
        prev_id = s.id;
        prev_t = s.t;
    }
}

/// Appends the payload of a metadata record.
pub fn encode_metadata(meta: &[RefMetadata], buf: &mut Vec<u8>) {
    put_uvarint(buf, meta.len() as u64);
    for m in meta {
        put_bytes(buf, m.name.as_bytes());
        buf.push(type_code(m.meta.metric_type));
        put_bytes(buf, m.meta.unit.as_bytes());
        put_bytes(buf, m.meta.help.as_bytes());
    }
}

fn type_code(t: MetricType) -> u8 {
    match t {
        MetricType::Unknown => 0,
        MetricType::Counter => 1,
        MetricType::Gauge => 2,
        MetricType::Histogram => 3,
        MetricType::GaugeHistogram => 4,
        MetricType::Summary => 5,
        MetricType::Info => 6,
        MetricType::Stateset => 7,
    }
}

fn type_from_code(c: u8) -> Option<MetricType> {
    Some(match c {
        0 => MetricType::Unknown,
        1 => MetricType::Counter,
        2 => MetricType::Gauge,
        3 => MetricType::Histogram,
        4 => MetricType::GaugeHistogram,
        5 => MetricType::Summary,
        6 => MetricType::Info,
        7 => MetricType::Stateset,
        _ => return None,
    })
}

// ---------------------------------------------------------------- decoding

/// A bounds-checked cursor over a payload.
pub(crate) struct Decoder<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Decoder<'a> {
    pub(crate) fn new(b: &'a [u8]) -> Self {
        Self { b, pos: 0 }
    }

    fn err(&self, what: &'static str) -> DecodeError {
        DecodeError {
            offset: self.pos,
            what,
        }
    }

    #[inline]
    fn remaining(&self) -> usize {
        self.b.len() - self.pos
    }

    #[inline]
    pub(crate) fn uvarint(&mut self) -> Result<u64, DecodeError> {
        // Fast path: one byte.
        if let Some(&b) = self.b.get(self.pos) {
            if b < 0x80 {
                self.pos += 1;
                return Ok(b as u64);
            }
        }
        let mut x = 0u64;
        let mut shift = 0u32;
        loop {
            let Some(&b) = self.b.get(self.pos) else {
                return Err(self.err("truncated varint"));
            };
            self.pos += 1;
            if shift == 63 && b > 1 {
                return Err(self.err("varint overflows 64 bits"));
            }
            x |= ((b & 0x7f) as u64) << shift;
            if b < 0x80 {
                return Ok(x);
            }
            shift += 7;
            if shift > 63 {
                return Err(self.err("varint longer than 10 bytes"));
            }
        }
    }

    #[inline]
    pub(crate) fn varint(&mut self) -> Result<i64, DecodeError> {
        let u = self.uvarint()?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    #[inline]
    fn u64_le(&mut self) -> Result<u64, DecodeError> {
        let Some(s) = self.b.get(self.pos..self.pos + 8) else {
            return Err(self.err("truncated 8-byte value"));
        };
        self.pos += 8;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(u64::from_le_bytes(a))
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        let Some(&b) = self.b.get(self.pos) else {
            return Err(self.err("truncated byte"));
        };
        self.pos += 1;
        Ok(b)
    }

    fn str(&mut self) -> Result<&'a str, DecodeError> {
        let len = self.uvarint()?;
        if len > self.remaining() as u64 {
            return Err(self.err("string length past end of record"));
        }
        let start = self.pos;
        let s = &self.b[start..start + len as usize];
        let s = std::str::from_utf8(s).map_err(|_| DecodeError {
            offset: start,
            what: "string is not UTF-8",
        })?;
        self.pos += len as usize;
        Ok(s)
    }

    /// Reads a count and checks that `count * min_size` bytes remain.
    fn count(&mut self, min_size: usize) -> Result<usize, DecodeError> {
        let n = self.uvarint()?;
        if n > (self.remaining() / min_size) as u64 {
            return Err(self.err("entry count larger than the record"));
        }
        Ok(n as usize)
    }

    fn finish(&self) -> Result<(), DecodeError> {
        if self.pos != self.b.len() {
            return Err(self.err("trailing bytes after the last entry"));
        }
        Ok(())
    }
}

/// Decodes a series payload.
pub fn decode_series(payload: &[u8]) -> Result<Vec<RefSeries>, DecodeError> {
    let mut d = Decoder::new(payload);
    // Smallest entry: id (8) + nlabels (1).
    let n = d.count(9)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let id = d.u64_le()?;
        // Smallest label: two 1-byte lengths + 1-byte name + 1-byte value.
        let nl = d.count(4)?;
        let mut pairs: Vec<(String, String)> = Vec::with_capacity(nl);
        for _ in 0..nl {
            let at = d.pos;
            let name = d.str()?;
            let value = d.str()?;
            if name.is_empty() || value.is_empty() {
                return Err(DecodeError {
                    offset: at,
                    what: "empty label name or value",
                });
            }
            if let Some((prev, _)) = pairs.last() {
                if prev.as_str() >= name {
                    return Err(DecodeError {
                        offset: at,
                        what: "labels not sorted by name or not unique",
                    });
                }
            }
            pairs.push((name.to_string(), value.to_string()));
        }
        out.push(RefSeries {
            id,
            labels: Labels::from_sorted_unchecked(pairs),
        });
    }
    d.finish()?;
    Ok(out)
}

/// Decodes a samples payload, appending to `out`.
pub fn decode_samples_into(payload: &[u8], out: &mut Vec<RefSample>) -> Result<(), DecodeError> {
    let mut d = Decoder::new(payload);
    // Smallest entry: 1 + 1 + 8 bytes.
    let n = d.count(10)?;
    out.reserve(n);
    let (mut id, mut t) = (0u64, 0i64);
    for _ in 0..n {
        id = id.wrapping_add(d.varint()? as u64);
        t = t.wrapping_add(d.varint()?);
        let v = f64::from_bits(d.u64_le()?);
        out.push(RefSample { id, t, v });
    }
    d.finish()
}

/// Decodes a samples payload.
pub fn decode_samples(payload: &[u8]) -> Result<Vec<RefSample>, DecodeError> {
    let mut out = Vec::new();
    decode_samples_into(payload, &mut out)?;
    Ok(out)
}

/// Decodes a metadata payload.
pub fn decode_metadata(payload: &[u8]) -> Result<Vec<RefMetadata>, DecodeError> {
    let mut d = Decoder::new(payload);
    // Smallest entry: 1 (name len) + 1 (type) + 1 + 1.
    let n = d.count(4)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let name = d.str()?.to_string();
        let at = d.pos;
        let metric_type = type_from_code(d.u8()?).ok_or(DecodeError {
            offset: at,
            what: "unknown metric type code",
        })?;
        let unit = d.str()?.to_string();
        let help = d.str()?.to_string();
        out.push(RefMetadata {
            name,
            meta: MetricMetadata {
                metric_type,
                help,
                unit,
            },
        });
    }
    d.finish()?;
    Ok(out)
}

/// Decodes a record of frame type `rtype`. `Ok(None)` for a type this
/// version does not know (the caller skips it).
pub fn decode(rtype: u8, payload: &[u8]) -> Result<Option<Record>, DecodeError> {
    Ok(Some(match rtype {
        TYPE_SERIES => Record::Series(decode_series(payload)?),
        TYPE_SAMPLES => Record::Samples(decode_samples(payload)?),
        TYPE_METADATA => Record::Metadata(decode_metadata(payload)?),
        _ => return Ok(None),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            // xorshift64*
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
    }

    fn series() -> Vec<RefSeries> {
        vec![
            RefSeries {
                id: 1,
                labels: Labels::from_pairs([("__name__", "up"), ("job", "node"), ("instance", "h:9100")]),
            },
            RefSeries {
                id: u64::MAX,
                labels: Labels::from_pairs([("__name__", "é✓"), ("a", &"x".repeat(300))]),
            },
            RefSeries {
                id: 0,
                labels: Labels::new(),
            },
        ]
    }

    fn samples() -> Vec<RefSample> {
        vec![
            RefSample {
                id: 5,
                t: 1_700_000_000_000,
                v: 1.5,
            },
            RefSample {
                id: 3,
                t: 1_700_000_000_000,
                v: f64::NAN,
            },
            RefSample {
                id: u64::MAX,
                t: i64::MIN,
                v: f64::from_bits(sightline_model::STALE_NAN_BITS),
            },
            RefSample {
                id: 0,
                t: i64::MAX,
                v: -0.0,
            },
            RefSample {
                id: 7,
                t: -5,
                v: f64::INFINITY,
            },
        ]
    }

    fn metadata() -> Vec<RefMetadata> {
        vec![
            RefMetadata {
                name: "http_requests_total".into(),
                meta: MetricMetadata {
                    metric_type: MetricType::Counter,
                    help: "Requests served.\nSecond line".into(),
                    unit: "".into(),
                },
            },
            RefMetadata {
                name: "temp".into(),
                meta: MetricMetadata {
                    metric_type: MetricType::Stateset,
                    help: String::new(),
                    unit: "celsius".into(),
                },
            },
        ]
    }

    #[test]
    fn varints_round_trip_at_edges() {
        for x in [
            0u64,
            1,
            127,
            128,
            16383,
            16384,
            u32::MAX as u64,
            u64::MAX - 1,
            u64::MAX,
        ] {
            let mut b = Vec::new();
            put_uvarint(&mut b, x);
            let mut d = Decoder::new(&b);
            assert_eq!(d.uvarint().unwrap(), x);
            d.finish().unwrap();
        }
        for x in [0i64, 1, -1, 63, -64, 64, i64::MIN, i64::MAX] {
            let mut b = Vec::new();
            put_varint(&mut b, x);
            assert_eq!(Decoder::new(&b).varint().unwrap(), x);
        }
        // 11-byte and overflowing varints are rejected.
        assert!(Decoder::new(&[0xff; 11]).uvarint().is_err());
        let mut over = vec![0xff; 9];
        over.push(0x02);
        assert!(Decoder::new(&over).uvarint().is_err());
        assert!(Decoder::new(&[0x80]).uvarint().is_err());
    }

    #[test]
    fn series_round_trip() {
        let s = series();
        let mut b = Vec::new();
        encode_series(&s, &mut b);
        assert_eq!(decode_series(&b).unwrap(), s);
        let mut b = Vec::new();
        encode_series(&[], &mut b);
        assert_eq!(decode_series(&b).unwrap(), vec![]);
    }

    #[test]
    fn samples_round_trip_bit_exact() {
        let s = samples();
        let mut b = Vec::new();
        encode_samples(&s, &mut b);
        let got = decode_samples(&b).unwrap();
        assert_eq!(got.len(), s.len());
        for (a, b) in got.iter().zip(&s) {
            assert_eq!((a.id, a.t, a.v.to_bits()), (b.id, b.t, b.v.to_bits()));
        }
    }

    #[test]
    fn samples_are_compact() {
        // A scrape-like batch: consecutive ids, one timestamp.
        let s: Vec<_> = (0..1000)
            .map(|i| RefSample {
                id: 10_000 + i,
                t: 1_700_000_000_000,
                v: i as f64,
            })
            .collect();
        let mut b = Vec::new();
        encode_samples(&s, &mut b);
        assert!(b.len() < 1000 * 11 + 20, "{} bytes", b.len());
    }

    #[test]
    fn metadata_round_trip() {
        let m = metadata();
        let mut b = Vec::new();
        encode_metadata(&m, &mut b);
        assert_eq!(decode_metadata(&b).unwrap(), m);
    }

    #[test]
    fn decode_dispatches_and_skips_unknown_types() {
        let mut b = Vec::new();
        encode_metadata(&metadata(), &mut b);
        assert!(matches!(decode(TYPE_METADATA, &b), Ok(Some(Record::Metadata(_)))));
        assert!(matches!(decode(200, &b), Ok(None)));
    }

    #[test]
    fn rejects_malformed_series() {
        // Unsorted labels.
        let mut b = Vec::new();
        put_uvarint(&mut b, 1);
        b.extend_from_slice(&7u64.to_le_bytes());
        put_uvarint(&mut b, 2);
        for (n, v) in [("b", "1"), ("a", "2")] {
            put_bytes(&mut b, n.as_bytes());
            put_bytes(&mut b, v.as_bytes());
        }
        assert!(decode_series(&b).unwrap_err().what.contains("sorted"));
        // Invalid UTF-8.
        let mut b = Vec::new();
        put_uvarint(&mut b, 1);
        b.extend_from_slice(&7u64.to_le_bytes());
        put_uvarint(&mut b, 1);
        put_bytes(&mut b, &[0xff, 0xfe]);
        put_bytes(&mut b, b"v");
        assert!(decode_series(&b).unwrap_err().what.contains("UTF-8"));
        // Huge count with few bytes must not allocate or panic.
        let mut b = Vec::new();
        put_uvarint(&mut b, u64::MAX);
        assert!(decode_series(&b).is_err());
        assert!(decode_samples(&b).is_err());
        assert!(decode_metadata(&b).is_err());
        // Trailing bytes.
        let mut b = Vec::new();
        encode_samples(&samples(), &mut b);
        b.push(0);
        assert!(decode_samples(&b).unwrap_err().what.contains("trailing"));
        // Unknown metric type code.
        let mut b = Vec::new();
        encode_metadata(&metadata()[..1], &mut b);
        let pos = 1 + 1 + "http_requests_total".len();
        b[pos] = 99;
        assert!(decode_metadata(&b).unwrap_err().what.contains("type"));
    }

    #[test]
    fn every_truncation_of_valid_payloads_is_an_error_not_a_panic() {
        let mut all = Vec::new();
        let mut b = Vec::new();
        encode_series(&series(), &mut b);
        all.push((TYPE_SERIES, b));
        let mut b = Vec::new();
        encode_samples(&samples(), &mut b);
        all.push((TYPE_SAMPLES, b));
        let mut b = Vec::new();
        encode_metadata(&metadata(), &mut b);
        all.push((TYPE_METADATA, b));
        for (t, b) in &all {
            for cut in 0..b.len() {
                assert!(decode(*t, &b[..cut]).is_err(), "type {t} cut at {cut}");
            }
        }
    }

    #[test]
    fn random_garbage_never_panics() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut valid = Vec::new();
        for (t, enc) in [
            (TYPE_SERIES, {
                let mut b = Vec::new();
                encode_series(&series(), &mut b);
                b
            }),
            (TYPE_SAMPLES, {
                let mut b = Vec::new();
                encode_samples(&samples(), &mut b);
                b
            }),
            (TYPE_METADATA, {
                let mut b = Vec::new();
                encode_metadata(&metadata(), &mut b);
                b
            }),
        ] {
            valid.push((t, enc));
        }
        for round in 0..20_000 {
            let t = (rng.next() % 4) as u8;
            let buf: Vec<u8> = if round % 2 == 0 {
                // Pure random bytes, biased towards small varints.
                let len = (rng.next() % 64) as usize;
                (0..len)
                    .map(|_| {
                        let r = rng.next();
                        match r % 3 {
                            0 => (r >> 8) as u8 & 0x07,
                            _ => (r >> 8) as u8,
                        }
                    })
                    .collect()
            } else {
                // A valid payload with a few mutated bytes.
                let (_, base) = &valid[(rng.next() % 3) as usize];
                let mut b = base.clone();
                for _ in 0..1 + rng.next() % 3 {
                    let i = (rng.next() as usize) % b.len();
                    b[i] = rng.next() as u8;
                }
                b
            };
            let _ = decode(t, &buf);
        }
    }
}
