//! KQL over the fleet: the server's tables as the query language sees them,
//! and translated queries run read-only under a time limit.

use std::time::{Duration, SystemTime};

use driftwatch_kql::{Catalog, Cell, Column, Compiled, Dialect, Param, QueryResult, Type};
use driftwatch_protocol::columns::{self, Kind};
use futures_util::{StreamExt, pin_mut};
use tokio_postgres::GenericClient;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type as SqlType};

use super::{Database, DatabaseError};

/// Why a query that translated did not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("the query ran longer than {} s and was stopped", .0.as_secs())]
    Timeout(Duration),
    /// PostgreSQL refused a value the query computes (an out-of-range
    /// number, say): the query's fault, not the server's.
    #[error("the query failed: {0}")]
    Failed(String),
    #[error(transparent)]
    Database(#[from] DatabaseError),
}

/// The longest query text taken.
pub const MAX_QUERY_LEN: usize = 64 * 1024;

/// Why a KQL query gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum KqlError {
    #[error("a query is at most {MAX_QUERY_LEN} bytes long")]
    TooLong,
    /// The text is not a query this server runs: where and why.
    #[error("{0}")]
    Invalid(driftwatch_kql::QueryError),
    #[error(transparent)]
    Run(#[from] RunError),
}

/// The tables queries read: `ConfigurationChange` and `ConfigurationData`
/// with the columns the agents ship, bookkeeping (`ItemKey`) left out.
/// Times kept as text (`DateModified`, ...) read as times, as on the agent.
pub fn catalog() -> Catalog {
    let mut catalog = Catalog::new(Dialect::Postgres);
    let tables = [
        ("ConfigurationChange", columns::CONFIGURATION_CHANGE),
        ("ConfigurationData", columns::CONFIGURATION_DATA),
    ];
    for (table, table_columns) in tables {
        let visible = table_columns
            .iter()
            .filter(|(name, _)| *name != "ItemKey")
            .map(|&(name, kind)| match kind {
                Kind::Integer => (Column::new(name, Type::Long), None),
                Kind::Time => (Column::new(name, Type::Datetime), None),
                Kind::Text if driftwatch_kql::is_time_column(name) => {
                    (Column::new(name, Type::Datetime), Some(format!("kql_time(\"{name}\")")))
                }
                Kind::Text => (Column::new(name, Type::String), None),
            })
            .collect();
        catalog.add_columns(table, visible);
    }
    let heartbeat = HEARTBEAT_COLUMNS
        .iter()
        .map(|&name| {
            let ty = if name == "TimeGenerated" {
                Type::Datetime
            } else {
                Type::String
            };
            (Column::new(name, ty), None)
        })
        .collect();
    catalog.add_columns("Heartbeat", heartbeat);
    catalog
}

/// `Heartbeat`'s columns, as the agent's table has them.
const HEARTBEAT_COLUMNS: [&str; 10] = [
    "Computer",
    "TimeGenerated",
    "Category",
    "OSType",
    "OSName",
    "OSMajorVersion",
    "OSMinorVersion",
    "Version",
    "ComputerIP",
    "ComputerEnvironment",
];

/// A query's rows, and whether there were more than were read.
pub struct Answer {
    pub result: QueryResult,
    pub truncated: bool,
    /// The chart the query's `render` names.
    pub render: Option<String>,
}

impl Database {
    /// Runs a translated query in a read-only transaction, reading at most
    /// `max_rows` rows, stopped after `timeout`.
    pub async fn query(&self, compiled: &Compiled, max_rows: usize, timeout: Duration) -> Result<Answer, RunError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(DatabaseError::from)?;
        tx.batch_execute(&format!(
            "SET TRANSACTION READ ONLY; SET LOCAL statement_timeout = {}",
            timeout.as_millis().max(1)
        ))
        .await
        .map_err(DatabaseError::from)?;
        let answer = rows(&*tx, compiled, max_rows).await.map_err(|error| match error {
            RunError::Timeout(_) => RunError::Timeout(timeout),
            other => other,
        })?;
        Ok(answer)
    }
}

