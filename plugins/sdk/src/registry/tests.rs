//! The offline source on images built by the tests.

use std::path::Path;

use regf::writer::{KeySpec, Options, write};

use super::*;

fn system_hive() -> Vec<u8> {
    let services = |set: &str| {
        KeySpec::new(set).key(
            KeySpec::new("Services").key(
                KeySpec::new("Dhcp")
                    .dword("Start", if set == "ControlSet002" { 3 } else { 2 })
                    .sz("DisplayName", "DHCP Client"),
            ),
        )
    };
    write(
        &KeySpec::new("ROOT")
            .key(KeySpec::new("Select").dword("Current", 2))
            .key(services("ControlSet001"))
            .key(services("ControlSet002")),
        Options::default(),
    )
}

fn software_hive() -> Vec<u8> {
    let run = |value: &str| KeySpec::new("Run").sz("tool", value);
    write(
        &KeySpec::new("ROOT")
            .key(KeySpec::new("Microsoft").key(KeySpec::new("Windows").key(run("64-bit"))))
            .key(
                KeySpec::new("WOW6432Node")
                    .key(KeySpec::new("Microsoft").key(KeySpec::new("Windows").key(run("32-bit")))),
            ),
        Options::default(),
    )
}

/// An image with its folders in unusual letter case, as NTFS copies have them.
fn image() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("WINDOWS/system32/CONFIG");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("system"), system_hive()).unwrap();
    std::fs::write(config.join("SOFTWARE"), software_hive()).unwrap();
    for user in ["alice", "Default", "Public"] {
        let profile = dir.path().join("Users").join(user);
        std::fs::create_dir_all(&profile).unwrap();
        if user != "Public" {
            let hive = KeySpec::new("ROOT").key(KeySpec::new("Software").key(KeySpec::new("App").sz("v", user)));
            std::fs::write(profile.join("NTUSER.DAT"), write(&hive, Options::default())).unwrap();
        }
    }
    dir
}

fn open(dir: &Path) -> Registry {
    Registry::offline(dir)
}

#[test]
fn current_control_set_follows_select() {
    let dir = image();
    let registry = open(dir.path());
    let dhcp = registry
        .key(r"HKLM\SYSTEM\CurrentControlSet\Services\Dhcp")
        .unwrap()
        .unwrap();
    assert_eq!(
        dhcp.path(),
        r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\Dhcp"
    );
    assert_eq!(dhcp.number("Start").unwrap(), Some(3), "ControlSet002 is current");
    assert_eq!(dhcp.string("displayname").unwrap().as_deref(), Some("DHCP Client"));
    assert_eq!(dhcp.last_write().map(|t| t.seconds), Some(1_577_836_800));
    let first = registry
        .key(r"HKLM\SYSTEM\ControlSet001\Services\Dhcp")
        .unwrap()
        .unwrap();
    assert_eq!(first.number("Start").unwrap(), Some(2));
}

#[test]
fn keys_list_and_descend() {
    let dir = image();
    let registry = open(dir.path());
    let services = registry
        .key(r"HKLM\SYSTEM\CurrentControlSet\Services")
        .unwrap()
        .unwrap();
    let subkeys = services.subkeys().unwrap();
    assert_eq!(subkeys.len(), 1);
    assert_eq!(
        subkeys[0].path(),
        r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\Dhcp"
    );
    assert_eq!(services.subkey("DHCP").unwrap().unwrap().name(), "Dhcp");
    assert!(services.subkey("nope").unwrap().is_none());
    let machine = registry.key("HKEY_LOCAL_MACHINE").unwrap().unwrap();
    assert_eq!(machine.subkey_names().unwrap(), ["SOFTWARE", "SYSTEM"]);
    assert!(
        registry.key(r"HKLM\HARDWARE").unwrap().is_none(),
        "volatile keys are not in images"
    );
    assert!(
        registry.key(r"HKLM\SAM\SAM").unwrap().is_none(),
        "no SAM hive in this image"
    );
}

#[test]
fn the_32_bit_view_reads_wow6432node() {
    let dir = image();
    let registry = open(dir.path());
    let run = r"HKLM\SOFTWARE\Microsoft\Windows\Run";
    let native = registry.key(run).unwrap().unwrap();
    assert_eq!(native.string("tool").unwrap().as_deref(), Some("64-bit"));
    let wow = registry.key_in_view(run, View::Wow64).unwrap().unwrap();
    assert_eq!(wow.string("tool").unwrap().as_deref(), Some("32-bit"));
    assert_eq!(wow.path(), r"HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\Run");
}

#[test]
fn users_are_profiles_with_a_hive() {
    let dir = image();
    let registry = open(dir.path());
    assert_eq!(registry.users().unwrap(), ["alice"]);
    let app = registry.key(r"HKU\alice\Software\App").unwrap().unwrap();
    assert_eq!(app.string("v").unwrap().as_deref(), Some("alice"));
    assert!(registry.key(r"HKU\bob\Software").unwrap().is_none());
    let err = registry.key(r"HKCU\Software").err().unwrap();
    assert!(err.to_string().contains("no current user"), "{err}");
    assert!(registry.key(r"Software\X").is_err());
}

#[test]
fn a_damaged_hive_is_an_error_and_a_missing_one_is_absent() {
    let dir = image();
    std::fs::write(
        dir.path().join("WINDOWS/system32/CONFIG/SOFTWARE"),
        b"regf but not really",
    )
    .unwrap();
    let registry = open(dir.path());
    let err = registry.key(r"HKLM\SOFTWARE\Microsoft").err().unwrap();
    assert!(
        matches!(&err, RegistryError::Damaged(m) if m.contains("the SOFTWARE hive")),
        "{err:?}"
    );
    let empty = tempfile::tempdir().unwrap();
    assert!(open(empty.path()).key(r"HKLM\SYSTEM\Select").unwrap().is_none());
    assert!(open(empty.path()).users().unwrap().is_empty());
}

#[test]
fn values_render_alike_from_any_source() {
    let value = Value {
        name: "x".into(),
        value_type: 7,
        data: regf::writer::utf16z("a").into_iter().chain([0, 0]).collect(),
    };
    assert_eq!(value.render(), r#"["a"]"#);
    assert_eq!(value.type_name(), "REG_MULTI_SZ");
    assert_eq!(value.as_string(), None);
    let dword = Value {
        name: "d".into(),
        value_type: 4,
        data: vec![5, 0, 0, 0],
    };
    assert_eq!(dword.as_number(), Some(5));
}
