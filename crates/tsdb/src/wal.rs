//! The write-ahead log of the head block. See `docs/storage-wal.md`.
//!
//! Every committed batch is written here before it becomes visible, so that
//! a restart (or kill -9) can rebuild the in-memory head by replaying the log.
//!
//! Layout of the WAL directory (the caller passes `<data>/wal`):
//!
//! - `00000001`, `00000002`, ...: segment files, numbered consecutively, each
//!   cut at [`WalOptions::segment_size`] (a batch larger than a segment gets
//!   a segment of its own, so a record never spans segments);
//! - `checkpoint.NNNNNNNN/00000000`: an optional checkpoint, the compacted
//!   content of every segment up to and including `NNNNNNNN`;
//! - `checkpoint.NNNNNNNN.tmp/`: a checkpoint being written (deleted at open).
//!
//! Each record is framed as `len u32 | crc32 u32 | type u8 | payload` (see
//! [`segment`]) and holds series, samples or metadata (see [`record`]).
//!
//! Invariants:
//! - a batch's bytes are handed to the kernel with one `write(2)` under the
//!   writer mutex before [`Wal::log`] returns; nothing is buffered in user
//!   space across calls, so kill -9 loses nothing acknowledged (power loss
//!   can, except under [`WalSync::Always`]);
//! - within the log, a series record precedes every samples record that uses
//!   its id (the appender logs series first; checkpoints keep the order);
//! - a failed write is rolled back by truncating the segment to its previous
//!   length, so later records never follow a torn one; if that rollback (or
//!   any fsync) fails the WAL refuses further writes until reopened;
//! - replay never fails on damaged data: a torn or corrupt record ends the
//!   log there (the segment is truncated, later segments are deleted) and the
//!   damage is reported in [`ReplayStats`] and with `tracing::warn!`.

pub mod record;
pub mod segment;

mod checkpoint;

use record::{TYPE_METADATA, TYPE_SAMPLES, TYPE_SERIES};
use segment::{segment_name, FrameError};
use sightline_model::{Labels, MetricMetadata, StorageError};
use std::cell::RefCell;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// When the WAL fsyncs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WalSync {
    /// fsync before [`Wal::log`] returns. Concurrent callers share one fsync
    /// (group commit). Survives power loss.
    Always,
    /// [`Wal::log`] returns after `write(2)`; a background thread fsyncs at
    /// this interval (at least 1 ms). Survives kill -9; power loss loses at
    /// most about one interval.
    Interval(Duration),
    /// Never fsync except at [`Wal::close`]. Survives kill -9 only.
    Never,
}

impl Default for WalSync {
    fn default() -> Self {
        WalSync::Interval(Duration::from_secs(1))
    }
}

/// WAL settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalOptions {
    pub sync: WalSync,
    /// Size at which a segment is cut (bytes).
    pub segment_size: u64,
}

/// Default segment size: 128 MiB.
pub const DEFAULT_SEGMENT_SIZE: u64 = 128 << 20;

impl Default for WalOptions {
    fn default() -> Self {
        Self {
            sync: WalSync::default(),
            segment_size: DEFAULT_SEGMENT_SIZE,
        }
    }
}

/// A new series: its head id and labels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefSeries {
    pub id: u64,
    pub labels: Labels,
}

/// One sample of the series with head id `id`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RefSample {
    pub id: u64,
    pub t: i64,
    pub v: f64,
}

/// Metadata of one metric family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefMetadata {
    pub name: String,
    pub meta: MetricMetadata,
}

/// One commit's worth of records; the appender owns one and reuses it
/// (`clear()` keeps capacity).
#[derive(Default, Debug, Clone)]
pub struct WalBatch {
    pub series: Vec<RefSeries>,
    pub samples: Vec<RefSample>,
    pub metadata: Vec<RefMetadata>,
}

impl WalBatch {
    pub fn clear(&mut self) {
        self.series.clear();
        self.samples.clear();
        self.metadata.clear();
    }

    pub fn is_empty(&self) -> bool {
        self.series.is_empty() && self.samples.is_empty() && self.metadata.is_empty()
    }
}

/// A decoded record, as handed to the replay callback.
#[derive(Clone, Debug, PartialEq)]
pub enum Record {
    Series(Vec<RefSeries>),
    Samples(Vec<RefSample>),
    Metadata(Vec<RefMetadata>),
}

