//! In-memory compressed sample chunks for the head: delta-of-delta
//! timestamps and Gorilla-style XOR floats, packed into a bit stream.
//!
//! Bit stream layout of one chunk (most significant bit first in each byte):
//!
//! ```text
//! sample 0:  t0 as a zigzag varint (8 bits per varint byte), v0 as 64 raw bits
//! sample 1:  t1 - t0 as a uvarint (8 bits per byte),         v1 XOR-encoded
//! sample n:  dod = (tn - tn-1) - (tn-1 - tn-2), then vn XOR-encoded
//!   dod == 0                    '0'
//!   -2^13 <= dod < 2^13         '10'   + 14-bit two's complement
//!   -2^16 <= dod < 2^16         '110'  + 17-bit two's complement
//!   -2^19 <= dod < 2^19         '1110' + 20-bit two's complement
//!   otherwise                   '1111' + 64 bits
//! XOR of the value bits with the previous value's bits:
//!   x == 0                      '0'
//!   fits the previous window    '10' + the window's meaningful bits
//!   otherwise                   '11' + 5 bits leading zeros (capped at 31)
//!                               + 6 bits meaningful-bit count (64 stored as 0)
//!                               + the meaningful bits
//! ```
//!
//! Invariants: timestamps within a chunk are strictly increasing; a chunk
//! holds at most [`MAX_SAMPLES`] samples; the sample count and time range
//! are kept beside the bytes (not in them). Values are stored bit-exactly
//! (NaN payloads such as the staleness marker survive).
//!
//! Appending costs no allocation beyond the byte vector's amortised growth;
//! decoding allocates nothing.

use sightline_model::Sample;

/// Hard upper bound on samples in one chunk.
pub const MAX_SAMPLES: usize = u16::MAX as usize;

/// A chunk being appended to (the newest chunk of a head series).
#[derive(Clone, Debug)]
pub struct XorChunk {
    bytes: Vec<u8>,
    /// Unused low bits in the last byte of `bytes` (0..=7).
    free: u8,
    num: u16,
    min_t: i64,
    max_t: i64,
    t_delta: i64,
    v_bits: u64,
    leading: u8,
    trailing: u8,
}

impl Default for XorChunk {
    fn default() -> Self {
        Self::new()
    }
}

impl XorChunk {
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    /// A chunk whose byte buffer starts with `cap` bytes reserved.
    pub fn with_capacity(cap: usize) -> Self {
        Self {
            bytes: Vec::with_capacity(cap),
            free: 0,
            num: 0,
            min_t: i64::MAX,
            max_t: i64::MIN,
            t_delta: 0,
            v_bits: 0,
            leading: u8::MAX,
            trailing: 0,
        }
    }

    pub fn num_samples(&self) -> usize {
        self.num as usize
    }

    pub fn is_empty(&self) -> bool {
        self.num == 0
    }

    /// First sample's timestamp (`i64::MAX` when empty).
    pub fn min_t(&self) -> i64 {
        self.min_t
    }

    /// Last sample's timestamp (`i64::MIN` when empty).
    pub fn max_t(&self) -> i64 {
        self.max_t
    }

    /// Encoded size in bytes.
    pub fn size_bytes(&self) -> usize {
        self.bytes.len()
    }

    /// Bytes reserved by the buffer.
    pub fn capacity_bytes(&self) -> usize {
        self.bytes.capacity()
    }

    /// Appends a sample. Returns false (and changes nothing) when `t` is not
    /// after the last timestamp or the chunk is full.
    pub fn append(&mut self, t: i64, v: f64) -> bool {
        let bits = v.to_bits();
        match self.num {
            0 => {
                let z = ((t << 1) ^ (t >> 63)) as u64;
                self.put_uvarint(z);
                self.write_bits(bits, 64);
                self.min_t = t;
            }
            1 => {
                if t <= self.max_t {
                    return false;
                }
                let d = t.wrapping_sub(self.max_t);
                self.put_uvarint(d as u64);
                self.put_xor(bits);
                self.t_delta = d;
            }
            n => {
                if t <= self.max_t || n as usize >= MAX_SAMPLES {
                    return false;
                }
                let d = t.wrapping_sub(self.max_t);
                let dod = d.wrapping_sub(self.t_delta);
                if dod == 0 {
                    self.write_bits(0, 1);
                } else if (-(1 << 13)..(1 << 13)).contains(&dod) {
                    self.write_bits(0b10, 2);
                    self.write_bits(dod as u64, 14);
                } else if (-(1 << 16)..(1 << 16)).contains(&dod) {
                    self.write_bits(0b110, 3);
                    self.write_bits(dod as u64, 17);
                } else if (-(1 << 19)..(1 << 19)).contains(&dod) {
                    self.write_bits(0b1110, 4);
                    self.write_bits(dod as u64, 20);
                } else {
                    self.write_bits(0b1111, 4);
                    self.write_bits(dod as u64, 64);
                }
                self.put_xor(bits);
                self.t_delta = d;
            }
        }
        self.max_t = t;
        self.v_bits = bits;
        self.num += 1;
        true
    }

