//! `driftwatch runs`

use std::io::Write;
use std::process::ExitCode;

use super::Context;
use crate::output::{Table, clip, json_record};

pub fn run(ctx: &Context, collector: Option<&str>, limit: usize, json: bool) -> anyhow::Result<ExitCode> {
    let store = ctx.open_store()?;
    let runs = store.runs(collector, limit)?;
    let mut out = std::io::stdout().lock();
    if json {
        for run in &runs {
            json_record(&mut out, run)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    if runs.is_empty() {
        writeln!(out, "No runs recorded.")?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::new(&[
        "ID",
        "STARTED",
        "COLLECTOR",
        "SCOPE",
        "RESULT",
        "ITEMS",
        "CHANGES",
        "TIME",
        "DETAIL",
    ])
    .right(0)
    .right(5)
    .right(6)
    .right(7);
    let count = |n: Option<i64>| n.map_or("-".into(), |n| n.to_string());
    for run in &runs {
        let detail = match (&run.error, run.scope_paths.as_slice()) {
            (Some(error), _) => error.clone(),
            (None, []) => String::new(),
            (None, paths) => paths.join(" "),
        };
        table.row(vec![
            run.run_id.to_string(),
            run.time_started.chars().take(19).collect::<String>().replace('T', " "),
            run.collector.clone(),
            run.scope.clone().unwrap_or_else(|| "-".into()),
            run.outcome.clone(),
            count(run.item_count),
            count(run.change_count),
            format!("{} ms", run.duration_ms),
            clip(&detail, 70),
        ]);
    }
    table.print(&mut out)?;
    Ok(ExitCode::SUCCESS)
}
