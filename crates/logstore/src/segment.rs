//! Immutable columnar segments.
//!
//! One segment holds the records of one tenant and one UTC day, sorted by
//! timestamp (ties in arrival order), cut into blocks of at most
//! `block_rows` rows / `block_bytes` payload bytes. Layout:
//!
//! ```text
//! "SLSEG001" | block 0 | block 1 | ... | footer | footer_len:u32le | footer_crc:u32le | "SLSEG001"
//! ```
//!
//! A block is a sequence of column frames, each zstd-compressed (or stored
//! as-is when tiny), in this order:
//!
//! | # | column | encoding |
//! | --- | --- | --- |
//! | 0 | timestamps | a byte `e`, then zigzag varint deltas of `(ts - min_ts) / 10^e` (`10^e` divides every offset) |
//! | 1 | stream ids | segment stream id per row (varint) |
//! | 2 | severity | varint per row, 0 = none, else severity + 1 |
//! | 3 | trace ids | presence byte per row, then the 16-byte ids |
//! | 4 | span ids | presence byte per row, then the 8-byte ids |
//! | 5 | dictionary | field names, JSON key names, field shapes, JSON shapes |
//! | 6 | field shape | varint per row: index of the row's field-name sequence |
//! | 7 | line shape | varint per row: 0 = raw line, k = JSON shape k-1 ([`crate::shred`]) |
//! | 8 | raw lines | string column |
//! | 9.. | one string column per field name, then one per JSON key | values of the rows that have it, in row order |
//!
//! String columns use the encodings of [`crate::colenc`].
//!
//! Rows are in time order rather than stream order: neighbouring lines of
//! different streams share trace ids, user ids and templates, which the
//! per-column compressors exploit (measured in `docs/storage-logs.md`); the
//! per-block stream list still lets a stream selector skip blocks.
//!
//! The footer (binary, varints) holds the tenant, day, time range, the WAL
//! flush sequences and replaced segments (for crash recovery, see the store),
//! the stream table, and per block: offset, length, CRC-32 of the block bytes,
//! row count, time range, per-stream row/byte counts, the column directory,
//! the token bloom filter ([`crate::tokens`]) and the trace-id bloom filter.

use crate::bloom::Bloom;
use crate::codec::{put_bytes, put_ivarint, put_uvarint, DecodeError, FxMap, HashSet64, Reader};
use crate::colenc::{self, ColBuf, Rows, StrCol};
use crate::record::LogRecord;
use crate::shred::{self, shred, Shredded};
use crate::tokens;
use sightline_model::Labels;

pub const MAGIC: &[u8; 8] = b"SLSEG001";
const TRAILER: usize = 16;

const C_TS: usize = 0;
const C_SID: usize = 1;
const C_SEV: usize = 2;
const C_TRACE: usize = 3;
const C_SPAN: usize = 4;
const C_DICT: usize = 5;
const C_FSHAPE: usize = 6;
const C_MSHAPE: usize = 7;
const C_RAW: usize = 8;
const C_FIXED: usize = 9;

/// Segment build parameters.
#[derive(Clone, Debug)]
pub struct BuildOptions {
    pub block_rows: usize,
    pub block_bytes: usize,
    pub zstd_level: i32,
    /// Level for large free-text columns (messages, raw lines), where a
    /// slower level pays off most.
    pub zstd_level_text: i32,
    /// Columns at least this large (uncompressed) with free text use
    /// `zstd_level_text`.
    pub text_column_bytes: usize,
    pub bloom_bits_per_key: usize,
}

