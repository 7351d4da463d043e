//! The label index of an on-disk block (`<block>/index`).
//!
//! The index maps label matchers to series and series to their chunks. Series
//! are numbered `0..num_series` in ascending label order, so any sorted list
//! of series numbers (a *postings list*) is also sorted by labels.
//!
//! File layout (integers little endian, varints LEB128, signed ones zigzag):
//!
//! ```text
//! +-----------------------------+ 0
//! | "SLIX" | ver u8 | 0 0 0     |
//! +-----------------------------+ 8
//! | symbols        section      |  uvarint n; n x (uvarint len, utf-8 bytes)
//! |                             |  sorted, unique: every label name and value
//! | series         section      |  per series (in label order):
//! |                             |   uvarint nlabels; nlabels x (uvarint name sym,
//! |                             |   uvarint value sym); uvarint nchunks;
//! |                             |   nchunks x (varint min_t - prev, uvarint
//! |                             |   max_t - min_t, uvarint samples, uvarint
//! |                             |   frame, uvarint offset, uvarint len)
//! |                             |   (prev = block min_t, then previous max_t)
//! | series offsets section      |  u64 n; n x u64 offset into series section
//! | label index    section      |  uvarint names; per name (sorted):
//! |                             |   uvarint name sym, uvarint nvalues,
//! |                             |   nvalues x (uvarint value sym, uvarint
//! |                             |   offset of its postings list)
//! | postings       section      |  per list: uvarint count, first series
//! |                             |   number, then count-1 uvarint gaps (> 0)
//! +-----------------------------+
//! | TOC: 5 x (u64 offset,       |  one entry per section above, in order;
//! |   u64 len, u32 crc32)       |  crc32 = CRC-32 (IEEE) of the section bytes
//! | u32 crc32(TOC entries)      |
//! | "SLIX"                      |
//! +-----------------------------+
//! ```
//!
//! Every section's CRC is verified when the block is opened; all later reads
//! are bounds-checked, so damaged data yields
//! [`StorageError::Corruption`], never a panic.
//!
//! Matchers follow Prometheus set semantics: a matcher that does not match
//! the empty string selects the union of the postings of the values it
//! matches; a matcher that matches the empty string selects every series
//! except those whose value for the label does *not* match (series lacking
//! the label count as having the empty value).

use crate::block::chunks::ChunkLoc;
use crate::block::corruption;
use crate::block::encoding::{put_uvarint, put_varint, Reader};
use sightline_model::{Labels, MatchOp, Matcher, StorageError};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::Path;

pub const MAGIC: &[u8; 4] = b"SLIX";
pub const VERSION: u8 = 1;
const HEADER_LEN: usize = 8;
const SECTIONS: usize = 5;
const TOC_ENTRY: usize = 20;
const TOC_LEN: usize = SECTIONS * TOC_ENTRY + 8;

/// One chunk of a series as recorded in the index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkMeta {
    /// First and last sample timestamp (inclusive).
    pub min_t: i64,
    pub max_t: i64,
    pub num_samples: u32,
    pub loc: ChunkLoc,
}

