//! Immutable on-disk blocks. See `docs/storage-blocks.md` for byte layouts.
//!
//! A block covers the half-open time range `[min_t, max_t)` and lives in
//! `<blocks_dir>/<id>/` with three files:
//!
//! - `meta.json`: [`BlockMeta`] (plus a format version);
//! - `index`: the label index (see [`crate::index`]);
//! - `chunks`: compressed sample chunks (see `block/chunks.rs`).
//!
//! Invariants:
//! - a block directory is complete or absent: [`BlockWriter::finish`] writes
//!   into `<id>.tmp/`, fsyncs every file and the directory, then renames it
//!   to `<id>/` and fsyncs `blocks_dir`;
//! - block ids are 26-character ULIDs (Crockford base32 of the creation time
//!   in ms plus 80 random bits), so sorting ids sorts blocks by creation;
//! - series in the index are sorted by labels; each series' chunks are in
//!   time order, do not overlap, and hold at most
//!   [`encoding::MAX_CHUNK_SAMPLES`] samples;
//! - reading never trusts the files: every section and frame carries a
//!   CRC-32 and every offset is bounds-checked, so damage is reported as
//!   [`StorageError::Corruption`]. Chunk frames are read with `pread`, so a
//!   file truncated while open yields an error, not a fault.
//!
//! Selecting a few series decompresses only the frames (~64 KiB of encoded
//! data each) that hold their chunks; iterators returned by one select share
//! a small frame cache.

pub(crate) mod chunks;
pub(crate) mod encoding;
pub mod gen;

use crate::index::{write_index, ChunkMeta, IndexReader};
pub use chunks::{ChunkLoc, FrameCache};
use chunks::{ChunksReader, ChunksWriter};
use encoding::MAX_CHUNK_SAMPLES;
use serde::{Deserialize, Serialize};
use sightline_model::{AppendError, Labels, Matcher, Sample, SampleIterator, StorageError};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub const META_FILE: &str = "meta.json";
pub const INDEX_FILE: &str = "index";
pub const CHUNKS_FILE: &str = "chunks";
const TMP_SUFFIX: &str = ".tmp";
const META_VERSION: u32 = 1;

pub(crate) fn corruption(path: &str, detail: &str) -> StorageError {
    StorageError::Corruption {
        path: path.to_string(),
        detail: detail.to_string(),
    }
}

/// The result of [`Block::select`]: series sorted by labels with their
/// sample iterators.
pub type Selected = Vec<(Labels, Box<dyn SampleIterator>)>;

/// What `meta.json` describes.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct BlockMeta {
    pub id: String,
    /// Inclusive lower bound of sample timestamps (ms).
    pub min_t: i64,
    /// Exclusive upper bound of sample timestamps (ms).
    pub max_t: i64,
    pub num_series: u64,
    pub num_samples: u64,
    /// Bytes of `index` + `chunks`.
    pub size_bytes: u64,
    /// 1 for a block written from the head; compaction output is one more
    /// than the highest level among its inputs.
    pub level: u32,
    /// Ids of the level-1 blocks whose data this block holds.
    pub sources: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct MetaFile {
    version: u32,
    #[serde(flatten)]
    meta: BlockMeta,
}

/// Writes one block. Series may be added in any order; `finish` sorts the
/// index. Dropping a writer without `finish` removes its temporary directory.
pub struct BlockWriter {
    blocks_dir: PathBuf,
    tmp_dir: PathBuf,
    id: String,
    min_t: i64,
    max_t: i64,
    level: u32,
    sources: Vec<String>,
    chunks: Option<ChunksWriter>,
    series: Vec<(Labels, Vec<ChunkMeta>)>,
    num_samples: u64,
    buf: Vec<Sample>,
    enc: Vec<u8>,
    finished: bool,
}

