//! The reader against hives written by `writer`, in every layout, and
//! against damaged ones.

use crate::writer::{KeySpec, ListKind, Options, utf16z, write};
use crate::{Hive, Key, RegfError};

fn sample() -> KeySpec {
    KeySpec::new("ROOT")
        .key(
            KeySpec::new("Select")
                .dword("Current", 1)
                .dword("Default", 1)
                .dword("LastKnownGood", 2),
        )
        .key(
            KeySpec::new("ControlSet001").key(
                KeySpec::new("Services")
                    .key(
                        KeySpec::new("Dhcp")
                            .dword("Type", 0x20)
                            .dword("Start", 2)
                            .expand_sz("ImagePath", "%SystemRoot%\\system32\\svchost.exe -k LocalService")
                            .sz("DisplayName", "DHCP Client")
                            .multi_sz("DependOnService", &["NSI", "Tdx"]),
                    )
                    .key(KeySpec::new("Ünïcode ключ").sz("", "default value"))
                    .key(KeySpec::new("Empty")),
            ),
        )
        .key(
            KeySpec::new("Data")
                .binary("Big", &(0..40_000u32).map(|i| (i % 251) as u8).collect::<Vec<_>>())
                .binary("Medium", &[0xab; 100])
                .qword("Q", 1 << 40)
                .value("Short", 3, vec![1, 2])
                .value("Odd", 0x4000_0000, vec![9]),
        )
}

fn open(spec: &KeySpec, options: Options) -> Hive {
    Hive::from_bytes(write(spec, options)).expect("a written hive opens")
}

/// Every key path and value, rendered, depth first.
fn dump(key: &Key, path: &str, out: &mut Vec<String>, depth: usize) {
    out.push(format!("{path} @{}", key.last_written()));
    for value in key.values().unwrap_or_default() {
        let data = value.render().unwrap_or_else(|e| format!("<{e}>"));
        out.push(format!(
            "{path} : {} [{}] = {data}",
            value.name(),
            crate::type_name(value.value_type())
        ));
    }
    if depth < 64 {
        for sub in key.subkeys().unwrap_or_default() {
            dump(&sub, &format!("{path}\\{}", sub.name()), out, depth + 1);
        }
    }
}

fn dump_hive(hive: &Hive) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(root) = hive.root() {
        dump(&root, "", &mut out, 0);
    }
    out
}

#[test]
fn every_list_layout_reads_the_same() {
    let reference = dump_hive(&open(&sample(), Options::default()));
    assert_eq!(reference.len(), 8 + 14, "{reference:#?}");
    for lists in [ListKind::Lf, ListKind::Li, ListKind::Ri] {
        let hive = open(
            &sample(),
            Options {
                lists,
                ..Options::default()
            },
        );
        assert_eq!(dump_hive(&hive), reference, "{lists:?}");
    }
    let utf16 = open(
        &sample(),
        Options {
            utf16_names: true,
            ..Options::default()
        },
    );
    assert_eq!(dump_hive(&utf16), reference);
}

#[test]
fn values_read_in_all_their_forms() {
    let hive = open(&sample(), Options::default());
    let dhcp = hive.key("ControlSet001\\Services\\Dhcp").unwrap().unwrap();
    let render = |name: &str| dhcp.value(name).unwrap().unwrap().render().unwrap();
    assert_eq!(render("Type"), "32");
    assert_eq!(
        render("ImagePath"),
        "%SystemRoot%\\system32\\svchost.exe -k LocalService"
    );
    assert_eq!(render("DependOnService"), r#"["NSI","Tdx"]"#);
    assert_eq!(dhcp.value("imagepath").unwrap().unwrap().value_type(), 2);

    let data = hive.key("data").unwrap().unwrap();
    let big = data.value("Big").unwrap().unwrap().data().unwrap();
    assert_eq!(big.len(), 40_000);
    assert!(big.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8));
    assert_eq!(data.value("Medium").unwrap().unwrap().data().unwrap(), vec![0xab; 100]);
    assert_eq!(data.value("Q").unwrap().unwrap().render().unwrap(), "1099511627776");
    assert_eq!(data.value("Short").unwrap().unwrap().data().unwrap(), vec![1, 2]);
    assert_eq!(data.value("Odd").unwrap().unwrap().render().unwrap(), "09");

    let unicode = hive.key("ControlSet001\\Services\\ünïcode КЛЮЧ").unwrap().unwrap();
    assert_eq!(unicode.name(), "Ünïcode ключ");
    assert_eq!(unicode.value("").unwrap().unwrap().render().unwrap(), "default value");
}

