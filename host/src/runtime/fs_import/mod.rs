//! The `fs` host import (contract 0.1.1): walking, stat and hashing done
//! natively for files collectors, within the plugin's grants.
//!
//! A path is reachable only through a grant: its guest form must be the
//! grant's path or lie below it. Walks never leave the grant: symlinked
//! directories are descended into only when following links and only when
//! their real location is inside the grant; files are opened without following
//! links unless the plugin asked to follow them.

mod capture;
mod entry;
mod lister;
mod stat;

use std::fs::Metadata;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};

use rustc_hash::FxHashMap;

use super::bindings::fs::{DigestAlgorithm, Entry, FsError, LinkMode, WalkRequest};
use super::grants::Preopen;
pub use capture::{CaptureRule, Captured, ContentCapture};
use entry::timestamp;
use lister::{Found, Lister};
use stat::{Dir, Stat};

/// Entries, and bytes hashed, per batch: a batch stays short enough for the
/// run's deadline to be checked between batches.
const BATCH_ENTRIES: usize = 1024;
/// Paths listed ahead and stat'ed (read, for small files) together: enough
/// that the threads doing it rarely wait on each other.
const LIST_AHEAD: usize = 4 * BATCH_ENTRIES;
const BATCH_HASH_BYTES: u64 = 256 << 20;
/// Entries examined for one batch at most, even if all were unchanged.
const MAX_EXAMINED: usize = 16 * BATCH_ENTRIES;

/// Where a guest path lives on the host, and the grant that allows it.
pub struct Located<'g> {
    pub host: PathBuf,
    pub grant: &'g Preopen,
}

/// Maps a guest path to the host through the grants; `None` when no grant
/// covers it (or it names nothing a file could be called here).
pub fn locate<'g>(grants: &'g [Preopen], guest: &str) -> Option<Located<'g>> {
    if guest.split(['/', '\\']).any(|part| part == "..") {
        return None;
    }
    let (grant, rest) = grants
        .iter()
        .filter_map(|grant| {
            let rest = strip_prefix(guest, &grant.guest, grant.fold_case)?;
            let below = grant.guest.ends_with(['/', '\\']) || rest.is_empty() || rest.starts_with(['/', '\\']);
            below.then(|| (grant, rest.trim_start_matches(['/', '\\'])))
        })
        .max_by_key(|(grant, _)| grant.guest.len())?;
    Some(Located {
        host: join_below(&grant.host, rest, grant.fold_case)?,
        grant,
    })
}

/// `path` without `prefix`; with `fold_case`, letter case and the kind of
/// separator do not matter (Windows paths).
fn strip_prefix<'p>(path: &'p str, prefix: &str, fold_case: bool) -> Option<&'p str> {
    if !fold_case {
        return path.strip_prefix(prefix);
    }
    let head = path.get(..prefix.len())?;
    let same = head
        .chars()
        .zip(prefix.chars())
        .all(|(a, b)| a.to_lowercase().eq(b.to_lowercase()) || (a == '\\' || a == '/') && (b == '\\' || b == '/'));
    same.then(|| &path[prefix.len()..])
}

/// The host path of `rest` below a grant's host path, names in their exact
/// bytes (see `exact_path`); with `fold_case`, each name missing as written
/// matches one in another letter case.
fn join_below(host: &Path, rest: &str, fold_case: bool) -> Option<PathBuf> {
    // On Windows both slashes separate names; elsewhere a name may hold a `\\`.
    let separators: &[char] = if fold_case { &['/', '\\'] } else { &['/'] };
    let mut path = host.to_path_buf();
    for name in rest.split(separators).filter(|part| !part.is_empty()) {
        let exact = path.join(crate::exact_path::to_host(name)?);
        path = if !fold_case || exact.symlink_metadata().is_ok() {
            exact
        } else {
            match super::grants::find_folding_case(&path, name) {
                Some(found) => path.join(found),
                None => exact,
            }
        };
    }
    Some(path)
}

/// What the last collection saw of each file (a hash of its stat), by path.
/// During an incremental run, files whose stat is unchanged are withheld
/// from the plugin and not hashed again: the host keeps their records, and
/// the index remembers which they were. A targeted run (after file events)
/// also has a [`Focus`]: walks then look only at the paths it names.
#[derive(Debug, Default)]
pub struct StatIndex {
    keys: FxHashMap<String, Indexed>,
    focus: Option<Focus>,
    unchanged: AtomicUsize,
}

