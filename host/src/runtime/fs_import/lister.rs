//! The producing side of a walk: lists sequentially (deciding what to descend
//! into from the types the listing gives for free), then stats and hashes
//! each batch in parallel, relative to open directories.

use std::collections::{HashSet, VecDeque};
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::SyncSender;

use rayon::prelude::*;

use super::capture::{CaptureRule, Captured, digest_and_capture};
use super::entry::{digest, digest_sized, entry_from, error_entry, stat_key};
use super::stat::{Dir, Kind, Stat};
use super::{BATCH_ENTRIES, BATCH_HASH_BYTES, LIST_AHEAD, MAX_EXAMINED, Message, StatIndex, wildcard_match};
use crate::content_store::ContentStore;
use crate::exact_path;
use crate::runtime::bindings::fs::{Entry, LinkMode, WalkRequest};
use crate::runtime::grants::is_drive_path;

pub(super) struct Lister {
    pub request: WalkRequest,
    /// The grant's real location, for checking where followed links lead.
    pub grant_root: Option<PathBuf>,
    /// Directories being listed: each frame holds the children still to visit.
    pub stack: Vec<VecDeque<Found>>,
    /// Paths found and waiting to be stat'ed.
    pub pending: Vec<Found>,
    /// Entries stat'ed and waiting for a batch.
    pub ready: VecDeque<Stated>,
    /// Directories already entered (device, inode), against link loops.
    pub visited: HashSet<(u64, u64)>,
    /// The same, by resolved path, where a platform has no inode numbers.
    pub visited_paths: HashSet<PathBuf>,
    /// The last collection's stat of each file, in an incremental run.
    pub index: Option<Arc<StatIndex>>,
    /// Windows path semantics: patterns match in any letter case, `\\` joins names.
    pub fold_case: bool,
    /// Content capture for the files of this walk's rule.
    pub capture: Option<(CaptureRule, ContentStore)>,
}

/// A path met while listing: its directory, name, guest path, and the type
/// the listing reported.
pub(super) struct Found {
    pub dir: Arc<Dir>,
    pub name: OsString,
    pub guest: String,
    pub kind: Option<std::fs::FileType>,
    /// Follow a final symlink when stat'ing it.
    pub follow: bool,
}

/// An entry, what to hash it from (regular files within the cap), and its stat key.
pub(super) type Stated = (Entry, Option<(Arc<Dir>, OsString)>, Option<i64>);

impl Lister {
    pub fn new(request: WalkRequest, grant_root: Option<PathBuf>, index: Option<Arc<StatIndex>>) -> Lister {
        Lister {
            request,
            grant_root,
            stack: Vec::new(),
            pending: Vec::new(),
            ready: VecDeque::new(),
            visited: HashSet::new(),
            visited_paths: HashSet::new(),
            index,
            fold_case: false,
            capture: None,
        }
    }