    fn put_uvarint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.write_bits((v & 0x7f) | 0x80, 8);
            v >>= 7;
        }
        self.write_bits(v, 8);
    }

    fn put_xor(&mut self, bits: u64) {
        let x = bits ^ self.v_bits;
        if x == 0 {
            self.write_bits(0, 1);
            return;
        }
        let lead = (x.leading_zeros() as u8).min(31);
        let trail = x.trailing_zeros() as u8;
        if self.leading != u8::MAX && lead >= self.leading && trail >= self.trailing {
            self.write_bits(0b10, 2);
            let sig = 64 - self.leading - self.trailing;
            self.write_bits(x >> self.trailing, sig);
        } else {
            self.leading = lead;
            self.trailing = trail;
            let sig = 64 - lead - trail;
            self.write_bits(0b11, 2);
            self.write_bits(u64::from(lead), 5);
            self.write_bits(u64::from(sig & 63), 6);
            self.write_bits(x >> trail, sig);
        }
    }

    /// Writes the low `n` bits of `v` (n <= 64), most significant first.
    #[inline]
    fn write_bits(&mut self, v: u64, n: u8) {
        let mut n = u32::from(n);
        if n == 0 {
            return;
        }
        let v = if n == 64 { v } else { v & ((1u64 << n) - 1) };
        if self.free > 0 {
            let free = u32::from(self.free);
            let take = n.min(free);
            let part = (v >> (n - take)) as u8 & (((1u16 << take) - 1) as u8);
            if let Some(last) = self.bytes.last_mut() {
                *last |= part << (free - take);
            }
            self.free -= take as u8;
            n -= take;
        }
        while n >= 8 {
            n -= 8;
            self.bytes.push((v >> n) as u8);
        }
        if n > 0 {
            self.bytes.push((v << (8 - n)) as u8);
            self.free = (8 - n) as u8;
        }
    }

    /// An iterator over the samples appended so far.
    pub fn iter(&self) -> ChunkIter<'_> {
        ChunkIter {
            data: &self.bytes,
            dec: Decoder::new(self.num),
        }
    }

    /// A read-only copy of the current contents (for query snapshots).
    pub fn snapshot(&self) -> Chunk {
        Chunk {
            data: self.bytes.clone().into_boxed_slice(),
            num: self.num,
            min_t: self.min_t,
            max_t: self.max_t,
        }
    }

    /// Freezes the chunk into its compact read-only form.
    pub fn freeze(self) -> Chunk {
        Chunk {
            data: self.bytes.into_boxed_slice(),
            num: self.num,
            min_t: self.min_t,
            max_t: self.max_t,
        }
    }
}

/// A completed (immutable) chunk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk {
    data: Box<[u8]>,
    num: u16,
    min_t: i64,
    max_t: i64,
}

impl Chunk {
    pub fn num_samples(&self) -> usize {
        self.num as usize
    }

    pub fn min_t(&self) -> i64 {
        self.min_t
    }

    pub fn max_t(&self) -> i64 {
        self.max_t
    }

    pub fn bytes(&self) -> &[u8] {
        &self.data
    }

    pub fn iter(&self) -> ChunkIter<'_> {
        ChunkIter {
            data: &self.data,
            dec: Decoder::new(self.num),
        }
    }

    /// A decoder to drive with [`Decoder::next`] over [`Chunk::bytes`]
    /// (lets an owner of the chunk iterate without borrowing itself).
    pub fn decoder(&self) -> Decoder {
        Decoder::new(self.num)
    }
}

/// Decoding state for one chunk, independent of the bytes' owner.
#[derive(Clone, Debug, Default)]
pub struct Decoder {
    pos: usize,
    read: u16,
    num: u16,
    t: i64,
    t_delta: i64,
    v_bits: u64,
    leading: u8,
    trailing: u8,
}

