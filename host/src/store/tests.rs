use std::time::Duration;

use super::*;
use crate::change_engine::{Baseline, Category, Scope};
use crate::inventory::Item;

fn packages(items: &[(&str, &str)]) -> Vec<Item> {
    items
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
        .collect()
}

fn run_at(time: &str) -> RunInfo<'_> {
    RunInfo {
        collector: "dpkg",
        plugin: "packages-dpkg",
        plugin_version: "0.1.0",
        computer: "host",
        started: time,
    }
}

fn ending(complete: bool) -> Ending<'static> {
    Ending {
        complete,
        retained: NONE_RETAINED,
        retained_count: 0,
        warnings: 0,
        duration: Duration::from_millis(5),
    }
}

/// Records a collection of software items, in the batches given.
fn record_batches(store: &mut Store, time: &str, scope: &Scope, batches: Vec<Vec<Item>>, ending: Ending) -> Recorded {
    let mut recording = store
        .begin_recording(&run_at(time), DataType::Software, scope, &Baseline::default())
        .unwrap();
    for batch in batches {
        recording.apply(batch, ending.retained).unwrap();
    }
    recording.finish(ending).unwrap()
}

fn collect(store: &mut Store, time: &str, items: &[(&str, &str)], complete: bool) -> Recorded {
    record_batches(store, time, &Scope::Full, vec![packages(items)], ending(complete))
}

fn names(store: &Store) -> Vec<String> {
    store
        .inventory(None)
        .unwrap()
        .iter()
        .map(|r| match r.get("SoftwareName") {
            Some(Value::Text(name)) => name.clone(),
            other => panic!("{other:?}"),
        })
        .collect()
}

fn last_scope(store: &Store) -> (String, Option<String>) {
    store
        .conn
        .query_row(
            "SELECT Scope, ScopePaths FROM CollectorRun ORDER BY RunId DESC LIMIT 1",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
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
    // Items as they came, then what the collection no longer had.
    assert_eq!(summary, [("Modified", "a"), ("Added", "c"), ("Removed", "b")]);
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
        .record_failed(
            &run_at("t2"),
            "exceeded its time limit",
            Some(&Scope::Full),
            Duration::ZERO,
        )
        .unwrap();
    store
        .record_skipped(&run_at("t3"), "no dpkg database", Duration::ZERO)
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
    // An output that has not sent the old change keeps it.
    let (kept, first_runs) = store.prune_history("2026-02-01", &["siem".to_string()]).unwrap();
    assert_eq!(kept, 0);
    let (changes, runs) = store.prune_history("2026-02-01", &[]).unwrap();
    assert_eq!((changes, first_runs + runs), (1, 2));
    assert_eq!(store.change_count().unwrap(), 1);
}

#[test]
fn heartbeats_keep_their_gap_and_go_with_old_history() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    assert_eq!(store.last_heartbeat().unwrap(), None);
    let beat = |name: &str| driftwatch_protocol::Heartbeat {
        os_type: "Linux".into(),
        os_name: name.into(),
        os_major_version: "12".into(),
        os_minor_version: String::new(),
        version: "0.1.0".into(),
    };
    let mut written = Vec::new();
    for (at, gap, name) in [
        ("2026-01-01T12:00:00.000000Z", 60, "a"),
        ("2026-01-01T12:00:59.000000Z", 60, "b"),
        ("2026-01-01T12:00:59.500000Z", 0, "c"),
        ("2026-03-01T12:00:00.000000Z", 60, "d"),
    ] {
        written.push(store.record_heartbeat("host", &beat(name), at, gap).unwrap());
    }
    // A gap of 0 (a scan) always writes; 60 s (a running agent) skips within a minute.
    assert_eq!(written, [true, false, true, true]);
    assert_eq!(store.last_heartbeat().unwrap(), Some(beat("d")));
    store.prune_history("2026-02-01", &[]).unwrap();
    let left: i64 = store
        .conn
        .query_row("SELECT count(*) FROM Heartbeat", [], |row| row.get(0))
        .unwrap();
    assert_eq!(left, 1);
}

