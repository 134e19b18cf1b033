//! `driftwatch alerts`

use std::io::Write;
use std::process::ExitCode;

use serde_json::json;

use super::Context;
use crate::output::{Table, clip, json_line};

/// `alerts test NAME`: what the rule matches in the stored history; nothing is sent.
pub fn test(ctx: &Context, name: &str, json: bool) -> anyhow::Result<ExitCode> {
    let Some(rule) = ctx.manifest.alerts.iter().find(|r| r.name == name) else {
        let names: Vec<&str> = ctx.manifest.alerts.iter().map(|r| r.name.as_str()).collect();
        anyhow::bail!(
            "no alert named `{name}` in {}{}",
            ctx.manifest.source,
            if names.is_empty() {
                " (it has no [[alert]] rules)".to_string()
            } else {
                format!("; its alerts: {}", names.join(", "))
            }
        );
    };
    let store = ctx.open_store()?;
    let result = crate::alerts::test(&store, rule)?;
    let mut out = std::io::stdout().lock();
    if json {
        let time = crate::timefmt::now();
        let document = crate::alerts::document(rule, &ctx.machine.hostname, &time, &result);
        serde_json::to_writer_pretty(&mut out, &document)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    let actions: Vec<String> = rule.actions.iter().map(|a| a.describe()).collect();
    writeln!(
        out,
        "Alert {} ({}), over all stored changes: {} matching row{}. Nothing sent; it would go to: {}",
        rule.name,
        rule.severity.as_str(),
        result.rows.len(),
        if result.rows.len() == 1 { "" } else { "s" },
        actions.join(", ")
    )?;
    if !result.rows.is_empty() {
        let headers: Vec<&str> = result.columns.iter().map(|c| c.name.as_str()).collect();
        let mut table = Table::new(&headers);
        for row in &result.rows {
            table.row(row.iter().map(|cell| clip(&cell.display(), 60)).collect());
        }
        table.print(&mut out)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `alerts list`: the alerts raised, newest first, and how their delivery went.
pub fn list(ctx: &Context, limit: usize, json: bool) -> anyhow::Result<ExitCode> {
    let store = ctx.open_store()?;
    let alerts = store.alerts(limit)?;
    let mut out = std::io::stdout().lock();
    if json {
        for a in &alerts {
            let deliveries: Vec<_> = a
                .deliveries
                .iter()
                .map(|d| {
                    json!({
                        "Action": d.action, "State": d.state, "Attempts": d.attempts,
                        "LastAttempt": d.last_attempt, "DeliveredAt": d.delivered_at, "Error": d.error,
                    })
                })
                .collect();
            let object = json!({
                "AlertId": a.alert_id, "Rule": a.rule, "Severity": a.severity, "TimeGenerated": a.time,
                "Rows": a.rows, "FirstChangeId": a.first_change, "LastChangeId": a.last_change,
                "Deliveries": deliveries,
            });
            if let serde_json::Value::Object(map) = object {
                json_line(&mut out, map)?;
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    if alerts.is_empty() {
        writeln!(out, "No alerts raised.")?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::new(&["ID", "TIME", "ALERT", "SEVERITY", "ROWS", "ACTION", "DELIVERY"])
        .right(0)
        .right(4);
    for a in &alerts {
        let time = a.time.chars().take(19).collect::<String>().replace('T', " ");
        for (i, d) in a.deliveries.iter().enumerate() {
            let delivery = match (&d.delivered_at, &d.error) {
                (Some(at), _) => format!(
                    "{} after {} attempt(s), {}",
                    d.state,
                    d.attempts,
                    &at[11..19.min(at.len())]
                ),
                (None, Some(error)) => format!("{} after {} attempt(s): {error}", d.state, d.attempts),
                (None, None) => d.state.clone(),
            };
            let first = i == 0;
            table.row(vec![
                if first { a.alert_id.to_string() } else { String::new() },
                if first { time.clone() } else { String::new() },
                if first { a.rule.clone() } else { String::new() },
                if first { a.severity.clone() } else { String::new() },
                if first { a.rows.to_string() } else { String::new() },
                clip(&d.action, 50),
                clip(&delivery, 70),
            ]);
        }
    }
    table.print(&mut out)?;
    Ok(ExitCode::SUCCESS)
}
