//! Byte-level helpers (varints, a bounds-checked reader) and the on-disk
//! sample chunk codec.
//!
//! A chunk holds 1..=[`MAX_CHUNK_SAMPLES`] samples of one series in strictly
//! increasing time order. Layout (all varints are LEB128, signed ones zigzag):
//!
//! ```text
//! uvarint n
//! varint  t0 - base                 (base = the block's min_t)
//! if n > 1: u8 timestamp mode
//!   mode 0 DOD:  varint t1 - t0, then for i >= 2
//!                varint (t_i - t_{i-1}) - (t_{i-1} - t_{i-2})
//!   mode 1 GRID: varint step S (the median delta), then for i >= 1
//!                varint t_i - (t0 + i * S)
//! u8      value mode
//!   mode 0/1 DECIMAL (0: mantissa deltas, 1: mantissa delta-of-deltas)
//!     varint  exponent E               (every value is m_i * 10^E)
//!     uvarint exception count k; k x (uvarint index gap, u64 LE raw bits)
//!     varint  m_0, then n-1 varints of deltas (mode 0) or
//!             one delta then delta-of-deltas (mode 1)
//!   mode 2 XOR
//!     u64 LE  bits of v_0
//!     n-1 x:  u8 t (0 = same bits as previous; else t-1 = trailing zero
//!             bytes of x = bits_i ^ bits_{i-1}), uvarint x >> (8*(t-1))
//! ```
//!
//! Decimal mode stores a value as an integer mantissa and a chunk-wide
//! decimal exponent. The writer checks that decoding gives back the exact bit
//! pattern; values that cannot be represented (NaN, the staleness marker, -0,
//! infinities, >15-17 significant digits) are stored as *exceptions* with
//! their raw bits, their mantissa slot repeating the previous mantissa so
//! the delta stream stays small. The writer picks whichever mode gives the
//! fewest bytes before compression.

use sightline_model::Sample;

/// Upper bound on samples per chunk (bounds decode buffers and frame size).
pub const MAX_CHUNK_SAMPLES: usize = 2048;

pub fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[inline]
pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

#[inline]
pub fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

pub fn put_varint(out: &mut Vec<u8>, v: i64) {
    put_uvarint(out, zigzag(v))
}

fn uvarint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

fn varint_len(v: i64) -> usize {
    uvarint_len(zigzag(v))
}

/// A bounds-checked reader over a byte slice. Errors are short static
/// descriptions that callers wrap into `StorageError::Corruption`.
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

pub type DecodeResult<T> = Result<T, &'static str>;

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    pub fn at(data: &'a [u8], pos: usize) -> DecodeResult<Self> {
        if pos > data.len() {
            return Err("offset beyond end of section");
        }
        Ok(Self { data, pos })
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }

    pub fn uvarint(&mut self) -> DecodeResult<u64> {
        let mut v: u64 = 0;
        let mut shift = 0u32;
        loop {
            let b = *self.data.get(self.pos).ok_or("truncated varint")?;
            self.pos += 1;
            if shift == 63 && b > 1 {
                return Err("varint overflows 64 bits");
            }
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
            shift += 7;
            if shift > 63 {
                return Err("varint overflows 64 bits");
            }
        }
    }

    pub fn varint(&mut self) -> DecodeResult<i64> {
        self.uvarint().map(unzigzag)
    }

    /// A uvarint that must fit in `usize` and be at most `max`.
    pub fn len_at_most(&mut self, max: usize) -> DecodeResult<usize> {
        let v = self.uvarint()?;
        if v > max as u64 {
            return Err("length or count out of range");
        }
        Ok(v as usize)
    }

    pub fn u8(&mut self) -> DecodeResult<u8> {
        let b = *self.data.get(self.pos).ok_or("truncated byte")?;
        self.pos += 1;
        Ok(b)
    }

    pub fn u64_le(&mut self) -> DecodeResult<u64> {
        let b = self.bytes(8)?;
        Ok(u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }

    pub fn bytes(&mut self, n: usize) -> DecodeResult<&'a [u8]> {
        let end = self.pos.checked_add(n).ok_or("length overflow")?;
        let s = self.data.get(self.pos..end).ok_or("truncated data")?;
        self.pos = end;
        Ok(s)
    }
}

const MODE_DEC_DELTA: u8 = 0;
const MODE_DEC_DOD: u8 = 1;
const MODE_XOR: u8 = 2;

/// Largest mantissa magnitude that converts to f64 exactly.
const MAX_EXACT: i64 = 1 << 53;

const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18,
    1e19, 1e20, 1e21, 1e22,
];

/// `m * 10^e`, correctly rounded when `|m| <= 2^53` and `|e| <= 22`.
#[inline]
fn decimal_value(m: i64, e: i32) -> f64 {
    if e >= 0 {
        m as f64 * POW10[e as usize]
    } else {
        m as f64 / POW10[(-e) as usize]
    }
}