#[test]
fn an_output_starts_once_where_its_destination_stood() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    assert_eq!(store.output_mark("siem").unwrap(), None);
    let started = store.start_output("siem", 15).unwrap();
    assert_eq!(
        (started.position, started.offset),
        (driftwatch_protocol::Position::default(), 15)
    );
    // Started already (a send was cut short): where it stood is kept.
    assert_eq!(store.start_output("siem", 99).unwrap(), started);
    assert_eq!(store.output_mark("siem").unwrap(), Some(started));
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

#[test]
fn a_collection_streamed_in_batches_records_what_it_would_whole() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let first = packages(&[("a", "1"), ("b", "1"), ("c", "1"), ("d", "1")]);
    let recorded = record_batches(
        &mut store,
        "t1",
        &Scope::Full,
        vec![first[..1].to_vec(), first[1..].to_vec()],
        ending(true),
    );
    assert_eq!((recorded.items, recorded.baseline), (4, Some("first collection")));
    let second = packages(&[("d", "2"), ("a", "1"), ("e", "1")]);
    let recorded = record_batches(
        &mut store,
        "t2",
        &Scope::Full,
        vec![second[..2].to_vec(), second[2..].to_vec()],
        ending(true),
    );
    assert_eq!((recorded.items, recorded.changes), (3, 4));
    assert_eq!(names(&store), ["a", "d", "e"]);
    let mut changes: Vec<_> = store
        .changes(&ChangeFilter::default())
        .unwrap()
        .iter()
        .map(|c| format!("{} {}", c.text("ChangeCategory"), c.text("SoftwareName")))
        .collect();
    changes.sort();
    assert_eq!(changes, ["Added e", "Modified d", "Removed b", "Removed c"]);
    let status = store.collector_status("dpkg").unwrap();
    assert_eq!(status.items, 3);
}

#[test]
fn an_item_reported_twice_is_kept_once_and_a_different_second_is_noted() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    for time in ["t1", "t2"] {
        let items = packages(&[("a", "1"), ("b", "1"), ("a", "1"), ("b", "9")]);
        let recorded = record_batches(
            &mut store,
            time,
            &Scope::Full,
            vec![items[..3].to_vec(), items[3..].to_vec()],
            ending(true),
        );
        assert_eq!(recorded.items, 2, "{time}");
        assert_eq!(recorded.duplicates, ["b\tamd64"], "{time}");
        assert_eq!(recorded.changes, 0, "{time}");
    }
}