impl BlockWriter {
    /// Starts a block for `[min_t, max_t)` in `blocks_dir` (created if missing).
    pub fn new(blocks_dir: &Path, min_t: i64, max_t: i64) -> Result<Self, StorageError> {
        if max_t <= min_t {
            return Err(StorageError::Other(format!(
                "empty block time range [{min_t}, {max_t})"
            )));
        }
        fs::create_dir_all(blocks_dir)?;
        let id = new_ulid();
        let tmp_dir = blocks_dir.join(format!("{id}{TMP_SUFFIX}"));
        fs::create_dir(&tmp_dir)?;
        let chunks = match ChunksWriter::create(&tmp_dir.join(CHUNKS_FILE)) {
            Ok(c) => c,
            Err(e) => {
                let _ = fs::remove_dir_all(&tmp_dir);
                return Err(e);
            }
        };
        Ok(Self {
            blocks_dir: blocks_dir.to_path_buf(),
            tmp_dir,
            sources: vec![id.clone()],
            id,
            min_t,
            max_t,
            level: 1,
            chunks: Some(chunks),
            series: Vec::new(),
            num_samples: 0,
            buf: Vec::with_capacity(MAX_CHUNK_SAMPLES),
            enc: Vec::new(),
            finished: false,
        })
    }

    /// The id the block will have.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Records compaction lineage (used by [`crate::compact`]).
    pub fn set_lineage(&mut self, level: u32, mut sources: Vec<String>) {
        sources.sort();
        sources.dedup();
        self.level = level;
        self.sources = sources;
    }

    /// Adds a series. Samples must have strictly increasing timestamps within
    /// `[min_t, max_t)`; a series without samples is skipped. Adding the same
    /// label set twice fails at [`Self::finish`].
    pub fn add_series(
        &mut self,
        labels: &Labels,
        samples: &mut dyn Iterator<Item = Sample>,
    ) -> Result<(), StorageError> {
        let mut metas = Vec::new();
        let mut last_t: Option<i64> = None;
        self.buf.clear();
        for s in samples {
            if s.t < self.min_t || s.t >= self.max_t {
                return Err(AppendError::OutOfBounds(s.t).into());
            }
            if last_t.is_some_and(|l| s.t <= l) {
                return Err(AppendError::OutOfOrder.into());
            }
            last_t = Some(s.t);
            self.buf.push(s);
            if self.buf.len() == MAX_CHUNK_SAMPLES {
                metas.push(self.flush_chunk()?);
            }
        }
        if !self.buf.is_empty() {
            metas.push(self.flush_chunk()?);
        }
        if !metas.is_empty() {
            self.series.push((labels.clone(), metas));
        }
        Ok(())
    }

    fn flush_chunk(&mut self) -> Result<ChunkMeta, StorageError> {
        self.enc.clear();
        encoding::encode_chunk(&mut self.enc, self.min_t, &self.buf);
        let w = self.chunks.as_mut().expect("writer not finished");
        let loc = w.add_chunk(&self.enc)?;
        let meta = ChunkMeta {
            min_t: self.buf[0].t,
            max_t: self.buf[self.buf.len() - 1].t,
            num_samples: self.buf.len() as u32,
            loc,
        };
        self.num_samples += self.buf.len() as u64;
        self.buf.clear();
        Ok(meta)
    }

    /// Writes index and meta, fsyncs, and atomically renames the block into
    /// place.
    pub fn finish(mut self) -> Result<BlockMeta, StorageError> {
        let chunks_size = self.chunks.take().expect("writer not finished").finish()?;
        let mut series = std::mem::take(&mut self.series);
        series.sort_by(|a, b| a.0.cmp(&b.0));
        if let Some(w) = series.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(StorageError::Other(format!(
                "series {} added twice to block",
                w[0].0
            )));
        }
        let index_size = write_index(&self.tmp_dir.join(INDEX_FILE), self.min_t, &series)?;
        let meta = BlockMeta {
            id: self.id.clone(),
            min_t: self.min_t,
            max_t: self.max_t,
            num_series: series.len() as u64,
            num_samples: self.num_samples,
            size_bytes: index_size + chunks_size,
            level: self.level,
            sources: self.sources.clone(),
        };
        let json = serde_json::to_vec_pretty(&MetaFile {
            version: META_VERSION,
            meta: meta.clone(),
        })
        .map_err(|e| StorageError::Other(format!("encoding meta.json: {e}")))?;
        {
            use std::io::Write;
            let mut f = File::options()
                .write(true)
                .create_new(true)
                .open(self.tmp_dir.join(META_FILE))?;
            f.write_all(&json)?;
            f.sync_all()?;
        }
        sync_dir(&self.tmp_dir)?;
        let final_dir = self.blocks_dir.join(&self.id);
        fs::rename(&self.tmp_dir, &final_dir)?;
        sync_dir(&self.blocks_dir)?;
        self.finished = true;
        Ok(meta)
    }
}

