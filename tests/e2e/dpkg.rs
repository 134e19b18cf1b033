//! `scan` then `inventory` with the bundled dpkg collector on a fixture root.

use crate::support::*;

#[test]
fn scan_then_inventory_json_on_a_fixture_root() {
    let env = Env::new();
    let status = [
        stanza("bash", "install ok installed", "5.2.15-2+b7", "amd64"),
        stanza("libc6", "install ok installed", "2.36-9+deb12u10", "amd64"),
        stanza("libc6", "install ok installed", "2.36-9+deb12u10", "i386"),
        stanza("oldthing", "deinstall ok config-files", "1.0-1", "amd64"),
        stanza("halfway", "install reinstreq half-installed", "0.9", "all"),
    ]
    .concat();
    env.write("root/var/lib/dpkg/status", status);
    env.write("root/etc/hostname", "fixture-host\n");

    let scan = env.run(&["--root", env.path("root").to_str().unwrap(), "scan"]);
    assert_eq!(exit_code(&scan), 0, "{}{}", stdout(&scan), stderr(&scan));
    assert!(stdout(&scan).contains("collected"), "{}", stdout(&scan));

    let inventory = env.run(&["inventory", "--type", "Software", "--json"]);
    assert_eq!(exit_code(&inventory), 0, "{}", stderr(&inventory));
    let rows = json_lines(&inventory);
    let seen: Vec<(String, String, String, String)> = rows
        .iter()
        .map(|r| {
            assert_eq!(r["ConfigDataType"], "Software");
            assert_eq!(r["Computer"], "fixture-host");
            assert_eq!(r["SoftwareType"], "Package");
            assert_eq!(r["Publisher"], "Test Maintainer <test@example.org>");
            assert!(r["TimeGenerated"].as_str().unwrap().ends_with('Z'));
            let s = |k: &str| r[k].as_str().unwrap().to_string();
            (
                s("SoftwareName"),
                s("CurrentVersion"),
                s("Architecture"),
                s("InstallState"),
            )
        })
        .collect();
    let expected = [
        ("bash", "5.2.15-2+b7", "amd64", "installed"),
        ("halfway", "0.9", "all", "half-installed (reinstall required)"),
        ("libc6", "2.36-9+deb12u10", "amd64", "installed"),
        ("libc6", "2.36-9+deb12u10", "i386", "installed"),
    ];
    let expected: Vec<_> = expected
        .iter()
        .map(|(a, b, c, d)| (a.to_string(), b.to_string(), c.to_string(), d.to_string()))
        .collect();
    assert_eq!(seen, expected);
    assert_eq!(rows[0]["SoftwareDescription"], "the bash package");
}

#[test]
fn a_root_without_dpkg_skips_the_collector() {
    let env = Env::new();
    std::fs::create_dir_all(env.path("root/etc")).unwrap();
    let scan = env.run(&["--root", env.path("root").to_str().unwrap(), "scan", "--json"]);
    assert_eq!(exit_code(&scan), 0, "{}", stderr(&scan));
    let reports = json_lines(&scan);
    let dpkg = reports
        .iter()
        .find(|r| r["Collector"] == "dpkg")
        .expect("dpkg reported");
    assert_eq!(dpkg["Outcome"], "skipped");
    assert!(dpkg["Reason"].as_str().unwrap().contains("no dpkg database"), "{dpkg}");
}

#[test]
fn garbage_status_file_fails_the_collector_cleanly() {
    let env = Env::new();
    env.write(
        "root/var/lib/dpkg/status",
        b"\x7fELF\x02\x01\x01\x00 not a status file at all\n\x00\x00\n",
    );
    let scan = env.run(&["--root", env.path("root").to_str().unwrap(), "scan", "--json"]);
    assert_eq!(exit_code(&scan), 3, "{}", stderr(&scan));
    let reports = json_lines(&scan);
    let error = reports[0]["Error"].as_str().unwrap();
    assert!(error.contains("is not a dpkg status file (line 1"), "{error}");
}

#[test]
fn a_failed_collection_leaves_the_previous_inventory_alone() {
    let env = Env::new();
    let root = env.path("root");
    let root = root.to_str().unwrap();
    env.write(
        "root/var/lib/dpkg/status",
        stanza("bash", "install ok installed", "5.2", "amd64"),
    );
    assert_eq!(exit_code(&env.run(&["--root", root, "scan"])), 0);
    env.write("root/var/lib/dpkg/status", "complete nonsense\n");
    assert_eq!(exit_code(&env.run(&["--root", root, "scan"])), 3);
    let rows = json_lines(&env.run(&["inventory", "--json"]));
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["SoftwareName"], "bash");
}

/// A manifest entry that lists no grants reads what its plugin declares;
/// one that lists grants reads those instead; `plugins` says which.
#[test]
fn an_entry_without_grants_gets_what_its_plugin_declares() {
    let env = Env::new();
    env.write(
        "root/var/lib/dpkg/status",
        stanza("bash", "install ok installed", "5.2.15-2+b7", "amd64"),
    );
    let root = env.path("root");
    let root = root.to_str().unwrap();
    // A manifest of one dpkg collector, `extra` added to its entry; and that
    // collector's line of `plugins --json`.
    let manifest = |file: &str, extra: &str| {
        let entry = format!("[[collector]]\nname = \"mine\"\nkind = \"packages\"\nplugin = \"packages-dpkg\"\n{extra}");
        env.write(file, entry).to_str().unwrap().to_string()
    };
    let listed = |manifest: &str| {
        let plugins = json_lines(&env.run(&["--manifest", manifest, "--root", root, "plugins", "--json"]));
        let mine = plugins.into_iter().find(|p| p["Collector"] == "mine");
        mine.expect("the collector is listed")
    };

    let declared = manifest("declared.toml", "");
    let mine = listed(&declared);
    assert_eq!(mine["Granted"], serde_json::json!(["/var/lib/dpkg"]), "{mine:#}");
    assert_eq!(mine["GrantedBy"], "plugin", "{mine:#}");
    assert_eq!(mine["Active"], true, "{mine:#}");
    let scan = env.run(&["--manifest", &declared, "--root", root, "scan"]);
    assert_eq!(exit_code(&scan), 0, "{}{}", stdout(&scan), stderr(&scan));
    let rows = json_lines(&env.run(&["inventory", "--json"]));
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0]["SoftwareName"], "bash");

    // Its own grants replace the plugin's: here, nothing of dpkg's.
    let narrowed = manifest("narrowed.toml", "grants = [\"/etc\"]\n");
    let mine = listed(&narrowed);
    assert_eq!(mine["Granted"], serde_json::json!(["/etc"]), "{mine:#}");
    assert_eq!(mine["GrantedBy"], "manifest", "{mine:#}");
    assert_eq!(mine["Active"], false, "{mine:#}");
    let text = stdout(&env.run(&["--manifest", &narrowed, "--root", root, "plugins"]));
    assert!(text.contains("manifest: /etc"), "{text}");
}
