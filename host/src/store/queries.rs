//! Reading history back: changes, and the status of each collector.

use rusqlite::{OptionalExtension, params_from_iter};

use super::{Store, StoreError, from_sql};
use crate::change_engine::Category;
use crate::inventory::{DataType, Value};

/// Which changes to list.
#[derive(Debug, Clone, Default)]
pub struct ChangeFilter {
    /// Only changes at or after this time (stored time text).
    pub since: Option<String>,
    pub data_type: Option<DataType>,
    pub category: Option<Category>,
    /// Only changes at or before this time.
    pub until: Option<String>,
    /// Only the changes of the file at this path (text, or the exact bytes
    /// of a path that is not UTF-8).
    pub path: Option<Value>,
    /// Only the change with this id.
    pub id: Option<i64>,
}

/// One `ConfigurationChange` row: its id and its non-empty columns in table order.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeRow {
    pub id: i64,
    pub columns: Vec<(String, Value)>,
}

impl ChangeRow {
    pub fn get(&self, column: &str) -> Option<&Value> {
        self.columns.iter().find(|(c, _)| c == column).map(|(_, v)| v)
    }

    pub fn text(&self, column: &str) -> &str {
        match self.get(column) {
            Some(Value::Text(t)) => t,
            _ => "",
        }
    }
}

/// What the store knows about one collector.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectorStatus {
    pub collector: String,
    /// Items in its current inventory.
    pub items: usize,
    /// When its current baseline was taken, its last successful collection,
    /// and its last full one.
    pub baseline_time: Option<String>,
    pub last_success: Option<String>,
    pub last_full: Option<String>,
    pub last_run: Option<RunRow>,
}

/// One recorded run of a collector (`CollectorRun`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RunRow {
    pub run_id: i64,
    pub collector: String,
    pub plugin: String,
    pub plugin_version: Option<String>,
    pub time_started: String,
    pub duration_ms: i64,
    /// `Succeeded`, `Partial`, `Failed` or `Skipped`.
    pub outcome: String,
    pub error: Option<String>,
    /// What it looked at: `full`, `incremental` or `targeted` (none for runs
    /// recorded before scopes were).
    pub scope: Option<String>,
    /// A targeted run's paths (the first hundred).
    pub scope_paths: Vec<String>,
    pub item_count: Option<i64>,
    pub change_count: Option<i64>,
    pub warning_count: Option<i64>,
}

/// Columns of ConfigurationChange kept internal in listings.
const INTERNAL: [&str; 2] = ["RunId", "ItemKey"];

