//! `driftwatch scan`

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;

use serde::Serialize;

use super::Context;
use crate::output::{Table, clip, json_record};
use crate::pipeline::{CollectorReport, Outcome, Request};
use crate::runtime::humanize;
use crate::scan::ScanOptions;
use crate::store::Store;

/// Warnings shown per collector in the human summary.
const SHOWN_WARNINGS: usize = 5;

pub fn run(ctx: &Context, json: bool, full: bool) -> anyhow::Result<ExitCode> {
    let store = Mutex::new(ctx.open_store()?);
    let runtime = ctx.runtime()?;
    if ctx.manifest.collectors.is_empty() {
        eprintln!(
            "driftwatch: the manifest {} has no collectors: there is nothing to scan",
            ctx.manifest.source
        );
    }
    let show_progress = std::io::stderr().is_terminal();
    let options = ScanOptions {
        parallel: ctx.parallel(),
        request: if full { Request::Full } else { Request::Scheduled },
        hook: &(),
    };
    let report = crate::scan::scan(
        &runtime,
        &ctx.manifest,
        &ctx.machine,
        &store,
        options,
        |done, total, last| {
            if show_progress {
                eprint!("\r\x1b[Kscanning: {done}/{total} collectors done ({})", last.collector);
            }
        },
    )?;
    if show_progress {
        eprint!("\r\x1b[K");
    }
    let store = store.into_inner().unwrap_or_else(|p| p.into_inner());
    let (mut store, alerts) = raise_alerts(ctx, store, &report.computer);
    let shipping = super::ship::after_scan(ctx, &mut store);
    let (store, sent) = send_outputs(ctx, store);
    let mut out = std::io::stdout().lock();
    if json {
        for c in &report.collectors {
            json_record(&mut out, &CollectorJson::new(c, &report.computer))?;
        }
        if let Some(line) = shipping {
            eprintln!("driftwatch: {line}");
        }
        for line in &sent {
            eprintln!("driftwatch: {line}");
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
        if let Some(line) = shipping {
            writeln!(out, "{line}")?;
        }
        for line in &sent {
            writeln!(out, "{line}")?;
        }
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

/// Sends the manifest's outputs what they have not been sent (what this
/// scan recorded, and anything left from before). Failures are reported:
/// the records stay for the next attempt. Returns lines for people.
fn send_outputs(ctx: &Context, store: Store) -> (Store, Vec<String>) {
    let mut lines = Vec::new();
    if ctx.manifest.outputs.is_empty() {
        return (store, lines);
    }
    let mut outputs = crate::outputs::Outputs::new(&ctx.manifest.outputs, &ctx.state_dir);
    let shared = Mutex::new(store);
    match outputs.send_pending(&shared, &AtomicBool::new(false)) {
        Ok(reports) => {
            for report in reports {
                let (name, destination, sent) = (&report.name, &report.destination, report.sent);
                let plural = if sent == 1 { "" } else { "s" };
                lines.push(match (&report.error, report.busy) {
                    (_, true) => format!("Output {name} ({destination}): being sent by another driftwatch process"),
                    (Some(error), _) => format!(
                        "Output {name} ({destination}): sent {sent} record{plural}, then failed \
                         (the rest is kept for the next time): {error}"
                    ),
                    (None, _) => format!("Output {name} ({destination}): sent {sent} record{plural}"),
                });
            }
        }
        Err(error) => lines.push(format!("Outputs not sent: {error}")),
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

/// One collector of a scan, as `scan --json` prints it.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct CollectorJson<'a> {
    computer: &'a str,
    time_generated: &'a str,
    collector: &'a str,
    kind: &'a str,
    plugin: &'a str,
    plugin_version: Option<&'a str>,
    duration_ms: u64,
    /// What the run looked at: `full`, `incremental` or `targeted`.
    scope: Option<&'a str>,
    #[serde(flatten)]
    outcome: OutcomeJson<'a>,
}

#[derive(Serialize)]
#[serde(tag = "Outcome", rename_all = "lowercase", rename_all_fields = "PascalCase")]
enum OutcomeJson<'a> {
    Collected {
        items: usize,
        changes: usize,
        baseline: Option<&'a str>,
        incomplete: Option<&'a str>,
        warnings: Vec<WarningJson<'a>>,
    },
    Skipped {
        reason: &'a str,
    },
    Failed {
        error: &'a str,
    },
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct WarningJson<'a> {
    subject: &'a str,
    message: &'a str,
}

impl<'a> CollectorJson<'a> {
    fn new(c: &'a CollectorReport, computer: &'a str) -> CollectorJson<'a> {
        let outcome = match &c.outcome {
            Outcome::Collected {
                items,
                changes,
                baseline,
                warnings,
                incomplete,
            } => OutcomeJson::Collected {
                items: *items,
                changes: *changes,
                baseline: *baseline,
                incomplete: incomplete.as_deref(),
                warnings: warnings
                    .iter()
                    .map(|w| WarningJson {
                        subject: &w.subject,
                        message: &w.message,
                    })
                    .collect(),
            },
            Outcome::Skipped(reason) => OutcomeJson::Skipped { reason },
            Outcome::Failed(error) => OutcomeJson::Failed { error },
        };
        CollectorJson {
            computer,
            time_generated: &c.started,
            collector: &c.collector,
            kind: c.kind.as_str(),
            plugin: &c.plugin,
            plugin_version: c.plugin_version.as_deref(),
            duration_ms: c.duration.as_millis() as u64,
            scope: c.scope.as_ref().map(|s| s.as_str()),
            outcome,
        }
    }
}