#[test]
fn old_format_keeps_big_values_in_one_cell() {
    let hive = open(
        &sample(),
        Options {
            minor_version: 3,
            ..Options::default()
        },
    );
    let data = hive.key("Data").unwrap().unwrap();
    assert_eq!(data.value("Big").unwrap().unwrap().data().unwrap().len(), 40_000);
}

#[test]
fn lookups_that_miss_are_none() {
    let hive = open(&sample(), Options::default());
    assert!(hive.key("ControlSet001\\Nope").unwrap().is_none());
    assert!(hive.key("Select\\Current").unwrap().is_none(), "values are not keys");
    let select = hive.key("\\Select\\").unwrap().unwrap();
    assert!(select.value("Nope").unwrap().is_none());
    assert_eq!(hive.key("").unwrap().unwrap().name(), "ROOT");
}

#[test]
fn times_and_class_names_are_kept() {
    let mut spec = KeySpec::new("R").key(KeySpec::new("K").written(130_000_000_000_000_000));
    spec.subkeys[0].class_name = Some("secret".into());
    let hive = open(&spec, Options::default());
    let k = hive.key("K").unwrap().unwrap();
    assert_eq!(k.last_written(), 130_000_000_000_000_000);
    assert_eq!(k.class_name().as_deref(), Some("secret"));
}

#[test]
fn a_dirty_hive_opens_with_a_warning() {
    let hive = open(
        &sample(),
        Options {
            dirty: true,
            ..Options::default()
        },
    );
    let warnings = hive.take_warnings();
    assert!(warnings[0].contains("not closed cleanly"), "{warnings:?}");
    assert!(hive.take_warnings().is_empty(), "warnings are taken once");
}

#[test]
fn what_is_not_a_hive_is_refused_clearly() {
    let err = |bytes: Vec<u8>| Hive::from_bytes(bytes).unwrap_err().to_string();
    assert!(err(Vec::new()).contains("shorter than a base block"));
    assert!(err(vec![0; 8192]).contains("no \"regf\" signature"));
    let mut hive = write(&sample(), Options::default());
    hive[0x14] = 2;
    assert!(err(hive).contains("unknown format version"));
    let mut hive = write(&sample(), Options::default());
    hive[0x24..0x28].copy_from_slice(&0x7fff_fff8u32.to_le_bytes());
    assert!(err(hive).contains("outside the hive"));
}

#[test]
fn a_truncated_hive_gives_what_it_holds() {
    let full = write(&sample(), Options::default());
    let hive = Hive::from_bytes(full[..full.len() / 2].to_vec()).unwrap();
    assert!(hive.take_warnings().iter().any(|w| w.contains("truncated")));
    let _ = dump_hive(&hive);
    // Cut inside the base block: an error, not a panic.
    assert!(Hive::from_bytes(full[..300].to_vec()).is_err());
}

#[test]
fn a_broken_subkey_is_skipped_with_a_warning() {
    let mut bytes = write(&sample(), Options::default());
    // Break the "nk" signature of the Dhcp key.
    let at = find(&bytes, b"nk", "Dhcp");
    bytes[at] = b'x';
    let hive = Hive::from_bytes(bytes).unwrap();
    let services = hive.key("ControlSet001\\Services").unwrap().unwrap();
    let names: Vec<_> = services
        .subkeys()
        .unwrap()
        .iter()
        .map(|k| k.name().to_string())
        .collect();
    assert_eq!(names, ["Empty", "Ünïcode ключ"]);
    let warnings = hive.take_warnings();
    assert!(
        warnings[0].contains("a subkey of \"Services\" was skipped"),
        "{warnings:?}"
    );
}

