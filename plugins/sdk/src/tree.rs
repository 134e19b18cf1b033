//! Read-only access to the filesystem a collector reads, behind a small trait
//! so its logic can run on a fixture folder in native unit tests; plus the
//! path arithmetic for following symlinks by hand. Paths are absolute, as the
//! machine (or the offline image) sees them: inside the sandbox the host maps
//! `/` to it, and absolute symlink targets must be resolved by the plugin
//! (WASI does not follow them), which `resolve` does. Inside the sandbox,
//! `node` asks the host's `fs` import, available to files and services
//! collectors.

use std::path::{Path, PathBuf};

/// What a path is, without following a final symlink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Missing,
    File { empty: bool },
    Dir,
    Symlink(String),
}

pub trait Tree {
    /// Entry names of a directory, sorted; empty when it cannot be listed.
    fn list(&self, dir: &str) -> Vec<String>;
    fn node(&self, path: &str) -> Node;
    fn read(&self, path: &str) -> Option<String>;
}

/// The real filesystem, under a prefix (empty inside the sandbox, where the
/// host already maps `/` to the machine or image; a fixture folder in tests).
pub struct Disk {
    pub prefix: PathBuf,
}

impl Disk {
    /// The filesystem as the plugin sees it.
    pub fn sandbox() -> Disk {
        Disk { prefix: PathBuf::new() }
    }

    /// A folder standing in for `/` (tests, tools).
    pub fn under(prefix: impl Into<PathBuf>) -> Disk {
        Disk { prefix: prefix.into() }
    }

    fn host(&self, path: &str) -> PathBuf {
        if self.prefix.as_os_str().is_empty() {
            PathBuf::from(path)
        } else {
            self.prefix.join(path.trim_start_matches('/'))
        }
    }
}

impl Tree for Disk {
    fn list(&self, dir: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.host(dir))
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    fn node(&self, path: &str) -> Node {
        // Inside the sandbox, ask the host: WASI will not read a symlink
        // whose target is absolute, and most of the links collectors meet are.
        #[cfg(target_arch = "wasm32")]
        if self.prefix.as_os_str().is_empty() {
            use crate::fs::EntryType;
            return match crate::fs::stat(path, false, None) {
                Ok(entry) => match entry.entry_type {
                    EntryType::Symlink => Node::Symlink(entry.link_target.unwrap_or_default()),
                    EntryType::Directory => Node::Dir,
                    EntryType::File | EntryType::Other => Node::File { empty: entry.size == 0 },
                },
                Err(_) => Node::Missing,
            };
        }
        let host = self.host(path);
        match std::fs::symlink_metadata(&host) {
            Err(_) => Node::Missing,
            Ok(m) if m.file_type().is_symlink() => match std::fs::read_link(&host) {
                Ok(target) => Node::Symlink(target.to_string_lossy().into_owned()),
                Err(_) => Node::Missing,
            },
            Ok(m) if m.is_dir() => Node::Dir,
            Ok(m) => Node::File { empty: m.len() == 0 },
        }
    }

    fn read(&self, path: &str) -> Option<String> {
        std::fs::read(self.host(path))
            .ok()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    }
}

/// `dir/name`.
pub fn join(dir: &str, name: &str) -> String {
    format!("{}/{name}", dir.trim_end_matches('/'))
}

/// The last path component.
pub fn basename(path: &str) -> &str {
    path.trim_end_matches('/').rsplit('/').next().unwrap_or(path)
}

/// The folder of a path.
pub fn dirname(path: &str) -> &str {
    match path.trim_end_matches('/').rfind('/') {
        Some(0) => "/",
        Some(i) => &path[..i],
        None => ".",
    }
}

/// Where a symlink at `link` with `target` points, as an absolute, normal path.
pub fn resolve(link: &str, target: &str) -> String {
    let base = if target.starts_with('/') {
        String::new()
    } else {
        dirname(link).to_string()
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in base.split('/').chain(target.split('/')) {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// `true` when `path` is `dir` or below it.
pub fn is_under(path: &str, dir: &str) -> bool {
    Path::new(path).starts_with(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(
            resolve("/etc/systemd/system/a.service", "/lib/systemd/system/b.service"),
            "/lib/systemd/system/b.service"
        );
        assert_eq!(
            resolve("/etc/systemd/system/x.wants/a.service", "../a.service"),
            "/etc/systemd/system/a.service"
        );
        assert_eq!(
            resolve("/lib/systemd/system/autovt@.service", "getty@.service"),
            "/lib/systemd/system/getty@.service"
        );
        assert_eq!(resolve("/a", "../../../b"), "/b");
        assert_eq!(basename("/lib/systemd/system/a.service"), "a.service");
        assert_eq!(dirname("/lib/x"), "/lib");
        assert!(is_under("/lib/systemd/system/a.service", "/lib/systemd/system"));
        assert!(!is_under("/lib/systemd/system2/a", "/lib/systemd/system"));
    }
}
