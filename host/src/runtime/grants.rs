//! Read grants: which host directories a plugin run may read, and under which
//! guest path it sees them.
//!
//! On the live machine a grant `/var/lib/dpkg` is that directory. With `--root R`
//! it is `/var/lib/dpkg` *as the image sees it*: symlinks met on the way are
//! resolved inside `R`, never on the host, so an offline image whose
//! `/var/lib` is an absolute symlink cannot make the host hand out its own
//! directories.
//!
//! Windows grants may be drive paths (`C:\Windows\System32\drivers\etc`):
//! live on Windows they are those paths; in an image given as `--root` the
//! image is the system drive `C:`. For a Windows machine names match without
//! regard to case, as NTFS does, even when the image sits on a Linux disk.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

/// How many symlinks one path may go through before we call it a loop
/// (the same limit as Linux's `MAXSYMLINKS`).
const MAX_SYMLINKS: usize = 40;

/// A grant resolved to a host path. Directories are also preopened for WASI;
/// single files are reachable through the host's `fs` import only. A grant
/// that does not exist on this machine is kept (not present), so that paths
/// below it are "not found" rather than "denied".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preopen {
    /// The directory or file on the host.
    pub host: PathBuf,
    /// The path the plugin uses, e.g. `/var/lib/dpkg` or `C:\Windows`.
    pub guest: String,
    pub is_dir: bool,
    pub present: bool,
    /// Windows path semantics below it: names in any letter case, `\` or `/`.
    pub fold_case: bool,
}

impl Preopen {
    /// Whether WASI can offer it: a present directory with a POSIX-form
    /// guest path (drive paths are reachable through the `fs` import only).
    pub fn is_wasi_dir(&self) -> bool {
        self.present && self.is_dir && !is_drive_path(&self.guest)
    }
}

/// The image given as `--root` is this drive of the Windows machine.
const IMAGE_DRIVE: char = 'C';