#[test]
fn a_targeted_run_removes_only_within_its_paths() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    collect(
        &mut store,
        "t1",
        &[("a", "1"), ("a/x", "1"), ("a/y", "1"), ("b", "1")],
        true,
    );
    // Events named "a": only a and what is under it is looked at; a/y is gone.
    let scope = Scope::Targeted(vec!["a".into()]);
    let recorded = record_batches(
        &mut store,
        "t2",
        &scope,
        vec![packages(&[("a", "2"), ("a/x", "1")])],
        ending(true),
    );
    assert_eq!((recorded.items, recorded.changes), (3, 2));
    assert_eq!(names(&store), ["a", "a/x", "b"]);
    assert_eq!(
        last_scope(&store),
        ("targeted".to_string(), Some(r#"["a"]"#.to_string()))
    );
}

/// Registry values: (key, value name, data).
fn registry_values(values: &[(&str, &str, &str)]) -> Vec<Item> {
    values
        .iter()
        .map(|(key, name, data)| Item {
            key: format!("{key}\t{name}"),
            fields: vec![
                ("RegistryKey", Value::Text(key.to_string())),
                ("ValueName", Value::Text(name.to_string())),
                ("ValueType", Value::Text("REG_SZ".into())),
                ("ValueData", Value::Text(data.to_string())),
            ],
            keep_previous: false,
        })
        .collect()
}

fn record_registry(store: &mut Store, time: &str, scope: &Scope, values: &[(&str, &str, &str)]) -> Recorded {
    let mut recording = store
        .begin_recording(&run_at(time), DataType::Registry, scope, &Baseline::default())
        .unwrap();
    recording.apply(registry_values(values), NONE_RETAINED).unwrap();
    recording.finish(ending(true)).unwrap()
}

#[test]
fn a_run_of_some_registry_rules_removes_only_what_they_read() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let run = r"HKEY_LOCAL_MACHINE\SOFTWARE\Run";
    let (sub, other) = (
        r"HKEY_LOCAL_MACHINE\SOFTWARE\Run\Sub",
        r"HKEY_LOCAL_MACHINE\SOFTWARE\RunOnce",
    );
    record_registry(
        &mut store,
        "t1",
        &Scope::Full,
        &[(run, "a", "1"), (run, "b", "1"), (sub, "c", "1"), (other, "d", "1")],
    );
    // The rule reading Run alone (in another case) ran: b is gone, a
    // changed; Run\Sub and RunOnce belong to rules that did not run.
    let scope = Scope::Keys(vec![crate::change_engine::KeyScope {
        rule: "run".into(),
        key: r"HKEY_LOCAL_MACHINE\Software\RUN".into(),
        depth: 0,
        value: None,
    }]);
    let recorded = record_registry(&mut store, "t2", &scope, &[(run, "a", "2")]);
    assert_eq!((recorded.items, recorded.changes), (3, 2));
    let changes = store.changes(&ChangeFilter::default()).unwrap();
    let categories: Vec<_> = changes
        .iter()
        .map(|c| (c.text("ValueName"), c.text("ChangeCategory")))
        .collect();
    assert_eq!(categories, [("a", "Modified"), ("b", "Removed")]);
    assert_eq!(
        last_scope(&store),
        (
            "targeted".to_string(),
            Some(r#"["HKEY_LOCAL_MACHINE\\Software\\RUN"]"#.to_string())
        )
    );
}

#[test]
fn an_incremental_run_keeps_what_it_confirmed_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    collect(&mut store, "t1", &[("a", "1"), ("b", "1"), ("c", "1")], true);
    // a was confirmed unchanged without being collected; b changed; c is gone.
    let retained = |key: &str| key == "a\tamd64";
    let ending = Ending {
        retained: &retained,
        retained_count: 1,
        ..ending(true)
    };
    let recorded = record_batches(
        &mut store,
        "t2",
        &Scope::Incremental,
        vec![packages(&[("b", "2")])],
        ending,
    );
    assert_eq!((recorded.items, recorded.changes), (2, 2));
    assert_eq!(names(&store), ["a", "b"]);
    assert_eq!(last_scope(&store), ("incremental".to_string(), None));
}

#[test]
fn a_recording_dropped_unfinished_leaves_no_trace() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    collect(&mut store, "t1", &[("a", "1")], true);
    let mut recording = store
        .begin_recording(&run_at("t2"), DataType::Software, &Scope::Full, &Baseline::default())
        .unwrap();
    recording
        .apply(packages(&[("a", "2"), ("b", "1")]), NONE_RETAINED)
        .unwrap();
    drop(recording);
    assert_eq!(names(&store), ["a"]);
    assert_eq!(store.change_count().unwrap(), 0);
    let runs: i64 = store
        .conn
        .query_row("SELECT COUNT(*) FROM CollectorRun", [], |r| r.get(0))
        .unwrap();
    assert_eq!(runs, 1);
}

