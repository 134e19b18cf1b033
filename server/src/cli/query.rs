//! `driftwatch-server query`: KQL over every machine's records.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use driftwatch_kql::{QueryResult, Source, Type};

use crate::database::Database;
use crate::database::query::{RunError, catalog};

/// How long a query from the command line may run.
const TIMEOUT: Duration = Duration::from_secs(600);
/// The widest a cell is shown in a table (JSON has it whole).
const CELL_WIDTH: usize = 80;

pub async fn run(database: &Database, text: &str, json: bool) -> anyhow::Result<ExitCode> {
    database.check_schema().await?;
    let source = Source {
        change_window: None,
        now: jiff::Timestamp::now(),
    };
    let compiled = match driftwatch_kql::compile(text, &catalog(), &source) {
        Ok(compiled) => compiled,
        Err(error) => {
            eprintln!("error: query: {}", error.render());
            return Ok(ExitCode::from(2));
        }
    };
    tracing::debug!(sql = %compiled.sql, "translated query");
    let answer = match database.query(&compiled, usize::MAX, TIMEOUT).await {
        Ok(answer) => answer,
        Err(RunError::Database(error)) => return Err(error.into()),
        Err(error) => {
            eprintln!("error: {error}");
            return Ok(ExitCode::from(2));
        }
    };
    if let Some(chart) = &compiled.render {
        eprintln!("note: 'render {chart}' is drawn by the web console; here are its rows");
    }
    let mut out = std::io::stdout().lock();
    if json {
        for row in answer.result.json_rows() {
            serde_json::to_writer(&mut out, &row)?;
            writeln!(out)?;
        }
    } else {
        print_table(&mut out, &answer.result)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Columns padded to their widest cell, numbers to the right.
fn print_table(out: &mut impl Write, result: &QueryResult) -> std::io::Result<()> {
    let cells: Vec<Vec<String>> = result
        .rows
        .iter()
        .map(|row| row.iter().map(|cell| clip(&cell.display())).collect())
        .collect();
    let mut widths: Vec<usize> = result.columns.iter().map(|c| c.name.chars().count()).collect();
    for row in &cells {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let numeric: Vec<bool> = result
        .columns
        .iter()
        .map(|c| matches!(c.ty, Type::Long | Type::Real))
        .collect();
    let line = |out: &mut dyn Write, row: Vec<&str>| -> std::io::Result<()> {
        let mut text = String::new();
        for (i, cell) in row.iter().enumerate() {
            let pad = " ".repeat(widths[i].saturating_sub(cell.chars().count()));
            let last = i + 1 == row.len();
            match (numeric[i], last) {
                (true, _) => text.push_str(&format!("{pad}{cell}")),
                (false, true) => text.push_str(cell),
                (false, false) => text.push_str(&format!("{cell}{pad}")),
            }
            if !last {
                text.push_str("  ");
            }
        }
        writeln!(out, "{}", text.trim_end())
    };
    if !cells.is_empty() {
        line(out, result.columns.iter().map(|c| c.name.as_str()).collect())?;
        for row in &cells {
            line(out, row.iter().map(String::as_str).collect())?;
        }
    }
    let n = cells.len();
    writeln!(out, "{n} row{}", if n == 1 { "" } else { "s" })
}

/// One line, at most [`CELL_WIDTH`] characters.
fn clip(text: &str) -> String {
    let flat = text.replace(['\n', '\r', '\t'], " ");
    if flat.chars().count() <= CELL_WIDTH {
        return flat;
    }
    let mut clipped: String = flat.chars().take(CELL_WIDTH - 1).collect();
    clipped.push('…');
    clipped
}
