//! Read grants: which host directories a plugin run may read, and under which
//! guest path it sees them.
//!
//! On the live machine a grant `/var/lib/dpkg` is that directory. With `--root R`
//! it is `/var/lib/dpkg` *as the image sees it*: symlinks met on the way are
//! resolved inside `R`, never on the host, so an offline image whose
//! `/var/lib` is an absolute symlink cannot make the host hand out its own
//! directories.

use std::collections::VecDeque;
use std::path::{Component, Path, PathBuf};

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
    /// The path the plugin uses, e.g. `/var/lib/dpkg`.
    pub guest: String,
    pub is_dir: bool,
    pub present: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GrantError {
    #[error("grant {0:?} is not an absolute path")]
    NotAbsolute(String),
    #[error("grant {0:?} must not contain `.` or `..`")]
    NotNormal(String),
    #[error("grant {0} goes through more than {MAX_SYMLINKS} symlinks")]
    SymlinkLoop(String),
    #[error("grant {grant} cannot be read: {error}")]
    Io { grant: String, error: String },
}

/// Checks the form of a grant as written in a manifest: absolute and normal.
pub fn check_form(grant: &str) -> Result<(), GrantError> {
    let path = Path::new(grant);
    if !path.has_root() {
        return Err(GrantError::NotAbsolute(grant.into()));
    }
    // Split by hand: `Path::components` silently drops inner `.` parts.
    if grant.split(['/', '\\']).any(|part| part == "." || part == "..") {
        return Err(GrantError::NotNormal(grant.into()));
    }
    Ok(())
}

/// Resolves a grant to the host directory to preopen. `root` is the offline
/// image (`--root`), or `None` on the live machine.
pub fn resolve(grant: &str, root: Option<&Path>) -> Result<Preopen, GrantError> {
    check_form(grant)?;
    let host = match root {
        None => PathBuf::from(grant),
        Some(root) => resolve_in_root(root, grant)?,
    };
    match std::fs::metadata(&host) {
        Ok(meta) => Ok(Preopen {
            host,
            guest: guest_path(grant),
            is_dir: meta.is_dir(),
            present: true,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Preopen {
            host,
            guest: guest_path(grant),
            is_dir: false,
            present: false,
        }),
        Err(e) => Err(GrantError::Io {
            grant: grant.into(),
            error: e.to_string(),
        }),
    }
}

/// The guest path, without a trailing separator (`/` stays `/`).
fn guest_path(grant: &str) -> String {
    let trimmed = grant.trim_end_matches(['/', '\\']);
    if trimmed.is_empty() {
        grant[..1].to_string()
    } else {
        trimmed.to_string()
    }
}

/// Follows `path` inside `root` the way a chroot would: absolute symlink
/// targets restart at `root`, and `..` never climbs above it.
fn resolve_in_root(root: &Path, path: &str) -> Result<PathBuf, GrantError> {
    let mut pending: VecDeque<String> = names(Path::new(path)).collect();
    let mut resolved: Vec<String> = Vec::new();
    let mut links = 0;
    while let Some(name) = pending.pop_front() {
        if name == ".." {
            resolved.pop();
            continue;
        }
        let candidate = join(root, &resolved).join(&name);
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
        for (i, part) in names(&target).enumerate() {
            pending.insert(i, part);
        }
    }
    Ok(join(root, &resolved))
}

/// The normal names of a path, with `..` kept and `.` and roots dropped.
fn names(path: &Path) -> impl Iterator<Item = String> + '_ {
    path.components().filter_map(|c| match c {
        Component::Normal(n) => Some(n.to_string_lossy().into_owned()),
        Component::ParentDir => Some("..".into()),
        _ => None,
    })
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
        let p = resolve(grant, None).unwrap();
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
        assert!(!resolve("/var/lib", Some(root.path())).unwrap().present);
        assert!(!resolve("/etc/hostname", Some(root.path())).unwrap().is_dir);
        let p = resolve("/etc/", Some(root.path())).unwrap();
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
        let p = resolve("/var/lib/dpkg", Some(r)).unwrap();
        assert_eq!(p.host, r.join("usr/lib/dpkg-db"));
        assert_eq!(p.guest, "/var/lib/dpkg");
    }

    #[test]
    fn dotdot_in_links_cannot_climb_out_of_the_root() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        std::fs::create_dir_all(r.join("etc")).unwrap();
        symlink("../../../../../../etc", r.join("escape")).unwrap();
        let p = resolve("/escape", Some(r)).unwrap();
        assert_eq!(p.host, r.join("etc"));
    }

    #[test]
    fn symlink_loops_end() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        symlink("/b", r.join("a")).unwrap();
        symlink("/a", r.join("b")).unwrap();
        assert_eq!(resolve("/a", Some(r)), Err(GrantError::SymlinkLoop("/a".into())));
    }
}