impl Decoder {
    pub fn new(num: u16) -> Self {
        Self {
            num,
            ..Self::default()
        }
    }

    /// The next sample of `data` (the bytes of the chunk this decoder was
    /// made for), or `None` at the end or on damaged data.
    pub fn next(&mut self, data: &[u8]) -> Option<Sample> {
        if self.read >= self.num {
            return None;
        }
        let r = self.step(data);
        if r.is_none() {
            self.read = self.num;
        }
        r
    }

    fn step(&mut self, data: &[u8]) -> Option<Sample> {
        match self.read {
            0 => {
                let z = self.uvarint(data)?;
                self.t = ((z >> 1) as i64) ^ -((z & 1) as i64);
                self.v_bits = read_bits(data, &mut self.pos, 64)?;
            }
            1 => {
                let d = self.uvarint(data)? as i64;
                self.t_delta = d;
                self.t = self.t.wrapping_add(d);
                self.xor(data)?;
            }
            _ => {
                let mut prefix = 0;
                while prefix < 4 {
                    if read_bits(data, &mut self.pos, 1)? == 0 {
                        break;
                    }
                    prefix += 1;
                }
                let dod = match prefix {
                    0 => 0,
                    1 => sign_extend(read_bits(data, &mut self.pos, 14)?, 14),
                    2 => sign_extend(read_bits(data, &mut self.pos, 17)?, 17),
                    3 => sign_extend(read_bits(data, &mut self.pos, 20)?, 20),
                    _ => read_bits(data, &mut self.pos, 64)? as i64,
                };
                self.t_delta = self.t_delta.wrapping_add(dod);
                self.t = self.t.wrapping_add(self.t_delta);
                self.xor(data)?;
            }
        }
        self.read += 1;
        Some(Sample {
            t: self.t,
            v: f64::from_bits(self.v_bits),
        })
    }

    fn uvarint(&mut self, data: &[u8]) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..70).step_by(7) {
            let b = read_bits(data, &mut self.pos, 8)?;
            if shift == 63 && b > 1 {
                return None;
            }
            v |= (b & 0x7f) << shift;
            if b < 0x80 {
                return Some(v);
            }
        }
        None
    }

    fn xor(&mut self, data: &[u8]) -> Option<()> {
        if read_bits(data, &mut self.pos, 1)? == 0 {
            return Some(());
        }
        if read_bits(data, &mut self.pos, 1)? == 1 {
            self.leading = read_bits(data, &mut self.pos, 5)? as u8;
            let mut sig = read_bits(data, &mut self.pos, 6)? as u8;
            if sig == 0 {
                sig = 64;
            }
            if u32::from(self.leading) + u32::from(sig) > 64 {
                return None;
            }
            self.trailing = 64 - self.leading - sig;
        }
        let sig = 64 - self.leading - self.trailing;
        if sig == 0 {
            return None;
        }
        let x = read_bits(data, &mut self.pos, sig)?;
        self.v_bits ^= x << self.trailing;
        Some(())
    }
}

#[inline]
fn sign_extend(v: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((v << shift) as i64) >> shift
}

/// Reads `n` (1..=64) bits at bit offset `*pos`, most significant first.
#[inline]
fn read_bits(data: &[u8], pos: &mut usize, n: u8) -> Option<u64> {
    let n = u32::from(n);
    let end = pos.checked_add(n as usize)?;
    if end > data.len() * 8 {
        return None;
    }
    let idx = *pos / 8;
    let off = (*pos % 8) as u32;
    if off + n <= 64 {
        if let Some(w) = data.get(idx..idx + 8) {
            let w = u64::from_be_bytes(w.try_into().expect("8 bytes"));
            *pos = end;
            return Some((w << off) >> (64 - n));
        }
    }
    let mut buf = [0u8; 16];
    let avail = (data.len() - idx).min(9);
    buf[..avail].copy_from_slice(&data[idx..idx + avail]);
    let w = u128::from_be_bytes(buf);
    *pos = end;
    Some(((w << off) >> (128 - n)) as u64)
}

/// Iterates a chunk's samples in time order. Allocation-free.
#[derive(Clone, Debug)]
pub struct ChunkIter<'a> {
    data: &'a [u8],
    dec: Decoder,
}

