//! The `fs` host import (contract 0.1.1): walking, stat and hashing done
//! natively for files collectors, within the plugin's grants.
//!
//! A path is reachable only through a grant: its guest form must be the
//! grant's path or lie below it. Walks never leave the grant: symlinked
//! directories are descended into only when following links and only when
//! their real location is inside the grant; files are opened without following
//! links unless the plugin asked to follow them.

use std::collections::{HashSet, VecDeque};
use std::fs::Metadata;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use md5::Md5;
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use super::bindings::fs::{DigestAlgorithm, Entry, EntryType, FsError, LinkMode, WalkRequest};
use super::bindings::types::Timestamp;
use super::grants::Preopen;

/// Entries per batch, and bytes hashed per batch: a batch stays short enough
/// for the run's deadline to be checked between batches.
const BATCH_ENTRIES: usize = 1024;
const BATCH_HASH_BYTES: u64 = 64 << 20;

/// Where a guest path lives on the host, and the grant that allows it.
pub struct Located<'g> {
    pub host: PathBuf,
    pub grant: &'g Preopen,
}

/// Maps a guest path to the host through the grants; `None` when no grant covers it.
pub fn locate<'g>(grants: &'g [Preopen], guest: &str) -> Option<Located<'g>> {
    if guest.split(['/', '\\']).any(|part| part == "..") {
        return None;
    }
    grants
        .iter()
        .filter_map(|grant| {
            let rest = guest.strip_prefix(grant.guest.as_str())?;
            let below = grant.guest.ends_with(['/', '\\']) || rest.is_empty() || rest.starts_with(['/', '\\']);
            below.then(|| (grant, rest.trim_start_matches(['/', '\\'])))
        })
        .max_by_key(|(grant, _)| grant.guest.len())
        .map(|(grant, rest)| Located {
            host: if rest.is_empty() {
                grant.host.clone()
            } else {
                grant.host.join(rest)
            },
            grant,
        })
}

/// One walk in progress; lives in the run's resource table.
pub struct Walker {
    request: WalkRequest,
    /// The grant's real location, for checking where followed links lead.
    grant_root: Option<PathBuf>,
    /// Directories being listed: each frame holds the children still to visit.
    stack: Vec<VecDeque<(PathBuf, String)>>,
    /// A single path to report (when the request names a file).
    single: Option<(PathBuf, String)>,
    /// Directories already entered (device, inode), against link loops.
    visited: HashSet<(u64, u64)>,
}

impl Walker {
    pub fn start(grants: &[Preopen], request: WalkRequest) -> Result<Walker, FsError> {
        let located = locate(grants, &request.path)
            .ok_or_else(|| FsError::Denied(format!("{} is outside the plugin's grants", request.path)))?;
        let meta =
            metadata(&located.host, request.links == LinkMode::Follow).map_err(|e| io_error(&request.path, e))?;
        let grant_root = located.grant.host.canonicalize().ok();
        let guest = request.path.trim_end_matches(['/', '\\']).to_string();
        let guest = if guest.is_empty() { request.path.clone() } else { guest };
        let mut walker = Walker {
            request,
            grant_root,
            stack: Vec::new(),
            single: None,
            visited: HashSet::new(),
        };
        if meta.is_dir() {
            walker.enter(&located.host, &guest, &meta);
        } else {
            walker.single = Some((located.host, guest));
        }
        Ok(walker)
    }

    /// The next batch of entries, hashed; `None` when the walk is over.
    pub fn next_batch(&mut self) -> Option<Vec<Entry>> {
        let mut batch: Vec<(Entry, Option<PathBuf>)> = Vec::new();
        let mut to_hash = 0u64;
        while batch.len() < BATCH_ENTRIES && to_hash < BATCH_HASH_BYTES {
            let Some((host, guest)) = self.next_path() else { break };
            if let Some((entry, hash_from)) = self.visit(&host, &guest) {
                if hash_from.is_some() {
                    to_hash += entry.size;
                }
                batch.push((entry, hash_from));
            }
        }
        if batch.is_empty() {
            return None;
        }
        let algorithm = self.request.digest;
        let follow = self.request.links == LinkMode::Follow;
        batch.par_iter_mut().for_each(|(entry, hash_from)| {
            if let (Some(path), Some(algorithm)) = (hash_from.as_ref(), algorithm) {
                match digest_file(path, algorithm, follow) {
                    Ok(digest) => entry.digest = Some(digest),
                    Err(e) => entry.error = Some(format!("cannot read: {e}")),
                }
            }
        });
        Some(batch.into_iter().map(|(entry, _)| entry).collect())
    }

