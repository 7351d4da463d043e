//! Damaged block files are reported as `StorageError::Corruption`, never a
//! panic: bit flips in every file, truncation, and missing files.

use sightline_model::{Labels, Sample, StorageError, StorageErrorKind};
use sightline_tsdb::block::{Block, BlockWriter};
use std::path::{Path, PathBuf};

fn make(dir: &Path) -> PathBuf {
    let mut w = BlockWriter::new(dir, 0, 1_000_000).unwrap();
    for i in 0..200 {
        let l = Labels::from_pairs([
            ("__name__".to_string(), "m".to_string()),
            ("i".to_string(), i.to_string()),
        ]);
        let s: Vec<Sample> = (0..500)
            .map(|k| Sample {
                t: k * 1000 + i,
                v: (k * i) as f64 * 0.01,
            })
            .collect();
        w.add_series(&l, &mut s.into_iter()).unwrap();
    }
    dir.join(w.finish().unwrap().id)
}

/// Opens, selects everything and drains; returns the first error.
fn read_everything(dir: &Path) -> Result<u64, StorageError> {
    let b = Block::open(dir)?;
    let mut n = 0;
    for (_, mut it) in b.select(&[], i64::MIN, i64::MAX, false)? {
        while it.next().is_some() {
            n += 1;
        }
        if let Some(e) = it.error() {
            return Err(StorageError::Other(format!("iterator: {e}")));
        }
    }
    b.verify()?;
    Ok(n)
}

fn is_corruption(e: &StorageError) -> bool {
    match e {
        StorageError::Corruption { .. } => true,
        StorageError::Other(s) => s.starts_with("iterator: data corruption"),
        _ => false,
    }
}

#[test]
fn intact_block_reads() {
    let dir = tempfile::tempdir().unwrap();
    let b = make(dir.path());
    assert_eq!(read_everything(&b).unwrap(), 200 * 500);
}

#[test]
fn flipped_bytes_are_detected_in_every_file() {
    let dir = tempfile::tempdir().unwrap();
    let b = make(dir.path());
    for file in ["index", "chunks"] {
        let path = b.join(file);
        let orig = std::fs::read(&path).unwrap();
        // Every position in small files would be slow; stride through it,
        // always including the first and last bytes.
        let stride = (orig.len() / 300).max(1);
        let mut positions: Vec<usize> = (0..orig.len()).step_by(stride).collect();
        positions.push(orig.len() - 1);
        for pos in positions {
            let mut bad = orig.clone();
            bad[pos] ^= 0x10;
            std::fs::write(&path, &bad).unwrap();
            let e = read_everything(&b).expect_err(&format!("{file} byte {pos} flipped went unnoticed"));
            assert!(is_corruption(&e), "{file} byte {pos}: {e:?}");
        }
        std::fs::write(&path, &orig).unwrap();
    }
    assert!(read_everything(&b).is_ok());
}

#[test]
fn flipped_frame_fails_select_iterator_not_open() {
    let dir = tempfile::tempdir().unwrap();
    let b = make(dir.path());
    let path = b.join("chunks");
    let mut data = std::fs::read(&path).unwrap();
    data[20] ^= 0xff; // inside the first frame
    std::fs::write(&path, &data).unwrap();
    let block = Block::open(&b).unwrap();
    let mut sel = block.select(&[], i64::MIN, i64::MAX, false).unwrap();
    let it = sel[0].1.as_mut();
    assert!(it.next().is_none());
    let e = it.error().expect("error set");
    assert_eq!(e.kind(), StorageErrorKind::Corruption);
    assert!(e.to_string().contains("checksum"), "{e}");
    assert!(matches!(block.verify(), Err(StorageError::Corruption { .. })));
}

#[test]
fn truncation_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let b = make(dir.path());
    for file in ["index", "chunks", "meta.json"] {
        let path = b.join(file);
        let orig = std::fs::read(&path).unwrap();
        for keep in [0, 1, 7, 8, orig.len() / 2, orig.len() - 1] {
            std::fs::write(&path, &orig[..keep]).unwrap();
            let e = read_everything(&b).expect_err(&format!("{file} truncated to {keep}"));
            assert!(is_corruption(&e), "{file} truncated to {keep}: {e:?}");
        }
        // Extra bytes at the end are also damage.
        let mut longer = orig.clone();
        longer.extend_from_slice(b"xx");
        if file != "meta.json" {
            std::fs::write(&path, &longer).unwrap();
            assert!(
                is_corruption(&read_everything(&b).unwrap_err()),
                "{file} extended"
            );
        }
        std::fs::write(&path, &orig).unwrap();
    }
    std::fs::remove_file(b.join("index")).unwrap();
    assert!(matches!(Block::open(&b), Err(StorageError::Io(_))));
}

#[test]
fn meta_mismatches_are_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let b = make(dir.path());
    let path = b.join("meta.json");
    let orig = std::fs::read_to_string(&path).unwrap();
    for (from, to) in [
        ("\"num_series\": 200", "\"num_series\": 201"),
        ("\"version\": 1", "\"version\": 9"),
    ] {
        assert!(orig.contains(from), "{orig}");
        std::fs::write(&path, orig.replace(from, to)).unwrap();
        assert!(
            matches!(Block::open(&b), Err(StorageError::Corruption { .. })),
            "{to}"
        );
    }
    std::fs::write(
        &path,
        orig.replace("\"num_samples\": 100000", "\"num_samples\": 5"),
    )
    .unwrap();
    assert!(matches!(
        Block::open(&b).unwrap().verify(),
        Err(StorageError::Corruption { .. })
    ));
}
