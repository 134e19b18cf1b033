//! Fleet alerts: the rules, the alerts they raise and their deliveries.
//!
//! Rules are evaluated inside the transaction that applies a machine's
//! batch, over exactly the changes that batch added: a change is seen once
//! per rule whatever the retries, and an alert exists if and only if the
//! changes it names do. Deliveries are rows too, taken by whichever server
//! process is free (`FOR UPDATE SKIP LOCKED`) and retried with backoff.

use std::time::SystemTime;

use driftwatch_kql::{ChangeWindow, Source};
use serde_json::{Value as Json, json};

use super::machines::MachineId;
use super::query::{RunError, catalog, rows};
use super::{Database, DatabaseError};
use crate::alerts::rules::{ActionSpec, Rule};

/// Changes one alert lists at most (the count says how many matched).
const MAX_ALERT_ROWS: usize = 1000;
/// Deliveries one round makes at most.
const DELIVERY_ROUND: usize = 10;
/// How long one rule's query may take inside a batch's transaction.
const RULE_TIMEOUT_MS: u32 = 5_000;

/// A raised alert as `alerts raised` lists it.
#[derive(Debug, Clone)]
pub struct RaisedRow {
    pub alert_id: i64,
    pub machine: String,
    pub rule: String,
    pub severity: String,
    pub raised_at: SystemTime,
    pub changes: (i64, i64),
    pub rows: i32,
    /// (action, state, attempts, last error) per action.
    pub deliveries: Vec<(String, String, i32, Option<String>)>,
}

/// A delivery that is due, and the alert's document.
pub struct Due {
    attempts: i32,
    pub action: ActionSpec,
    pub rule: String,
    pub document: String,
}

/// How a delivery attempt went.
pub enum Attempt {
    Delivered,
    Failed(String),
}

