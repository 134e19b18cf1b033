use std::collections::BTreeMap;

use rustc_hash::FxHashSet;

use super::*;

/// What a whole collection does to the stored inventory, decided the way a
/// recording decides it: each collected item against its stored row, then
/// the stored rows the collection did not return.
#[derive(Debug, Default, PartialEq, Eq)]
struct Plan {
    changes: Vec<Change>,
    writes: Vec<Item>,
    deletes: Vec<String>,
    baseline: Option<&'static str>,
}

/// How much of the inventory a collection covers.
struct Coverage<'a> {
    complete: bool,
    /// Items confirmed unchanged without being collected (incremental runs).
    retained: &'a FxHashSet<String>,
}

impl Coverage<'static> {
    fn full() -> Coverage<'static> {
        static NOTHING: std::sync::OnceLock<FxHashSet<String>> = std::sync::OnceLock::new();
        Coverage {
            complete: true,
            retained: NOTHING.get_or_init(Default::default),
        }
    }
}

fn plan(
    data_type: DataType,
    previous: Vec<Item>,
    current: Vec<Item>,
    before: Option<&Baseline>,
    now: &Baseline,
    coverage: Coverage,
) -> Plan {
    let comparison = Comparison::new(data_type, before, now);
    let mut stored: BTreeMap<String, Item> = previous.into_iter().map(|i| (i.key.clone(), i)).collect();
    let mut plan = Plan {
        baseline: comparison.baseline(),
        ..Plan::default()
    };
    let apply = |key: String, verdict: Verdict, plan: &mut Plan| {
        plan.changes.extend(verdict.change);
        match verdict.action {
            Action::Keep => {}
            Action::Write(item) => plan.writes.push(item),
            Action::Delete => plan.deletes.push(key),
        }
    };
    for item in current {
        let key = item.key.clone();
        let verdict = comparison.present(stored.get(&key), item);
        stored.remove(&key);
        apply(key, verdict, &mut plan);
    }
    for (key, item) in stored {
        if !coverage.retained.contains(&key) {
            let verdict = comparison.absent(&item, coverage.complete);
            apply(key, verdict, &mut plan);
        }
    }
    plan
}

fn text(v: &str) -> Value {
    Value::Text(v.to_string())
}

fn package(name: &str, version: &str) -> Item {
    Item {
        key: format!("{name}\tamd64"),
        fields: vec![
            ("SoftwareName", text(name)),
            ("CurrentVersion", text(version)),
            ("Architecture", text("amd64")),
            ("Publisher", text("Debian")),
            ("SoftwareDescription", text("a package")),
            ("SoftwareType", text("Package")),
            ("InstallState", text("installed")),
            ("InstallDate", Value::Null),
        ],
        keep_previous: false,
    }
}

fn file(path: &str, rule: &str, size: i64, modified: &str, checksum: &str) -> Item {
    Item {
        key: path.to_string(),
        fields: vec![
            ("FileSystemPath", text(path)),
            ("FileType", text("File")),
            ("Size", Value::Integer(size)),
            ("DateCreated", Value::Null),
            ("DateModified", text(modified)),
            ("FileContentChecksum", text(checksum)),
            ("Acls", text("root:root 0644")),
            ("Attributes", text("")),
            ("LinkTarget", Value::Null),
            ("ItemName", text(rule)),
        ],
        keep_previous: false,
    }
}

fn service(name: &str, state: &str, startup: &str) -> Item {
    Item {
        key: name.to_string(),
        fields: vec![
            ("SvcName", text(name)),
            ("SvcDisplayName", text("")),
            ("SvcState", text(state)),
            ("SvcStartupType", text(startup)),
            ("SvcPath", text("/usr/sbin/sshd -D")),
            ("SvcAccount", text("")),
            ("SvcRunlevels", text("")),
            ("SvcDescription", text("OpenSSH server")),
        ],
        keep_previous: false,
    }
}

