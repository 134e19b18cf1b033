use super::*;
use crate::change_engine::{Baseline, Category};
use crate::inventory::{Inventory, Item};

fn inventory(items: &[(&str, &str)]) -> Inventory {
    Inventory {
        data_type: DataType::Software,
        items: items
            .iter()
            .map(|(name, version)| Item {
                key: format!("{name}\tamd64"),
                fields: DataType::Software
                    .columns()
                    .iter()
                    .map(|c| {
                        let value = match *c {
                            "SoftwareName" => Value::Text(name.to_string()),
                            "CurrentVersion" => Value::Text(version.to_string()),
                            "InstallDate" => Value::Null,
                            _ => Value::Text(String::new()),
                        };
                        (*c, value)
                    })
                    .collect(),
                keep_previous: false,
            })
            .collect(),
        notes: Vec::new(),
    }
}

fn run_at(time: &str) -> RunInfo<'_> {
    RunInfo {
        collector: "dpkg",
        plugin: "packages-dpkg",
        plugin_version: "0.1.0",
        computer: "host",
        started: time,
        duration: std::time::Duration::from_millis(5),
    }
}

fn collect(store: &mut Store, time: &str, items: &[(&str, &str)], complete: bool) -> Recorded {
    let inv = inventory(items);
    let baseline = Baseline::default();
    store
        .record(
            &run_at(time),
            RunResult::Collected {
                inventory: inv,
                baseline: &baseline,
                complete,
                retained: &[],
                full: true,
                scope: None,
                warnings: 0,
            },
        )
        .unwrap()
}

#[test]
fn collections_become_inventory_and_history() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let first = collect(
        &mut store,
        "2026-01-01T00:00:00.000000Z",
        &[("a", "1"), ("b", "1")],
        true,
    );
    assert_eq!((first.changes, first.baseline), (0, Some("first collection")));
    let second = collect(
        &mut store,
        "2026-01-02T00:00:00.000000Z",
        &[("a", "2"), ("c", "1")],
        true,
    );
    assert_eq!(second.changes, 3);
    let third = collect(
        &mut store,
        "2026-01-03T00:00:00.000000Z",
        &[("a", "2"), ("c", "1")],
        true,
    );
    assert_eq!(third.changes, 0);

    let rows = store.inventory(None).unwrap();
    let names: Vec<_> = rows.iter().map(|r| r.get("SoftwareName").cloned()).collect();
    assert_eq!(names, [Some(Value::Text("a".into())), Some(Value::Text("c".into()))]);
    // Unchanged items keep the time they were recorded.
    assert_eq!(
        rows[0].get("TimeGenerated"),
        Some(&Value::Text("2026-01-02T00:00:00.000000Z".into()))
    );

    let changes = store.changes(&ChangeFilter::default()).unwrap();
    let summary: Vec<_> = changes
        .iter()
        .map(|c| (c.text("ChangeCategory"), c.text("SoftwareName")))
        .collect();
    assert_eq!(summary, [("Modified", "a"), ("Removed", "b"), ("Added", "c")]);
    assert_eq!(changes[0].text("Previous"), "1");
    assert_eq!(changes[0].text("Current"), "2");
    assert_eq!(changes[0].text("FieldsChanged"), "CurrentVersion");
    assert!(changes[0].get("RunId").is_none() && changes[0].get("ItemKey").is_none());

    let filtered = store
        .changes(&ChangeFilter {
            since: Some("2026-01-02T00:00:00.000000Z".into()),
            data_type: Some(DataType::Software),
            category: Some(Category::Added),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(filtered.len(), 1);
    assert!(
        store
            .changes(&ChangeFilter {
                since: Some("2027".into()),
                ..Default::default()
            })
            .unwrap()
            .is_empty()
    );
}

#[test]
fn failures_and_skips_are_runs_that_touch_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    collect(&mut store, "t1", &[("a", "1")], true);
    store
        .record(&run_at("t2"), RunResult::Failed("exceeded its time limit"))
        .unwrap();
    store
        .record(&run_at("t3"), RunResult::Skipped("no dpkg database"))
        .unwrap();
    assert_eq!(store.inventory(None).unwrap().len(), 1);
    assert_eq!(store.change_count().unwrap(), 0);
    let status = store.collector_status("dpkg").unwrap();
    assert_eq!(status.items, 1);
    assert_eq!(status.last_success.as_deref(), Some("t1"));
    let last = status.last_run.unwrap();
    assert_eq!(
        (last.outcome.as_str(), last.error.as_deref()),
        ("Skipped", Some("no dpkg database"))
    );
}

#[test]
fn partial_collections_are_recorded_as_partial_and_remove_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    collect(&mut store, "t1", &[("a", "1"), ("b", "1")], true);
    let partial = collect(&mut store, "t2", &[("a", "1")], false);
    assert_eq!(partial.changes, 0);
    assert_eq!(store.inventory(None).unwrap().len(), 2);
    assert_eq!(
        store.collector_status("dpkg").unwrap().last_run.unwrap().outcome,
        "Partial"
    );
}

#[test]
fn forgotten_collectors_lose_inventory_but_keep_history() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    collect(&mut store, "t1", &[("a", "1")], true);
    collect(&mut store, "t2", &[("a", "2")], true);
    assert_eq!(store.forget_collectors_except(&["other"]).unwrap(), ["dpkg"]);
    assert!(store.inventory(None).unwrap().is_empty());
    assert_eq!(store.change_count().unwrap(), 1);
    // Tracked again later: a fresh baseline, not a flood of Added rows.
    let again = collect(&mut store, "t3", &[("a", "2"), ("b", "1")], true);
    assert_eq!((again.changes, again.baseline), (0, Some("first collection")));
}

#[test]
fn pruning_keeps_recent_history_and_each_last_run() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    collect(&mut store, "2026-01-01", &[("a", "1")], true);
    collect(&mut store, "2026-01-02", &[("a", "2")], true);
    collect(&mut store, "2026-03-01", &[("a", "3")], true);
    let (changes, runs) = store.prune_history("2026-02-01").unwrap();
    assert_eq!((changes, runs), (1, 2));
    assert_eq!(store.change_count().unwrap(), 1);
}

#[test]
fn reopening_keeps_data_and_schema() {
    let dir = tempfile::tempdir().unwrap();
    collect(&mut Store::open(dir.path()).unwrap(), "t1", &[("a", "1")], true);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.inventory(None).unwrap().len(), 1);
    store.integrity_check().unwrap();
}

#[test]
fn a_damaged_database_is_reported_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(DATABASE_FILE);
    std::fs::write(
        &file,
        b"this is not an sqlite database, just some bytes that are long enough to matter",
    )
    .unwrap();
    let before = std::fs::read(&file).unwrap();
    let err = Store::open(dir.path()).err().expect("must fail");
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("move it aside"), "{err}");
    assert_eq!(std::fs::read(&file).unwrap(), before);
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(Store::open(dir.path()).unwrap());
    let conn = Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    assert!(matches!(
        Store::open(dir.path()),
        Err(StoreError::TooNew { found: 99, .. })
    ));
}
