//! The host's bulk filesystem access (contract 0.1.1; rule walks 0.1.2), for files collectors:
//! walking, stat and hashing done natively by the host, within the plugin's
//! grants. Much faster than going file by file through WASI.

pub use crate::bindings::files::driftwatch::collector::fs::{
    DigestAlgorithm, Entry, EntryType, FsError, LinkMode, WalkRequest,
};
use crate::{FileRule, FileSettings};

impl WalkRequest {
    /// A walk of `path`'s direct entries, no pattern, following links, no hashing.
    pub fn new(path: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            pattern: None,
            recurse: false,
            links: LinkMode::Follow,
            digest: None,
            max_digest_size: 0,
            include_directories: false,
        }
    }
}

/// Entries of a walk, arriving lazily, batch by batch.
pub type Entries = Box<dyn Iterator<Item = Entry>>;

/// Walks a folder as the request says. For what is not a files collector's
/// tracked path (a services collector's unit folders, say): a tracked path
/// is walked with [`walk_rules`] or [`FileRule::walk`](crate::FileRule::walk),
/// which apply its settings — links, the hash size cap, content capture.
pub fn walk(request: &WalkRequest) -> Result<Entries, FsError> {
    entries(request, None)
}

/// Walks every tracked path of a files collector's settings, each with its
/// rule's settings applied: the rule, and its entries or why it could not
/// be walked.
pub fn walk_rules(settings: &FileSettings) -> impl Iterator<Item = (&FileRule, Result<Entries, FsError>)> {
    settings.rules.iter().map(move |rule| (rule, rule.walk(settings)))
}

/// Walks for one tracked-path rule (contract 0.1.2): the host applies the
/// rule's own settings — content capture — to the files it reads.
pub(crate) fn walk_rule(request: &WalkRequest, rule: &str) -> Result<Entries, FsError> {
    entries(request, Some(rule))
}

fn entries(request: &WalkRequest, rule: Option<&str>) -> Result<Entries, FsError> {
    #[cfg(target_arch = "wasm32")]
    {
        use crate::bindings::files::driftwatch::collector::fs;
        let walk = match rule {
            Some(rule) => fs::start_rule_walk(request, rule)?,
            None => fs::start_walk(request)?,
        };
        let mut batch = Vec::new().into_iter();
        Ok(Box::new(std::iter::from_fn(move || {
            loop {
                if let Some(entry) = batch.next() {
                    return Some(entry);
                }
                batch = walk.next()?.into_iter();
            }
        })))
    }
    // Natively (unit tests) there is no host.
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = rule;
        Err(FsError::Io(format!(
            "no host to walk {} (not running as a plugin)",
            request.path
        )))
    }
}

/// Stats (and hashes, when asked) one path.
pub fn stat(path: &str, follow_links: bool, digest: Option<DigestAlgorithm>) -> Result<Entry, FsError> {
    #[cfg(target_arch = "wasm32")]
    {
        crate::bindings::files::driftwatch::collector::fs::stat(path, follow_links, digest)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = (follow_links, digest);
        Err(FsError::Io(format!("no host to stat {path} (not running as a plugin)")))
    }
}

impl FsError {
    pub fn message(&self) -> &str {
        match self {
            FsError::Denied(m) | FsError::NotFound(m) | FsError::Io(m) => m,
        }
    }
}
