//! Change history end to end: a fixture tree of files and a dpkg root, scanned,
//! changed, scanned again.

use serde_json::Value;

use crate::support::*;

const MANIFEST: &str = r#"
[[collector]]
name = "dpkg"
kind = "packages"
plugin = "packages-dpkg"
grants = ["/var/lib/dpkg"]

[[collector]]
name = "data"
kind = "files"
plugin = "files-posix"
  [[collector.paths]]
  name = "data"
  path = "/data"
  recurse = true
  checksum = "md5"
"#;

/// MD5 of the two contents of `edit.txt` (`md5sum` computed them).
const MD5_ALPHA: &str = "9f9f90dbe3e5ee1218c86b8839db1995";
const MD5_OMEGA: &str = "14723c69541ee556d75c581b787dc217";

struct Fixture {
    env: Env,
    root: String,
    manifest: String,
}

impl Fixture {
    fn new() -> Fixture {
        let env = Env::new();
        let status = [
            stanza("bash", "install ok installed", "5.1-2", "amd64"),
            stanza("curl", "install ok installed", "7.88.1-10", "amd64"),
            stanza("zlib1g", "install ok installed", "1:1.2.13", "amd64"),
        ]
        .concat();
        env.write("root/var/lib/dpkg/status", status);
        for (name, text) in [
            ("edit.txt", "alpha\n"),
            ("grow.txt", "short\n"),
            ("gone.txt", "bye\n"),
            ("sub/keep.txt", "same\n"),
        ] {
            let path = env.write(&format!("root/data/{name}"), text);
            set_mtime(&path, 1_700_000_000);
        }
        let manifest = env.write("manifest.toml", MANIFEST).display().to_string();
        let root = env.path("root").display().to_string();
        Fixture { env, root, manifest }
    }

    fn scan(&self) -> Vec<Value> {
        let out = self
            .env
            .run(&["--manifest", &self.manifest, "--root", &self.root, "scan", "--json"]);
        assert_eq!(exit_code(&out), 0, "{}{}", stdout(&out), stderr(&out));
        json_lines(&out)
    }

    fn changes(&self) -> Vec<Value> {
        json_lines(&self.env.run(&["--manifest", &self.manifest, "changes", "--json"]))
    }
}

fn find<'a>(changes: &'a [Value], category: &str, field: &str, name: &str) -> &'a Value {
    changes
        .iter()
        .find(|c| c["ChangeCategory"] == category && c[field] == name)
        .unwrap_or_else(|| panic!("no {category} change of {name} in {changes:#?}"))
}