    fn next_path(&mut self) -> Option<(PathBuf, String)> {
        if let Some(single) = self.single.take() {
            return Some(single);
        }
        loop {
            let frame = self.stack.last_mut()?;
            match frame.pop_front() {
                Some(child) => return Some(child),
                None => {
                    self.stack.pop();
                }
            }
        }
    }

    /// Lists a directory's children (sorted, for a stable order) into a new frame.
    fn enter(&mut self, host: &Path, guest: &str, meta: &Metadata) {
        if let Some(id) = file_id(meta)
            && !self.visited.insert(id)
        {
            return;
        }
        let Ok(read) = std::fs::read_dir(host) else {
            tracing::debug!("cannot list {guest}");
            return;
        };
        let mut names: Vec<String> = read
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        let separator = if guest.ends_with(['/', '\\']) { "" } else { "/" };
        self.stack.push(
            names
                .into_iter()
                .map(|name| (host.join(&name), format!("{guest}{separator}{name}")))
                .collect(),
        );
    }

    /// Reports one path (and descends into it when it is a directory to walk).
    /// Returns the entry and, for regular files to hash, where to read them.
    fn visit(&mut self, host: &Path, guest: &str) -> Option<(Entry, Option<PathBuf>)> {
        let is_root = self.stack.is_empty() && self.single.is_none() && guest == self.request.path;
        let lmeta = match std::fs::symlink_metadata(host) {
            Ok(meta) => meta,
            // Vanished between listing and stat: say so for this item only.
            Err(e) => return Some((error_entry(guest, &e), None)),
        };
        let name = guest.rsplit(['/', '\\']).next().unwrap_or(guest);
        let (meta, link_target) = if lmeta.file_type().is_symlink() {
            let target = std::fs::read_link(host).ok().map(|t| t.to_string_lossy().into_owned());
            match self.request.links {
                LinkMode::Ignore => return None,
                LinkMode::Manage => (lmeta, target),
                LinkMode::Follow => match std::fs::metadata(host) {
                    Ok(meta) if meta.is_dir() && !self.inside_grant(host) => {
                        tracing::debug!("not following {guest}: it leads out of the grant");
                        return None;
                    }
                    Ok(meta) => (meta, None),
                    Err(e) => {
                        let mut entry = entry_from(guest, &lmeta, target);
                        entry.error = Some(format!("dangling link: {e}"));
                        return Some((entry, None));
                    }
                },
            }
        } else {
            (lmeta, None)
        };
        if meta.is_dir() {
            if self.request.recurse || is_root {
                self.enter(host, guest, &meta);
            }
            let wanted = self.request.include_directories && self.matches(name);
            return wanted.then(|| (entry_from(guest, &meta, None), None));
        }
        if !self.matches(name) && !is_root {
            return None;
        }
        let entry = entry_from(guest, &meta, link_target);
        let cap = self.request.max_digest_size;
        let hash = meta.is_file() && self.request.digest.is_some() && (cap == 0 || meta.len() <= cap);
        Some((entry, hash.then(|| host.to_path_buf())))
    }

    fn matches(&self, name: &str) -> bool {
        self.request
            .pattern
            .as_deref()
            .is_none_or(|pattern| wildcard_match(pattern, name, cfg!(windows)))
    }

    fn inside_grant(&self, host: &Path) -> bool {
        match (&self.grant_root, host.canonicalize()) {
            (Some(root), Ok(real)) => real.starts_with(root),
            _ => false,
        }
    }
}

/// Stats one path within the grants, hashing it when asked.
pub fn stat(grants: &[Preopen], guest: &str, follow: bool, digest: Option<DigestAlgorithm>) -> Result<Entry, FsError> {
    let located =
        locate(grants, guest).ok_or_else(|| FsError::Denied(format!("{guest} is outside the plugin's grants")))?;
    let meta = metadata(&located.host, follow).map_err(|e| io_error(guest, e))?;
    let target = if meta.file_type().is_symlink() {
        std::fs::read_link(&located.host)
            .ok()
            .map(|t| t.to_string_lossy().into_owned())
    } else {
        None
    };
    let mut entry = entry_from(guest, &meta, target);
    if let (true, Some(algorithm)) = (meta.is_file(), digest) {
        match digest_file(&located.host, algorithm, follow) {
            Ok(d) => entry.digest = Some(d),
            Err(e) => entry.error = Some(format!("cannot read: {e}")),
        }
    }
    Ok(entry)
}

fn metadata(path: &Path, follow: bool) -> std::io::Result<Metadata> {
    if follow {
        std::fs::metadata(path)
    } else {
        std::fs::symlink_metadata(path)
    }
}