    /// Produces batches until the walk is done or nobody listens any more.
    pub fn run(mut self, batches: SyncSender<Message>) {
        let produced = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            loop {
                let Some(batch) = self.next_batch() else { return true };
                if batches.send(batch).is_err() {
                    return false;
                }
            }
        }));
        if matches!(produced, Ok(true)) {
            let _ = batches.send(Message::Done);
        }
    }

    /// Lists, stats and hashes up to a batch; `None` when the walk is over.
    fn next_batch(&mut self) -> Option<Message> {
        let mut stated: Vec<Stated> = Vec::new();
        let (mut to_hash, mut examined) = (0u64, 0);
        'fill: loop {
            if self.ready.is_empty() {
                if examined >= MAX_EXAMINED || (self.pending.is_empty() && !self.list_more()) {
                    break;
                }
                // Stat what was listed while listing what comes next.
                let found = std::mem::take(&mut self.pending);
                examined += found.len();
                let request = self.request.clone();
                let index = self.index.clone();
                let capturing = self.capture.is_some();
                let (stated, _) = rayon::join(
                    || stat_all(found, &request, capturing, index.as_deref()),
                    || self.list_more(),
                );
                self.ready.extend(stated.into_iter().flatten());
            }
            while let Some((entry, hash_from, _)) = self.ready.front() {
                let cost = if hash_from.is_some() { entry.size } else { 0 };
                if !stated.is_empty() && (stated.len() >= BATCH_ENTRIES || to_hash + cost > BATCH_HASH_BYTES) {
                    break 'fill;
                }
                let Some((entry, hash_from, key)) = self.ready.pop_front() else {
                    break;
                };
                to_hash += cost;
                stated.push((entry, hash_from, key));
            }
        }
        if stated.is_empty() && examined == 0 {
            return None;
        }
        let captured = self.hash(&mut stated);
        let keys = stated
            .iter()
            .filter_map(|(e, _, k)| k.map(|k| (e.path.clone(), k)))
            .collect();
        Some(Message::Batch {
            entries: stated.into_iter().map(|(entry, _, _)| entry).collect(),
            keys,
            captured,
        })
    }

    /// Reads the regular files of a batch, in parallel: each file once, for
    /// its digest (within the digest size cap) and, when the rule captures
    /// content, its content. Returns what was captured, by path.
    fn hash(&self, stated: &mut [Stated]) -> Vec<(String, Captured)> {
        let follow = self.request.links == LinkMode::Follow;
        let digest_cap = self.request.max_digest_size;
        stated
            .par_iter_mut()
            .filter_map(|(entry, hash_from, key)| {
                let (dir, name) = hash_from.as_ref()?;
                let file = match dir.open_file(name, follow) {
                    Ok(file) => file,
                    Err(e) => {
                        entry.error = Some(format!("cannot read: {e}"));
                        return None;
                    }
                };
                // The file read may not be the one stat'ed (replaced or
                // rewritten since): describe what is read.
                if let Ok(meta) = file.metadata() {
                    let opened = Stat::from_metadata(&meta);
                    if opened.kind != Kind::File {
                        entry.error = Some("replaced by something else while being read".into());
                        return None;
                    }
                    let time = |t: &Option<crate::runtime::bindings::types::Timestamp>| {
                        t.as_ref().map(|t| (t.seconds, t.nanoseconds))
                    };
                    if (opened.size, time(&opened.modified), opened.inode)
                        != (entry.size, time(&entry.modified), entry.inode)
                    {
                        let link_target = entry.link_target.take();
                        *key = Some(stat_key(&opened, link_target.as_deref()));
                        *entry = entry_from(std::mem::take(&mut entry.path), &opened, link_target);
                    }
                }
                let algorithm = self
                    .request
                    .digest
                    .filter(|_| digest_cap == 0 || entry.size <= digest_cap);
                match (&self.capture, algorithm) {
                    (Some((rule, store)), _) => match digest_and_capture(file, algorithm, *rule, store) {
                        Ok((digest, captured)) => {
                            entry.digest = digest;
                            Some((entry.path.clone(), captured))
                        }
                        Err(e) => {
                            entry.error = Some(format!("cannot read: {e}"));
                            None
                        }
                    },
                    (None, Some(algorithm)) => {
                        match digest(file, algorithm) {
                            Ok(digest) => entry.digest = Some(digest),
                            Err(e) => entry.error = Some(format!("cannot read: {e}")),
                        }
                        None
                    }
                    (None, None) => None,
                }
            })
            .collect()
    }

    /// Lists until `LIST_AHEAD` paths are pending; false when nothing is left.
    fn list_more(&mut self) -> bool {
        while self.pending.len() < LIST_AHEAD {
            let Some(found) = self.next_found() else { break };
            if let Some(report) = self.visit(found) {
                self.pending.push(report);
            }
        }
        !self.pending.is_empty()
    }

    fn next_found(&mut self) -> Option<Found> {
        loop {
            let frame = self.stack.last_mut()?;
            match frame.pop_front() {
                Some(found) => return Some(found),
                None => {
                    self.stack.pop();
                }
            }
        }
    }

    /// Lists a directory's children (sorted, for a stable order) into a new frame.
    pub fn enter(&mut self, dir: Dir, guest: &str, id: Option<(u64, u64)>) {
        // Against link loops, a directory is entered once: known by device
        // and inode, or, where the platform gives none (Windows reports 0),
        // by its resolved path.
        let first_visit = match id.filter(|&(device, inode)| device != 0 || inode != 0) {
            Some(id) => self.visited.insert(id),
            None => match std::fs::canonicalize(&dir.path) {
                Ok(real) => self.visited_paths.insert(real),
                Err(_) => true,
            },
        };
        if !first_visit {
            return;
        }
        let Ok(children) = dir.list() else {
            tracing::debug!("cannot list {guest}");
            return;
        };
        let dir = Arc::new(dir);
        let focus = self.index.as_ref().and_then(|index| index.focus());
        let separator = if guest.ends_with(['/', '\\']) {
            ""
        } else if is_drive_path(guest) {
            "\\"
        } else {
            "/"
        };
        self.stack.push(
            children
                .into_iter()
                .map(|(name, kind)| Found {
                    guest: format!("{guest}{separator}{}", exact_path::to_guest(&name)),
                    dir: dir.clone(),
                    name,
                    kind,
                    follow: false,
                })
                // A targeted run lists only the way to the paths in focus.
                .filter(|found| focus.is_none_or(|f| f.covers(&found.guest) || f.leads_to(&found.guest)))
                .collect(),
        );
    }

    /// Decides what a listed path is: descended into (directories), reported,
    /// or skipped. Returns what to stat as an entry.
    fn visit(&mut self, found: Found) -> Option<Found> {
        // Out of a targeted run's focus, a path is only a way through.
        let in_focus = self
            .index
            .as_ref()
            .and_then(|index| index.focus())
            .is_none_or(|focus| focus.covers(&found.guest));
        self.visit_path(found).filter(|_| in_focus)
    }

    fn visit_path(&mut self, mut found: Found) -> Option<Found> {
        let kind = match found.kind {
            Some(kind) if kind.is_symlink() => Kind::Symlink,
            Some(kind) if kind.is_dir() => Kind::Dir,
            Some(kind) if kind.is_file() => Kind::File,
            Some(_) => Kind::Other,
            // No type from the listing: stat decides (a vanished path is reported as such).
            None => match found.dir.stat(&found.name, false) {
                Ok(stat) => stat.kind,
                Err(_) => return self.matches(&found).then_some(found),
            },
        };
        match kind {
            Kind::Symlink => match self.request.links {
                LinkMode::Ignore => None,
                LinkMode::Manage => self.matches(&found).then_some(found),
                LinkMode::Follow => match found.dir.stat(&found.name, true) {
                    Ok(target) if target.kind == Kind::Dir => {
                        if !self.inside_grant(&found) {
                            tracing::debug!("not following {}: it leads out of the grant", found.guest);
                            return None;
                        }
                        found.follow = true;
                        self.directory(found, &target)
                    }
                    _ => {
                        found.follow = true;
                        self.matches(&found).then_some(found)
                    }
                },
            },
            Kind::Dir => match found.dir.stat(&found.name, false) {
                Ok(stat) => self.directory(found, &stat),
                Err(_) => None,
            },
            Kind::File | Kind::Other => self.matches(&found).then_some(found),
        }
    }

    fn directory(&mut self, found: Found, stat: &Stat) -> Option<Found> {
        if self.request.recurse
            && let Ok(child) = found.dir.child(&found.name)
        {
            self.enter(child, &found.guest, Some((stat.device, stat.inode)));
        }
        (self.request.include_directories && self.matches(&found)).then_some(found)
    }

    /// Whether a name matches the walk's pattern (any does without one).
    fn matches(&self, found: &Found) -> bool {
        self.request
            .pattern
            .as_deref()
            .is_none_or(|pattern| wildcard_match(pattern, &found.name.to_string_lossy(), self.fold_case))
    }

    fn inside_grant(&self, found: &Found) -> bool {
        match (&self.grant_root, found.dir.path.join(&found.name).canonicalize()) {
            (Some(root), Ok(real)) => real.starts_with(root),
            _ => false,
        }
    }
}