impl Database {
    /// Replaces every rule with `rules`. Changes already shipped are not
    /// looked at again: rules watch what arrives from now on.
    pub async fn set_alert_rules(&self, rules: &[Rule]) -> Result<(), DatabaseError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute("DELETE FROM alert_rule", &[]).await?;
        for rule in rules {
            let actions = serde_json::to_value(&rule.actions).unwrap_or(Json::Null);
            tx.execute(
                "INSERT INTO alert_rule (name, query, severity, enabled, actions) VALUES ($1, $2, $3, $4, $5)",
                &[&rule.name, &rule.query, &rule.severity, &rule.enabled, &actions],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Turns a rule on or off; false when there is no such rule.
    pub async fn set_rule_enabled(&self, name: &str, enabled: bool) -> Result<bool, DatabaseError> {
        let client = self.client().await?;
        let updated = client
            .execute("UPDATE alert_rule SET enabled = $2 WHERE name = $1", &[&name, &enabled])
            .await?;
        Ok(updated == 1)
    }

    /// The rules, by name: (name, severity, enabled, query, actions).
    pub async fn alert_rules(&self) -> Result<Vec<(String, String, bool, String, Vec<String>)>, DatabaseError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT name, severity, enabled, query, actions FROM alert_rule ORDER BY name",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| {
                let actions: Vec<ActionSpec> = serde_json::from_value(row.get(4)).unwrap_or_default();
                (
                    row.get(0),
                    row.get(1),
                    row.get(2),
                    row.get(3),
                    actions.iter().map(ActionSpec::describe).collect(),
                )
            })
            .collect())
    }

    /// The latest alerts, newest first, with their deliveries.
    pub async fn raised_alerts(&self, limit: i64) -> Result<Vec<RaisedRow>, DatabaseError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT a.alert_id, m.name, a.rule, a.severity, a.raised_at, a.first_change, a.last_change, \
                        a.row_count, \
                        coalesce((SELECT json_agg(json_build_array(d.action, d.state, d.attempts, d.last_error) \
                                              ORDER BY d.action_index) \
                                  FROM alert_delivery d \
                                  WHERE d.machine_id = a.machine_id AND d.alert_id = a.alert_id), '[]') \
                 FROM alert a JOIN machine m USING (machine_id) \
                 ORDER BY a.raised_at DESC, a.alert_id DESC LIMIT $1",
                &[&limit],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| {
                let deliveries: Vec<(String, String, i32, Option<String>)> =
                    serde_json::from_value(row.get(8)).unwrap_or_default();
                RaisedRow {
                    alert_id: row.get(0),
                    machine: row.get(1),
                    rule: row.get(2),
                    severity: row.get(3),
                    raised_at: row.get(4),
                    changes: (row.get(5), row.get(6)),
                    rows: row.get(7),
                    deliveries,
                }
            })
            .collect())
    }

    /// Makes the deliveries that are due, one transaction each (other
    /// server processes skip the one this process holds), and records how
    /// each went; how many it made.
    pub async fn deliver_due<F, Fut>(&self, attempt: F) -> Result<usize, DatabaseError>
    where
        F: Fn(Due) -> Fut,
        Fut: std::future::Future<Output = (Due, Attempt)>,
    {
        let mut client = self.client().await?;
        for made in 0..DELIVERY_ROUND {
            let tx = client.transaction().await?;
            let Some(row) = tx
                .query_opt(
                    "SELECT d.machine_id, d.alert_id, d.action_index, d.attempts, d.spec, a.rule, a.document::text \
                     FROM alert_delivery d JOIN alert a USING (machine_id, alert_id) \
                     WHERE d.state = 'pending' AND d.next_attempt <= clock_timestamp() \
                     ORDER BY d.next_attempt LIMIT 1 FOR UPDATE OF d SKIP LOCKED",
                    &[],
                )
                .await?
            else {
                return Ok(made);
            };
            let (machine_id, alert_id, action_index): (i64, i64, i32) = (row.get(0), row.get(1), row.get(2));
            let key: [&(dyn tokio_postgres::types::ToSql + Sync); 3] = [&machine_id, &alert_id, &action_index];
            let action: ActionSpec = match serde_json::from_value(row.get(4)) {
                Ok(action) => action,
                Err(error) => {
                    tracing::error!("an alert delivery's action is unreadable, given up: {error}");
                    tx.execute(
                        "UPDATE alert_delivery SET state = 'failed', last_error = 'unreadable action' \
                         WHERE machine_id = $1 AND alert_id = $2 AND action_index = $3",
                        &key,
                    )
                    .await?;
                    tx.commit().await?;
                    continue;
                }
            };
            let due = Due {
                attempts: row.get(3),
                action,
                rule: row.get(5),
                document: row.get(6),
            };
            let (due, outcome) = attempt(due).await;
            let attempts = due.attempts + 1;
            match outcome {
                Attempt::Delivered => {
                    tx.execute(
                        "UPDATE alert_delivery SET state = 'delivered', attempts = attempts + 1, \
                         delivered_at = clock_timestamp(), last_error = NULL \
                         WHERE machine_id = $1 AND alert_id = $2 AND action_index = $3",
                        &key,
                    )
                    .await?;
                }
                Attempt::Failed(error) => {
                    let (allowed, backoff) = match &due.action {
                        ActionSpec::Webhook {
                            retries, backoff_ms, ..
                        } => (retries.saturating_add(1), *backoff_ms),
                        ActionSpec::Log => (1, 0),
                    };
                    let gives_up = attempts as u32 >= allowed;
                    let wait = backoff.saturating_mul(1u64 << (attempts - 1).clamp(0, 16));
                    tracing::warn!(
                        alert = %due.rule,
                        "delivery by {} failed (attempt {attempts} of {allowed}){}: {error}",
                        due.action.describe(),
                        if gives_up { ", given up" } else { "" }
                    );
                    tx.execute(
                        "UPDATE alert_delivery SET state = CASE WHEN $4 THEN 'failed' ELSE 'pending' END, \
                         attempts = attempts + 1, last_error = $5, \
                         next_attempt = clock_timestamp() + make_interval(secs => $6::float8 / 1000) \
                         WHERE machine_id = $1 AND alert_id = $2 AND action_index = $3",
                        &[key[0], key[1], key[2], &gives_up, &error, &(wait as f64)],
                    )
                    .await?;
                }
            }
            tx.commit().await?;
        }
        Ok(DELIVERY_ROUND)
    }
}