impl Drop for BlockWriter {
    fn drop(&mut self) {
        if !self.finished {
            let _ = fs::remove_dir_all(&self.tmp_dir);
        }
    }
}

fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    File::open(dir)?.sync_all()?;
    Ok(())
}

/// Removes leftover `<id>.tmp` directories (from a crash mid-write).
/// Returns how many were removed.
pub fn remove_tmp_dirs(blocks_dir: &Path) -> Result<usize, StorageError> {
    let mut n = 0;
    let rd = match fs::read_dir(blocks_dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e.into()),
    };
    for e in rd {
        let e = e?;
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.ends_with(TMP_SUFFIX) && is_ulid(&name[..name.len() - TMP_SUFFIX.len()]) {
            fs::remove_dir_all(e.path())?;
            n += 1;
        }
    }
    Ok(n)
}

/// Directories in `blocks_dir` named like block ids, sorted by id.
pub fn list_block_dirs(blocks_dir: &Path) -> Result<Vec<PathBuf>, StorageError> {
    let rd = match fs::read_dir(blocks_dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut out = Vec::new();
    for e in rd {
        let e = e?;
        if e.file_type()?.is_dir() && is_ulid(&e.file_name().to_string_lossy()) {
            out.push(e.path());
        }
    }
    out.sort();
    Ok(out)
}

struct Inner {
    dir: PathBuf,
    meta: BlockMeta,
    index: IndexReader,
    chunks: ChunksReader,
}

/// An open, read-only block. Cheap to share (`Send + Sync`).
pub struct Block {
    inner: Arc<Inner>,
}

impl Block {
    /// Opens and verifies a block directory (meta, index checksums, chunks
    /// footer and frame table).
    pub fn open(dir: &Path) -> Result<Block, StorageError> {
        let meta_path = dir.join(META_FILE);
        let mp = meta_path.display().to_string();
        let raw = fs::read(&meta_path)?;
        let mf: MetaFile =
            serde_json::from_slice(&raw).map_err(|e| corruption(&mp, &format!("invalid meta.json: {e}")))?;
        if mf.version != META_VERSION {
            return Err(corruption(
                &mp,
                &format!("unsupported meta version {}", mf.version),
            ));
        }
        let meta = mf.meta;
        if meta.max_t <= meta.min_t {
            return Err(corruption(&mp, "max_t is not after min_t"));
        }
        if let Some(name) = dir.file_name().and_then(|n| n.to_str()) {
            if is_ulid(name) && name != meta.id {
                return Err(corruption(
                    &mp,
                    &format!("meta id {} does not match directory name", meta.id),
                ));
            }
        }
        let index = IndexReader::open(&dir.join(INDEX_FILE), meta.min_t)?;
        if index.num_series() as u64 != meta.num_series {
            return Err(corruption(&mp, "num_series does not match the index"));
        }
        let chunks = ChunksReader::open(&dir.join(CHUNKS_FILE))?;
        Ok(Block {
            inner: Arc::new(Inner {
                dir: dir.to_path_buf(),
                meta,
                index,
                chunks,
            }),
        })
    }

    pub fn meta(&self) -> &BlockMeta {
        &self.inner.meta
    }

    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Bytes of index data held in memory.
    pub fn index_memory_bytes(&self) -> usize {
        self.inner.index.size_bytes()
    }

    /// Series matching `matchers` (all series if none), sorted by labels,
    /// each with an iterator over its samples in `[mint, maxt]` (inclusive).
    /// Series with no chunk overlapping the range are left out (unless
    /// `labels_only`, which returns every matching series with an empty
    /// iterator). Chunk frames are read lazily; a damaged frame ends the
    /// iterator early with [`SampleIterator::error`] set.
    pub fn select(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        labels_only: bool,
    ) -> Result<Selected, StorageError> {
        let ids = self.inner.index.postings_for_matchers(matchers)?;
        let mut out: Selected = Vec::with_capacity(ids.len());
        if labels_only {
            for id in ids {
                let labels = self.inner.index.series_labels(id)?;
                out.push((labels, Box::new(EmptyIter)));
            }
            return Ok(out);
        }
        let cache = Arc::new(Mutex::new(FrameCache::default()));
        for id in ids {
            let (labels, mut chunks) = self.inner.index.series(id)?;
            chunks.retain(|c| c.max_t >= mint && c.min_t <= maxt);
            if chunks.is_empty() {
                continue;
            }
            out.push((
                labels,
                Box::new(self.iter_chunks(chunks, mint, maxt, cache.clone())),
            ));
        }
        Ok(out)
    }

    fn iter_chunks(
        &self,
        chunks: Vec<ChunkMeta>,
        mint: i64,
        maxt: i64,
        cache: Arc<Mutex<FrameCache>>,
    ) -> BlockSeriesIter {
        BlockSeriesIter {
            inner: self.inner.clone(),
            cache,
            chunks,
            next_chunk: 0,
            buf: Vec::new(),
            pos: 0,
            mint,
            maxt,
            err: None,
        }
    }

    /// Number of series in the block.
    pub fn num_series(&self) -> usize {
        self.inner.index.num_series()
    }

    /// Labels and all samples of series number `id` (0-based, label order).
    /// Used by compaction to stream a block in order.
    pub fn series_by_number(
        &self,
        id: u32,
        cache: &Arc<Mutex<FrameCache>>,
    ) -> Result<(Labels, BlockSeriesIter), StorageError> {
        let (labels, chunks) = self.inner.index.series(id)?;
        Ok((
            labels,
            self.iter_chunks(chunks, i64::MIN, i64::MAX, cache.clone()),
        ))
    }

    /// Sorted label names of series matching `matchers` (all if empty).
    pub fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        if matchers.is_empty() {
            return Ok(self.inner.index.label_names());
        }
        let ids = self.inner.index.postings_for_matchers(matchers)?;
        let mut names = std::collections::BTreeSet::new();
        for id in ids {
            for (n, _) in self.inner.index.series_labels(id)?.into_pairs() {
                names.insert(n);
            }
        }
        Ok(names.into_iter().collect())
    }

    /// Sorted values of `name` over series matching `matchers` (all if empty).
    pub fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        let values = self.inner.index.label_values(name)?;
        if matchers.is_empty() {
            return Ok(values);
        }
        let ids = self.inner.index.postings_for_matchers(matchers)?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for v in values {
            let p = self.inner.index.postings(name, &v)?;
            if !crate::index::intersect(&p, &ids).is_empty() {
                out.push(v);
            }
        }
        Ok(out)
    }

    /// Reads and checks every chunk frame and decodes every chunk (a full
    /// scrub). Returns the number of samples read.
    pub fn verify(&self) -> Result<u64, StorageError> {
        let cache = Arc::new(Mutex::new(FrameCache::default()));
        let mut n = 0u64;
        for id in 0..self.num_series() as u32 {
            let (_, mut it) = self.series_by_number(id, &cache)?;
            while it.next().is_some() {
                n += 1;
            }
            if let Some(e) = it.take_error() {
                return Err(e);
            }
        }
        if n != self.meta().num_samples {
            return Err(corruption(
                &self.dir().display().to_string(),
                &format!("meta says {} samples, chunks hold {n}", self.meta().num_samples),
            ));
        }
        Ok(n)
    }
}