/// `C:\...`, `c:/...` or `C:`: a Windows drive path.
pub fn is_drive_path(path: &str) -> bool {
    let bytes = path.as_bytes();
    bytes.len() >= 2
        && bytes[0].is_ascii_alphabetic()
        && bytes[1] == b':'
        && (bytes.len() == 2 || bytes[2] == b'\\' || bytes[2] == b'/')
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GrantError {
    #[error("grant {0:?} is not an absolute path")]
    NotAbsolute(String),
    #[error("grant {0:?} must not contain `.` or `..`")]
    NotNormal(String),
    #[error("grant {0:?} holds U+FFFD, which stands for bytes that are not text in file names")]
    ReplacementCharacter(String),
    #[error("grant {0} goes through more than {MAX_SYMLINKS} symlinks")]
    SymlinkLoop(String),
    #[error("grant {grant} cannot be read: {error}")]
    Io { grant: String, error: String },
}

/// Checks the form of a grant as written in a manifest: absolute and normal.
pub fn check_form(grant: &str) -> Result<(), GrantError> {
    if !grant.starts_with(['/', '\\']) && !is_drive_path(grant) {
        return Err(GrantError::NotAbsolute(grant.into()));
    }
    // Split by hand: `Path::components` silently drops inner `.` parts.
    if grant.split(['/', '\\']).any(|part| part == "." || part == "..") {
        return Err(GrantError::NotNormal(grant.into()));
    }
    if grant.contains('\u{FFFD}') {
        return Err(GrantError::ReplacementCharacter(grant.into()));
    }
    Ok(())
}

/// Resolves a grant to the host directory to preopen. `root` is the offline
/// image (`--root`), or `None` on the live machine; `windows` says the
/// machine is a Windows one (names then match in any letter case).
pub fn resolve(grant: &str, root: Option<&Path>, windows: bool) -> Result<Preopen, GrantError> {
    check_form(grant)?;
    let absent = |host: PathBuf| Preopen {
        host,
        guest: guest_path(grant),
        is_dir: false,
        present: false,
        fold_case: windows,
    };
    let host = match (root, is_drive_path(grant)) {
        (None, true) if !cfg!(windows) => return Ok(absent(PathBuf::from(grant))),
        (None, _) => PathBuf::from(grant),
        (Some(root), true) => {
            let drive = grant.chars().next().unwrap_or_default().to_ascii_uppercase();
            if drive != IMAGE_DRIVE {
                return Ok(absent(root.join(format!("{drive}-drive-is-not-in-the-image"))));
            }
            resolve_in_root(root, &grant[2..], windows)?
        }
        (Some(root), false) => resolve_in_root(root, grant, windows)?,
    };
    match std::fs::metadata(&host) {
        Ok(meta) => Ok(Preopen {
            host,
            guest: guest_path(grant),
            is_dir: meta.is_dir(),
            present: true,
            fold_case: windows,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(absent(host)),
        Err(e) => Err(GrantError::Io {
            grant: grant.into(),
            error: e.to_string(),
        }),
    }
}

/// The guest path, without a trailing separator (`/` and `C:\` stay).
fn guest_path(grant: &str) -> String {
    let trimmed = grant.trim_end_matches(['/', '\\']);
    if trimmed.is_empty() {
        grant[..1].to_string()
    } else if trimmed.len() == 2 && is_drive_path(trimmed) {
        format!("{trimmed}\\")
    } else {
        trimmed.to_string()
    }
}

/// Follows `path` inside `root` the way a chroot would: absolute symlink
/// targets restart at `root`, and `..` never climbs above it. With
/// `fold_case`, a name missing as written matches one in another case.
fn resolve_in_root(root: &Path, path: &str, fold_case: bool) -> Result<PathBuf, GrantError> {
    let mut pending: VecDeque<String> = names(path, fold_case).collect();
    let mut resolved: Vec<String> = Vec::new();
    let mut links = 0;
    while let Some(name) = pending.pop_front() {
        if name == ".." {
            resolved.pop();
            continue;
        }
        let parent = join(root, &resolved);
        let name = match fold_case && std::fs::symlink_metadata(parent.join(&name)).is_err() {
            // Grants are manifest text: what they find by folding case is text too.
            true => find_folding_case(&parent, &name)
                .and_then(|found| found.into_string().ok())
                .unwrap_or(name),
            false => name,
        };
        let candidate = parent.join(&name);
        let is_link = std::fs::symlink_metadata(&candidate).is_ok_and(|m| m.file_type().is_symlink());
        if !is_link {
            resolved.push(name);
            continue;
        }
        links += 1;
        if links > MAX_SYMLINKS {
            return Err(GrantError::SymlinkLoop(path.into()));
        }
        let target = std::fs::read_link(&candidate).map_err(|e| GrantError::Io {
            grant: path.into(),
            error: e.to_string(),
        })?;
        if target.has_root() {
            resolved.clear();
        }
        for (i, part) in names(&target.to_string_lossy(), fold_case).enumerate() {
            pending.insert(i, part);
        }
    }
    Ok(join(root, &resolved))
}

/// The names of a path, with `..` kept and `.` and roots dropped; Windows
/// paths also split at `\\`.
fn names(path: &str, windows: bool) -> impl Iterator<Item = String> + '_ {
    path.split(move |c| c == '/' || (windows && c == '\\'))
        .filter(|part| !part.is_empty() && *part != ".")
        .map(str::to_string)
}

/// The entry of `dir` whose name equals `name` (as plugins see names, see
/// `exact_path`) in another letter case.
pub fn find_folding_case(dir: &Path, name: &str) -> Option<std::ffi::OsString> {
    let wanted = name.to_lowercase();
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|entry| entry.file_name())
        .find(|found| crate::exact_path::to_guest(found).to_lowercase() == wanted)
}

fn join(root: &Path, names: &[String]) -> PathBuf {
    names.iter().fold(root.to_path_buf(), |p, n| p.join(n))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn live_grants_are_the_host_paths() {
        let dir = tempfile::tempdir().unwrap();
        let grant = dir.path().to_str().unwrap();
        let p = resolve(grant, None, false).unwrap();
        assert_eq!(p.host, dir.path());
        assert_eq!(p.guest, grant);
    }

    #[test]
    fn form_is_checked() {
        assert_eq!(check_form("var/lib"), Err(GrantError::NotAbsolute("var/lib".into())));
        assert_eq!(
            check_form("/var/../etc"),
            Err(GrantError::NotNormal("/var/../etc".into()))
        );
        assert_eq!(
            check_form("/var/./lib"),
            Err(GrantError::NotNormal("/var/./lib".into()))
        );
        assert!(check_form("/var/lib/dpkg/").is_ok());
    }

    #[test]
    fn missing_grants_are_reported_and_files_are_grants_too() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("etc")).unwrap();
        std::fs::write(root.path().join("etc/hostname"), "x").unwrap();
        assert!(!resolve("/var/lib", Some(root.path()), false).unwrap().present);
        assert!(!resolve("/etc/hostname", Some(root.path()), false).unwrap().is_dir);
        let p = resolve("/etc/", Some(root.path()), false).unwrap();
        assert_eq!((p.host, p.guest), (root.path().join("etc"), "/etc".to_string()));
    }

    #[test]
    fn absolute_symlinks_stay_inside_the_root() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        std::fs::create_dir_all(r.join("usr/lib/dpkg-db")).unwrap();
        std::fs::create_dir_all(r.join("var")).unwrap();
        // /var/lib -> /usr/lib (absolute, as images have them)
        symlink("/usr/lib", r.join("var/lib")).unwrap();
        // /usr/lib/dpkg -> dpkg-db (relative)
        symlink("dpkg-db", r.join("usr/lib/dpkg")).unwrap();
        let p = resolve("/var/lib/dpkg", Some(r), false).unwrap();
        assert_eq!(p.host, r.join("usr/lib/dpkg-db"));
        assert_eq!(p.guest, "/var/lib/dpkg");
    }

    #[test]
    fn dotdot_in_links_cannot_climb_out_of_the_root() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        std::fs::create_dir_all(r.join("etc")).unwrap();
        symlink("../../../../../../etc", r.join("escape")).unwrap();
        let p = resolve("/escape", Some(r), false).unwrap();
        assert_eq!(p.host, r.join("etc"));
    }

    #[test]
    fn drive_paths_map_to_the_image_in_any_case() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        std::fs::create_dir_all(r.join("WINDOWS/system32/Drivers/etc")).unwrap();
        std::fs::write(r.join("WINDOWS/system32/Drivers/etc/hosts"), "x").unwrap();
        let p = resolve("C:\\Windows\\System32\\drivers\\etc", Some(r), true).unwrap();
        assert_eq!(p.host, r.join("WINDOWS/system32/Drivers/etc"));
        assert_eq!(p.guest, "C:\\Windows\\System32\\drivers\\etc");
        assert!(p.present && p.is_dir && p.fold_case);
        assert!(!p.is_wasi_dir(), "drive paths go through the fs import only");
        let drive = resolve("c:\\", Some(r), true).unwrap();
        assert_eq!((drive.host.as_path(), drive.guest.as_str()), (r, "c:\\"));
        assert!(
            !resolve("D:\\Data", Some(r), true).unwrap().present,
            "the image is drive C:"
        );
        let posix = resolve("/windows/SYSTEM32", Some(r), true).unwrap();
        assert_eq!(posix.host, r.join("WINDOWS/system32"));
        assert!(posix.is_wasi_dir());
        assert!(
            !resolve("/windows", Some(r), false).unwrap().present,
            "Linux names keep their case"
        );
        assert!(
            !resolve("C:\\Windows", None, true).unwrap().present,
            "no drives on a live Linux"
        );
        assert_eq!(
            check_form("C:\\Windows\\..\\x"),
            Err(GrantError::NotNormal("C:\\Windows\\..\\x".into()))
        );
        assert_eq!(check_form("Windows"), Err(GrantError::NotAbsolute("Windows".into())));
    }

    #[test]
    fn symlink_loops_end() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        symlink("/b", r.join("a")).unwrap();
        symlink("/a", r.join("b")).unwrap();
        assert_eq!(resolve("/a", Some(r), false), Err(GrantError::SymlinkLoop("/a".into())));
    }
}
