//! The store: WAL + head + segments, queries, compaction and retention.
//!
//! Crash recovery: every segment records the WAL cut sequences (`flush_seqs`)
//! whose data it holds. A record replayed from WAL file `s` for tenant `T`
//! and day `D` is already durable when a segment of `(T, D)` has a flush
//! sequence above `s` (a flush that failed for `(T, D)` puts its records back
//! in the head, so the first segment of `(T, D)` written after `s` holds
//! them); such records are skipped, so a crash between writing segments and
//! deleting WAL files neither loses nor duplicates data. A compacted segment
//! lists the segments it replaces; inputs still present at open are deleted.
//! Segments removed by compaction or retention are deleted from the object
//! store only when the last query holding them finishes.

use crate::objstore::{LocalDisk, ObjectStore};
use crate::query::{Direction, SelectRequest};
use crate::record::LogRecord;
use crate::segment::{self, day_of, BuildOptions, RowFilter, SegmentMeta};
use crate::tokens::{self, Condition};
use crate::wal::{FsyncPolicy, ReplayReport, Wal};
use crate::{LogStoreError, Result};
use sightline_model::{Labels, MatchOp, Matcher};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Store configuration.
#[derive(Clone, Debug)]
pub struct Options {
    pub fsync: FsyncPolicy,
    /// Flush the head to segments when its payload exceeds this.
    pub head_max_bytes: usize,
    /// [`LogStore::maintain`] flushes a head older than this.
    pub head_max_age: Duration,
    pub build: BuildOptions,
    /// Delete segments whose newest record is older than this.
    pub retention: Option<Duration>,
    /// Delete the oldest segments while all segments exceed this many bytes.
    pub max_bytes: Option<u64>,
    /// Compact a tenant-day once it has at least this many segments.
    pub compact_min_segments: usize,
    /// Upper bound on the payload bytes merged by one compaction.
    pub compact_max_bytes: u64,
    /// Longest accepted tenant id.
    pub max_tenant_len: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            fsync: FsyncPolicy::Interval(Duration::from_secs(1)),
            head_max_bytes: 64 << 20,
            head_max_age: Duration::from_secs(300),
            build: BuildOptions::default(),
            retention: None,
            max_bytes: None,
            compact_min_segments: 4,
            compact_max_bytes: 1 << 30,
            max_tenant_len: 150,
        }
    }
}

/// What [`LogStore::open`] found.
#[derive(Debug, Default, Clone)]
pub struct OpenReport {
    pub wal: ReplayReport,
    /// WAL records skipped because a segment already holds them.
    pub wal_records_already_flushed: usize,
    pub segments: usize,
    /// Compaction inputs deleted because their replacement exists.
    pub replaced_segments_removed: usize,
    /// Segments that could not be read: `(key, reason)`. They are left in
    /// place and ignored.
    pub unreadable_segments: Vec<(String, String)>,
}

