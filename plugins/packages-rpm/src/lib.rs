//! driftwatch collector for RPM-based systems: reads rpm's package database
//! inside the sandbox, whichever backend wrote it — SQLite (`rpmdb.sqlite`,
//! Fedora, RHEL 9, Amazon Linux 2023), NDB (`Packages.db`, SUSE) or Berkeley
//! DB (`Packages`, older releases) — in `/var/lib/rpm` or
//! `/usr/lib/sysimage/rpm`.
//!
//! Options: `dbpath` — the directory holding the database instead (like
//! `rpm --dbpath`); it must be within the plugin's grants.

pub mod bdb;
pub mod db;
pub mod header;
pub mod ndb;
pub mod sqlite;

use std::path::{Path, PathBuf};

use driftwatch_sdk::prelude::*;
use header::RpmHeader;

const DB_DIRS: [&str; 2] = ["/var/lib/rpm", "/usr/lib/sysimage/rpm"];

struct Rpm;

impl PackagesCollector for Rpm {
    fn describe() -> Description {
        driftwatch_sdk::describe!(
            "RPM packages from rpm's database (SQLite, NDB or Berkeley DB)",
            [OsFamily::Linux]
        )
    }

    /// What it reads: rpm's database, where distributions keep it.
    fn default_grants() -> Vec<String> {
        ["/var/lib/rpm", "/usr/lib/sysimage/rpm"].map(String::from).to_vec()
    }

    fn probe() -> ProbeResult {
        match db::find(&DB_DIRS.map(Path::new)) {
            Some((path, _)) => ProbeResult::applies(format!("rpm database at {}", path.display())),
            None => ProbeResult::not_applicable(format!("no rpm database in {}", DB_DIRS.join(" or "))),
        }
    }

    fn collect(settings: PackageSettings) -> Result<Collection<Package>, CollectError> {
        let dirs: Vec<PathBuf> = match option(&settings.options, "dbpath") {
            Some(dir) => vec![PathBuf::from(dir)],
            None => DB_DIRS.iter().map(PathBuf::from).collect(),
        };
        let dirs: Vec<&Path> = dirs.iter().map(PathBuf::as_path).collect();
        let Some((path, passed_over)) = db::find(&dirs) else {
            let names = dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>();
            return Err(CollectError::NotFound(format!(
                "no rpm database in {}",
                names.join(" or ")
            )));
        };
        for other in passed_over {
            debug!(
                "{} also present, not read: {} is newer or the same file",
                other.display(),
                path.display()
            );
        }
        let source = path.display().to_string();
        let database = db::open(&path).map_err(|e| match e {
            db::OpenError::Io(io) if io.kind() == std::io::ErrorKind::NotFound => {
                CollectError::NotFound(format!("{source} vanished"))
            }
            e => CollectError::Unreadable(format!("{source}: {e}")),
        })?;
        debug!("{source}: {} database", database.format.name());
        for note in &database.notes {
            debug!("{source}: {note}");
        }
        if database.format == db::Format::BdbBtree {
            run_warning(&source, "rpm 5 Berkeley DB btree database: read best-effort");
        }

        let mut marked_incomplete = false;
        let mut skip = move |subject: String, reason: String| {
            run_warning(subject, reason);
            // A package we could not read must not look removed.
            if !std::mem::replace(&mut marked_incomplete, true) {
                incomplete(format!("{source}: some package headers could not be read"));
            }
        };
        let source = path.display().to_string();
        let packages = database.entries.filter_map(move |entry| {
            let blob = match entry {
                Ok(blob) => blob,
                Err(e) => {
                    skip(format!("{source}, {}", e.location), e.reason);
                    return None;
                }
            };
            match header::parse(&blob.data) {
                Ok(header) => Some(to_record(header)),
                Err(e) => {
                    skip(format!("{source}, header {}", blob.key), e.to_string());
                    None
                }
            }
        });
        Ok(Collection::new(packages))
    }
}

driftwatch_sdk::export_collector!(packages: Rpm);

