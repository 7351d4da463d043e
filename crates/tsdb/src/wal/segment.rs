//! Segment files: naming, record framing and a streaming frame reader.
//!
//! A frame is `len u32 LE | crc32 u32 LE | type u8 | payload`, where `len`
//! counts the type byte plus the payload (so `len >= 1`) and the CRC-32
//! (IEEE, as computed by `crc32fast`) covers the same `len` bytes.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// Bytes before the type byte: `len u32 | crc u32`.
pub const HEADER_LEN: usize = 8;
/// Largest `len` a reader accepts (1 GiB): anything above is damage.
pub const MAX_RECORD_LEN: u32 = 1 << 30;
/// Prefix of checkpoint directories.
pub const CHECKPOINT_PREFIX: &str = "checkpoint.";
/// Suffix of a checkpoint being written.
pub const TMP_SUFFIX: &str = ".tmp";
/// The one file inside a checkpoint directory.
pub const CHECKPOINT_FILE: &str = "00000000";

/// The file name of segment `n`: eight decimal digits, zero-padded.
pub fn segment_name(n: u64) -> String {
    format!("{n:08}")
}

/// The directory name of the checkpoint covering segments up to `n`.
pub fn checkpoint_name(n: u64) -> String {
    format!("{CHECKPOINT_PREFIX}{n:08}")
}

/// Parses a segment file name (digits only).
pub fn parse_segment_name(name: &str) -> Option<u64> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    name.parse().ok()
}

/// Parses `checkpoint.NNNNNNNN` (not the `.tmp` form).
pub fn parse_checkpoint_name(name: &str) -> Option<u64> {
    parse_segment_name(name.strip_prefix(CHECKPOINT_PREFIX)?)
}

/// What a WAL directory holds.
#[derive(Debug, Default)]
pub struct DirListing {
    /// Segment numbers, ascending.
    pub segments: Vec<u64>,
    /// Complete checkpoints, ascending.
    pub checkpoints: Vec<u64>,
    /// Leftover `checkpoint.*.tmp` directories.
    pub tmp_checkpoints: Vec<PathBuf>,
}

pub fn list_dir(dir: &Path) -> io::Result<DirListing> {
    let mut out = DirListing::default();
    for e in fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(n) = parse_segment_name(name) {
            if e.file_type()?.is_file() {
                out.segments.push(n);
            }
        } else if let Some(n) = parse_checkpoint_name(name) {
            out.checkpoints.push(n);
        } else if name.starts_with(CHECKPOINT_PREFIX) && name.ends_with(TMP_SUFFIX) {
            out.tmp_checkpoints.push(e.path());
        }
    }
    out.segments.sort_unstable();
    out.checkpoints.sort_unstable();
    Ok(out)
}

/// Starts a frame of type `rtype` at the end of `buf` (header space plus the
/// type byte) and returns its start; the caller appends the payload and then
/// calls [`finish_frame`].
pub fn reserve_header(buf: &mut Vec<u8>, rtype: u8) -> usize {
    let start = buf.len();
    buf.extend_from_slice(&[0u8; HEADER_LEN]);
    buf.push(rtype);
    start
}

