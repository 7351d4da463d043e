//! [`Tsdb`]: the metrics database (head + WAL + blocks) behind
//! [`sightline_model::Storage`].
//!
//! Data directory layout:
//!
//! ```text
//! <dir>/lock            flock'ed while open (one process per directory)
//! <dir>/wal/            write-ahead log segments and checkpoint (crate::wal)
//! <dir>/blocks/<ULID>/  immutable blocks (crate::block)
//! ```
//!
//! Lifecycle: [`Tsdb::open`] takes the lock, removes half-written blocks,
//! opens every block (deleting blocks superseded by a compaction that
//! crashed before cleaning up), sets the head's lower bound to the newest
//! block's end and replays the WAL into the head. [`Tsdb::maintenance`]
//! (called every minute and at shutdown) persists the oldest block range of
//! the head once the head spans more than 1.5 block ranges, truncates the
//! head and checkpoints the WAL, then compacts and applies retention.
//! Maintenance runs under one mutex; appends and queries proceed meanwhile.
//!
//! Invariants: the head never holds data older than `min_valid_t` (the end
//! of the newest persisted range), so blocks and head overlap only through
//! out-of-order data, which queries merge; block deletion only drops the
//! database's `Arc`, so open queriers keep reading their blocks.

use crate::block::{self, Block, BlockWriter};
use crate::compact;
use crate::head::{Cardinality, Head, HeadAppender, HeadOptions, HeadStats, ReplayState};
use crate::querier::TsdbQuerier;
use crate::retention;
use crate::wal::{ReplayStats, Wal, WalOptions, WalSync};
use parking_lot::{Mutex, RwLock};
use sightline_model::{Appender, Limits, MetricMetadata, Querier, Storage, StorageError};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

const DAY_MS: i64 = 24 * 3600 * 1000;

/// Database options.
#[derive(Clone, Debug)]
pub struct TsdbOptions {
    /// WAL fsync policy.
    pub wal_sync: WalSync,
    /// Out-of-order window in ms (0 = out-of-order samples are refused).
    pub ooo_window_ms: i64,
    /// Time range of a block written from the head (default 2h).
    pub block_range_ms: i64,
    /// Delete blocks older than this (default 15 days).
    pub retention_time_ms: Option<i64>,
    /// Delete the oldest blocks once blocks + WAL exceed this many bytes.
    pub retention_size_bytes: Option<u64>,
    pub limits: Limits,
}

impl Default for TsdbOptions {
    fn default() -> Self {
        Self {
            wal_sync: WalSync::default(),
            ooo_window_ms: 0,
            block_range_ms: 2 * 3600 * 1000,
            retention_time_ms: Some(15 * DAY_MS),
            retention_size_bytes: None,
            limits: Limits::default(),
        }
    }
}

/// Figures for self-metrics and `/api/v1/status/tsdb`.
#[derive(Clone, Debug, Default)]
pub struct TsdbStats {
    pub head: HeadStats,
    pub wal_size_bytes: u64,
    pub wal_replay: ReplayStats,
    /// Replayed samples whose series record was missing (skipped).
    pub wal_replay_unknown_refs: u64,
    pub blocks: u64,
    pub block_bytes: u64,
    /// Oldest block start / newest block end (ms).
    pub blocks_min_t: Option<i64>,
    pub blocks_max_t: Option<i64>,
    pub blocks_written_total: u64,
    pub compactions_total: u64,
    pub blocks_deleted_total: u64,
    pub maintenance_errors_total: u64,
}

/// The metrics database. See the module docs.
pub struct Tsdb {
    dir: PathBuf,
    blocks_dir: PathBuf,
    opts: TsdbOptions,
    head: Head,
    wal: Wal,
    blocks: RwLock<Vec<Arc<Block>>>,
    maint: Mutex<()>,
    replay: ReplayStats,
    replay_unknown: u64,
    blocks_written: AtomicU64,
    compactions: AtomicU64,
    blocks_deleted: AtomicU64,
    maint_errors: AtomicU64,
    closed: AtomicBool,
    _lock: File,
}

fn lock_dir(dir: &Path) -> Result<File, StorageError> {
    use std::os::unix::io::AsRawFd;
    let path = dir.join("lock");
    let f = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)?;
    // SAFETY: flock on a file descriptor we own; no memory is passed.
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        if err.kind() == std::io::ErrorKind::WouldBlock {
            return Err(StorageError::Other(format!(
                "data directory {} is already in use by another process (lock file {} is held)",
                dir.display(),
                path.display()
            )));
        }
        return Err(err.into());
    }
    Ok(f)
}

/// Removes a block directory: renamed to `<id>.tmp` first so a crash never
/// leaves a partial block that looks complete.
fn delete_block_dir(dir: &Path) -> Result<(), StorageError> {
    let mut tmp = dir.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    fs::rename(dir, &tmp)?;
    fs::remove_dir_all(&tmp)?;
    Ok(())
}

