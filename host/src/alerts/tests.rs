//! Rule evaluation against a real store: new rules, disabled rules, and
//! each change alerting once.

use crate::manifest::alerts::{Action, AlertRule, Severity};
use crate::store::Store;

fn store_with_changes(dir: &std::path::Path) -> Store {
    let store = Store::open(dir).unwrap();
    let conn = rusqlite::Connection::open(store.path()).unwrap();
    conn.execute(
        "INSERT INTO CollectorRun (Collector, Plugin, Computer, TimeStarted, DurationMs, Outcome) \
         VALUES ('f', 'files-posix', 'h', '2026-11-25T00:00:00.000000Z', 1, 'ok')",
        [],
    )
    .unwrap();
    store
}

fn add_change(store: &Store, path: &str) {
    let conn = rusqlite::Connection::open(store.path()).unwrap();
    conn.execute(
        "INSERT INTO ConfigurationChange (RunId, Collector, ItemKey, Computer, TimeGenerated, ConfigChangeType, \
         ChangeCategory, FileSystemPath) VALUES (1, 'f', ?1, 'h', '2026-11-25T00:00:00.000000Z', 'Files', 'Modified', ?1)",
        [path],
    )
    .unwrap();
}

fn rule(name: &str, enabled: bool) -> AlertRule {
    AlertRule {
        name: name.into(),
        query: r#"ConfigurationChange | where FileSystemPath startswith "/etc/""#.into(),
        severity: Severity::Low,
        enabled,
        actions: vec![Action::Log],
    }
}

#[test]
fn each_change_alerts_once_and_new_rules_start_now() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_with_changes(dir.path());
    add_change(&store, "/etc/old");
    let rules = [rule("etc", true)];
    assert!(
        super::evaluate(&mut store, &rules, "h").unwrap().is_empty(),
        "history before the rule"
    );

    add_change(&store, "/etc/hosts");
    add_change(&store, "/var/log/x");
    add_change(&store, "/etc/motd");
    let raised = super::evaluate(&mut store, &rules, "h").unwrap();
    assert_eq!(
        raised,
        [super::Raised {
            rule: "etc".into(),
            rows: 2
        }]
    );
    assert!(
        super::evaluate(&mut store, &rules, "h").unwrap().is_empty(),
        "nothing twice"
    );

    let pending = store.pending_deliveries().unwrap();
    assert_eq!(pending.len(), 1);
    let doc: serde_json::Value = serde_json::from_str(&pending[0].document).unwrap();
    assert_eq!(doc["changes"][1]["FileSystemPath"], "/etc/motd");
    assert_eq!(doc["count"], 2);

    add_change(&store, "/var/log/y");
    assert!(
        super::evaluate(&mut store, &rules, "h").unwrap().is_empty(),
        "no match, no alert"
    );
}

#[test]
fn a_disabled_rule_lets_changes_pass() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_with_changes(dir.path());
    super::evaluate(&mut store, &[rule("etc", true)], "h").unwrap();
    add_change(&store, "/etc/while-disabled");
    assert!(
        super::evaluate(&mut store, &[rule("etc", false)], "h")
            .unwrap()
            .is_empty()
    );
    add_change(&store, "/etc/after");
    let raised = super::evaluate(&mut store, &[rule("etc", true)], "h").unwrap();
    assert_eq!(raised[0].rows, 1, "only the change after enabling");
}

#[test]
fn a_mark_moved_by_someone_else_is_not_moved_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_with_changes(dir.path());
    assert!(store.advance_alert_mark("r", None, 0, None).unwrap());
    assert!(store.advance_alert_mark("r", Some(0), 5, None).unwrap());
    assert!(
        !store.advance_alert_mark("r", Some(0), 5, None).unwrap(),
        "a second evaluator lost the race"
    );
}

#[test]
fn the_sent_document_leads_with_the_alert_id() {
    let sent = super::with_alert_id(r#"{"rule":"r","count":1}"#, 7);
    assert_eq!(sent, r#"{"alert_id":7,"rule":"r","count":1}"#);
}
