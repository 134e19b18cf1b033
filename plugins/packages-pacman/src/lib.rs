//! driftwatch collector for Arch Linux packages: reads pacman's local
//! database (`/var/lib/pacman/local/*/desc`) inside the sandbox.

pub mod desc;

use std::path::{Path, PathBuf};

use driftwatch_sdk::prelude::*;

const LOCAL_DB: &str = "/var/lib/pacman/local";

struct Pacman;

impl PackagesCollector for Pacman {
    fn describe() -> Description {
        driftwatch_sdk::describe!("Arch Linux packages from pacman's local database", [OsFamily::Linux])
    }

    /// What it reads: pacman's local database.
    fn default_grants() -> Vec<String> {
        ["/var/lib/pacman/local"].map(String::from).to_vec()
    }

    fn probe() -> ProbeResult {
        if Path::new(LOCAL_DB).is_dir() {
            ProbeResult::applies(format!("pacman database at {LOCAL_DB}"))
        } else {
            ProbeResult::not_applicable(format!("no pacman database ({LOCAL_DB} not found)"))
        }
    }

    fn collect(_settings: PackageSettings) -> Result<Collection<Package>, CollectError> {
        let entries = std::fs::read_dir(LOCAL_DB).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => CollectError::NotFound(format!("{LOCAL_DB} not found")),
            _ => CollectError::Unreadable(format!("cannot list {LOCAL_DB}: {e}")),
        })?;
        let mut dirs: Vec<PathBuf> = entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
        dirs.sort();
        let mut packages = Vec::new();
        for dir in dirs {
            let file = dir.join("desc");
            let subject = file.display().to_string();
            let text = match std::fs::read(&file) {
                Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    run_warning(subject, "no desc file");
                    continue;
                }
                Err(e) => {
                    run_warning(&subject, format!("cannot read: {e}"));
                    incomplete(format!("{subject} could not be read"));
                    continue;
                }
            };
            match desc::parse(&text) {
                Ok(p) => packages.push(Package {
                    architecture: p.architecture,
                    publisher: p.packager,
                    description: p.description,
                    install_date: p.install_date.map(|seconds| Timestamp {
                        seconds,
                        nanoseconds: 0,
                    }),
                    ..Package::new(p.name, p.version)
                }),
                Err(desc::Rejected(reason)) => run_warning(subject, reason),
            }
        }
        Ok(Collection::from_vec(packages))
    }
}

driftwatch_sdk::export_collector!(packages: Pacman);