/// Stats paths in parallel. Each becomes an entry (regular files to read
/// with what to read them from: within the digest size cap, or all when
/// capturing content); none when its stat is the one the last collection
/// saw (the index notes it).
fn stat_all(
    found: Vec<Found>,
    request: &WalkRequest,
    capturing: bool,
    index: Option<&StatIndex>,
) -> Vec<Option<Stated>> {
    found
        .into_par_iter()
        .map(|found| {
            let listed_file = found.kind.is_some_and(|k| k.is_file()) && !found.follow;
            if index.is_none() && !capturing && listed_file {
                match read_small_file(found, request) {
                    Ok(stated) => return Some(stated),
                    Err(found) => return stat_one(*found, request, capturing, index),
                }
            }
            stat_one(found, request, capturing, index)
        })
        .collect()
}

/// Files this small are read when they are opened; larger ones later, in
/// their batch's share of bytes to hash.
const READ_AT_ONCE: u64 = 256 * 1024;

/// A file the listing says is regular, when everything about it is to be
/// read (no stat index to compare with): opened first and stat'ed through
/// the open file — one path lookup, and the stat describes what is read —
/// then hashed at once if it is small. The path is handed back when it
/// cannot be opened so (a link or a directory by now, no permission).
fn read_small_file(found: Found, request: &WalkRequest) -> Result<Stated, Box<Found>> {
    let Ok(file) = found.dir.open_file(&found.name, false) else {
        return Err(Box::new(found));
    };
    let Ok(stat) = file.metadata().map(|meta| Stat::from_metadata(&meta)) else {
        return Err(Box::new(found));
    };
    if stat.kind == Kind::Dir {
        return Err(Box::new(found));
    }
    let key = stat_key(&stat, None);
    let mut entry = entry_from(found.guest, &stat, None);
    let cap = request.max_digest_size;
    let algorithm = request
        .digest
        .filter(|_| stat.kind == Kind::File && (cap == 0 || stat.size <= cap));
    let Some(algorithm) = algorithm else {
        return Ok((entry, None, Some(key)));
    };
    if stat.size > READ_AT_ONCE {
        return Ok((entry, Some((found.dir, found.name)), Some(key)));
    }
    match digest_sized(file, algorithm, stat.size) {
        Ok(digest) => entry.digest = Some(digest),
        Err(e) => entry.error = Some(format!("cannot read: {e}")),
    }
    Ok((entry, None, Some(key)))
}

