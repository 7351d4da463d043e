//! Encodings of string columns inside a block.
//!
//! The encoder tries, in order, encodings that reproduce every value byte for
//! byte (each candidate is verified by re-formatting before it is chosen):
//!
//! | kind | when | payload after `kind, n` |
//! | --- | --- | --- |
//! | 5 stream label | every value equals the value of one stream label of its row | the label name |
//! | 2 timestamp | every value is RFC 3339 UTC `YYYY-MM-DDTHH:MM:SS[.f{d}]Z` with the same `d` | `d`, then per value the zigzag varint of (value - row timestamp) in units of `10^-d` s |
//! | 4 decimal | every value is a canonical decimal with the same number `f` (at most 3) of fraction digits | `f`, then the zigzag varint scaled integers |
//! | 3 dictionary | few distinct values (at most 1/4 of `n`, at most 65,536) | distinct count, a flag (1 = values are lowercase hex stored as bytes), the values (length-prefixed), a varint index per value |
//! | 1 hex | every value is lowercase hex of even length | byte-length varints, the decoded bytes |
//! | 6 template | free text (at least 16 values, average 16+ bytes, no byte 0x00/0x01) whose "skeletons" repeat (at most n/2 distinct) | the skeletons (text with each variable replaced by 0x01; a variable is a maximal run of `[A-Za-z0-9_]` holding a digit), a varint skeleton id per value, then the variables joined by 0x00 |
//! | 0 plain | otherwise | length varints, the bytes |
//!
//! "Row timestamp" is the record timestamp of the row holding the value, so
//! a JSON `"ts"` equal to the record's own timestamp costs no payload.

use crate::codec::{put_bytes, put_ivarint, put_uvarint, DecodeError, FxMap, Reader};
use sightline_model::Labels;

/// Per-row context shared by the columns of a block.
pub struct Rows<'a> {
    pub ts: &'a [i64],
    pub sids: &'a [u32],
    pub streams: &'a [Labels],
}

impl Rows<'_> {
    #[inline]
    fn stream(&self, row: u32) -> Option<&Labels> {
        self.streams.get(*self.sids.get(row as usize)? as usize)
    }
}

/// Values of one column, in row order, with the row index of each value.
#[derive(Default)]
pub struct ColBuf {
    data: Vec<u8>,
    offs: Vec<u32>,
    rows: Vec<u32>,
}

