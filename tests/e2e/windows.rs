//! The Windows collectors on an offline image built by the tests (see
//! `tests/fixtures/windows.rs`).

use serde_json::Value;

use crate::fixtures::windows::{IMAGE_NAME, image, software_hive, system_hive};
use crate::support::*;

fn scan(env: &Env, extra: &[&str]) -> (i32, Vec<Value>) {
    let root = env.path("root");
    let mut args = vec!["--root", root.to_str().unwrap()];
    args.extend(extra);
    args.extend(["scan", "--json"]);
    let out = env.run(&args);
    (exit_code(&out), json_lines(&out))
}

fn report<'a>(reports: &'a [Value], collector: &str) -> &'a Value {
    reports
        .iter()
        .find(|r| r["Collector"] == collector)
        .unwrap_or_else(|| panic!("no {collector}"))
}

fn inventory(env: &Env, data_type: &str) -> Vec<Value> {
    json_lines(&env.run(&["inventory", "--type", data_type, "--json"]))
}

fn field<'a>(rows: &'a [Value], key: &str, name: &str, column: &str) -> &'a str {
    rows.iter()
        .find(|r| r[key] == name)
        .and_then(|r| r[column].as_str())
        .unwrap_or_else(|| panic!("no {name} in {rows:?}"))
}

#[test]
fn a_windows_image_runs_the_windows_collectors_only() {
    let env = Env::new();
    image(&env.path("root"));
    let (code, reports) = scan(&env, &[]);
    assert_eq!(code, 0, "{reports:?}");
    for linux in ["dpkg", "rpm", "apk", "pacman", "systemd", "sysv", "etc-files"] {
        assert_eq!(report(&reports, linux)["Outcome"], "skipped", "{linux}");
    }
    for windows in [
        "windows-software",
        "windows-services",
        "windows-files",
        "windows-registry",
    ] {
        assert_eq!(
            report(&reports, windows)["Outcome"],
            "collected",
            "{windows}: {reports:?}"
        );
    }

    let services = inventory(&env, "WindowsServices");
    assert_eq!(services.len(), 3, "drivers are left out: {services:?}");
    assert!(
        services.iter().all(|s| s["Computer"] == IMAGE_NAME),
        "the image is named by its registry's ComputerName, not its folder: {services:?}"
    );
    assert_eq!(field(&services, "SvcName", "Dhcp", "SvcStartupType"), "Automatic");
    assert_eq!(
        field(&services, "SvcName", "BITS", "SvcStartupType"),
        "Automatic (Delayed Start)"
    );
    assert_eq!(field(&services, "SvcName", "Spooler", "SvcStartupType"), "Manual");
    assert_eq!(field(&services, "SvcName", "Dhcp", "SvcState"), "Unknown");
    assert_eq!(
        field(&services, "SvcName", "Dhcp", "SvcAccount"),
        r"NT Authority\LocalService"
    );

    let software = inventory(&env, "Software");
    let names: Vec<&str> = software.iter().map(|r| r["SoftwareName"].as_str().unwrap()).collect();
    assert_eq!(names, ["7-Zip 22.01 (x64)", "Notepad++", "Zoom"]);
    assert_eq!(
        field(&software, "SoftwareName", "7-Zip 22.01 (x64)", "Architecture"),
        "x64"
    );
    assert_eq!(field(&software, "SoftwareName", "Notepad++", "Architecture"), "x86");
    assert_eq!(field(&software, "SoftwareName", "Zoom", "CurrentVersion"), "5.9.3");

    // %SystemRoot% came from the image's SOFTWARE hive; the folders' case from its disk.
    let files = inventory(&env, "Files");
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(files[0]["FileSystemPath"], r"C:\WINDOWS\System32\drivers\etc\hosts");
    assert_eq!(files[0]["FileContentChecksum"], md5_hex(b"127.0.0.1 localhost\r\n"));

    let plugins = json_lines(&env.run(&["--root", env.path("root").to_str().unwrap(), "plugins", "--json"]));
    let active = |collector: &str| {
        plugins
            .iter()
            .find(|p| p["Collector"] == collector)
            .map(|p| p["Active"].clone())
            .unwrap()
    };
    assert_eq!(active("windows-services"), true);
    assert_eq!(active("dpkg"), false);
}

#[test]
fn registry_values_are_tracked_and_their_changes_recorded() {
    let env = Env::new();
    image(&env.path("root"));
    let manifest = env.write(
        "registry.toml",
        "[[collector]]\nname = \"run-keys\"\nkind = \"registry\"\nplugin = \"registry-windows\"\n\
         [[collector.keys]]\nkey = 'HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion'\nrecurse = true\nmax_depth = 1\n",
    );
    let manifest = manifest.to_str().unwrap();
    let (code, _) = scan(&env, &["--manifest", manifest]);
    assert_eq!(code, 0);
    let values = inventory(&env, "Registry");
    assert_eq!(values.len(), 1, "{values:?}");
    assert_eq!(
        values[0]["RegistryKey"],
        r"HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion\Run"
    );
    assert_eq!(
        (values[0]["ValueName"].as_str(), values[0]["ValueType"].as_str()),
        (Some("Updater"), Some("REG_SZ"))
    );

    env.write(
        "root/WINDOWS/system32/config/software",
        software_hive(&[("Updater", r"C:\evil.exe"), ("Tray", r"C:\t.exe")]),
    );
    let (code, reports) = scan(&env, &["--manifest", manifest]);
    assert_eq!(code, 0);
    assert_eq!(report(&reports, "run-keys")["Changes"], 2);
    let changes = json_lines(&env.run(&["changes", "--json"]));
    let modified = changes.iter().find(|c| c["ChangeCategory"] == "Modified").unwrap();
    assert_eq!(modified["ValueData"], r"C:\evil.exe");
    assert_eq!(modified["PreviousValueData"], r"C:\u.exe");
    assert_eq!(modified["FieldsChanged"], "ValueData");
    assert!(
        changes
            .iter()
            .any(|c| c["ChangeCategory"] == "Added" && c["ValueName"] == "Tray")
    );
}

#[test]
fn a_damaged_hive_fails_its_collector_and_loses_nothing() {
    let env = Env::new();
    image(&env.path("root"));
    assert_eq!(scan(&env, &[]).0, 0);
    let mut broken = system_hive(3);
    broken.truncate(4096 + 64);
    env.write("root/WINDOWS/system32/config/SYSTEM", broken);
    let (code, reports) = scan(&env, &[]);
    assert_eq!(code, 3, "a collector failed: {reports:?}");
    let services = report(&reports, "windows-services");
    assert_eq!(services["Outcome"], "failed");
    let error = services["Error"].as_str().unwrap();
    assert!(error.contains("SYSTEM hive"), "{error}");
    assert_eq!(report(&reports, "windows-software")["Outcome"], "collected");
    // The last good inventory stays, and no removals were invented.
    assert_eq!(inventory(&env, "WindowsServices").len(), 3);
    let changes = json_lines(&env.run(&["changes", "--json"]));
    assert!(changes.is_empty(), "{changes:?}");
}
