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

use std::collections::HashMap;

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
        for (rule, walk) in fs::walk_rules(&settings) {
            match walk {
                Ok(entries) => walks.push((std::rc::Rc::<str>::from(rule.name.as_str()), entries)),
                // The tracked path does not exist: nothing to report (if it
                // existed before, that is a removal).
                Err(FsError::NotFound(_)) => debug!("{}: nothing at {}", rule.name, rule.path),
                Err(error) => {
                    run_warning(&rule.path, error.message());
                    incomplete(format!("{} could not be read", rule.path));
                }
            }
        }
        let mut texts = Texts::new(names);
        let records = walks
            .into_iter()
            .flat_map(|(rule, entries)| entries.map(move |entry| (entry, rule.clone())))
            .map(move |(entry, rule)| record(entry, &rule, &mut texts));
        Ok(Collection::new(records))
    }
}

driftwatch_sdk::export_collector!(files: FilesPosix);

/// A `Files` record from a walk entry: owner and group, POSIX mode bits.
pub fn record(entry: Entry, rule: &str, texts: &mut Texts) -> File {
    let (uid, gid, mode) = (entry.uid, entry.gid, entry.mode);
    File {
        acls: texts.owner(uid, gid),
        attributes: texts.mode(mode),
        ..File::from_entry(entry, rule)
    }
}

/// Owner and mode texts, made once for each owner and mode met: a tree's
/// files mostly share them.
pub struct Texts {
    names: Names,
    owners: HashMap<(u32, u32), String>,
    modes: HashMap<u32, String>,
}

impl Texts {
    pub fn new(names: Names) -> Texts {
        Texts {
            names,
            owners: HashMap::new(),
            modes: HashMap::new(),
        }
    }

    fn owner(&mut self, uid: u32, gid: u32) -> String {
        let names = &self.names;
        self.owners
            .entry((uid, gid))
            .or_insert_with(|| names.owner(uid, gid))
            .clone()
    }

    fn mode(&mut self, mode: u32) -> String {
        self.modes.entry(mode).or_insert_with(|| posix::mode_text(mode)).clone()
    }
}