impl Default for BuildOptions {
    fn default() -> Self {
        Self {
            block_rows: 8192,
            block_bytes: 1 << 20,
            zstd_level: 3,
            zstd_level_text: 7,
            text_column_bytes: 32 << 10,
            bloom_bits_per_key: 8,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ColMeta {
    /// Stored length.
    pub clen: u32,
    /// Uncompressed length.
    pub rlen: u32,
    pub compressed: bool,
    /// Which bytes values can contain ([`crate::colenc::charset_class`]), so
    /// a search can skip the column without decompressing it.
    pub charset: u8,
}

#[derive(Clone, Debug)]
pub struct BlockMeta {
    pub offset: u64,
    pub len: u32,
    pub crc: u32,
    pub rows: u32,
    pub min_ts: i64,
    pub max_ts: i64,
    /// `(segment stream id, rows, payload bytes)`, ascending stream id.
    pub streams: Vec<(u32, u32, u64)>,
    pub cols: Vec<ColMeta>,
    pub tokens: Bloom,
    pub traces: Bloom,
}

#[derive(Clone, Debug)]
pub struct SegmentMeta {
    pub tenant: String,
    pub day: i64,
    pub min_ts: i64,
    pub max_ts: i64,
    pub rows: u64,
    pub raw_bytes: u64,
    /// WAL cut sequences whose data this segment holds.
    pub flush_seqs: Vec<u64>,
    /// Keys of segments this one replaces (compaction).
    pub replaces: Vec<String>,
    pub streams: Vec<Labels>,
    pub blocks: Vec<BlockMeta>,
}

/// Largest row count and uncompressed column size a footer may declare
/// (bounds allocations when reading damaged files).
pub const MAX_BLOCK_ROWS: usize = 1 << 24;
pub const MAX_COLUMN_BYTES: usize = 1 << 30;

/// Nanoseconds per day; segments are partitioned by `ts.div_euclid(DAY_NS)`.
pub const DAY_NS: i64 = 86_400 * 1_000_000_000;

pub fn day_of(ts: i64) -> i64 {
    ts.div_euclid(DAY_NS)
}

// ---------------------------------------------------------------- building

/// Builds a segment from `rows`, which must be sorted by (stream, ts) with
/// `sids[i]` the index into `streams` of `rows[i].stream`.
#[allow(clippy::too_many_arguments)]
pub fn build(
    tenant: &str,
    day: i64,
    streams: Vec<Labels>,
    rows: &[&LogRecord],
    sids: &[u32],
    flush_seqs: Vec<u64>,
    replaces: Vec<String>,
    opts: &BuildOptions,
) -> (Vec<u8>, SegmentMeta) {
    debug_assert_eq!(rows.len(), sids.len());
    let mut out = Vec::with_capacity(1 << 20);
    out.extend_from_slice(MAGIC);
    let mut meta = SegmentMeta {
        tenant: tenant.to_string(),
        day,
        min_ts: i64::MAX,
        max_ts: i64::MIN,
        rows: rows.len() as u64,
        raw_bytes: 0,
        flush_seqs,
        replaces,
        streams,
        blocks: Vec::new(),
    };
    let mut bb = BlockBuilder::default();
    let mut start = 0;
    while start < rows.len() {
        let mut end = start;
        let mut bytes = 0usize;
        while end < rows.len()
            && end - start < opts.block_rows.clamp(1, MAX_BLOCK_ROWS)
            && (bytes < opts.block_bytes || end == start)
        {
            bytes += rows[end].size_bytes();
            end += 1;
        }
        let bm = bb.build(
            &rows[start..end],
            &sids[start..end],
            &meta.streams,
            opts,
            &mut out,
        );
        meta.min_ts = meta.min_ts.min(bm.min_ts);
        meta.max_ts = meta.max_ts.max(bm.max_ts);
        meta.raw_bytes += bm.streams.iter().map(|s| s.2).sum::<u64>();
        meta.blocks.push(bm);
        start = end;
    }
    let footer = encode_footer(&meta);
    out.extend_from_slice(&footer);
    out.extend_from_slice(&(footer.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&footer).to_le_bytes());
    out.extend_from_slice(MAGIC);
    (out, meta)
}

/// A JSON line shape: separator style and `(key id, item kind)` per item
/// (see [`crate::shred`]).
type MShapeKey = (u8, Vec<(u32, u8)>);

#[derive(Default)]
struct BlockBuilder {
    cols: Vec<Vec<u8>>,
    tokens: HashSet64,
    traces: Vec<u64>,
    zctx: Option<zstd::bulk::Compressor<'static>>,
    zctx_text: Option<zstd::bulk::Compressor<'static>>,
}

impl BlockBuilder {
    fn build(
        &mut self,
        rows: &[&LogRecord],
        sids: &[u32],
        streams: &[Labels],
        opts: &BuildOptions,
        out: &mut Vec<u8>,
    ) -> BlockMeta {
        let n = rows.len();
        let min_ts = rows.iter().map(|r| r.ts_ns).min().unwrap_or(0);
        let max_ts = rows.iter().map(|r| r.ts_ns).max().unwrap_or(0);
        let mut ts = Vec::with_capacity(n * 2);
        let mut sid_col = Vec::new();
        let mut sev = Vec::with_capacity(n);
        let mut trace = vec![0u8; n];
        let mut span = vec![0u8; n];
        let mut fshape = Vec::with_capacity(n);
        let mut mshape = Vec::with_capacity(n);
        let mut raw = ColBuf::default();
        let mut field_names: FxMap<&str, u32> = FxMap::default();
        let mut field_cols: Vec<ColBuf> = Vec::new();
        let mut fshapes: FxMap<Vec<u32>, u32> = FxMap::default();
        let mut key_names: FxMap<(u32, &str), u32> = FxMap::default();
        let mut parents: Vec<u32> = Vec::new();
        let mut key_cols: Vec<ColBuf> = Vec::new();
        let mut mshapes: FxMap<MShapeKey, u32> = FxMap::default();
        self.tokens.clear();
        self.traces.clear();
        // largest power of ten dividing every offset from min_ts
        let mut exp = 9u32;
        for r in rows {
            while exp > 0 && (r.ts_ns.wrapping_sub(min_ts)) % 10i64.pow(exp) != 0 {
                exp -= 1;
            }
        }
        let unit = 10i64.pow(exp);
        ts.push(exp as u8);
        let mut per_stream: Vec<(u32, u64)> = Vec::new();
        let mut prev = 0i64;
        let mut scratch_f: Vec<u32> = Vec::new();
        let mut scratch_m: MShapeKey = (0, Vec::new());
        let mut sh = Shredded::default();
        for (i, r) in rows.iter().enumerate() {
            let off = r.ts_ns.wrapping_sub(min_ts) / unit;
            put_ivarint(&mut ts, off.wrapping_sub(prev));
            prev = off;
            let sid = sids[i];
            put_uvarint(&mut sid_col, u64::from(sid));
            if per_stream.len() <= sid as usize {
                per_stream.resize(sid as usize + 1, (0, 0));
            }
            per_stream[sid as usize].0 += 1;
            per_stream[sid as usize].1 += r.size_bytes() as u64;
            put_uvarint(&mut sev, r.severity.map_or(0, |s| u64::from(s) + 1));
            if let Some(t) = &r.trace_id {
                trace[i] = 1;
                trace.extend_from_slice(t);
                self.traces.push(tokens::hash(t));
            }
            if let Some(s) = &r.span_id {
                span[i] = 1;
                span.extend_from_slice(s);
            }
            scratch_f.clear();
            for (k, v) in &r.fields {
                let next = field_names.len() as u32;
                let id = *field_names.entry(k.as_str()).or_insert(next);
                if id as usize == field_cols.len() {
                    field_cols.push(ColBuf::default());
                }
                field_cols[id as usize].push(v, i as u32);
                scratch_f.push(id);
            }
            let next = fshapes.len() as u32;
            let fs = match fshapes.get(scratch_f.as_slice()) {
                Some(&s) => s,
                None => {
                    fshapes.insert(scratch_f.clone(), next);
                    next
                }
            };
            put_uvarint(&mut fshape, u64::from(fs));
            let msg = r.message.as_str();
            let toks = &mut self.tokens;
            tokens::for_each_entry(msg.as_bytes(), |h| toks.insert(h));
            if shred(msg, &mut sh) {
                scratch_m.0 = sh.style;
                scratch_m.1.clear();
                parents.clear();
                let mut vi = 0;
                for (j, k) in sh.keys.iter().enumerate() {
                    let kind = sh.kinds[j];
                    if kind == shred::CLOSE {
                        parents.pop();
                        scratch_m.1.push((0, kind));
                        continue;
                    }
                    let parent = parents.last().map_or(0, |p| p + 1);
                    let next = key_names.len() as u32;
                    let id = *key_names.entry((parent, k)).or_insert(next);
                    if id as usize == key_cols.len() {
                        key_cols.push(ColBuf::default());
                    }
                    if kind == shred::OPEN {
                        parents.push(id);
                    } else {
                        key_cols[id as usize].push(sh.values[vi], i as u32);
                        vi += 1;
                    }
                    scratch_m.1.push((id, kind));
                }
                let next = mshapes.len() as u32;
                let ms = match mshapes.get(&scratch_m) {
                    Some(&s) => s,
                    None => {
                        mshapes.insert(scratch_m.clone(), next);
                        next
                    }
                };
                put_uvarint(&mut mshape, u64::from(ms) + 1);
            } else {
                put_uvarint(&mut mshape, 0);
                raw.push(msg, i as u32);
            }
        }
        let stream_stats: Vec<(u32, u32, u64)> = per_stream
            .iter()
            .enumerate()
            .filter(|x| x.1 .0 > 0)
            .map(|(sid, x)| (sid as u32, x.0, x.1))
            .collect();
        // dictionary
        let mut dict = Vec::new();
        let mut fnames: Vec<(&str, u32)> = field_names.into_iter().collect();
        fnames.sort_by_key(|x| x.1);
        put_uvarint(&mut dict, fnames.len() as u64);
        for (name, _) in &fnames {
            put_bytes(&mut dict, name.as_bytes());
        }
        let mut knames: Vec<((u32, &str), u32)> = key_names.into_iter().collect();
        knames.sort_by_key(|x| x.1);
        put_uvarint(&mut dict, knames.len() as u64);
        for ((parent, name), _) in &knames {
            put_uvarint(&mut dict, u64::from(*parent));
            put_bytes(&mut dict, name.as_bytes());
        }
        let mut fsv: Vec<(Vec<u32>, u32)> = fshapes.into_iter().collect();
        fsv.sort_by_key(|x| x.1);
        put_uvarint(&mut dict, fsv.len() as u64);
        for (ids, _) in &fsv {
            put_uvarint(&mut dict, ids.len() as u64);
            for id in ids {
                put_uvarint(&mut dict, u64::from(*id));
            }
        }
        let mut msv: Vec<(MShapeKey, u32)> = mshapes.into_iter().collect();
        msv.sort_by_key(|x| x.1);
        put_uvarint(&mut dict, msv.len() as u64);
        for ((style, ids), _) in &msv {
            dict.push(*style);
            put_uvarint(&mut dict, ids.len() as u64);
            for (id, kind) in ids {
                put_uvarint(&mut dict, (u64::from(*id) << 2) | u64::from(*kind));
            }
        }
        let mut rawcol = Vec::new();
        let tsv: Vec<i64> = rows.iter().map(|r| r.ts_ns).collect();
        let ctx = Rows {
            ts: &tsv,
            sids,
            streams,
        };
        raw.encode(&ctx, &mut rawcol);
        self.cols.clear();
        self.cols
            .extend([ts, sid_col, sev, trace, span, dict, fshape, mshape, rawcol]);
        for c in field_cols.iter().chain(key_cols.iter()) {
            let mut v = Vec::new();
            c.encode(&ctx, &mut v);
            self.cols.push(v);
        }
        // frames
        let offset = out.len() as u64;
        let zctx = self
            .zctx
            .get_or_insert_with(|| zstd::bulk::Compressor::new(opts.zstd_level).expect("zstd context"));
        let zctx_text = self
            .zctx_text
            .get_or_insert_with(|| zstd::bulk::Compressor::new(opts.zstd_level_text).expect("zstd context"));
        let mut cols_meta = Vec::with_capacity(self.cols.len());
        for c in &self.cols {
            let mut stored = false;
            if c.len() >= 64 {
                // large plain-text columns (kind 0) get the slower level
                let z = if c.len() >= opts.text_column_bytes && c[0] == 0 {
                    zctx_text.compress(c)
                } else {
                    zctx.compress(c)
                };
                if let Ok(z) = z {
                    if z.len() < c.len() {
                        out.extend_from_slice(&z);
                        cols_meta.push(ColMeta {
                            clen: z.len() as u32,
                            rlen: c.len() as u32,
                            compressed: true,
                            charset: colenc::charset_class(c),
                        });
                        stored = true;
                    }
                }
            }
            if !stored {
                out.extend_from_slice(c);
                cols_meta.push(ColMeta {
                    clen: c.len() as u32,
                    rlen: c.len() as u32,
                    compressed: false,
                    charset: colenc::charset_class(c),
                });
            }
        }
        let len = (out.len() as u64 - offset) as u32;
        let crc = crc32fast::hash(&out[offset as usize..]);
        let token_keys = self.tokens.values();
        self.traces.sort_unstable();
        self.traces.dedup();
        BlockMeta {
            offset,
            len,
            crc,
            rows: n as u32,
            min_ts,
            max_ts,
            streams: stream_stats,
            cols: cols_meta,
            tokens: Bloom::build(&token_keys, opts.bloom_bits_per_key),
            traces: if self.traces.is_empty() {
                Bloom::build(&[], 1)
            } else {
                Bloom::build(&self.traces, opts.bloom_bits_per_key)
            },
        }
    }
}

fn encode_footer(m: &SegmentMeta) -> Vec<u8> {
    let mut f = Vec::new();
    put_uvarint(&mut f, 1); // footer version
    put_bytes(&mut f, m.tenant.as_bytes());
    put_ivarint(&mut f, m.day);
    put_ivarint(&mut f, m.min_ts);
    put_ivarint(&mut f, m.max_ts);
    put_uvarint(&mut f, m.rows);
    put_uvarint(&mut f, m.raw_bytes);
    put_uvarint(&mut f, m.flush_seqs.len() as u64);
    for s in &m.flush_seqs {
        put_uvarint(&mut f, *s);
    }
    put_uvarint(&mut f, m.replaces.len() as u64);
    for k in &m.replaces {
        put_bytes(&mut f, k.as_bytes());
    }
    put_uvarint(&mut f, m.streams.len() as u64);
    for s in &m.streams {
        put_uvarint(&mut f, s.len() as u64);
        for l in s.iter() {
            put_bytes(&mut f, l.name.as_bytes());
            put_bytes(&mut f, l.value.as_bytes());
        }
    }
    put_uvarint(&mut f, m.blocks.len() as u64);
    for b in &m.blocks {
        put_uvarint(&mut f, b.offset);
        put_uvarint(&mut f, u64::from(b.len));
        f.extend_from_slice(&b.crc.to_le_bytes());
        put_uvarint(&mut f, u64::from(b.rows));
        put_ivarint(&mut f, b.min_ts);
        put_ivarint(&mut f, b.max_ts.wrapping_sub(b.min_ts));
        put_uvarint(&mut f, b.streams.len() as u64);
        for (sid, rows, bytes) in &b.streams {
            put_uvarint(&mut f, u64::from(*sid));
            put_uvarint(&mut f, u64::from(*rows));
            put_uvarint(&mut f, *bytes);
        }
        put_uvarint(&mut f, b.cols.len() as u64);
        for c in &b.cols {
            put_uvarint(&mut f, (u64::from(c.clen) << 1) | u64::from(c.compressed));
            put_uvarint(&mut f, u64::from(c.rlen));
            f.push(c.charset);
        }
        let mut tb = Vec::new();
        b.tokens.to_bytes(&mut tb);
        put_bytes(&mut f, &tb);
        tb.clear();
        b.traces.to_bytes(&mut tb);
        put_bytes(&mut f, &tb);
    }
    f
}

// ---------------------------------------------------------------- reading

/// Parses the trailer of a segment of `size` bytes: returns the footer's
/// offset and length.
pub fn parse_trailer(trailer: &[u8], size: u64) -> Result<(u64, usize, u32), String> {
    if trailer.len() != TRAILER || &trailer[8..16] != MAGIC {
        return Err("bad magic in trailer".into());
    }
    let len = u32::from_le_bytes(trailer[0..4].try_into().unwrap()) as u64;
    let crc = u32::from_le_bytes(trailer[4..8].try_into().unwrap());
    if len + TRAILER as u64 + 8 > size {
        return Err(format!("footer length {len} exceeds the segment size {size}"));
    }
    Ok((size - TRAILER as u64 - len, len as usize, crc))
}

pub const TRAILER_LEN: usize = TRAILER;

pub fn decode_footer(f: &[u8], crc: u32, data_end: u64) -> Result<SegmentMeta, String> {
    if crc32fast::hash(f) != crc {
        return Err("footer checksum mismatch".into());
    }
    let d = |e: DecodeError| format!("footer: {}", e.0);
    let mut r = Reader::new(f);
    let v = r.uvarint().map_err(d)?;
    if v != 1 {
        return Err(format!("unsupported footer version {v}"));
    }
    let tenant = r.str().map_err(d)?.to_string();
    let day = r.ivarint().map_err(d)?;
    let min_ts = r.ivarint().map_err(d)?;
    let max_ts = r.ivarint().map_err(d)?;
    let rows = r.uvarint().map_err(d)?;
    let raw_bytes = r.uvarint().map_err(d)?;
    let n = r.len(f.len()).map_err(d)?;
    let mut flush_seqs = Vec::with_capacity(n);
    for _ in 0..n {
        flush_seqs.push(r.uvarint().map_err(d)?);
    }
    let n = r.len(f.len()).map_err(d)?;
    let mut replaces = Vec::with_capacity(n);
    for _ in 0..n {
        replaces.push(r.str().map_err(d)?.to_string());
    }
    let n = r.len(f.len()).map_err(d)?;
    let mut streams = Vec::with_capacity(n);
    for _ in 0..n {
        let k = r.len(f.len()).map_err(d)?;
        let mut pairs = Vec::with_capacity(k);
        for _ in 0..k {
            pairs.push((r.str().map_err(d)?.to_string(), r.str().map_err(d)?.to_string()));
        }
        streams.push(Labels::from_pairs(pairs));
    }
    let n = r.len(f.len()).map_err(d)?;
    let mut blocks = Vec::with_capacity(n);
    for _ in 0..n {
        let offset = r.uvarint().map_err(d)?;
        let len = r.len(u32::MAX as usize).map_err(d)? as u32;
        let crc = r.u32_le().map_err(d)?;
        if offset < 8 || offset + u64::from(len) > data_end {
            return Err("block extends outside the data area".into());
        }
        let nrows = r.len(MAX_BLOCK_ROWS).map_err(d)? as u32;
        let bmin = r.ivarint().map_err(d)?;
        let bmax = bmin.wrapping_add(r.ivarint().map_err(d)?);
        let k = r.len(f.len()).map_err(d)?;
        if streams.is_empty() && k > 0 {
            return Err("block lists streams of a segment without streams".into());
        }
        let mut bstreams = Vec::with_capacity(k);
        for _ in 0..k {
            let sid = r.len(streams.len().saturating_sub(1)).map_err(d)? as u32;
            let rws = r.len(u32::MAX as usize).map_err(d)? as u32;
            let bytes = r.uvarint().map_err(d)?;
            bstreams.push((sid, rws, bytes));
        }
        let k = r.len(f.len()).map_err(d)?;
        let mut cols = Vec::with_capacity(k);
        let mut total = 0u64;
        for _ in 0..k {
            let x = r.uvarint().map_err(d)?;
            let rlen = r.len(MAX_COLUMN_BYTES).map_err(d)? as u32;
            let clen = (x >> 1).min(u64::from(u32::MAX)) as u32;
            total += u64::from(clen);
            cols.push(ColMeta {
                clen,
                rlen,
                compressed: x & 1 == 1,
                charset: r.u8().map_err(d)?,
            });
        }
        if total != u64::from(len) || cols.len() < C_FIXED {
            return Err("block column directory does not match the block".into());
        }
        let tokens = Bloom::from_bytes(r.bytes().map_err(d)?);
        let traces = Bloom::from_bytes(r.bytes().map_err(d)?);
        blocks.push(BlockMeta {
            offset,
            len,
            crc,
            rows: nrows,
            min_ts: bmin,
            max_ts: bmax,
            streams: bstreams,
            cols,
            tokens,
            traces,
        });
    }
    Ok(SegmentMeta {
        tenant,
        day,
        min_ts,
        max_ts,
        rows,
        raw_bytes,
        flush_seqs,
        replaces,
        streams,
        blocks,
    })
}

/// What rows of a block to return.
pub struct RowFilter<'a> {
    /// Segment stream ids to keep.
    pub sid_ok: &'a dyn Fn(u32) -> bool,
    /// `[start, end)` in ns.
    pub start: i64,
    pub end: i64,
    /// Line predicate.
    pub line_ok: &'a dyn Fn(&str) -> bool,
    /// Only rows with this trace id.
    pub trace_id: Option<[u8; 16]>,
    /// Substrings every returned line contains (the `|=` filters), used to
    /// find candidate rows before lines are rebuilt; `line_ok` must also
    /// require them.
    pub needles: &'a [Vec<u8>],
}

thread_local! {
    /// One zstd decompression context per thread (creating one per column
    /// dominated small reads).
    static DCTX: std::cell::RefCell<zstd::bulk::Decompressor<'static>> =
        std::cell::RefCell::new(zstd::bulk::Decompressor::new().expect("zstd decompression context"));
}

#[inline]
fn contains(h: &[u8], n: &[u8]) -> bool {
    memchr::memmem::find(h, n).is_some()
}

/// True when every occurrence of `needle` in a shredded line lies inside one
/// key or value text: it has no JSON syntax byte and does not start with the
/// space a separator may end with.
fn needle_within_values(needle: &[u8]) -> bool {
    !needle.is_empty() && needle[0] != b' ' && !needle.iter().any(|b| b"\"\\,:{}[]".contains(b))
}

struct Dict {
    fshapes: Vec<Vec<u32>>,
    field_names: Vec<String>,
    /// style, key id per item, kind per item
    mshapes: Vec<(u8, Vec<u32>, Vec<u8>)>,
    key_names: Vec<String>,
    /// parent key id + 1 (0 = top level)
    key_parents: Vec<u32>,
}

fn parse_dict(b: &[u8]) -> Result<Dict, DecodeError> {
    let mut r = Reader::new(b);
    let nf = r.len(b.len())?;
    let mut field_names = Vec::with_capacity(nf);
    for _ in 0..nf {
        field_names.push(r.str()?.to_string());
    }
    let nk = r.len(b.len())?;
    let mut key_names = Vec::with_capacity(nk);
    let mut key_parents = Vec::with_capacity(nk);
    for _ in 0..nk {
        key_parents.push(r.len(nk)? as u32);
        key_names.push(r.str()?.to_string());
    }
    let n = r.len(b.len())?;
    let mut fshapes = Vec::with_capacity(n);
    for _ in 0..n {
        let k = r.len(b.len())?;
        let mut ids = Vec::with_capacity(k);
        for _ in 0..k {
            ids.push(r.len(nf.saturating_sub(1))? as u32);
        }
        fshapes.push(ids);
    }
    if nf == 0 && fshapes.iter().any(|s| !s.is_empty()) {
        return Err(DecodeError("field shape without fields"));
    }
    let n = r.len(b.len())?;
    let mut mshapes = Vec::with_capacity(n);
    for _ in 0..n {
        let style = r.u8()?;
        let k = r.len(b.len())?;
        let mut ids = Vec::with_capacity(k);
        let mut kinds = Vec::with_capacity(k);
        for _ in 0..k {
            let x = r.uvarint()?;
            let kind = (x & 3) as u8;
            if kind != shred::CLOSE && (x >> 2) >= nk as u64 {
                return Err(DecodeError("key id out of range"));
            }
            ids.push((x >> 2).min(u64::from(u32::MAX)) as u32);
            kinds.push(kind);
        }
        mshapes.push((style, ids, kinds));
    }
    Ok(Dict {
        fshapes,
        field_names,
        mshapes,
        key_names,
        key_parents,
    })
}

/// Decodes block `bi` of `meta` from its stored bytes and appends the rows
/// passing `f` (in stored order (time order)) to `out`.
pub fn read_block(
    meta: &SegmentMeta,
    bi: usize,
    bytes: &[u8],
    f: &RowFilter<'_>,
    out: &mut Vec<LogRecord>,
) -> Result<(), String> {
    let bm = &meta.blocks[bi];
    if bytes.len() != bm.len as usize || crc32fast::hash(bytes) != bm.crc {
        return Err(format!("block {bi} checksum mismatch"));
    }
    let mut offs = Vec::with_capacity(bm.cols.len());
    let mut o = 0usize;
    for c in &bm.cols {
        offs.push(o);
        o += c.clen as usize;
    }
    let col = |i: usize| -> Result<std::borrow::Cow<'_, [u8]>, String> {
        let c = bm.cols[i];
        let s = &bytes[offs[i]..offs[i] + c.clen as usize];
        if c.compressed {
            let v = DCTX
                .with(|d| d.borrow_mut().decompress(s, c.rlen as usize))
                .map_err(|e| format!("column {i}: {e}"))?;
            if v.len() != c.rlen as usize {
                return Err(format!("column {i}: length mismatch"));
            }
            Ok(std::borrow::Cow::Owned(v))
        } else {
            Ok(std::borrow::Cow::Borrowed(s))
        }
    };
    let de = |e: DecodeError| format!("block {bi}: {}", e.0);
    let n = bm.rows as usize;
    // every row takes at least one byte of the timestamp column
    if n > bm.cols[C_TS].rlen as usize {
        return Err(format!("block {bi}: row count exceeds the timestamp column"));
    }
    // timestamps and stream ids
    let tsb = col(C_TS)?;
    let mut r = Reader::new(&tsb);
    let exp = u32::from(r.u8().map_err(de)?);
    if exp > 9 {
        return Err(format!("block {bi}: timestamp unit out of range"));
    }
    let unit = 10i64.pow(exp);
    let mut ts = Vec::with_capacity(n);
    let mut prev = 0i64;
    for _ in 0..n {
        prev = prev.wrapping_add(r.ivarint().map_err(de)?);
        ts.push(bm.min_ts.wrapping_add(prev.wrapping_mul(unit)));
    }
    let sidb = col(C_SID)?;
    let mut r = Reader::new(&sidb);
    let mut sids = Vec::with_capacity(n);
    for _ in 0..n {
        sids.push(r.len(meta.streams.len().saturating_sub(1)).map_err(de)? as u32);
    }
    if meta.streams.is_empty() {
        return Err(format!("block {bi}: segment without streams"));
    }
    let mut cand: Vec<bool> = (0..n)
        .map(|i| ts[i] >= f.start && ts[i] < f.end && (f.sid_ok)(sids[i]))
        .collect();
    let parse_traces = || -> Result<Vec<Option<[u8; 16]>>, String> {
        let traceb = col(C_TRACE)?;
        if traceb.len() < n {
            return Err(format!("block {bi}: trace column too short"));
        }
        let mut out = Vec::with_capacity(n);
        let mut p = n;
        for &flag in &traceb[..n] {
            if flag != 0 {
                let t: [u8; 16] = traceb
                    .get(p..p + 16)
                    .and_then(|s| s.try_into().ok())
                    .ok_or_else(|| format!("block {bi}: trace column truncated"))?;
                p += 16;
                out.push(Some(t));
            } else {
                out.push(None);
            }
        }
        Ok(out)
    };
    let mut trace_ids: Vec<Option<[u8; 16]>> = Vec::new();
    if f.trace_id.is_some() {
        trace_ids = parse_traces()?;
    }
    if let Some(want) = f.trace_id {
        for i in 0..n {
            cand[i] &= trace_ids[i] == Some(want);
        }
    }
    if !cand.iter().any(|&c| c) {
        return Ok(());
    }
    // lines
    let dict = parse_dict(&col(C_DICT)?).map_err(de)?;
    let nf = dict.field_names.len();
    let nk = dict.key_names.len();
    if bm.cols.len() != C_FIXED + nf + nk {
        return Err(format!("block {bi}: column count does not match the dictionary"));
    }
    let mshape = col(C_MSHAPE)?;
    // row timestamps of the values of each column (pre-pass over the shapes)
    let ctx = Rows {
        ts: &ts,
        sids: &sids,
        streams: &meta.streams,
    };
    let mut raw_rows = Vec::new();
    let mut key_rows: Vec<Vec<u32>> = vec![Vec::new(); nk];
    let mut row_shape: Vec<u32> = Vec::with_capacity(n);
    {
        let mut r = Reader::new(&mshape);
        for i in 0..n as u32 {
            let s = r.len(dict.mshapes.len()).map_err(de)?;
            row_shape.push(s as u32);
            if s == 0 {
                raw_rows.push(i);
            } else {
                let (_, ids, kinds) = &dict.mshapes[s - 1];
                for (&id, &kind) in ids.iter().zip(kinds) {
                    if kind == shred::QUOTED || kind == shred::RAW {
                        key_rows[id as usize].push(i);
                    }
                }
            }
        }
    }
    let raw = StrCol::parse(&col(C_RAW)?, &raw_rows, &ctx)?;
    let mut keycols: Vec<Option<StrCol>> = (0..nk).map(|_| None).collect();
    // Needle pre-filter: a needle that cannot span JSON syntax lies inside one
    // key or value, so the rows holding it are found by searching the columns
    // (skipping, undecompressed, those whose charset cannot hold it) without
    // rebuilding any line. The full filter still runs on the rebuilt lines.
    for needle in f.needles {
        if !needle_within_values(needle) || dict.key_names.iter().any(|k| contains(k.as_bytes(), needle)) {
            continue;
        }
        let mut hit_rows = vec![false; n];
        let mut hit = vec![false; raw.len()];
        raw.mark_containing(needle, &ctx, &mut hit);
        for (i, h) in hit.iter().enumerate() {
            if *h {
                hit_rows[raw_rows[i] as usize] = true;
            }
        }
        for j in 0..nk {
            if key_rows[j].is_empty() || !colenc::charset_admits(bm.cols[C_FIXED + nf + j].charset, needle) {
                continue;
            }
            if keycols[j].is_none() {
                keycols[j] = Some(StrCol::parse(&col(C_FIXED + nf + j)?, &key_rows[j], &ctx)?);
            }
            let kc = keycols[j].as_ref().expect("parsed above");
            let mut hit = vec![false; kc.len()];
            kc.mark_containing(needle, &ctx, &mut hit);
            for (i, h) in hit.iter().enumerate() {
                if *h {
                    hit_rows[key_rows[j][i] as usize] = true;
                }
            }
        }
        for (c, h) in cand.iter_mut().zip(hit_rows) {
            *c &= h;
        }
    }
    if !cand.iter().any(|&c| c) {
        return Ok(());
    }
    for j in 0..nk {
        if keycols[j].is_none() {
            keycols[j] = Some(StrCol::parse(&col(C_FIXED + nf + j)?, &key_rows[j], &ctx)?);
        }
    }
    let keycols: Vec<StrCol> = keycols.into_iter().map(|c| c.expect("all parsed")).collect();
    // Rebuild candidate lines only; a value's position in its column is the
    // number of earlier rows holding that column.
    let mut lines: Vec<Option<String>> = vec![None; n];
    let mut vrefs: Vec<(usize, usize)> = Vec::new();
    let mut keys: Vec<&str> = Vec::new();
    for i in 0..n {
        if !cand[i] {
            continue;
        }
        let row = i as u32;
        let s = row_shape[i] as usize;
        let line = if s == 0 {
            let p = raw_rows.partition_point(|&r| r < row);
            raw.get(p, &ctx)
        } else {
            let (style, ids, kinds) = &dict.mshapes[s - 1];
            vrefs.clear();
            keys.clear();
            for (&id, &kind) in ids.iter().zip(kinds) {
                let id = id as usize;
                if kind == shred::CLOSE {
                    keys.push("");
                    continue;
                }
                keys.push(&dict.key_names[id]);
                if kind == shred::OPEN {
                    continue;
                }
                let p = key_rows[id].partition_point(|&r| r < row);
                if key_rows[id].get(p) != Some(&row) {
                    return Err(format!("block {bi}: key column out of step"));
                }
                vrefs.push((id, p));
            }
            let mut l = String::with_capacity(512);
            let mut k = 0;
            shred::unshred_with(*style, &keys, kinds, &mut l, |out| {
                if let Some(&(id, pos)) = vrefs.get(k) {
                    keycols[id].push_to(pos, &ctx, out);
                }
                k += 1;
            });
            l
        };
        if (f.line_ok)(&line) {
            lines[i] = Some(line);
        } else {
            cand[i] = false;
        }
    }
    if !cand.iter().any(|&c| c) {
        return Ok(());
    }
    // the rest
    if trace_ids.is_empty() {
        trace_ids = parse_traces()?;
    }
    let sevb = col(C_SEV)?;
    let mut sev_r = Reader::new(&sevb);
    let spanb = col(C_SPAN)?;
    if spanb.len() < n {
        return Err(format!("block {bi}: span column too short"));
    }
    let fshape = col(C_FSHAPE)?;
    let mut field_rows: Vec<Vec<u32>> = vec![Vec::new(); nf];
    {
        let mut r = Reader::new(&fshape);
        for i in 0..n as u32 {
            let fsi = r.len(dict.fshapes.len().saturating_sub(1)).map_err(de)?;
            for &id in dict.fshapes.get(fsi).map_or(&[][..], |v| &v[..]) {
                field_rows[id as usize].push(i);
            }
        }
    }
    let mut fs_r = Reader::new(&fshape);
    let mut fcols = Vec::with_capacity(nf);
    for (j, fr) in field_rows.iter().enumerate() {
        fcols.push(StrCol::parse(&col(C_FIXED + j)?, fr, &ctx)?);
    }
    let mut fpos = vec![0usize; nf];
    let mut sp = n;
    for i in 0..n {
        let sev = sev_r.uvarint().map_err(de)?;
        let span_id = if spanb[i] != 0 {
            let t: [u8; 8] = spanb
                .get(sp..sp + 8)
                .and_then(|s| s.try_into().ok())
                .ok_or_else(|| format!("block {bi}: span column truncated"))?;
            sp += 8;
            Some(t)
        } else {
            None
        };
        let fsi = fs_r.len(dict.fshapes.len().saturating_sub(1)).map_err(de)?;
        let shape = dict
            .fshapes
            .get(fsi)
            .ok_or_else(|| format!("block {bi}: field shape out of range"))?;
        let mut fields = Vec::new();
        for &id in shape {
            let id = id as usize;
            if fpos[id] >= fcols[id].len() {
                return Err(format!("block {bi}: field column too short"));
            }
            if cand[i] {
                fields.push((dict.field_names[id].clone(), fcols[id].get(fpos[id], &ctx)));
            }
            fpos[id] += 1;
        }
        if cand[i] {
            out.push(LogRecord {
                ts_ns: ts[i],
                stream: meta.streams[sids[i] as usize].clone(),
                message: lines[i].take().unwrap_or_default(),
                fields,
                trace_id: trace_ids[i],
                span_id,
                severity: if sev == 0 {
                    None
                } else {
                    Some((sev - 1).min(255) as u8)
                },
            });
        }
    }
    Ok(())
}

/// Names and stored/raw sizes of the columns of block `bi` (diagnostics).
pub fn column_sizes(meta: &SegmentMeta, bi: usize, bytes: &[u8]) -> Result<Vec<(String, u32, u32)>, String> {
    let bm = &meta.blocks[bi];
    let mut o = 0usize;
    let mut dict_bytes = None;
    for (i, c) in bm.cols.iter().enumerate() {
        if i == C_DICT {
            let s = &bytes[o..o + c.clen as usize];
            dict_bytes = Some(if c.compressed {
                zstd::bulk::decompress(s, c.rlen as usize).map_err(|e| e.to_string())?
            } else {
                s.to_vec()
            });
        }
        o += c.clen as usize;
    }
    let dict = parse_dict(&dict_bytes.unwrap_or_default()).map_err(|e| e.0.to_string())?;
    let fixed = [
        "ts", "stream", "severity", "trace_id", "span_id", "dict", "fshape", "mshape", "raw",
    ];
    Ok(bm
        .cols
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let name = if i < C_FIXED {
                fixed[i].to_string()
            } else if i < C_FIXED + dict.field_names.len() {
                format!("f:{}", dict.field_names[i - C_FIXED])
            } else {
                let mut k = i - C_FIXED - dict.field_names.len();
                let mut name = dict.key_names.get(k).cloned().unwrap_or_default();
                for _ in 0..8 {
                    match dict.key_parents.get(k) {
                        Some(&p) if p > 0 => {
                            k = p as usize - 1;
                            name = format!("{}.{name}", dict.key_names.get(k).map_or("?", |s| s));
                        }
                        _ => break,
                    }
                }
                format!("k:{name}")
            };
            (name, c.clen, c.rlen)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_rows() -> Vec<LogRecord> {
        let a = Labels::from_pairs([("app", "a")]);
        let b = Labels::from_pairs([("app", "b")]);
        let mut v = Vec::new();
        for i in 0..50i64 {
            let mut r = LogRecord::new(
                1_000 + i * 7,
                if i % 3 == 0 { b.clone() } else { a.clone() },
                match i % 4 {
                    0 => format!(
                        r#"{{"level":"info","n":{i},"id":"{:032x}","http":{{"status":{},"ip":"1.2.3.{i}","h":{{"x":1}}}}}}"#,
                        i * 977,
                        200 + i
                    ),
                    1 => format!("plain line {i}"),
                    2 => format!(r#"{{"level": "warn", "msg": "x{i}", "nested": {{"a":[1,2]}}}}"#),
                    _ => String::new(),
                },
            );
            if i % 5 == 0 {
                r.fields = vec![
                    ("user.id".into(), format!("u{i}")),
                    ("k8s.pod".into(), "p".into()),
                ];
            } else if i % 5 == 1 {
                r.fields = vec![("k8s.pod".into(), "q".into())];
            }
            if i % 2 == 0 {
                r.trace_id = Some([i as u8; 16]);
                r.span_id = Some([i as u8 + 1; 8]);
                r.severity = Some((i % 24) as u8 + 1);
            }
            v.push(r);
        }
        v.sort_by(|x, y| x.stream.cmp(&y.stream).then(x.ts_ns.cmp(&y.ts_ns)));
        v
    }

    fn build_rows(v: &[LogRecord], opts: &BuildOptions) -> (Vec<u8>, SegmentMeta) {
        let streams = vec![v[0].stream.clone(), v.last().unwrap().stream.clone()];
        let sids: Vec<u32> = v
            .iter()
            .map(|r| if r.stream == streams[0] { 0 } else { 1 })
            .collect();
        let refs: Vec<&LogRecord> = v.iter().collect();
        build("t", 0, streams, &refs, &sids, vec![3], vec![], opts)
    }

    fn read_all(bytes: &[u8]) -> (SegmentMeta, Vec<LogRecord>) {
        let size = bytes.len() as u64;
        let (fo, fl, crc) = parse_trailer(&bytes[bytes.len() - TRAILER..], size).unwrap();
        let meta = decode_footer(&bytes[fo as usize..fo as usize + fl], crc, fo).unwrap();
        let mut out = Vec::new();
        for (bi, b) in meta.blocks.iter().enumerate() {
            let f = RowFilter {
                sid_ok: &|_| true,
                start: i64::MIN,
                end: i64::MAX,
                line_ok: &|_| true,
                trace_id: None,
                needles: &[],
            };
            read_block(
                &meta,
                bi,
                &bytes[b.offset as usize..(b.offset + u64::from(b.len)) as usize],
                &f,
                &mut out,
            )
            .unwrap();
        }
        (meta, out)
    }

    #[test]
    fn round_trips_every_column_across_block_sizes() {
        let v = sample_rows();
        for rows in [1, 7, 8192] {
            let opts = BuildOptions {
                block_rows: rows,
                ..Default::default()
            };
            let (bytes, m) = build_rows(&v, &opts);
            let (meta, got) = read_all(&bytes);
            assert_eq!(got, v);
            assert_eq!(meta.rows, 50);
            assert_eq!(meta.blocks.len(), m.blocks.len());
            assert_eq!(meta.flush_seqs, [3]);
            assert_eq!((meta.min_ts, meta.max_ts), (1_000, 1_000 + 49 * 7));
        }
    }

    #[test]
    fn token_bloom_covers_lines() {
        let v = sample_rows();
        let (bytes, _) = build_rows(&v, &BuildOptions::default());
        let (meta, _) = read_all(&bytes);
        let b = &meta.blocks[0];
        for c in tokens::needle_conditions(format!("{:032x}", 977 * 4).as_bytes()) {
            assert!(c.iter().any(|alt| alt.iter().all(|h| b.tokens.may_contain(*h))));
        }
        assert!(b.traces.may_contain(tokens::hash(&[4u8; 16])));
    }

    /// Mutated block bytes with a matching checksum reach the column
    /// decoders: they must return errors or rows, never panic.
    #[test]
    fn mutated_blocks_never_panic() {
        let v = sample_rows();
        let opts = BuildOptions {
            block_rows: 3, // tiny blocks: most columns are stored uncompressed
            ..Default::default()
        };
        let (bytes, _) = build_rows(&v, &opts);
        let size = bytes.len() as u64;
        let (fo, fl, crc) = parse_trailer(&bytes[bytes.len() - TRAILER..], size).unwrap();
        let mut meta = decode_footer(&bytes[fo as usize..fo as usize + fl], crc, fo).unwrap();
        let mut seed = 0x1234_5678_9abc_def0u64;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let needles = [b"1".to_vec(), b"info".to_vec()];
        for bi in 0..meta.blocks.len() {
            let b = meta.blocks[bi].clone();
            let orig = &bytes[b.offset as usize..(b.offset + u64::from(b.len)) as usize];
            for _ in 0..300 {
                let mut blk = orig.to_vec();
                for _ in 0..1 + rnd() % 3 {
                    let i = (rnd() % blk.len() as u64) as usize;
                    blk[i] = rnd() as u8;
                }
                meta.blocks[bi].crc = crc32fast::hash(&blk);
                for nd in [&needles[..], &[][..]] {
                    let f = RowFilter {
                        sid_ok: &|_| true,
                        start: i64::MIN,
                        end: i64::MAX,
                        line_ok: &|_| true,
                        trace_id: None,
                        needles: nd,
                    };
                    let _ = read_block(&meta, bi, &blk, &f, &mut Vec::new());
                }
            }
            meta.blocks[bi].crc = b.crc;
        }
    }

    #[test]
    fn mutated_footers_never_panic() {
        let v = sample_rows();
        let (bytes, _) = build_rows(
            &v,
            &BuildOptions {
                block_rows: 5,
                ..Default::default()
            },
        );
        let size = bytes.len() as u64;
        let (fo, fl, _) = parse_trailer(&bytes[bytes.len() - TRAILER..], size).unwrap();
        let orig = &bytes[fo as usize..fo as usize + fl];
        let mut seed = 0x0bad_5eed_u64;
        for _ in 0..3000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let mut f = orig.to_vec();
            let i = (seed % f.len() as u64) as usize;
            f[i] = (seed >> 32) as u8;
            if seed.is_multiple_of(5) {
                f.truncate(i);
            }
            if let Ok(meta) = decode_footer(&f, crc32fast::hash(&f), fo) {
                // a footer that parses must describe readable-or-rejected blocks
                for (bi, b) in meta.blocks.iter().enumerate() {
                    let blk = &bytes[b.offset as usize..(b.offset + u64::from(b.len)) as usize];
                    let f = RowFilter {
                        sid_ok: &|_| true,
                        start: i64::MIN,
                        end: i64::MAX,
                        line_ok: &|_| true,
                        trace_id: None,
                        needles: &[],
                    };
                    let _ = read_block(&meta, bi, blk, &f, &mut Vec::new());
                }
            }
        }
    }

    #[test]
    fn corruption_is_detected_not_panicking() {
        let v = sample_rows();
        let (bytes, _) = build_rows(&v, &BuildOptions::default());
        let size = bytes.len() as u64;
        let (fo, fl, crc) = parse_trailer(&bytes[bytes.len() - TRAILER..], size).unwrap();
        let meta = decode_footer(&bytes[fo as usize..fo as usize + fl], crc, fo).unwrap();
        let b = &meta.blocks[0];
        let mut blk = bytes[b.offset as usize..(b.offset + u64::from(b.len)) as usize].to_vec();
        blk[3] ^= 0x55;
        let f = RowFilter {
            sid_ok: &|_| true,
            start: i64::MIN,
            end: i64::MAX,
            line_ok: &|_| true,
            trace_id: None,
            needles: &[],
        };
        assert!(read_block(&meta, 0, &blk, &f, &mut Vec::new()).is_err());
        let mut foot = bytes[fo as usize..fo as usize + fl].to_vec();
        foot[5] ^= 1;
        assert!(decode_footer(&foot, crc, fo).is_err());
        assert!(parse_trailer(&[0u8; 16], size).is_err());
    }
}