/// What [`Wal::open`] replayed and repaired.
#[derive(Debug, Default, Clone)]
pub struct ReplayStats {
    /// Segment files replayed (the checkpoint is not counted).
    pub segments: u64,
    /// Records replayed (checkpoint included).
    pub records: u64,
    /// Series entries replayed.
    pub series: u64,
    /// Samples replayed.
    pub samples: u64,
    /// Bytes cut off damaged segments or removed with later segments.
    pub truncated_bytes: u64,
    /// Description of any damage found (`None` when the log was clean).
    pub corruption: Option<String>,
    pub duration: Duration,
}

/// What [`Wal::checkpoint`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CheckpointStats {
    pub dropped_series: u64,
    pub dropped_samples: u64,
    pub kept_series: u64,
    pub kept_samples: u64,
    /// Segment files deleted (the previous checkpoint is not counted).
    pub segments_deleted: u64,
}

/// The write-ahead log. `Send + Sync`: share it behind an `Arc`.
pub struct Wal {
    inner: Arc<Inner>,
    bg: Mutex<Option<JoinHandle<()>>>,
}

struct Inner {
    dir: PathBuf,
    opts: WalOptions,
    writer: Mutex<Writer>,
    sync: Mutex<SyncState>,
    sync_cv: Condvar,
    stop: Mutex<bool>,
    stop_cv: Condvar,
    /// Serialises checkpoints.
    checkpointing: Mutex<()>,
    /// fsyncs of segment files issued so far.
    fsyncs: AtomicU64,
}

struct Writer {
    file: Arc<File>,
    segment: u64,
    /// Bytes in the current segment.
    offset: u64,
    /// Sequence number of the last write (1-based; 0 = none yet).
    seq: u64,
    closed: bool,
    /// Set when the on-disk state is unknown (failed rollback or fsync).
    broken: Option<String>,
    /// Segments cut without an fsync (`WalSync::Never`); the next explicit
    /// sync covers them and the directory.
    unsynced: Vec<Arc<File>>,
}

struct SyncState {
    /// Every write with a sequence number `<= synced` is on stable storage.
    synced: u64,
    /// An fsync is in flight (its caller is the group-commit leader).
    syncing: bool,
    failed: Option<String>,
}

/// Largest encoded payload per record when splitting a batch (8 MiB).
const MAX_PAYLOAD: usize = 8 << 20;
/// Samples per record when splitting a batch (at most ~7 MiB encoded).
const MAX_SAMPLES_PER_RECORD: usize = 1 << 18;

thread_local! {
    static ENCODE_BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn io_err(msg: String) -> StorageError {
    StorageError::Io(io::Error::other(msg))
}

/// Appends the framed records of `batch` (series, samples, metadata, each
/// split into several records if very large) to `buf`.
pub fn encode_batch(batch: &WalBatch, buf: &mut Vec<u8>) {
    for chunk in split_by_size(&batch.series, MAX_PAYLOAD, |s| {
        18 + s
            .labels
            .iter()
            .map(|l| l.name.len() + l.value.len() + 10)
            .sum::<usize>()
    }) {
        let start = segment::reserve_header(buf, TYPE_SERIES);
        record::encode_series(chunk, buf);
        segment::finish_frame(buf, start);
    }
    for chunk in batch.samples.chunks(MAX_SAMPLES_PER_RECORD) {
        let start = segment::reserve_header(buf, TYPE_SAMPLES);
        record::encode_samples(chunk, buf);
        segment::finish_frame(buf, start);
    }
    for chunk in split_by_size(&batch.metadata, MAX_PAYLOAD, |m| {
        31 + m.name.len() + m.meta.help.len() + m.meta.unit.len()
    }) {
        let start = segment::reserve_header(buf, TYPE_METADATA);
        record::encode_metadata(chunk, buf);
        segment::finish_frame(buf, start);
    }
}

/// Splits `items` into non-empty runs whose estimated size stays under `max`
/// (a single oversized item gets a run of its own).
pub(crate) fn split_by_size<'a, T, F: Fn(&T) -> usize + 'a>(
    items: &'a [T],
    max: usize,
    size: F,
) -> impl Iterator<Item = &'a [T]> + 'a {
    let mut rest = items;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut total = 0;
        let mut n = 0;
        for it in rest {
            let s = size(it);
            if n > 0 && total + s > max {
                break;
            }
            total += s;
            n += 1;
        }
        let (head, tail) = rest.split_at(n);
        rest = tail;
        Some(head)
    })
}