/// The shortest decimal `(mantissa, exponent)` for `v`, if it decodes back
/// to exactly the same bits.
fn to_decimal(v: f64) -> Option<(i64, i32)> {
    if !v.is_finite() {
        return None;
    }
    if v.fract() == 0.0 && v.abs() < MAX_EXACT as f64 {
        let m = v as i64;
        if m == 0 && v.is_sign_negative() {
            return None;
        }
        return Some((m, 0));
    }
    // Rust prints the shortest representation that round-trips.
    let s = format!("{v:e}");
    let (digits, exp) = s.split_once('e')?;
    let exp: i32 = exp.parse().ok()?;
    let neg = digits.starts_with('-');
    let digits = digits.trim_start_matches('-');
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if int.len() + frac.len() > 17 {
        return None;
    }
    let mut m: i64 = 0;
    for c in int.bytes().chain(frac.bytes()) {
        m = m * 10 + i64::from(c - b'0');
    }
    if neg {
        m = -m;
    }
    let e = exp - frac.len() as i32;
    if m.abs() > MAX_EXACT || !(-22..=22).contains(&e) {
        return None;
    }
    (decimal_value(m, e).to_bits() == v.to_bits()).then_some((m, e))
}

/// Appends the encoding of `samples` (1..=MAX_CHUNK_SAMPLES, strictly
/// increasing timestamps) to `out`.
pub fn encode_chunk(out: &mut Vec<u8>, base: i64, samples: &[Sample]) {
    debug_assert!(!samples.is_empty() && samples.len() <= MAX_CHUNK_SAMPLES);
    put_uvarint(out, samples.len() as u64);
    // Timestamps.
    put_varint(out, samples[0].t.wrapping_sub(base));
    if samples.len() > 1 {
        encode_timestamps(out, samples);
    }
    // Values: try decimal, compare with XOR.
    let mut xor_buf = Vec::new();
    encode_xor(&mut xor_buf, samples);
    if let Some(dec) = encode_decimal(samples, xor_buf.len()) {
        out.extend_from_slice(&dec);
    } else {
        out.push(MODE_XOR);
        out.extend_from_slice(&xor_buf);
    }
}

const TS_DOD: u8 = 0;
const TS_GRID: u8 = 1;

/// Timestamps after the first: delta-of-delta, or residuals from a regular
/// grid `t0 + i * step` (better when scrape times jitter), whichever is
/// smaller.
fn encode_timestamps(out: &mut Vec<u8>, samples: &[Sample]) {
    let t0 = samples[0].t;
    let mut deltas: Vec<i64> = samples.windows(2).map(|w| w[1].t.wrapping_sub(w[0].t)).collect();
    let mut dod = Vec::with_capacity(deltas.len() * 2);
    put_varint(&mut dod, deltas[0]);
    for w in deltas.windows(2) {
        put_varint(&mut dod, w[1].wrapping_sub(w[0]));
    }
    deltas.sort_unstable();
    let step = deltas[deltas.len() / 2];
    let mut grid = Vec::with_capacity(deltas.len() * 2);
    put_varint(&mut grid, step);
    for (i, s) in samples.iter().enumerate().skip(1) {
        put_varint(
            &mut grid,
            s.t.wrapping_sub(t0.wrapping_add(step.wrapping_mul(i as i64))),
        );
    }
    if grid.len() < dod.len() {
        out.push(TS_GRID);
        out.extend_from_slice(&grid);
    } else {
        out.push(TS_DOD);
        out.extend_from_slice(&dod);
    }
}

fn encode_xor(out: &mut Vec<u8>, samples: &[Sample]) {
    let mut prev = samples[0].v.to_bits();
    out.extend_from_slice(&prev.to_le_bytes());
    for s in &samples[1..] {
        let bits = s.v.to_bits();
        let x = bits ^ prev;
        if x == 0 {
            out.push(0);
        } else {
            let tz = x.trailing_zeros() / 8;
            out.push(tz as u8 + 1);
            put_uvarint(out, x >> (8 * tz));
        }
        prev = bits;
    }
}

