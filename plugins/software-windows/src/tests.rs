//! The collector on an offline image built by the tests.

use regf::writer::{KeySpec, Options, write};

use super::*;

fn uninstall(entries: Vec<KeySpec>) -> KeySpec {
    let mut key = KeySpec::new("Uninstall");
    key.subkeys = entries;
    KeySpec::new("Microsoft").key(KeySpec::new("Windows").key(KeySpec::new("CurrentVersion").key(key)))
}

fn image() -> tempfile::TempDir {
    let software = KeySpec::new("ROOT")
        .key(uninstall(vec![
            KeySpec::new("7-Zip")
                .sz("DisplayName", "7-Zip 22.01 (x64)")
                .sz("DisplayVersion", "22.01")
                .sz("Publisher", "Igor Pavlov")
                .sz("InstallDate", "20230115"),
            KeySpec::new("{A}")
                .sz("DisplayName", "Hidden component")
                .dword("SystemComponent", 1),
            KeySpec::new("{B}").sz("DisplayVersion", "1.0"),
            KeySpec::new("KB123")
                .sz("DisplayName", "Security Update for Thing (KB123)")
                .sz("ParentKeyName", "Thing")
                .sz("InstallDate", "not a date"),
        ]))
        .key(KeySpec::new("WOW6432Node").key(uninstall(vec![
            KeySpec::new("Notepad++").sz("DisplayName", "Notepad++ (32-bit x86)").sz("DisplayVersion", "8.4"),
        ])));
    let user = KeySpec::new("ROOT").key(KeySpec::new("Software").key(uninstall(vec![
        KeySpec::new("ZoomUMX")
            .sz("DisplayName", "Zoom")
            .sz("DisplayVersion", "5.9.3 (3169)")
            .sz("Publisher", "Zoom Video Communications, Inc."),
    ])));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("Windows/System32/config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("SOFTWARE"), write(&software, Options::default())).unwrap();
    let profile = dir.path().join("Users/alice");
    std::fs::create_dir_all(&profile).unwrap();
    std::fs::write(profile.join("NTUSER.DAT"), write(&user, Options::default())).unwrap();
    dir
}

#[test]
fn programs_of_the_machine_both_views_and_users() {
    let dir = image();
    let packages = collect_from(&Registry::offline(dir.path()));
    let summary: Vec<(&str, &str, &str, SoftwareType)> = packages
        .iter()
        .map(|p| {
            (
                p.name.as_str(),
                p.version.as_str(),
                p.architecture.as_str(),
                p.software_type,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("7-Zip 22.01 (x64)", "22.01", "x64", SoftwareType::Application),
            ("Security Update for Thing (KB123)", "", "x64", SoftwareType::Update),
            ("Notepad++ (32-bit x86)", "8.4", "x86", SoftwareType::Application),
            ("Zoom", "5.9.3 (3169)", "", SoftwareType::Application),
        ]
    );
    assert_eq!(packages[0].publisher, "Igor Pavlov");
    assert_eq!(packages[0].install_date.map(|t| t.seconds), Some(1_673_740_800));
    assert!(packages[1].install_date.is_none());
}

#[test]
fn a_32_bit_windows_has_x86_programs() {
    let dir = tempfile::tempdir().unwrap();
    let software = KeySpec::new("ROOT").key(uninstall(vec![KeySpec::new("App").sz("DisplayName", "App")]));
    let config = dir.path().join("Windows/System32/config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("SOFTWARE"), write(&software, Options::default())).unwrap();
    let packages = collect_from(&Registry::offline(dir.path()));
    assert_eq!(packages[0].architecture, "x86");
}

#[test]
fn install_dates_are_read_or_left_out() {
    assert_eq!(
        uninstall::install_date("19700101").map(|t| t.seconds),
        None,
        "before 1980: a placeholder"
    );
    assert_eq!(
        uninstall::install_date("20000229").map(|t| t.seconds),
        Some(951_782_400)
    );
    assert!(uninstall::install_date("2023-01-15").is_none());
    assert!(uninstall::install_date("20231301").is_none());
}