impl Wal {
    /// Opens (creating) `dir` (the caller passes `<data>/wal`), replays
    /// checkpoint + segments through `replay` in order (series records always
    /// come before samples that use them), repairs a damaged tail.
    pub fn open(
        dir: &Path,
        opts: WalOptions,
        replay: &mut dyn FnMut(Record),
    ) -> Result<(Wal, ReplayStats), StorageError> {
        let started = Instant::now();
        fs::create_dir_all(dir)?;
        let mut stats = ReplayStats::default();
        let mut listing = segment::list_dir(dir)?;

        for tmp in &listing.tmp_checkpoints {
            fs::remove_dir_all(tmp)?;
        }
        // Only the newest checkpoint counts; older ones and segments it
        // covers are leftovers of a checkpoint interrupted before cleanup.
        let checkpoint = listing.checkpoints.last().copied();
        if let Some(cp) = checkpoint {
            for &old in &listing.checkpoints[..listing.checkpoints.len() - 1] {
                fs::remove_dir_all(dir.join(segment::checkpoint_name(old)))?;
            }
            for &s in listing.segments.iter().filter(|&&s| s <= cp) {
                fs::remove_file(dir.join(segment_name(s)))?;
            }
            listing.segments.retain(|&s| s > cp);
            let path = dir
                .join(segment::checkpoint_name(cp))
                .join(segment::CHECKPOINT_FILE);
            let end = if path.is_file() {
                replay_file(&path, &mut stats, replay)?
            } else {
                ReplayEnd::Damaged {
                    error: FrameError {
                        offset: 0,
                        detail: "checkpoint file is missing".into(),
                    },
                    file_len: 0,
                }
            };
            match end {
                ReplayEnd::Clean => {}
                ReplayEnd::Damaged { error, .. } => {
                    // The checkpoint is written atomically, so this is media
                    // damage: keep what is readable and go on with the segments.
                    let msg = format!("{}: {} at offset {}", path.display(), error.detail, error.offset);
                    tracing::warn!(target: "sightline::wal", "damaged WAL checkpoint, replayed its readable prefix: {msg}");
                    note_corruption(&mut stats, msg);
                }
            }
        }

        // Segment numbers must be consecutive (after the checkpoint, if any).
        let mut expected = checkpoint.map(|c| c + 1);
        for &s in &listing.segments {
            if let Some(e) = expected {
                if s != e {
                    let msg = format!(
                        "{}: segments {e:08} to {:08} are missing",
                        dir.display(),
                        s.saturating_sub(1)
                    );
                    tracing::warn!(target: "sightline::wal", "gap in WAL segments: {msg}");
                    note_corruption(&mut stats, msg);
                }
            }
            expected = Some(s + 1);
        }

        let mut i = 0;
        while i < listing.segments.len() {
            let n = listing.segments[i];
            let path = dir.join(segment_name(n));
            stats.segments += 1;
            match replay_file(&path, &mut stats, replay)? {
                ReplayEnd::Clean => i += 1,
                ReplayEnd::Damaged { error, file_len } => {
                    let later = &listing.segments[i + 1..];
                    let mut cut = file_len - error.offset;
                    for &l in later {
                        let p = dir.join(segment_name(l));
                        cut += fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
                        fs::remove_file(&p)?;
                    }
                    let f = OpenOptions::new().write(true).open(&path)?;
                    f.set_len(error.offset)?;
                    f.sync_all()?;
                    segment::sync_dir(dir)?;
                    stats.truncated_bytes += cut;
                    let msg = format!(
                        "{}: {} at offset {}; truncated there{}, {cut} bytes dropped",
                        path.display(),
                        error.detail,
                        error.offset,
                        if later.is_empty() {
                            String::new()
                        } else {
                            format!(" and removed {} later segment(s)", later.len())
                        }
                    );
                    tracing::warn!(target: "sightline::wal", "repaired damaged WAL: {msg}");
                    note_corruption(&mut stats, msg);
                    listing.segments.truncate(i + 1);
                    break;
                }
            }
        }

        // Continue the last segment if it has room, else start a new one.
        let sync_meta = opts.sync != WalSync::Never;
        let (file, segment, offset) = match listing.segments.last() {
            Some(&n) if fs::metadata(dir.join(segment_name(n)))?.len() < opts.segment_size => {
                let f = OpenOptions::new().append(true).open(dir.join(segment_name(n)))?;
                let len = f.metadata()?.len();
                if sync_meta {
                    // What the previous process wrote may still be only in
                    // the page cache; the head now holds it, so make it durable.
                    f.sync_data()?;
                }
                (f, n, len)
            }
            last => {
                let n = last.map_or(checkpoint.map_or(1, |c| c + 1), |&l| l + 1);
                (create_segment(dir, n, sync_meta)?, n, 0)
            }
        };

        let inner = Arc::new(Inner {
            dir: dir.to_path_buf(),
            opts: opts.clone(),
            writer: Mutex::new(Writer {
                file: Arc::new(file),
                segment,
                offset,
                seq: 0,
                closed: false,
                broken: None,
                unsynced: Vec::new(),
            }),
            sync: Mutex::new(SyncState {
                synced: 0,
                syncing: false,
                failed: None,
            }),
            sync_cv: Condvar::new(),
            stop: Mutex::new(false),
            stop_cv: Condvar::new(),
            checkpointing: Mutex::new(()),
            fsyncs: AtomicU64::new(0),
        });
        let bg = match opts.sync {
            WalSync::Interval(every) => {
                let inner = inner.clone();
                Some(
                    std::thread::Builder::new()
                        .name("wal-fsync".into())
                        .spawn(move || inner.background_sync(every.max(Duration::from_millis(1))))?,
                )
            }
            _ => None,
        };
        stats.duration = started.elapsed();
        Ok((
            Wal {
                inner,
                bg: Mutex::new(bg),
            },
            stats,
        ))
    }