impl Database {
    /// Translates KQL (off the async workers: bounded, but CPU work) and
    /// runs it as [`Database::query`] does.
    pub async fn kql(&self, text: &str, max_rows: usize, timeout: Duration) -> Result<Answer, KqlError> {
        if text.len() > MAX_QUERY_LEN {
            return Err(KqlError::TooLong);
        }
        let source = driftwatch_kql::Source {
            change_window: None,
            now: jiff::Timestamp::now(),
        };
        let text = text.to_string();
        let compiled = tokio::task::spawn_blocking(move || driftwatch_kql::compile(&text, &catalog(), &source))
            .await
            .map_err(|e| RunError::Failed(e.to_string()))?
            .map_err(KqlError::Invalid)?;
        Ok(self.query(&compiled, max_rows, timeout).await?)
    }
}

/// Runs a translated query on `client` (inside whatever transaction it
/// is), reading at most `max_rows` rows.
pub async fn rows(client: &impl GenericClient, compiled: &Compiled, max_rows: usize) -> Result<Answer, RunError> {
    let params: Vec<Box<dyn ToSql + Sync + Send>> = compiled.params.iter().map(bound).collect();
    let rows = client
        .query_raw(&compiled.sql, params.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)))
        .await
        .map_err(classify)?;
    pin_mut!(rows);
    let mut answer = Answer {
        result: QueryResult {
            columns: compiled.columns.clone(),
            rows: Vec::new(),
        },
        truncated: false,
        render: compiled.render.clone(),
    };
    while let Some(row) = rows.next().await {
        let row = row.map_err(classify)?;
        if answer.result.rows.len() == max_rows {
            answer.truncated = true;
            break;
        }
        let cells = (0..row.len())
            .map(|i| {
                let ty = compiled.columns.get(i).map_or(Type::String, |c| c.ty);
                cell(&row, i).map(|c| c.typed(ty))
            })
            .collect::<Result<_, _>>()?;
        answer.result.rows.push(cells);
    }
    Ok(answer)
}

/// A parameter as PostgreSQL takes it (the translation spells out each
/// placeholder's type; times travel as RFC 3339 text).
fn bound(param: &Param) -> Box<dyn ToSql + Sync + Send> {
    match param {
        Param::Text(s) => Box::new(s.clone()),
        Param::Long(n) => Box::new(*n),
        Param::Real(r) => Box::new(*r),
        Param::Bool(b) => Box::new(*b),
        Param::Time(ts) => Box::new(rfc3339(*ts)),
    }
}

fn classify(error: tokio_postgres::Error) -> RunError {
    match error.code() {
        // The time limit is the caller's to say.
        Some(code) if *code == SqlState::QUERY_CANCELED => RunError::Timeout(Duration::ZERO),
        // Class 22, data exceptions: division by zero, out-of-range values.
        Some(code) if code.code().starts_with("22") => {
            let message = error
                .as_db_error()
                .map_or_else(|| error.to_string(), |e| e.message().to_string());
            RunError::Failed(message)
        }
        _ => RunError::Database(error.into()),
    }
}

/// One value of a result row, by the type PostgreSQL gives it.
fn cell(row: &tokio_postgres::Row, i: usize) -> Result<Cell, RunError> {
    let ty = row.columns()[i].type_();
    let cell = if *ty == SqlType::INT8 {
        row.try_get::<_, Option<i64>>(i).map(|v| v.map(Cell::Long))
    } else if *ty == SqlType::INT4 {
        row.try_get::<_, Option<i32>>(i)
            .map(|v| v.map(|n| Cell::Long(n.into())))
    } else if *ty == SqlType::FLOAT8 {
        row.try_get::<_, Option<f64>>(i).map(|v| v.map(Cell::Real))
    } else if *ty == SqlType::BOOL {
        row.try_get::<_, Option<bool>>(i).map(|v| v.map(Cell::Bool))
    } else if *ty == SqlType::JSONB || *ty == SqlType::JSON {
        row.try_get::<_, Option<serde_json::Value>>(i)
            .map(|v| v.map(Cell::dynamic))
    } else if *ty == SqlType::TIMESTAMPTZ {
        row.try_get::<_, Option<SystemTime>>(i).map(|v| {
            v.map(|time| match jiff::Timestamp::try_from(time) {
                Ok(ts) => Cell::Text(rfc3339(ts)),
                Err(_) => Cell::Null,
            })
        })
    } else {
        row.try_get::<_, Option<String>>(i).map(|v| v.map(Cell::Text))
    };
    cell.map(|c| c.unwrap_or(Cell::Null))
        .map_err(|e| RunError::Database(DatabaseError::Sql(e)))
}

/// Times as the agent writes them: RFC 3339, UTC, microseconds, fixed width.
fn rfc3339(ts: jiff::Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}