struct EmptyIter;

impl SampleIterator for EmptyIter {
    fn next(&mut self) -> Option<Sample> {
        None
    }
}

/// Samples of one series in one block, decoded chunk by chunk.
pub struct BlockSeriesIter {
    inner: Arc<Inner>,
    cache: Arc<Mutex<FrameCache>>,
    chunks: Vec<ChunkMeta>,
    next_chunk: usize,
    buf: Vec<Sample>,
    pos: usize,
    mint: i64,
    maxt: i64,
    err: Option<StorageError>,
}

impl BlockSeriesIter {
    /// Decodes the next chunk into `buf`; false at the end or on error.
    fn load_next(&mut self) -> bool {
        while self.next_chunk < self.chunks.len() {
            let c = self.chunks[self.next_chunk];
            self.next_chunk += 1;
            if c.max_t < self.mint || c.min_t > self.maxt {
                continue;
            }
            match self.decode(c) {
                Ok(()) => {
                    if self.pos < self.buf.len() {
                        return true;
                    }
                }
                Err(e) => {
                    self.err = Some(e);
                    self.chunks.clear();
                    return false;
                }
            }
        }
        false
    }

    fn decode(&mut self, c: ChunkMeta) -> Result<(), StorageError> {
        let frame = {
            let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            cache.get(&self.inner.chunks, c.loc.frame)?
        };
        let bytes = self.inner.chunks.chunk_bytes(&frame, c.loc)?;
        self.buf.clear();
        self.pos = 0;
        let path = self.inner.chunks.path();
        let n = encoding::decode_chunk(bytes, self.inner.meta.min_t, &mut self.buf)
            .map_err(|e| corruption(path, &format!("chunk {:?}: {e}", c.loc)))?;
        if n as u32 != c.num_samples
            || self.buf.first().map(|s| s.t) != Some(c.min_t)
            || self.buf.last().map(|s| s.t) != Some(c.max_t)
        {
            return Err(corruption(
                path,
                &format!("chunk {:?} does not match its index entry", c.loc),
            ));
        }
        let (mint, maxt) = (self.mint, self.maxt);
        self.buf.retain(|s| s.t >= mint && s.t <= maxt);
        Ok(())
    }

