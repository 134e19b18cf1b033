//! Content capture: keeping each new version of a tracked file's content,
//! read in the same pass as its digest.

use std::collections::HashMap;
use std::io::Read;

use md5::Md5;
use sha2::{Digest, Sha256};

use crate::content_store::{ContentStore, is_text};
use crate::runtime::bindings::fs::DigestAlgorithm;

/// The capture settings of one files rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaptureRule {
    /// Larger files are not captured.
    pub max_size: u64,
    /// Capture files that do not read as text too.
    pub binary: bool,
}

/// A collector's capture settings, by rule name, and where contents go.
#[derive(Debug, Clone)]
pub struct ContentCapture {
    pub store: ContentStore,
    pub rules: HashMap<String, CaptureRule>,
}

/// What became of one file's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Captured {
    /// Stored under this hash.
    Stored(String),
    Binary,
    TooLarge,
    /// The content was read but could not be stored.
    Failed(String),
}

impl Captured {
    /// `ContentState` as stored with the file's record.
    pub fn state(&self) -> &'static str {
        match self {
            Captured::Stored(_) => "captured",
            Captured::Binary => "binary",
            Captured::TooLarge => "too large",
            Captured::Failed(_) => "not stored",
        }
    }

    pub fn hash(&self) -> Option<&str> {
        match self {
            Captured::Stored(hash) => Some(hash),
            _ => None,
        }
    }
}

/// Reads a file once: its digest (when asked) and, within the rule's size
/// cap, its content into the store.
pub fn digest_and_capture(
    file: std::fs::File,
    algorithm: Option<DigestAlgorithm>,
    rule: CaptureRule,
    store: &ContentStore,
) -> std::io::Result<(Option<String>, Captured)> {
    let mut content = Vec::new();
    let mut limited = file.take(rule.max_size.saturating_add(1));
    limited.read_to_end(&mut content)?;
    let mut file = limited.into_inner();
    let too_large = content.len() as u64 > rule.max_size;
    let digest = match algorithm {
        None => None,
        Some(DigestAlgorithm::Md5) => Some(super::entry::finish(feed_rest(
            Md5::new_with_prefix(&content),
            &mut file,
            too_large,
        )?)),
        Some(DigestAlgorithm::Sha256) => Some(super::entry::finish(feed_rest(
            Sha256::new_with_prefix(&content),
            &mut file,
            too_large,
        )?)),
    };
    let captured = if too_large {
        Captured::TooLarge
    } else if !rule.binary && !is_text(&content) {
        Captured::Binary
    } else {
        match store.put(&content) {
            Ok(hash) => Captured::Stored(hash),
            Err(error) => Captured::Failed(error.to_string()),
        }
    };
    Ok((digest, captured))
}

/// Feeds what is left of a file past the captured part into the digest.
fn feed_rest<D: Digest>(hasher: D, file: &mut std::fs::File, more: bool) -> std::io::Result<D> {
    if !more {
        return Ok(hasher);
    }
    let mut buffer = vec![0u8; 256 * 1024];
    super::entry::feed(file, &mut buffer, hasher, u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(dir: &std::path::Path, name: &str, content: &[u8]) -> std::fs::File {
        std::fs::write(dir.join(name), content).unwrap();
        std::fs::File::open(dir.join(name)).unwrap()
    }

    #[test]
    fn text_within_the_cap_is_stored_and_hashed_in_one_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = ContentStore::in_state_dir(dir.path());
        let rule = CaptureRule {
            max_size: 100,
            binary: false,
        };
        let (digest, captured) = digest_and_capture(
            file(dir.path(), "a", b"alpha\n"),
            Some(DigestAlgorithm::Md5),
            rule,
            &store,
        )
        .unwrap();
        assert_eq!(digest.as_deref(), Some("9f9f90dbe3e5ee1218c86b8839db1995"));
        assert_eq!(store.get(captured.hash().unwrap()).unwrap(), b"alpha\n");
    }

    #[test]
    fn binary_and_large_files_are_hashed_whole_but_not_stored() {
        let dir = tempfile::tempdir().unwrap();
        let store = ContentStore::in_state_dir(dir.path());
        let rule = CaptureRule {
            max_size: 4,
            binary: false,
        };
        let (digest, captured) = digest_and_capture(
            file(dir.path(), "big", b"alpha\n"),
            Some(DigestAlgorithm::Md5),
            rule,
            &store,
        )
        .unwrap();
        assert_eq!(
            digest.as_deref(),
            Some("9f9f90dbe3e5ee1218c86b8839db1995"),
            "the digest covers the whole file"
        );
        assert_eq!(captured, Captured::TooLarge);
        let (_, captured) = digest_and_capture(file(dir.path(), "bin", b"a\0b"), None, rule, &store).unwrap();
        assert_eq!(captured, Captured::Binary);
        let binary_ok = CaptureRule { binary: true, ..rule };
        let (_, captured) = digest_and_capture(file(dir.path(), "bin2", b"a\0b"), None, binary_ok, &store).unwrap();
        assert_eq!(captured.state(), "captured");
    }
}
