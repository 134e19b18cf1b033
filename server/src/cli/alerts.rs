//! `driftwatch-server alerts set|rules|raised`: alert rules over every
//! machine's changes, and what they raised.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Subcommand;
use serde::Serialize;

use super::timestamp;
use crate::alerts::rules;
use crate::database::Database;

#[derive(Debug, Subcommand)]
pub enum AlertsAction {
    /// Replace the rules with the `[[alert]]` tables of FILE (as in the
    /// agent's manifest; actions: webhook, log). Rules watch the changes
    /// that arrive from then on, each change once per rule.
    Set { file: PathBuf },
    /// The rules.
    Rules,
    /// The latest alerts raised, newest first, with their deliveries.
    Raised {
        /// How many.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Serialize)]
struct RaisedLine {
    alert_id: i64,
    machine: String,
    rule: String,
    severity: String,
    raised_at: String,
    first_change: i64,
    last_change: i64,
    rows: i32,
    deliveries: Vec<DeliveryLine>,
}

#[derive(Serialize)]
struct DeliveryLine {
    action: String,
    state: String,
    attempts: i32,
    last_error: Option<String>,
}

pub async fn run(database: &Database, action: AlertsAction) -> anyhow::Result<()> {
    database.check_schema().await?;
    match action {
        AlertsAction::Set { file } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            let rules = match rules::parse(&text) {
                Ok(rules) => rules,
                Err(error) => bail!("{}: {error}", file.display()),
            };
            database.set_alert_rules(&rules).await?;
            println!("{} alert rules set", rules.len());
        }
        AlertsAction::Rules => {
            for (name, severity, enabled, query, actions) in database.alert_rules().await? {
                let state = if enabled { "" } else { " (disabled)" };
                println!("{name} [{severity}]{state}: {query}\n    → {}", actions.join(", "));
            }
        }
        AlertsAction::Raised { limit, json } => {
            for row in database.raised_alerts(limit).await? {
                let line = RaisedLine {
                    alert_id: row.alert_id,
                    machine: row.machine,
                    rule: row.rule,
                    severity: row.severity,
                    raised_at: timestamp(row.raised_at),
                    first_change: row.changes.0,
                    last_change: row.changes.1,
                    rows: row.rows,
                    deliveries: row
                        .deliveries
                        .into_iter()
                        .map(|(action, state, attempts, last_error)| DeliveryLine {
                            action,
                            state,
                            attempts,
                            last_error,
                        })
                        .collect(),
                };
                if json {
                    println!("{}", serde_json::to_string(&line)?);
                    continue;
                }
                let deliveries: Vec<String> = line
                    .deliveries
                    .iter()
                    .map(|d| format!("{} {} ({} attempts)", d.action, d.state, d.attempts))
                    .collect();
                println!(
                    "{}  {:<20} {:<24} {:<8} {} changes  {}",
                    line.raised_at,
                    line.machine,
                    line.rule,
                    line.severity,
                    line.rows,
                    deliveries.join("; ")
                );
            }
        }
    }
    Ok(())
}
