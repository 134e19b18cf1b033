//! The query page: a KQL box with the supported syntax, the answer as a
//! table (or the error, with a caret under its place), and the answer as
//! CSV or JSON to download.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use driftwatch_kql::Cell;
use serde::Deserialize;

use super::pages::{Page, query_string, render, unavailable};
use super::query_chart::{self, QueryChart};
use super::session::SignedIn;
use crate::database::query::{Answer, KqlError, RunError};
use crate::http::AppState;
use crate::http::query::{MAX_ROWS, TIMEOUT};

/// Rows the page shows; downloads carry up to the API's limit.
const SHOWN_ROWS: usize = 1_000;

const EXAMPLE: &str =
    "ConfigurationChange\n| where TimeGenerated > ago(1d)\n| summarize count() by Computer, ConfigChangeType";

#[derive(Deserialize)]
pub struct QueryText {
    #[serde(default)]
    q: String,
    #[serde(default)]
    format: String,
}

/// A query that failed: the message, and where when the text is at fault.
struct Problem {
    message: String,
    /// The line with a caret under the place.
    detail: Option<String>,
    line: usize,
    column: usize,
}

#[derive(Template)]
#[template(path = "query.html")]
struct QueryPage<'a> {
    page: Page<'a>,
    text: &'a str,
    example: &'a str,
    problem: Option<Problem>,
    columns: Vec<String>,
    rows: Vec<Vec<String>>,
    truncated: bool,
    /// What `render` asks for, drawn.
    chart: Option<QueryChart>,
    csv_link: String,
    json_link: String,
}

/// Runs `text`: the answer, or the problem to show.
async fn run(state: &AppState, text: &str, max_rows: usize) -> Result<Result<Answer, Problem>, Response> {
    match state.database.kql(text, max_rows, TIMEOUT).await {
        Ok(answer) => Ok(Ok(answer)),
        Err(KqlError::Invalid(error)) => Ok(Err(Problem {
            message: error.to_string(),
            detail: Some(error.render()),
            line: error.line,
            column: error.column,
        })),
        Err(KqlError::Run(RunError::Database(error))) => Err(unavailable(&error)),
        Err(error @ (KqlError::TooLong | KqlError::Run(_))) => Ok(Err(Problem {
            message: error.to_string(),
            detail: None,
            line: 0,
            column: 0,
        })),
    }
}

pub async fn page(State(state): State<AppState>, signed_in: SignedIn, Query(query): Query<QueryText>) -> Response {
    let text = query.q.trim();
    let mut page = QueryPage {
        page: Page::of("Query", "/query", &signed_in),
        text,
        example: EXAMPLE,
        problem: None,
        columns: Vec::new(),
        rows: Vec::new(),
        truncated: false,
        chart: None,
        csv_link: format!("/query/download?{}", query_string(&[("q", text), ("format", "csv")])),
        json_link: format!("/query/download?{}", query_string(&[("q", text), ("format", "json")])),
    };
    if !text.is_empty() {
        match run(&state, text, SHOWN_ROWS).await {
            Err(response) => return response,
            Ok(Err(problem)) => page.problem = Some(problem),
            Ok(Ok(answer)) => {
                page.columns = answer.result.columns.iter().map(|c| c.name.clone()).collect();
                page.rows = answer
                    .result
                    .rows
                    .iter()
                    .map(|row| row.iter().map(Cell::display).collect())
                    .collect();
                page.truncated = answer.truncated;
                page.chart = answer
                    .render
                    .as_deref()
                    .map(|kind| query_chart::chart(kind, &answer.result.columns, &answer.result.rows));
            }
        }
    }
    render(&page)
}

/// `GET /query/download?q=…&format=csv|json`: the whole answer (up to the
/// API's row limit) as a file.
pub async fn download(State(state): State<AppState>, _signed_in: SignedIn, Query(query): Query<QueryText>) -> Response {
    let answer = match run(&state, query.q.trim(), MAX_ROWS).await {
        Err(response) => return response,
        Ok(Err(problem)) => {
            let text = problem.detail.unwrap_or(problem.message);
            return (StatusCode::BAD_REQUEST, text).into_response();
        }
        Ok(Ok(answer)) => answer,
    };
    let (content_type, name, body) = match query.format.as_str() {
        "json" => (
            "application/json",
            "query.json",
            serde_json::to_string_pretty(&answer.result.json_rows()).unwrap_or_default(),
        ),
        _ => ("text/csv; charset=utf-8", "query.csv", csv(&answer)),
    };
    (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        body,
    )
        .into_response()
}

/// RFC 4180 CSV, a header row first. Text that a spreadsheet would take
/// for a formula is prefixed with `'`.
fn csv(answer: &Answer) -> String {
    let mut out = String::new();
    let line = |out: &mut String, cells: &mut dyn Iterator<Item = String>| {
        let fields: Vec<String> = cells.map(|cell| csv_field(&cell)).collect();
        out.push_str(&fields.join(","));
        out.push_str("\r\n");
    };
    line(&mut out, &mut answer.result.columns.iter().map(|c| c.name.clone()));
    for row in &answer.result.rows {
        line(
            &mut out,
            &mut row.iter().map(|cell| match cell {
                Cell::Text(text) if text.starts_with(['=', '+', '-', '@', '\t', '\r']) => format!("'{text}"),
                other => other.display(),
            }),
        );
    }
    out
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use driftwatch_kql::{Column, QueryResult, Type};

    #[test]
    fn csv_quotes_what_needs_it_and_defuses_formulas() {
        let answer = Answer {
            result: QueryResult {
                columns: vec![Column::new("Name", Type::String), Column::new("n", Type::Long)],
                rows: vec![
                    vec![Cell::Text("a,\"b\"".into()), Cell::Long(-1)],
                    vec![Cell::Text("=HYPERLINK(1)".into()), Cell::Null],
                ],
            },
            truncated: false,
            render: None,
        };
        assert_eq!(csv(&answer), "Name,n\r\n\"a,\"\"b\"\"\",-1\r\n'=HYPERLINK(1),\r\n");
    }
}
