use std::collections::BTreeMap;
use std::sync::Arc;

use super::*;

/// A registry in memory: key path (upper case) → key.
struct FakeRegistry(BTreeMap<String, RawKey>);

impl Backend for FakeRegistry {
    fn read(&self, path: &str, view: View) -> Result<RawKey, BackendError> {
        let path = match view {
            View::Native => path.to_uppercase(),
            View::Wow64 => path.to_uppercase().replacen("\\SOFTWARE", "\\SOFTWARE\\WOW6432NODE", 1),
        };
        if path.ends_with("LOCKED") {
            return Err(BackendError::Denied("access is denied".into()));
        }
        self.0.get(&path).cloned().ok_or(BackendError::NotFound)
    }
}

fn registry() -> LiveRegistry {
    let mut keys = BTreeMap::new();
    let mut add = |path: &str, subkeys: &[&str], value: &str| {
        keys.insert(
            path.to_uppercase(),
            RawKey {
                last_write: Some(132_223_104_000_000_000),
                subkeys: subkeys.iter().map(|s| s.to_string()).collect(),
                values: vec![RawValue {
                    name: "v".into(),
                    value_type: 1,
                    data: value.encode_utf16().flat_map(u16::to_le_bytes).collect(),
                }],
            },
        );
    };
    add("HKEY_LOCAL_MACHINE\\SOFTWARE\\Run", &["A", "B"], "run");
    add("HKEY_LOCAL_MACHINE\\SOFTWARE\\Run\\A", &["Deep"], "a");
    add("HKEY_LOCAL_MACHINE\\SOFTWARE\\Run\\A\\Deep", &[], "deep");
    add("HKEY_LOCAL_MACHINE\\SOFTWARE\\Run\\B", &[], "b");
    add("HKEY_LOCAL_MACHINE\\SOFTWARE\\WOW6432Node\\Run", &[], "run32");
    add("HKEY_USERS", &["S-1", "S-2"], "users");
    add("HKEY_USERS\\S-1\\Uninstall", &["Locked"], "u1");
    LiveRegistry::Available(Arc::new(FakeRegistry(keys)))
}

fn paths(keys: &[Key]) -> Vec<&str> {
    keys.iter().map(|k| k.path.as_str()).collect()
}

#[test]
fn reads_a_key_and_its_subtree_depth_first() {
    let grants = RegistryGrants::new(["HKLM\\SOFTWARE"]);
    let live = registry();
    let one = live
        .read_key(&grants, "hklm\\software\\run", View::Native, 0, 100)
        .unwrap();
    assert_eq!(paths(&one), ["HKEY_LOCAL_MACHINE\\software\\run"]);
    assert_eq!(one[0].subkeys, ["A", "B"]);
    assert_eq!(one[0].values[0].name, "v");
    assert_eq!(one[0].last_write.map(|t| t.seconds), Some(1_577_836_800));

    let all = live
        .read_key(&grants, "HKLM\\SOFTWARE\\Run", View::Native, 5, 100)
        .unwrap();
    assert_eq!(
        paths(&all),
        [
            "HKEY_LOCAL_MACHINE\\SOFTWARE\\Run",
            "HKEY_LOCAL_MACHINE\\SOFTWARE\\Run\\A",
            "HKEY_LOCAL_MACHINE\\SOFTWARE\\Run\\A\\Deep",
            "HKEY_LOCAL_MACHINE\\SOFTWARE\\Run\\B",
        ]
    );
    let capped = live
        .read_key(&grants, "HKLM\\SOFTWARE\\Run", View::Native, 5, 2)
        .unwrap();
    assert_eq!(capped.len(), 2);
    let shallow = live
        .read_key(&grants, "HKLM\\SOFTWARE\\Run", View::Native, 1, 100)
        .unwrap();
    assert_eq!(shallow.len(), 3);
}

#[test]
fn the_32_bit_view_is_passed_on() {
    let grants = RegistryGrants::new(["HKLM\\SOFTWARE\\Run"]);
    let keys = registry()
        .read_key(&grants, "HKLM\\SOFTWARE\\Run", View::Wow64, 0, 1)
        .unwrap();
    assert_eq!(keys[0].values[0].data[0], b'r');
    assert_eq!(keys[0].values[0].data.len(), "run32".len() * 2);
}

#[test]
fn grants_are_enforced() {
    let grants = RegistryGrants::new(["HKU\\*\\Uninstall"]);
    let live = registry();
    let denied = live
        .read_key(&grants, "HKLM\\SOFTWARE\\Run", View::Native, 0, 1)
        .unwrap_err();
    assert!(matches!(denied, RegistryError::Denied(m) if m.contains("outside the collector's registry grants")));
    // Above a `*`: the names, not the values.
    let users = live.read_key(&grants, "HKEY_USERS", View::Native, 0, 1).unwrap();
    assert_eq!(users[0].subkeys, ["S-1", "S-2"]);
    assert!(users[0].values.is_empty());
    // `HKEY_USERS\S-1` itself is not granted, so recursion stops above it...
    let below = live.read_key(&grants, "HKEY_USERS", View::Native, 3, 100).unwrap();
    assert_eq!(paths(&below), ["HKEY_USERS"]);
    // ...and the granted key is read directly, leaving out a subkey Windows refuses.
    let uninstall = live
        .read_key(&grants, "HKU\\S-1\\Uninstall", View::Native, 1, 100)
        .unwrap();
    assert_eq!(paths(&uninstall), ["HKEY_USERS\\S-1\\Uninstall"]);
    assert_eq!(uninstall[0].subkeys, ["Locked"]);
}

#[test]
fn missing_and_unavailable_are_told_apart() {
    let grants = RegistryGrants::new(["HKLM"]);
    let missing = registry()
        .read_key(&grants, "HKLM\\Nope", View::Native, 0, 1)
        .unwrap_err();
    assert!(matches!(missing, RegistryError::NotFound(m) if m.contains("HKEY_LOCAL_MACHINE\\Nope")));
    let offline = LiveRegistry::for_machine(false);
    let err = offline.read_key(&grants, "HKLM", View::Native, 0, 1).unwrap_err();
    assert!(matches!(err, RegistryError::Unavailable(m) if m.contains("offline image")));
    let bad = registry()
        .read_key(&grants, "SOFTWARE", View::Native, 0, 1)
        .unwrap_err();
    assert!(matches!(bad, RegistryError::NotFound(m) if m.contains("root key")));
}
