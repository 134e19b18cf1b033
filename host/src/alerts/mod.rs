//! Alert rules at work: each rule's query runs over the changes recorded
//! since the rule last looked; matching rows raise an alert, whose actions
//! (webhook, exec, log) are then delivered.
//!
//! | module | job |
//! |---|---|
//! | `deliver` | pending deliveries: claims, attempts, retries with backoff |
//! | `webhook` | HTTP POST of the alert document |
//! | `exec` | a command with the document on stdin |
//!
//! Once per change per rule: each rule has a mark in the store (the last
//! `ChangeId` it has seen), moved in the same transaction that records the
//! alert, so neither a restart nor a second process raises it again. A rule
//! seen for the first time starts at the newest change; `driftwatch alerts
//! test` runs a rule over the whole history instead.

mod deliver;
mod exec;
mod webhook;

#[cfg(test)]
mod tests;

use serde_json::{Map, Value as Json, json};

pub use deliver::{DeliveryOutcome, deliver_pending};

use crate::manifest::alerts::AlertRule;
use crate::query::{self, QueryError, QueryResult, Source};
use crate::store::{NewAlert, Store, StoreError};
use crate::timefmt;

#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("alert `{rule}`: query {error}")]
    Query { rule: String, error: QueryError },
}

/// An alert raised by [`evaluate`].
#[derive(Debug, Clone, PartialEq)]
pub struct Raised {
    pub rule: String,
    pub rows: usize,
}

/// Runs every enabled rule over the changes it has not seen yet, recording
/// an alert (with one pending delivery per action) for each that matches.
/// A rule whose query fails is reported and left where it was; the others
/// still run.
pub fn evaluate(store: &mut Store, rules: &[AlertRule], computer: &str) -> Result<Vec<Raised>, StoreError> {
    let mut raised = Vec::new();
    // Runs after every collection that recorded changes: with no rules, nothing to read.
    if rules.is_empty() {
        return Ok(raised);
    }
    let upto = store.last_change_id()?;
    let marks = store.alert_marks()?;
    let mut catalog = None;
    for rule in rules {
        let mark = marks.get(&rule.name).copied();
        // A new rule watches from now on; a disabled one lets changes pass,
        // so that enabling it later does not alert on what happened meanwhile.
        let Some(after) = mark.filter(|_| rule.enabled) else {
            if mark != Some(upto) {
                store.advance_alert_mark(&rule.name, mark, upto, None)?;
            }
            continue;
        };
        if after >= upto {
            continue;
        }
        let source = Source {
            change_window: Some(query::ChangeWindow {
                after,
                upto,
                machine: None,
            }),
            now: jiff::Timestamp::now(),
        };
        let catalog = match &catalog {
            Some(catalog) => catalog,
            None => catalog.insert(store.catalog()?),
        };
        let result = match query::compile(&rule.query, catalog, &source) {
            Ok(compiled) => store.query(&compiled)?,
            Err(error) => {
                tracing::error!(alert = %rule.name, "not evaluated: query {error}");
                continue;
            }
        };
        let time = timefmt::now();
        let document = (!result.rows.is_empty()).then(|| document(rule, computer, &time, &result).to_string());
        let alert = document.as_deref().map(|document| NewAlert {
            rule: &rule.name,
            severity: rule.severity.as_str(),
            time: &time,
            first_change: after + 1,
            last_change: upto,
            rows: result.rows.len(),
            document,
            actions: rule.actions.iter().map(|a| a.describe()).enumerate().collect(),
        });
        let advanced = store.advance_alert_mark(&rule.name, Some(after), upto, alert.as_ref())?;
        if advanced && alert.is_some() {
            tracing::info!(alert = %rule.name, severity = rule.severity.as_str(), rows = result.rows.len(), "alert raised");
            raised.push(Raised {
                rule: rule.name.clone(),
                rows: result.rows.len(),
            });
        }
    }
    Ok(raised)
}

/// Runs a rule over the whole stored history: what it would have matched.
pub fn test(store: &Store, rule: &AlertRule) -> Result<QueryResult, AlertError> {
    let catalog = store.catalog()?;
    let source = Source {
        change_window: Some(query::ChangeWindow {
            after: 0,
            upto: i64::MAX,
            machine: None,
        }),
        now: jiff::Timestamp::now(),
    };
    let compiled = query::compile(&rule.query, &catalog, &source).map_err(|error| AlertError::Query {
        rule: rule.name.clone(),
        error,
    })?;
    Ok(store.query(&compiled)?)
}

/// The JSON document every action of an alert gets.
pub fn document(rule: &AlertRule, computer: &str, time: &str, result: &QueryResult) -> Json {
    let rows: Vec<Json> = result.json_rows().into_iter().map(Json::Object).collect();
    json!({
        "rule": rule.name,
        "severity": rule.severity.as_str(),
        "query": rule.query,
        "computer": computer,
        "time": time,
        "count": rows.len(),
        "changes": rows,
    })
}

/// `document` with the alert's id first, as sent (the id lets a receiver
/// drop a repeat: after a crash mid-delivery, one is sent again).
fn with_alert_id(document: &str, alert_id: i64) -> String {
    let mut object = Map::new();
    object.insert("alert_id".into(), alert_id.into());
    if let Ok(Json::Object(fields)) = serde_json::from_str::<Json>(document) {
        object.extend(fields);
    }
    Json::Object(object).to_string()
}
