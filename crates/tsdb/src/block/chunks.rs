//! The `chunks` file: encoded sample chunks packed into zstd frames.
//!
//! ```text
//! +---------------------------+ 0
//! | "SLCH" | ver u8 | 0 0 0   |  8-byte header
//! +---------------------------+ 8
//! | frame 0 (zstd, level 3)   |  each frame decompresses to <= ~64 KiB of
//! | frame 1                   |  whole encoded chunks
//! | ...                       |
//! +---------------------------+ table_offset
//! | frame table: per frame    |  20 bytes each, little endian:
//! |  u64 offset, u32 comp_len,|  offset/len of the compressed frame,
//! |  u32 raw_len, u32 crc32   |  decompressed length, CRC-32 of the frame
//! +---------------------------+
//! | footer (24 bytes):        |
//! |  u64 table_offset         |
//! |  u32 frame_count          |
//! |  u32 crc32(frame table)   |
//! |  u32 crc32(previous 16 B) |
//! |  "SLCH"                   |
//! +---------------------------+
//! ```
//!
//! A chunk is addressed by (frame, offset inside the decompressed frame,
//! length). Reading a chunk decompresses only its frame; the frame's CRC is
//! checked on every read, the table and footer once at open. Frames must tile
//! the region between the header and the table exactly, so a truncated or
//! extended file is detected at open.

use super::corruption;
use sightline_model::StorageError;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

pub const MAGIC: &[u8; 4] = b"SLCH";
pub const VERSION: u8 = 1;
const HEADER_LEN: u64 = 8;
const FOOTER_LEN: u64 = 24;
const TABLE_ENTRY_LEN: usize = 20;
/// Target decompressed size of a frame.
pub const FRAME_TARGET: usize = 64 * 1024;
/// Refuse frames claiming more than this when decompressed.
const MAX_RAW_FRAME: u32 = 64 << 20;
const ZSTD_LEVEL: i32 = 3;

/// Where one chunk lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkLoc {
    pub frame: u32,
    pub offset: u32,
    pub len: u32,
}

#[derive(Clone, Copy, Debug)]
struct FrameEntry {
    offset: u64,
    comp_len: u32,
    raw_len: u32,
    crc: u32,
}

pub struct ChunksWriter {
    out: BufWriter<File>,
    pos: u64,
    frame: Vec<u8>,
    table: Vec<FrameEntry>,
    compressor: zstd::bulk::Compressor<'static>,
}

impl ChunksWriter {
    pub fn create(path: &Path) -> Result<Self, StorageError> {
        let f = File::options().write(true).create_new(true).open(path)?;
        let mut out = BufWriter::with_capacity(256 * 1024, f);
        out.write_all(MAGIC)?;
        out.write_all(&[VERSION, 0, 0, 0])?;
        let compressor = zstd::bulk::Compressor::new(ZSTD_LEVEL)?;
        Ok(Self {
            out,
            pos: HEADER_LEN,
            frame: Vec::with_capacity(FRAME_TARGET + 16 * 1024),
            table: Vec::new(),
            compressor,
        })
    }

    /// Appends one encoded chunk, starting a new frame first when it would
    /// push the current one over [`FRAME_TARGET`].
    pub fn add_chunk(&mut self, data: &[u8]) -> Result<ChunkLoc, StorageError> {
        if !self.frame.is_empty() && self.frame.len() + data.len() > FRAME_TARGET {
            self.flush_frame()?;
        }
        let loc = ChunkLoc {
            frame: self.table.len() as u32,
            offset: self.frame.len() as u32,
            len: u32::try_from(data.len()).map_err(|_| StorageError::Other("chunk too large".into()))?,
        };
        self.frame.extend_from_slice(data);
        Ok(loc)
    }

    fn flush_frame(&mut self) -> Result<(), StorageError> {
        if self.frame.is_empty() {
            return Ok(());
        }
        let comp = self.compressor.compress(&self.frame)?;
        let entry = FrameEntry {
            offset: self.pos,
            comp_len: comp.len() as u32,
            raw_len: self.frame.len() as u32,
            crc: crc32fast::hash(&comp),
        };
        self.out.write_all(&comp)?;
        self.pos += comp.len() as u64;
        self.table.push(entry);
        self.frame.clear();
        Ok(())
    }

    /// Writes the last frame, the table and the footer, and fsyncs. Returns
    /// the file size.
    pub fn finish(mut self) -> Result<u64, StorageError> {
        self.flush_frame()?;
        let mut table = Vec::with_capacity(self.table.len() * TABLE_ENTRY_LEN);
        for e in &self.table {
            table.extend_from_slice(&e.offset.to_le_bytes());
            table.extend_from_slice(&e.comp_len.to_le_bytes());
            table.extend_from_slice(&e.raw_len.to_le_bytes());
            table.extend_from_slice(&e.crc.to_le_bytes());
        }
        let mut footer = Vec::with_capacity(FOOTER_LEN as usize);
        footer.extend_from_slice(&self.pos.to_le_bytes());
        footer.extend_from_slice(&(self.table.len() as u32).to_le_bytes());
        footer.extend_from_slice(&crc32fast::hash(&table).to_le_bytes());
        let fcrc = crc32fast::hash(&footer);
        footer.extend_from_slice(&fcrc.to_le_bytes());
        footer.extend_from_slice(MAGIC);
        self.out.write_all(&table)?;
        self.out.write_all(&footer)?;
        let f = self
            .out
            .into_inner()
            .map_err(|e| StorageError::Io(e.into_error()))?;
        f.sync_all()?;
        Ok(self.pos + table.len() as u64 + FOOTER_LEN)
    }
}

