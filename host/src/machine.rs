//! The machine being inventoried: this one (live), or an offline image or
//! mounted disk given as `--root`.

use std::path::{Path, PathBuf};

use crate::kind::Os;
use crate::runtime::MachineFacts;
use crate::runtime::bindings::types::OsFamily;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    pub os: Os,
    /// The `Computer` its records carry.
    pub hostname: String,
    /// The offline root, or `None` for the live machine.
    pub root: Option<PathBuf>,
    pub architecture: String,
}

#[derive(Debug, thiserror::Error)]
pub enum MachineError {
    #[error("--root {0}: no such directory")]
    RootMissing(PathBuf),
    #[error("--root {path}: {error}")]
    RootUnreadable { path: PathBuf, error: std::io::Error },
}

impl Machine {
    /// This machine, or the image at `root`.
    pub fn detect(root: Option<&Path>) -> Result<Machine, MachineError> {
        let Some(root) = root else {
            return Ok(Machine {
                os: Os::current(),
                hostname: gethostname::gethostname().to_string_lossy().trim().to_string(),
                root: None,
                architecture: std::env::consts::ARCH.to_string(),
            });
        };
        match std::fs::metadata(root) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return Err(MachineError::RootMissing(root.to_path_buf())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(MachineError::RootMissing(root.to_path_buf()));
            }
            Err(error) => {
                return Err(MachineError::RootUnreadable {
                    path: root.to_path_buf(),
                    error,
                });
            }
        }
        let root = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
        Ok(Machine {
            os: image_os(&root),
            hostname: image_hostname(&root),
            root: Some(root),
            architecture: String::new(),
        })
    }

    pub fn is_live(&self) -> bool {
        self.root.is_none()
    }

    /// What plugins are told about the machine.
    pub fn facts(&self) -> MachineFacts {
        MachineFacts {
            os: match self.os {
                Os::Linux => OsFamily::Linux,
                Os::Windows => OsFamily::Windows,
                Os::Macos => OsFamily::Macos,
                Os::Other => OsFamily::Other,
            },
            hostname: self.hostname.clone(),
            live: self.is_live(),
            architecture: self.architecture.clone(),
        }
    }
}

/// Windows when the image has a registry (`Windows/System32/config`, in any
/// letter case, as mounted NTFS volumes may show it); Linux otherwise.
fn image_os(root: &Path) -> Os {
    let mut dir = root.to_path_buf();
    for name in ["windows", "system32", "config"] {
        match find_case_insensitive(&dir, name) {
            Some(found) => dir = found,
            None => return Os::Linux,
        }
    }
    Os::Windows
}

fn find_case_insensitive(dir: &Path, name: &str) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .find(|e| e.file_name().to_string_lossy().eq_ignore_ascii_case(name) && e.path().is_dir())
        .map(|e| e.path())
}

/// The image's `/etc/hostname` when it holds a plausible name; otherwise the
/// root directory's name. (A Windows image's own name is in its registry,
/// which only a plugin reads: see `collectors::image_name`.)
fn image_hostname(root: &Path) -> String {
    let from_file = std::fs::read(root.join("etc/hostname")).ok().and_then(|bytes| {
        let text = String::from_utf8(bytes.into_iter().take(256).collect()).ok()?;
        let name = text.lines().next()?.trim().to_string();
        plausible_name(&name).then_some(name)
    });
    from_file.unwrap_or_else(|| {
        root.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "offline-image".into())
    })
}

/// A host name as a machine's records may carry it: letters, digits, `-`
/// and `.`, at most 255 of them.
pub fn plausible_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 255 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_with_a_registry_is_windows() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("WINDOWS/System32/CONFIG")).unwrap();
        let m = Machine::detect(Some(root.path())).unwrap();
        assert_eq!(m.os, Os::Windows);
        assert!(!m.is_live());
        assert!(!m.facts().live);
    }

    #[test]
    fn an_image_hostname_comes_from_etc_hostname() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("etc")).unwrap();
        std::fs::write(root.path().join("etc/hostname"), "web-01\n").unwrap();
        let m = Machine::detect(Some(root.path())).unwrap();
        assert_eq!((m.os, m.hostname.as_str()), (Os::Linux, "web-01"));
        std::fs::write(root.path().join("etc/hostname"), "bad name; rm -rf\n").unwrap();
        let m = Machine::detect(Some(root.path())).unwrap();
        assert_eq!(m.hostname, root.path().file_name().unwrap().to_string_lossy());
    }

    #[test]
    fn a_missing_root_is_an_error() {
        let err = Machine::detect(Some(Path::new("/no/such/root"))).unwrap_err();
        assert_eq!(err.to_string(), "--root /no/such/root: no such directory");
    }
}
