//! The state database: SQLite in WAL mode, one file in the state directory.

mod schema;

use std::path::{Path, PathBuf};

use rusqlite::types::ValueRef;
use rusqlite::{Connection, ErrorCode, OpenFlags, params_from_iter};

use crate::inventory::{DataType, Inventory, Value};

pub const DATABASE_FILE: &str = "driftwatch.db";

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

/// One stored inventory row: its type and its non-empty columns, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub data_type: DataType,
    pub columns: Vec<(String, Value)>,
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
        store.configure()?;
        store.migrate()?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn configure(&mut self) -> Result<(), StoreError> {
        self.conn
            .busy_timeout(std::time::Duration::from_secs(10))
            .and_then(|_| self.conn.pragma_update(None, "journal_mode", "WAL"))
            .and_then(|_| self.conn.pragma_update(None, "synchronous", "NORMAL"))
            .and_then(|_| self.conn.pragma_update(None, "foreign_keys", "ON"))
            .map_err(|e| classify(&self.path, e))
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let path = self.path.clone();
        let version: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(|e| classify(&path, e))?;
        let known = schema::MIGRATIONS.len();
        if version > known as i64 {
            return Err(StoreError::TooNew {
                path,
                found: version,
                known,
            });
        }
        for (index, sql) in schema::MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = self.conn.transaction().map_err(|e| classify(&path, e))?;
            tx.execute_batch(sql).map_err(|e| classify(&path, e))?;
            tx.pragma_update(None, "user_version", index as i64 + 1)
                .map_err(|e| classify(&path, e))?;
            tx.commit().map_err(|e| classify(&path, e))?;
            tracing::debug!("state database {}: applied migration {}", path.display(), index + 1);
        }
        Ok(())
    }

    /// Replaces a collector's inventory with a new collection, in one transaction.
    pub fn replace_inventory(
        &mut self,
        collector: &str,
        computer: &str,
        time: &str,
        inventory: &Inventory,
    ) -> Result<(), StoreError> {
        let path = self.path.clone();
        let err = |e| classify(&path, e);
        let tx = self.conn.transaction().map_err(err)?;
        tx.execute("DELETE FROM ConfigurationData WHERE Collector = ?1", [collector])
            .map_err(err)?;
        let columns = inventory.data_type.columns();
        let sql = format!(
            "INSERT INTO ConfigurationData (Collector, ItemKey, ConfigDataType, Computer, TimeGenerated, {}) VALUES (?1, ?2, ?3, ?4, ?5, {})",
            columns.join(", "),
            (0..columns.len())
                .map(|i| format!("?{}", i + 6))
                .collect::<Vec<_>>()
                .join(", ")
        );
        {
            let mut insert = tx.prepare(&sql).map_err(err)?;
            for item in &inventory.items {
                let mut values: Vec<rusqlite::types::Value> = vec![
                    collector.to_string().into(),
                    item.key.clone().into(),
                    inventory.data_type.as_str().to_string().into(),
                    computer.to_string().into(),
                    time.to_string().into(),
                ];
                values.extend(columns.iter().map(|c| to_sql(item.get(c))));
                insert.execute(params_from_iter(values)).map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }

    /// Current inventory rows, optionally of one type, ordered by type and key.
    pub fn inventory(&self, data_type: Option<DataType>) -> Result<Vec<Row>, StoreError> {
        let err = |e| classify(&self.path, e);
        let mut rows = Vec::new();
        for t in DataType::ALL.into_iter().filter(|t| data_type.is_none_or(|d| d == *t)) {
            let columns = t.columns();
            let sql = format!(
                "SELECT Computer, TimeGenerated, ConfigDataType, {}, Collector FROM ConfigurationData \
                 WHERE ConfigDataType = ?1 ORDER BY ItemKey, Collector",
                columns.join(", ")
            );
            let mut stmt = self.conn.prepare(&sql).map_err(err)?;
            let names: Vec<String> = stmt.column_names().map(String::from).collect();
            let mut result = stmt.query([t.as_str()]).map_err(err)?;
            while let Some(row) = result.next().map_err(err)? {
                let mut columns = Vec::with_capacity(names.len());
                for (i, name) in names.iter().enumerate() {
                    let value = match row.get_ref(i).map_err(err)? {
                        ValueRef::Null => continue,
                        ValueRef::Integer(n) => Value::Integer(n),
                        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                        ValueRef::Real(f) => Value::Text(f.to_string()),
                        ValueRef::Blob(_) => continue,
                    };
                    columns.push((name.clone(), value));
                }
                rows.push(Row { data_type: t, columns });
            }
        }
        Ok(rows)
    }
}

fn to_sql(value: Option<&Value>) -> rusqlite::types::Value {
    match value {
        Some(Value::Text(t)) => t.clone().into(),
        Some(Value::Integer(n)) => (*n).into(),
        Some(Value::Null) | None => rusqlite::types::Value::Null,
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
mod tests {
    use super::*;
    use crate::inventory::Item;

    fn inventory(items: &[(&str, &str)]) -> Inventory {
        Inventory {
            data_type: DataType::Software,
            items: items
                .iter()
                .map(|(name, version)| Item {
                    key: format!("{name}\tamd64"),
                    fields: vec![
                        ("SoftwareName", Value::Text(name.to_string())),
                        ("CurrentVersion", Value::Text(version.to_string())),
                        ("Architecture", Value::Text("amd64".into())),
                    ],
                })
                .collect(),
            notes: Vec::new(),
        }
    }

    #[test]
    fn replace_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        store
            .replace_inventory(
                "dpkg",
                "host",
                "2026-01-01T00:00:00.000000Z",
                &inventory(&[("b", "2"), ("a", "1")]),
            )
            .unwrap();
        store
            .replace_inventory(
                "dpkg",
                "host",
                "2026-01-02T00:00:00.000000Z",
                &inventory(&[("a", "1.1")]),
            )
            .unwrap();
        let rows = store.inventory(Some(DataType::Software)).unwrap();
        assert_eq!(rows.len(), 1);
        let cols: Vec<_> = rows[0].columns.iter().map(|(c, _)| c.as_str()).collect();
        assert_eq!(
            cols,
            [
                "Computer",
                "TimeGenerated",
                "ConfigDataType",
                "SoftwareName",
                "CurrentVersion",
                "Architecture",
                "Collector"
            ]
        );
        assert_eq!(rows[0].columns[4].1, Value::Text("1.1".into()));
        assert!(store.inventory(Some(DataType::Files)).unwrap().is_empty());
    }

    #[test]
    fn reopening_keeps_data_and_schema() {
        let dir = tempfile::tempdir().unwrap();
        Store::open(dir.path())
            .unwrap()
            .replace_inventory("c", "h", "t", &inventory(&[("a", "1")]))
            .unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.inventory(None).unwrap().len(), 1);
    }

    #[test]
    fn a_damaged_database_is_reported_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(DATABASE_FILE);
        std::fs::write(
            &file,
            b"this is not an sqlite database, just some bytes that are long enough to matter",
        )
        .unwrap();
        let before = std::fs::read(&file).unwrap();
        let err = Store::open(dir.path()).err().expect("must fail");
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("move it aside"), "{err}");
        assert_eq!(std::fs::read(&file).unwrap(), before);
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        drop(Store::open(dir.path()).unwrap());
        let conn = Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        drop(conn);
        assert!(matches!(
            Store::open(dir.path()),
            Err(StoreError::TooNew { found: 99, .. })
        ));
    }
}
