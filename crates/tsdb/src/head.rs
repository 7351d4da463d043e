//! The head: recent samples of every active series, in memory.
//!
//! Structure:
//! - series live in two sharded maps (label hash -> series, id -> series),
//!   each shard behind its own `RwLock`; the append path takes only a read
//!   lock on one shard plus the series' own mutex, so appends to different
//!   series never contend on a global lock. Hash collisions are resolved by
//!   comparing the full label sets;
//! - series ids are assigned monotonically (under the postings lock, so every
//!   postings list stays sorted by appending);
//! - label strings are interned (`Arc<str>` shared by every series and the
//!   postings index), so a series costs a few hundred bytes plus its chunks;
//! - postings: label name -> value -> sorted series ids, plus the list of all
//!   ids, used to resolve matchers;
//! - each series holds completed [`Chunk`]s, one open [`XorChunk`] and a
//!   sorted buffer of out-of-order samples (only when an out-of-order window
//!   is configured). Chunks are cut at [`HeadOptions::chunk_samples`] samples
//!   and never cross a multiple of `block_range_ms`, so persisting an aligned
//!   block range drops whole chunks.
//!
//! Append semantics (Prometheus's): a sample with the series' last timestamp
//! and bit-identical value is ignored; a different value is
//! [`AppendError::DuplicateTimestamp`]; an older sample is
//! [`AppendError::OutOfOrder`] unless it is within `ooo_window_ms` of the
//! head's newest sample, in which case it goes into the series' out-of-order
//! buffer; samples older than the data already persisted into blocks are
//! [`AppendError::OutOfBounds`], and so are in-order samples older than
//! `head max - block_range/2` when no out-of-order window covers them.
//! Appenders validate each sample in `append` against committed data and
//! the appender's own earlier samples of the series, and validate again
//! when applying at commit (concurrent appenders may have raced); samples
//! refused at commit are counted and skipped.
//!
//! Durability: [`HeadAppender::commit`] writes the batch to the WAL first and
//! only then applies it, so nothing visible is missing from the WAL.

use crate::chunkenc::{Chunk, Decoder, XorChunk};
use crate::wal::{Record, RefMetadata, RefSample, RefSeries, Wal, WalBatch};
use parking_lot::{Mutex, RwLock};
use sightline_model::{
    AppendError, Appender, CommitStats, LabelRef, Labels, Limits, MatchOp, Matcher, MetricMetadata, Sample,
    SampleIterator, SeriesRef, StorageError,
};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

const SHARDS: usize = 256;
/// Labels sorted on the stack (more use a heap buffer).
const STACK_LABELS: usize = 32;
/// Batches kept for reuse by later appenders.
const POOL_SIZE: usize = 32;