/// The decimal encoding (mode byte included) if it is smaller than `limit`.
fn encode_decimal(samples: &[Sample], limit: usize) -> Option<Vec<u8>> {
    let mut decs: Vec<Option<(i64, i32)>> = Vec::with_capacity(samples.len());
    let mut min_e = i32::MAX;
    let mut exceptions = 0usize;
    for s in samples {
        let d = to_decimal(s.v);
        match d {
            Some((_, e)) => min_e = min_e.min(e),
            None => exceptions += 1,
        }
        decs.push(d);
    }
    if exceptions * 2 > samples.len() {
        return None;
    }
    if min_e == i32::MAX {
        min_e = 0;
    }
    // Rescale to the common exponent; a value that no longer fits becomes an
    // exception.
    let mut mants = Vec::with_capacity(samples.len());
    let mut exc: Vec<(usize, u64)> = Vec::new();
    let mut prev_m = 0i64;
    for (i, (d, s)) in decs.iter().zip(samples).enumerate() {
        let scaled = d.and_then(|(m, e)| {
            let k = (e - min_e) as u32;
            let m = 10i64.checked_pow(k).and_then(|p| m.checked_mul(p))?;
            (m.abs() <= MAX_EXACT && decimal_value(m, min_e).to_bits() == s.v.to_bits()).then_some(m)
        });
        match scaled {
            Some(m) => {
                mants.push(m);
                prev_m = m;
            }
            None => {
                exc.push((i, s.v.to_bits()));
                mants.push(prev_m);
            }
        }
    }
    if exc.len() * 2 > samples.len() {
        return None;
    }
    // Size of both integer schemes.
    let mut delta_len = varint_len(mants[0]);
    let mut dod_len = delta_len;
    let mut prev_d = 0i64;
    for i in 1..mants.len() {
        let d = mants[i].wrapping_sub(mants[i - 1]);
        delta_len += varint_len(d);
        dod_len += varint_len(if i == 1 { d } else { d.wrapping_sub(prev_d) });
        prev_d = d;
    }
    let mode = if dod_len < delta_len {
        MODE_DEC_DOD
    } else {
        MODE_DEC_DELTA
    };
    let mut out = Vec::with_capacity(delta_len.min(dod_len) + 16 + exc.len() * 10);
    out.push(mode);
    put_varint(&mut out, i64::from(min_e));
    put_uvarint(&mut out, exc.len() as u64);
    let mut last = 0usize;
    for (i, (idx, bits)) in exc.iter().enumerate() {
        put_uvarint(&mut out, (idx - if i == 0 { 0 } else { last }) as u64);
        out.extend_from_slice(&bits.to_le_bytes());
        last = *idx;
    }
    put_varint(&mut out, mants[0]);
    let mut prev_d = 0i64;
    for i in 1..mants.len() {
        let d = mants[i].wrapping_sub(mants[i - 1]);
        if mode == MODE_DEC_DOD && i > 1 {
            put_varint(&mut out, d.wrapping_sub(prev_d));
        } else {
            put_varint(&mut out, d);
        }
        prev_d = d;
    }
    // +1: the XOR alternative also carries its mode byte.
    (out.len() <= limit + 1).then_some(out)
}

