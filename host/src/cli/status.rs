//! `driftwatch status`

use std::io::Write;
use std::process::ExitCode;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Map, json};

use super::Context;
use crate::output::{Table, clip, json_line};
use crate::runtime::humanize;
use crate::timefmt;

pub fn run(ctx: &Context, json: bool) -> anyhow::Result<ExitCode> {
    let store = ctx.open_store()?;
    let mut out = std::io::stdout().lock();
    let mut table = Table::new(&[
        "COLLECTOR",
        "KIND",
        "LAST RUN",
        "RESULT",
        "ITEMS",
        "CHANGES",
        "NEXT RUN",
        "DETAIL",
    ])
    .right(4)
    .right(5);
    for spec in &ctx.manifest.collectors {
        let status = store.collector_status(&spec.name)?;
        let tracked = spec.enabled && spec.runs_on(ctx.machine.os);
        let interval = spec.interval_on(ctx.machine.os);
        let next_run = status.last_run.as_ref().filter(|_| tracked).and_then(|run| {
            let started: Timestamp = run.started.parse().ok()?;
            let due = started.checked_add(SignedDuration::try_from(interval).ok()?).ok()?;
            Some(timefmt::format(due.max(Timestamp::now())))
        });
        let detail = if !spec.enabled {
            "disabled in the manifest".to_string()
        } else if !tracked {
            format!("not for {}", ctx.machine.os)
        } else {
            status
                .last_run
                .as_ref()
                .and_then(|r| r.error.clone())
                .unwrap_or_default()
        };
        if json {
            let run = status.last_run.as_ref();
            let mut o = Map::new();
            o.insert("Collector".into(), json!(spec.name));
            o.insert("Kind".into(), json!(spec.kind.as_str()));
            o.insert(
                "Plugin".into(),
                json!(run.map_or(spec.plugin.to_string(), |r| r.plugin.clone())),
            );
            o.insert(
                "PluginVersion".into(),
                json!(run.and_then(|r| r.plugin_version.clone())),
            );
            o.insert("Tracked".into(), json!(tracked));
            o.insert("LastRun".into(), json!(run.map(|r| &r.started)));
            o.insert("Outcome".into(), json!(run.map(|r| &r.outcome)));
            o.insert("Error".into(), json!(run.and_then(|r| r.error.clone())));
            o.insert("DurationMs".into(), json!(run.map(|r| r.duration_ms)));
            o.insert("Items".into(), json!(status.items));
            o.insert("LastChanges".into(), json!(run.and_then(|r| r.changes)));
            o.insert("LastSuccess".into(), json!(status.last_success));
            o.insert("BaselineTime".into(), json!(status.baseline_time));
            o.insert("IntervalSeconds".into(), json!(interval.as_secs()));
            o.insert("NextRun".into(), json!(next_run));
            json_line(&mut out, o)?;
            continue;
        }
        let short = |t: &str| t.chars().take(19).collect::<String>().replace('T', " ");
        let run = status.last_run.as_ref();
        table.row(vec![
            spec.name.clone(),
            spec.kind.to_string(),
            run.map_or("never".into(), |r| short(&r.started)),
            run.map_or("-".into(), |r| r.outcome.clone()),
            status.items.to_string(),
            run.and_then(|r| r.changes).map_or("-".into(), |n| n.to_string()),
            next_run.as_deref().map_or("-".into(), short),
            clip(&detail, 80),
        ]);
    }
    if !json {
        writeln!(
            out,
            "Collectors of {} on {} (intervals: {})",
            ctx.manifest.source,
            ctx.machine.hostname,
            ctx.manifest
                .collectors
                .iter()
                .map(|c| format!("{} {}", c.name, humanize(c.interval_on(ctx.machine.os))))
                .collect::<Vec<_>>()
                .join(", ")
        )?;
        table.print(&mut out)?;
    }
    Ok(ExitCode::SUCCESS)
}
