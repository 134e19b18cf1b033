//! driftwatch collector for tracked files on Linux and other POSIX systems.
//!
//! Each tracked path (the manifest's `[[collector.paths]]`) becomes one walk
//! through the host's `fs` import: the host lists, stats and hashes natively,
//! within the grants; this plugin turns entries into `Files` records. Owner and
//! group are shown by name when `/etc/passwd` and `/etc/group` are readable
//! (granted), by number otherwise.

pub mod posix;

use driftwatch_sdk::fs::{self, Entry, FsError};
use driftwatch_sdk::prelude::*;

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
            let request = rule.walk_request(&settings);
            match fs::walk_rule(&request, &rule.name) {
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

/// A `Files` record from a walk entry: owner and group, POSIX mode bits.
pub fn record(entry: Entry, rule: &str, names: &Names) -> File {
    let (uid, gid, mode) = (entry.uid, entry.gid, entry.mode);
    File {
        acls: names.owner(uid, gid),
        attributes: posix::mode_text(mode),
        ..File::from_entry(entry, rule)
    }
}