/// Decodes one chunk written by [`encode_chunk`], appending samples to `out`.
/// Returns the number of samples decoded.
pub fn decode_chunk(data: &[u8], base: i64, out: &mut Vec<Sample>) -> DecodeResult<usize> {
    let mut r = Reader::new(data);
    let n = r.len_at_most(MAX_CHUNK_SAMPLES)?;
    if n == 0 {
        return Err("empty chunk");
    }
    let start = out.len();
    out.reserve(n);
    let t0 = base.wrapping_add(r.varint()?);
    out.push(Sample { t: t0, v: 0.0 });
    if n > 1 {
        let mode = r.u8()?;
        let mut t = t0;
        let mut d = 0i64;
        let step = if mode == TS_GRID { r.varint()? } else { 0 };
        for i in 1..n {
            let x = r.varint()?;
            let next = match mode {
                TS_DOD => {
                    d = if i == 1 { x } else { d.wrapping_add(x) };
                    t.wrapping_add(d)
                }
                TS_GRID => t0.wrapping_add(step.wrapping_mul(i as i64)).wrapping_add(x),
                _ => return Err("unknown timestamp encoding"),
            };
            if next <= t {
                return Err("timestamps not increasing");
            }
            t = next;
            out.push(Sample { t, v: 0.0 });
        }
    }
    let vals = &mut out[start..];
    match r.u8()? {
        MODE_XOR => {
            let mut bits = r.u64_le()?;
            vals[0].v = f64::from_bits(bits);
            for s in vals.iter_mut().skip(1) {
                let tag = r.u8()?;
                if tag != 0 {
                    if tag > 8 {
                        return Err("bad xor tag");
                    }
                    let x = r.uvarint()?;
                    let shift = 8 * u32::from(tag - 1);
                    if shift > 0 && x >> (64 - shift) != 0 {
                        return Err("xor value out of range");
                    }
                    bits ^= x << shift;
                }
                s.v = f64::from_bits(bits);
            }
        }
        mode @ (MODE_DEC_DELTA | MODE_DEC_DOD) => {
            let e = r.varint()?;
            if !(-22..=22).contains(&e) {
                return Err("decimal exponent out of range");
            }
            let e = e as i32;
            let k = r.len_at_most(n)?;
            let mut exc = Vec::with_capacity(k);
            let mut idx = 0usize;
            for i in 0..k {
                let gap = r.len_at_most(n)?;
                idx = if i == 0 { gap } else { idx + gap };
                if idx >= n || (i > 0 && gap == 0) {
                    return Err("bad exception index");
                }
                exc.push((idx, r.u64_le()?));
            }
            let mut m = r.varint()?;
            vals[0].v = decimal_value(m, e);
            let mut d = 0i64;
            for (i, s) in vals.iter_mut().enumerate().skip(1) {
                let x = r.varint()?;
                d = if mode == MODE_DEC_DOD && i > 1 {
                    d.wrapping_add(x)
                } else {
                    x
                };
                m = m.wrapping_add(d);
                s.v = decimal_value(m, e);
            }
            for (i, bits) in exc {
                vals[i].v = f64::from_bits(bits);
            }
        }
        _ => return Err("unknown value encoding"),
    }
    if !r.is_empty() {
        return Err("trailing bytes after chunk");
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(samples: &[Sample]) -> usize {
        let mut buf = Vec::new();
        encode_chunk(&mut buf, 1000, samples);
        let mut out = Vec::new();
        assert_eq!(decode_chunk(&buf, 1000, &mut out).unwrap(), samples.len());
        for (a, b) in out.iter().zip(samples) {
            assert_eq!(a.t, b.t);
            assert_eq!(a.v.to_bits(), b.v.to_bits(), "value {} vs {}", a.v, b.v);
        }
        buf.len()
    }

    #[test]
    fn varints_roundtrip() {
        let mut b = Vec::new();
        for v in [0i64, 1, -1, 63, -64, 300, i64::MAX, i64::MIN] {
            b.clear();
            put_varint(&mut b, v);
            assert_eq!(b.len(), varint_len(v));
            assert_eq!(Reader::new(&b).varint().unwrap(), v);
        }
        assert!(Reader::new(&[0x80]).uvarint().is_err());
        assert!(Reader::new(&[0xff; 11]).uvarint().is_err());
    }

    #[test]
    fn decimal_conversion_is_exact() {
        for v in [
            0.1,
            0.37,
            12.5,
            1e-7,
            123456.789,
            1e300,
            5e-324,
            f64::MAX,
            -0.0,
            3.0,
            -42.25,
        ] {
            if let Some((m, e)) = to_decimal(v) {
                assert_eq!(decimal_value(m, e).to_bits(), v.to_bits(), "{v}");
            }
        }
        assert_eq!(to_decimal(0.37), Some((37, -2)));
        assert_eq!(to_decimal(-0.0), None);
        assert_eq!(to_decimal(f64::NAN), None);
    }

    #[test]
    fn chunks_roundtrip_all_kinds() {
        let mk = |f: &dyn Fn(usize) -> f64| -> Vec<Sample> {
            (0..300)
                .map(|i| Sample {
                    t: 1000 + i as i64 * 15_000 + (i as i64 % 3),
                    v: f(i),
                })
                .collect()
        };
        let constant = roundtrip(&mk(&|_| 1.0));
        assert!(constant < 300 * 3, "constant chunk is {constant} bytes");
        roundtrip(&mk(&|i| i as f64 * 0.1));
        roundtrip(&mk(&|i| (i as f64).sin()));
        roundtrip(&mk(&|i| {
            if i % 50 == 7 {
                sightline_model::stale_nan()
            } else {
                i as f64 * 1.5
            }
        }));
        roundtrip(&mk(&|i| if i % 2 == 0 { f64::NAN } else { -0.0 }));
        roundtrip(&mk(&|i| [f64::INFINITY, f64::NEG_INFINITY, 1e308, 5e-324][i % 4]));
        roundtrip(&[Sample {
            t: i64::MIN + 5,
            v: 1.0,
        }]);
        roundtrip(&[Sample { t: -5, v: 1.0 }, Sample { t: 1 << 60, v: 2.0 }]);
    }

    #[test]
    fn corrupt_chunks_error_not_panic() {
        let samples: Vec<Sample> = (0..100)
            .map(|i| Sample {
                t: i * 10,
                v: i as f64 * 0.25,
            })
            .collect();
        let mut buf = Vec::new();
        encode_chunk(&mut buf, 0, &samples);
        for cut in 0..buf.len() {
            let mut out = Vec::new();
            assert!(decode_chunk(&buf[..cut], 0, &mut out).is_err());
        }
        for i in 0..buf.len() {
            for bit in 0..8 {
                let mut b = buf.clone();
                b[i] ^= 1 << bit;
                let _ = decode_chunk(&b, 0, &mut Vec::new());
            }
        }
    }
}