fn value(key: &str, name: &str, data: &str) -> Item {
    Item {
        key: format!("{key}\t{name}"),
        fields: vec![
            ("RegistryKey", text(key)),
            ("ValueName", text(name)),
            ("ValueType", text("REG_SZ")),
            ("ValueData", text(data)),
        ],
        keep_previous: false,
    }
}

fn baseline(config: &str, rules: &[(&str, &str)]) -> Baseline {
    Baseline {
        config: config.into(),
        rules: rules.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
    }
}

/// The changes of a plan by item key (the order they are found in does not matter).
fn categories(plan: &Plan) -> Vec<(Category, &str)> {
    let mut found: Vec<_> = plan.changes.iter().map(|c| (c.category, c.key.as_str())).collect();
    found.sort_by_key(|(_, key)| *key);
    found
}

fn change<'p>(plan: &'p Plan, key: &str) -> &'p Change {
    plan.changes
        .iter()
        .find(|c| c.key == key)
        .unwrap_or_else(|| panic!("no change of {key}: {plan:?}"))
}

fn column<'a>(change: &'a Change, name: &str) -> Option<&'a Value> {
    change.columns.iter().find(|(c, _)| *c == name).map(|(_, v)| v)
}

#[test]
fn the_first_collection_is_a_baseline() {
    let b = baseline("c1", &[]);
    let plan = plan(
        DataType::Software,
        vec![],
        vec![package("a", "1"), package("b", "2")],
        None,
        &b,
        Coverage::full(),
    );
    assert!(plan.changes.is_empty());
    assert_eq!(plan.writes.len(), 2);
    assert_eq!(plan.baseline, Some("first collection"));
}

#[test]
fn the_same_input_gives_nothing_to_do() {
    let b = baseline("c1", &[]);
    let items = vec![package("a", "1"), package("b", "2")];
    let plan = plan(DataType::Software, items.clone(), items, Some(&b), &b, Coverage::full());
    assert_eq!(plan, Plan::default());
}

#[test]
fn software_added_removed_and_upgraded() {
    let b = baseline("c1", &[]);
    let previous = vec![package("a", "1"), package("gone", "3"), package("up", "1.0")];
    let current = vec![package("a", "1"), package("new", "7"), package("up", "1.1")];
    let plan = plan(DataType::Software, previous, current, Some(&b), &b, Coverage::full());
    assert_eq!(
        categories(&plan),
        [
            (Category::Removed, "gone\tamd64"),
            (Category::Added, "new\tamd64"),
            (Category::Modified, "up\tamd64")
        ]
    );
    let upgrade = change(&plan, "up\tamd64");
    assert_eq!(upgrade.fields_changed, ["CurrentVersion"]);
    assert_eq!(column(upgrade, "Current"), Some(&text("1.1")));
    assert_eq!(column(upgrade, "Previous"), Some(&text("1.0")));
    assert_eq!(
        column(upgrade, "CurrentVersion"),
        None,
        "software versions go in Current/Previous"
    );
    let removed = change(&plan, "gone\tamd64");
    assert_eq!(column(removed, "Previous"), Some(&text("3")));
    assert_eq!(column(removed, "Current"), None);
    assert_eq!(column(removed, "SoftwareName"), Some(&text("gone")));
    assert_eq!(column(change(&plan, "new\tamd64"), "Current"), Some(&text("7")));
    assert_eq!(plan.deletes, ["gone\tamd64"]);
    let written: Vec<_> = plan.writes.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(written, ["new\tamd64", "up\tamd64"]);
}

#[test]
fn untracked_fields_update_silently() {
    let b = baseline("c1", &[]);
    let mut described = package("a", "1");
    described.fields[4].1 = text("a better description");
    let plan = plan(
        DataType::Software,
        vec![package("a", "1")],
        vec![described.clone()],
        Some(&b),
        &b,
        Coverage::full(),
    );
    assert!(plan.changes.is_empty());
    assert_eq!(plan.writes, [described]);
}

