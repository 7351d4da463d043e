//! A minimal object-storage abstraction for immutable segments, with a
//! local-disk implementation. Keys are `/`-separated relative paths made of
//! characters from `[A-Za-z0-9._%-]` per component (callers escape tenants).
//! `put` is atomic and durable when it returns (write to a temporary file,
//! fsync, rename, fsync the directory), so a crash never leaves a partial
//! object under its final key.

use crate::{LogStoreError, Result};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

pub trait ObjectStore: Send + Sync {
    /// Stores `data` under `key`, replacing any previous object.
    fn put(&self, key: &str, data: &[u8]) -> Result<()>;
    /// Reads `len` bytes at `offset`; fails when the object is shorter.
    fn get_range(&self, key: &str, offset: u64, len: usize) -> Result<Vec<u8>>;
    /// The size of the object.
    fn size(&self, key: &str) -> Result<u64>;
    /// Every key starting with `prefix`, sorted.
    fn list(&self, prefix: &str) -> Result<Vec<String>>;
    /// Deletes `key`; deleting a missing key is not an error.
    fn delete(&self, key: &str) -> Result<()>;
}

/// Objects as files under a root directory.
pub struct LocalDisk {
    root: PathBuf,
}

impl LocalDisk {
    pub fn new(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        fs::create_dir_all(&root).map_err(|e| LogStoreError::io(root.display(), e))?;
        Ok(Self { root })
    }

    fn path(&self, key: &str) -> Result<PathBuf> {
        if key.is_empty()
            || key.split('/').any(|c| {
                c.is_empty()
                    || c == "."
                    || c == ".."
                    || !c
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"._%-".contains(&b))
            })
        {
            return Err(LogStoreError::BadInput(format!("invalid object key {key:?}")));
        }
        Ok(self.root.join(key))
    }
}

fn walk(dir: &Path, rel: &str, out: &mut Vec<String>) -> std::io::Result<()> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for e in rd {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".tmp") {
            continue;
        }
        let key = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        if e.file_type()?.is_dir() {
            walk(&e.path(), &key, out)?;
        } else {
            out.push(key);
        }
    }
    Ok(())
}

impl ObjectStore for LocalDisk {
    fn put(&self, key: &str, data: &[u8]) -> Result<()> {
        let path = self.path(key)?;
        let dir = path.parent().unwrap_or(&self.root).to_path_buf();
        fs::create_dir_all(&dir).map_err(|e| LogStoreError::io(dir.display(), e))?;
        let tmp = path.with_extension("tmp");
        let r = (|| {
            let mut f = File::create(&tmp)?;
            f.write_all(data)?;
            f.sync_all()?;
            fs::rename(&tmp, &path)?;
            File::open(&dir)?.sync_all()
        })();
        r.map_err(|e| {
            let _ = fs::remove_file(&tmp);
            LogStoreError::io(path.display(), e)
        })
    }

    fn get_range(&self, key: &str, offset: u64, len: usize) -> Result<Vec<u8>> {
        use std::os::unix::fs::FileExt;
        let path = self.path(key)?;
        let f = File::open(&path).map_err(|e| LogStoreError::io(path.display(), e))?;
        let mut buf = vec![0u8; len];
        f.read_exact_at(&mut buf, offset)
            .map_err(|e| LogStoreError::io(path.display(), e))?;
        Ok(buf)
    }

    fn size(&self, key: &str) -> Result<u64> {
        let path = self.path(key)?;
        fs::metadata(&path)
            .map(|m| m.len())
            .map_err(|e| LogStoreError::io(path.display(), e))
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let mut out = Vec::new();
        walk(&self.root, "", &mut out).map_err(|e| LogStoreError::io(self.root.display(), e))?;
        out.retain(|k| k.starts_with(prefix));
        out.sort();
        Ok(out)
    }

    fn delete(&self, key: &str) -> Result<()> {
        let path = self.path(key)?;
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(LogStoreError::io(path.display(), e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_disk_put_get_list_delete() {
        let d = tempfile::tempdir().unwrap();
        let s = LocalDisk::new(d.path()).unwrap();
        s.put("a/b/c.seg", b"hello world").unwrap();
        s.put("a/d.seg", b"x").unwrap();
        assert_eq!(s.get_range("a/b/c.seg", 6, 5).unwrap(), b"world");
        assert!(s.get_range("a/b/c.seg", 6, 6).is_err());
        assert_eq!(s.size("a/b/c.seg").unwrap(), 11);
        assert_eq!(s.list("a/").unwrap(), ["a/b/c.seg", "a/d.seg"]);
        assert_eq!(s.list("a/b").unwrap(), ["a/b/c.seg"]);
        s.delete("a/d.seg").unwrap();
        s.delete("a/d.seg").unwrap();
        assert_eq!(s.list("").unwrap(), ["a/b/c.seg"]);
        assert!(s.put("../x", b"").is_err());
        assert!(s.put("a//x", b"").is_err());
    }
}
