//! `driftwatch changes`

use std::io::Write;
use std::process::ExitCode;

use super::Context;
use crate::output::{Table, cell, clip, json_columns};
use crate::store::{ChangeFilter, ChangeRow};

pub fn run(ctx: &Context, filter: &ChangeFilter, json: bool) -> anyhow::Result<ExitCode> {
    let store = ctx.open_store()?;
    let changes = store.changes(filter)?;
    let mut out = std::io::stdout().lock();
    if json {
        for change in &changes {
            json_columns(&mut out, &change.columns)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    if changes.is_empty() {
        writeln!(
            out,
            "No changes recorded{}.",
            if filter.since.is_some() { " in that time" } else { "" }
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::new(&["ID", "TIME", "TYPE", "CHANGE", "ITEM", "FIELDS", "DETAIL"]).right(0);
    for change in &changes {
        table.row(vec![
            change.id.to_string(),
            change
                .text("TimeGenerated")
                .chars()
                .take(19)
                .collect::<String>()
                .replace('T', " "),
            change.text("ConfigChangeType").to_string(),
            change.text("ChangeCategory").to_string(),
            clip(&item_name(change), 70),
            change.text("FieldsChanged").to_string(),
            clip(&detail(change), 60),
        ]);
    }
    table.print(&mut out)?;
    writeln!(out, "{} changes", changes.len())?;
    Ok(ExitCode::SUCCESS)
}

/// What changed, named the way people know it.
fn item_name(change: &ChangeRow) -> String {
    match change.text("ConfigChangeType") {
        "Software" => change.text("SoftwareName").to_string(),
        "Files" => cell(change.get("FileSystemPath")),
        "Registry" => format!("{}\\{}", change.text("RegistryKey"), change.text("ValueName")),
        _ => change.text("SvcName").to_string(),
    }
}

/// `previous → current` for the first changed field; the version or state otherwise.
fn detail(change: &ChangeRow) -> String {
    let first_field = change.text("FieldsChanged").split(',').next().unwrap_or_default();
    let previous_column = crate::change_engine::tracked_previous_column(first_field);
    match (change.text("ChangeCategory"), previous_column) {
        ("Modified", Some(previous)) => {
            let current = crate::change_engine::change_column(first_field);
            format!("{} → {}", cell(change.get(previous)), cell(change.get(current)))
        }
        // Added items show their values, removed ones their last values.
        (category, _) => {
            let version = if category == "Removed" { "Previous" } else { "Current" };
            match change.text("ConfigChangeType") {
                "Software" => change.text(version).to_string(),
                "Files" => format!("{} bytes", cell(change.get("Size"))),
                "Registry" => change.text("ValueData").to_string(),
                _ => change.text("SvcState").to_string(),
            }
        }
    }
}
