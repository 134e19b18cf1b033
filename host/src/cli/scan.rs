//! `driftwatch scan`

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;

use serde_json::{Map, json};

use super::Context;
use crate::output::{Table, clip, json_line};
use crate::runtime::humanize;
use crate::scan::{CollectorReport, Outcome};
use crate::store::Store;

/// Warnings shown per collector in the human summary.
const SHOWN_WARNINGS: usize = 5;

pub fn run(ctx: &Context, json: bool, full: bool) -> anyhow::Result<ExitCode> {
    let mut store = ctx.open_store()?;
    let runtime = ctx.runtime()?;
    let show_progress = std::io::stderr().is_terminal();
    let report = crate::scan::scan(
        &runtime,
        &ctx.manifest,
        &ctx.machine,
        &mut store,
        ctx.parallel(),
        full,
        |done, total, last| {
            if show_progress {
                eprint!("\r\x1b[Kscanning: {done}/{total} collectors done ({})", last.collector);
            }
        },
    )?;
    if show_progress {
        eprint!("\r\x1b[K");
    }
    let (store, alerts) = raise_alerts(ctx, store, &report.computer);
    let mut out = std::io::stdout().lock();
    if json {
        for c in &report.collectors {
            json_line(&mut out, report_json(c, &report.computer))?;
        }
    } else {
        let place = match &ctx.machine.root {
            None => "live".to_string(),
            Some(root) => format!("offline image {}", root.display()),
        };
        writeln!(
            out,
            "Scanned {} ({}, {place}) in {}: {} changes",
            report.computer,
            ctx.machine.os,
            humanize(report.duration),
            report.changes()
        )?;
        let mut table = Table::new(&[
            "COLLECTOR",
            "KIND",
            "PLUGIN",
            "RESULT",
            "ITEMS",
            "CHANGES",
            "TIME",
            "DETAIL",
        ])
        .right(4)
        .right(5);
        for c in &report.collectors {
            table.row(summary_row(c));
        }
        table.print(&mut out)?;
        for c in &report.collectors {
            if let Outcome::Collected { warnings, .. } = &c.outcome {
                for w in warnings.iter().take(SHOWN_WARNINGS) {
                    writeln!(
                        out,
                        "  warning: {}: {}: {}",
                        c.collector,
                        w.subject,
                        clip(&w.message, 160)
                    )?;
                }
                if warnings.len() > SHOWN_WARNINGS {
                    let more = warnings.len() - SHOWN_WARNINGS;
                    writeln!(out, "  ... {more} more warnings from {} (see --json)", c.collector)?;
                }
            }
        }
        for line in alerts {
            writeln!(out, "{line}")?;
        }
        writeln!(out, "Stored in {}", store.path().display())?;
    }
    Ok(if report.failures() > 0 {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}

/// Evaluates the manifest's alert rules on the changes just recorded and
/// delivers what they raise (and anything left pending). Problems are
/// logged: the scan itself is already recorded. Returns lines for people.
fn raise_alerts(ctx: &Context, mut store: Store, computer: &str) -> (Store, Vec<String>) {
    let rules = &ctx.manifest.alerts;
    let mut lines = Vec::new();
    if rules.is_empty() {
        return (store, lines);
    }
    match crate::alerts::evaluate(&mut store, rules, computer) {
        Ok(raised) => {
            for alert in raised {
                let rows = alert.rows;
                lines.push(format!(
                    "Alert {}: {rows} matching row{}",
                    alert.rule,
                    if rows == 1 { "" } else { "s" }
                ));
            }
        }
        Err(error) => tracing::error!("alert rules not evaluated: {error}"),
    }
    let shared = Mutex::new(store);
    match crate::alerts::deliver_pending(&shared, rules, &AtomicBool::new(false)) {
        Ok(outcomes) => {
            for o in outcomes {
                let tries = if o.attempts == 1 {
                    "1 attempt".into()
                } else {
                    format!("{} attempts", o.attempts)
                };
                let error = o.error.map(|e| format!(": {e}")).unwrap_or_default();
                lines.push(format!(
                    "  {} → {}: {} ({tries}){error}",
                    o.rule,
                    o.action,
                    o.state.as_str()
                ));
            }
        }
        Err(error) => tracing::error!("alerts not delivered: {error}"),
    }
    (shared.into_inner().unwrap_or_else(|p| p.into_inner()), lines)
}

fn summary_row(c: &CollectorReport) -> Vec<String> {
    let (result, items, changes, detail) = match &c.outcome {
        Outcome::Collected {
            items,
            changes,
            baseline,
            warnings,
            incomplete,
        } => {
            let mut detail = Vec::new();
            if let Some(why) = baseline {
                detail.push(format!("baseline ({why})"));
            }
            if let Some(why) = incomplete {
                detail.push(format!("incomplete: {why}"));
            }
            match warnings.len() {
                0 => {}
                1 => detail.push("1 warning".into()),
                n => detail.push(format!("{n} warnings")),
            }
            ("collected", items.to_string(), changes.to_string(), detail.join("; "))
        }
        Outcome::Skipped(why) => ("skipped", "-".into(), "-".into(), why.clone()),
        Outcome::Failed(why) => ("FAILED", "-".into(), "-".into(), why.clone()),
    };
    let plugin = match &c.plugin_version {
        Some(v) => format!("{} {v}", c.plugin),
        None => c.plugin.clone(),
    };
    let time = if c.duration.is_zero() {
        "-".into()
    } else {
        humanize(c.duration)
    };
    vec![
        c.collector.clone(),
        c.kind.to_string(),
        plugin,
        result.into(),
        items,
        changes,
        time,
        clip(&detail, 100),
    ]
}

fn report_json(c: &CollectorReport, computer: &str) -> Map<String, serde_json::Value> {
    let mut o = Map::new();
    o.insert("Computer".into(), json!(computer));
    o.insert("TimeGenerated".into(), json!(c.started));
    o.insert("Collector".into(), json!(c.collector));
    o.insert("Kind".into(), json!(c.kind.as_str()));
    o.insert("Plugin".into(), json!(c.plugin));
    o.insert("PluginVersion".into(), json!(c.plugin_version));
    o.insert("DurationMs".into(), json!(c.duration.as_millis() as u64));
    match &c.outcome {
        Outcome::Collected {
            items,
            changes,
            baseline,
            warnings,
            incomplete,
        } => {
            o.insert("Outcome".into(), json!("collected"));
            o.insert("Items".into(), json!(items));
            o.insert("Changes".into(), json!(changes));
            o.insert("Baseline".into(), json!(baseline));
            o.insert("Incomplete".into(), json!(incomplete));
            let warnings: Vec<_> = warnings
                .iter()
                .map(|w| json!({"Subject": w.subject, "Message": w.message}))
                .collect();
            o.insert("Warnings".into(), json!(warnings));
        }
        Outcome::Skipped(why) => {
            o.insert("Outcome".into(), json!("skipped"));
            o.insert("Reason".into(), json!(why));
        }
        Outcome::Failed(why) => {
            o.insert("Outcome".into(), json!("failed"));
            o.insert("Error".into(), json!(why));
        }
    }
    o
}
