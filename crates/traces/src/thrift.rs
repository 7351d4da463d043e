//! A small Thrift decoder (binary and compact protocols) producing a generic
//! value tree; [`crate::jaeger`] maps Jaeger's IDL onto it.
//!
//! Invariants: never panics; nesting is limited to [`MAX_DEPTH`]; a
//! container's declared size is checked against the bytes left before
//! anything is allocated, so a hostile size cannot allocate more than the
//! input's length.

use crate::TraceError;

/// Deepest accepted struct/container nesting.
pub const MAX_DEPTH: usize = 32;

/// A decoded Thrift value. Structs keep fields in wire order as `(id, value)`.
#[derive(Clone, Debug, PartialEq)]
pub enum TValue {
    Bool(bool),
    I8(i8),
    I16(i16),
    I32(i32),
    I64(i64),
    Double(f64),
    Binary(Vec<u8>),
    Struct(Vec<(i16, TValue)>),
    List(Vec<TValue>),
    Map(Vec<(TValue, TValue)>),
}

impl TValue {
    /// Field `id` of a struct.
    pub fn field(&self, id: i16) -> Option<&TValue> {
        match self {
            TValue::Struct(f) => f.iter().find(|(i, _)| *i == id).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Any integer as i64.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            TValue::I8(v) => Some(v.into()),
            TValue::I16(v) => Some(v.into()),
            TValue::I32(v) => Some(v.into()),
            TValue::I64(v) => Some(v),
            _ => None,
        }
    }

    pub fn as_list(&self) -> Option<&[TValue]> {
        match self {
            TValue::List(l) => Some(l),
            _ => None,
        }
    }

    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            TValue::Binary(b) => Some(b),
            _ => None,
        }
    }
}

/// Thrift message envelope.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub name: String,
    /// 1 call, 2 reply, 3 exception, 4 oneway.
    pub kind: u8,
    pub seq_id: i32,
    /// The arguments struct.
    pub body: TValue,
}

/// Which wire protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Binary,
    Compact,
}