#[test]
fn baselines_of_an_older_fingerprint_scheme_are_translated_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let old = Baseline {
        config: "old-config".into(),
        rules: [
            ("r1".to_string(), "old-1".to_string()),
            ("r2".to_string(), "other".to_string()),
        ]
        .into(),
    };
    let new = Baseline {
        config: "new-config".into(),
        rules: [
            ("r1".to_string(), "new-1".to_string()),
            ("r2".to_string(), "new-2".to_string()),
        ]
        .into(),
    };
    store
        .conn
        .execute(
            "INSERT INTO CollectorState (Collector, ConfigHash, RuleHashes, BaselineTime, LastSuccess, Fingerprint) \
             VALUES ('dpkg', 'old-config', '{\"r1\":\"old-1\",\"r2\":\"changed since\"}', 't0', 't0', 1)",
            [],
        )
        .unwrap();
    assert!(
        store
            .translate_baseline("dpkg", |stored| stored.translate(&old, &new))
            .unwrap()
    );
    let stored = store.baseline("dpkg").unwrap().unwrap();
    let scheme: i64 = store
        .conn
        .query_row("SELECT Fingerprint FROM CollectorState", [], |row| row.get(0))
        .unwrap();
    assert_eq!(scheme, crate::collectors::fingerprint::VERSION);
    assert_eq!(stored.baseline.config, "new-config");
    assert_eq!(stored.baseline.rules["r1"], "new-1");
    assert_eq!(
        stored.baseline.rules["r2"], "changed since",
        "a rule whose settings changed stays different"
    );
    assert!(
        !store.translate_baseline("dpkg", |_| unreachable!()).unwrap(),
        "only once"
    );
}

#[test]
fn processes_opening_a_new_database_at_once_all_get_it() {
    // Separate connections lock as separate processes do.
    for _ in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let opened: Vec<Result<Store, StoreError>> = std::thread::scope(|scope| {
            let openers: Vec<_> = (0..6).map(|_| scope.spawn(|| Store::open(dir.path()))).collect();
            openers.into_iter().map(|o| o.join().unwrap()).collect()
        });
        for store in opened {
            let store = store.expect("every opener gets the database");
            assert_eq!(store.change_count().unwrap(), 0);
        }
    }
}

/// The inventory entries of a batch, as "write NAME" / "remove KEY".
fn entries(batch: &driftwatch_protocol::ShipBatch) -> Vec<String> {
    batch
        .inventory
        .iter()
        .map(|entry| match entry {
            driftwatch_protocol::InventoryEntry::Write { row, .. } => {
                format!("write {}", row["SoftwareName"].as_str().unwrap())
            }
            driftwatch_protocol::InventoryEntry::Remove { item_key, .. } => format!("remove {item_key}"),
        })
        .collect()
}

#[test]
fn the_outbox_holds_every_write_and_removal_since_the_acknowledged_position() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    collect(
        &mut store,
        "2026-01-01T00:00:00.000000Z",
        &[("a", "1"), ("b", "1"), ("c", "1")],
        true,
    );
    // Before the first shipment no removal is kept: a first shipment sends
    // the inventory as it stands.
    collect(
        &mut store,
        "2026-01-02T00:00:00.000000Z",
        &[("a", "1"), ("b", "1")],
        true,
    );
    let start = store.outbox_position("https://fleet", "host").unwrap();
    assert_eq!(start, driftwatch_protocol::Position::default());
    let first = store.next_batch(start, 100).unwrap().unwrap();
    assert!(first.restart_inventory);
    assert_eq!(entries(&first), ["write a", "write b"]);
    assert_eq!(first.changes.len(), 1, "c's removal");
    assert_eq!(first.changes[0]["ChangeCategory"], "Removed");
    store.acknowledge(first.to, "2026-01-02T00:00:01.000000Z").unwrap();
    assert_eq!(store.next_batch(first.to, 100).unwrap(), None);

    // Now a removal, an upgrade and an addition are what is pending, in order.
    collect(
        &mut store,
        "2026-01-03T00:00:00.000000Z",
        &[("b", "2"), ("d", "1")],
        true,
    );
    let second = store.next_batch(first.to, 100).unwrap().unwrap();
    assert!(!second.restart_inventory);
    assert_eq!(entries(&second), ["write b", "write d", "remove a\tamd64"]);
    assert_eq!(second.changes.len(), 3);
    let status = store.ship_status().unwrap().unwrap();
    assert_eq!((status.pending_changes, status.pending_inventory), (3, 3));

    // Batches are cut at `limit`, changes first; the rest follows on.
    let part = store.next_batch(first.to, 4).unwrap().unwrap();
    assert_eq!((part.changes.len(), part.inventory.len()), (3, 1));
    let rest = store.next_batch(part.to, 4).unwrap().unwrap();
    assert_eq!(entries(&rest), ["write d", "remove a\tamd64"]);

    // Acknowledged removals are dropped; a new number is never an old one,
    // even after the newest row was removed.
    store.acknowledge(second.to, "2026-01-03T00:00:01.000000Z").unwrap();
    assert_eq!(store.ship_status().unwrap().unwrap().pending_inventory, 0);
    collect(&mut store, "2026-01-04T00:00:00.000000Z", &[("b", "2")], true);
    collect(
        &mut store,
        "2026-01-05T00:00:00.000000Z",
        &[("b", "2"), ("e", "1")],
        true,
    );
    let third = store.next_batch(second.to, 100).unwrap().unwrap();
    assert_eq!(entries(&third), ["remove d\tamd64", "write e"]);
    assert!(third.inventory.iter().all(|e| e.revision() > second.to.revision));

    // Forgetting a collector removes each of its rows.
    store.acknowledge(third.to, "2026-01-05T00:00:01.000000Z").unwrap();
    store.forget_collectors_except(&[]).unwrap();
    let fourth = store.next_batch(third.to, 100).unwrap().unwrap();
    assert_eq!(entries(&fourth), ["remove b\tamd64", "remove e\tamd64"]);

    // Another server (or name) starts from nothing again.
    assert_eq!(
        store.outbox_position("https://other", "host").unwrap(),
        driftwatch_protocol::Position::default()
    );
}