    /// Writes the batch as (up to) three records: series, samples, metadata.
    /// Returns once written (and fsynced under [`WalSync::Always`]).
    pub fn log(&self, batch: &WalBatch) -> Result<(), StorageError> {
        if batch.is_empty() {
            return Ok(());
        }
        let seq = ENCODE_BUF.with(|cell| {
            let mut buf = cell.borrow_mut();
            buf.clear();
            encode_batch(batch, &mut buf);
            let r = self.inner.write(&buf);
            if buf.capacity() > 16 << 20 {
                *buf = Vec::new();
            }
            r
        })?;
        if self.inner.opts.sync == WalSync::Always {
            self.inner.sync_upto(seq)?;
        }
        Ok(())
    }

    /// Writes already framed records (as produced by [`encode_batch`]) as one
    /// unit; for callers that encode into their own buffer.
    pub fn log_encoded(&self, framed: &[u8]) -> Result<(), StorageError> {
        if framed.is_empty() {
            return Ok(());
        }
        let seq = self.inner.write(framed)?;
        if self.inner.opts.sync == WalSync::Always {
            self.inner.sync_upto(seq)?;
        }
        Ok(())
    }

    /// Cuts a new segment, then compacts the previous checkpoint and every
    /// older segment into `checkpoint.<last>/`: series for which `keep(id)`,
    /// samples of kept series with `t >= min_t`, the latest metadata per
    /// family. Then deletes what it replaced.
    pub fn checkpoint(
        &self,
        keep: &dyn Fn(u64) -> bool,
        min_t: i64,
    ) -> Result<CheckpointStats, StorageError> {
        checkpoint::run(&self.inner, keep, min_t)
    }

    /// fsyncs everything written so far.
    pub fn sync(&self) -> Result<(), StorageError> {
        let seq = lock(&self.inner.writer).seq;
        self.inner.sync_upto(seq)
    }

    /// Bytes on disk: segments plus the checkpoint.
    pub fn size_bytes(&self) -> u64 {
        dir_size(&self.inner.dir)
    }

    /// The WAL directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Number of the segment being written.
    pub fn current_segment(&self) -> u64 {
        lock(&self.inner.writer).segment
    }

    /// Segment fsyncs issued since open (for self-metrics; under
    /// [`WalSync::Always`] it shows how well group commit batches).
    pub fn fsync_count(&self) -> u64 {
        self.inner.fsyncs.load(Ordering::Relaxed)
    }

