//! driftwatch collector for tracked files on Linux and other POSIX systems.
//!
//! Each tracked path (the manifest's `[[collector.paths]]`) becomes one walk
//! through the host's `fs` import: the host lists, stats and hashes natively,
//! within the grants; this plugin turns entries into `Files` records. Owner and
//! group are shown by name when `/etc/passwd` and `/etc/group` are readable
//! (granted), by number otherwise.

pub mod path;
pub mod posix;

use driftwatch_sdk::fs::{self, DigestAlgorithm, Entry, EntryType, FsError, WalkRequest};
use driftwatch_sdk::prelude::*;
use driftwatch_sdk::{FileRule, Timestamp};

use posix::Names;

struct FilesPosix;

impl FilesCollector for FilesPosix {
    fn describe() -> Description {
        driftwatch_sdk::describe!(
            "Tracked files and folders on Linux and other POSIX systems",
            [OsFamily::Linux, OsFamily::Macos, OsFamily::Other]
        )
    }

    fn probe() -> ProbeResult {
        match machine().os {
            OsFamily::Windows => ProbeResult::not_applicable("a Windows system: files-windows serves it"),
            _ => ProbeResult::applies("POSIX filesystem"),
        }
    }

    fn collect(settings: FileSettings) -> Result<Collection<File>, CollectError> {
        let names = Names::load();
        let mut walks = Vec::new();
        for rule in &settings.rules {
            let request = request_for(rule, &settings);
            match fs::walk(&request) {
                Ok(entries) => walks.push((rule.name.clone(), entries)),
                // The tracked path does not exist: nothing to report (if it
                // existed before, that is a removal).
                Err(FsError::NotFound(_)) => debug!("{}: nothing at {}", rule.name, rule.path),
                Err(error) => {
                    warning(&rule.path, error.message());
                    incomplete(format!("{} could not be read", rule.path));
                }
            }
        }
        let records = walks.into_iter().flat_map(move |(rule, entries)| {
            let names = names.clone();
            entries.map(move |entry| record(entry, &rule, &names))
        });
        Ok(Collection::new(records))
    }
}

driftwatch_sdk::export_collector!(files: FilesPosix);

/// The walk for one tracked path: its folder and name pattern, hashing as asked.
pub fn request_for(rule: &FileRule, settings: &FileSettings) -> WalkRequest {
    let options = rule.options(settings);
    let (path, pattern) = path::split(&rule.path);
    WalkRequest {
        pattern,
        recurse: rule.recurse,
        links: options.links,
        digest: match rule.checksum {
            ChecksumAlgorithm::None => None,
            ChecksumAlgorithm::Md5 => Some(DigestAlgorithm::Md5),
            ChecksumAlgorithm::Sha256 => Some(DigestAlgorithm::Sha256),
        },
        max_digest_size: options.max_size,
        ..WalkRequest::new(path)
    }
}

/// A `Files` record from a walk entry.
pub fn record(entry: Entry, rule: &str, names: &Names) -> File {
    let file_type = match entry.entry_type {
        EntryType::File => FileType::File,
        EntryType::Directory => FileType::Directory,
        EntryType::Symlink => FileType::Symlink,
        EntryType::Other => FileType::Other,
    };
    File {
        acls: names.owner(entry.uid, entry.gid),
        attributes: posix::mode_text(entry.mode),
        checksum: entry.digest.unwrap_or_default(),
        date_created: entry.created.map(copy_time),
        date_modified: entry.modified.map(copy_time),
        file_type,
        link_target: entry.link_target,
        path: entry.path,
        rule: rule.to_string(),
        size: entry.size,
        error: entry.error,
    }
}

fn copy_time(t: Timestamp) -> Timestamp {
    Timestamp {
        seconds: t.seconds,
        nanoseconds: t.nanoseconds,
    }
}