/// Read side of a chunks file (pread, so a file changed underneath can only
/// produce errors, never undefined behaviour).
pub struct ChunksReader {
    path: String,
    file: File,
    table: Vec<FrameEntry>,
}

impl ChunksReader {
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        let pstr = path.display().to_string();
        let bad = |d: &str| corruption(&pstr, d);
        let file = File::open(path)?;
        let size = file.metadata()?.len();
        if size < HEADER_LEN + FOOTER_LEN {
            return Err(bad("file too short"));
        }
        let mut header = [0u8; HEADER_LEN as usize];
        file.read_exact_at(&mut header, 0)?;
        if &header[..4] != MAGIC {
            return Err(bad("bad magic in header"));
        }
        if header[4] != VERSION {
            return Err(bad(&format!("unsupported version {}", header[4])));
        }
        let mut footer = [0u8; FOOTER_LEN as usize];
        file.read_exact_at(&mut footer, size - FOOTER_LEN)?;
        if &footer[20..24] != MAGIC {
            return Err(bad("bad magic in footer (truncated file?)"));
        }
        let le32 = |b: &[u8]| u32::from_le_bytes(b.try_into().expect("4 bytes"));
        if crc32fast::hash(&footer[..16]) != le32(&footer[16..20]) {
            return Err(bad("footer checksum mismatch"));
        }
        let table_offset = u64::from_le_bytes(footer[..8].try_into().expect("8 bytes"));
        let count = u64::from(le32(&footer[8..12]));
        let table_len = count * TABLE_ENTRY_LEN as u64;
        if table_offset < HEADER_LEN || table_offset.checked_add(table_len) != Some(size - FOOTER_LEN) {
            return Err(bad("frame table does not end at the footer (truncated file?)"));
        }
        let mut raw = vec![0u8; table_len as usize];
        file.read_exact_at(&mut raw, table_offset)?;
        if crc32fast::hash(&raw) != le32(&footer[12..16]) {
            return Err(bad("frame table checksum mismatch"));
        }
        let mut table = Vec::with_capacity(count as usize);
        let mut expect = HEADER_LEN;
        for e in raw.chunks_exact(TABLE_ENTRY_LEN) {
            let entry = FrameEntry {
                offset: u64::from_le_bytes(e[..8].try_into().expect("8 bytes")),
                comp_len: le32(&e[8..12]),
                raw_len: le32(&e[12..16]),
                crc: le32(&e[16..20]),
            };
            if entry.offset != expect || entry.raw_len > MAX_RAW_FRAME {
                return Err(bad("frame table entries do not tile the file"));
            }
            expect += u64::from(entry.comp_len);
            table.push(entry);
        }
        if expect != table_offset {
            return Err(bad("frames do not end at the frame table"));
        }
        Ok(Self {
            path: pstr,
            file,
            table,
        })
    }

    pub fn num_frames(&self) -> usize {
        self.table.len()
    }

    /// Reads, checks and decompresses one frame.
    pub fn read_frame(&self, idx: u32) -> Result<Arc<Vec<u8>>, StorageError> {
        let e = self
            .table
            .get(idx as usize)
            .ok_or_else(|| corruption(&self.path, &format!("chunk refers to missing frame {idx}")))?;
        let mut comp = vec![0u8; e.comp_len as usize];
        self.file.read_exact_at(&mut comp, e.offset).map_err(|err| {
            if err.kind() == std::io::ErrorKind::UnexpectedEof {
                corruption(&self.path, &format!("frame {idx} is truncated"))
            } else {
                StorageError::Io(err)
            }
        })?;
        if crc32fast::hash(&comp) != e.crc {
            return Err(corruption(&self.path, &format!("frame {idx} checksum mismatch")));
        }
        let raw = zstd::bulk::decompress(&comp, e.raw_len as usize)
            .map_err(|err| corruption(&self.path, &format!("frame {idx} does not decompress: {err}")))?;
        if raw.len() != e.raw_len as usize {
            return Err(corruption(
                &self.path,
                &format!("frame {idx} has the wrong decompressed length"),
            ));
        }
        Ok(Arc::new(raw))
    }

    /// The bytes of one chunk within a decompressed frame.
    pub fn chunk_bytes<'a>(&self, frame: &'a [u8], loc: ChunkLoc) -> Result<&'a [u8], StorageError> {
        let start = loc.offset as usize;
        frame
            .get(start..start + loc.len as usize)
            .ok_or_else(|| corruption(&self.path, &format!("chunk {loc:?} lies outside its frame")))
    }

    pub fn path(&self) -> &str {
        &self.path
    }
}

/// A tiny cache of decompressed frames shared by the iterators of one
/// select (series are stored in label order, so neighbours share frames).
#[derive(Default)]
pub struct FrameCache {
    entries: Vec<(u32, Arc<Vec<u8>>)>,
}

const CACHE_FRAMES: usize = 4;

impl FrameCache {
    pub fn get(&mut self, reader: &ChunksReader, idx: u32) -> Result<Arc<Vec<u8>>, StorageError> {
        if let Some(pos) = self.entries.iter().position(|(i, _)| *i == idx) {
            let e = self.entries.remove(pos);
            let data = e.1.clone();
            self.entries.push(e);
            return Ok(data);
        }
        let data = reader.read_frame(idx)?;
        if self.entries.len() >= CACHE_FRAMES {
            self.entries.remove(0);
        }
        self.entries.push((idx, data.clone()));
        Ok(data)
    }
}
