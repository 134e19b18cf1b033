//! `driftwatch status`

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use super::Context;
use crate::manifest::{CollectorSpec, FULL_RUN_CAP};
use crate::output::{Table, clip, json_record};
use crate::runtime::humanize;
use crate::store::CollectorStatus;
use crate::timefmt;

/// One collector's status, as `status --json` prints it.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct StatusRow {
    collector: String,
    kind: &'static str,
    plugin: String,
    plugin_version: Option<String>,
    /// Enabled, and for this machine's OS.
    tracked: bool,
    last_run: Option<String>,
    outcome: Option<String>,
    error: Option<String>,
    duration_ms: Option<i64>,
    /// What the last run looked at: `full`, `incremental` or `targeted`.
    scope: Option<String>,
    scope_paths: Vec<String>,
    items: usize,
    last_changes: Option<i64>,
    last_success: Option<String>,
    last_full: Option<String>,
    baseline_time: Option<String>,
    interval_seconds: u64,
    next_run: Option<String>,
    #[serde(skip)]
    detail: String,
}

/// Shipping to the fleet server, as the last line of `status --json` has it.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct FleetLine {
    fleet: FleetStatus,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct FleetStatus {
    server: String,
    machine: String,
    pending_changes: u64,
    pending_inventory: u64,
    last_shipped: Option<String>,
    last_error: Option<String>,
}

/// An output's state, as a line of `status --json` has it.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct OutputLine {
    output: OutputState,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct OutputState {
    name: String,
    destination: String,
    pending_changes: u64,
    pending_inventory: u64,
    last_sent: Option<String>,
    last_error: Option<String>,
}