/// Writes an index for `series`, which must be sorted by labels with no
/// duplicates. Returns the file size. The file is fsynced.
pub fn write_index(
    path: &Path,
    base_t: i64,
    series: &[(Labels, Vec<ChunkMeta>)],
) -> Result<u64, StorageError> {
    // Symbols.
    let mut syms: Vec<&str> = Vec::new();
    for (l, _) in series {
        for p in l.iter() {
            syms.push(p.name);
            syms.push(p.value);
        }
    }
    syms.sort_unstable();
    syms.dedup();
    let sym_id = |s: &str| syms.binary_search(&s).expect("symbol collected") as u64;
    let mut sec_symbols = Vec::new();
    put_uvarint(&mut sec_symbols, syms.len() as u64);
    for s in &syms {
        put_uvarint(&mut sec_symbols, s.len() as u64);
        sec_symbols.extend_from_slice(s.as_bytes());
    }
    // Series and postings per label pair.
    let mut sec_series = Vec::new();
    let mut sec_offsets = Vec::with_capacity(8 + series.len() * 8);
    sec_offsets.extend_from_slice(&(series.len() as u64).to_le_bytes());
    let mut postings: BTreeMap<(u64, u64), Vec<u32>> = BTreeMap::new();
    for (i, (labels, chunks)) in series.iter().enumerate() {
        sec_offsets.extend_from_slice(&(sec_series.len() as u64).to_le_bytes());
        put_uvarint(&mut sec_series, labels.len() as u64);
        for p in labels.iter() {
            let (n, v) = (sym_id(p.name), sym_id(p.value));
            put_uvarint(&mut sec_series, n);
            put_uvarint(&mut sec_series, v);
            postings.entry((n, v)).or_default().push(i as u32);
        }
        put_uvarint(&mut sec_series, chunks.len() as u64);
        let mut prev = base_t;
        for c in chunks {
            put_varint(&mut sec_series, c.min_t.wrapping_sub(prev));
            put_uvarint(&mut sec_series, c.max_t.wrapping_sub(c.min_t) as u64);
            put_uvarint(&mut sec_series, u64::from(c.num_samples));
            put_uvarint(&mut sec_series, u64::from(c.loc.frame));
            put_uvarint(&mut sec_series, u64::from(c.loc.offset));
            put_uvarint(&mut sec_series, u64::from(c.loc.len));
            prev = c.max_t;
        }
    }
    // Postings lists and the label index (BTreeMap order = symbol order =
    // name order, then value order).
    let mut sec_postings = Vec::new();
    let mut by_name: Vec<(u64, Vec<(u64, u64)>)> = Vec::new();
    for ((n, v), list) in &postings {
        let off = sec_postings.len() as u64;
        put_uvarint(&mut sec_postings, list.len() as u64);
        let mut prev = 0u32;
        for (k, id) in list.iter().enumerate() {
            put_uvarint(&mut sec_postings, u64::from(if k == 0 { *id } else { id - prev }));
            prev = *id;
        }
        match by_name.last_mut() {
            Some((name, vals)) if name == n => vals.push((*v, off)),
            _ => by_name.push((*n, vec![(*v, off)])),
        }
    }
    let mut sec_labels = Vec::new();
    put_uvarint(&mut sec_labels, by_name.len() as u64);
    for (n, vals) in &by_name {
        put_uvarint(&mut sec_labels, *n);
        put_uvarint(&mut sec_labels, vals.len() as u64);
        for (v, off) in vals {
            put_uvarint(&mut sec_labels, *v);
            put_uvarint(&mut sec_labels, *off);
        }
    }
    // Assemble.
    let mut out = Vec::with_capacity(
        HEADER_LEN
            + sec_symbols.len()
            + sec_series.len()
            + sec_offsets.len()
            + sec_labels.len()
            + sec_postings.len()
            + TOC_LEN,
    );
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[VERSION, 0, 0, 0]);
    let mut toc = Vec::with_capacity(TOC_LEN);
    for sec in [
        &sec_symbols,
        &sec_series,
        &sec_offsets,
        &sec_labels,
        &sec_postings,
    ] {
        toc.extend_from_slice(&(out.len() as u64).to_le_bytes());
        toc.extend_from_slice(&(sec.len() as u64).to_le_bytes());
        toc.extend_from_slice(&crc32fast::hash(sec).to_le_bytes());
        out.extend_from_slice(sec);
    }
    let tcrc = crc32fast::hash(&toc);
    out.extend_from_slice(&toc);
    out.extend_from_slice(&tcrc.to_le_bytes());
    out.extend_from_slice(MAGIC);
    let mut f = File::options().write(true).create_new(true).open(path)?;
    f.write_all(&out)?;
    f.sync_all()?;
    Ok(out.len() as u64)
}

/// A parsed, verified index held in memory.
pub struct IndexReader {
    path: String,
    data: Vec<u8>,
    base_t: i64,
    series: (usize, usize),
    offsets: (usize, usize),
    postings: (usize, usize),
    num_series: usize,
    symbols: Vec<String>,
    /// name -> sorted (value symbol, postings offset).
    names: BTreeMap<String, Vec<(u32, u64)>>,
}