impl Tsdb {
    /// Opens (creating) the database in `dir`. Fails if another process (or
    /// another `Tsdb` in this process) holds the directory.
    pub fn open(dir: &Path, opts: TsdbOptions) -> Result<Arc<Tsdb>, StorageError> {
        if opts.block_range_ms <= 0 {
            return Err(StorageError::Other(format!(
                "block range must be positive, got {} ms",
                opts.block_range_ms
            )));
        }
        fs::create_dir_all(dir)?;
        let lock = lock_dir(dir)?;
        let blocks_dir = dir.join("blocks");
        fs::create_dir_all(&blocks_dir)?;
        block::remove_tmp_dirs(&blocks_dir)?;
        let mut blocks = Vec::new();
        for d in block::list_block_dirs(&blocks_dir)? {
            blocks.push(Block::open(&d)?);
        }
        let metas: Vec<_> = blocks.iter().map(|b| b.meta().clone()).collect();
        let gone = compact::superseded(&metas);
        let mut kept = Vec::new();
        for b in blocks {
            if gone.contains(&b.meta().id) {
                delete_block_dir(b.dir())?;
            } else {
                kept.push(Arc::new(b));
            }
        }
        kept.sort_by(|a, b| (a.meta().min_t, &a.meta().id).cmp(&(b.meta().min_t, &b.meta().id)));
        let head = Head::new(HeadOptions {
            block_range_ms: opts.block_range_ms,
            ooo_window_ms: opts.ooo_window_ms.max(0),
            limits: opts.limits.clone(),
            ..HeadOptions::default()
        });
        if let Some(max) = kept.iter().map(|b| b.meta().max_t).max() {
            head.set_min_valid_t(max);
        }
        let mut st = ReplayState::default();
        let wal_opts = WalOptions {
            sync: opts.wal_sync,
            ..WalOptions::default()
        };
        let (wal, replay) = Wal::open(&dir.join("wal"), wal_opts, &mut |rec| head.replay(rec, &mut st))?;
        Ok(Arc::new(Tsdb {
            dir: dir.to_path_buf(),
            blocks_dir,
            opts,
            head,
            wal,
            blocks: RwLock::new(kept),
            maint: Mutex::new(()),
            replay,
            replay_unknown: st.unknown_refs,
            blocks_written: AtomicU64::new(0),
            compactions: AtomicU64::new(0),
            blocks_deleted: AtomicU64::new(0),
            maint_errors: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            _lock: lock,
        }))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn options(&self) -> &TsdbOptions {
        &self.opts
    }

    pub fn head(&self) -> &Head {
        &self.head
    }

    /// A concrete appender (the same one [`Storage::appender`] boxes).
    pub fn head_appender(&self) -> HeadAppender<'_> {
        self.head.appender(&self.wal)
    }

    /// The open blocks, oldest first.
    pub fn blocks(&self) -> Vec<Arc<Block>> {
        self.blocks.read().clone()
    }

    /// Periodic work: persist the head's oldest block range once the head
    /// spans more than 1.5 block ranges (repeatedly), then compact and apply
    /// retention.
    pub fn maintenance(&self) -> Result<(), StorageError> {
        let _g = self.maint.lock();
        let r = self.maintenance_locked(false);
        if r.is_err() {
            self.maint_errors.fetch_add(1, Ordering::Relaxed);
        }
        r.map(|_| ())
    }

    /// Persists every complete block range of the head except the one
    /// holding its newest sample (regardless of the 1.5x rule), then
    /// compacts and applies retention. Returns the number of blocks written
    /// from the head.
    pub fn persist_head_now(&self) -> Result<usize, StorageError> {
        let _g = self.maint.lock();
        self.maintenance_locked(true)
    }

    fn maintenance_locked(&self, force: bool) -> Result<usize, StorageError> {
        let range = self.opts.block_range_ms;
        let mut written = 0;
        while let (Some(min), Some(max)) = (self.head.min_t(), self.head.max_t()) {
            let start = min.div_euclid(range).saturating_mul(range);
            let end = start.saturating_add(range);
            let due = if force {
                end <= max.div_euclid(range).saturating_mul(range)
            } else {
                max.saturating_sub(min) > range.saturating_add(range / 2)
            };
            if !due {
                break;
            }
            if self.persist_range(start, end)? {
                written += 1;
            }
        }
        self.compact_all()?;
        self.apply_retention()?;
        Ok(written)
    }

