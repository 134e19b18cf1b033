//! The host's bulk filesystem access (contract 0.1.1; rule walks 0.1.2), for files collectors:
//! walking, stat and hashing done natively by the host, within the plugin's
//! grants. Much faster than going file by file through WASI.

pub use crate::bindings::files::driftwatch::collector::fs::{
    DigestAlgorithm, Entry, EntryType, FsError, LinkMode, WalkRequest,
};

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

/// Walks as the request says; entries arrive lazily, batch by batch.
pub fn walk(request: &WalkRequest) -> Result<impl Iterator<Item = Entry> + 'static, FsError> {
    entries(request, None)
}

/// Walks for one tracked-path rule of a files collector (contract 0.1.2):
/// the host applies the rule's own settings — content capture — to the files
/// it reads. Files collectors should walk their rules this way.
pub fn walk_rule(request: &WalkRequest, rule: &str) -> Result<impl Iterator<Item = Entry> + 'static, FsError> {
    entries(request, Some(rule))
}

fn entries(request: &WalkRequest, rule: Option<&str>) -> Result<impl Iterator<Item = Entry> + 'static, FsError> {
    #[cfg(target_arch = "wasm32")]
    {
        use crate::bindings::files::driftwatch::collector::fs;
        let walk = match rule {
            Some(rule) => fs::start_rule_walk(request, rule)?,
            None => fs::start_walk(request)?,
        };
        let mut batch = Vec::new().into_iter();
        Ok(std::iter::from_fn(move || {
            loop {
                if let Some(entry) = batch.next() {
                    return Some(entry);
                }
                batch = walk.next()?.into_iter();
            }
        }))
    }
    // Natively (unit tests) there is no host.
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = rule;
        Err::<std::iter::Empty<Entry>, _>(FsError::Io(format!(
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