    /// fsyncs and stops the background thread; later `log` calls fail.
    /// Idempotent.
    pub fn close(&self) -> Result<(), StorageError> {
        *lock(&self.inner.stop) = true;
        self.inner.stop_cv.notify_all();
        if let Some(h) = lock(&self.bg).take() {
            let _ = h.join();
        }
        let seq = {
            let mut w = lock(&self.inner.writer);
            if w.closed {
                return Ok(());
            }
            w.closed = true;
            w.seq
        };
        self.inner.sync_upto(seq)
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        if let Err(e) = self.close() {
            tracing::warn!(target: "sightline::wal", "closing WAL failed: {e}");
        }
    }
}

impl Inner {
    /// Writes `buf` as one unit at the end of the current segment (cutting a
    /// new one first if it would overflow). Returns the write's sequence number.
    fn write(&self, buf: &[u8]) -> Result<u64, StorageError> {
        let mut w = lock(&self.writer);
        if let Some(b) = &w.broken {
            return Err(io_err(format!("WAL unusable after an earlier failure: {b}")));
        }
        if w.closed {
            return Err(StorageError::Other("WAL is closed".into()));
        }
        if w.offset > 0 && w.offset + buf.len() as u64 > self.opts.segment_size {
            self.cut(&mut w)?;
        }
        match (&*w.file).write_all(buf) {
            Ok(()) => {
                w.offset += buf.len() as u64;
                w.seq += 1;
                Ok(w.seq)
            }
            Err(e) => {
                // Undo a partial write so later records never follow garbage.
                if let Err(e2) = w.file.set_len(w.offset) {
                    w.broken = Some(format!("write failed ({e}) and truncating back failed ({e2})"));
                }
                Err(e.into())
            }
        }
    }

    /// Closes the current segment (fsyncing it unless the policy is
    /// `Never`) and starts the next. Caller holds the writer lock.
    fn cut(&self, w: &mut Writer) -> Result<(), StorageError> {
        let sync_meta = self.opts.sync != WalSync::Never;
        if sync_meta {
            self.fsyncs.fetch_add(1, Ordering::Relaxed);
            if let Err(e) = w.file.sync_data() {
                w.broken = Some(format!(
                    "fsync of segment {} failed: {e}",
                    segment_name(w.segment)
                ));
                return Err(e.into());
            }
        }
        let next = w.segment + 1;
        let f = create_segment(&self.dir, next, sync_meta)?;
        let old = std::mem::replace(&mut w.file, Arc::new(f));
        if !sync_meta {
            w.unsynced.push(old);
        }
        w.segment = next;
        w.offset = 0;
        Ok(())
    }

    /// Returns once every write up to `seq` is fsynced. One caller at a
    /// time runs the fsync (covering every write made before it started);
    /// others wait for it and return if it covered them (group commit).
    fn sync_upto(&self, seq: u64) -> Result<(), StorageError> {
        let mut s = lock(&self.sync);
        loop {
            if let Some(f) = &s.failed {
                return Err(io_err(format!("WAL fsync failed earlier: {f}")));
            }
            if s.synced >= seq {
                return Ok(());
            }
            if !s.syncing {
                break;
            }
            s = self.sync_cv.wait(s).unwrap_or_else(|e| e.into_inner());
        }
        s.syncing = true;
        drop(s);
        // Earlier segments were fsynced when cut (or are in `unsynced`), so
        // syncing the current file covers every write up to `target`.
        let (file, target, segment, unsynced) = {
            let mut w = lock(&self.writer);
            (w.file.clone(), w.seq, w.segment, std::mem::take(&mut w.unsynced))
        };
        let mut res = Ok(());
        for f in &unsynced {
            self.fsyncs.fetch_add(1, Ordering::Relaxed);
            res = res.and_then(|()| f.sync_data());
        }
        if !unsynced.is_empty() {
            res = res.and_then(|()| segment::sync_dir(&self.dir));
        }
        self.fsyncs.fetch_add(1, Ordering::Relaxed);
        let res = res.and_then(|()| file.sync_data());
        let failure = {
            let mut s = lock(&self.sync);
            s.syncing = false;
            match &res {
                Ok(()) => {
                    s.synced = s.synced.max(target);
                    None
                }
                Err(e) => {
                    // After a failed fsync the kernel may have dropped the
                    // dirty pages: nothing written since the last good fsync
                    // can be trusted, so refuse further writes.
                    let msg = format!("fsync of segment {} failed: {e}", segment_name(segment));
                    s.failed = Some(msg.clone());
                    Some(msg)
                }
            }
        };
        self.sync_cv.notify_all();
        if let Some(msg) = failure {
            lock(&self.writer).broken = Some(msg);
        }
        res.map_err(StorageError::from)
    }