/// Offset of the signature of the record that precedes `name` in the file.
fn find(bytes: &[u8], signature: &[u8; 2], name: &str) -> usize {
    let name_at = bytes.windows(name.len()).position(|w| w == name.as_bytes()).unwrap();
    bytes[..name_at].windows(2).rposition(|w| w == signature).unwrap()
}

#[test]
fn corrupted_bytes_never_panic() {
    let clean = write(
        &sample(),
        Options {
            lists: ListKind::Ri,
            ..Options::default()
        },
    );
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..2000 {
        let mut bytes = clean.clone();
        for _ in 0..1 + next() % 8 {
            let at = 4096 + (next() as usize) % (bytes.len() - 4096);
            bytes[at] = next() as u8;
        }
        if let Ok(hive) = Hive::from_bytes(bytes) {
            let _ = dump_hive(&hive);
        }
    }
    for cut in (0..clean.len()).step_by(97) {
        if let Ok(hive) = Hive::from_bytes(clean[..cut].to_vec()) {
            let _ = dump_hive(&hive);
        }
    }
}

#[test]
fn damage_is_reported_where_it_is() {
    let mut bytes = write(&sample(), Options::default());
    // Point the Big value's data at nothing.
    let at = find(&bytes, b"vk", "Big");
    bytes[at + 8..at + 12].copy_from_slice(&0x00ff_fff0u32.to_le_bytes());
    let hive = Hive::from_bytes(bytes).unwrap();
    let big = hive.key("Data").unwrap().unwrap().value("Big").unwrap().unwrap();
    match big.data() {
        Err(RegfError::Damaged { offset, what }) => {
            assert_eq!(offset, 0x00ff_fff0);
            assert!(what.contains("outside"), "{what}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn files_are_read_page_by_page() {
    let dir = std::env::temp_dir().join(format!("regf-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("hive");
    // Enough keys to span many 64 KiB pages.
    let mut root = KeySpec::new("R");
    for i in 0..3000 {
        root = root.key(KeySpec::new(&format!("key{i:04}")).sz("v", &"x".repeat(i % 50)));
    }
    std::fs::write(&path, write(&root, Options::default())).unwrap();
    let hive = Hive::open(&path).unwrap();
    let keys = hive.root().unwrap().subkeys().unwrap();
    assert_eq!(keys.len(), 3000);
    let k = hive.key("KEY2999").unwrap().unwrap();
    assert_eq!(k.value("v").unwrap().unwrap().render().unwrap(), "x".repeat(2999 % 50));
    assert_eq!(utf16z("a"), [b'a', 0, 0, 0]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn filetimes_become_unix_time() {
    assert_eq!(
        crate::filetime_to_unix(132_223_104_000_000_000),
        Some((1_577_836_800, 0))
    );
    assert_eq!(crate::filetime_to_unix(116_444_736_000_000_001), Some((0, 100)));
    assert_eq!(crate::filetime_to_unix(0), None);
}

/// The seeds `fuzz/` mutates: the sample hive in two list layouts, read
/// back here; with `DRIFTWATCH_FUZZ_SEEDS=<dir>` also written there
/// (`DRIFTWATCH_FUZZ_SEEDS=$PWD/fuzz/seeds cargo test -p driftwatch-regf --features writer fuzz_seeds`).
#[test]
fn fuzz_seeds_read_back() {
    for (name, lists) in [("sample-lh", ListKind::Lh), ("sample-ri", ListKind::Ri)] {
        let bytes = write(
            &sample(),
            Options {
                lists,
                ..Options::default()
            },
        );
        let hive = Hive::from_bytes(bytes.clone()).unwrap();
        assert!(hive.key("ControlSet001\\Services\\Dhcp").unwrap().is_some(), "{name}");
        if let Some(dir) = std::env::var_os("DRIFTWATCH_FUZZ_SEEDS") {
            let dir = std::path::Path::new(&dir).join("regf-hive");
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
}
