//! driftwatch collector for Alpine packages: reads apk's installed database
//! inside the sandbox.

pub mod installed;

use driftwatch_sdk::prelude::*;

/// Where apk keeps its database; newer layouts use the /usr one.
const DATABASES: [&str; 2] = ["/lib/apk/db/installed", "/usr/lib/apk/db/installed"];

struct Apk;

impl PackagesCollector for Apk {
    fn describe() -> Description {
        driftwatch_sdk::describe!("Alpine packages from apk's installed database", [OsFamily::Linux])
    }

    /// What it reads: apk's database, where Alpine keeps it.
    fn default_grants() -> Vec<String> {
        ["/lib/apk/db", "/usr/lib/apk/db"].map(String::from).to_vec()
    }

    fn probe() -> ProbeResult {
        match database() {
            Some(path) => ProbeResult::applies(format!("apk database at {path}")),
            None => ProbeResult::not_applicable(format!("no apk database ({} not found)", DATABASES[0])),
        }
    }

    fn collect(_settings: PackageSettings) -> Result<Collection<Package>, CollectError> {
        let path = database().ok_or_else(|| CollectError::NotFound(format!("{} not found", DATABASES[0])))?;
        let bytes = std::fs::read(path).map_err(|e| CollectError::Unreadable(format!("cannot read {path}: {e}")))?;
        let db = installed::parse(&String::from_utf8_lossy(&bytes)).map_err(|e| {
            CollectError::Unreadable(format!("{path} is not an apk database (line {}: {})", e.line, e.reason))
        })?;
        for skipped in db.skipped {
            run_warning(format!("{path}, {}", skipped.subject), skipped.reason);
        }
        Ok(db
            .packages
            .into_iter()
            .map(|p| Package {
                architecture: p.architecture,
                publisher: p.maintainer,
                description: p.description,
                ..Package::new(p.name, p.version)
            })
            .collect())
    }
}

driftwatch_sdk::export_collector!(packages: Apk);

fn database() -> Option<&'static str> {
    DATABASES.into_iter().find(|p| std::path::Path::new(p).is_file())
}
