//! `POST /v1/query`: KQL over every machine's records, for holders of an
//! API token. The answer has the shape of Azure Monitor's query API (one
//! `PrimaryResult` table of columns and rows), so its clients read it.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::{ApiError, AppState, AuthenticatedReader};
use crate::database::query::{KqlError, RunError};

/// Rows one answer carries at most; `truncated` says there were more.
pub const MAX_ROWS: usize = 100_000;
/// How long one query may run.
pub const TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryRequest {
    query: String,
}

#[derive(Serialize)]
pub struct QueryAnswer {
    tables: Vec<AnswerTable>,
}

#[derive(Serialize)]
struct AnswerTable {
    name: &'static str,
    columns: Vec<AnswerColumn>,
    rows: Vec<Vec<serde_json::Value>>,
    truncated: bool,
}

#[derive(Serialize)]
struct AnswerColumn {
    name: String,
    #[serde(rename = "type")]
    ty: &'static str,
}

/// A query that cannot be run: where and why, and the line with a caret.
#[derive(Serialize)]
struct QueryProblem {
    error: String,
    line: usize,
    column: usize,
    detail: String,
}

pub async fn query(
    State(state): State<AppState>,
    _reader: AuthenticatedReader,
    Json(request): Json<QueryRequest>,
) -> Result<Response, ApiError> {
    let answer = match state.database.kql(&request.query, MAX_ROWS, TIMEOUT).await {
        Ok(answer) => answer,
        Err(KqlError::Invalid(error)) => {
            let problem = QueryProblem {
                error: error.to_string(),
                line: error.line,
                column: error.column,
                detail: error.render(),
            };
            return Ok((StatusCode::BAD_REQUEST, Json(problem)).into_response());
        }
        Err(error @ KqlError::TooLong) => return Err(ApiError::TooLarge(error.to_string())),
        Err(KqlError::Run(RunError::Database(error))) => return Err(error.into()),
        Err(KqlError::Run(error)) => return Err(ApiError::BadRequest(error.to_string())),
    };
    let table = AnswerTable {
        name: "PrimaryResult",
        columns: answer
            .result
            .columns
            .iter()
            .map(|c| AnswerColumn {
                name: c.name.clone(),
                ty: c.ty.name(),
            })
            .collect(),
        rows: answer
            .result
            .rows
            .iter()
            .map(|row| row.iter().map(|cell| cell.to_json()).collect())
            .collect(),
        truncated: answer.truncated,
    };
    Ok(Json(QueryAnswer { tables: vec![table] }).into_response())
}