/// Completes the frame started by [`reserve_header`] at `start`.
pub fn finish_frame(buf: &mut [u8], start: usize) {
    let body = &buf[start + HEADER_LEN..];
    let len = body.len() as u32;
    let crc = crc32fast::hash(body);
    buf[start..start + 4].copy_from_slice(&len.to_le_bytes());
    buf[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// Why reading stopped before the end of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError {
    /// File offset of the first byte of the bad frame.
    pub offset: u64,
    pub detail: String,
}

/// Streams frames out of a segment through a reusable buffer: payloads are
/// handed out as slices of that buffer, without a copy per record.
pub struct FrameReader<R> {
    r: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// File offset of `buf[start]`.
    offset: u64,
    eof: bool,
    /// Total length of the input, when known: frames claiming more bytes
    /// than are left are rejected before any buffer grows for them.
    len: Option<u64>,
}

const READ_CHUNK: usize = 1 << 20;

impl<R: Read> FrameReader<R> {
    pub fn new(r: R) -> Self {
        Self {
            r,
            buf: vec![0; READ_CHUNK],
            start: 0,
            end: 0,
            offset: 0,
            eof: false,
            len: None,
        }
    }

    /// A reader over input of known total length `len`.
    pub fn with_len(r: R, len: u64) -> Self {
        let mut f = Self::new(r);
        f.buf.truncate((len as usize).clamp(HEADER_LEN + 1, READ_CHUNK));
        f.len = Some(len);
        f
    }

    /// File offset of the next frame (after the last one returned).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Makes at least `n` bytes available from `start`, unless EOF comes
    /// first. Returns the bytes available.
    fn fill(&mut self, n: usize) -> io::Result<usize> {
        while self.end - self.start < n && !self.eof {
            if self.start > 0
                && (self.buf.len() - self.end < READ_CHUNK / 2 || self.buf.len() - self.start < n)
            {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.end == self.buf.len() {
                // Grow with the data actually read (never straight to a
                // claimed length, which may be garbage).
                let new_len = (self.buf.len() + READ_CHUNK).max((self.start + n).min(self.buf.len() * 2));
                self.buf.resize(new_len, 0);
            }
            match self.r.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(k) => self.end += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(self.end - self.start)
    }

    /// The next frame as `(type, payload)`. `Ok(Ok(None))` at a clean end of
    /// file; `Ok(Err(_))` for a torn or corrupt frame (the reader stays at
    /// its start); `Err(_)` for an I/O error.
    #[allow(clippy::type_complexity)]
    pub fn next_frame(&mut self) -> io::Result<Result<Option<(u8, &[u8])>, FrameError>> {
        let avail = self.fill(HEADER_LEN + 1)?;
        if avail == 0 {
            return Ok(Ok(None));
        }
        let offset = self.offset;
        let bad = |detail: String| Ok(Err(FrameError { offset, detail }));
        if avail < HEADER_LEN + 1 {
            return bad(format!(
                "torn record: only {avail} bytes of a record header at end of file"
            ));
        }
        let h = &self.buf[self.start..self.start + HEADER_LEN];
        let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
        let crc = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
        if len == 0 || len > MAX_RECORD_LEN {
            return bad(format!("bad record length {len}"));
        }
        let total = HEADER_LEN + len as usize;
        if let Some(flen) = self.len {
            let left = flen.saturating_sub(self.offset + HEADER_LEN as u64);
            if len as u64 > left {
                return bad(format!(
                    "torn record: length {len} but only {left} bytes left in the file"
                ));
            }
        }
        let avail = self.fill(total)?;
        if avail < total {
            return bad(format!(
                "torn record: length {len} but only {} bytes left in the file",
                avail - HEADER_LEN
            ));
        }
        let body = &self.buf[self.start + HEADER_LEN..self.start + total];
        let got = crc32fast::hash(body);
        if got != crc {
            return bad(format!(
                "CRC mismatch (stored {crc:08x}, computed {got:08x}) in a {len}-byte record"
            ));
        }
        self.start += total;
        self.offset += total as u64;
        let body = &self.buf[self.start - total + HEADER_LEN..self.start];
        Ok(Ok(Some((body[0], &body[1..]))))
    }
}

/// Opens a segment for reading.
pub fn open_reader(path: &Path) -> io::Result<FrameReader<File>> {
    let f = File::open(path)?;
    let len = f.metadata()?.len();
    Ok(FrameReader::with_len(f, len))
}

/// fsyncs a directory so entries created, renamed or removed in it are durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(rtype: u8, payload: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        let s = reserve_header(&mut b, rtype);
        b.extend_from_slice(payload);
        finish_frame(&mut b, s);
        b
    }

    #[test]
    fn names_round_trip() {
        assert_eq!(segment_name(1), "00000001");
        assert_eq!(parse_segment_name("00000042"), Some(42));
        assert_eq!(parse_segment_name("123456789"), Some(123456789));
        assert_eq!(parse_segment_name("0001.tmp"), None);
        assert_eq!(parse_segment_name(""), None);
        assert_eq!(checkpoint_name(7), "checkpoint.00000007");
        assert_eq!(parse_checkpoint_name("checkpoint.00000007"), Some(7));
        assert_eq!(parse_checkpoint_name("checkpoint.00000007.tmp"), None);
    }

    #[test]
    fn reads_frames_and_reports_damage() {
        let mut data = frame(1, b"hello");
        data.extend(frame(2, &vec![7u8; 3 * READ_CHUNK]));
        data.extend(frame(3, b""));
        let mut r = FrameReader::new(&data[..]);
        assert_eq!(r.next_frame().unwrap().unwrap(), Some((1, &b"hello"[..])));
        let (t, p) = r.next_frame().unwrap().unwrap().unwrap();
        assert_eq!((t, p.len()), (2, 3 * READ_CHUNK));
        assert_eq!(r.next_frame().unwrap().unwrap(), Some((3, &b""[..])));
        assert_eq!(r.next_frame().unwrap().unwrap(), None);
        assert_eq!(r.offset(), data.len() as u64);

        // Every truncation inside the last frame is reported at its start.
        let good = frame(1, b"abc");
        for cut in 1..good.len() {
            let mut d = good.clone();
            d.extend_from_slice(&frame(2, b"xyz")[..cut]);
            let mut r = FrameReader::new(&d[..]);
            assert!(r.next_frame().unwrap().unwrap().is_some());
            let e = r.next_frame().unwrap().unwrap_err();
            assert_eq!(e.offset, good.len() as u64, "cut {cut}");
        }
        // A flipped byte anywhere in a frame is detected.
        for i in 0..good.len() {
            let mut d = good.clone();
            d[i] ^= 0x10;
            let mut r = FrameReader::new(&d[..]);
            assert!(r.next_frame().unwrap().is_err(), "flip at {i}");
        }
        // A garbage length near the limit is rejected without a huge buffer.
        let mut d = good.clone();
        d.extend_from_slice(&((MAX_RECORD_LEN - 1).to_le_bytes()));
        d.extend_from_slice(&[0u8; 20]);
        let mut r = FrameReader::with_len(&d[..], d.len() as u64);
        assert!(r.next_frame().unwrap().unwrap().is_some());
        assert!(r
            .next_frame()
            .unwrap()
            .unwrap_err()
            .detail
            .contains("torn record"));
        assert!(r.buf.len() <= READ_CHUNK);
        // Without a known length the buffer grows only with data read.
        let mut r = FrameReader::new(&d[..]);
        assert!(r.next_frame().unwrap().unwrap().is_some());
        assert!(r.next_frame().unwrap().is_err());
        assert!(r.buf.len() <= 2 * READ_CHUNK);
        // Zero fill (as left by some file systems after a crash).
        let mut r = FrameReader::new(&[0u8; 64][..]);
        assert!(r.next_frame().unwrap().unwrap_err().detail.contains("length 0"));
    }
}