/// Evaluates the enabled rules over a machine's changes `(after, upto]`,
/// inside the transaction that applied them; how many alerts were raised.
/// A rule whose query fails (a value PostgreSQL refuses) is logged and
/// skipped; the batch still lands.
pub(super) async fn raise(
    tx: &mut deadpool_postgres::Transaction<'_>,
    machine: &MachineId,
    after: i64,
    upto: i64,
) -> Result<usize, DatabaseError> {
    let rules = tx
        .query(
            "SELECT name, query, severity, actions FROM alert_rule WHERE enabled ORDER BY name",
            &[],
        )
        .await?;
    if rules.is_empty() {
        return Ok(0);
    }
    let catalog = catalog();
    let now = jiff::Timestamp::now();
    let mut raised = 0;
    for rule in rules {
        let (name, query, severity): (String, String, String) = (rule.get(0), rule.get(1), rule.get(2));
        let actions: Vec<ActionSpec> = serde_json::from_value(rule.get(3)).unwrap_or_default();
        let source = Source {
            change_window: Some(ChangeWindow {
                after,
                upto,
                machine: Some(machine.id),
            }),
            now,
        };
        let compiled = match driftwatch_kql::compile(&query, &catalog, &source) {
            Ok(compiled) => compiled,
            Err(error) => {
                tracing::error!(alert = %name, "not evaluated: query {error}");
                continue;
            }
        };
        // Each rule in a savepoint, under a time limit: a rule that fails
        // (a value or an operation PostgreSQL refuses) is skipped, the batch
        // still lands; only a lost connection fails it.
        let savepoint = tx.transaction().await?;
        savepoint
            .batch_execute(&format!("SET LOCAL statement_timeout = {RULE_TIMEOUT_MS}"))
            .await?;
        let answer = match rows(&*savepoint, &compiled, MAX_ALERT_ROWS).await {
            Ok(answer) => {
                savepoint.commit().await?;
                answer
            }
            Err(RunError::Database(DatabaseError::Sql(error))) if error.as_db_error().is_none() => {
                return Err(DatabaseError::Sql(error));
            }
            Err(error) => {
                savepoint.rollback().await?;
                tracing::error!(alert = %name, machine = %machine.name, "not evaluated: {error}");
                continue;
            }
        };
        tx.batch_execute("SET LOCAL statement_timeout TO DEFAULT").await?;
        if answer.result.rows.is_empty() {
            continue;
        }
        let changes: Vec<Json> = answer.result.json_rows().into_iter().map(Json::Object).collect();
        let document = json!({
            "rule": name,
            "severity": severity,
            "query": query,
            "computer": machine.name,
            "time": now.to_string(),
            "count": changes.len(),
            "changes": changes,
        });
        let alert_id: i64 = tx
            .query_one(
                "INSERT INTO alert (machine_id, rule, severity, first_change, last_change, row_count, document) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING alert_id",
                &[
                    &machine.id,
                    &name,
                    &severity,
                    &(after + 1),
                    &upto,
                    &(answer.result.rows.len() as i32),
                    &document,
                ],
            )
            .await?
            .get(0);
        for (index, action) in actions.iter().enumerate() {
            let spec = serde_json::to_value(action).unwrap_or(Json::Null);
            tx.execute(
                "INSERT INTO alert_delivery (machine_id, alert_id, action_index, action, spec) \
                 VALUES ($1, $2, $3, $4, $5)",
                &[&machine.id, &alert_id, &(index as i32), &action.describe(), &spec],
            )
            .await?;
        }
        tracing::info!(alert = %name, machine = %machine.name, rows = answer.result.rows.len(), "alert raised");
        raised += 1;
    }
    Ok(raised)
}