#[test]
fn service_state_and_startup_changes_keep_previous_values() {
    let b = baseline("c1", &[]);
    let plan = plan(
        DataType::Daemons,
        vec![service("ssh.service", "Running", "enabled")],
        vec![service("ssh.service", "Stopped", "disabled")],
        Some(&b),
        &b,
        Coverage::full(),
    );
    let change = &plan.changes[0];
    assert_eq!(change.category, Category::Modified);
    assert_eq!(change.fields_changed, ["SvcState", "SvcStartupType"]);
    assert_eq!(column(change, "SvcState"), Some(&text("Stopped")));
    assert_eq!(column(change, "SvcPreviousState"), Some(&text("Running")));
    assert_eq!(column(change, "SvcPreviousStartupType"), Some(&text("enabled")));
    assert_eq!(
        column(change, "SvcPreviousPath"),
        None,
        "only changed fields carry previous values"
    );
}

#[test]
fn file_content_changes_list_their_fields_in_order() {
    let b = baseline("c1", &[("hosts", "r1")]);
    let plan = plan(
        DataType::Files,
        vec![file("/etc/hosts", "hosts", 100, "t1", "aaa")],
        vec![file("/etc/hosts", "hosts", 120, "t2", "bbb")],
        Some(&b),
        &b,
        Coverage::full(),
    );
    let change = &plan.changes[0];
    assert_eq!(change.fields_changed.join(","), "Size,DateModified,FileContentChecksum");
    assert_eq!(column(change, "PreviousSize"), Some(&Value::Integer(100)));
    assert_eq!(column(change, "Size"), Some(&Value::Integer(120)));
    assert_eq!(column(change, "PreviousFileContentChecksum"), Some(&text("aaa")));
    assert_eq!(column(change, "PreviousDateModified"), Some(&text("t1")));
}

#[test]
fn registry_value_changes() {
    let b = baseline("c1", &[("HKEY_LOCAL_MACHINE\\Software\\Run", "r1")]);
    let key = "HKEY_LOCAL_MACHINE\\SOFTWARE\\Run";
    let plan = plan(
        DataType::Registry,
        vec![value(key, "updater", "a.exe")],
        vec![value(key, "updater", "b.exe")],
        Some(&b),
        &b,
        Coverage::full(),
    );
    let change = &plan.changes[0];
    assert_eq!(change.fields_changed, ["ValueData"]);
    assert_eq!(column(change, "PreviousValueData"), Some(&text("a.exe")));
}

#[test]
fn an_incomplete_collection_removes_nothing() {
    let b = baseline("c1", &[]);
    let previous = vec![package("a", "1"), package("b", "1")];
    let plan = plan(
        DataType::Software,
        previous,
        vec![package("a", "2")],
        Some(&b),
        &b,
        Coverage {
            complete: false,
            retained: &Default::default(),
        },
    );
    assert_eq!(categories(&plan), [(Category::Modified, "a\tamd64")]);
    assert!(plan.deletes.is_empty());
}

#[test]
fn changed_collector_settings_rebaseline_everything() {
    let (before, now) = (baseline("c1", &[]), baseline("c2", &[]));
    let plan = plan(
        DataType::Software,
        vec![package("a", "1"), package("gone", "1")],
        vec![package("a", "2"), package("new", "1")],
        Some(&before),
        &now,
        Coverage::full(),
    );
    assert!(plan.changes.is_empty());
    assert_eq!(plan.baseline, Some("collector settings changed"));
    assert_eq!(plan.writes.len(), 2);
    assert_eq!(plan.deletes, ["gone\tamd64"]);
}

#[test]
fn a_new_rule_is_a_baseline_for_its_items_only() {
    let before = baseline("c1", &[("hosts", "r1")]);
    let now = baseline("c1", &[("hosts", "r1"), ("ssh", "r2")]);
    let plan = plan(
        DataType::Files,
        vec![file("/etc/hosts", "hosts", 1, "t1", "a")],
        vec![
            file("/etc/hosts", "hosts", 2, "t2", "b"),
            file("/etc/ssh/sshd_config", "ssh", 5, "t1", "c"),
        ],
        Some(&before),
        &now,
        Coverage::full(),
    );
    assert_eq!(categories(&plan), [(Category::Modified, "/etc/hosts")]);
    assert_eq!(plan.writes.len(), 2, "the newly tracked file is stored");
}