fn io_error(guest: &str, e: std::io::Error) -> FsError {
    match e.kind() {
        std::io::ErrorKind::NotFound => FsError::NotFound(format!("{guest} does not exist")),
        _ => FsError::Io(format!("{guest}: {e}")),
    }
}

fn error_entry(guest: &str, e: &std::io::Error) -> Entry {
    Entry {
        path: guest.to_string(),
        entry_type: EntryType::Other,
        size: 0,
        mode: 0,
        uid: 0,
        gid: 0,
        created: None,
        modified: None,
        changed: None,
        inode: 0,
        link_target: None,
        digest: None,
        error: Some(format!("vanished or unreadable: {e}")),
    }
}

fn entry_from(guest: &str, meta: &Metadata, link_target: Option<String>) -> Entry {
    let file_type = meta.file_type();
    let entry_type = if file_type.is_symlink() {
        EntryType::Symlink
    } else if file_type.is_dir() {
        EntryType::Directory
    } else if file_type.is_file() {
        EntryType::File
    } else {
        EntryType::Other
    };
    let (mode, uid, gid, inode, changed) = unix_fields(meta);
    Entry {
        path: guest.to_string(),
        entry_type,
        size: meta.len(),
        mode,
        uid,
        gid,
        created: meta.created().ok().and_then(timestamp),
        modified: meta.modified().ok().and_then(timestamp),
        changed,
        inode,
        link_target,
        digest: None,
        error: None,
    }
}

#[cfg(unix)]
fn unix_fields(meta: &Metadata) -> (u32, u32, u32, u64, Option<Timestamp>) {
    use std::os::unix::fs::MetadataExt;
    let changed = u32::try_from(meta.ctime_nsec()).ok().map(|nanoseconds| Timestamp {
        seconds: meta.ctime(),
        nanoseconds,
    });
    (meta.mode(), meta.uid(), meta.gid(), meta.ino(), changed)
}

#[cfg(not(unix))]
fn unix_fields(_meta: &Metadata) -> (u32, u32, u32, u64, Option<Timestamp>) {
    (0, 0, 0, 0, None)
}

#[cfg(unix)]
fn file_id(meta: &Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn file_id(_meta: &Metadata) -> Option<(u64, u64)> {
    None
}

fn timestamp(time: SystemTime) -> Option<Timestamp> {
    let (seconds, nanoseconds) = match time.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(after) => (i64::try_from(after.as_secs()).ok()?, after.subsec_nanos()),
        Err(before) => {
            let d = before.duration();
            let secs = -i64::try_from(d.as_secs()).ok()?;
            match d.subsec_nanos() {
                0 => (secs, 0),
                n => (secs - 1, 1_000_000_000 - n),
            }
        }
    };
    Some(Timestamp { seconds, nanoseconds })
}

/// Hashes a file in one pass. Without `follow`, a path swapped for a link
/// between the walk and the read is refused rather than followed.
#[cfg_attr(not(unix), allow(unused_variables))]
fn digest_file(path: &Path, algorithm: DigestAlgorithm, follow: bool) -> std::io::Result<String> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    if !follow {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW);
    }
    let mut file = options.open(path)?;
    let mut buffer = vec![0u8; 256 * 1024];
    match algorithm {
        DigestAlgorithm::Md5 => hex(feed(&mut file, &mut buffer, Md5::new())?),
        DigestAlgorithm::Sha256 => hex(feed(&mut file, &mut buffer, Sha256::new())?),
    }
}

fn feed<D: Digest>(file: &mut std::fs::File, buffer: &mut [u8], mut hasher: D) -> std::io::Result<D> {
    loop {
        match file.read(buffer) {
            Ok(0) => return Ok(hasher),
            Ok(n) => hasher.update(&buffer[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

fn hex<D: Digest>(hasher: D) -> std::io::Result<String> {
    use std::fmt::Write;
    let digest = hasher.finalize();
    let mut out = String::with_capacity(digest.len() * 2);
    for byte in digest.iter() {
        let _ = write!(out, "{byte:02x}");
    }
    Ok(out)
}

/// `*` matches any run of characters, `?` one character.
pub fn wildcard_match(pattern: &str, name: &str, ignore_case: bool) -> bool {
    let fold = |s: &str| -> Vec<char> {
        if ignore_case {
            s.chars().flat_map(char::to_lowercase).collect()
        } else {
            s.chars().collect()
        }
    };
    let (p, n) = (fold(pattern), fold(name));
    // Iterative matcher with backtracking to the last star.
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests;
