//! The parsers under test: each takes arbitrary bytes and must return —
//! an error or a result — without panicking, whatever the bytes.

use std::path::Path;

pub struct Target {
    pub name: &'static str,
    pub run: fn(&[u8]),
}

pub const TARGETS: &[Target] = &[
    Target {
        name: "dpkg-status",
        run: dpkg_status,
    },
    Target {
        name: "rpm-header",
        run: rpm_header,
    },
    Target {
        name: "rpm-sqlite",
        run: rpm_sqlite,
    },
    Target {
        name: "rpm-ndb",
        run: rpm_ndb,
    },
    Target {
        name: "rpm-bdb",
        run: rpm_bdb,
    },
    Target {
        name: "apk-installed",
        run: apk_installed,
    },
    Target {
        name: "pacman-desc",
        run: pacman_desc,
    },
    Target {
        name: "systemd-unit",
        run: systemd_unit,
    },
    Target {
        name: "sysv-lsb",
        run: sysv_lsb,
    },
    Target {
        name: "regf-hive",
        run: regf_hive,
    },
    Target {
        name: "manifest",
        run: manifest,
    },
    Target { name: "kql", run: kql },
];

fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

fn dpkg_status(data: &[u8]) {
    use packages_dpkg::status::{MissingStatus, parse};
    let _ = parse(&text(data), "status", MissingStatus::Skip);
    let _ = parse(&text(data), "status.d/x", MissingStatus::Installed);
}

fn rpm_header(data: &[u8]) {
    let _ = packages_rpm::header::parse(data);
}

/// Reads every entry of a database and decodes its header, as the collector does.
fn rpm_entries(entries: impl Iterator<Item = packages_rpm::db::Entry>) {
    for blob in entries.take(10_000).flatten() {
        let _ = packages_rpm::header::parse(&blob.data);
    }
}

fn rpm_sqlite(data: &[u8]) {
    if let Ok(db) = packages_rpm::sqlite::Packages::open(data.to_vec(), None) {
        rpm_entries(db);
    }
}

fn rpm_ndb(data: &[u8]) {
    if let Ok(db) = packages_rpm::ndb::Packages::open(data.to_vec()) {
        rpm_entries(db);
    }
}

fn rpm_bdb(data: &[u8]) {
    if let Ok(db) = packages_rpm::bdb::Packages::open(data.to_vec()) {
        rpm_entries(db);
    }
}

fn apk_installed(data: &[u8]) {
    let _ = packages_apk::installed::parse(&text(data));
}

fn pacman_desc(data: &[u8]) {
    let _ = packages_pacman::desc::parse(&text(data));
}

fn systemd_unit(data: &[u8]) {
    use services_systemd::unit_file::{UnitFile, exec_start};
    let unit = UnitFile::parse(&text(data));
    let _ = unit.value("Unit", "Description");
    let _ = unit.values("Install", "WantedBy");
    let _ = unit.words("Install", "Alias");
    let _ = exec_start(&unit);
}

fn sysv_lsb(data: &[u8]) {
    let _ = services_sysv::lsb::parse(&text(data));
}

/// Opens a hive and visits its keys and values (breadth-first, bounded).
fn regf_hive(data: &[u8]) {
    let Ok(hive) = regf::Hive::from_bytes(data.to_vec()) else {
        return;
    };
    let Ok(root) = hive.root() else { return };
    let mut queue = vec![root];
    let mut visited = 0;
    while let Some(key) = queue.pop() {
        visited += 1;
        if visited > 5_000 {
            break;
        }
        let _ = (key.name(), key.class_name(), key.last_written());
        if let Ok(values) = key.values() {
            for value in values.iter().take(1_000) {
                let _ = (value.name(), value.render());
            }
        }
        if let Ok(subkeys) = key.subkeys() {
            queue.extend(subkeys.into_iter().take(1_000));
        }
    }
    let _ = hive.key("Software\\Microsoft\\Windows\\CurrentVersion");
    let _ = hive.take_warnings();
}

fn manifest(data: &[u8]) {
    let _ = driftwatch::manifest::Manifest::parse(&text(data), "fuzz.toml", Path::new("/"));
}

fn kql(data: &[u8]) {
    use driftwatch::query::{Source, compile};
    thread_local! {
        static CATALOG: driftwatch::query::Catalog = driftwatch::store::schema_catalog();
    }
    let source = Source {
        change_window: None,
        now: jiff::Timestamp::UNIX_EPOCH,
    };
    CATALOG.with(|catalog| {
        let _ = compile(&text(data), catalog, &source);
    });
}