#[test]
fn a_removed_rule_drops_its_items_silently_even_when_incomplete() {
    let before = baseline("c1", &[("hosts", "r1"), ("ssh", "r2")]);
    let now = baseline("c1", &[("hosts", "r1")]);
    let previous = vec![
        file("/etc/hosts", "hosts", 1, "t1", "a"),
        file("/etc/ssh/sshd_config", "ssh", 5, "t1", "c"),
    ];
    let current = vec![file("/etc/hosts", "hosts", 1, "t1", "a")];
    for complete in [true, false] {
        let plan = plan(
            DataType::Files,
            previous.clone(),
            current.clone(),
            Some(&before),
            &now,
            Coverage {
                complete,
                retained: &Default::default(),
            },
        );
        assert!(plan.changes.is_empty());
        assert_eq!(plan.deletes, ["/etc/ssh/sshd_config"]);
    }
}

#[test]
fn a_changed_rule_rebaselines_its_items() {
    // md5 → sha256: every checksum differs, none of it is a machine change.
    let before = baseline("c1", &[("etc", "md5")]);
    let now = baseline("c1", &[("etc", "sha256")]);
    let plan = plan(
        DataType::Files,
        vec![file("/etc/a", "etc", 1, "t1", "md5sum")],
        vec![file("/etc/a", "etc", 1, "t1", "sha256sum")],
        Some(&before),
        &now,
        Coverage::full(),
    );
    assert!(plan.changes.is_empty());
    assert_eq!(plan.writes.len(), 1);
}

#[test]
fn unreadable_items_keep_their_previous_state() {
    let b = baseline("c1", &[("etc", "r")]);
    let mut unreadable = file("/etc/shadow", "etc", 0, "t9", "");
    unreadable.keep_previous = true;
    let plan = plan(
        DataType::Files,
        vec![file("/etc/shadow", "etc", 10, "t1", "x")],
        vec![unreadable],
        Some(&b),
        &b,
        Coverage::full(),
    );
    assert_eq!(plan, Plan::default());
}

#[test]
fn registry_rules_match_keys_case_insensitively_on_separators() {
    let before = baseline("c1", &[("HKEY_LOCAL_MACHINE\\Software\\Run", "r1")]);
    let now = baseline("c1", &[("HKEY_LOCAL_MACHINE\\Software\\Run", "r2")]);
    let key = "HKEY_LOCAL_MACHINE\\SOFTWARE\\RUN\\Sub";
    let plan = plan(
        DataType::Registry,
        vec![value(key, "x", "1")],
        vec![value(key, "x", "2")],
        Some(&before),
        &now,
        Coverage::full(),
    );
    assert!(plan.changes.is_empty(), "the rule changed: re-baselined");
}

#[test]
fn items_confirmed_unchanged_are_kept_without_being_collected() {
    let b = baseline("c1", &[("data", "r")]);
    let previous = vec![
        file("/d/a", "data", 1, "t", "x"),
        file("/d/b", "data", 1, "t", "y"),
        file("/d/c", "data", 1, "t", "z"),
    ];
    let retained: FxHashSet<String> = ["/d/a".to_string()].into_iter().collect();
    // An incremental run: /d/a withheld as unchanged, /d/b changed, /d/c gone.
    let current = vec![file("/d/b", "data", 2, "t2", "y2")];
    let plan = plan(
        DataType::Files,
        previous,
        current,
        Some(&b),
        &b,
        Coverage {
            complete: true,
            retained: &retained,
        },
    );
    assert_eq!(
        categories(&plan),
        [(Category::Modified, "/d/b"), (Category::Removed, "/d/c")]
    );
    assert_eq!(plan.deletes, ["/d/c"]);
}