impl IndexReader {
    /// Reads and verifies the whole file. `base_t` is the block's min_t.
    pub fn open(path: &Path, base_t: i64) -> Result<Self, StorageError> {
        let data = std::fs::read(path)?;
        Self::from_bytes(path.display().to_string(), data, base_t)
    }

    pub fn from_bytes(path: String, data: Vec<u8>, base_t: i64) -> Result<Self, StorageError> {
        let bad = |d: &str| corruption(&path, d);
        if data.len() < HEADER_LEN + TOC_LEN {
            return Err(bad("file too short"));
        }
        if &data[..4] != MAGIC {
            return Err(bad("bad magic in header"));
        }
        if data[4] != VERSION {
            return Err(bad(&format!("unsupported version {}", data[4])));
        }
        let end = data.len();
        if &data[end - 4..] != MAGIC {
            return Err(bad("bad magic in trailer (truncated file?)"));
        }
        let toc = &data[end - TOC_LEN..end - 8];
        let le32 = |b: &[u8]| u32::from_le_bytes(b.try_into().expect("4 bytes"));
        let le64 = |b: &[u8]| u64::from_le_bytes(b.try_into().expect("8 bytes"));
        if crc32fast::hash(toc) != le32(&data[end - 8..end - 4]) {
            return Err(bad("table of contents checksum mismatch"));
        }
        let mut secs = [(0usize, 0usize); SECTIONS];
        let mut expect = HEADER_LEN as u64;
        for (i, e) in toc.chunks_exact(TOC_ENTRY).enumerate() {
            let (off, len, crc) = (le64(&e[..8]), le64(&e[8..16]), le32(&e[16..20]));
            if off != expect || off.checked_add(len).is_none_or(|x| x > (end - TOC_LEN) as u64) {
                return Err(bad(&format!("section {i} lies outside the file")));
            }
            let (off, len) = (off as usize, len as usize);
            if crc32fast::hash(&data[off..off + len]) != crc {
                return Err(bad(&format!("section {} checksum mismatch", SECTION_NAMES[i])));
            }
            secs[i] = (off, off + len);
            expect += len as u64;
        }
        if expect as usize != end - TOC_LEN {
            return Err(bad("sections do not end at the table of contents"));
        }
        // Symbols.
        let mut r = Reader::new(&data[secs[0].0..secs[0].1]);
        let n = r.len_at_most(data.len()).map_err(bad)?;
        let mut symbols = Vec::with_capacity(n);
        for _ in 0..n {
            let len = r.len_at_most(data.len()).map_err(bad)?;
            let b = r.bytes(len).map_err(bad)?;
            let s = std::str::from_utf8(b).map_err(|_| bad("symbol is not UTF-8"))?;
            symbols.push(s.to_string());
        }
        // Series offsets.
        let offsets = secs[2];
        let off_bytes = &data[offsets.0..offsets.1];
        if off_bytes.len() < 8 {
            return Err(bad("series offset table too short"));
        }
        let num_series = le64(&off_bytes[..8]);
        if Some(off_bytes.len() as u64) != num_series.checked_mul(8).and_then(|x| x.checked_add(8)) {
            return Err(bad("series offset table has the wrong length"));
        }
        let num_series = num_series as usize;
        // Label index.
        let mut names = BTreeMap::new();
        let mut r = Reader::new(&data[secs[3].0..secs[3].1]);
        let nn = r.len_at_most(symbols.len()).map_err(bad)?;
        for _ in 0..nn {
            let name = r.len_at_most(symbols.len().saturating_sub(1)).map_err(bad)?;
            let nv = r.len_at_most(symbols.len()).map_err(bad)?;
            let mut vals = Vec::with_capacity(nv);
            for _ in 0..nv {
                let v = r.len_at_most(symbols.len().saturating_sub(1)).map_err(bad)?;
                let off = r.len_at_most(secs[4].1 - secs[4].0).map_err(bad)?;
                vals.push((v as u32, off as u64));
            }
            if symbols.is_empty() {
                return Err(bad("label index refers to symbols but there are none"));
            }
            names.insert(symbols[name].clone(), vals);
        }
        Ok(Self {
            path,
            series: secs[1],
            offsets,
            postings: secs[4],
            num_series,
            symbols,
            names,
            data,
            base_t,
        })
    }

