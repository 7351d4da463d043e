//! Checkpoints: compact the log's prefix into `checkpoint.NNNNNNNN/`.
//!
//! A checkpoint is a directory holding one file (`00000000`) in segment
//! format. It is written under `checkpoint.NNNNNNNN.tmp/`, fsynced, renamed
//! into place and the WAL directory fsynced; only then are the segments it
//! covers and the previous checkpoint deleted. A crash at any point leaves
//! either the old state or the new checkpoint (plus leftovers that
//! [`super::Wal::open`] deletes), never a partial checkpoint.
//!
//! Records keep their relative order (pending series are always flushed
//! before pending samples), so series still precede the samples using them.

use super::record::{self, TYPE_METADATA, TYPE_SAMPLES, TYPE_SERIES};
use super::segment::{self, segment_name};
use super::{lock, split_by_size, CheckpointStats, Inner, Record, RefMetadata, RefSample, RefSeries};
use sightline_model::StorageError;
use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::Path;

/// Pending entries are flushed as records at about this many.
const FLUSH_SAMPLES: usize = 1 << 16;
const FLUSH_SERIES: usize = 1 << 14;

struct Out {
    w: BufWriter<File>,
    buf: Vec<u8>,
    series: Vec<RefSeries>,
    samples: Vec<RefSample>,
}

impl Out {
    fn flush_series(&mut self) -> std::io::Result<()> {
        for chunk in split_by_size(&self.series, super::MAX_PAYLOAD, |s| {
            18 + s
                .labels
                .iter()
                .map(|l| l.name.len() + l.value.len() + 10)
                .sum::<usize>()
        }) {
            self.buf.clear();
            let start = segment::reserve_header(&mut self.buf, TYPE_SERIES);
            record::encode_series(chunk, &mut self.buf);
            segment::finish_frame(&mut self.buf, start);
            self.w.write_all(&self.buf)?;
        }
        self.series.clear();
        Ok(())
    }

    fn flush_samples(&mut self) -> std::io::Result<()> {
        // Series first: some of the pending samples may belong to them.
        self.flush_series()?;
        if !self.samples.is_empty() {
            self.buf.clear();
            let start = segment::reserve_header(&mut self.buf, TYPE_SAMPLES);
            record::encode_samples(&self.samples, &mut self.buf);
            segment::finish_frame(&mut self.buf, start);
            self.w.write_all(&self.buf)?;
            self.samples.clear();
        }
        Ok(())
    }

    fn write_metadata(&mut self, meta: &[RefMetadata]) -> std::io::Result<()> {
        for chunk in split_by_size(meta, super::MAX_PAYLOAD, |m| {
            31 + m.name.len() + m.meta.help.len() + m.meta.unit.len()
        }) {
            self.buf.clear();
            let start = segment::reserve_header(&mut self.buf, TYPE_METADATA);
            record::encode_metadata(chunk, &mut self.buf);
            segment::finish_frame(&mut self.buf, start);
            self.w.write_all(&self.buf)?;
        }
        Ok(())
    }
}

pub(super) fn run(
    inner: &Inner,
    keep: &dyn Fn(u64) -> bool,
    min_t: i64,
) -> Result<CheckpointStats, StorageError> {
    let _one_at_a_time = lock(&inner.checkpointing);
    let dir = &inner.dir;

    // Cut so that everything logged so far is in immutable segments.
    let last = {
        let mut w = lock(&inner.writer);
        if w.closed {
            return Err(StorageError::Other("WAL is closed".into()));
        }
        if w.offset > 0 {
            inner.cut(&mut w)?;
        }
        w.segment - 1
    };

    let listing = segment::list_dir(dir)?;
    let old_cp = listing.checkpoints.iter().copied().rfind(|&c| c <= last);
    let segs: Vec<u64> = listing
        .segments
        .iter()
        .copied()
        .filter(|&s| s <= last && old_cp.is_none_or(|c| s > c))
        .collect();
    let mut stats = CheckpointStats::default();
    if segs.is_empty() {
        return Ok(stats);
    }

    let final_dir = dir.join(segment::checkpoint_name(last));
    let tmp_dir = dir.join(format!(
        "{}{}",
        segment::checkpoint_name(last),
        segment::TMP_SUFFIX
    ));
    if tmp_dir.exists() {
        fs::remove_dir_all(&tmp_dir)?;
    }
    fs::create_dir(&tmp_dir)?;
    let result = write_checkpoint(dir, &tmp_dir, old_cp, &segs, keep, min_t, &mut stats);
    if let Err(e) = result {
        let _ = fs::remove_dir_all(&tmp_dir);
        return Err(e);
    }
    if final_dir.exists() {
        // Only possible if a previous run died between rename and cleanup
        // and open() has not run since; the new one supersedes it.
        fs::remove_dir_all(&final_dir)?;
    }
    fs::rename(&tmp_dir, &final_dir)?;
    segment::sync_dir(dir)?;

    // The checkpoint is durable: drop what it replaces.
    for &s in &segs {
        fs::remove_file(dir.join(segment_name(s)))?;
        stats.segments_deleted += 1;
    }
    if let Some(c) = old_cp {
        if c != last {
            fs::remove_dir_all(dir.join(segment::checkpoint_name(c)))?;
        }
    }
    segment::sync_dir(dir)?;
    tracing::debug!(
        target: "sightline::wal",
        "checkpoint {}: kept {} series / {} samples, dropped {} / {}, deleted {} segments",
        segment::checkpoint_name(last),
        stats.kept_series,
        stats.kept_samples,
        stats.dropped_series,
        stats.dropped_samples,
        stats.segments_deleted
    );
    Ok(stats)
}