#[test]
fn collector_health_is_each_collectors_latest_run_with_its_last_failure() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    store.outbox_position("https://fleet", "host").unwrap();
    assert_eq!(store.runs_to_report().unwrap(), (0, 0));
    collect(&mut store, "t1", &[("a", "1")], true);
    store
        .record_failed(
            &run_at("t2"),
            "the status file is damaged",
            Some(&Scope::Full),
            Duration::ZERO,
        )
        .unwrap();
    collect(&mut store, "t3", &[("a", "2"), ("b", "1")], true);
    let health = store.collector_health().unwrap();
    assert_eq!(health.len(), 1);
    let dpkg = &health[0];
    assert_eq!(
        (
            dpkg.collector.as_str(),
            dpkg.plugin.as_str(),
            dpkg.outcome.as_str(),
            dpkg.last_run.as_str()
        ),
        ("dpkg", "packages-dpkg", "Succeeded", "t3")
    );
    assert_eq!(dpkg.items, Some(2));
    assert_eq!(dpkg.last_success.as_deref(), Some("t3"));
    assert_eq!(
        (dpkg.last_failure.as_deref(), dpkg.last_failure_error.as_deref()),
        (Some("t2"), Some("the status file is damaged"))
    );
    // Reported once until a collector runs again.
    let (reported, latest) = store.runs_to_report().unwrap();
    assert_eq!((reported, latest), (0, 3));
    store.note_runs_reported(latest).unwrap();
    assert_eq!(store.runs_to_report().unwrap(), (3, 3));
    collect(&mut store, "t4", &[("a", "2"), ("b", "1")], true);
    assert_eq!(store.runs_to_report().unwrap(), (3, 4));
    // Taken out of the manifest: no longer reported (nor forgotten twice),
    // until it runs again.
    assert_eq!(store.forget_collectors_except(&[]).unwrap(), ["dpkg"]);
    assert!(store.collector_health().unwrap().is_empty());
    assert!(store.forget_collectors_except(&[]).unwrap().is_empty());
    collect(&mut store, "t5", &[("a", "2")], true);
    assert_eq!(store.collector_health().unwrap().len(), 1);
}

#[test]
fn a_collector_that_only_ever_failed_is_forgotten_too() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    store
        .record_failed(&run_at("t1"), "no database", Some(&Scope::Full), Duration::ZERO)
        .unwrap();
    assert_eq!(store.collector_health().unwrap()[0].outcome, "Failed");
    assert_eq!(store.forget_collectors_except(&["other"]).unwrap(), ["dpkg"]);
    assert!(store.collector_health().unwrap().is_empty());
}