    /// Takes the error that ended iteration, if any.
    pub fn take_error(&mut self) -> Option<StorageError> {
        self.err.take()
    }
}

impl SampleIterator for BlockSeriesIter {
    fn next(&mut self) -> Option<Sample> {
        if self.pos >= self.buf.len() && !self.load_next() {
            return None;
        }
        let s = self.buf[self.pos];
        self.pos += 1;
        Some(s)
    }

    fn seek(&mut self, t: i64) -> Option<Sample> {
        // Skip whole chunks that end before `t` without decoding them.
        if self.pos >= self.buf.len() || self.buf.last().is_some_and(|s| s.t < t) {
            self.buf.clear();
            self.pos = 0;
            while self.next_chunk < self.chunks.len() && self.chunks[self.next_chunk].max_t < t {
                self.next_chunk += 1;
            }
        }
        loop {
            let s = self.next()?;
            if s.t >= t {
                return Some(s);
            }
        }
    }

    fn error(&self) -> Option<&StorageError> {
        self.err.as_ref()
    }
}

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A new 26-character ULID for the current time.
pub fn new_ulid() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    ulid_from_parts(ms, random_u128())
}

/// Encodes a ULID from a 48-bit ms timestamp and 80 random bits.
pub fn ulid_from_parts(ms: u64, random: u128) -> String {
    let v: u128 = (u128::from(ms & 0xffff_ffff_ffff) << 80) | (random & ((1u128 << 80) - 1));
    (0..26)
        .map(|i| CROCKFORD[((v >> (125 - 5 * i)) & 31) as usize] as char)
        .collect()
}

/// The creation time (ms) encoded in a ULID.
pub fn ulid_time_ms(id: &str) -> Option<u64> {
    if !is_ulid(id) {
        return None;
    }
    let mut v: u128 = 0;
    for c in id.bytes() {
        v = (v << 5) | CROCKFORD.iter().position(|&x| x == c)? as u128;
    }
    Some((v >> 80) as u64)
}

/// True for 26 upper-case Crockford base32 characters (first one <= '7').
pub fn is_ulid(s: &str) -> bool {
    s.len() == 26 && s.as_bytes()[0] <= b'7' && s.bytes().all(|c| CROCKFORD.contains(&c))
}

fn random_u128() -> u128 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let c = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mut out = 0u128;
    for part in 0..2u64 {
        // RandomState carries per-process random keys.
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(c);
        h.write_u64(part);
        h.write_u128(nanos);
        h.write_u32(std::process::id());
        out = (out << 64) | u128::from(h.finish());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulids_sort_by_time_and_roundtrip() {
        let a = ulid_from_parts(1_700_000_000_000, u128::MAX);
        let b = ulid_from_parts(1_700_000_000_001, 0);
        assert!(a < b);
        assert!(is_ulid(&a) && is_ulid(&b));
        assert_eq!(ulid_time_ms(&a), Some(1_700_000_000_000));
        let x = new_ulid();
        let y = new_ulid();
        assert_ne!(x, y);
        assert!(!is_ulid("01ARZ3NDEKTSV4RRFFQ69G5FA")); // 25 chars
        assert!(!is_ulid("01ARZ3NDEKTSV4RRFFQ69G5FAU")); // U is not Crockford
    }
}