impl ChunkIter<'_> {
    /// Advances to the first sample with timestamp `>= t`.
    pub fn seek(&mut self, t: i64) -> Option<Sample> {
        loop {
            let s = self.dec.next(self.data)?;
            if s.t >= t {
                return Some(s);
            }
        }
    }
}

impl Iterator for ChunkIter<'_> {
    type Item = Sample;

    fn next(&mut self) -> Option<Sample> {
        self.dec.next(self.data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(samples: &[(i64, f64)]) -> XorChunk {
        let mut c = XorChunk::new();
        for &(t, v) in samples {
            assert!(c.append(t, v), "append {t}");
        }
        let got: Vec<(i64, u64)> = c.iter().map(|s| (s.t, s.v.to_bits())).collect();
        let want: Vec<(i64, u64)> = samples.iter().map(|&(t, v)| (t, v.to_bits())).collect();
        assert_eq!(got, want);
        let frozen = c.clone().freeze();
        assert_eq!(frozen.iter().count(), samples.len());
        assert_eq!(frozen.num_samples(), samples.len());
        c
    }

    #[test]
    fn regular_scrape_compresses_well() {
        let s: Vec<(i64, f64)> = (0..120)
            .map(|i| (1_700_000_000_000 + i * 15_000, 100.0 + (i / 10) as f64))
            .collect();
        let c = roundtrip(&s);
        // 120 samples: timestamps are ~1 bit each, values mostly 1 bit.
        assert!(c.size_bytes() < 120 * 2, "size {}", c.size_bytes());
        assert_eq!(c.min_t(), s[0].0);
        assert_eq!(c.max_t(), s[119].0);
    }

    #[test]
    fn every_dod_bucket_and_odd_values() {
        let mut t = -5_000_000i64;
        let mut s = Vec::new();
        let deltas = [
            1i64,
            1,
            2,
            9000,
            8000,
            70_000,
            10,
            600_000,
            1,
            1 << 40,
            3,
            1,
            1 << 21,
            1,
        ];
        let values = [
            0.0,
            -0.0,
            f64::NAN,
            sightline_model::stale_nan(),
            f64::INFINITY,
            f64::NEG_INFINITY,
            1e-300,
            f64::MAX,
            f64::MIN_POSITIVE,
            123.456,
            123.456,
            -1.0,
            f64::from_bits(1),
            f64::from_bits(u64::MAX),
        ];
        for (d, v) in deltas.iter().zip(values) {
            s.push((t, v));
            t += d;
        }
        roundtrip(&s);
        roundtrip(&[(i64::MIN + 1, 1.0), (0, 2.0), (i64::MAX, 3.0)]);
        roundtrip(&[(42, 1.0)]);
        roundtrip(&[]);
    }

    #[test]
    fn random_values_roundtrip() {
        let mut rng = crate::block::gen::Rng::new(7);
        let mut t = 0;
        let s: Vec<(i64, f64)> = (0..2000)
            .map(|_| {
                t += 1 + rng.below(100_000) as i64;
                (t, f64::from_bits(rng.next_u64()))
            })
            .collect();
        roundtrip(&s);
    }

    #[test]
    fn rejects_non_increasing_and_seeks() {
        let mut c = XorChunk::new();
        assert!(c.append(10, 1.0));
        assert!(!c.append(10, 2.0));
        assert!(!c.append(9, 2.0));
        assert!(c.append(20, 2.0));
        assert!(!c.append(15, 2.0));
        assert!(c.append(30, 3.0));
        assert_eq!(c.num_samples(), 3);
        let mut it = c.iter();
        assert_eq!(it.seek(11).map(|s| s.t), Some(20));
        assert_eq!(it.seek(11).map(|s| s.t), Some(30));
        assert_eq!(it.seek(31), None);
    }

    #[test]
    fn damaged_bytes_end_iteration_without_panic() {
        let mut c = XorChunk::new();
        for i in 0..50 {
            c.append(i * 1000 + (i % 3), i as f64 * 1.5);
        }
        let f = c.freeze();
        for cut in 0..f.bytes().len() {
            let mut d = Decoder::new(50);
            let mut n = 0;
            while d.next(&f.bytes()[..cut]).is_some() {
                n += 1;
            }
            assert!(n < 50);
        }
        let mut garbage = vec![0xffu8; 64];
        garbage[0] = 0x02;
        let mut d = Decoder::new(500);
        while d.next(&garbage).is_some() {}
    }
}
