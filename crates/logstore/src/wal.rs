//! Write-ahead log.
//!
//! Files `wal/<seq>.wal` (20-digit decimal sequence). Each append writes one
//! frame `len:u32le crc32:u32le payload` with a single `write(2)`; the payload
//! is `tenant` (length-prefixed), a record count and the rows
//! (see [`crate::record`]). A frame is acknowledged only after the write
//! returned, and after `fdatasync` under [`FsyncPolicy::Always`].
//!
//! Replay reads the files in sequence order. A frame that is short or fails
//! its CRC ends that file: the file is truncated there (a torn tail from a
//! crash) and the event is reported, never fatal. Files whose data has been
//! flushed to segments are deleted by [`Wal::remove_before`].

use crate::codec::{put_bytes, put_uvarint, Reader};
use crate::record::{decode_record, encode_record, LogRecord};
use crate::{LogStoreError, Result};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// When appends are followed by `fdatasync`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// After every append: acknowledged data survives power loss.
    Always,
    /// At most once per interval, on the append that finds the interval
    /// elapsed, and at cut/close. Acknowledged data survives kill -9.
    Interval(Duration),
    /// Never (the OS decides). Acknowledged data survives kill -9.
    Never,
}

/// Largest accepted frame (a corrupt length beyond this ends replay of a file).
pub const MAX_FRAME: usize = 256 << 20;

/// What replay found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReplayReport {
    pub files: usize,
    pub frames: usize,
    pub records: usize,
    /// `(file, offset, bytes dropped, reason)` for each truncated tail.
    pub truncated: Vec<(String, u64, u64, String)>,
}

pub struct Wal {
    dir: PathBuf,
    file: File,
    seq: u64,
    size: u64,
    policy: FsyncPolicy,
    last_sync: Instant,
    dirty: bool,
    buf: Vec<u8>,
}

fn file_name(seq: u64) -> String {
    format!("{seq:020}.wal")
}

fn list_seqs(dir: &Path) -> Result<Vec<u64>> {
    let mut seqs = Vec::new();
    for e in fs::read_dir(dir).map_err(|e| LogStoreError::io(dir.display(), e))? {
        let e = e.map_err(|e| LogStoreError::io(dir.display(), e))?;
        let name = e.file_name();
        let name = name.to_string_lossy();
        if let Some(stem) = name.strip_suffix(".wal") {
            if let Ok(s) = stem.parse::<u64>() {
                seqs.push(s);
            }
        }
    }
    seqs.sort_unstable();
    Ok(seqs)
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| LogStoreError::io(dir.display(), e))
}