#[test]
fn edits_additions_removals_and_upgrades_are_reported_once_with_previous_values() {
    let f = Fixture::new();
    let first = f.scan();
    assert!(
        first
            .iter()
            .all(|r| r["Outcome"] == "collected" && r["Changes"] == 0 && r["Baseline"] == "first collection"),
        "{first:?}"
    );
    assert!(f.changes().is_empty(), "a baseline is not a flood of Added rows");

    // Same size, new content; a bigger file; a new file; a deleted file.
    let edit = f.env.write("root/data/edit.txt", "omega\n");
    set_mtime(&edit, 1_700_000_100);
    let grow = f.env.write("root/data/grow.txt", "a good deal longer\n");
    set_mtime(&grow, 1_700_000_200);
    f.env.write("root/data/new.txt", "fresh\n");
    std::fs::remove_file(f.env.path("root/data/gone.txt")).unwrap();
    // bash upgraded, curl removed.
    let status = [
        stanza("bash", "install ok installed", "5.2-1", "amd64"),
        stanza("zlib1g", "install ok installed", "1:1.2.13", "amd64"),
    ]
    .concat();
    f.env.write("root/var/lib/dpkg/status", status);

    let second = f.scan();
    let total: u64 = second.iter().map(|r| r["Changes"].as_u64().unwrap()).sum();
    assert_eq!(total, 6, "{second:?}");
    let changes = f.changes();
    assert_eq!(changes.len(), 6, "{changes:#?}");

    let edited = find(&changes, "Modified", "FileSystemPath", "/data/edit.txt");
    assert_eq!(edited["ConfigChangeType"], "Files");
    assert_eq!(edited["FieldsChanged"], "DateModified,FileContentChecksum");
    assert_eq!(edited["PreviousFileContentChecksum"], MD5_ALPHA);
    assert_eq!(edited["FileContentChecksum"], MD5_OMEGA);
    assert_eq!(edited["PreviousDateModified"], "2023-11-14T22:13:20.000000Z");
    assert_eq!(edited["DateModified"], "2023-11-14T22:15:00.000000Z");
    assert!(edited.get("PreviousSize").is_none(), "size did not change");

    let grown = find(&changes, "Modified", "FileSystemPath", "/data/grow.txt");
    assert_eq!(grown["FieldsChanged"], "Size,DateModified,FileContentChecksum");
    assert_eq!(
        (grown["PreviousSize"].as_i64(), grown["Size"].as_i64()),
        (Some(6), Some(19))
    );

    let added = find(&changes, "Added", "FileSystemPath", "/data/new.txt");
    assert_eq!(added["Size"], 6);
    assert_eq!(added["ItemName"], "data");
    let removed = find(&changes, "Removed", "FileSystemPath", "/data/gone.txt");
    assert_eq!(removed["Size"], 4);

    let upgraded = find(&changes, "Modified", "SoftwareName", "bash");
    assert_eq!(upgraded["ConfigChangeType"], "Software");
    assert_eq!(upgraded["FieldsChanged"], "CurrentVersion");
    assert_eq!(
        (upgraded["Previous"].as_str(), upgraded["Current"].as_str()),
        (Some("5.1-2"), Some("5.2-1"))
    );
    let uninstalled = find(&changes, "Removed", "SoftwareName", "curl");
    assert_eq!(uninstalled["Previous"], "7.88.1-10");
    assert!(uninstalled.get("Current").is_none());
    for change in &changes {
        assert_eq!(change["Computer"], "root");
        assert!(change["TimeGenerated"].as_str().unwrap().ends_with('Z'));
    }

    // Nothing changed since: nothing new.
    let third = f.scan();
    assert!(third.iter().all(|r| r["Changes"] == 0), "{third:?}");
    assert_eq!(f.changes().len(), 6);

    // Filters.
    let software = json_lines(&f.env.run(&["changes", "--json", "--type", "Software"]));
    assert_eq!(software.len(), 2);
    let removed = json_lines(&f.env.run(&["changes", "--json", "--category", "removed"]));
    assert_eq!(removed.len(), 2);
    let recent = json_lines(&f.env.run(&["changes", "--json", "--since", "1h"]));
    assert_eq!(recent.len(), 6);
    let future = json_lines(&f.env.run(&["changes", "--json", "--since", "2999-01-01"]));
    assert!(future.is_empty());
}