fn write_checkpoint(
    dir: &Path,
    tmp_dir: &Path,
    old_cp: Option<u64>,
    segs: &[u64],
    keep: &dyn Fn(u64) -> bool,
    min_t: i64,
    stats: &mut CheckpointStats,
) -> Result<(), StorageError> {
    let file = File::create(tmp_dir.join(segment::CHECKPOINT_FILE))?;
    let mut out = Out {
        w: BufWriter::with_capacity(1 << 20, file),
        buf: Vec::new(),
        series: Vec::new(),
        samples: Vec::new(),
    };
    let mut seen: HashSet<u64> = HashSet::new();
    let mut meta: Vec<RefMetadata> = Vec::new();
    let mut meta_idx: HashMap<String, usize> = HashMap::new();

    let mut sources: Vec<std::path::PathBuf> = Vec::new();
    if let Some(c) = old_cp {
        sources.push(
            dir.join(segment::checkpoint_name(c))
                .join(segment::CHECKPOINT_FILE),
        );
    }
    sources.extend(segs.iter().map(|&s| dir.join(segment_name(s))));

    let mut samples_buf: Vec<RefSample> = Vec::new();
    for path in &sources {
        let mut r = match segment::open_reader(path) {
            Ok(r) => r,
            // A checkpoint directory without its file was reported at open.
            Err(e)
                if e.kind() == std::io::ErrorKind::NotFound
                    && Some(path) == sources.first()
                    && old_cp.is_some() =>
            {
                tracing::warn!(target: "sightline::wal", "checkpoint: {} is missing; skipped", path.display());
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        loop {
            let at = r.offset();
            let (rtype, payload) = match r.next_frame()? {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => {
                    // Already reported when the WAL was opened (or new
                    // damage): the readable prefix is all there is.
                    tracing::warn!(
                        target: "sightline::wal",
                        "checkpoint: {}: {} at offset {}; ignoring the rest of the file",
                        path.display(),
                        e.detail,
                        e.offset
                    );
                    break;
                }
            };
            // Samples are filtered straight from the payload (no Record).
            if rtype == TYPE_SAMPLES {
                samples_buf.clear();
                if let Err(e) = record::decode_samples_into(payload, &mut samples_buf) {
                    warn_skip(path, at, &e);
                    continue;
                }
                for s in &samples_buf {
                    if s.t >= min_t && keep(s.id) {
                        out.samples.push(*s);
                        stats.kept_samples += 1;
                    } else {
                        stats.dropped_samples += 1;
                    }
                }
                if out.samples.len() >= FLUSH_SAMPLES {
                    out.flush_samples()?;
                }
                continue;
            }
            match record::decode(rtype, payload) {
                Ok(Some(Record::Series(series))) => {
                    for s in series {
                        if !keep(s.id) {
                            stats.dropped_series += 1;
                        } else if seen.insert(s.id) {
                            stats.kept_series += 1;
                            out.series.push(s);
                        }
                    }
                    if out.series.len() >= FLUSH_SERIES {
                        out.flush_series()?;
                    }
                }
                Ok(Some(Record::Metadata(ms))) => {
                    for m in ms {
                        match meta_idx.get(&m.name) {
                            Some(&i) => meta[i] = m,
                            None => {
                                meta_idx.insert(m.name.clone(), meta.len());
                                meta.push(m);
                            }
                        }
                    }
                }
                Ok(Some(Record::Samples(_))) | Ok(None) => {}
                Err(e) => warn_skip(path, at, &e),
            }
        }
    }
    out.flush_samples()?;
    out.write_metadata(&meta)?;
    let file = out.w.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    drop(file);
    segment::sync_dir(tmp_dir)?;
    Ok(())
}

fn warn_skip(path: &Path, at: u64, e: &record::DecodeError) {
    tracing::warn!(
        target: "sightline::wal",
        "checkpoint: {}: skipped undecodable record at offset {at}: {e}",
        path.display()
    );
}
