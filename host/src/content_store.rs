//! Captured file contents: each distinct content stored once, compressed,
//! under its SHA-256 in the state directory (`content/ab/abcdef…`).
//!
//! Blobs are written before the inventory that refers to them is committed
//! (a crash leaves at most an unreferenced blob, removed by `collect_garbage`),
//! and each is written to a temporary name and renamed, so a reader never
//! sees half a blob.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use sha2::{Digest, Sha256};

#[derive(Debug, Clone)]
pub struct ContentStore {
    dir: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    #[error("captured content {hash} is not in {dir}")]
    Missing { hash: String, dir: String },
    #[error("captured content {hash} cannot be read: {error}")]
    Unreadable { hash: String, error: std::io::Error },
    #[error("cannot store captured content in {dir}: {error}")]
    Write { dir: String, error: std::io::Error },
}

impl ContentStore {
    /// The store under a state directory.
    pub fn in_state_dir(state_dir: &Path) -> ContentStore {
        ContentStore {
            dir: state_dir.join("content"),
        }
    }

    /// The hex SHA-256 of `content`: its name in the store.
    pub fn hash(content: &[u8]) -> String {
        Sha256::digest(content).iter().map(|b| format!("{b:02x}")).collect()
    }

    fn path(&self, hash: &str) -> PathBuf {
        self.dir.join(&hash[..2.min(hash.len())]).join(hash)
    }

    /// Stores `content` (once: an existing copy is kept) and returns its hash.
    pub fn put(&self, content: &[u8]) -> Result<String, ContentError> {
        let hash = ContentStore::hash(content);
        let path = self.path(&hash);
        if path.exists() {
            return Ok(hash);
        }
        let write_error = |error| ContentError::Write {
            dir: self.dir.display().to_string(),
            error,
        };
        let folder = path.parent().unwrap_or(&self.dir);
        std::fs::create_dir_all(folder).map_err(write_error)?;
        let temporary = folder.join(format!(".{hash}.{}.tmp", std::process::id()));
        let mut encoder = DeflateEncoder::new(
            std::fs::File::create(&temporary).map_err(write_error)?,
            Compression::default(),
        );
        let written = encoder
            .write_all(content)
            .and_then(|()| encoder.finish())
            .and_then(|file| file.sync_data());
        if let Err(error) = written.and_then(|()| std::fs::rename(&temporary, &path)) {
            let _ = std::fs::remove_file(&temporary);
            return Err(write_error(error));
        }
        Ok(hash)
    }

    /// The content stored under `hash`.
    pub fn get(&self, hash: &str) -> Result<Vec<u8>, ContentError> {
        let file = std::fs::File::open(self.path(hash)).map_err(|error| match error.kind() {
            std::io::ErrorKind::NotFound => ContentError::Missing {
                hash: hash.to_string(),
                dir: self.dir.display().to_string(),
            },
            _ => ContentError::Unreadable {
                hash: hash.to_string(),
                error,
            },
        })?;
        let mut content = Vec::new();
        DeflateDecoder::new(file)
            .read_to_end(&mut content)
            .map_err(|error| ContentError::Unreadable {
                hash: hash.to_string(),
                error,
            })?;
        Ok(content)
    }

    /// Deletes every blob (and leftover temporary file) not in `keep` and
    /// older than `min_age` (younger ones may belong to a collection not yet
    /// committed); returns how many were deleted.
    pub fn collect_garbage(&self, keep: &HashSet<String>, min_age: std::time::Duration) -> std::io::Result<usize> {
        let mut deleted = 0;
        let Ok(folders) = std::fs::read_dir(&self.dir) else {
            return Ok(0);
        };
        let young = |entry: &std::fs::DirEntry| {
            entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_none_or(|age| age < min_age)
        };
        for folder in folders.flatten() {
            for blob in std::fs::read_dir(folder.path())?.flatten() {
                let name = blob.file_name().to_string_lossy().into_owned();
                if !keep.contains(&name) && !young(&blob) {
                    std::fs::remove_file(blob.path())?;
                    deleted += 1;
                }
            }
        }
        Ok(deleted)
    }
}

/// Whether content reads as text: valid UTF-8 without NUL bytes.
pub fn is_text(content: &[u8]) -> bool {
    !content.contains(&0) && std::str::from_utf8(content).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contents_are_stored_once_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = ContentStore::in_state_dir(dir.path());
        let text = "line one\nline two\n".repeat(100);
        let hash = store.put(text.as_bytes()).unwrap();
        assert_eq!(hash, ContentStore::hash(text.as_bytes()));
        assert_eq!(store.put(text.as_bytes()).unwrap(), hash);
        assert_eq!(store.get(&hash).unwrap(), text.as_bytes());
        let on_disk = std::fs::metadata(dir.path().join("content").join(&hash[..2]).join(&hash)).unwrap();
        assert!(on_disk.len() < text.len() as u64 / 10, "compressed");
        assert!(matches!(store.get(&"0".repeat(64)), Err(ContentError::Missing { .. })));
    }

    #[test]
    fn garbage_is_what_nothing_refers_to() {
        let dir = tempfile::tempdir().unwrap();
        let store = ContentStore::in_state_dir(dir.path());
        let keep = store.put(b"keep").unwrap();
        let drop = store.put(b"drop").unwrap();
        let keep_set = HashSet::from([keep.clone()]);
        assert_eq!(
            store
                .collect_garbage(&keep_set, std::time::Duration::from_secs(3600))
                .unwrap(),
            0,
            "too young"
        );
        assert_eq!(store.collect_garbage(&keep_set, std::time::Duration::ZERO).unwrap(), 1);
        assert!(store.get(&keep).is_ok());
        assert!(store.get(&drop).is_err());
    }

    #[test]
    fn text_is_utf8_without_nul() {
        assert!(is_text(b"PermitRootLogin no\n"));
        assert!(is_text("grüße\n".as_bytes()));
        assert!(!is_text(b"\x7fELF\x02\x01\x01\0"));
        assert!(!is_text(&[0xff, 0xfe, b'a', 0]));
    }
}