/// Index statistics in the shape of Loki's `/index/stats`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct IndexStats {
    pub streams: u64,
    pub chunks: u64,
    pub entries: u64,
    pub bytes: u64,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CompactStats {
    pub compactions: usize,
    pub input_segments: usize,
    pub output_segments: usize,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RetentionStats {
    pub segments_deleted: usize,
    pub bytes_deleted: u64,
}

/// Self-metrics.
#[derive(Debug, Default, Clone)]
pub struct StoreMetrics {
    pub appended_records: u64,
    pub appended_bytes: u64,
    pub wal_bytes_written: u64,
    pub flushes: u64,
    pub head_records: u64,
    pub head_bytes: u64,
    pub segments: u64,
    pub segment_bytes: u64,
    pub segment_rows: u64,
    pub blocks_read: u64,
    pub blocks_skipped_by_bloom: u64,
    pub compactions: u64,
    pub retention_deleted_segments: u64,
}

#[derive(Default)]
struct Counters {
    appended_records: AtomicU64,
    appended_bytes: AtomicU64,
    wal_bytes: AtomicU64,
    flushes: AtomicU64,
    blocks_read: AtomicU64,
    blocks_skipped_bloom: AtomicU64,
    compactions: AtomicU64,
    retention_deleted: AtomicU64,
}

/// An immutable segment in the index. Dropping the last handle of an
/// obsolete segment deletes the object.
struct SegHandle {
    key: String,
    size: u64,
    meta: SegmentMeta,
    /// Tenant stream id of each segment stream id.
    gsids: Vec<u32>,
    obsolete: AtomicBool,
    objects: Arc<dyn ObjectStore>,
}

impl Drop for SegHandle {
    fn drop(&mut self) {
        if self.obsolete.load(Ordering::Acquire) {
            let _ = self.objects.delete(&self.key);
        }
    }
}

/// Label pair -> streams postings for one tenant.
#[derive(Default)]
struct StreamIndex {
    streams: Vec<Labels>,
    ids: HashMap<Labels, u32>,
    postings: BTreeMap<String, BTreeMap<String, Vec<u32>>>,
}

impl StreamIndex {
    fn id(&mut self, l: &Labels) -> u32 {
        if let Some(&id) = self.ids.get(l) {
            return id;
        }
        let id = self.streams.len() as u32;
        self.streams.push(l.clone());
        self.ids.insert(l.clone(), id);
        for p in l.iter() {
            self.postings
                .entry(p.name.to_string())
                .or_default()
                .entry(p.value.to_string())
                .or_default()
                .push(id);
        }
        id
    }

    /// Bitmap of the streams matching every matcher (Prometheus semantics: a
    /// missing label matches as "").
    fn resolve(&self, matchers: &[Matcher]) -> Vec<bool> {
        let n = self.streams.len();
        let mut ok = vec![true; n];
        for m in matchers {
            let mut hit = vec![false; n];
            let values = self.postings.get(&m.name);
            if m.matches_empty() {
                // Everything matches except streams whose value does not.
                hit.iter_mut().for_each(|h| *h = true);
                if let Some(values) = values {
                    for (v, ids) in values {
                        if !m.matches(v) {
                            for &id in ids {
                                hit[id as usize] = false;
                            }
                        }
                    }
                }
            } else if let Some(values) = values {
                if m.op == MatchOp::Equal {
                    if let Some(ids) = values.get(&m.value) {
                        for &id in ids {
                            hit[id as usize] = true;
                        }
                    }
                } else {
                    for (v, ids) in values {
                        if m.matches(v) {
                            for &id in ids {
                                hit[id as usize] = true;
                            }
                        }
                    }
                }
            }
            for (o, h) in ok.iter_mut().zip(hit) {
                *o &= h;
            }
        }
        ok
    }
}

type HeadRows = Vec<(u32, LogRecord)>;

/// Segments, matching head rows, stream bitmap and stream table of a tenant.
type Snapshot = (Vec<Arc<SegHandle>>, HeadRows, Vec<bool>, Vec<Labels>);

#[derive(Default)]
struct Tenant {
    streams: StreamIndex,
    head: HeadRows,
    head_bytes: usize,
    head_since: Option<Instant>,
    flushing: Vec<Arc<HeadRows>>,
    segments: Vec<Arc<SegHandle>>,
}

struct Inner {
    wal: Wal,
    tenants: HashMap<String, Tenant>,
    head_bytes: usize,
    closed: bool,
}

/// The log event store. All methods take `&self` and are safe to call from
/// many threads; appends serialize on the WAL.
pub struct LogStore {
    objects: Arc<dyn ObjectStore>,
    opts: Options,
    inner: Mutex<Inner>,
    flush_lock: Mutex<()>,
    next_seg_id: AtomicU64,
    counters: Arc<Counters>,
    report: OpenReport,
}

/// Object-key form of a tenant id: `[A-Za-z0-9_-]` kept, other bytes `%XX`.
fn escape_tenant(t: &str) -> String {
    let mut s = String::with_capacity(t.len());
    for b in t.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

fn seg_key(tenant: &str, day: i64, id: u64) -> String {
    format!("{}/{day}/{id:016x}.seg", escape_tenant(tenant))
}

fn seg_id_of(key: &str) -> Option<u64> {
    let name = key.rsplit('/').next()?;
    u64::from_str_radix(name.strip_suffix(".seg")?, 16).ok()
}

fn without_stream(r: &LogRecord) -> LogRecord {
    LogRecord {
        ts_ns: r.ts_ns,
        stream: Labels::new(),
        message: r.message.clone(),
        fields: r.fields.clone(),
        trace_id: r.trace_id,
        span_id: r.span_id,
        severity: r.severity,
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn load_segment(objects: &dyn ObjectStore, key: &str) -> Result<(SegmentMeta, u64)> {
    let size = objects.size(key)?;
    if size < (segment::TRAILER_LEN + 8) as u64 {
        return Err(LogStoreError::corrupt(key, "segment too short"));
    }
    let tr = objects.get_range(key, size - segment::TRAILER_LEN as u64, segment::TRAILER_LEN)?;
    let (fo, fl, crc) = segment::parse_trailer(&tr, size).map_err(|e| LogStoreError::corrupt(key, e))?;
    let f = objects.get_range(key, fo, fl)?;
    let meta = segment::decode_footer(&f, crc, fo).map_err(|e| LogStoreError::corrupt(key, e))?;
    Ok((meta, size))
}

impl LogStore {
    /// Opens a store with its WAL in `dir/wal` and segments on local disk
    /// under `dir/segments`.
    pub fn open(dir: impl AsRef<Path>, opts: Options) -> Result<LogStore> {
        let dir = dir.as_ref();
        let objects: Arc<dyn ObjectStore> = Arc::new(LocalDisk::new(dir.join("segments"))?);
        Self::open_with(&dir.join("wal"), objects, opts)
    }

    /// Opens a store with the WAL in `wal_dir` and segments in `objects`.
    pub fn open_with(wal_dir: &Path, objects: Arc<dyn ObjectStore>, opts: Options) -> Result<LogStore> {
        let mut report = OpenReport::default();
        let mut tenants: HashMap<String, Tenant> = HashMap::new();
        let keys: Vec<String> = objects
            .list("")?
            .into_iter()
            .filter(|k| k.ends_with(".seg"))
            .collect();
        let mut max_id = 0u64;
        let mut loaded = Vec::new();
        for key in &keys {
            max_id = max_id.max(seg_id_of(key).unwrap_or(0));
            match load_segment(objects.as_ref(), key) {
                Ok((meta, size)) => loaded.push((key.clone(), meta, size)),
                Err(e) => report.unreadable_segments.push((key.clone(), e.to_string())),
            }
        }
        let replaced: BTreeSet<String> = loaded
            .iter()
            .flat_map(|(_, m, _)| m.replaces.iter().cloned())
            .collect();
        // (tenant, day) -> highest flush sequence held by a segment
        let mut flushed: HashMap<(String, i64), u64> = HashMap::new();
        let mut max_flush = 0u64;
        for (key, meta, size) in loaded {
            if replaced.contains(&key) {
                objects.delete(&key)?;
                report.replaced_segments_removed += 1;
                continue;
            }
            let hi = meta.flush_seqs.iter().copied().max().unwrap_or(0);
            max_flush = max_flush.max(hi);
            let e = flushed.entry((meta.tenant.clone(), meta.day)).or_insert(0);
            *e = (*e).max(hi);
            let t = tenants.entry(meta.tenant.clone()).or_default();
            let gsids = meta.streams.iter().map(|l| t.streams.id(l)).collect();
            t.segments.push(Arc::new(SegHandle {
                key,
                size,
                meta,
                gsids,
                obsolete: AtomicBool::new(false),
                objects: objects.clone(),
            }));
            report.segments += 1;
        }
        for t in tenants.values_mut() {
            t.segments.sort_by_key(|s| s.meta.min_ts);
        }
        let mut head_bytes = 0usize;
        let mut skipped = 0usize;
        let (wal, wal_report) = Wal::open(wal_dir, opts.fsync, max_flush + 1, |seq, tenant, recs| {
            let t = tenants.entry(tenant.to_string()).or_default();
            for r in recs {
                if flushed
                    .get(&(tenant.to_string(), day_of(r.ts_ns)))
                    .is_some_and(|&f| f > seq)
                {
                    skipped += 1;
                    continue;
                }
                let mut r = r;
                let stream = std::mem::take(&mut r.stream);
                let id = t.streams.id(&stream);
                let b = r.size_bytes();
                t.head_bytes += b;
                head_bytes += b;
                t.head_since.get_or_insert_with(Instant::now);
                t.head.push((id, r));
            }
        })?;
        report.wal = wal_report;
        report.wal_records_already_flushed = skipped;
        Ok(LogStore {
            objects,
            opts,
            inner: Mutex::new(Inner {
                wal,
                tenants,
                head_bytes,
                closed: false,
            }),
            flush_lock: Mutex::new(()),
            next_seg_id: AtomicU64::new(max_id + 1),
            counters: Arc::new(Counters::default()),
            report,
        })
    }

    /// What open found (replay, truncated WAL tails, unreadable segments).
    pub fn open_report(&self) -> &OpenReport {
        &self.report
    }

    fn check_tenant(&self, tenant: &str) -> Result<()> {
        if tenant.is_empty() {
            return Err(LogStoreError::BadInput("empty tenant id".into()));
        }
        if tenant.len() > self.opts.max_tenant_len {
            return Err(LogStoreError::BadInput(format!(
                "tenant id longer than {} bytes",
                self.opts.max_tenant_len
            )));
        }
        if tenant == "." || tenant == ".." || tenant.contains('/') {
            return Err(LogStoreError::BadInput(format!("invalid tenant id {tenant:?}")));
        }
        Ok(())
    }

    /// Appends a batch durably (see [`FsyncPolicy`]) and makes it visible to
    /// queries. The batch is refused whole when a record has no stream labels.
    /// May flush the head to segments before returning.
    pub fn append(&self, tenant: &str, records: &[LogRecord]) -> Result<()> {
        self.append_impl(tenant, records, None)
    }

    /// [`LogStore::append`] taking ownership (saves copying the lines).
    pub fn append_owned(&self, tenant: &str, records: Vec<LogRecord>) -> Result<()> {
        self.append_impl(tenant, &[], Some(records))
    }

    fn append_impl(&self, tenant: &str, borrowed: &[LogRecord], owned: Option<Vec<LogRecord>>) -> Result<()> {
        self.check_tenant(tenant)?;
        let records: &[LogRecord] = owned.as_deref().unwrap_or(borrowed);
        if records.is_empty() {
            return Ok(());
        }
        if let Some(i) = records.iter().position(|r| r.stream.is_empty()) {
            return Err(LogStoreError::BadInput(format!(
                "record {i}: at least one stream label is required"
            )));
        }
        let need_flush;
        {
            let mut g = lock(&self.inner);
            if g.closed {
                return Err(LogStoreError::Closed);
            }
            let n = g.wal.append(tenant, records)?;
            self.counters.wal_bytes.fetch_add(n as u64, Ordering::Relaxed);
            let count = records.len();
            let inner = &mut *g;
            let t = inner.tenants.entry(tenant.to_string()).or_default();
            t.head_since.get_or_insert_with(Instant::now);
            let mut bytes = 0usize;
            t.head.reserve(count);
            // Head rows keep their stream as the tenant stream id only.
            match owned {
                Some(v) => {
                    for mut r in v {
                        let stream = std::mem::take(&mut r.stream);
                        let id = t.streams.id(&stream);
                        bytes += r.size_bytes();
                        t.head.push((id, r));
                    }
                }
                None => {
                    for r in borrowed {
                        let id = t.streams.id(&r.stream);
                        bytes += r.size_bytes();
                        t.head.push((id, without_stream(r)));
                    }
                }
            }
            t.head_bytes += bytes;
            inner.head_bytes += bytes;
            need_flush = inner.head_bytes >= self.opts.head_max_bytes;
            self.counters
                .appended_records
                .fetch_add(count as u64, Ordering::Relaxed);
            self.counters
                .appended_bytes
                .fetch_add(bytes as u64, Ordering::Relaxed);
        }
        if need_flush {
            self.flush()?;
        }
        Ok(())
    }

    /// Syncs the WAL now (useful under [`FsyncPolicy::Interval`]).
    pub fn sync(&self) -> Result<()> {
        lock(&self.inner).wal.sync()
    }

    /// Writes every head record to segments and deletes the WAL files they
    /// came from.
    pub fn flush(&self) -> Result<()> {
        let _f = lock(&self.flush_lock);
        let (cut, work) = {
            let mut g = lock(&self.inner);
            if g.head_bytes == 0 && g.tenants.values().all(|t| t.head.is_empty()) {
                return Ok(());
            }
            let cut = g.wal.cut()?;
            let mut work = Vec::new();
            for (name, t) in g.tenants.iter_mut() {
                if t.head.is_empty() {
                    continue;
                }
                let rows = Arc::new(std::mem::take(&mut t.head));
                t.head_bytes = 0;
                t.head_since = None;
                t.flushing.push(rows.clone());
                work.push((name.clone(), rows, t.streams.streams.clone()));
            }
            g.head_bytes = 0;
            (cut, work)
        };
        let mut first_err = None;
        for (tenant, rows, streams) in work {
            // Sort by (stream labels, ts), stable, then split by day.
            let mut order: Vec<u32> = (0..rows.len() as u32).collect();
            order.sort_by(|&a, &b| {
                let (ra, rb) = (&rows[a as usize], &rows[b as usize]);
                day_of(ra.1.ts_ns)
                    .cmp(&day_of(rb.1.ts_ns))
                    .then(ra.1.ts_ns.cmp(&rb.1.ts_ns))
            });
            let mut done = Vec::new();
            let mut failed: Vec<(u32, LogRecord)> = Vec::new();
            let mut i = 0;
            while i < order.len() {
                let day = day_of(rows[order[i] as usize].1.ts_ns);
                let mut j = i;
                while j < order.len() && day_of(rows[order[j] as usize].1.ts_ns) == day {
                    j += 1;
                }
                match self.write_segment(&tenant, day, &rows, &order[i..j], &streams, vec![cut], vec![]) {
                    Ok(h) => done.push(h),
                    Err(e) => {
                        failed.extend(order[i..j].iter().map(|&k| rows[k as usize].clone()));
                        first_err.get_or_insert(e);
                    }
                }
                i = j;
            }
            let mut g = lock(&self.inner);
            let inner = &mut *g;
            let t = inner.tenants.entry(tenant).or_default();
            t.flushing.retain(|r| !Arc::ptr_eq(r, &rows));
            for h in done {
                t.segments.push(Arc::new(h));
            }
            t.segments.sort_by_key(|s| s.meta.min_ts);
            if !failed.is_empty() {
                let b: usize = failed.iter().map(|r| r.1.size_bytes()).sum();
                t.head_bytes += b;
                inner.head_bytes += b;
                t.head_since.get_or_insert_with(Instant::now);
                failed.append(&mut t.head);
                t.head = failed;
            }
        }
        self.counters.flushes.fetch_add(1, Ordering::Relaxed);
        if let Some(e) = first_err {
            return Err(e);
        }
        lock(&self.inner).wal.remove_before(cut)?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn write_segment(
        &self,
        tenant: &str,
        day: i64,
        rows: &[(u32, LogRecord)],
        order: &[u32],
        streams: &[Labels],
        flush_seqs: Vec<u64>,
        replaces: Vec<String>,
    ) -> Result<SegHandle> {
        let mut local: HashMap<u32, u32> = HashMap::new();
        let mut seg_streams = Vec::new();
        let mut gsids = Vec::new();
        let mut sids = Vec::with_capacity(order.len());
        let mut refs = Vec::with_capacity(order.len());
        for &k in order {
            let (g, r) = &rows[k as usize];
            let next = local.len() as u32;
            let sid = *local.entry(*g).or_insert_with(|| {
                seg_streams.push(streams[*g as usize].clone());
                gsids.push(*g);
                next
            });
            sids.push(sid);
            refs.push(r);
        }
        let (bytes, meta) = segment::build(
            tenant,
            day,
            seg_streams,
            &refs,
            &sids,
            flush_seqs,
            replaces,
            &self.opts.build,
        );
        let id = self.next_seg_id.fetch_add(1, Ordering::Relaxed);
        let key = seg_key(tenant, day, id);
        self.objects.put(&key, &bytes)?;
        Ok(SegHandle {
            key,
            size: bytes.len() as u64,
            meta,
            gsids,
            obsolete: AtomicBool::new(false),
            objects: self.objects.clone(),
        })
    }

    /// Periodic work: flush a head older than `head_max_age`, sync the WAL,
    /// compact, and apply retention relative to `now_ns`.
    pub fn maintain(&self, now_ns: i64) -> Result<()> {
        let old = {
            let g = lock(&self.inner);
            g.tenants.values().any(|t| {
                t.head_since
                    .is_some_and(|s| s.elapsed() >= self.opts.head_max_age)
            })
        };
        if old {
            self.flush()?;
        }
        self.sync()?;
        self.compact()?;
        self.apply_retention(now_ns)?;
        Ok(())
    }

    /// Snapshot of the tenant's segments, head rows matching and the stream
    /// bitmap for `matchers`.
    fn snapshot(
        &self,
        tenant: &str,
        matchers: &[Matcher],
        head_pred: &dyn Fn(&LogRecord) -> bool,
    ) -> Result<Snapshot> {
        self.check_tenant(tenant)?;
        let (segs, flushing, mut head, mask, streams) = {
            let g = lock(&self.inner);
            let Some(t) = g.tenants.get(tenant) else {
                return Ok((Vec::new(), Vec::new(), Vec::new(), Vec::new()));
            };
            let mask = t.streams.resolve(matchers);
            let head: Vec<(u32, LogRecord)> = t
                .head
                .iter()
                .filter(|(g, r)| mask[*g as usize] && head_pred(r))
                .map(|(g, r)| {
                    let mut r = r.clone();
                    r.stream = t.streams.streams[*g as usize].clone();
                    (*g, r)
                })
                .collect();
            (
                t.segments.clone(),
                t.flushing.clone(),
                head,
                mask,
                t.streams.streams.clone(),
            )
        };
        for f in flushing {
            head.extend(
                f.iter()
                    .filter(|(g, r)| mask[*g as usize] && head_pred(r))
                    .map(|(g, r)| {
                        let mut r = r.clone();
                        r.stream = streams[*g as usize].clone();
                        (*g, r)
                    }),
            );
        }
        Ok((segs, head, mask, streams))
    }

    /// Records of streams matching the request, in time order.
    pub fn select(&self, tenant: &str, req: &SelectRequest) -> Result<SelectIter> {
        let (start, end) = (req.start_ns, req.end_ns);
        let pred = |r: &LogRecord| r.ts_ns >= start && r.ts_ns < end && req.line_ok(&r.message);
        let (segs, mut head, mask, _) = self.snapshot(tenant, &req.matchers, &pred)?;
        let conds = req.index_conditions();
        let mut pending = Vec::new();
        let mut skipped = 0u64;
        for s in &segs {
            if s.meta.max_ts < start || s.meta.min_ts >= end {
                continue;
            }
            let smask: Vec<bool> = s.gsids.iter().map(|&g| mask[g as usize]).collect();
            if !smask.iter().any(|&b| b) {
                continue;
            }
            let smask = Arc::new(smask);
            for (bi, b) in s.meta.blocks.iter().enumerate() {
                if b.max_ts < start || b.min_ts >= end || !b.streams.iter().any(|x| smask[x.0 as usize]) {
                    continue;
                }
                if !bloom_ok(&b.tokens, &conds) {
                    skipped += 1;
                    continue;
                }
                let key = match req.direction {
                    Direction::Forward => b.min_ts,
                    Direction::Backward => b.max_ts,
                };
                pending.push(Pending {
                    seg: s.clone(),
                    bi,
                    mask: smask.clone(),
                    key,
                });
            }
        }
        self.counters
            .blocks_skipped_bloom
            .fetch_add(skipped, Ordering::Relaxed);
        // pop() yields the next block to open
        match req.direction {
            Direction::Forward => pending.sort_by_key(|p| Reverse(p.key)),
            Direction::Backward => pending.sort_by_key(|p| p.key),
        }
        head.sort_by_key(|r| r.1.ts_ns);
        let mut head: Vec<LogRecord> = head.into_iter().map(|r| r.1).collect();
        if req.direction == Direction::Backward {
            head.reverse();
        }
        let mut it = SelectIter {
            req: req.clone(),
            objects: self.objects.clone(),
            counters: self.counters.clone(),
            pending,
            cursors: Vec::new(),
            heap: BinaryHeap::new(),
            remaining: req.limit.unwrap_or(usize::MAX),
            done: false,
            trace: None,
            needles: req
                .filters
                .iter()
                .filter_map(|f| match f {
                    crate::query::LineFilter::Contains(s) => Some(s.as_bytes().to_vec()),
                    _ => None,
                })
                .collect(),
        };
        it.add_cursor(head);
        Ok(it)
    }

    /// All records carrying `trace_id` in `[start_ns, end_ns)`, in time order.
    pub fn by_trace_id(
        &self,
        tenant: &str,
        trace_id: [u8; 16],
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<LogRecord>> {
        let pred = |r: &LogRecord| r.trace_id == Some(trace_id) && r.ts_ns >= start_ns && r.ts_ns < end_ns;
        let (segs, head, _, _) = self.snapshot(tenant, &[], &pred)?;
        let h = tokens::hash(&trace_id);
        let mut out: Vec<LogRecord> = head.into_iter().map(|r| r.1).collect();
        for s in &segs {
            if s.meta.max_ts < start_ns || s.meta.min_ts >= end_ns {
                continue;
            }
            for (bi, b) in s.meta.blocks.iter().enumerate() {
                if b.max_ts < start_ns || b.min_ts >= end_ns || !b.traces.may_contain(h) {
                    continue;
                }
                let f = RowFilter {
                    sid_ok: &|_| true,
                    start: start_ns,
                    end: end_ns,
                    line_ok: &|_| true,
                    trace_id: Some(trace_id),
                    needles: &[],
                };
                read_block_of(self.objects.as_ref(), s, bi, &f, &mut out)?;
                self.counters.blocks_read.fetch_add(1, Ordering::Relaxed);
            }
        }
        out.sort_by_key(|r| r.ts_ns);
        Ok(out)
    }

    /// Tenant stream ids with data in `[start, end)` among the `mask`ed ones.
    fn streams_in_range(
        &self,
        tenant: &str,
        matchers: &[Matcher],
        start: i64,
        end: i64,
    ) -> Result<Vec<Labels>> {
        let pred = |r: &LogRecord| r.ts_ns >= start && r.ts_ns < end;
        let (segs, head, mask, streams) = self.snapshot(tenant, matchers, &pred)?;
        let mut seen = vec![false; streams.len()];
        for (g, _) in &head {
            seen[*g as usize] = true;
        }
        for s in &segs {
            if s.meta.max_ts < start || s.meta.min_ts >= end {
                continue;
            }
            for b in &s.meta.blocks {
                if b.max_ts < start || b.min_ts >= end {
                    continue;
                }
                for x in &b.streams {
                    let g = s.gsids[x.0 as usize] as usize;
                    seen[g] |= mask[g];
                }
            }
        }
        let mut out: Vec<Labels> = streams
            .into_iter()
            .zip(seen)
            .filter_map(|(l, s)| s.then_some(l))
            .collect();
        out.sort();
        Ok(out)
    }

    /// Streams matching `matchers` with data in `[start_ns, end_ns)` (block
    /// granularity for stored data), sorted.
    pub fn series(
        &self,
        tenant: &str,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<Labels>> {
        self.streams_in_range(tenant, matchers, start_ns, end_ns)
    }

    /// Label names of streams with data in the range, sorted.
    pub fn label_names(&self, tenant: &str, start_ns: i64, end_ns: i64) -> Result<Vec<String>> {
        let set: BTreeSet<String> = self
            .streams_in_range(tenant, &[], start_ns, end_ns)?
            .iter()
            .flat_map(|l| l.iter().map(|p| p.name.to_string()).collect::<Vec<_>>())
            .collect();
        Ok(set.into_iter().collect())
    }

    /// Values of label `name` among streams matching `matchers` with data in
    /// the range, sorted.
    pub fn label_values(
        &self,
        tenant: &str,
        name: &str,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<String>> {
        let set: BTreeSet<String> = self
            .streams_in_range(tenant, matchers, start_ns, end_ns)?
            .iter()
            .filter_map(|l| l.get(name).map(str::to_string))
            .collect();
        Ok(set.into_iter().collect())
    }

    /// Loki-style index statistics: streams, blocks ("chunks"), entries and
    /// payload bytes of matching streams in blocks overlapping the range
    /// (whole blocks are counted, as Loki counts whole chunks), plus the
    /// head's matching records (one chunk per head stream).
    pub fn stats(
        &self,
        tenant: &str,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> Result<IndexStats> {
        let pred = |r: &LogRecord| r.ts_ns >= start_ns && r.ts_ns < end_ns;
        let (segs, head, mask, streams) = self.snapshot(tenant, matchers, &pred)?;
        let mut st = IndexStats::default();
        let mut seen = vec![false; streams.len()];
        let mut head_streams = BTreeSet::new();
        for (g, r) in &head {
            seen[*g as usize] = true;
            head_streams.insert(*g);
            st.entries += 1;
            st.bytes += r.size_bytes() as u64;
        }
        st.chunks += head_streams.len() as u64;
        for s in &segs {
            if s.meta.max_ts < start_ns || s.meta.min_ts >= end_ns {
                continue;
            }
            for b in &s.meta.blocks {
                if b.max_ts < start_ns || b.min_ts >= end_ns {
                    continue;
                }
                let mut any = false;
                for x in &b.streams {
                    let g = s.gsids[x.0 as usize] as usize;
                    if mask[g] {
                        any = true;
                        seen[g] = true;
                        st.entries += u64::from(x.1);
                        st.bytes += x.2;
                    }
                }
                st.chunks += u64::from(any);
            }
        }
        st.streams = seen.iter().filter(|&&s| s).count() as u64;
        Ok(st)
    }

    /// Merges small segments of the same tenant and day (at least
    /// `compact_min_segments` of them, smallest first, up to
    /// `compact_max_bytes` of payload) into one.
    pub fn compact(&self) -> Result<CompactStats> {
        let _f = lock(&self.flush_lock);
        let mut stats = CompactStats::default();
        let plans: Vec<(String, Vec<Arc<SegHandle>>, Vec<Labels>)> = {
            let g = lock(&self.inner);
            let mut plans = Vec::new();
            for (name, t) in &g.tenants {
                let mut by_day: BTreeMap<i64, Vec<Arc<SegHandle>>> = BTreeMap::new();
                for s in &t.segments {
                    by_day.entry(s.meta.day).or_default().push(s.clone());
                }
                for (_, mut segs) in by_day {
                    if segs.len() < self.opts.compact_min_segments.max(2) {
                        continue;
                    }
                    segs.sort_by_key(|s| s.meta.raw_bytes);
                    let mut take = Vec::new();
                    let mut sum = 0u64;
                    for s in segs {
                        if !take.is_empty() && sum + s.meta.raw_bytes > self.opts.compact_max_bytes {
                            break;
                        }
                        sum += s.meta.raw_bytes;
                        take.push(s);
                    }
                    if take.len() >= 2 {
                        plans.push((name.clone(), take, t.streams.streams.clone()));
                    }
                }
            }
            plans
        };
        for (tenant, mut inputs, streams) in plans {
            // Older segments first so equal timestamps keep arrival order.
            inputs.sort_by_key(|s| seg_id_of(&s.key).unwrap_or(0));
            let mut rows: Vec<(u32, LogRecord)> = Vec::new();
            for s in &inputs {
                let mut recs = Vec::new();
                for bi in 0..s.meta.blocks.len() {
                    let f = RowFilter {
                        sid_ok: &|_| true,
                        start: i64::MIN,
                        end: i64::MAX,
                        line_ok: &|_| true,
                        trace_id: None,
                        needles: &[],
                    };
                    read_block_of(self.objects.as_ref(), s, bi, &f, &mut recs)?;
                }
                // map rows to tenant stream ids
                let by_labels: HashMap<&Labels, u32> =
                    s.meta.streams.iter().zip(s.gsids.iter().copied()).collect();
                for r in recs {
                    let g = *by_labels
                        .get(&r.stream)
                        .ok_or_else(|| LogStoreError::corrupt(&s.key, "row with an unknown stream"))?;
                    rows.push((g, r));
                }
            }
            let mut order: Vec<u32> = (0..rows.len() as u32).collect();
            order.sort_by_key(|&a| rows[a as usize].1.ts_ns);
            let day = inputs[0].meta.day;
            let mut flush_seqs: Vec<u64> = inputs.iter().flat_map(|s| s.meta.flush_seqs.clone()).collect();
            flush_seqs.sort_unstable();
            flush_seqs.dedup();
            let replaces = inputs.iter().map(|s| s.key.clone()).collect();
            let h = self.write_segment(&tenant, day, &rows, &order, &streams, flush_seqs, replaces)?;
            let mut g = lock(&self.inner);
            let t = g.tenants.entry(tenant).or_default();
            t.segments.retain(|s| !inputs.iter().any(|i| Arc::ptr_eq(i, s)));
            t.segments.push(Arc::new(h));
            t.segments.sort_by_key(|s| s.meta.min_ts);
            drop(g);
            for s in &inputs {
                s.obsolete.store(true, Ordering::Release);
            }
            stats.compactions += 1;
            stats.input_segments += inputs.len();
            stats.output_segments += 1;
            self.counters.compactions.fetch_add(1, Ordering::Relaxed);
        }
        Ok(stats)
    }

    /// Deletes segments older than the retention period (newest record before
    /// `now_ns - retention`), then the oldest segments while the total size
    /// exceeds `max_bytes`.
    pub fn apply_retention(&self, now_ns: i64) -> Result<RetentionStats> {
        // serialized with flush and compaction, so a compaction never
        // re-publishes rows retention just dropped
        let _f = lock(&self.flush_lock);
        let mut st = RetentionStats::default();
        let mut victims: Vec<Arc<SegHandle>> = Vec::new();
        {
            let mut g = lock(&self.inner);
            if let Some(ret) = self.opts.retention {
                let cutoff = now_ns.saturating_sub(ret.as_nanos().min(i64::MAX as u128) as i64);
                for t in g.tenants.values_mut() {
                    t.segments.retain(|s| {
                        if s.meta.max_ts < cutoff {
                            victims.push(s.clone());
                            false
                        } else {
                            true
                        }
                    });
                }
            }
            if let Some(max) = self.opts.max_bytes {
                let mut all: Vec<(i64, String, String)> = Vec::new();
                let mut total = 0u64;
                for (name, t) in &g.tenants {
                    for s in &t.segments {
                        total += s.size;
                        all.push((s.meta.max_ts, name.clone(), s.key.clone()));
                    }
                }
                all.sort();
                let mut drop_keys = BTreeSet::new();
                for (_, name, key) in all {
                    if total <= max {
                        break;
                    }
                    if let Some(s) = g.tenants[&name].segments.iter().find(|s| s.key == key) {
                        total -= s.size;
                    }
                    drop_keys.insert(key);
                }
                for t in g.tenants.values_mut() {
                    t.segments.retain(|s| {
                        if drop_keys.contains(&s.key) {
                            victims.push(s.clone());
                            false
                        } else {
                            true
                        }
                    });
                }
            }
        }
        for v in victims {
            st.segments_deleted += 1;
            st.bytes_deleted += v.size;
            v.obsolete.store(true, Ordering::Release);
        }
        self.counters
            .retention_deleted
            .fetch_add(st.segments_deleted as u64, Ordering::Relaxed);
        Ok(st)
    }

    /// Current self-metrics.
    pub fn metrics(&self) -> StoreMetrics {
        let c = &self.counters;
        let mut m = StoreMetrics {
            appended_records: c.appended_records.load(Ordering::Relaxed),
            appended_bytes: c.appended_bytes.load(Ordering::Relaxed),
            wal_bytes_written: c.wal_bytes.load(Ordering::Relaxed),
            flushes: c.flushes.load(Ordering::Relaxed),
            blocks_read: c.blocks_read.load(Ordering::Relaxed),
            blocks_skipped_by_bloom: c.blocks_skipped_bloom.load(Ordering::Relaxed),
            compactions: c.compactions.load(Ordering::Relaxed),
            retention_deleted_segments: c.retention_deleted.load(Ordering::Relaxed),
            ..Default::default()
        };
        let g = lock(&self.inner);
        for t in g.tenants.values() {
            m.head_records += t.head.len() as u64;
            m.head_bytes += t.head_bytes as u64;
            for s in &t.segments {
                m.segments += 1;
                m.segment_bytes += s.size;
                m.segment_rows += s.meta.rows;
            }
        }
        m
    }

    /// Keys of the live segments of `tenant` (for tools and tests).
    pub fn segment_keys(&self, tenant: &str) -> Vec<String> {
        let g = lock(&self.inner);
        g.tenants
            .get(tenant)
            .map(|t| t.segments.iter().map(|s| s.key.clone()).collect())
            .unwrap_or_default()
    }

    /// Syncs the WAL and refuses further appends. Head data stays in the WAL
    /// (replayed at the next open); call [`LogStore::flush`] first to write
    /// segments instead.
    pub fn close(&self) -> Result<()> {
        let mut g = lock(&self.inner);
        g.closed = true;
        g.wal.sync()
    }
}

fn bloom_ok(b: &crate::bloom::Bloom, conds: &[Condition]) -> bool {
    conds
        .iter()
        .all(|c| c.iter().any(|alt| alt.iter().all(|&h| b.may_contain(h))))
}

fn read_block_of(
    objects: &dyn ObjectStore,
    s: &SegHandle,
    bi: usize,
    f: &RowFilter<'_>,
    out: &mut Vec<LogRecord>,
) -> Result<()> {
    let b = &s.meta.blocks[bi];
    let bytes = objects.get_range(&s.key, b.offset, b.len as usize)?;
    segment::read_block(&s.meta, bi, &bytes, f, out).map_err(|e| LogStoreError::corrupt(&s.key, e))
}

struct Pending {
    seg: Arc<SegHandle>,
    bi: usize,
    mask: Arc<Vec<bool>>,
    key: i64,
}

/// Streaming result of [`LogStore::select`]. Holds the segments it reads, so
/// compaction and retention never delete data under it.
pub struct SelectIter {
    req: SelectRequest,
    objects: Arc<dyn ObjectStore>,
    counters: Arc<Counters>,
    pending: Vec<Pending>,
    cursors: Vec<std::vec::IntoIter<LogRecord>>,
    /// (order key, cursor) min-heap; the key is ts (forward) or -ts (backward).
    heap: BinaryHeap<Reverse<(i128, usize)>>,
    remaining: usize,
    done: bool,
    trace: Option<[u8; 16]>,
    needles: Vec<Vec<u8>>,
}

impl SelectIter {
    fn order_key(&self, ts: i64) -> i128 {
        match self.req.direction {
            Direction::Forward => i128::from(ts),
            Direction::Backward => -i128::from(ts),
        }
    }

    fn add_cursor(&mut self, recs: Vec<LogRecord>) {
        if recs.is_empty() {
            return;
        }
        let k = self.order_key(recs[0].ts_ns);
        let idx = self.cursors.len();
        self.cursors.push(recs.into_iter());
        self.heap.push(Reverse((k, idx)));
    }

    fn open(&mut self, p: Pending) -> Result<()> {
        let mut recs = Vec::new();
        let mask = p.mask.clone();
        let sid_ok = move |sid: u32| mask.get(sid as usize).copied().unwrap_or(false);
        let req = &self.req;
        let line_ok = |l: &str| req.line_ok(l);
        let f = RowFilter {
            sid_ok: &sid_ok,
            start: req.start_ns,
            end: req.end_ns,
            line_ok: &line_ok,
            trace_id: self.trace,
            needles: &self.needles,
        };
        read_block_of(self.objects.as_ref(), &p.seg, p.bi, &f, &mut recs)?;
        self.counters.blocks_read.fetch_add(1, Ordering::Relaxed);
        recs.sort_by_key(|r| r.ts_ns);
        if self.req.direction == Direction::Backward {
            recs.reverse();
        }
        self.add_cursor(recs);
        Ok(())
    }
}

impl Iterator for SelectIter {
    type Item = Result<LogRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.remaining == 0 {
            return None;
        }
        loop {
            let frontier = self.heap.peek().map(|Reverse((k, _))| *k);
            let open_next = match (self.pending.last(), frontier) {
                (Some(p), Some(f)) => self.order_key(p.key) <= f,
                (Some(_), None) => true,
                (None, _) => false,
            };
            if !open_next {
                break;
            }
            let p = self.pending.pop().expect("checked");
            if let Err(e) = self.open(p) {
                self.done = true;
                return Some(Err(e));
            }
        }
        let Reverse((_, idx)) = self.heap.pop()?;
        let rec = self.cursors[idx].next()?;
        if let Some(n) = self.cursors[idx].as_slice().first() {
            let k = self.order_key(n.ts_ns);
            self.heap.push(Reverse((k, idx)));
        } else {
            self.cursors[idx] = Vec::new().into_iter();
        }
        self.remaining -= 1;
        Some(Ok(rec))
    }
}

#[allow(dead_code)]
fn _assert_send() {
    fn is_send<T: Send>() {}
    is_send::<SelectIter>();
    is_send::<LogStore>();
}
