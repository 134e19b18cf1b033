//! The collector on an offline image built by the tests.

use regf::writer::{KeySpec, Options, write};

use super::*;

fn image() -> tempfile::TempDir {
    let run = KeySpec::new("Run")
        .sz("Updater", "C:\\u.exe")
        .expand_sz("Tray", "%ProgramFiles%\\t.exe");
    let software = KeySpec::new("ROOT").key(
        KeySpec::new("Microsoft").key(
            KeySpec::new("Windows").key(
                KeySpec::new("CurrentVersion").key(run).key(
                    KeySpec::new("Deep").dword("level", 0).key(
                        KeySpec::new("A")
                            .dword("level", 1)
                            .key(KeySpec::new("B").dword("level", 2)),
                    ),
                ),
            ),
        ),
    );
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("Windows/System32/config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("SOFTWARE"), write(&software, Options::default())).unwrap();
    dir
}

fn rule(key: &str, value: Option<&str>, recurse: bool, max_depth: u32) -> KeyRule {
    KeyRule {
        name: key.into(),
        group_tag: String::new(),
        key: key.into(),
        value_name: value.map(String::from),
        recurse,
        max_depth,
    }
}

fn keys_and_names(values: &[RegistryValue]) -> Vec<(String, String, String)> {
    values
        .iter()
        .map(|v| {
            (
                v.key.clone(),
                v.value_name.clone(),
                format!("{} {}", v.value_type, v.value_data),
            )
        })
        .collect()
}

const CV: &str = r"HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion";

#[test]
fn all_values_or_one() {
    let dir = image();
    let registry = Registry::offline(dir.path());
    let all = collect_from(&registry, &[rule(&format!("{CV}\\Run"), None, false, 0)]);
    assert_eq!(
        keys_and_names(&all),
        [
            (format!("{CV}\\Run"), "Updater".into(), "REG_SZ C:\\u.exe".into()),
            (
                format!("{CV}\\Run"),
                "Tray".into(),
                "REG_EXPAND_SZ %ProgramFiles%\\t.exe".into()
            ),
        ]
    );
    assert_eq!(all[0].last_write.map(|t| t.seconds), Some(1_577_836_800));
    let one = collect_from(&registry, &[rule(&format!("{CV}\\Run"), Some("tray"), false, 0)]);
    assert_eq!(one.len(), 1);
}

#[test]
fn recursion_goes_as_deep_as_asked() {
    let dir = image();
    let registry = Registry::offline(dir.path());
    let deep = format!("{CV}\\Deep");
    assert_eq!(collect_from(&registry, &[rule(&deep, None, false, 0)]).len(), 1);
    assert_eq!(collect_from(&registry, &[rule(&deep, None, true, 1)]).len(), 2);
    let all = collect_from(&registry, &[rule(&deep, None, true, 0)]);
    assert_eq!(all.len(), 3);
    assert_eq!(all[2].key, format!("{deep}\\A\\B"));
    // Overlapping rules report each value once.
    let twice = collect_from(
        &registry,
        &[rule(&deep, None, true, 0), rule(&format!("{deep}\\A"), None, true, 0)],
    );
    assert_eq!(twice.len(), 3);
}

#[test]
fn a_missing_key_has_no_values_and_a_missing_hive_too() {
    let dir = image();
    let registry = Registry::offline(dir.path());
    assert!(collect_from(&registry, &[rule(&format!("{CV}\\Nope"), None, true, 0)]).is_empty());
    assert!(collect_from(&registry, &[rule(r"HKLM\SYSTEM\Select", None, false, 0)]).is_empty());
}