/// Hash of sorted, non-empty labels (head-internal; not persisted). Short
/// sets are hashed in one shot from a stack buffer.
pub fn label_hash(refs: &[LabelRef<'_>]) -> u64 {
    let mut buf = [0u8; 256];
    let mut n = 0;
    for l in refs {
        let need = l.name.len() + l.value.len() + 2;
        if n + need > buf.len() {
            let mut h = xxhash_rust::xxh3::Xxh3::new();
            for l in refs {
                h.update(l.name.as_bytes());
                h.update(&[0xff]);
                h.update(l.value.as_bytes());
                h.update(&[0xff]);
            }
            return h.digest();
        }
        buf[n..n + l.name.len()].copy_from_slice(l.name.as_bytes());
        n += l.name.len();
        buf[n] = 0xff;
        n += 1;
        buf[n..n + l.value.len()].copy_from_slice(l.value.as_bytes());
        n += l.value.len();
        buf[n] = 0xff;
        n += 1;
    }
    xxhash_rust::xxh3::xxh3_64(&buf[..n])
}

/// Hasher for keys that are already hashes or dense ids (multiply-shift).
#[derive(Default, Clone, Copy)]
pub struct U64Hasher(u64);

impl Hasher for U64Hasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (v ^ (v >> 29)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type U64Map<V> = HashMap<u64, V, BuildHasherDefault<U64Hasher>>;

/// Head configuration.
#[derive(Clone, Debug)]
pub struct HeadOptions {
    /// Block range (ms): chunks never cross a multiple of it.
    pub block_range_ms: i64,
    /// Out-of-order window (ms); 0 disables out-of-order ingestion.
    pub ooo_window_ms: i64,
    pub limits: Limits,
    /// Samples per chunk before a new one is cut.
    pub chunk_samples: usize,
}

impl Default for HeadOptions {
    fn default() -> Self {
        Self {
            block_range_ms: 2 * 3600 * 1000,
            ooo_window_ms: 0,
            limits: Limits::default(),
            chunk_samples: 120,
        }
    }
}

type LabelPairs = Box<[(Arc<str>, Arc<str>)]>;

/// One series of the head.
pub struct MemSeries {
    id: u64,
    hash: u64,
    labels: LabelPairs,
    data: Mutex<SeriesData>,
}

impl MemSeries {
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The series' labels as an owned set.
    pub fn labels(&self) -> Labels {
        Labels::from_sorted_unchecked(
            self.labels
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        )
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.labels
            .binary_search_by(|(n, _)| (**n).cmp(name))
            .ok()
            .map(|i| &*self.labels[i].1)
    }

    fn labels_eq(&self, refs: &[LabelRef<'_>]) -> bool {
        self.labels.len() == refs.len()
            && self
                .labels
                .iter()
                .zip(refs)
                .all(|((n, v), r)| **n == *r.name && **v == *r.value)
    }

    fn cmp_labels(&self, other: &MemSeries) -> std::cmp::Ordering {
        self.labels.iter().cmp(other.labels.iter())
    }
}

struct SeriesData {
    chunks: Vec<Arc<Chunk>>,
    open: Option<XorChunk>,
    /// Timestamp and value bits of the newest in-order sample (`i64::MIN`
    /// when none was ever appended).
    last_t: i64,
    last_v: u64,
    /// Out-of-order samples, sorted by time, unique timestamps.
    ooo: Vec<Sample>,
    /// A commit has written this series' record to the WAL.
    in_wal: bool,
    /// The appender that last queued this series' record (0 = none).
    wal_owner: u64,
    /// The newest sample an uncommitted appender queued (owner 0 = none).
    pending_owner: u64,
    pending_t: i64,
    pending_v: u64,
    removed: bool,
}

enum Verdict {
    InOrder,
    OutOfOrder,
    Ignore,
}

#[derive(Clone, Copy)]
struct Bounds {
    min_valid: i64,
    head_max: i64,
    block_range: i64,
    ooo_window: i64,
}

impl SeriesData {
    fn new() -> Self {
        Self {
            chunks: Vec::new(),
            open: None,
            last_t: i64::MIN,
            last_v: 0,
            ooo: Vec::new(),
            in_wal: false,
            wal_owner: 0,
            pending_owner: 0,
            pending_t: i64::MIN,
            pending_v: 0,
            removed: false,
        }
    }

    fn is_empty(&self) -> bool {
        self.chunks.is_empty() && self.open.as_ref().is_none_or(|c| c.is_empty()) && self.ooo.is_empty()
    }

    fn check(&self, t: i64, bits: u64, b: &Bounds, appender: u64) -> Result<Verdict, AppendError> {
        if t < b.min_valid {
            return Err(AppendError::OutOfBounds(t));
        }
        let (lt, lv) = if appender != 0 && self.pending_owner == appender && self.pending_t > self.last_t {
            (self.pending_t, self.pending_v)
        } else {
            (self.last_t, self.last_v)
        };
        let ooo_ok = b.ooo_window > 0 && t >= b.head_max.saturating_sub(b.ooo_window);
        if t > lt {
            if t < b.head_max.saturating_sub(b.block_range / 2) && !ooo_ok {
                return Err(AppendError::OutOfBounds(t));
            }
            return Ok(Verdict::InOrder);
        }
        if t == lt {
            return if bits == lv {
                Ok(Verdict::Ignore)
            } else {
                Err(AppendError::DuplicateTimestamp(t))
            };
        }
        if !ooo_ok {
            return Err(AppendError::OutOfOrder);
        }
        if let Some(existing) = self.find_in_order(t) {
            return if existing == bits {
                Ok(Verdict::Ignore)
            } else {
                Err(AppendError::DuplicateTimestamp(t))
            };
        }
        match self.ooo.binary_search_by_key(&t, |s| s.t) {
            Ok(i) if self.ooo[i].v.to_bits() == bits => Ok(Verdict::Ignore),
            Ok(_) => Err(AppendError::DuplicateTimestamp(t)),
            Err(_) => Ok(Verdict::OutOfOrder),
        }
    }

    /// The value bits of the in-order sample at `t`, if any (decodes at
    /// most one chunk).
    fn find_in_order(&self, t: i64) -> Option<u64> {
        let find = |it: crate::chunkenc::ChunkIter<'_>| {
            it.take_while(|s| s.t <= t)
                .find(|s| s.t == t)
                .map(|s| s.v.to_bits())
        };
        if let Some(c) = self.open.as_ref().filter(|c| !c.is_empty() && c.min_t() <= t) {
            return if t <= c.max_t() { find(c.iter()) } else { None };
        }
        let i = self.chunks.partition_point(|c| c.max_t() < t);
        let c = self.chunks.get(i).filter(|c| c.min_t() <= t)?;
        find(c.iter())
    }

    /// Appends an in-order sample; returns true when a chunk was cut.
    fn append(&mut self, t: i64, v: f64, opts: &HeadOptions) -> bool {
        let range = opts.block_range_ms.max(1);
        let cut = match &self.open {
            None => true,
            Some(c) => {
                c.num_samples() >= opts.chunk_samples.max(1)
                    || (!c.is_empty() && t.div_euclid(range) != c.min_t().div_euclid(range))
            }
        };
        if cut {
            if let Some(c) = self.open.take() {
                if !c.is_empty() {
                    self.chunks.push(Arc::new(c.freeze()));
                }
            }
            self.open = Some(XorChunk::with_capacity(32));
        }
        if let Some(c) = self.open.as_mut() {
            c.append(t, v);
        }
        self.last_t = t;
        self.last_v = v.to_bits();
        cut
    }

    fn insert_ooo(&mut self, t: i64, v: f64) {
        match self.ooo.binary_search_by_key(&t, |s| s.t) {
            Ok(_) => {}
            Err(i) => self.ooo.insert(i, Sample { t, v }),
        }
    }

    fn apply(&mut self, t: i64, v: f64, b: &Bounds, opts: &HeadOptions) -> Result<Applied, AppendError> {
        match self.check(t, v.to_bits(), b, 0)? {
            Verdict::InOrder => Ok(Applied {
                samples: 1,
                chunk_cut: self.append(t, v, opts),
                ooo: false,
            }),
            Verdict::OutOfOrder => {
                self.insert_ooo(t, v);
                Ok(Applied {
                    samples: 1,
                    chunk_cut: false,
                    ooo: true,
                })
            }
            Verdict::Ignore => Ok(Applied::default()),
        }
    }

    fn min_t(&self) -> Option<i64> {
        let c = self
            .chunks
            .first()
            .map(|c| c.min_t())
            .or_else(|| self.open.as_ref().filter(|c| !c.is_empty()).map(|c| c.min_t()));
        match (c, self.ooo.first().map(|s| s.t)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn num_chunks(&self) -> usize {
        self.chunks.len() + usize::from(self.open.as_ref().is_some_and(|c| !c.is_empty()))
    }

    /// Chunks overlapping `[mint, maxt]` (the open one copied) and the
    /// out-of-order samples in range.
    fn snapshot(&self, mint: i64, maxt: i64) -> Snapshot {
        let chunks: Vec<Arc<Chunk>> = self
            .chunks
            .iter()
            .filter(|c| c.max_t() >= mint && c.min_t() <= maxt)
            .cloned()
            .collect();
        let open = self
            .open
            .as_ref()
            .filter(|c| !c.is_empty() && c.max_t() >= mint && c.min_t() <= maxt)
            .map(|c| c.snapshot());
        let ooo = self
            .ooo
            .iter()
            .filter(|s| s.t >= mint && s.t <= maxt)
            .copied()
            .collect();
        Snapshot { chunks, open, ooo }
    }

    /// Whether any sample may lie in `[mint, maxt]` (by chunk time ranges;
    /// decodes nothing).
    fn has_data_in(&self, mint: i64, maxt: i64) -> bool {
        let overlaps = |a: i64, b: i64| a <= maxt && b >= mint;
        self.chunks.iter().any(|c| overlaps(c.min_t(), c.max_t()))
            || self
                .open
                .as_ref()
                .is_some_and(|c| !c.is_empty() && overlaps(c.min_t(), c.max_t()))
            || self.ooo.iter().any(|s| s.t >= mint && s.t <= maxt)
    }

    /// Appends the samples in `[mint, maxt)` to `out` in time order (in-order
    /// data wins over out-of-order data at equal timestamps).
    fn samples_in(&self, mint: i64, maxt: i64, out: &mut Vec<Sample>) {
        let start = out.len();
        let push_chunk = |out: &mut Vec<Sample>, it: crate::chunkenc::ChunkIter<'_>| {
            out.extend(it.filter(|s| s.t >= mint && s.t < maxt));
        };
        for c in &self.chunks {
            if c.max_t() >= mint && c.min_t() < maxt {
                push_chunk(out, c.iter());
            }
        }
        if let Some(c) = &self.open {
            if !c.is_empty() && c.max_t() >= mint && c.min_t() < maxt {
                push_chunk(out, c.iter());
            }
        }
        let n_in = out.len();
        out.extend(self.ooo.iter().filter(|s| s.t >= mint && s.t < maxt));
        if out.len() > n_in && n_in > start {
            out[start..].sort_by_key(|s| s.t);
            let mut w = start;
            for r in start..out.len() {
                if r > start && out[r].t == out[w - 1].t {
                    continue;
                }
                out[w] = out[r];
                w += 1;
            }
            out.truncate(w);
        }
    }

    /// Drops data older than `before`; returns chunks removed.
    fn truncate(&mut self, before: i64) -> usize {
        let n = self.chunks.len();
        self.chunks.retain(|c| c.max_t() >= before);
        let mut dropped = n - self.chunks.len();
        if self
            .open
            .as_ref()
            .is_some_and(|c| !c.is_empty() && c.max_t() < before)
        {
            self.open = None;
            dropped += 1;
        }
        self.ooo.retain(|s| s.t >= before);
        if self.chunks.is_empty() && self.open.is_none() {
            self.chunks.shrink_to_fit();
        }
        dropped
    }
}

/// A series' data in a query range, detached from the head.
#[derive(Clone, Default)]
struct Snapshot {
    chunks: Vec<Arc<Chunk>>,
    open: Option<Chunk>,
    ooo: Vec<Sample>,
}

impl Snapshot {
    fn is_empty(&self) -> bool {
        self.chunks.is_empty() && self.open.is_none() && self.ooo.is_empty()
    }
}

#[derive(Default)]
struct Applied {
    samples: u64,
    chunk_cut: bool,
    ooo: bool,
}

/// Series of one shard keyed by label hash. Entries are bare pointers (8
/// bytes per bucket); series with colliding hashes simply share a probe
/// sequence and are told apart by their labels.
#[derive(Default)]
struct HashShard {
    table: hashbrown::HashTable<Arc<MemSeries>>,
}

impl HashShard {
    fn find(&self, hash: u64, refs: &[LabelRef<'_>]) -> Option<&Arc<MemSeries>> {
        self.table.find(hash, |s| s.hash == hash && s.labels_eq(refs))
    }

    fn insert(&mut self, s: Arc<MemSeries>) {
        self.table.insert_unique(s.hash, s, |s| s.hash);
    }

    fn remove(&mut self, hash: u64, id: u64) -> bool {
        match self.table.find_entry(hash, |s| s.id == id) {
            Ok(e) => {
                e.remove();
                true
            }
            Err(_) => false,
        }
    }
}

#[derive(Default)]
struct Postings {
    map: HashMap<Arc<str>, HashMap<Arc<str>, Vec<u64>>>,
    all: Vec<u64>,
}

fn insert_sorted(list: &mut Vec<u64>, id: u64) {
    match list.last() {
        Some(&last) if last >= id => {
            if let Err(i) = list.binary_search(&id) {
                list.insert(i, id);
            }
        }
        _ => list.push(id),
    }
}

impl Postings {
    fn add(&mut self, s: &MemSeries) {
        for (n, v) in s.labels.iter() {
            let values = self.map.entry(n.clone()).or_default();
            insert_sorted(values.entry(v.clone()).or_default(), s.id);
        }
        insert_sorted(&mut self.all, s.id);
    }

    /// Removes the (sorted) ids from every list.
    fn remove(&mut self, ids: &[u64]) {
        if ids.is_empty() {
            return;
        }
        let keep = |id: &u64| ids.binary_search(id).is_err();
        self.all.retain(keep);
        self.map.retain(|_, values| {
            values.retain(|_, list| {
                list.retain(keep);
                !list.is_empty()
            });
            !values.is_empty()
        });
    }

    fn values_where(&self, name: &str, mut f: impl FnMut(&str) -> bool) -> Vec<u64> {
        let Some(values) = self.map.get(name) else {
            return Vec::new();
        };
        union_many(
            values
                .iter()
                .filter(|(v, _)| f(v))
                .map(|(_, l)| l.as_slice())
                .collect(),
        )
    }

    fn for_nonempty(&self, m: &Matcher) -> Cow<'_, [u64]> {
        match m.op {
            MatchOp::Equal => Cow::Borrowed(
                self.map
                    .get(m.name.as_str())
                    .and_then(|vs| vs.get(m.value.as_str()))
                    .map(|l| l.as_slice())
                    .unwrap_or_default(),
            ),
            MatchOp::Regex => match m.set_matches() {
                Some(set) => {
                    let Some(vs) = self.map.get(m.name.as_str()) else {
                        return Cow::Borrowed(&[]);
                    };
                    let lists: Vec<&[u64]> = set
                        .iter()
                        .filter_map(|v| vs.get(*v))
                        .map(|l| l.as_slice())
                        .collect();
                    if lists.len() == 1 {
                        return Cow::Borrowed(lists[0]);
                    }
                    Cow::Owned(union_many(lists))
                }
                None => Cow::Owned(self.values_where(&m.name, |v| m.matches(v))),
            },
            MatchOp::NotEqual | MatchOp::NotRegex => Cow::Owned(self.values_where(&m.name, |v| m.matches(v))),
        }
    }

    /// Sorted ids matching all `matchers` (every series when empty).
    /// Equality matchers go first: they are direct lookups and usually the
    /// most selective.
    fn for_matchers(&self, matchers: &[Matcher]) -> Cow<'_, [u64]> {
        let mut positive: Vec<&Matcher> = matchers.iter().filter(|m| !m.matches_empty()).collect();
        positive.sort_by_key(|m| m.op != MatchOp::Equal);
        let mut acc: Option<Cow<'_, [u64]>> = None;
        for m in positive {
            let p = self.for_nonempty(m);
            let next = match acc.take() {
                None => p,
                Some(a) => Cow::Owned(intersect(&a, &p)),
            };
            if next.is_empty() {
                return next;
            }
            acc = Some(next);
        }
        let mut base = acc.unwrap_or(Cow::Borrowed(&self.all));
        for m in matchers.iter().filter(|m| m.matches_empty()) {
            // Series lacking the label match; drop those whose value fails.
            let neg = self.values_where(&m.name, |v| !m.matches(v));
            if !neg.is_empty() {
                base = Cow::Owned(subtract(&base, &neg));
            }
        }
        base
    }
}

pub use crate::postings::{intersect, subtract, union_many};

/// Receives one series' labels and samples (see [`Head::for_each_series_in`]).
pub type SeriesVisitor<'a> = dyn FnMut(&Labels, &[Sample]) -> Result<(), StorageError> + 'a;

/// Head counters (monotonic unless noted).
#[derive(Default)]
struct Counters {
    series: AtomicU64,
    series_created: AtomicU64,
    series_removed: AtomicU64,
    chunks: AtomicI64,
    samples_appended: AtomicU64,
    ooo_appended: AtomicU64,
    rejected_ooo: AtomicU64,
    rejected_dup: AtomicU64,
    rejected_oob: AtomicU64,
}

/// A snapshot of head statistics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeadStats {
    pub num_series: u64,
    pub series_created: u64,
    pub series_removed: u64,
    /// Chunks in memory (completed and open).
    pub chunks: u64,
    /// Oldest and newest sample timestamp (`None` when the head is empty).
    pub min_t: Option<i64>,
    pub max_t: Option<i64>,
    /// Samples below this are out of bounds (already in blocks).
    pub min_valid_t: i64,
    /// Samples committed through appenders (WAL replay not included).
    pub samples_appended: u64,
    pub ooo_appended: u64,
    pub rejected_out_of_order: u64,
    pub rejected_duplicate: u64,
    pub rejected_out_of_bounds: u64,
}

/// Series counts for `/api/v1/status/tsdb` (each list sorted by count,
/// descending, then name; at most `top` entries).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cardinality {
    pub num_series: u64,
    pub num_label_pairs: u64,
    pub series_count_by_metric_name: Vec<(String, u64)>,
    pub label_value_count_by_label_name: Vec<(String, u64)>,
    /// Bytes of label values per name (value length x series using it).
    pub memory_in_bytes_by_label_name: Vec<(String, u64)>,
    pub series_count_by_label_value_pair: Vec<(String, u64)>,
}