    fn bad(&self, d: &str) -> StorageError {
        corruption(&self.path, d)
    }

    pub fn num_series(&self) -> usize {
        self.num_series
    }

    /// Size of the index held in memory.
    pub fn size_bytes(&self) -> usize {
        self.data.len()
    }

    fn sym(&self, id: u64) -> Result<&str, StorageError> {
        self.symbols
            .get(id as usize)
            .map(|s| s.as_str())
            .ok_or_else(|| self.bad("unknown symbol"))
    }

    fn series_reader(&self, id: u32) -> Result<Reader<'_>, StorageError> {
        let i = id as usize;
        if i >= self.num_series {
            return Err(self.bad("series number out of range"));
        }
        let p = self.offsets.0 + 8 + i * 8;
        let off = u64::from_le_bytes(self.data[p..p + 8].try_into().expect("8 bytes"));
        let sec = &self.data[self.series.0..self.series.1];
        Reader::at(sec, usize::try_from(off).unwrap_or(usize::MAX)).map_err(|e| self.bad(e))
    }

    fn read_labels(&self, r: &mut Reader<'_>) -> Result<Labels, StorageError> {
        let n = r.len_at_most(self.symbols.len()).map_err(|e| self.bad(e))?;
        let mut pairs: Vec<(String, String)> = Vec::with_capacity(n);
        for _ in 0..n {
            let name = self.sym(r.uvarint().map_err(|e| self.bad(e))?)?;
            let value = self.sym(r.uvarint().map_err(|e| self.bad(e))?)?;
            if name.is_empty() || value.is_empty() || pairs.last().is_some_and(|(p, _)| p.as_str() >= name) {
                return Err(self.bad("series labels are not sorted, unique and non-empty"));
            }
            pairs.push((name.to_string(), value.to_string()));
        }
        Ok(Labels::from_sorted_unchecked(pairs))
    }

    /// Labels of series `id`.
    pub fn series_labels(&self, id: u32) -> Result<Labels, StorageError> {
        let mut r = self.series_reader(id)?;
        self.read_labels(&mut r)
    }

    /// Labels and chunks of series `id`.
    pub fn series(&self, id: u32) -> Result<(Labels, Vec<ChunkMeta>), StorageError> {
        let mut r = self.series_reader(id)?;
        let labels = self.read_labels(&mut r)?;
        let e = |e: &'static str| self.bad(e);
        let n = r.len_at_most(1 << 32).map_err(e)?;
        let mut chunks = Vec::with_capacity(n.min(1024));
        let mut prev = self.base_t;
        for _ in 0..n {
            let min_t = prev.wrapping_add(r.varint().map_err(e)?);
            let max_t = min_t.wrapping_add(r.uvarint().map_err(e)? as i64);
            let num = r.len_at_most(u32::MAX as usize).map_err(e)? as u32;
            let frame = r.len_at_most(u32::MAX as usize).map_err(e)? as u32;
            let offset = r.len_at_most(u32::MAX as usize).map_err(e)? as u32;
            let len = r.len_at_most(u32::MAX as usize).map_err(e)? as u32;
            if max_t < min_t || num == 0 {
                return Err(self.bad("bad chunk time range"));
            }
            chunks.push(ChunkMeta {
                min_t,
                max_t,
                num_samples: num,
                loc: ChunkLoc { frame, offset, len },
            });
            prev = max_t;
        }
        Ok((labels, chunks))
    }

    /// Sorted label names present in the block.
    pub fn label_names(&self) -> Vec<String> {
        self.names.keys().cloned().collect()
    }

    /// Sorted values of `name` with the offsets of their postings.
    fn values(&self, name: &str) -> Result<Vec<(&str, u64)>, StorageError> {
        let Some(vals) = self.names.get(name) else {
            return Ok(Vec::new());
        };
        vals.iter()
            .map(|(v, off)| Ok((self.sym(u64::from(*v))?, *off)))
            .collect()
    }

    /// Sorted values of label `name` in the block.
    pub fn label_values(&self, name: &str) -> Result<Vec<String>, StorageError> {
        Ok(self
            .values(name)?
            .into_iter()
            .map(|(v, _)| v.to_string())
            .collect())
    }

    /// The postings list at `off`.
    fn read_postings(&self, off: u64) -> Result<Vec<u32>, StorageError> {
        let sec = &self.data[self.postings.0..self.postings.1];
        let e = |e: &'static str| self.bad(e);
        let mut r = Reader::at(sec, usize::try_from(off).unwrap_or(usize::MAX)).map_err(e)?;
        let n = r.len_at_most(self.num_series).map_err(e)?;
        let mut out = Vec::with_capacity(n);
        let mut prev = 0u64;
        for k in 0..n {
            let g = r.uvarint().map_err(e)?;
            if k > 0 && g == 0 {
                return Err(self.bad("postings list not strictly increasing"));
            }
            prev = prev.checked_add(g).ok_or_else(|| self.bad("postings overflow"))?;
            if prev >= self.num_series as u64 {
                return Err(self.bad("postings refer to a missing series"));
            }
            out.push(prev as u32);
        }
        Ok(out)
    }

    /// Series with label `name="value"`.
    pub fn postings(&self, name: &str, value: &str) -> Result<Vec<u32>, StorageError> {
        let Some(vals) = self.names.get(name) else {
            return Ok(Vec::new());
        };
        let found = vals.binary_search_by(|(v, _)| {
            self.symbols
                .get(*v as usize)
                .map(|s| s.as_str())
                .unwrap_or("")
                .cmp(value)
        });
        match found {
            Ok(i) => self.read_postings(vals[i].1),
            Err(_) => Ok(Vec::new()),
        }
    }

    /// Union of the postings of the values of `name` for which `keep` is true.
    fn postings_where(&self, name: &str, keep: impl Fn(&str) -> bool) -> Result<Vec<u32>, StorageError> {
        let mut lists = Vec::new();
        for (v, off) in self.values(name)? {
            if keep(v) {
                lists.push(self.read_postings(off)?);
            }
        }
        Ok(union_many(lists))
    }

    /// Series matching a single matcher that does not match the empty string.
    fn postings_for_nonempty(&self, m: &Matcher) -> Result<Vec<u32>, StorageError> {
        match m.op {
            MatchOp::Equal => self.postings(&m.name, &m.value),
            MatchOp::Regex => match m.set_matches() {
                Some(alts) => {
                    let mut lists = Vec::with_capacity(alts.len());
                    for a in alts {
                        lists.push(self.postings(&m.name, a)?);
                    }
                    Ok(union_many(lists))
                }
                None => self.postings_where(&m.name, |v| m.matches(v)),
            },
            MatchOp::NotEqual | MatchOp::NotRegex => self.postings_where(&m.name, |v| m.matches(v)),
        }
    }

    /// Series (sorted numbers) matching all `matchers`; all series if none.
    pub fn postings_for_matchers(&self, matchers: &[Matcher]) -> Result<Vec<u32>, StorageError> {
        let mut positive: Option<Vec<u32>> = None;
        let mut negative: Vec<Vec<u32>> = Vec::new();
        // Positive matchers first: they usually narrow the set most.
        for m in matchers.iter().filter(|m| !m.matches_empty()) {
            let p = self.postings_for_nonempty(m)?;
            let next = match positive.take() {
                None => p,
                Some(acc) => intersect(&acc, &p),
            };
            if next.is_empty() {
                return Ok(next);
            }
            positive = Some(next);
        }
        for m in matchers.iter().filter(|m| m.matches_empty()) {
            // Everything except series whose value for the label fails `m`.
            negative.push(self.postings_where(&m.name, |v| !m.matches(v))?);
        }
        let base = positive.unwrap_or_else(|| (0..self.num_series as u32).collect());
        let neg = union_many(negative);
        Ok(subtract(&base, &neg))
    }
}

const SECTION_NAMES: [&str; SECTIONS] = ["symbols", "series", "series offsets", "label index", "postings"];

pub use crate::postings::{intersect, subtract, union_many};