pub fn run(ctx: &Context, json: bool) -> anyhow::Result<ExitCode> {
    let store = ctx.open_store()?;
    let mut rows = Vec::new();
    for spec in &ctx.manifest.collectors {
        rows.push(row(ctx, spec, store.collector_status(&spec.name)?));
    }
    let fleet = fleet_status(ctx, &store)?;
    let outputs = output_states(ctx, &store)?;
    let mut out = std::io::stdout().lock();
    if json {
        for row in &rows {
            json_record(&mut out, row)?;
        }
        if let Some(fleet) = fleet {
            json_record(&mut out, &FleetLine { fleet })?;
        }
        for output in outputs {
            json_record(&mut out, &OutputLine { output })?;
        }
    } else {
        print_table(ctx, &rows, &mut out)?;
        if let Some(fleet) = fleet {
            let shipped = fleet.last_shipped.as_deref().unwrap_or("never");
            writeln!(
                out,
                "Fleet: {} as {}; not yet shipped: {} changes, {} inventory entries; last shipped {shipped}",
                fleet.server, fleet.machine, fleet.pending_changes, fleet.pending_inventory
            )?;
            if let Some(error) = fleet.last_error {
                writeln!(out, "  last attempt failed: {error}")?;
            }
        }
        for output in outputs {
            let sent = output.last_sent.as_deref().unwrap_or("never");
            writeln!(
                out,
                "Output {} ({}): not yet sent: {} changes, {} inventory records; last sent {sent}",
                output.name, output.destination, output.pending_changes, output.pending_inventory
            )?;
            if let Some(error) = output.last_error {
                writeln!(out, "  last attempt failed: {error}")?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Where each of the manifest's outputs stands.
fn output_states(ctx: &Context, store: &crate::store::Store) -> anyhow::Result<Vec<OutputState>> {
    let outputs = &ctx.manifest.outputs;
    let named: Vec<_> = outputs.iter().map(|o| (o.name.as_str(), o.records)).collect();
    let states = store.output_status(&named)?;
    Ok(states
        .into_iter()
        .zip(outputs)
        .map(|(state, output)| OutputState {
            name: state.name,
            destination: output.sink.describe(),
            pending_changes: state.pending_changes,
            pending_inventory: state.pending_inventory,
            last_sent: state.last_sent,
            last_error: state.last_error,
        })
        .collect())
}

/// Where shipping stands, when this machine is in a fleet. Before its
/// first shipment everything is pending.
fn fleet_status(ctx: &Context, store: &crate::store::Store) -> anyhow::Result<Option<FleetStatus>> {
    let Some(membership) = crate::fleet::Membership::load(&ctx.state_dir)? else {
        return Ok(None);
    };
    let shipped = store
        .ship_status()?
        .filter(|s| s.server == membership.server && s.machine == membership.machine);
    let (pending_changes, pending_inventory, last_shipped, last_error) = match shipped {
        Some(s) => (s.pending_changes, s.pending_inventory, s.last_shipped, s.last_error),
        None => {
            let (changes, inventory) = store.outbox_totals()?;
            (changes, inventory, None, None)
        }
    };
    Ok(Some(FleetStatus {
        server: membership.server,
        machine: membership.machine,
        pending_changes,
        pending_inventory,
        last_shipped,
        last_error,
    }))
}

fn row(ctx: &Context, spec: &CollectorSpec, status: CollectorStatus) -> StatusRow {
    let tracked = spec.enabled && spec.runs_on(ctx.machine.os);
    // The agent's interval, capped as the agent caps it.
    let interval = spec.interval_on(ctx.machine.os);
    let run = status.last_run;
    let next_run = run
        .as_ref()
        .filter(|_| tracked)
        .and_then(|run| after(&run.time_started, interval));
    let detail = if !spec.enabled {
        "disabled in the manifest".to_string()
    } else if !tracked {
        format!("not for {}", ctx.machine.os)
    } else {
        run.as_ref().and_then(|r| r.error.clone()).unwrap_or_default()
    };
    let plugin = run
        .as_ref()
        .map_or_else(|| spec.plugin.to_string(), |r| r.plugin.clone());
    StatusRow {
        collector: spec.name.clone(),
        kind: spec.kind.as_str(),
        plugin,
        plugin_version: run.as_ref().and_then(|r| r.plugin_version.clone()),
        tracked,
        last_run: run.as_ref().map(|r| r.time_started.clone()),
        outcome: run.as_ref().map(|r| r.outcome.clone()),
        error: run.as_ref().and_then(|r| r.error.clone()),
        duration_ms: run.as_ref().map(|r| r.duration_ms),
        scope: run.as_ref().and_then(|r| r.scope.clone()),
        scope_paths: run.as_ref().map(|r| r.scope_paths.clone()).unwrap_or_default(),
        items: status.items,
        last_changes: run.as_ref().and_then(|r| r.change_count),
        last_success: status.last_success,
        last_full: status.last_full,
        baseline_time: status.baseline_time,
        interval_seconds: interval.as_secs(),
        next_run,
        detail,
    }
}

/// `time` plus `interval`, or now if that is past.
fn after(time: &str, interval: Duration) -> Option<String> {
    let started: Timestamp = time.parse().ok()?;
    let due = started.checked_add(SignedDuration::try_from(interval).ok()?).ok()?;
    Some(timefmt::format(due.max(Timestamp::now())))
}

fn print_table(ctx: &Context, rows: &[StatusRow], out: &mut impl Write) -> std::io::Result<()> {
    let intervals: Vec<String> = ctx
        .manifest
        .collectors
        .iter()
        .map(|c| format!("{} {}", c.name, humanize(c.interval_on(ctx.machine.os))))
        .collect();
    writeln!(
        out,
        "Collectors of {} on {} (intervals: {}; everything is collected again at least every {})",
        ctx.manifest.source,
        ctx.machine.hostname,
        intervals.join(", "),
        humanize(FULL_RUN_CAP)
    )?;
    let mut table = Table::new(&[
        "COLLECTOR",
        "KIND",
        "LAST RUN",
        "SCOPE",
        "RESULT",
        "ITEMS",
        "CHANGES",
        "NEXT RUN",
        "DETAIL",
    ])
    .right(5)
    .right(6);
    let short = |t: &str| t.chars().take(19).collect::<String>().replace('T', " ");
    for row in rows {
        table.row(vec![
            row.collector.clone(),
            row.kind.to_string(),
            row.last_run.as_deref().map_or("never".into(), short),
            row.scope.clone().unwrap_or_else(|| "-".into()),
            row.outcome.clone().unwrap_or_else(|| "-".into()),
            row.items.to_string(),
            row.last_changes.map_or("-".into(), |n| n.to_string()),
            row.next_run.as_deref().map_or("-".into(), short),
            clip(&row.detail, 80),
        ]);
    }
    table.print(out)
}