fn to_record(h: RpmHeader) -> Package {
    let version = h.evr();
    Package {
        architecture: h.arch.unwrap_or_default(),
        publisher: h.vendor.or(h.packager).unwrap_or_default(),
        description: h.summary.unwrap_or_default(),
        install_date: h.install_time.map(|seconds| Timestamp {
            seconds: i64::from(seconds),
            nanoseconds: 0,
        }),
        ..Package::new(h.name, version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_carry_the_header_fields() {
        let h = RpmHeader {
            name: "openssl-libs".into(),
            epoch: Some(1),
            version: "3.0.8".into(),
            release: Some("1.amzn2023.0.4".into()),
            arch: Some("x86_64".into()),
            summary: Some("A general purpose cryptography library".into()),
            vendor: None,
            packager: Some("Amazon Linux".into()),
            install_time: Some(1_693_000_000),
        };
        let p = to_record(h);
        assert_eq!(p.name, "openssl-libs");
        assert_eq!(p.version, "1:3.0.8-1.amzn2023.0.4");
        assert_eq!(p.architecture, "x86_64");
        assert_eq!(p.publisher, "Amazon Linux");
        assert_eq!(p.description, "A general purpose cryptography library");
        assert_eq!(p.install_state, "installed");
        assert!(matches!(p.software_type, SoftwareType::Package));
        assert_eq!(p.install_date.map(|t| t.seconds), Some(1_693_000_000));
    }

    #[test]
    fn vendor_wins_over_packager_and_missing_fields_stay_empty() {
        let h = RpmHeader {
            name: "gpg-pubkey".into(),
            version: "d832c631".into(),
            release: Some("63977702".into()),
            vendor: Some("SUSE LLC".into()),
            packager: Some("someone".into()),
            ..RpmHeader::default()
        };
        let p = to_record(h);
        assert_eq!(p.publisher, "SUSE LLC");
        assert_eq!(p.architecture, "");
        assert_eq!(p.description, "");
        assert!(p.install_date.is_none());
    }
}

/// The seeds `fuzz/` mutates, made by the fixture writers: one database of
/// each container format and a few headers. Checked here to read back; with
/// `DRIFTWATCH_FUZZ_SEEDS=<dir>` also written there
/// (`DRIFTWATCH_FUZZ_SEEDS=$PWD/fuzz/seeds cargo test -p packages-rpm fuzz_seeds`).
#[cfg(test)]
mod fuzz_seeds {
    use crate::header::testing::Builder;
    use crate::{bdb, db, header, ndb, sqlite};

    #[test]
    fn fuzz_seeds_read_back() {
        let blobs = vec![
            Builder::package("bash", "5.2.15", "3.fc40", "x86_64")
                .int(1003, 1)
                .build(),
            Builder::package("zlib", "1.3", "1", "aarch64")
                .dribble_string(1004, "Compression library")
                .build(),
        ];
        let btree = bdb::testing::Options {
            btree: true,
            ..Default::default()
        };
        let seeds: Vec<(&str, &str, Vec<u8>)> = vec![
            ("rpm-header", "package", blobs[0].clone()),
            ("rpm-header", "dribbles", blobs[1].clone()),
            (
                "rpm-sqlite",
                "rpmdb.sqlite",
                sqlite::testing::Writer::rpmdb(4096, 0, &blobs),
            ),
            ("rpm-ndb", "Packages.db", ndb::testing::ndb(&blobs, 2)),
            (
                "rpm-bdb",
                "Packages-hash",
                bdb::testing::bdb(&blobs, &Default::default()),
            ),
            ("rpm-bdb", "Packages-btree", bdb::testing::bdb(&blobs, &btree)),
        ];
        for (target, name, bytes) in &seeds {
            let read = match *target {
                "rpm-header" => usize::from(header::parse(bytes).is_ok()),
                "rpm-sqlite" => sqlite::Packages::open(bytes.clone(), None).map_or(0, |p| p.count()),
                "rpm-ndb" => ndb::Packages::open(bytes.clone()).map_or(0, |p| p.count()),
                _ => bdb::Packages::open(bytes.clone()).map_or(0, |p| p.filter(db::Entry::is_ok).count()),
            };
            let expected = if *target == "rpm-header" { 1 } else { blobs.len() };
            // The btree layout is read best-effort: at least the packages come back.
            assert!(read >= expected, "{target}/{name}: {read} read back");
            if let Some(dir) = std::env::var_os("DRIFTWATCH_FUZZ_SEEDS") {
                let dir = std::path::Path::new(&dir).join(target);
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(dir.join(name), bytes).unwrap();
            }
        }
    }
}