/// Replay bookkeeping: WAL series ids to head series.
#[derive(Default)]
pub struct ReplayState {
    ids: U64Map<Arc<MemSeries>>,
    /// Samples whose series record was missing.
    pub unknown_refs: u64,
}

/// The in-memory head.
pub struct Head {
    opts: HeadOptions,
    hash_shards: Box<[RwLock<HashShard>]>,
    id_shards: Box<[RwLock<U64Map<Arc<MemSeries>>>]>,
    postings: RwLock<Postings>,
    interner: Mutex<HashSet<Arc<str>>>,
    next_id: AtomicU64,
    next_appender: AtomicU64,
    min_t: AtomicI64,
    max_t: AtomicI64,
    min_valid_t: AtomicI64,
    metadata: RwLock<HashMap<String, MetricMetadata>>,
    counters: Counters,
    pool: Mutex<Vec<(WalBatch, Vec<Arc<MemSeries>>)>>,
}

/// Shard of a label hash: bits 32..40, independent of the low bits (bucket
/// index) and top bits (tag) the shard's table uses.
fn shard_of(h: u64) -> usize {
    (h >> 32) as usize & (SHARDS - 1)
}

fn id_shard(id: u64) -> usize {
    (id.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as usize & (SHARDS - 1)
}

impl Head {
    pub fn new(opts: HeadOptions) -> Self {
        Self {
            opts,
            hash_shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            id_shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            postings: RwLock::default(),
            interner: Mutex::default(),
            next_id: AtomicU64::new(1),
            next_appender: AtomicU64::new(1),
            min_t: AtomicI64::new(i64::MAX),
            max_t: AtomicI64::new(i64::MIN),
            min_valid_t: AtomicI64::new(i64::MIN),
            metadata: RwLock::default(),
            counters: Counters::default(),
            pool: Mutex::default(),
        }
    }

    pub fn options(&self) -> &HeadOptions {
        &self.opts
    }

    /// Oldest sample in the head (`None` when empty).
    pub fn min_t(&self) -> Option<i64> {
        let v = self.min_t.load(Ordering::Acquire);
        (v != i64::MAX).then_some(v)
    }

    /// Newest sample in the head (`None` when empty).
    pub fn max_t(&self) -> Option<i64> {
        let v = self.max_t.load(Ordering::Acquire);
        (v != i64::MIN).then_some(v)
    }

    /// Samples older than this are out of bounds.
    pub fn min_valid_t(&self) -> i64 {
        self.min_valid_t.load(Ordering::Acquire)
    }

    /// Raises the out-of-bounds limit (data below it is in blocks).
    pub fn set_min_valid_t(&self, t: i64) {
        self.min_valid_t.store(t, Ordering::Release);
    }

    pub fn num_series(&self) -> u64 {
        self.counters.series.load(Ordering::Relaxed)
    }

    fn bounds(&self) -> Bounds {
        Bounds {
            min_valid: self.min_valid_t.load(Ordering::Acquire),
            head_max: self.max_t.load(Ordering::Acquire),
            block_range: self.opts.block_range_ms,
            ooo_window: self.opts.ooo_window_ms,
        }
    }

    fn intern(&self, s: &str) -> Arc<str> {
        let mut set = self.interner.lock();
        if let Some(a) = set.get(s) {
            return a.clone();
        }
        let a: Arc<str> = Arc::from(s);
        set.insert(a.clone());
        a
    }

    fn lookup(&self, hash: u64, refs: &[LabelRef<'_>]) -> Option<Arc<MemSeries>> {
        self.hash_shards[shard_of(hash)].read().find(hash, refs).cloned()
    }

    /// The series with id `id`, if it is in the head.
    pub fn series_by_id(&self, id: u64) -> Option<Arc<MemSeries>> {
        self.id_shards[id_shard(id)].read().get(&id).cloned()
    }

    /// Finds or creates the series for sorted, non-empty `refs`. `id` forces
    /// the id of a new series (WAL replay). Returns the series and whether it
    /// was created.
    fn get_or_create(&self, hash: u64, refs: &[LabelRef<'_>], id: Option<u64>) -> (Arc<MemSeries>, bool) {
        if let Some(s) = self.lookup(hash, refs) {
            return (s, false);
        }
        let mut shard = self.hash_shards[shard_of(hash)].write();
        if let Some(s) = shard.find(hash, refs) {
            return (s.clone(), false);
        }
        let labels: LabelPairs = refs
            .iter()
            .map(|l| (self.intern(l.name), self.intern(l.value)))
            .collect();
        let mut postings = self.postings.write();
        let id = match id {
            Some(id) => {
                self.next_id.fetch_max(id.saturating_add(1), Ordering::AcqRel);
                id
            }
            None => self.next_id.fetch_add(1, Ordering::AcqRel),
        };
        let s = Arc::new(MemSeries {
            id,
            hash,
            labels,
            data: Mutex::new(SeriesData::new()),
        });
        postings.add(&s);
        self.id_shards[id_shard(id)].write().insert(id, s.clone());
        drop(postings);
        shard.insert(s.clone());
        self.counters.series.fetch_add(1, Ordering::Relaxed);
        self.counters.series_created.fetch_add(1, Ordering::Relaxed);
        (s, true)
    }

    /// An appender that logs to `wal` at commit.
    pub fn appender<'a>(&'a self, wal: &'a Wal) -> HeadAppender<'a> {
        let (batch, series) = self.pool.lock().pop().unwrap_or_default();
        HeadAppender {
            head: self,
            wal,
            id: self.next_appender.fetch_add(1, Ordering::Relaxed),
            batch,
            series,
            new_series: 0,
        }
    }

    fn count_rejection(&self, e: &AppendError) {
        let c = match e {
            AppendError::OutOfOrder => &self.counters.rejected_ooo,
            AppendError::DuplicateTimestamp(_) => &self.counters.rejected_dup,
            AppendError::OutOfBounds(_) => &self.counters.rejected_oob,
            _ => return,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Applies one sample (commit and replay path) with the head's newest
    /// timestamp as of the start of the batch (`head_max`), so a batch is
    /// judged as a whole. Returns the sample's timestamp when it was stored.
    /// Refusals are counted unless `replay` (WAL samples refused again at
    /// replay, e.g. ones already persisted into blocks, are not news).
    fn apply(&self, data: &mut SeriesData, t: i64, v: f64, head_max: i64, replay: bool) -> Option<i64> {
        let b = Bounds {
            head_max,
            ..self.bounds()
        };
        match data.apply(t, v, &b, &self.opts) {
            Ok(a) => {
                if a.chunk_cut {
                    self.counters.chunks.fetch_add(1, Ordering::Relaxed);
                }
                if a.ooo {
                    self.counters.ooo_appended.fetch_add(1, Ordering::Relaxed);
                }
                if a.samples > 0 {
                    Some(t)
                } else {
                    None
                }
            }
            Err(e) => {
                if !replay {
                    self.count_rejection(&e);
                }
                None
            }
        }
    }

    /// Widens the head's time range; `appended` counts towards
    /// `samples_appended` (WAL replay does not).
    fn note_range(&self, min: i64, max: i64, n: u64, appended: bool) {
        if n > 0 {
            self.min_t.fetch_min(min, Ordering::AcqRel);
            self.max_t.fetch_max(max, Ordering::AcqRel);
            if appended {
                self.counters.samples_appended.fetch_add(n, Ordering::Relaxed);
            }
        }
    }

    /// Applies one WAL record during replay (same rules as commit).
    pub fn replay(&self, rec: Record, st: &mut ReplayState) {
        match rec {
            Record::Series(list) => {
                for rs in list {
                    let refs: Vec<LabelRef<'_>> = rs.labels.iter().collect();
                    let hash = label_hash(&refs);
                    let (s, _) = self.get_or_create(hash, &refs, Some(rs.id));
                    s.data.lock().in_wal = true;
                    st.ids.insert(rs.id, s);
                }
            }
            Record::Samples(list) => {
                let head_max = self.max_t.load(Ordering::Acquire);
                let (mut min, mut max, mut n) = (i64::MAX, i64::MIN, 0u64);
                for rs in list {
                    let Some(s) = st.ids.get(&rs.id) else {
                        st.unknown_refs += 1;
                        continue;
                    };
                    let mut d = s.data.lock();
                    if let Some(t) = self.apply(&mut d, rs.t, rs.v, head_max, true) {
                        min = min.min(t);
                        max = max.max(t);
                        n += 1;
                    }
                }
                self.note_range(min, max, n, false);
            }
            Record::Metadata(list) => {
                let mut md = self.metadata.write();
                for m in list {
                    md.insert(m.name, m.meta);
                }
            }
        }
    }

    /// Metadata per metric family, sorted by name.
    pub fn metadata(&self) -> Vec<(String, MetricMetadata)> {
        let mut v: Vec<(String, MetricMetadata)> = self
            .metadata
            .read()
            .iter()
            .map(|(k, m)| (k.clone(), m.clone()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Every series, in no particular order.
    fn all_series(&self) -> Vec<Arc<MemSeries>> {
        let mut out = Vec::with_capacity(self.num_series() as usize);
        for sh in self.id_shards.iter() {
            out.extend(sh.read().values().cloned());
        }
        out
    }

    /// Series matching `matchers`, sorted by labels. Checks `deadline`.
    fn matching(
        &self,
        matchers: &[Matcher],
        deadline: Option<Instant>,
    ) -> Result<Vec<Arc<MemSeries>>, StorageError> {
        let postings = self.postings.read();
        let ids = postings.for_matchers(matchers);
        let mut out = Vec::with_capacity(ids.len());
        for (i, &id) in ids.iter().enumerate() {
            if i % 1024 == 1023 && deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(StorageError::DeadlineExceeded);
            }
            if let Some(s) = self.series_by_id(id) {
                out.push(s);
            }
        }
        out.sort_unstable_by(|a, b| a.cmp_labels(b));
        Ok(out)
    }

    /// Series matching `matchers`, sorted by labels, yielded lazily: each
    /// series' data in `[mint, maxt]` is snapshotted when the set reaches it
    /// (series without samples there are skipped). With `labels_only`, the
    /// same series are yielded with empty iterators (decided from chunk time
    /// ranges, nothing is decoded).
    pub fn select(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        labels_only: bool,
        deadline: Option<Instant>,
    ) -> Result<HeadSeriesSet, StorageError> {
        let series = self.matching(matchers, deadline)?;
        Ok(HeadSeriesSet {
            series: series.into_iter(),
            mint,
            maxt,
            labels_only,
        })
    }

    /// Sorted label names of series matching `matchers` (all if empty).
    pub fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        if matchers.is_empty() {
            let mut v: Vec<String> = self.postings.read().map.keys().map(|k| k.to_string()).collect();
            v.sort();
            return Ok(v);
        }
        let mut names = std::collections::BTreeSet::new();
        for s in self.matching(matchers, None)? {
            for (n, _) in s.labels.iter() {
                if !names.contains(&**n) {
                    names.insert(n.to_string());
                }
            }
        }
        Ok(names.into_iter().collect())
    }

    /// Sorted values of `name` over series matching `matchers`.
    pub fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        if matchers.is_empty() {
            let p = self.postings.read();
            let mut v: Vec<String> = p
                .map
                .get(name)
                .map(|vs| vs.keys().map(|k| k.to_string()).collect())
                .unwrap_or_default();
            v.sort();
            return Ok(v);
        }
        let mut values = std::collections::BTreeSet::new();
        for s in self.matching(matchers, None)? {
            if let Some(v) = s.get(name) {
                if !values.contains(v) {
                    values.insert(v.to_string());
                }
            }
        }
        Ok(values.into_iter().collect())
    }

    /// Calls `f` with each series' labels and its samples in `[mint, maxt)`
    /// (merged, time-ordered, unique timestamps); series without samples
    /// there are skipped.
    pub fn for_each_series_in(
        &self,
        mint: i64,
        maxt: i64,
        f: &mut SeriesVisitor<'_>,
    ) -> Result<(), StorageError> {
        let mut buf = Vec::new();
        for s in self.all_series() {
            buf.clear();
            s.data.lock().samples_in(mint, maxt, &mut buf);
            if !buf.is_empty() {
                f(&s.labels(), &buf)?;
            }
        }
        Ok(())
    }

    /// Drops data older than `before` (now in blocks), raises the
    /// out-of-bounds limit to `before`, removes series left without data
    /// (unless an appender holds them) and unused interned strings.
    /// Returns the number of series removed.
    pub fn truncate(&self, before: i64) -> u64 {
        self.min_valid_t.fetch_max(before, Ordering::AcqRel);
        let mut candidates = Vec::new();
        let mut new_min = i64::MAX;
        let mut dropped_chunks = 0usize;
        for s in self.all_series() {
            let mut d = s.data.lock();
            dropped_chunks += d.truncate(before);
            match d.min_t() {
                Some(t) => new_min = new_min.min(t),
                None => candidates.push((s.hash, s.id)),
            }
        }
        self.counters
            .chunks
            .fetch_sub(dropped_chunks as i64, Ordering::Relaxed);
        let mut removed = Vec::new();
        for (hash, id) in candidates {
            let mut shard = self.hash_shards[shard_of(hash)].write();
            let Some(s) = self.series_by_id(id) else {
                continue;
            };
            // Held by: the hash shard, the id shard and `s` here. Anything
            // more is an appender that may still commit to it. Checked under
            // the series lock: an appender takes its reference before
            // locking, and one that locks after us sees `removed`.
            let mut d = s.data.lock();
            if Arc::strong_count(&s) > 3 || !d.is_empty() {
                continue;
            }
            d.removed = true;
            drop(d);
            shard.remove(hash, id);
            self.id_shards[id_shard(id)].write().remove(&id);
            removed.push(id);
        }
        removed.sort_unstable();
        self.postings.write().remove(&removed);
        let n = removed.len() as u64;
        if n > 0 {
            self.counters.series.fetch_sub(n, Ordering::Relaxed);
            self.counters.series_removed.fetch_add(n, Ordering::Relaxed);
            self.interner.lock().retain(|a| Arc::strong_count(a) > 1);
        }
        // The head's lower bound: the oldest sample left (or `before` when
        // empty but something was appended since).
        if new_min == i64::MAX {
            self.min_t.store(i64::MAX, Ordering::Release);
            if self.max_t().is_some_and(|m| m >= before) {
                self.min_t.store(before, Ordering::Release);
            }
        } else {
            self.min_t.store(new_min, Ordering::Release);
        }
        n
    }

    /// Whether series `id` is still in the head (for WAL checkpoints).
    pub fn contains(&self, id: u64) -> bool {
        self.id_shards[id_shard(id)].read().contains_key(&id)
    }

    /// Approximate bytes used by series structures, indexes and chunk data
    /// (walks every series; for reporting, not for hot paths).
    pub fn memory_bytes(&self) -> u64 {
        let mut total = 0usize;
        for s in self.all_series() {
            let d = s.data.lock();
            // Series struct and Arc header, label pointers, two map entries
            // (hash + pointer, with control bytes) and one postings id per
            // label. Interned strings are shared and not counted here.
            total +=
                std::mem::size_of::<MemSeries>() + 16 + 32 * s.labels.len() + 2 * 17 + 8 * s.labels.len();
            total += d.chunks.iter().map(|c| c.bytes().len() + 64).sum::<usize>();
            total += d.open.as_ref().map(|c| c.capacity_bytes() + 64).unwrap_or(0);
            total += d.ooo.capacity() * std::mem::size_of::<Sample>();
        }
        total as u64
    }

    pub fn stats(&self) -> HeadStats {
        let c = &self.counters;
        HeadStats {
            num_series: c.series.load(Ordering::Relaxed),
            series_created: c.series_created.load(Ordering::Relaxed),
            series_removed: c.series_removed.load(Ordering::Relaxed),
            chunks: c.chunks.load(Ordering::Relaxed).max(0) as u64,
            min_t: self.min_t(),
            max_t: self.max_t(),
            min_valid_t: self.min_valid_t(),
            samples_appended: c.samples_appended.load(Ordering::Relaxed),
            ooo_appended: c.ooo_appended.load(Ordering::Relaxed),
            rejected_out_of_order: c.rejected_ooo.load(Ordering::Relaxed),
            rejected_duplicate: c.rejected_dup.load(Ordering::Relaxed),
            rejected_out_of_bounds: c.rejected_oob.load(Ordering::Relaxed),
        }
    }

    /// Counts chunks by walking every series (exact, slower than stats).
    pub fn count_chunks(&self) -> u64 {
        self.all_series()
            .iter()
            .map(|s| s.data.lock().num_chunks() as u64)
            .sum()
    }

    /// Top-`top` cardinality figures from the postings index.
    pub fn cardinality(&self, top: usize) -> Cardinality {
        let p = self.postings.read();
        let mut by_metric = Vec::new();
        let mut values_by_name = Vec::new();
        let mut mem_by_name = Vec::new();
        let mut pairs = Vec::new();
        let mut num_pairs = 0u64;
        for (name, values) in &p.map {
            values_by_name.push((name.to_string(), values.len() as u64));
            let mut mem = 0u64;
            for (v, list) in values {
                num_pairs += 1;
                mem += (v.len() * list.len()) as u64;
                if &**name == sightline_model::METRIC_NAME {
                    by_metric.push((v.to_string(), list.len() as u64));
                }
                pairs.push((name, v, list.len() as u64));
            }
            mem_by_name.push((name.to_string(), mem));
        }
        fn top_n(mut v: Vec<(String, u64)>, n: usize) -> Vec<(String, u64)> {
            v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            v.truncate(n);
            v
        }
        pairs.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| (a.0, a.1).cmp(&(b.0, b.1))));
        pairs.truncate(top);
        Cardinality {
            num_series: p.all.len() as u64,
            num_label_pairs: num_pairs,
            series_count_by_metric_name: top_n(by_metric, top),
            label_value_count_by_label_name: top_n(values_by_name, top),
            memory_in_bytes_by_label_name: top_n(mem_by_name, top),
            series_count_by_label_value_pair: pairs
                .into_iter()
                .map(|(n, v, c)| (format!("{n}={v}"), c))
                .collect(),
        }
    }
}

/// The series of a head select, in label order (see [`Head::select`]).
pub struct HeadSeriesSet {
    series: std::vec::IntoIter<Arc<MemSeries>>,
    mint: i64,
    maxt: i64,
    labels_only: bool,
}

impl Iterator for HeadSeriesSet {
    type Item = (Labels, HeadSeriesIter);

    fn next(&mut self) -> Option<Self::Item> {
        for s in self.series.by_ref() {
            if self.labels_only {
                if s.data.lock().has_data_in(self.mint, self.maxt) {
                    return Some((s.labels(), HeadSeriesIter::empty()));
                }
                continue;
            }
            let snap = s.data.lock().snapshot(self.mint, self.maxt);
            if !snap.is_empty() {
                return Some((s.labels(), HeadSeriesIter::new(snap, self.mint, self.maxt)));
            }
        }
        None
    }
}

/// Samples of one head series: a snapshot of its chunks merged with its
/// out-of-order samples, limited to `[mint, maxt]`. Allocation-free while
/// iterating.
pub struct HeadSeriesIter {
    /// Completed chunks in range (shared with the head).
    chunks: Vec<Arc<Chunk>>,
    /// A copy of the open chunk, when in range (iterated after `chunks`).
    open: Option<Chunk>,
    ci: usize,
    dec: Decoder,
    ooo: Vec<Sample>,
    oi: usize,
    peek: Option<Sample>,
    mint: i64,
    maxt: i64,
}

impl HeadSeriesIter {
    fn new(snap: Snapshot, mint: i64, maxt: i64) -> Self {
        let mut it = Self {
            chunks: snap.chunks,
            open: snap.open,
            ci: 0,
            dec: Decoder::default(),
            ooo: snap.ooo,
            oi: 0,
            peek: None,
            mint,
            maxt,
        };
        it.dec = it.chunk(0).map(|c| c.decoder()).unwrap_or_default();
        it
    }

    fn empty() -> Self {
        Self::new(Snapshot::default(), 0, -1)
    }

    fn chunk(&self, i: usize) -> Option<&Chunk> {
        match self.chunks.get(i) {
            Some(c) => Some(c),
            None if i == self.chunks.len() => self.open.as_ref(),
            None => None,
        }
    }

    fn num_chunks(&self) -> usize {
        self.chunks.len() + usize::from(self.open.is_some())
    }

    /// The next in-order sample in range.
    fn next_in_order(&mut self) -> Option<Sample> {
        if let Some(s) = self.peek.take() {
            return Some(s);
        }
        while self.ci < self.num_chunks() {
            let c = match self.chunks.get(self.ci) {
                Some(c) => &**c,
                None => self.open.as_ref()?,
            };
            while let Some(s) = self.dec.next(c.bytes()) {
                if s.t > self.maxt {
                    break;
                }
                if s.t >= self.mint {
                    return Some(s);
                }
            }
            self.ci += 1;
            if let Some(d) = self.chunk(self.ci).map(|c| c.decoder()) {
                self.dec = d;
            }
        }
        None
    }
}

impl SampleIterator for HeadSeriesIter {
    fn next(&mut self) -> Option<Sample> {
        let a = self.next_in_order();
        while self.ooo.get(self.oi).is_some_and(|s| s.t < self.mint) {
            self.oi += 1;
        }
        let b = self.ooo.get(self.oi).copied().filter(|s| s.t <= self.maxt);
        match (a, b) {
            (None, None) => None,
            (Some(a), None) => Some(a),
            (None, Some(b)) => {
                self.oi += 1;
                Some(b)
            }
            (Some(a), Some(b)) => {
                if b.t < a.t {
                    self.oi += 1;
                    self.peek = Some(a);
                    Some(b)
                } else {
                    if b.t == a.t {
                        self.oi += 1;
                    }
                    Some(a)
                }
            }
        }
    }

    fn seek(&mut self, t: i64) -> Option<Sample> {
        if self.peek.is_some_and(|p| p.t < t) {
            self.peek = None;
        }
        if self.peek.is_none() {
            // Skip whole chunks ending before `t`.
            let mut skipped = false;
            while self.ci + 1 < self.num_chunks() && self.chunk(self.ci).is_some_and(|c| c.max_t() < t) {
                self.ci += 1;
                skipped = true;
            }
            if skipped {
                if let Some(d) = self.chunk(self.ci).map(|c| c.decoder()) {
                    self.dec = d;
                }
            }
        }
        while self.oi < self.ooo.len() && self.ooo[self.oi].t < t {
            self.oi += 1;
        }
        loop {
            let s = self.next()?;
            if s.t >= t {
                return Some(s);
            }
        }
    }
}

/// Buffers samples for one commit. See the module docs for semantics.
pub struct HeadAppender<'a> {
    head: &'a Head,
    wal: &'a Wal,
    id: u64,
    batch: WalBatch,
    /// The series of each queued sample (parallel to `batch.samples`).
    series: Vec<Arc<MemSeries>>,
    new_series: u64,
}

impl HeadAppender<'_> {
    fn queue(&mut self, s: Arc<MemSeries>, t: i64, v: f64) -> Result<(), AppendError> {
        let bits = v.to_bits();
        let b = self.head.bounds();
        let mut d = s.data.lock();
        if d.removed {
            return Err(AppendError::UnknownSeriesRef);
        }
        match d.check(t, bits, &b, self.id) {
            Ok(Verdict::Ignore) => return Ok(()),
            Ok(Verdict::InOrder) => {
                d.pending_owner = self.id;
                d.pending_t = t;
                d.pending_v = bits;
            }
            Ok(Verdict::OutOfOrder) => {}
            Err(e) => {
                drop(d);
                self.head.count_rejection(&e);
                return Err(e);
            }
        }
        if !d.in_wal && d.wal_owner != self.id {
            d.wal_owner = self.id;
            self.batch.series.push(RefSeries {
                id: s.id,
                labels: s.labels(),
            });
        }
        drop(d);
        self.batch.samples.push(RefSample { id: s.id, t, v });
        self.series.push(s);
        Ok(())
    }

    fn find_or_create(&mut self, labels: &[LabelRef<'_>]) -> Result<Arc<MemSeries>, AppendError> {
        // Fast path: already sorted, unique and without empty values.
        if labels.windows(2).all(|w| w[0].name < w[1].name) && labels.iter().all(|l| !l.value.is_empty()) {
            return self.find_or_create_sorted(labels, labels);
        }
        let mut stack = [LabelRef::new("", ""); STACK_LABELS];
        let mut heap;
        let buf: &mut [LabelRef<'_>] = if labels.len() <= STACK_LABELS {
            stack[..labels.len()].copy_from_slice(labels);
            &mut stack[..labels.len()]
        } else {
            heap = labels.to_vec();
            &mut heap
        };
        buf.sort_unstable_by(|a, b| a.name.cmp(b.name));
        if let Some(w) = buf.windows(2).find(|w| w[0].name == w[1].name) {
            self.head.opts.limits.check_labels(labels)?;
            // check_labels reports duplicates first; this is a fallback.
            return Err(AppendError::InvalidLabels(
                sightline_model::LabelError::DuplicateName(w[0].name.to_string()),
            ));
        }
        // Drop empty values (they mean "absent").
        let mut n = 0;
        for i in 0..buf.len() {
            if !buf[i].value.is_empty() {
                buf[n] = buf[i];
                n += 1;
            }
        }
        self.find_or_create_sorted(&buf[..n], labels)
    }

    /// `refs` sorted, unique, non-empty; `raw` as given (for validation).
    fn find_or_create_sorted(
        &mut self,
        refs: &[LabelRef<'_>],
        raw: &[LabelRef<'_>],
    ) -> Result<Arc<MemSeries>, AppendError> {
        let hash = label_hash(refs);
        if let Some(s) = self.head.lookup(hash, refs) {
            return Ok(s);
        }
        self.head.opts.limits.check_labels(raw)?;
        let (s, created) = self.head.get_or_create(hash, refs, None);
        if created {
            self.new_series += 1;
        }
        Ok(s)
    }

    fn clear_pending(&mut self) {
        let mut last = u64::MAX;
        for s in &self.series {
            if s.id == last {
                continue;
            }
            last = s.id;
            let mut d = s.data.lock();
            if d.pending_owner == self.id {
                d.pending_owner = 0;
            }
            if d.wal_owner == self.id {
                d.wal_owner = 0;
            }
        }
    }

    fn do_commit(&mut self) -> Result<CommitStats, StorageError> {
        let mut stats = CommitStats {
            samples: 0,
            new_series: self.new_series,
        };
        if self.batch.is_empty() {
            return Ok(stats);
        }
        if let Err(e) = self.wal.log(&self.batch) {
            self.clear_pending();
            return Err(e);
        }
        let head_max = self.head.max_t.load(Ordering::Acquire);
        let (mut min, mut max) = (i64::MAX, i64::MIN);
        // References are dropped as each series is applied, while its
        // memory is still in cache.
        let mut series = std::mem::take(&mut self.series);
        {
            let mut it = series.drain(..).zip(self.batch.samples.iter()).peekable();
            while let Some((s, first)) = it.next() {
                let mut d = s.data.lock();
                d.in_wal = true;
                let mut rs = Some(first);
                while let Some(r) = rs {
                    if let Some(t) = self.head.apply(&mut d, r.t, r.v, head_max, false) {
                        min = min.min(t);
                        max = max.max(t);
                        stats.samples += 1;
                    }
                    // Consecutive samples of one series share one lock.
                    rs = it.next_if(|(n, _)| n.id == s.id).map(|(_, r)| r);
                }
                if d.pending_owner == self.id {
                    d.pending_owner = 0;
                }
                if d.wal_owner == self.id {
                    d.wal_owner = 0;
                }
            }
        }
        self.series = series;
        self.head.note_range(min, max, stats.samples, true);
        if !self.batch.metadata.is_empty() {
            let mut md = self.head.metadata.write();
            for m in self.batch.metadata.drain(..) {
                md.insert(m.name, m.meta);
            }
        }
        Ok(stats)
    }
}

impl Drop for HeadAppender<'_> {
    fn drop(&mut self) {
        if self.batch.samples.capacity() > 1 << 20 {
            return;
        }
        let mut batch = std::mem::take(&mut self.batch);
        let mut series = std::mem::take(&mut self.series);
        batch.clear();
        series.clear();
        let mut pool = self.head.pool.lock();
        if pool.len() < POOL_SIZE {
            pool.push((batch, series));
        }
    }
}

impl Appender for HeadAppender<'_> {
    fn append(&mut self, labels: &[LabelRef<'_>], t: i64, v: f64) -> Result<SeriesRef, AppendError> {
        let s = self.find_or_create(labels)?;
        let id = s.id;
        self.queue(s, t, v)?;
        Ok(SeriesRef(id))
    }

    fn append_ref(&mut self, series: SeriesRef, t: i64, v: f64) -> Result<(), AppendError> {
        let s = self
            .head
            .series_by_id(series.0)
            .ok_or(AppendError::UnknownSeriesRef)?;
        self.queue(s, t, v)
    }

    fn set_metadata(&mut self, metric_family: &str, meta: &MetricMetadata) {
        if self.head.metadata.read().get(metric_family) == Some(meta) {
            return;
        }
        if self
            .batch
            .metadata
            .iter()
            .any(|m| m.name == metric_family && m.meta == *meta)
        {
            return;
        }
        self.batch.metadata.push(RefMetadata {
            name: metric_family.to_string(),
            meta: meta.clone(),
        });
    }

    fn commit(mut self: Box<Self>) -> Result<CommitStats, StorageError> {
        self.do_commit()
    }

    fn rollback(mut self: Box<Self>) {
        self.clear_pending();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs<'a>(p: &'a [(&'a str, &'a str)]) -> Vec<LabelRef<'a>> {
        p.iter().map(|(n, v)| LabelRef::new(n, v)).collect()
    }

    fn add(head: &Head, p: &[(&str, &str)], samples: &[(i64, f64)]) -> Arc<MemSeries> {
        let r = refs(p);
        let (s, _) = head.get_or_create(label_hash(&r), &r, None);
        let mut d = s.data.lock();
        let (mut min, mut max) = (i64::MAX, i64::MIN);
        for &(t, v) in samples {
            let hm = head.max_t.load(Ordering::Acquire);
            if let Some(t) = head.apply(&mut d, t, v, hm, false) {
                min = min.min(t);
                max = max.max(t);
                head.note_range(t, t, 1, true);
            }
        }
        drop(d);
        s
    }

    fn drain(it: &mut HeadSeriesIter) -> Vec<i64> {
        let mut out = Vec::new();
        while let Some(s) = it.next() {
            out.push(s.t);
        }
        out
    }

    #[test]
    fn insert_keeps_order() {
        let mut l = vec![1, 5];
        insert_sorted(&mut l, 3);
        insert_sorted(&mut l, 9);
        insert_sorted(&mut l, 5);
        assert_eq!(l, vec![1, 3, 5, 9]);
    }

    #[test]
    fn hash_collisions_are_resolved_by_labels() {
        let head = Head::new(HeadOptions::default());
        let a = refs(&[("__name__", "a")]);
        let b = refs(&[("__name__", "b")]);
        // Force both series onto one hash.
        let (sa, created_a) = head.get_or_create(42, &a, None);
        let (sb, created_b) = head.get_or_create(42, &b, None);
        assert!(created_a && created_b);
        assert_ne!(sa.id(), sb.id());
        assert_eq!(head.lookup(42, &a).unwrap().id(), sa.id());
        assert_eq!(head.lookup(42, &b).unwrap().id(), sb.id());
        let (again, created) = head.get_or_create(42, &b, None);
        assert!(!created);
        assert_eq!(again.id(), sb.id());
        // Removing the first promotes the colliding one.
        let mut shard = head.hash_shards[shard_of(42)].write();
        assert!(shard.remove(42, sa.id()));
        assert_eq!(shard.find(42, &b).unwrap().id(), sb.id());
        assert!(shard.find(42, &a).is_none());
    }

    #[test]
    fn chunks_are_cut_by_count_and_block_boundary() {
        let head = Head::new(HeadOptions {
            block_range_ms: 1000,
            chunk_samples: 4,
            ..HeadOptions::default()
        });
        let samples: Vec<(i64, f64)> = (0..10).map(|i| (i * 100 + 500, i as f64)).collect();
        let s = add(&head, &[("__name__", "m")], &samples);
        let d = s.data.lock();
        // 500..=800 | 900 | 1000..=1300 | 1400 (cut at 1000 and at 4 samples)
        let ranges: Vec<(i64, i64)> = d.chunks.iter().map(|c| (c.min_t(), c.max_t())).collect();
        assert_eq!(ranges, vec![(500, 800), (900, 900), (1000, 1300)]);
        assert_eq!(
            d.open.as_ref().map(|c| (c.min_t(), c.max_t())),
            Some((1400, 1400))
        );
        assert_eq!(d.num_chunks(), 4);
        let mut buf = Vec::new();
        d.samples_in(850, 1050, &mut buf);
        assert_eq!(buf.iter().map(|s| s.t).collect::<Vec<_>>(), vec![900, 1000]);
    }

    #[test]
    fn iterator_merges_out_of_order_and_seeks() {
        let head = Head::new(HeadOptions {
            ooo_window_ms: 10_000,
            chunk_samples: 3,
            ..HeadOptions::default()
        });
        let s = add(
            &head,
            &[("__name__", "m")],
            &[(10, 1.0), (20, 2.0), (30, 3.0), (40, 4.0), (50, 5.0)],
        );
        add(&head, &[("__name__", "m")], &[(15, 1.5), (45, 4.5), (5, 0.5)]);
        let snap = s.data.lock().snapshot(i64::MIN, i64::MAX);
        assert_eq!(snap.chunks.len(), 1);
        assert!(snap.open.is_some());
        assert_eq!(snap.ooo.len(), 3);
        let mut it = HeadSeriesIter::new(snap.clone(), i64::MIN, i64::MAX);
        assert_eq!(drain(&mut it), vec![5, 10, 15, 20, 30, 40, 45, 50]);
        let mut it = HeadSeriesIter::new(snap.clone(), 12, 44);
        assert_eq!(drain(&mut it), vec![15, 20, 30, 40]);
        // A range inside the open chunk only.
        let mut it = HeadSeriesIter::new(s.data.lock().snapshot(45, 60), 45, 60);
        assert_eq!(drain(&mut it), vec![45, 50]);
        let mut it = HeadSeriesIter::new(snap, i64::MIN, i64::MAX);
        assert_eq!(it.seek(16).map(|s| s.t), Some(20));
        assert_eq!(it.seek(41).map(|s| s.t), Some(45));
        assert_eq!(it.next().map(|s| s.t), Some(50));
        assert_eq!(it.seek(51), None);
    }

    #[test]
    fn truncate_drops_data_series_and_unused_strings() {
        let head = Head::new(HeadOptions {
            block_range_ms: 1000,
            ..HeadOptions::default()
        });
        let old = add(
            &head,
            &[("__name__", "old"), ("only_old", "x")],
            &[(100, 1.0), (900, 1.0)],
        );
        let both = add(&head, &[("__name__", "both")], &[(500, 1.0), (1500, 2.0)]);
        let old_id = old.id();
        drop(old);
        assert_eq!(head.num_series(), 2);
        assert_eq!(head.min_t(), Some(100));
        let removed = head.truncate(1000);
        assert_eq!(removed, 1);
        assert!(!head.contains(old_id));
        assert!(head.contains(both.id()));
        assert_eq!(head.min_t(), Some(1500));
        assert_eq!(head.min_valid_t(), 1000);
        assert_eq!(head.label_names(&[]).unwrap(), vec!["__name__"]);
        assert!(head.interner.lock().get("only_old").is_none());
        // A series still referenced (by an appender) is kept.
        let held = add(&head, &[("__name__", "held")], &[(1600, 1.0)]);
        let both_id = both.id();
        drop(both);
        head.truncate(2000);
        assert!(head.contains(held.id()));
        assert!(!head.contains(both_id));
        let c = head.cardinality(10);
        assert_eq!(c.num_series, 1);
    }

    #[test]
    fn cardinality_counts() {
        let head = Head::new(HeadOptions::default());
        for i in 0..5 {
            let inst = format!("h{i}");
            add(&head, &[("__name__", "up"), ("instance", &inst)], &[(1, 1.0)]);
        }
        add(&head, &[("__name__", "other"), ("instance", "h0")], &[(1, 1.0)]);
        let c = head.cardinality(2);
        assert_eq!(c.num_series, 6);
        assert_eq!(c.num_label_pairs, 7);
        assert_eq!(
            c.series_count_by_metric_name,
            vec![("up".into(), 5), ("other".into(), 1)]
        );
        assert_eq!(
            c.label_value_count_by_label_name,
            vec![("instance".into(), 5), ("__name__".into(), 2)]
        );
        assert_eq!(
            c.series_count_by_label_value_pair,
            vec![("__name__=up".into(), 5), ("instance=h0".into(), 2)]
        );
        assert_eq!(c.memory_in_bytes_by_label_name[0], ("__name__".into(), 5 * 2 + 5));
    }
}