#[test]
fn manifest_changes_rebaseline_instead_of_reporting() {
    let f = Fixture::new();
    f.env.write("root/etc/app/app.conf", "x=1\n");
    f.scan();
    // Track one more path, stop tracking packages, switch the files checksum to sha256.
    let changed = MANIFEST
        .replace(r#"checksum = "md5""#, r#"checksum = "sha256""#)
        .replace(
            "[[collector]]\nname = \"dpkg\"",
            "[[collector]]\nenabled = false\nname = \"dpkg\"",
        )
        + "\n[[collector]]\nname = \"app\"\nkind = \"files\"\nplugin = \"files-posix\"\n  [[collector.paths]]\n  path = \"/etc/app/*.conf\"\n";
    std::fs::write(&f.manifest, changed).unwrap();
    let scan = f.scan();
    assert!(scan.iter().all(|r| r["Outcome"] != "failed"), "{scan:?}");
    assert!(f.changes().is_empty(), "re-baselined, not reported: {:#?}", f.changes());
    let inventory = json_lines(&f.env.run(&["inventory", "--json"]));
    assert!(
        inventory.iter().all(|r| r["ConfigDataType"] == "Files"),
        "packages no longer tracked"
    );
    assert!(inventory.iter().any(|r| r["FileSystemPath"] == "/etc/app/app.conf"));
    let data: Vec<_> = inventory.iter().filter(|r| r["Collector"] == "data").collect();
    assert!(!data.is_empty(), "{inventory:?}");
    assert!(
        data.iter()
            .all(|r| r["FileContentChecksum"].as_str().unwrap().len() == 64),
        "{data:?}"
    );

    // Under the new settings, changes are reported again.
    f.env.write("root/etc/app/app.conf", "x=2\n");
    f.scan();
    let changes = f.changes();
    assert_eq!(changes.len(), 1, "{changes:#?}");
    assert_eq!(changes[0]["FileSystemPath"], "/etc/app/app.conf");
}

#[test]
fn failed_collections_never_remove() {
    let f = Fixture::new();
    f.scan();
    f.env.write("root/var/lib/dpkg/status", "not a status file\n");
    let out = f
        .env
        .run(&["--manifest", &f.manifest, "--root", &f.root, "scan", "--json"]);
    assert_eq!(exit_code(&out), 3);
    assert!(f.changes().is_empty());
    let status = json_lines(
        &f.env
            .run(&["--manifest", &f.manifest, "--root", &f.root, "status", "--json"]),
    );
    let dpkg = status.iter().find(|s| s["Collector"] == "dpkg").unwrap();
    assert_eq!(dpkg["Outcome"], "Failed");
    assert_eq!(dpkg["Items"], 3);
    assert!(
        dpkg["Error"].as_str().unwrap().contains("not a dpkg status file"),
        "{dpkg}"
    );
}

#[test]
fn runs_record_what_they_looked_at() {
    let f = Fixture::new();
    let scopes = |scan: &[Value]| -> Vec<(String, String)> {
        scan.iter()
            .map(|r| {
                (
                    r["Collector"].as_str().unwrap().into(),
                    r["Scope"].as_str().unwrap().into(),
                )
            })
            .collect()
    };
    // Files are read whole the first time, then only where their stat moved;
    // a package database is always read whole.
    let full = [("dpkg".to_string(), "full".to_string()), ("data".into(), "full".into())];
    let incremental = [
        ("dpkg".to_string(), "full".to_string()),
        ("data".into(), "incremental".into()),
    ];
    assert_eq!(scopes(&f.scan()), full);
    assert_eq!(scopes(&f.scan()), incremental);
    let out = f
        .env
        .run(&["--manifest", &f.manifest, "--root", &f.root, "scan", "--json", "--full"]);
    assert_eq!(scopes(&json_lines(&out)), full);

    // The store keeps each run's scope: `runs` lists them newest first, and
    // `status` shows the last one's.
    let runs = json_lines(&f.env.run(&["runs", "--collector", "data", "--json"]));
    let listed: Vec<&str> = runs.iter().map(|r| r["Scope"].as_str().unwrap()).collect();
    assert_eq!(listed, ["full", "incremental", "full"]);
    assert!(
        runs.iter().all(|r| r["Outcome"] == "Succeeded" && r["ItemCount"] == 4),
        "{runs:#?}"
    );
    let status = json_lines(&f.env.run(&["--manifest", &f.manifest, "status", "--json"]));
    let data = status.iter().find(|s| s["Collector"] == "data").unwrap();
    assert_eq!(
        (data["Scope"].as_str(), data["Items"].as_u64()),
        (Some("full"), Some(4))
    );
    assert_eq!(data["LastFull"], data["LastRun"]);
}