impl Store {
    /// Changes matching `filter`, oldest first.
    pub fn changes(&self, filter: &ChangeFilter) -> Result<Vec<ChangeRow>, StoreError> {
        let mut conditions = Vec::new();
        let mut values: Vec<rusqlite::types::Value> = Vec::new();
        if let Some(since) = &filter.since {
            values.push(since.clone().into());
            conditions.push(format!("TimeGenerated >= ?{}", values.len()));
        }
        if let Some(t) = filter.data_type {
            values.push(t.as_str().to_string().into());
            conditions.push(format!("ConfigChangeType = ?{}", values.len()));
        }
        if let Some(c) = filter.category {
            values.push(c.as_str().to_string().into());
            conditions.push(format!("ChangeCategory = ?{}", values.len()));
        }
        if let Some(until) = &filter.until {
            values.push(until.clone().into());
            conditions.push(format!("TimeGenerated <= ?{}", values.len()));
        }
        if let Some(path) = &filter.path {
            values.push(super::to_sql(Some(path)));
            conditions.push(format!("FileSystemPath = ?{}", values.len()));
        }
        if let Some(id) = filter.id {
            values.push(id.into());
            conditions.push(format!("ChangeId = ?{}", values.len()));
        }
        let filter_sql = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let sql = format!("SELECT * FROM ConfigurationChange {filter_sql} ORDER BY ChangeId");
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.error(e))?;
        let names: Vec<String> = stmt.column_names().map(String::from).collect();
        let mut rows = stmt.query(params_from_iter(values)).map_err(|e| self.error(e))?;
        let mut changes = Vec::new();
        while let Some(row) = rows.next().map_err(|e| self.error(e))? {
            let mut columns = Vec::new();
            for (i, name) in names.iter().enumerate() {
                if INTERNAL.contains(&name.as_str()) {
                    continue;
                }
                match from_sql(row.get_ref(i).map_err(|e| self.error(e))?) {
                    Value::Null => {}
                    value => columns.push((name.clone(), value)),
                }
            }
            let id = match columns.first() {
                Some((_, Value::Integer(id))) => *id,
                _ => 0,
            };
            changes.push(ChangeRow { id, columns });
        }
        Ok(changes)
    }

    /// The most recent runs, newest first; of one collector when named.
    pub fn runs(&self, collector: Option<&str>, limit: usize) -> Result<Vec<RunRow>, StoreError> {
        let mut statement = self
            .conn
            .prepare(
                "SELECT RunId, Collector, Plugin, PluginVersion, TimeStarted, DurationMs, Outcome, Error, \
                 Scope, ScopePaths, ItemCount, ChangeCount, WarningCount FROM CollectorRun \
                 WHERE ?1 IS NULL OR Collector = ?1 ORDER BY RunId DESC LIMIT ?2",
            )
            .map_err(|e| self.error(e))?;
        let rows = statement
            .query_map(rusqlite::params![collector, limit as i64], |r| {
                Ok(RunRow {
                    run_id: r.get(0)?,
                    collector: r.get(1)?,
                    plugin: r.get(2)?,
                    plugin_version: r.get(3)?,
                    time_started: r.get(4)?,
                    duration_ms: r.get(5)?,
                    outcome: r.get(6)?,
                    error: r.get(7)?,
                    scope: r.get(8)?,
                    scope_paths: scope_paths(r.get(9)?),
                    item_count: r.get(10)?,
                    change_count: r.get(11)?,
                    warning_count: r.get(12)?,
                })
            })
            .map_err(|e| self.error(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.error(e))
    }

    /// The number of change rows recorded, all time.
    pub fn change_count(&self) -> Result<u64, StoreError> {
        self.conn
            .query_row("SELECT COUNT(*) FROM ConfigurationChange", [], |row| {
                row.get::<_, i64>(0)
            })
            .map(|n| n as u64)
            .map_err(|e| self.error(e))
    }

    /// The status of a collector, from its runs, baseline and inventory.
    pub fn collector_status(&self, collector: &str) -> Result<CollectorStatus, StoreError> {
        let err = |e| self.error(e);
        let items: i64 = self
            .conn
            .query_row(
                "SELECT COUNT(*) FROM ConfigurationData WHERE Collector = ?1",
                [collector],
                |r| r.get(0),
            )
            .map_err(err)?;
        let state: Option<(String, String, Option<String>)> = self
            .conn
            .query_row(
                "SELECT BaselineTime, LastSuccess, LastFull FROM CollectorState WHERE Collector = ?1",
                [collector],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(err)?;
        let last_run = self.runs(Some(collector), 1)?.pop();
        let (baseline_time, last_success, last_full) = match state {
            Some((baseline, success, full)) => (Some(baseline), Some(success), full),
            None => (None, None, None),
        };
        Ok(CollectorStatus {
            collector: collector.to_string(),
            items: items as usize,
            baseline_time,
            last_success,
            last_full,
            last_run,
        })
    }
}

/// A run's recorded paths (a JSON list of paths as plugins name them), as
/// people read them (names that are not UTF-8 escaped).
fn scope_paths(recorded: Option<String>) -> Vec<String> {
    let paths: Vec<String> = recorded
        .and_then(|paths| serde_json::from_str(&paths).ok())
        .unwrap_or_default();
    paths
        .into_iter()
        .map(|path| Value::path(path).display().into_owned())
        .collect()
}