/// Stats one path by name (following a link when asked) and decides whether
/// its content is to be read.
fn stat_one(found: Found, request: &WalkRequest, capturing: bool, index: Option<&StatIndex>) -> Option<Stated> {
    let cap = request.max_digest_size;
    let hashing = request.digest.is_some();
    let lstat = match found.dir.stat(&found.name, false) {
        Ok(stat) => stat,
        Err(e) => return Some((error_entry(&found.guest, &e), None, None)),
    };
    let (stat, target) = if lstat.kind == Kind::Symlink {
        let target = found
            .dir
            .read_link(&found.name)
            .ok()
            .map(|t| exact_path::to_guest(t.as_os_str()).into_owned());
        if !found.follow {
            (lstat, target)
        } else {
            match found.dir.stat(&found.name, true) {
                Ok(stat) => (stat, None),
                Err(e) => {
                    let mut entry = entry_from(found.guest, &lstat, target);
                    entry.error = Some(format!("dangling link: {e}"));
                    return Some((entry, None, None));
                }
            }
        }
    } else {
        (lstat, None)
    };
    if stat.kind == Kind::Dir && !request.include_directories {
        // Listed as a file, a directory by now: the file is gone.
        let gone = std::io::Error::new(std::io::ErrorKind::NotFound, "replaced by a directory");
        return Some((error_entry(&found.guest, &gone), None, None));
    }
    let key = stat_key(&stat, target.as_deref());
    if index.is_some_and(|i| i.matches(&found.guest, key)) {
        return None;
    }
    let hash = stat.kind == Kind::File && (capturing || hashing && (cap == 0 || stat.size <= cap));
    let entry = entry_from(found.guest, &stat, target);
    Some((entry, hash.then_some((found.dir, found.name)), Some(key)))
}