fn err(msg: impl Into<String>) -> TraceError {
    TraceError::BadInput(format!("malformed thrift: {}", msg.into()))
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], TraceError> {
        if self.b.len() - self.pos < n {
            return Err(err(format!("truncated at byte {}", self.pos)));
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn left(&self) -> usize {
        self.b.len() - self.pos
    }

    fn u8(&mut self) -> Result<u8, TraceError> {
        Ok(self.take(1)?[0])
    }

    fn be<const N: usize>(&mut self) -> Result<[u8; N], TraceError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn varint(&mut self) -> Result<u64, TraceError> {
        let mut v = 0u64;
        for i in 0..10 {
            let c = self.u8()?;
            v |= u64::from(c & 0x7f) << (7 * i);
            if c & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(err("varint too long"))
    }

    fn zigzag(&mut self) -> Result<i64, TraceError> {
        let v = self.varint()?;
        Ok((v >> 1) as i64 ^ -((v & 1) as i64))
    }

    /// A container size, checked against the bytes left (every element
    /// takes at least one byte).
    fn size(&mut self, n: i64) -> Result<usize, TraceError> {
        if n < 0 || n as u64 > self.left() as u64 {
            return Err(err(format!(
                "container size {n} exceeds the {} bytes left",
                self.left()
            )));
        }
        Ok(n as usize)
    }
}

/// Decodes a bare struct (e.g. the body of Jaeger's `POST /api/traces`).
pub fn decode_struct(b: &[u8], p: Protocol) -> Result<TValue, TraceError> {
    let mut r = Reader { b, pos: 0 };
    let v = match p {
        Protocol::Binary => bin_value(&mut r, 12, 0)?,
        Protocol::Compact => cmp_struct(&mut r, 0)?,
    };
    Ok(v)
}

/// Decodes a message envelope and its arguments struct.
pub fn decode_message(b: &[u8], p: Protocol) -> Result<Message, TraceError> {
    let mut r = Reader { b, pos: 0 };
    match p {
        Protocol::Binary => {
            let first = i32::from_be_bytes(r.be()?);
            let (name, kind) = if first < 0 {
                if (first as u32) & 0xffff_0000 != 0x8001_0000 {
                    return Err(err(format!("bad binary protocol version {:#x}", first as u32)));
                }
                let n = bin_string(&mut r)?;
                (n, (first & 0xff) as u8)
            } else {
                // old non-strict: name length, name, type
                let len = r.size(first.into())?;
                let n = String::from_utf8_lossy(r.take(len)?).into_owned();
                (n, r.u8()?)
            };
            let seq_id = i32::from_be_bytes(r.be()?);
            let body = bin_value(&mut r, 12, 0)?;
            Ok(Message {
                name,
                kind,
                seq_id,
                body,
            })
        }
        Protocol::Compact => {
            if r.u8()? != 0x82 {
                return Err(err("not a compact protocol message (expected 0x82)"));
            }
            let vt = r.u8()?;
            if vt & 0x1f != 1 {
                return Err(err(format!("unsupported compact protocol version {}", vt & 0x1f)));
            }
            let seq_id = r.varint()? as i32;
            let len = r.varint()?;
            let len = r.size(len.min(i64::MAX as u64) as i64)?;
            let name = String::from_utf8_lossy(r.take(len)?).into_owned();
            let body = cmp_struct(&mut r, 0)?;
            Ok(Message {
                name,
                kind: vt >> 5,
                seq_id,
                body,
            })
        }
    }
}

/// Whether a payload looks like a compact-protocol message (first byte
/// 0x82) rather than a binary one (0x80 strict version).
pub fn sniff(b: &[u8]) -> Option<Protocol> {
    match b.first() {
        Some(0x82) => Some(Protocol::Compact),
        Some(0x80) => Some(Protocol::Binary),
        _ => None,
    }
}

fn bin_string(r: &mut Reader<'_>) -> Result<String, TraceError> {
    let len = i32::from_be_bytes(r.be()?);
    let len = r.size(len.into())?;
    Ok(String::from_utf8_lossy(r.take(len)?).into_owned())
}

fn bin_value(r: &mut Reader<'_>, t: u8, depth: usize) -> Result<TValue, TraceError> {
    if depth > MAX_DEPTH {
        return Err(err("nesting too deep"));
    }
    Ok(match t {
        2 => TValue::Bool(r.u8()? != 0),
        3 => TValue::I8(r.u8()? as i8),
        4 => TValue::Double(f64::from_be_bytes(r.be()?)),
        6 => TValue::I16(i16::from_be_bytes(r.be()?)),
        8 => TValue::I32(i32::from_be_bytes(r.be()?)),
        10 => TValue::I64(i64::from_be_bytes(r.be()?)),
        11 => {
            let len = i32::from_be_bytes(r.be()?);
            let len = r.size(len.into())?;
            TValue::Binary(r.take(len)?.to_vec())
        }
        12 => {
            let mut f = Vec::new();
            loop {
                let ft = r.u8()?;
                if ft == 0 {
                    break;
                }
                let id = i16::from_be_bytes(r.be()?);
                f.push((id, bin_value(r, ft, depth + 1)?));
            }
            TValue::Struct(f)
        }
        13 => {
            let (kt, vt) = (r.u8()?, r.u8()?);
            let n = i32::from_be_bytes(r.be()?);
            let n = r.size(n.into())?;
            let mut m = Vec::with_capacity(n.min(1024));
            for _ in 0..n {
                m.push((bin_value(r, kt, depth + 1)?, bin_value(r, vt, depth + 1)?));
            }
            TValue::Map(m)
        }
        14 | 15 => {
            let et = r.u8()?;
            let n = i32::from_be_bytes(r.be()?);
            let n = r.size(n.into())?;
            let mut l = Vec::with_capacity(n.min(1024));
            for _ in 0..n {
                l.push(bin_value(r, et, depth + 1)?);
            }
            TValue::List(l)
        }
        _ => return Err(err(format!("unknown binary type {t}"))),
    })
}

fn cmp_struct(r: &mut Reader<'_>, depth: usize) -> Result<TValue, TraceError> {
    if depth > MAX_DEPTH {
        return Err(err("nesting too deep"));
    }
    let mut f = Vec::new();
    let mut last: i16 = 0;
    loop {
        let h = r.u8()?;
        if h == 0 {
            break;
        }
        let t = h & 0x0f;
        let delta = h >> 4;
        let id = if delta == 0 {
            i16::try_from(r.zigzag()?).map_err(|_| err("field id out of range"))?
        } else {
            last.wrapping_add(i16::from(delta))
        };
        last = id;
        let v = match t {
            1 => TValue::Bool(true),
            2 => TValue::Bool(false),
            _ => cmp_value(r, t, depth + 1)?,
        };
        f.push((id, v));
    }
    Ok(TValue::Struct(f))
}

fn cmp_value(r: &mut Reader<'_>, t: u8, depth: usize) -> Result<TValue, TraceError> {
    if depth > MAX_DEPTH {
        return Err(err("nesting too deep"));
    }
    Ok(match t {
        1 | 2 => TValue::Bool(r.u8()? == 1),
        3 => TValue::I8(r.u8()? as i8),
        4 => TValue::I16(r.zigzag()? as i16),
        5 => TValue::I32(r.zigzag()? as i32),
        6 => TValue::I64(r.zigzag()?),
        7 => TValue::Double(f64::from_le_bytes(r.be()?)),
        8 => {
            let len = r.varint()?;
            let len = r.size(len.min(i64::MAX as u64) as i64)?;
            TValue::Binary(r.take(len)?.to_vec())
        }
        9 | 10 => {
            let h = r.u8()?;
            let et = h & 0x0f;
            let n = if h >> 4 == 15 {
                r.varint()?.min(i64::MAX as u64) as i64
            } else {
                i64::from(h >> 4)
            };
            let n = r.size(n)?;
            let mut l = Vec::with_capacity(n.min(1024));
            for _ in 0..n {
                l.push(cmp_value(r, et, depth + 1)?);
            }
            TValue::List(l)
        }
        11 => {
            let n = r.varint()?.min(i64::MAX as u64) as i64;
            let n = r.size(n)?;
            let mut m = Vec::with_capacity(n.min(1024));
            if n > 0 {
                let kv = r.u8()?;
                for _ in 0..n {
                    m.push((
                        cmp_value(r, kv >> 4, depth + 1)?,
                        cmp_value(r, kv & 15, depth + 1)?,
                    ));
                }
            }
            TValue::Map(m)
        }
        12 => cmp_struct(r, depth)?,
        _ => return Err(err(format!("unknown compact type {t}"))),
    })
}

/// Thrift encoders, used by tests to build payloads the way Thrift
/// libraries write them.
pub mod encode {
    use super::{Protocol, TValue};

    fn bin_type(v: &TValue) -> u8 {
        match v {
            TValue::Bool(_) => 2,
            TValue::I8(_) => 3,
            TValue::Double(_) => 4,
            TValue::I16(_) => 6,
            TValue::I32(_) => 8,
            TValue::I64(_) => 10,
            TValue::Binary(_) => 11,
            TValue::Struct(_) => 12,
            TValue::Map(_) => 13,
            TValue::List(_) => 15,
        }
    }

    fn cmp_type(v: &TValue) -> u8 {
        match v {
            TValue::Bool(true) => 1,
            TValue::Bool(false) => 2,
            TValue::I8(_) => 3,
            TValue::I16(_) => 4,
            TValue::I32(_) => 5,
            TValue::I64(_) => 6,
            TValue::Double(_) => 7,
            TValue::Binary(_) => 8,
            TValue::List(_) => 9,
            TValue::Map(_) => 11,
            TValue::Struct(_) => 12,
        }
    }

    /// Encodes a value (a struct for the top level).
    pub fn value(out: &mut Vec<u8>, v: &TValue, p: Protocol) {
        match p {
            Protocol::Binary => bin(out, v),
            Protocol::Compact => cmp(out, v),
        }
    }

    /// Encodes a message envelope around an arguments struct.
    pub fn message(out: &mut Vec<u8>, name: &str, kind: u8, seq: i32, body: &TValue, p: Protocol) {
        match p {
            Protocol::Binary => {
                out.extend_from_slice(&(0x8001_0000u32 | u32::from(kind)).to_be_bytes());
                out.extend_from_slice(&(name.len() as i32).to_be_bytes());
                out.extend_from_slice(name.as_bytes());
                out.extend_from_slice(&seq.to_be_bytes());
            }
            Protocol::Compact => {
                out.push(0x82);
                out.push((kind << 5) | 1);
                varint(out, seq as u32 as u64);
                varint(out, name.len() as u64);
                out.extend_from_slice(name.as_bytes());
            }
        }
        value(out, body, p);
    }

    fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    fn zz(out: &mut Vec<u8>, v: i64) {
        varint(out, ((v << 1) ^ (v >> 63)) as u64);
    }

    fn bin(out: &mut Vec<u8>, v: &TValue) {
        match v {
            TValue::Bool(b) => out.push(u8::from(*b)),
            TValue::I8(x) => out.push(*x as u8),
            TValue::I16(x) => out.extend_from_slice(&x.to_be_bytes()),
            TValue::I32(x) => out.extend_from_slice(&x.to_be_bytes()),
            TValue::I64(x) => out.extend_from_slice(&x.to_be_bytes()),
            TValue::Double(x) => out.extend_from_slice(&x.to_be_bytes()),
            TValue::Binary(b) => {
                out.extend_from_slice(&(b.len() as i32).to_be_bytes());
                out.extend_from_slice(b);
            }
            TValue::Struct(f) => {
                for (id, x) in f {
                    out.push(bin_type(x));
                    out.extend_from_slice(&id.to_be_bytes());
                    bin(out, x);
                }
                out.push(0);
            }
            TValue::List(l) => {
                out.push(l.first().map_or(12, bin_type));
                out.extend_from_slice(&(l.len() as i32).to_be_bytes());
                l.iter().for_each(|x| bin(out, x));
            }
            TValue::Map(m) => {
                out.push(m.first().map_or(11, |x| bin_type(&x.0)));
                out.push(m.first().map_or(11, |x| bin_type(&x.1)));
                out.extend_from_slice(&(m.len() as i32).to_be_bytes());
                for (k, x) in m {
                    bin(out, k);
                    bin(out, x);
                }
            }
        }
    }

    fn cmp(out: &mut Vec<u8>, v: &TValue) {
        match v {
            TValue::Bool(b) => out.push(if *b { 1 } else { 2 }),
            TValue::I8(x) => out.push(*x as u8),
            TValue::I16(x) => zz(out, (*x).into()),
            TValue::I32(x) => zz(out, (*x).into()),
            TValue::I64(x) => zz(out, *x),
            TValue::Double(x) => out.extend_from_slice(&x.to_le_bytes()),
            TValue::Binary(b) => {
                varint(out, b.len() as u64);
                out.extend_from_slice(b);
            }
            TValue::Struct(f) => {
                let mut last = 0i16;
                for (id, x) in f {
                    let t = cmp_type(x);
                    let d = id.wrapping_sub(last);
                    if (1..=15).contains(&d) {
                        out.push(((d as u8) << 4) | t);
                    } else {
                        out.push(t);
                        zz(out, (*id).into());
                    }
                    last = *id;
                    if !matches!(x, TValue::Bool(_)) {
                        cmp(out, x);
                    }
                }
                out.push(0);
            }
            TValue::List(l) => {
                let et = l.first().map_or(12, |x| {
                    if matches!(x, TValue::Bool(_)) {
                        1
                    } else {
                        cmp_type(x)
                    }
                });
                if l.len() < 15 {
                    out.push(((l.len() as u8) << 4) | et);
                } else {
                    out.push(0xf0 | et);
                    varint(out, l.len() as u64);
                }
                l.iter().for_each(|x| cmp(out, x));
            }
            TValue::Map(m) => {
                varint(out, m.len() as u64);
                if let Some((k, x)) = m.first() {
                    out.push((cmp_type(k) << 4) | cmp_type(x));
                }
                for (k, x) in m {
                    cmp(out, k);
                    cmp(out, x);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> TValue {
        TValue::Struct(vec![
            (1, TValue::I64(-1)),
            (2, TValue::Binary(b"hello".to_vec())),
            (3, TValue::Bool(true)),
            (4, TValue::Bool(false)),
            (5, TValue::Double(1.25)),
            (
                6,
                TValue::List(
                    (0..20)
                        .map(|i| TValue::Struct(vec![(1, TValue::I32(i))]))
                        .collect(),
                ),
            ),
            (40, TValue::I16(-300)),
            (
                41,
                TValue::Map(vec![(TValue::Binary(b"k".to_vec()), TValue::I64(7))]),
            ),
            (42, TValue::I8(-2)),
        ])
    }

    #[test]
    fn both_protocols_round_trip() {
        for p in [Protocol::Binary, Protocol::Compact] {
            let mut b = Vec::new();
            encode::value(&mut b, &sample(), p);
            assert_eq!(decode_struct(&b, p).unwrap(), sample(), "{p:?}");
            let mut m = Vec::new();
            encode::message(&mut m, "emitBatch", 4, 7, &sample(), p);
            assert_eq!(sniff(&m), Some(p));
            let msg = decode_message(&m, p).unwrap();
            assert_eq!((msg.name.as_str(), msg.kind, msg.seq_id), ("emitBatch", 4, 7));
            assert_eq!(msg.body, sample());
            // every truncation fails cleanly
            for cut in 0..m.len() {
                assert!(decode_message(&m[..cut], p).is_err(), "{p:?} cut {cut}");
            }
        }
    }

    #[test]
    fn hostile_sizes_and_depth() {
        // binary list claiming 2^31-1 elements
        let b = [15u8, 0, 1, 12, 0x7f, 0xff, 0xff, 0xff];
        let e = decode_struct(&b, Protocol::Binary).unwrap_err();
        assert!(e.to_string().contains("container size"), "{e}");
        // compact string claiming a huge length
        let b = [0x18u8, 0xff, 0xff, 0xff, 0xff, 0x0f];
        assert!(decode_struct(&b, Protocol::Compact).is_err());
        // deep nesting
        let mut b = Vec::new();
        for _ in 0..100 {
            b.extend_from_slice(&[12, 0, 1]);
        }
        let e = decode_struct(&b, Protocol::Binary).unwrap_err();
        assert!(e.to_string().contains("too deep"), "{e}");
        let e = decode_message(&[0x82, 0x22], Protocol::Compact).unwrap_err();
        assert!(e.to_string().contains("version"), "{e}");
        let e = decode_message(&[0x80, 0x02, 0, 1], Protocol::Binary).unwrap_err();
        assert!(e.to_string().contains("version"), "{e}");
        assert!(decode_struct(&[0x0e, 1], Protocol::Compact).is_err());
    }

    #[test]
    fn pseudo_random_inputs_never_panic() {
        let mut x: u64 = 0x9e3779b97f4a7c15;
        for _ in 0..3000 {
            let mut b = Vec::new();
            for _ in 0..(x % 64) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                b.push(x as u8);
            }
            for p in [Protocol::Binary, Protocol::Compact] {
                let _ = decode_struct(&b, p);
                let _ = decode_message(&b, p);
            }
        }
    }
}