    fn background_sync(&self, every: Duration) {
        loop {
            let stop = lock(&self.stop);
            let (stop, _) = self
                .stop_cv
                .wait_timeout_while(stop, every, |s| !*s)
                .unwrap_or_else(|e| e.into_inner());
            if *stop {
                return;
            }
            drop(stop);
            let seq = lock(&self.writer).seq;
            if let Err(e) = self.sync_upto(seq) {
                tracing::warn!(target: "sightline::wal", "periodic WAL fsync failed: {e}");
            }
        }
    }
}

fn create_segment(dir: &Path, n: u64, sync_dir: bool) -> Result<File, StorageError> {
    let f = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(dir.join(segment_name(n)))?;
    if sync_dir {
        segment::sync_dir(dir)?;
    }
    // Reopen in append mode so a rollback by `set_len` needs no seek.
    drop(f);
    Ok(OpenOptions::new().append(true).open(dir.join(segment_name(n)))?)
}

fn note_corruption(stats: &mut ReplayStats, msg: String) {
    match &mut stats.corruption {
        Some(c) => {
            c.push_str("; ");
            c.push_str(&msg);
        }
        None => stats.corruption = Some(msg),
    }
}

pub(crate) enum ReplayEnd {
    Clean,
    Damaged { error: FrameError, file_len: u64 },
}

/// Replays one file. Records whose frame is intact but whose payload does
/// not decode are skipped and reported (the framing is still trustworthy,
/// so later records are kept).
fn replay_file(
    path: &Path,
    stats: &mut ReplayStats,
    replay: &mut dyn FnMut(Record),
) -> Result<ReplayEnd, StorageError> {
    let file = File::open(path)?;
    let file_len = file.metadata()?.len();
    let mut r = segment::FrameReader::with_len(file, file_len);
    loop {
        let at = r.offset();
        match r.next_frame()? {
            Ok(None) => return Ok(ReplayEnd::Clean),
            Ok(Some((rtype, payload))) => match record::decode(rtype, payload) {
                Ok(Some(rec)) => {
                    stats.records += 1;
                    match &rec {
                        Record::Series(s) => stats.series += s.len() as u64,
                        Record::Samples(s) => stats.samples += s.len() as u64,
                        Record::Metadata(_) => {}
                    }
                    replay(rec);
                }
                Ok(None) => {
                    tracing::warn!(target: "sightline::wal", "{}: skipped record of unknown type {rtype} at offset {at}", path.display());
                }
                Err(e) => {
                    let msg = format!(
                        "{}: undecodable record of type {rtype} at offset {at}: {e}",
                        path.display()
                    );
                    tracing::warn!(target: "sightline::wal", "skipped WAL record: {msg}");
                    note_corruption(stats, msg);
                }
            },
            Err(error) => return Ok(ReplayEnd::Damaged { error, file_len }),
        }
    }
}

fn dir_size(dir: &Path) -> u64 {
    let Ok(rd) = fs::read_dir(dir) else { return 0 };
    let mut total = 0;
    for e in rd.flatten() {
        let Ok(md) = e.metadata() else { continue };
        if md.is_file() {
            if let Some(name) = e.file_name().to_str() {
                if segment::parse_segment_name(name).is_some() {
                    total += md.len();
                }
            }
        } else if md.is_dir() {
            if let Some(name) = e.file_name().to_str() {
                if segment::parse_checkpoint_name(name).is_some() {
                    total += dir_size_flat(&e.path());
                }
            }
        }
    }
    total
}

fn dir_size_flat(dir: &Path) -> u64 {
    fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_by_size_bounds_runs() {
        let items = [3usize, 3, 3, 10, 1, 1];
        let runs: Vec<&[usize]> = split_by_size(&items, 6, |x| *x).collect();
        assert_eq!(runs, vec![&[3, 3][..], &[3][..], &[10][..], &[1, 1][..]]);
        assert_eq!(split_by_size(&[] as &[usize], 6, |x| *x).count(), 0);
    }

    #[test]
    fn wal_is_send_sync() {
        fn check<T: Send + Sync>() {}
        check::<Wal>();
    }
}
