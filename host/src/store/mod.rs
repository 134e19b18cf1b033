//! The state database: SQLite in WAL mode, one file in the state directory.
//!
//! | file | tables |
//! |---|---|
//! | `schema` | the migrations that create everything |
//! | `alerts` | alert marks, raised alerts and their deliveries |
//! | `inventory` | `ConfigurationData`: current inventory, row by row |
//! | `recording` | recording a collector's run as its items stream in: inventory, `ConfigurationChange`, `CollectorRun` |
//! | `collector_state` | `CollectorState`: each collector's baseline |
//! | `revision` | numbering every inventory write and removal, so a fleet server can be sent what changed |
//! | `outbox` | what is not yet shipped to the fleet server, and where its acknowledgement stands |
//! | `heartbeat` | `Heartbeat`: a row per collection pass |
//! | `history` | forgetting collectors, pruning old history and contents |
//! | `queries` | reading changes and collector status back |
//! | `query` | running translated KQL queries |

mod alerts;
mod collector_state;
mod heartbeat;
mod history;
mod inventory;
mod outbox;
mod outputs;
mod queries;
mod query;
mod recording;
mod revision;
mod schema;

use std::path::{Path, PathBuf};

use rusqlite::types::ValueRef;
use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior};

use crate::exact_path;
use crate::inventory::{DataType, Value};

pub use alerts::{AlertRecord, DeliveryRecord, DeliveryState, NewAlert, PendingDelivery};
pub use collector_state::StoredBaseline;
pub use outbox::ShipStatus;
pub use outputs::{OutputMark, OutputRecord, OutputStatus, RecordTable};
pub use queries::{ChangeFilter, ChangeRow, CollectorStatus, RunRow};
pub use query::schema_catalog;
pub use recording::{Ending, NONE_RETAINED, Recorded, Recording, Retained, RunInfo};

pub const DATABASE_FILE: &str = "driftwatch.db";

/// How long a writer waits for another one to finish. A run of a large files
/// collector writes as it collects, in one transaction: a scan started
/// meanwhile waits for it rather than fail.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);
/// How long opening a database tries again when its setup finds it locked.
const SETUP_RETRY: std::time::Duration = std::time::Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the state directory {path}: {error}")]
    StateDir { path: PathBuf, error: std::io::Error },
    #[error(
        "the state database {path} is damaged or is not a driftwatch database ({detail}). \
         Nothing was changed; move it aside to start afresh"
    )]
    Corrupt { path: PathBuf, detail: String },
    #[error("the state database {path} was written by a newer driftwatch (schema {found}, this one knows {known})")]
    TooNew { path: PathBuf, found: i64, known: usize },
    #[error("state database {path}: {error}")]
    Sql { path: PathBuf, error: rusqlite::Error },
}

impl StoreError {
    /// Another connection held a lock this one could not wait for.
    fn is_busy(&self) -> bool {
        matches!(self, StoreError::Sql { error, .. }
            if matches!(error.sqlite_error_code(), Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)))
    }
}

/// One stored row: its type and its non-empty columns, in table order.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub data_type: DataType,
    pub columns: Vec<(String, Value)>,
}

impl Row {
    pub fn get(&self, column: &str) -> Option<&Value> {
        self.columns.iter().find(|(c, _)| c == column).map(|(_, v)| v)
    }
}

pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Opens (creating if needed) the database in `state_dir` and brings its
    /// schema up to date.
    pub fn open(state_dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(state_dir).map_err(|error| StoreError::StateDir {
            path: state_dir.to_path_buf(),
            error,
        })?;
        let path = state_dir.join(DATABASE_FILE);
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&path, flags).map_err(|error| classify(&path, error))?;
        let mut store = Store { conn, path };
        // Two processes setting up a new database at once (an agent and a
        // CLI command) can get "database is locked" at once, without the
        // busy timeout: the switch to WAL takes locks SQLite does not wait
        // for. Both steps can be done again, so they are, for a while.
        let started = std::time::Instant::now();
        loop {
            match store.configure().and_then(|()| store.migrate()) {
                Err(error) if error.is_busy() && started.elapsed() < SETUP_RETRY => {
                    std::thread::sleep(std::time::Duration::from_millis(20))
                }
                setup => return setup.map(|()| store),
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Another connection to the same database (for reading while this one
    /// writes).
    pub fn reopen(&self) -> Result<Store, StoreError> {
        Store::open(self.path.parent().unwrap_or(Path::new(".")))
    }

    /// Where captured file contents are kept: beside the database.
    pub fn content(&self) -> crate::content_store::ContentStore {
        crate::content_store::ContentStore::in_state_dir(self.path.parent().unwrap_or(Path::new(".")))
    }

    fn configure(&mut self) -> Result<(), StoreError> {
        self.conn
            .busy_timeout(BUSY_TIMEOUT)
            // Takes effect only for a new database: bigger pages suit wide rows.
            .and_then(|_| self.conn.pragma_update(None, "page_size", 16384))
            .and_then(|_| self.conn.pragma_update(None, "journal_mode", "WAL"))
            .and_then(|_| self.conn.pragma_update(None, "synchronous", "NORMAL"))
            // A large page cache keeps big collections' inserts from re-reading pages.
            .and_then(|_| self.conn.pragma_update(None, "cache_size", -65536))
            .and_then(|_| self.conn.pragma_update(None, "foreign_keys", "ON"))
            .and_then(|_| crate::query::register_functions(&self.conn))
            .map_err(|e| self.error(e))
    }

    /// Applies the migrations this database lacks. Each runs in an IMMEDIATE
    /// transaction that re-reads the version first, so two processes opening a
    /// new database at once (an agent and a CLI command) cannot both apply it.
    fn migrate(&mut self) -> Result<(), StoreError> {
        let path = self.path.clone();
        let err = |e| classify(&path, e);
        let known = schema::MIGRATIONS.len();
        loop {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(err)?;
            let version: i64 = tx
                .pragma_query_value(None, "user_version", |row| row.get(0))
                .map_err(err)?;
            if version > known as i64 {
                return Err(StoreError::TooNew {
                    path: path.clone(),
                    found: version,
                    known,
                });
            }
            let Some(sql) = schema::MIGRATIONS.get(version as usize) else {
                return Ok(());
            };
            tx.execute_batch(sql).map_err(err)?;
            tx.pragma_update(None, "user_version", version + 1).map_err(err)?;
            tx.commit().map_err(err)?;
            tracing::debug!("state database {}: applied migration {}", path.display(), version + 1);
        }
    }

    /// Runs SQLite's own consistency check; `Ok(())` when it finds nothing.
    pub fn integrity_check(&self) -> Result<(), StoreError> {
        let result: String = self
            .conn
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))
            .map_err(|e| self.error(e))?;
        if result == "ok" {
            Ok(())
        } else {
            Err(StoreError::Corrupt {
                path: self.path.clone(),
                detail: result,
            })
        }
    }

    fn error(&self, error: rusqlite::Error) -> StoreError {
        classify(&self.path, error)
    }
}

/// Binds a column value without copying it.
impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(rusqlite::types::ToSqlOutput::Borrowed(match self {
            Value::Text(t) => ValueRef::Text(t.as_bytes()),
            Value::Integer(n) => ValueRef::Integer(*n),
            Value::Null => ValueRef::Null,
            Value::Bytes(raw) => ValueRef::Blob(raw),
        }))
    }
}

fn to_sql(value: Option<&Value>) -> rusqlite::types::Value {
    match value {
        Some(Value::Text(t)) => t.clone().into(),
        Some(Value::Integer(n)) => (*n).into(),
        Some(Value::Bytes(raw)) => raw.clone().into(),
        Some(Value::Null) | None => rusqlite::types::Value::Null,
    }
}

/// An item key as SQLite stores it. A file's key is its path, which may
/// stand for bytes that are not UTF-8 (see `exact_path`): those are stored
/// as bytes. Other keys are text as they are.
fn key_value(data_type: DataType, key: &str) -> rusqlite::types::Value {
    match data_type {
        DataType::Files => to_sql(Some(&Value::path(key.to_string()))),
        _ => rusqlite::types::Value::Text(key.to_string()),
    }
}

/// An item key as read back from SQLite.
fn key_from_sql(data_type: DataType, value: ValueRef<'_>) -> String {
    match (data_type, value) {
        (DataType::Files, ValueRef::Text(raw) | ValueRef::Blob(raw)) => exact_path::encode(raw).into_owned(),
        (_, ValueRef::Text(raw) | ValueRef::Blob(raw)) => String::from_utf8_lossy(raw).into_owned(),
        (_, ValueRef::Integer(n)) => n.to_string(),
        (_, ValueRef::Real(f)) => f.to_string(),
        (_, ValueRef::Null) => String::new(),
    }
}

fn from_sql(value: ValueRef<'_>) -> Value {
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Blob(raw) => Value::Bytes(raw.to_vec()),
        ValueRef::Integer(n) => Value::Integer(n),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Real(f) => Value::Text(f.to_string()),
    }
}

/// Damage is told apart from other failures, so that people get advice
/// instead of an SQLite code.
fn classify(path: &Path, error: rusqlite::Error) -> StoreError {
    match error.sqlite_error_code() {
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: error.to_string(),
        },
        _ => StoreError::Sql {
            path: path.to_path_buf(),
            error,
        },
    }
}

#[cfg(test)]
mod tests;
