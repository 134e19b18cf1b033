//! driftwatch collector for Debian-family packages: reads dpkg's status
//! database (`/var/lib/dpkg/status` and `status.d/`) inside the sandbox.
//!
//! Options: `admindir` — dpkg's database directory (default `/var/lib/dpkg`),
//! like `dpkg --admindir`; it must be within the plugin's grants.

pub mod status;

use std::path::{Path, PathBuf};

use driftwatch_sdk::prelude::*;
use status::{DpkgPackage, MissingStatus};

const DEFAULT_ADMINDIR: &str = "/var/lib/dpkg";

struct Dpkg;

impl PackagesCollector for Dpkg {
    fn describe() -> Description {
        driftwatch_sdk::describe!("Debian/Ubuntu packages from dpkg's status database", [OsFamily::Linux])
    }

    /// What it reads: dpkg's database.
    fn default_grants() -> Vec<String> {
        ["/var/lib/dpkg"].map(String::from).to_vec()
    }

    fn probe() -> ProbeResult {
        let admindir = Path::new(DEFAULT_ADMINDIR);
        let status = admindir.join("status");
        if status.is_file() {
            ProbeResult::applies(format!("dpkg database at {}", status.display()))
        } else if status_d_files(admindir).is_ok_and(|files| !files.is_empty()) {
            ProbeResult::applies(format!("dpkg database at {}/status.d", admindir.display()))
        } else {
            ProbeResult::not_applicable(format!("no dpkg database ({} not found)", status.display()))
        }
    }

    fn collect(settings: PackageSettings) -> Result<Collection<Package>, CollectError> {
        let admindir = PathBuf::from(option(&settings.options, "admindir").unwrap_or(DEFAULT_ADMINDIR));
        let status_path = admindir.join("status");
        let mut found_any = false;
        let mut packages = Vec::new();

        if status_path.exists() {
            found_any = true;
            packages.extend(read_status(&status_path, MissingStatus::Skip)?);
        }
        match status_d_files(&admindir) {
            Ok(files) => {
                found_any |= !files.is_empty();
                for file in files {
                    match read_status(&file, MissingStatus::Installed) {
                        Ok(found) => packages.extend(found),
                        // One bad control file in status.d: the rest still counts,
                        // but the inventory may miss that package.
                        Err(error) => {
                            run_warning(file.display().to_string(), error.message());
                            incomplete(format!("{} could not be read", file.display()));
                        }
                    }
                }
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => {
                incomplete(format!("{}/status.d could not be listed: {error}", admindir.display()));
            }
        }
        if !found_any {
            return Err(CollectError::NotFound(format!(
                "no dpkg database in {}",
                admindir.display()
            )));
        }
        Ok(Collection::from_vec(packages))
    }
}

driftwatch_sdk::export_collector!(packages: Dpkg);

/// Reads and parses one status file; damaged stanzas become warnings.
fn read_status(path: &Path, missing_status: MissingStatus) -> Result<Vec<Package>, CollectError> {
    let bytes =
        std::fs::read(path).map_err(|e| CollectError::Unreadable(format!("cannot read {}: {e}", path.display())))?;
    let text = String::from_utf8_lossy(&bytes);
    let source = path.display().to_string();
    let parsed = status::parse(&text, &source, missing_status).map_err(|e| {
        CollectError::Unreadable(format!(
            "{source} is not a dpkg status file (line {}: {})",
            e.line, e.reason
        ))
    })?;
    for skipped in parsed.skipped {
        run_warning(skipped.subject, skipped.reason);
    }
    debug!(
        "{source}: {} packages present, {} known but not installed",
        parsed.packages.len(),
        parsed.not_installed
    );
    Ok(parsed.packages.into_iter().map(to_record).collect())
}

/// Control files in `status.d/`, sorted; `*.md5sums` lists are not stanzas.
fn status_d_files(admindir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(admindir.join("status.d"))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.is_file() && path.extension().is_none_or(|ext| ext != "md5sums"))
        .collect();
    files.sort();
    Ok(files)
}

fn to_record(p: DpkgPackage) -> Package {
    let install_state = if p.reinstall_required {
        format!("{} (reinstall required)", p.state)
    } else {
        p.state
    };
    Package {
        architecture: p.architecture,
        publisher: p.maintainer,
        description: p.synopsis,
        install_state,
        ..Package::new(p.name, p.version)
    }
}
