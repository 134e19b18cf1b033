//! driftwatch collector for tracked files on Windows.
//!
//! Each tracked path becomes one walk through the host's `fs` import, which
//! lists, stats and hashes natively within the grants and matches names
//! without regard to case. Paths are Windows paths (`C:\Windows\...`); on an
//! offline image given as `--root`, the image is drive `C:`. `%VAR%`s come
//! from the agent's environment on a live machine (the host expands them) and
//! from the image's own registry offline (expanded here). Attributes are the
//! file attribute flags where the host is Windows; ACLs are not read.

pub mod attributes;
pub mod environment;

use driftwatch_sdk::fs::FsError;
use driftwatch_sdk::prelude::*;
use driftwatch_sdk::registry::Registry;

use environment::Environment;

struct FilesWindows;

impl FilesCollector for FilesWindows {
    fn describe() -> Description {
        driftwatch_sdk::describe!("Tracked files and folders on Windows", [OsFamily::Windows])
    }

    fn probe() -> ProbeResult {
        match machine().os {
            OsFamily::Windows => ProbeResult::applies("Windows filesystem"),
            _ => ProbeResult::not_applicable("not a Windows system: files-posix serves it"),
        }
    }

    fn collect(settings: FileSettings) -> Result<Collection<File>, CollectError> {
        let facts = machine();
        // Live, the host has expanded what the agent's environment knows.
        let environment = if facts.live {
            Environment::default()
        } else {
            Environment::from_registry(&Registry::open())
        };
        let host_is_windows = facts.live;
        let mut walks = Vec::new();
        for rule in &settings.rules {
            let path = match environment.expand(&rule.path) {
                Ok(path) => path,
                Err(unknown) => {
                    run_warning(
                        &rule.path,
                        format!("unknown variable %{unknown}%: the path cannot be resolved"),
                    );
                    incomplete(format!("{} could not be resolved", rule.path));
                    continue;
                }
            };
            let expanded = FileRule { path, ..rule.clone() };
            match expanded.walk(&settings) {
                Ok(entries) => walks.push((rule.name.clone(), entries)),
                Err(FsError::NotFound(_)) => debug!("{}: nothing at {}", rule.name, expanded.path),
                Err(error) => {
                    run_warning(&expanded.path, error.message());
                    incomplete(format!("{} could not be read", expanded.path));
                }
            }
        }
        let records = walks.into_iter().flat_map(move |(rule, entries)| {
            entries.map(move |entry| {
                let flags = entry.mode;
                File {
                    attributes: if host_is_windows {
                        attributes::text(flags)
                    } else {
                        String::new()
                    },
                    ..File::from_entry(entry, &rule)
                }
            })
        });
        Ok(Collection::new(records))
    }
}

driftwatch_sdk::export_collector!(files: FilesWindows);