    /// Writes head data in `[start, end)` as a block, truncates the head and
    /// checkpoints the WAL. Returns whether a block was written.
    fn persist_range(&self, start: i64, end: i64) -> Result<bool, StorageError> {
        let prev_valid = self.head.min_valid_t();
        // From here on, samples below `end` are refused (also at commit), so
        // nothing can slip in behind the copy.
        self.head.set_min_valid_t(prev_valid.max(end));
        let result = (|| -> Result<Option<Block>, StorageError> {
            let mut w = BlockWriter::new(&self.blocks_dir, start, end)?;
            let mut n = 0usize;
            self.head.for_each_series_in(start, end, &mut |labels, samples| {
                n += 1;
                w.add_series(labels, &mut samples.iter().copied())
            })?;
            if n == 0 {
                return Ok(None);
            }
            let meta = w.finish()?;
            Ok(Some(Block::open(&self.blocks_dir.join(&meta.id))?))
        })();
        let block = match result {
            Ok(b) => b,
            Err(e) => {
                self.head.set_min_valid_t(prev_valid);
                return Err(e);
            }
        };
        let wrote = block.is_some();
        if let Some(b) = block {
            let mut blocks = self.blocks.write();
            blocks.push(Arc::new(b));
            blocks.sort_by(|a, b| (a.meta().min_t, &a.meta().id).cmp(&(b.meta().min_t, &b.meta().id)));
            self.blocks_written.fetch_add(1, Ordering::Relaxed);
        }
        self.head.truncate(end);
        let head = &self.head;
        self.wal.checkpoint(&|id| head.contains(id), end)?;
        Ok(wrote)
    }

    fn compact_all(&self) -> Result<(), StorageError> {
        // Bounded: each round removes at least one block.
        for _ in 0..64 {
            let blocks = self.blocks();
            let metas: Vec<_> = blocks.iter().map(|b| b.meta().clone()).collect();
            let Some(ids) =
                compact::plan_with_retention(&metas, self.opts.block_range_ms, self.opts.retention_time_ms)
            else {
                return Ok(());
            };
            let inputs: Vec<&Block> = blocks
                .iter()
                .filter(|b| ids.contains(&b.meta().id))
                .map(|b| b.as_ref())
                .collect();
            let meta = compact::compact(&inputs, &self.blocks_dir)?;
            let new = Arc::new(Block::open(&self.blocks_dir.join(&meta.id))?);
            {
                let mut list = self.blocks.write();
                list.retain(|b| !ids.contains(&b.meta().id));
                list.push(new);
                list.sort_by(|a, b| (a.meta().min_t, &a.meta().id).cmp(&(b.meta().min_t, &b.meta().id)));
            }
            for b in inputs {
                delete_block_dir(b.dir())?;
            }
            self.compactions.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    fn apply_retention(&self) -> Result<(), StorageError> {
        let blocks = self.blocks();
        let metas: Vec<_> = blocks.iter().map(|b| b.meta().clone()).collect();
        let ids = retention::blocks_to_delete(
            &metas,
            self.opts.retention_time_ms,
            self.opts.retention_size_bytes,
            self.wal.size_bytes(),
        );
        if ids.is_empty() {
            return Ok(());
        }
        self.blocks.write().retain(|b| !ids.contains(&b.meta().id));
        for b in blocks.iter().filter(|b| ids.contains(&b.meta().id)) {
            delete_block_dir(b.dir())?;
            self.blocks_deleted.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    pub fn stats(&self) -> TsdbStats {
        let blocks = self.blocks();
        TsdbStats {
            head: self.head.stats(),
            wal_size_bytes: self.wal.size_bytes(),
            wal_replay: self.replay.clone(),
            wal_replay_unknown_refs: self.replay_unknown,
            blocks: blocks.len() as u64,
            block_bytes: blocks.iter().map(|b| b.meta().size_bytes).sum(),
            blocks_min_t: blocks.iter().map(|b| b.meta().min_t).min(),
            blocks_max_t: blocks.iter().map(|b| b.meta().max_t).max(),
            blocks_written_total: self.blocks_written.load(Ordering::Relaxed),
            compactions_total: self.compactions.load(Ordering::Relaxed),
            blocks_deleted_total: self.blocks_deleted.load(Ordering::Relaxed),
            maintenance_errors_total: self.maint_errors.load(Ordering::Relaxed),
        }
    }

    /// Head cardinality for `/api/v1/status/tsdb` (top `top` per list).
    pub fn head_cardinality(&self, top: usize) -> Cardinality {
        self.head.cardinality(top)
    }

    /// Flushes and fsyncs the WAL and stops its background work. Further
    /// appends fail once the WAL refuses them. Idempotent.
    pub fn close(&self) -> Result<(), StorageError> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.wal.close()
    }

    /// A querier with the concrete type.
    pub fn tsdb_querier(&self, mint: i64, maxt: i64) -> TsdbQuerier<'_> {
        TsdbQuerier::new(&self.head, self.blocks(), mint, maxt)
    }
}

impl Storage for Tsdb {
    fn appender(&self) -> Box<dyn Appender + '_> {
        Box::new(self.head.appender(&self.wal))
    }

    fn querier(&self, mint: i64, maxt: i64) -> Result<Box<dyn Querier + '_>, StorageError> {
        Ok(Box::new(self.tsdb_querier(mint, maxt)))
    }

    fn metadata(&self) -> Vec<(String, MetricMetadata)> {
        self.head.metadata()
    }
}
