//! `driftwatch query`

use std::io::Write;
use std::process::ExitCode;

use super::Context;
use crate::output::{Table, clip};
use crate::query::{self, Source, Type};

pub fn run(ctx: &Context, text: &str, json: bool) -> anyhow::Result<ExitCode> {
    let store = ctx.open_store()?;
    let catalog = store.catalog()?;
    let source = Source {
        change_window: None,
        now: jiff::Timestamp::now(),
    };
    let compiled = match query::compile(text, &catalog, &source) {
        Ok(compiled) => compiled,
        Err(error) => {
            eprintln!("error: query: {}", error.render());
            return Ok(ExitCode::from(2));
        }
    };
    tracing::debug!(sql = %compiled.sql, "translated query");
    let result = store.query(&compiled)?;
    if result.rows.is_empty() {
        for hint in query::hints(text) {
            eprintln!("note: {hint}");
        }
    }
    if let Some(chart) = &compiled.render {
        eprintln!("note: 'render {chart}' is drawn by the fleet server's console; here are its rows");
    }
    let mut out = std::io::stdout().lock();
    if json {
        for row in result.json_rows() {
            serde_json::to_writer(&mut out, &row)?;
            writeln!(out)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let headers: Vec<&str> = result.columns.iter().map(|c| c.name.as_str()).collect();
    let mut table = Table::new(&headers);
    for (i, column) in result.columns.iter().enumerate() {
        if matches!(column.ty, Type::Long | Type::Real) {
            table = table.right(i);
        }
    }
    for row in &result.rows {
        table.row(row.iter().map(|cell| clip(&cell.display(), 80)).collect());
    }
    if !result.rows.is_empty() {
        table.print(&mut out)?;
    }
    let n = result.rows.len();
    writeln!(out, "{n} row{}", if n == 1 { "" } else { "s" })?;
    Ok(ExitCode::SUCCESS)
}