impl Wal {
    /// Opens (creating) the WAL in `dir`, replaying every frame into `apply`
    /// in order, then starts a fresh file for new appends.
    /// `apply` receives the file sequence, the tenant and the records of each
    /// frame. New appends go to a file numbered above every existing file and
    /// above `min_next_seq`.
    pub fn open(
        dir: &Path,
        policy: FsyncPolicy,
        min_next_seq: u64,
        mut apply: impl FnMut(u64, &str, Vec<LogRecord>),
    ) -> Result<(Wal, ReplayReport)> {
        fs::create_dir_all(dir).map_err(|e| LogStoreError::io(dir.display(), e))?;
        let mut report = ReplayReport::default();
        let seqs = list_seqs(dir)?;
        for &seq in &seqs {
            report.files += 1;
            let path = dir.join(file_name(seq));
            let mut data = Vec::new();
            File::open(&path)
                .and_then(|mut f| f.read_to_end(&mut data))
                .map_err(|e| LogStoreError::io(path.display(), e))?;
            let mut off = 0usize;
            let mut bad: Option<String> = None;
            while off < data.len() {
                if data.len() - off < 8 {
                    bad = Some("short frame header".into());
                    break;
                }
                let len = u32::from_le_bytes(data[off..off + 4].try_into().unwrap()) as usize;
                let crc = u32::from_le_bytes(data[off + 4..off + 8].try_into().unwrap());
                if len > MAX_FRAME || data.len() - off - 8 < len {
                    bad = Some(format!("frame of {len} bytes extends past the end"));
                    break;
                }
                let payload = &data[off + 8..off + 8 + len];
                if crc32fast::hash(payload) != crc {
                    bad = Some("checksum mismatch".into());
                    break;
                }
                match decode_frame(payload) {
                    Ok((tenant, recs)) => {
                        report.frames += 1;
                        report.records += recs.len();
                        apply(seq, tenant, recs);
                    }
                    Err(e) => {
                        bad = Some(format!("undecodable frame: {}", e.0));
                        break;
                    }
                }
                off += 8 + len;
            }
            if let Some(reason) = bad {
                let dropped = (data.len() - off) as u64;
                OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .and_then(|f| {
                        f.set_len(off as u64)?;
                        f.sync_all()
                    })
                    .map_err(|e| LogStoreError::io(path.display(), e))?;
                report
                    .truncated
                    .push((path.display().to_string(), off as u64, dropped, reason));
            }
        }
        let seq = seqs.last().map_or(1, |s| s + 1).max(min_next_seq);
        let path = dir.join(file_name(seq));
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| LogStoreError::io(path.display(), e))?;
        sync_dir(dir)?;
        Ok((
            Wal {
                dir: dir.to_path_buf(),
                file,
                seq,
                size: 0,
                policy,
                last_sync: Instant::now(),
                dirty: false,
                buf: Vec::new(),
            },
            report,
        ))
    }

    /// Appends one frame; returns the bytes written.
    pub fn append(&mut self, tenant: &str, records: &[LogRecord]) -> Result<usize> {
        self.buf.clear();
        self.buf.extend_from_slice(&[0u8; 8]);
        put_bytes(&mut self.buf, tenant.as_bytes());
        put_uvarint(&mut self.buf, records.len() as u64);
        for r in records {
            encode_record(&mut self.buf, r);
        }
        let len = self.buf.len() - 8;
        if len > MAX_FRAME {
            return Err(LogStoreError::Limit(format!(
                "batch of {len} encoded bytes exceeds the WAL frame limit of {MAX_FRAME}"
            )));
        }
        let crc = crc32fast::hash(&self.buf[8..]);
        self.buf[0..4].copy_from_slice(&(len as u32).to_le_bytes());
        self.buf[4..8].copy_from_slice(&crc.to_le_bytes());
        if let Err(e) = self.file.write_all(&self.buf) {
            // Do not leave a partial frame in front of later good frames.
            let _ = self.file.set_len(self.size);
            return Err(LogStoreError::io(self.path().display(), e));
        }
        self.size += self.buf.len() as u64;
        self.dirty = true;
        match self.policy {
            FsyncPolicy::Always => self.sync()?,
            FsyncPolicy::Interval(d) if self.last_sync.elapsed() >= d => self.sync()?,
            _ => {}
        }
        Ok(self.buf.len())
    }

    pub fn sync(&mut self) -> Result<()> {
        if self.dirty {
            self.file
                .sync_data()
                .map_err(|e| LogStoreError::io(self.path().display(), e))?;
            self.dirty = false;
        }
        self.last_sync = Instant::now();
        Ok(())
    }

    fn path(&self) -> PathBuf {
        self.dir.join(file_name(self.seq))
    }

    /// Bytes in the current file.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Closes the current file and starts the next; returns the new file's
    /// sequence (every older file may be removed once its data is durable
    /// elsewhere).
    pub fn cut(&mut self) -> Result<u64> {
        if self.policy != FsyncPolicy::Never {
            self.sync()?;
        }
        let seq = self.seq + 1;
        let path = self.dir.join(file_name(seq));
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| LogStoreError::io(path.display(), e))?;
        sync_dir(&self.dir)?;
        self.seq = seq;
        self.size = 0;
        Ok(seq)
    }

    /// Deletes every file with a sequence below `seq`.
    pub fn remove_before(&self, seq: u64) -> Result<usize> {
        let mut n = 0;
        for s in list_seqs(&self.dir)? {
            if s < seq {
                let p = self.dir.join(file_name(s));
                fs::remove_file(&p).map_err(|e| LogStoreError::io(p.display(), e))?;
                n += 1;
            }
        }
        if n > 0 {
            sync_dir(&self.dir)?;
        }
        Ok(n)
    }
}