impl ColBuf {
    #[inline]
    pub fn push(&mut self, v: &str, row: u32) {
        if self.offs.is_empty() {
            self.offs.push(0);
        }
        self.data.extend_from_slice(v.as_bytes());
        self.offs.push(self.data.len() as u32);
        self.rows.push(row);
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    #[inline]
    fn get(&self, i: usize) -> &[u8] {
        &self.data[self.offs[i] as usize..self.offs[i + 1] as usize]
    }

    pub fn encode(&self, ctx: &Rows<'_>, out: &mut Vec<u8>) {
        let n = self.len();
        if n > 0
            && (self.try_label(ctx, out)
                || self.try_timestamp(ctx, out)
                || self.try_decimal(out)
                || self.try_dict(out)
                || self.try_hex(out)
                || self.try_template(out))
        {
            return;
        }
        out.push(0);
        put_uvarint(out, n as u64);
        for i in 0..n {
            put_uvarint(out, u64::from(self.offs[i + 1] - self.offs[i]));
        }
        out.extend_from_slice(&self.data);
    }

    fn try_label(&self, ctx: &Rows<'_>, out: &mut Vec<u8>) -> bool {
        let first = self.get(0);
        let Some(name) = ctx
            .stream(self.rows[0])
            .and_then(|l| l.iter().find(|p| p.value.as_bytes() == first).map(|p| p.name))
        else {
            return false;
        };
        let ok = (0..self.len()).all(|i| {
            ctx.stream(self.rows[i])
                .and_then(|l| l.get(name))
                .map(str::as_bytes)
                == Some(self.get(i))
        });
        if ok {
            out.push(5);
            put_uvarint(out, self.len() as u64);
            put_bytes(out, name.as_bytes());
        }
        ok
    }

    fn try_timestamp(&self, ctx: &Rows<'_>, out: &mut Vec<u8>) -> bool {
        let first = self.get(0);
        let Some((_, d)) = parse_rfc3339(first) else {
            return false;
        };
        let unit = 10i64.pow(9 - d);
        let start = out.len();
        out.push(2);
        put_uvarint(out, self.len() as u64);
        out.push(d as u8);
        let mut buf = Vec::with_capacity(40);
        for i in 0..self.len() {
            let v = self.get(i);
            let ok = match parse_rfc3339(v) {
                Some((ns, dd)) if dd == d => {
                    buf.clear();
                    format_rfc3339(ns, d, &mut buf);
                    if buf == v {
                        let row_ts = ctx.ts[self.rows[i] as usize];
                        put_ivarint(out, ns.div_euclid(unit).wrapping_sub(row_ts.div_euclid(unit)));
                        true
                    } else {
                        false
                    }
                }
                _ => false,
            };
            if !ok {
                out.truncate(start);
                return false;
            }
        }
        true
    }

    fn try_decimal(&self, out: &mut Vec<u8>) -> bool {
        let Some((_, f)) = parse_decimal(self.get(0)) else {
            return false;
        };
        let start = out.len();
        out.push(4);
        put_uvarint(out, self.len() as u64);
        out.push(f as u8);
        let mut buf = Vec::with_capacity(24);
        for i in 0..self.len() {
            let v = self.get(i);
            let ok = match parse_decimal(v) {
                Some((x, ff)) if ff == f => {
                    buf.clear();
                    format_decimal(x, f, &mut buf);
                    if buf == v {
                        put_ivarint(out, x);
                        true
                    } else {
                        false
                    }
                }
                _ => false,
            };
            if !ok {
                out.truncate(start);
                return false;
            }
        }
        true
    }

    fn try_dict(&self, out: &mut Vec<u8>) -> bool {
        let n = self.len();
        if n < 8 {
            return false;
        }
        let limit = (n / 4).min(65_536);
        let mut ids: FxMap<&[u8], u32> = FxMap::default();
        let mut order: Vec<&[u8]> = Vec::new();
        let mut idx = Vec::with_capacity(n);
        for i in 0..n {
            let v = self.get(i);
            let next = ids.len() as u32;
            let id = *ids.entry(v).or_insert_with(|| {
                order.push(v);
                next
            });
            if ids.len() > limit {
                return false;
            }
            idx.push(id);
        }
        out.push(3);
        put_uvarint(out, n as u64);
        put_uvarint(out, order.len() as u64);
        let hex = order.iter().all(|v| is_hex(v));
        out.push(u8::from(hex));
        for v in &order {
            if hex {
                put_uvarint(out, v.len() as u64 / 2);
                for pair in v.chunks_exact(2) {
                    out.push((hexval(pair[0]) << 4) | hexval(pair[1]));
                }
            } else {
                put_bytes(out, v);
            }
        }
        for id in idx {
            put_uvarint(out, u64::from(id));
        }
        true
    }

    fn try_template(&self, out: &mut Vec<u8>) -> bool {
        let n = self.len();
        if n < 16 || self.data.len() < 16 * n || self.data.iter().any(|&b| b <= 1) {
            return false;
        }
        let mut ids: FxMap<Vec<u8>, u32> = FxMap::default();
        let mut order: Vec<Vec<u8>> = Vec::new();
        let mut idx = Vec::with_capacity(n);
        let mut vars: Vec<u8> = Vec::with_capacity(self.data.len() / 3);
        let mut skel: Vec<u8> = Vec::with_capacity(256);
        for i in 0..n {
            let v = self.get(i);
            skel.clear();
            let mut p = 0;
            while p < v.len() {
                let b = v[p];
                if b.is_ascii_alphanumeric() || b == b'_' {
                    let start = p;
                    let mut digit = false;
                    while p < v.len() && (v[p].is_ascii_alphanumeric() || v[p] == b'_') {
                        digit |= v[p].is_ascii_digit();
                        p += 1;
                    }
                    if digit {
                        skel.push(1);
                        vars.extend_from_slice(&v[start..p]);
                        vars.push(0);
                    } else {
                        skel.extend_from_slice(&v[start..p]);
                    }
                } else {
                    skel.push(b);
                    p += 1;
                }
            }
            let next = ids.len() as u32;
            let id = match ids.get(skel.as_slice()) {
                Some(&id) => id,
                None => {
                    ids.insert(skel.clone(), next);
                    order.push(skel.clone());
                    next
                }
            };
            if ids.len() > n / 2 {
                return false;
            }
            idx.push(id);
        }
        out.push(6);
        put_uvarint(out, n as u64);
        put_uvarint(out, order.len() as u64);
        for sk in &order {
            put_bytes(out, sk);
        }
        for id in idx {
            put_uvarint(out, u64::from(id));
        }
        out.extend_from_slice(&vars);
        true
    }

    fn try_hex(&self, out: &mut Vec<u8>) -> bool {
        let ok = (0..self.len()).all(|i| is_hex(self.get(i)));
        if !ok {
            return false;
        }
        out.push(1);
        put_uvarint(out, self.len() as u64);
        for i in 0..self.len() {
            put_uvarint(out, u64::from(self.offs[i + 1] - self.offs[i]) / 2);
        }
        for pair in self.data.chunks_exact(2) {
            out.push((hexval(pair[0]) << 4) | hexval(pair[1]));
        }
        true
    }
}

#[inline]
fn is_hex(v: &[u8]) -> bool {
    v.len().is_multiple_of(2) && v.iter().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn unhex(b: &[u8], out: &mut Vec<u8>) {
    for &x in b {
        out.push(HEX[(x >> 4) as usize]);
        out.push(HEX[(x & 15) as usize]);
    }
}

#[inline]
fn hexval(c: u8) -> u8 {
    if c <= b'9' {
        c - b'0'
    } else {
        c - b'a' + 10
    }
}

/// A decoded string column. Typed kinds keep their numbers and format a
/// value only when it is asked for, so scanning a block for a few matching
/// rows does not pay for formatting every value.
pub enum StrCol {
    Text {
        data: String,
        offs: Vec<u32>,
    },
    Timestamp {
        digits: u32,
        ns: Vec<i64>,
    },
    Decimal {
        scale: u32,
        vals: Vec<i64>,
    },
    Dict {
        vals: Vec<String>,
        idx: Vec<u32>,
    },
    Label {
        name: String,
        rows: Vec<u32>,
    },
    /// Skeletons (0x01 marks a variable), skeleton per value, the variables
    /// blob (0x00-terminated), each variable's start, each value's first
    /// variable (n + 1 entries).
    Template {
        skels: Vec<String>,
        idx: Vec<u32>,
        vars: String,
        var_off: Vec<u32>,
        first_var: Vec<u32>,
    },
}

/// Charset classes of encoded columns (stored in the block's column
/// directory): which bytes the values can contain.
pub const CS_ANY: u8 = 0;
pub const CS_HEX: u8 = 1;
pub const CS_TIMESTAMP: u8 = 2;
pub const CS_DECIMAL: u8 = 3;
pub const CS_EMPTY: u8 = 4;

/// The charset class of an encoded column.
pub fn charset_class(encoded: &[u8]) -> u8 {
    let mut r = Reader::new(encoded);
    let (Ok(kind), Ok(n)) = (r.u8(), r.uvarint()) else {
        return CS_ANY;
    };
    if n == 0 {
        return CS_EMPTY;
    }
    match kind {
        1 => CS_HEX,
        2 => CS_TIMESTAMP,
        4 => CS_DECIMAL,
        3 => match (r.uvarint(), r.u8()) {
            (Ok(_), Ok(1)) => CS_HEX,
            _ => CS_ANY,
        },
        _ => CS_ANY,
    }
}

/// Whether a value of charset class `cs` can contain `needle`.
pub fn charset_admits(cs: u8, needle: &[u8]) -> bool {
    let set: &[u8] = match cs {
        CS_HEX => b"0123456789abcdef",
        CS_TIMESTAMP => b"0123456789-T:.Z",
        CS_DECIMAL => b"0123456789-.",
        CS_EMPTY => return false,
        _ => return true,
    };
    needle.iter().all(|b| set.contains(b))
}

impl StrCol {
    /// Decodes a column; `rows[i]` is the row holding value `i`.
    pub fn parse(b: &[u8], rows: &[u32], ctx: &Rows<'_>) -> Result<Self, String> {
        let e = |e: DecodeError| format!("string column: {}", e.0);
        let mut r = Reader::new(b);
        let kind = r.u8().map_err(e)?;
        let n = r.len(rows.len()).map_err(e)?;
        if n != rows.len() {
            return Err(format!(
                "string column has {n} values, the rows want {}",
                rows.len()
            ));
        }
        if rows.iter().any(|&r| r as usize >= ctx.ts.len()) {
            return Err("string column row out of range".into());
        }
        let col = match kind {
            0 | 1 => {
                let mut offs = Vec::with_capacity(n + 1);
                offs.push(0u32);
                let mut total = 0u64;
                for _ in 0..n {
                    total += r.uvarint().map_err(e)?;
                    offs.push(total.min(u64::from(u32::MAX / 2)) as u32);
                }
                let bytes = r.take(r.remaining()).map_err(e)?;
                if total != bytes.len() as u64 {
                    return Err("string column length mismatch".into());
                }
                let data = if kind == 0 {
                    String::from_utf8(bytes.to_vec()).map_err(|_| "string column is not UTF-8".to_string())?
                } else {
                    let mut d = Vec::with_capacity(bytes.len() * 2);
                    unhex(bytes, &mut d);
                    offs.iter_mut().for_each(|o| *o *= 2);
                    String::from_utf8(d).map_err(|_| "hex column".to_string())?
                };
                if offs.iter().any(|&o| !data.is_char_boundary(o as usize)) {
                    return Err("string column offsets split characters".into());
                }
                StrCol::Text { data, offs }
            }
            2 => {
                let digits = u32::from(r.u8().map_err(e)?);
                if digits > 9 {
                    return Err("timestamp column precision out of range".into());
                }
                let unit = 10i64.pow(9 - digits);
                let mut ns = Vec::with_capacity(n);
                for &row in rows {
                    let ts = ctx.ts[row as usize];
                    let units = ts.div_euclid(unit).wrapping_add(r.ivarint().map_err(e)?);
                    ns.push(units.saturating_mul(unit));
                }
                StrCol::Timestamp { digits, ns }
            }
            3 => {
                let k = r.len(n).map_err(e)?;
                let hex = r.u8().map_err(e)? == 1;
                let mut vals = Vec::with_capacity(k);
                for _ in 0..k {
                    let v = r.bytes().map_err(e)?;
                    let v = if hex {
                        let mut h = Vec::with_capacity(v.len() * 2);
                        unhex(v, &mut h);
                        h
                    } else {
                        v.to_vec()
                    };
                    vals.push(String::from_utf8(v).map_err(|_| "dictionary value is not UTF-8".to_string())?);
                }
                let mut idx = Vec::with_capacity(n);
                for _ in 0..n {
                    idx.push(r.len(k.saturating_sub(1)).map_err(e)? as u32);
                }
                if k == 0 && n > 0 {
                    return Err("dictionary index out of range".into());
                }
                StrCol::Dict { vals, idx }
            }
            4 => {
                let scale = u32::from(r.u8().map_err(e)?);
                if scale > 3 {
                    return Err("decimal column scale out of range".into());
                }
                let mut vals = Vec::with_capacity(n);
                for _ in 0..n {
                    vals.push(r.ivarint().map_err(e)?);
                }
                StrCol::Decimal { scale, vals }
            }
            5 => {
                let name = r.str().map_err(e)?.to_string();
                let has: Vec<bool> = ctx.streams.iter().map(|l| l.get(&name).is_some()).collect();
                let ok = |row: u32| {
                    ctx.sids
                        .get(row as usize)
                        .is_some_and(|&s| has.get(s as usize).copied().unwrap_or(false))
                };
                if !rows.iter().all(|&row| ok(row)) {
                    return Err("stream label column: row stream lacks the label".into());
                }
                StrCol::Label {
                    name,
                    rows: rows.to_vec(),
                }
            }
            6 => {
                let k = r.len(n).map_err(e)?;
                let mut skels = Vec::with_capacity(k);
                for _ in 0..k {
                    skels.push(r.bytes().map_err(e)?);
                }
                let mut idx = Vec::with_capacity(n);
                for _ in 0..n {
                    idx.push(r.len(k.saturating_sub(1)).map_err(e)?);
                }
                if k == 0 && n > 0 {
                    return Err("template index out of range".into());
                }
                let vars = r.take(r.remaining()).map_err(e)?;
                let vars = String::from_utf8(vars.to_vec())
                    .map_err(|_| "template variables are not UTF-8".to_string())?;
                let skels: Vec<String> = skels
                    .into_iter()
                    .map(|s| String::from_utf8(s.to_vec()))
                    .collect::<Result<_, _>>()
                    .map_err(|_| "template skeleton is not UTF-8".to_string())?;
                let markers: Vec<u32> = skels
                    .iter()
                    .map(|s| s.bytes().filter(|&b| b == 1).count() as u32)
                    .collect();
                let mut first_var = Vec::with_capacity(n + 1);
                let mut total = 0u64;
                for &id in &idx {
                    first_var.push(total as u32);
                    total += u64::from(markers[id]);
                    // every variable needs at least its terminator byte
                    if total > vars.len() as u64 {
                        return Err("template variables run out".into());
                    }
                }
                first_var.push(total as u32);
                let total = total as u32;
                let mut var_off = Vec::with_capacity(total as usize + 1);
                var_off.push(0u32);
                for p in memchr::memchr_iter(0, vars.as_bytes()) {
                    if var_off.len() > total as usize {
                        break;
                    }
                    var_off.push(p as u32 + 1);
                }
                if var_off.len() <= total as usize {
                    return Err("template variables run out".into());
                }
                StrCol::Template {
                    skels,
                    idx: idx.into_iter().map(|i| i as u32).collect(),
                    vars,
                    var_off,
                    first_var,
                }
            }
            k => return Err(format!("unknown string column kind {k}")),
        };
        Ok(col)
    }

    pub fn len(&self) -> usize {
        match self {
            StrCol::Text { offs, .. } => offs.len() - 1,
            StrCol::Timestamp { ns, .. } => ns.len(),
            StrCol::Decimal { vals, .. } => vals.len(),
            StrCol::Dict { idx, .. } => idx.len(),
            StrCol::Label { rows, .. } => rows.len(),
            StrCol::Template { idx, .. } => idx.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends value `i` to `out`.
    pub fn push_to(&self, i: usize, ctx: &Rows<'_>, out: &mut String) {
        match self {
            StrCol::Text { data, offs } => out.push_str(&data[offs[i] as usize..offs[i + 1] as usize]),
            StrCol::Timestamp { digits, ns } => {
                let mut b = Vec::with_capacity(32);
                format_rfc3339(ns[i], *digits, &mut b);
                out.push_str(std::str::from_utf8(&b).unwrap_or_default());
            }
            StrCol::Decimal { scale, vals } => {
                let mut b = Vec::with_capacity(24);
                format_decimal(vals[i], *scale, &mut b);
                out.push_str(std::str::from_utf8(&b).unwrap_or_default());
            }
            StrCol::Dict { vals, idx } => out.push_str(&vals[idx[i] as usize]),
            StrCol::Label { name, rows } => {
                out.push_str(ctx.stream(rows[i]).and_then(|l| l.get(name)).unwrap_or(""))
            }
            StrCol::Template {
                skels,
                idx,
                vars,
                var_off,
                first_var,
            } => {
                let mut v = first_var[i] as usize;
                for (k, part) in skels[idx[i] as usize].split('\u{1}').enumerate() {
                    if k > 0 {
                        out.push_str(&vars[var_off[v] as usize..var_off[v + 1] as usize - 1]);
                        v += 1;
                    }
                    out.push_str(part);
                }
            }
        }
    }

    /// Value `i` as an owned string.
    pub fn get(&self, i: usize, ctx: &Rows<'_>) -> String {
        let mut s = String::new();
        self.push_to(i, ctx, &mut s);
        s
    }

    /// Marks in `hit` (indexed by value) every value containing `needle`.
    pub fn mark_containing(&self, needle: &[u8], ctx: &Rows<'_>, hit: &mut [bool]) {
        match self {
            StrCol::Text { data, offs } => {
                let d = data.as_bytes();
                let mut from = 0;
                while let Some(p) = memchr::memmem::find(&d[from..], needle) {
                    let pos = (from + p) as u32;
                    // the value holding the match start
                    let i = offs.partition_point(|&o| o <= pos) - 1;
                    if pos as usize + needle.len() <= offs[i + 1] as usize {
                        hit[i] = true;
                    }
                    from += p + 1;
                }
            }
            StrCol::Dict { vals, idx } => {
                let m: Vec<bool> = vals
                    .iter()
                    .map(|v| memchr::memmem::find(v.as_bytes(), needle).is_some())
                    .collect();
                if m.iter().any(|&x| x) {
                    for (h, &k) in hit.iter_mut().zip(idx) {
                        *h |= m[k as usize];
                    }
                }
            }
            StrCol::Label { name, rows } => {
                let m: Vec<bool> = ctx
                    .streams
                    .iter()
                    .map(|l| {
                        l.get(name)
                            .is_some_and(|v| memchr::memmem::find(v.as_bytes(), needle).is_some())
                    })
                    .collect();
                if m.iter().any(|&x| x) {
                    for (h, &row) in hit.iter_mut().zip(rows) {
                        let sid = ctx.sids.get(row as usize).copied().unwrap_or(0) as usize;
                        *h |= m.get(sid).copied().unwrap_or(false);
                    }
                }
            }
            StrCol::Template {
                skels,
                idx,
                vars,
                var_off,
                first_var,
            } if needle.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'_') => {
                // A needle of token bytes lies inside one token run: a
                // variable or a token of the skeleton, never across.
                let in_skel: Vec<bool> = skels
                    .iter()
                    .map(|s| contains_bytes(s.as_bytes(), needle))
                    .collect();
                if in_skel.iter().any(|&x| x) {
                    for (h, &k) in hit.iter_mut().zip(idx) {
                        *h |= in_skel[k as usize];
                    }
                }
                let vb = vars.as_bytes();
                let mut from = 0;
                while let Some(p) = memchr::memmem::find(&vb[from..], needle) {
                    let pos = (from + p) as u32;
                    let var = var_off.partition_point(|&o| o <= pos) - 1;
                    let value = first_var.partition_point(|&f| f as usize <= var) - 1;
                    if let Some(h) = hit.get_mut(value) {
                        *h = true;
                    }
                    from += p + 1;
                }
            }
            StrCol::Template {
                vars,
                var_off,
                first_var,
                ..
            } if interior_var(needle).is_some() => {
                // The needle holds a whole variable: only values with that
                // exact variable are rebuilt and checked.
                let t = interior_var(needle).expect("checked");
                let vb = vars.as_bytes();
                let mut pat = t.to_vec();
                pat.push(0);
                let mut s = String::new();
                let mut from = 0;
                while let Some(p) = memchr::memmem::find(&vb[from..], &pat) {
                    let pos = from + p;
                    from = pos + 1;
                    if pos > 0 && vb[pos - 1] != 0 {
                        continue;
                    }
                    let var = var_off.partition_point(|&o| o as usize <= pos) - 1;
                    let value = first_var.partition_point(|&f| f as usize <= var) - 1;
                    if value < hit.len() && !hit[value] {
                        s.clear();
                        self.push_to(value, ctx, &mut s);
                        hit[value] = contains_bytes(s.as_bytes(), needle);
                    }
                }
            }
            StrCol::Template { .. } => {
                let mut data = String::with_capacity(self.len() * 64);
                let mut offs = Vec::with_capacity(self.len() + 1);
                offs.push(0u32);
                for i in 0..self.len() {
                    self.push_to(i, ctx, &mut data);
                    offs.push(data.len() as u32);
                }
                StrCol::Text { data, offs }.mark_containing(needle, ctx, hit);
            }
            _ => {
                let charset: &[u8] = match self {
                    StrCol::Timestamp { .. } => b"0123456789-T:.Z",
                    _ => b"0123456789-.",
                };
                if needle.iter().any(|b| !charset.contains(b)) {
                    return;
                }
                let mut s = String::new();
                for (i, h) in hit.iter_mut().enumerate() {
                    s.clear();
                    self.push_to(i, ctx, &mut s);
                    *h |= memchr::memmem::find(s.as_bytes(), needle).is_some();
                }
            }
        }
    }
}

/// The longest token of `needle` bounded by non-token bytes inside it that
/// contains a digit: in a template column it can only be a whole variable.
fn interior_var(needle: &[u8]) -> Option<&[u8]> {
    let tok = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut best: Option<&[u8]> = None;
    let mut i = 0;
    while i < needle.len() {
        if !tok(needle[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < needle.len() && tok(needle[i]) {
            i += 1;
        }
        let t = &needle[start..i];
        if start > 0
            && i < needle.len()
            && t.iter().any(u8::is_ascii_digit)
            && best.is_none_or(|b| b.len() < t.len())
        {
            best = Some(t);
        }
    }
    best
}

#[inline]
fn contains_bytes(h: &[u8], n: &[u8]) -> bool {
    memchr::memmem::find(h, n).is_some()
}

/// `-?(0|[1-9][0-9]*)(\.[0-9]{1,9})?` as (scaled integer, fraction digits).
pub fn parse_decimal(v: &[u8]) -> Option<(i64, u32)> {
    let (neg, digits) = match v.first()? {
        b'-' => (true, &v[1..]),
        _ => (false, v),
    };
    let (int, frac) = match memchr::memchr(b'.', digits) {
        Some(p) => (&digits[..p], Some(&digits[p + 1..])),
        None => (digits, None),
    };
    if int.is_empty() || int.len() > 15 || (int.len() > 1 && int[0] == b'0') {
        return None;
    }
    let mut x: i64 = 0;
    for &c in int {
        if !c.is_ascii_digit() {
            return None;
        }
        x = x * 10 + i64::from(c - b'0');
    }
    let mut f = 0u32;
    if let Some(frac) = frac {
        if frac.is_empty() || frac.len() > 3 {
            return None;
        }
        for &c in frac {
            if !c.is_ascii_digit() {
                return None;
            }
            x = x * 10 + i64::from(c - b'0');
            f += 1;
        }
    }
    if neg && x == 0 {
        return None; // "-0" does not round-trip
    }
    Some((if neg { -x } else { x }, f))
}

pub fn format_decimal(x: i64, f: u32, out: &mut Vec<u8>) {
    if x < 0 {
        out.push(b'-');
    }
    let a = x.unsigned_abs();
    let p = 10u64.pow(f);
    let int = a / p;
    out.extend_from_slice(int.to_string().as_bytes());
    if f > 0 {
        out.push(b'.');
        let frac = a % p;
        let s = frac.to_string();
        out.extend(std::iter::repeat_n(b'0', f as usize - s.len()));
        out.extend_from_slice(s.as_bytes());
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z` as (ns since epoch, fraction digits).
pub fn parse_rfc3339(v: &[u8]) -> Option<(i64, u32)> {
    if v.len() < 20 || v[4] != b'-' || v[7] != b'-' || v[10] != b'T' || v[13] != b':' || v[16] != b':' {
        return None;
    }
    if *v.last()? != b'Z' {
        return None;
    }
    let num = |a: usize, b: usize| -> Option<i64> {
        let mut x = 0i64;
        for &c in &v[a..b] {
            if !c.is_ascii_digit() {
                return None;
            }
            x = x * 10 + i64::from(c - b'0');
        }
        Some(x)
    };
    let (y, mo, d) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (h, mi, s) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 59 {
        return None;
    }
    let (frac, digits) = if v.len() == 20 {
        (0, 0)
    } else {
        if v[19] != b'.' || v.len() < 22 || v.len() > 30 {
            return None;
        }
        let f = num(20, v.len() - 1)?;
        let digits = (v.len() - 21) as u32;
        (f * 10i64.pow(9 - digits), digits)
    };
    let days = days_from_civil(y, mo, d);
    Some((
        (days * 86_400 + h * 3600 + mi * 60 + s) * 1_000_000_000 + frac,
        digits,
    ))
}

pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
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

/// Formats `ns` as `YYYY-MM-DDTHH:MM:SS[.f{digits}]Z` (fraction truncated).
pub fn format_rfc3339(ns: i64, digits: u32, out: &mut Vec<u8>) {
    use std::io::Write;
    let secs = ns.div_euclid(1_000_000_000);
    let sub = ns.rem_euclid(1_000_000_000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    let _ = write!(
        out,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        s / 3600,
        s / 60 % 60,
        s % 60
    );
    if digits > 0 {
        let f = sub / 10i64.pow(9 - digits);
        let _ = write!(out, ".{f:0w$}", w = digits as usize);
    }
    out.push(b'Z');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt(vals: &[&str], ts: &[i64]) -> u8 {
        let streams = [
            Labels::from_pairs([("pod", "p-1"), ("app", "x")]),
            Labels::from_pairs([("pod", "p-2")]),
        ];
        let sids: Vec<u32> = (0..ts.len() as u32).map(|i| i % 2).collect();
        let ctx = Rows {
            ts,
            sids: &sids,
            streams: &streams,
        };
        let mut c = ColBuf::default();
        let rows: Vec<u32> = (0..vals.len() as u32).collect();
        for (v, r) in vals.iter().zip(&rows) {
            c.push(v, *r);
        }
        let mut out = Vec::new();
        c.encode(&ctx, &mut out);
        let cs = charset_class(&out);
        for v in vals {
            assert!(charset_admits(cs, v.as_bytes()), "{v:?} in class {cs}");
        }
        let d = StrCol::parse(&out, &rows, &ctx).unwrap();
        let got: Vec<String> = (0..d.len()).map(|i| d.get(i, &ctx)).collect();
        assert_eq!(got, vals);
        // search agrees with a scan of the values
        for needle in [
            "1",
            "p-",
            "ea",
            "héllo",
            "x y",
            "2026-11",
            "zz",
            "logged",
            "ann",
            "code_7",
            "3ms",
            "in from 10",
            "from 10.0.3.21 after",
        ] {
            let mut hit = vec![false; d.len()];
            d.mark_containing(needle.as_bytes(), &ctx, &mut hit);
            let want: Vec<bool> = vals.iter().map(|v| v.contains(needle)).collect();
            assert_eq!(hit, want, "{needle}");
        }
        out[0]
    }

    #[test]
    fn every_kind_round_trips() {
        let t = 1_795_000_000_000_460_000i64;
        assert_eq!(
            rt(
                &["2026-11-18T11:06:40.000460Z", "2026-11-18T11:06:41.000460Z"],
                &[t, t]
            ),
            2
        );
        assert_eq!(rt(&["2026-11-18T11:06:40Z", "1969-12-31T23:59:59Z"], &[0, 5]), 2);
        // mixed precision falls back
        assert_ne!(
            rt(&["2026-11-18T11:06:40Z", "2026-11-18T11:06:40.1Z"], &[0, 0]),
            2
        );
        assert_eq!(rt(&["5.546", "-0.001", "120.000"], &[0; 3]), 4);
        assert_eq!(rt(&["200", "404", "0", "-7"], &[0; 4]), 4);
        assert_ne!(rt(&["007", "1"], &[0; 2]), 4);
        assert_ne!(rt(&["-0", "1"], &[0; 2]), 4);
        assert_ne!(rt(&["1.5", "2.25"], &[0; 2]), 4);
        let many: Vec<&str> = (0..40).map(|i| ["info", "warn", "error"][i % 3]).collect();
        assert_eq!(rt(&many, &[0; 40]), 3);
        assert_eq!(rt(&["deadbeef", "00"], &[0; 2]), 1);
        assert_eq!(rt(&["p-1", "p-2", "p-1"], &[0; 3]), 5);
        let pods: Vec<&str> = (0..1000).map(|i| ["p-1", "p-2"][i % 2]).collect();
        assert_eq!(rt(&pods, &[0; 1000]), 5);
        assert_ne!(rt(&["p-1", "p-1"], &[0; 2]), 5);
        let ids: Vec<String> = (0..40).map(|i| format!("{:032x}", i % 5)).collect();
        let ids: Vec<&str> = ids.iter().map(|s| s.as_str()).collect();
        assert_eq!(rt(&ids, &[0; 40]), 3);
        assert_eq!(rt(&["héllo", "", "x y"], &[0; 3]), 0);
        let msgs: Vec<String> = (0..40)
            .map(|i| {
                format!(
                    "user {} logged in from 10.0.{i}.{} after {i}ms, ünïcode_{i}x",
                    ["ann", "bob"][i % 2],
                    i * 7
                )
            })
            .collect();
        let msgs: Vec<&str> = msgs.iter().map(|s| s.as_str()).collect();
        assert_eq!(rt(&msgs, &[0; 40]), 6);
        assert_eq!(rt(&[], &[]), 0);
    }

    #[test]
    fn rfc3339_round_trips() {
        for (s, d) in [
            ("2026-02-28T23:59:59.123456789Z", 9),
            ("2000-02-29T00:00:00Z", 0),
            ("1970-01-01T00:00:00.5Z", 1),
        ] {
            let (ns, dd) = parse_rfc3339(s.as_bytes()).unwrap();
            assert_eq!(dd, d);
            let mut out = Vec::new();
            format_rfc3339(ns, d, &mut out);
            assert_eq!(out, s.as_bytes());
        }
        assert!(parse_rfc3339(b"2026-13-01T00:00:00Z").is_none());
        assert!(parse_rfc3339(b"2026-01-01T00:00:00+01:00").is_none());
    }

    #[test]
    fn corrupt_columns_error() {
        let ctx = Rows {
            ts: &[0, 0],
            sids: &[0, 0],
            streams: &[Labels::from_pairs([("a", "b")])],
        };
        assert!(StrCol::parse(&[9, 0], &[], &ctx).is_err());
        assert!(StrCol::parse(&[0, 2, 1], &[0, 1], &ctx).is_err());
        assert!(StrCol::parse(&[3, 2, 1, 0, 1, b'a', 5, 0], &[0, 1], &ctx).is_err());
        assert!(StrCol::parse(&[2, 1, 12, 0], &[0], &ctx).is_err());
        assert!(StrCol::parse(&[5, 1, 1, b'z'], &[0], &ctx).is_err());
        assert!(StrCol::parse(&[0, 1, 0], &[7], &ctx).is_err());
        assert!(StrCol::parse(&[6, 1, 1, 2, 1, 1, 0], &[0], &ctx).is_err());
    }
}