#[derive(Debug)]
struct Indexed {
    stat: i64,
    /// Found with this stat by this run.
    unchanged: AtomicBool,
}

impl StatIndex {
    pub fn new(keys: impl IntoIterator<Item = (String, i64)>) -> StatIndex {
        let keys = keys
            .into_iter()
            .map(|(path, stat)| {
                let unchanged = AtomicBool::new(false);
                (path, Indexed { stat, unchanged })
            })
            .collect();
        StatIndex {
            keys,
            ..StatIndex::default()
        }
    }

    /// Limits the walks of the run to `focus`.
    pub fn focused(self, focus: Focus) -> StatIndex {
        StatIndex {
            focus: Some(focus),
            ..self
        }
    }

    pub fn focus(&self) -> Option<&Focus> {
        self.focus.as_ref()
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether `path` has the stat the last collection saw; if so, it is
    /// noted as found unchanged.
    pub(crate) fn matches(&self, path: &str, stat: i64) -> bool {
        let Some(indexed) = self.keys.get(path).filter(|i| i.stat == stat) else {
            return false;
        };
        if !indexed.unchanged.swap(true, Ordering::Relaxed) {
            self.unchanged.fetch_add(1, Ordering::Relaxed);
        }
        true
    }

    /// Whether this run found `path` unchanged (and withheld it).
    pub fn found_unchanged(&self, path: &str) -> bool {
        self.keys.get(path).is_some_and(|i| i.unchanged.load(Ordering::Relaxed))
    }

    /// How many paths this run found unchanged.
    pub fn unchanged_count(&self) -> usize {
        self.unchanged.load(Ordering::Relaxed)
    }
}

/// The paths (files or directories, as the plugin names them) that events
/// said changed: a targeted run re-checks these and what is under them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Focus {
    /// Sorted, for finding what lies under a directory.
    paths: Vec<String>,
}

impl Focus {
    pub fn new(paths: impl IntoIterator<Item = String>) -> Focus {
        let mut paths: Vec<String> = paths
            .into_iter()
            .map(|p| match p.trim_end_matches(['/', '\\']) {
                "" => p,
                trimmed => trimmed.to_string(),
            })
            .collect();
        paths.sort();
        paths.dedup();
        Focus { paths }
    }

    pub fn paths(&self) -> &[String] {
        &self.paths
    }

    /// Whether `path` is one of the paths or lies under one.
    pub fn covers(&self, path: &str) -> bool {
        let path = path.trim_end_matches(['/', '\\']);
        let contains = |p: &str| self.paths.binary_search_by(|x| x.as_str().cmp(p)).is_ok();
        if contains(path) {
            return true;
        }
        path.char_indices()
            .filter(|(_, c)| matches!(c, '/' | '\\'))
            .any(|(i, _)| contains(&path[..i]) || (i == 0 && contains(&path[..1])))
    }

    /// Whether one of the paths lies under the directory `path`.
    pub fn leads_to(&self, path: &str) -> bool {
        let base = path.trim_end_matches(['/', '\\']);
        ['/', '\\'].iter().any(|separator| {
            let prefix = format!("{base}{separator}");
            let first = self.paths.partition_point(|p| p.as_str() < prefix.as_str());
            self.paths.get(first).is_some_and(|p| p.starts_with(&prefix))
        })
    }
}

/// What a run's walks found of the entries handed to the plugin: their stat
/// keys (stored for the next run) and captured contents, by path, until the
/// plugin's records claim them; and walks that did not finish.
#[derive(Debug, Default)]
pub struct Observed {
    pub keys: FxHashMap<String, i64>,
    /// Walks that ended before they were done (the collection is then incomplete).
    pub interrupted: Vec<String>,
    /// What became of the content of files whose rule captures it, by path.
    pub captured: FxHashMap<String, Captured>,
}

/// Batches prepared ahead of the plugin: the walk lists, stats and hashes the
/// next batch while the plugin handles the current one, and memory stays
/// bounded.
const BATCHES_AHEAD: usize = 2;

/// One walk in progress; lives in the run's resource table. A producer
/// thread does the work; this end hands its batches to the plugin.
pub struct Walker {
    path: String,
    batches: Option<Receiver<Message>>,
}

