//! `driftwatch inventory`

use std::io::Write;
use std::process::ExitCode;

use super::Context;
use crate::inventory::DataType;
use crate::output::{Table, cell, clip, json_columns};
use crate::store::Row;

pub fn run(ctx: &Context, data_type: Option<DataType>, json: bool) -> anyhow::Result<ExitCode> {
    let store = ctx.open_store()?;
    let rows = store.inventory(data_type)?;
    let mut out = std::io::stdout().lock();
    if json {
        for row in &rows {
            json_columns(&mut out, &row.columns)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        writeln!(
            out,
            "No inventory stored in {} yet; run `driftwatch scan`.",
            store.path().display()
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    for t in DataType::ALL {
        let of_type: Vec<&Row> = rows.iter().filter(|r| r.data_type == t).collect();
        if of_type.is_empty() {
            continue;
        }
        writeln!(out, "{t} ({} items)", of_type.len())?;
        let (headers, columns, widths) = summary_columns(t);
        let mut table = Table::new(headers);
        for row in of_type {
            let get = |name: &str| row.columns.iter().find(|(c, _)| c == name).map(|(_, v)| v);
            table.row(
                columns
                    .iter()
                    .zip(widths)
                    .map(|(c, w)| clip(&cell(get(c)), *w))
                    .collect(),
            );
        }
        table.print(&mut out)?;
        writeln!(out)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The columns a person wants to see per type, and how wide they may get.
fn summary_columns(t: DataType) -> (&'static [&'static str], &'static [&'static str], &'static [usize]) {
    match t {
        DataType::Software => (
            &["NAME", "VERSION", "ARCH", "STATE", "PUBLISHER"],
            &[
                "SoftwareName",
                "CurrentVersion",
                "Architecture",
                "InstallState",
                "Publisher",
            ],
            &[40, 40, 10, 16, 50],
        ),
        DataType::Daemons | DataType::WindowsServices => (
            &["NAME", "STATE", "STARTUP", "PATH"],
            &["SvcName", "SvcState", "SvcStartupType", "SvcPath"],
            &[40, 10, 12, 70],
        ),
        DataType::Files => (
            &["PATH", "SIZE", "MODIFIED", "CHECKSUM"],
            &["FileSystemPath", "Size", "DateModified", "FileContentChecksum"],
            &[70, 12, 27, 16],
        ),
        DataType::Registry => (
            &["KEY", "VALUE", "TYPE", "DATA"],
            &["RegistryKey", "ValueName", "ValueType", "ValueData"],
            &[70, 30, 14, 40],
        ),
    }
}