fn decode_frame(payload: &[u8]) -> Result<(&str, Vec<LogRecord>), crate::codec::DecodeError> {
    let mut r = Reader::new(payload);
    let tenant = r.str()?;
    let n = r.len(payload.len())?;
    let mut recs = Vec::with_capacity(n);
    for _ in 0..n {
        recs.push(decode_record(&mut r)?);
    }
    if !r.is_empty() {
        return Err(crate::codec::DecodeError("trailing bytes"));
    }
    Ok((tenant, recs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sightline_model::Labels;

    fn rec(i: i64) -> LogRecord {
        LogRecord::new(i, Labels::from_pairs([("app", "a")]), format!("line {i}"))
    }

    fn replay(dir: &Path) -> (Vec<(String, LogRecord)>, ReplayReport, Wal) {
        let mut got = Vec::new();
        let (w, rep) = Wal::open(dir, FsyncPolicy::Always, 0, |_, t, rs| {
            got.extend(rs.into_iter().map(|r| (t.to_string(), r)))
        })
        .unwrap();
        (got, rep, w)
    }

    #[test]
    fn replays_frames_in_order_across_files() {
        let d = tempfile::tempdir().unwrap();
        {
            let (_, _, mut w) = replay(d.path());
            w.append("t1", &[rec(1), rec(2)]).unwrap();
            w.cut().unwrap();
            w.append("t2", &[rec(3)]).unwrap();
        }
        let (got, rep, _) = replay(d.path());
        assert_eq!(
            got.iter().map(|(t, r)| (t.as_str(), r.ts_ns)).collect::<Vec<_>>(),
            [("t1", 1), ("t1", 2), ("t2", 3)]
        );
        assert!(rep.truncated.is_empty());
        assert_eq!(rep.records, 3);
    }

    #[test]
    fn torn_tail_is_truncated_and_reported() {
        let d = tempfile::tempdir().unwrap();
        let path;
        {
            let (_, _, mut w) = replay(d.path());
            w.append("t", &[rec(1)]).unwrap();
            w.append("t", &[rec(2)]).unwrap();
            path = w.path();
        }
        let full = fs::read(&path).unwrap();
        // Every possible torn length keeps exactly the complete frames.
        let first = 8 + u32::from_le_bytes(full[0..4].try_into().unwrap()) as usize;
        for cut in [first + 1, first + 7, first + 9, full.len() - 1] {
            fs::write(&path, &full[..cut]).unwrap();
            let (got, rep, w) = replay(d.path());
            drop(w);
            assert_eq!(got.len(), 1, "cut at {cut}");
            assert_eq!(rep.truncated.len(), 1);
            assert_eq!(fs::metadata(&path).unwrap().len() as usize, first);
            // remove the empty file the open created so the next loop sees the same layout
            for s in list_seqs(d.path()).unwrap() {
                let p = d.path().join(file_name(s));
                if p != path {
                    fs::remove_file(p).unwrap();
                }
            }
        }
        // A flipped byte in the payload fails the checksum.
        let mut bad = full.clone();
        bad[first + 10] ^= 0xff;
        fs::write(&path, &bad).unwrap();
        let (got, rep, _) = replay(d.path());
        assert_eq!(got.len(), 1);
        assert!(rep.truncated[0].3.contains("checksum"));
    }

    #[test]
    fn remove_before_deletes_old_files() {
        let d = tempfile::tempdir().unwrap();
        let (_, _, mut w) = replay(d.path());
        w.append("t", &[rec(1)]).unwrap();
        let s = w.cut().unwrap();
        w.append("t", &[rec(2)]).unwrap();
        assert_eq!(w.remove_before(s).unwrap(), 1);
        drop(w);
        let (got, _, _) = replay(d.path());
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].1.ts_ns, 2);
    }
}