enum Message {
    Batch {
        entries: Vec<Entry>,
        keys: Vec<(String, i64)>,
        captured: Vec<(String, Captured)>,
    },
    Done,
}

impl Walker {
    /// Starts a walk; `capture` keeps the content of the files it reads.
    pub fn start(
        grants: &[Preopen],
        request: WalkRequest,
        index: Option<Arc<StatIndex>>,
        capture: Option<(CaptureRule, crate::content_store::ContentStore)>,
    ) -> Result<Walker, FsError> {
        let located = locate(grants, &request.path)
            .ok_or_else(|| FsError::Denied(format!("{} is outside the plugin's grants", request.path)))?;
        let follow = request.links == LinkMode::Follow;
        let meta = metadata(&located.host, follow).map_err(|e| io_error(&request.path, e))?;
        let path = request.path.clone();
        let guest = path.trim_end_matches(['/', '\\']).to_string();
        let guest = if guest.is_empty() { path.clone() } else { guest };
        let io = |e: std::io::Error| FsError::Io(format!("{path}: {e}"));
        let mut lister = Lister::new(request, located.grant.host.canonicalize().ok(), index);
        lister.fold_case = located.grant.fold_case;
        lister.capture = capture;
        let focus = lister.index.as_deref().and_then(StatIndex::focus);
        let dir_wanted = focus.is_none_or(|f| f.covers(&guest) || f.leads_to(&guest));
        let file_wanted = focus.is_none_or(|f| f.covers(&guest));
        let ignored_link = meta.file_type().is_symlink() && lister.request.links == LinkMode::Ignore;
        if meta.is_dir() {
            if dir_wanted {
                let stat = Stat::from_metadata(&meta);
                lister.enter(
                    Dir::open(&located.host).map_err(io)?,
                    &guest,
                    Some((stat.device, stat.inode)),
                );
            }
        } else if !ignored_link && file_wanted {
            // A single file named by the request: reported whatever the pattern.
            let parent = located.host.parent().unwrap_or(Path::new("/"));
            let name = located.host.file_name().map(|n| n.to_os_string()).unwrap_or_default();
            lister.pending.push(Found {
                dir: Arc::new(Dir::open(parent).map_err(io)?),
                name,
                guest,
                kind: None,
                follow,
            });
        }
        let (sender, batches) = sync_channel(BATCHES_AHEAD);
        std::thread::Builder::new()
            .name("fs-walk".into())
            .spawn(move || lister.run(sender))
            .map_err(|e| FsError::Io(format!("cannot start walking {path}: {e}")))?;
        Ok(Walker {
            path,
            batches: Some(batches),
        })
    }

    /// The next batch of entries; `None` when the walk is over. Unchanged
    /// files of an incremental run are left out (the index notes them).
    pub fn next_batch(&mut self, observed: &mut Observed) -> Option<Vec<Entry>> {
        let batches = self.batches.as_ref()?;
        match batches.recv() {
            Ok(Message::Batch {
                entries,
                keys,
                captured,
            }) => {
                observed.keys.extend(keys);
                observed.captured.extend(captured);
                Some(entries)
            }
            Ok(Message::Done) => {
                self.batches = None;
                None
            }
            // The producer ended without saying it was done: the walk is
            // not whole, and the run must not take absences as removals.
            Err(_) => {
                self.batches = None;
                observed.interrupted.push(self.path.clone());
                None
            }
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
            .map(|t| crate::exact_path::to_guest(t.as_os_str()).into_owned())
    } else {
        None
    };
    let mut entry = entry::entry_from(guest.to_string(), &Stat::from_metadata(&meta), target);
    if let (true, Some(algorithm)) = (meta.is_file(), digest) {
        let file = open_for_hashing(&located.host, follow);
        match file.and_then(|f| entry::digest(f, algorithm)) {
            Ok(d) => entry.digest = Some(d),
            Err(e) => entry.error = Some(format!("cannot read: {e}")),
        }
    }
    Ok(entry)
}

/// Opens a file to hash; without `follow`, a path swapped for a link since
/// it was stat'ed is refused rather than followed.
fn open_for_hashing(path: &Path, follow: bool) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    if !follow {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW);
    }
    #[cfg(not(unix))]
    let _ = follow;
    options.open(path)
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
