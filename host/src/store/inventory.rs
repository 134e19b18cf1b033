//! `ConfigurationData`: the current inventory, one row per item.

use rusqlite::Transaction;

use super::{Row, Store, StoreError, from_sql};
use crate::inventory::{DataType, INTERNAL_COLUMNS, Item, Value};

impl Store {
    /// Current inventory rows, optionally of one type, ordered by type and key.
    pub fn inventory(&self, data_type: Option<DataType>) -> Result<Vec<Row>, StoreError> {
        let mut rows = Vec::new();
        for t in DataType::ALL.into_iter().filter(|t| data_type.is_none_or(|d| d == *t)) {
            let shown: Vec<&str> = t
                .columns()
                .iter()
                .copied()
                .filter(|c| !INTERNAL_COLUMNS.contains(c))
                .collect();
            let sql = format!(
                "SELECT Computer, TimeGenerated, ConfigDataType, {}, Collector FROM ConfigurationData \
                 WHERE ConfigDataType = ?1 ORDER BY Collector, ItemKey",
                shown.join(", ")
            );
            let mut stmt = self.conn.prepare(&sql).map_err(|e| self.error(e))?;
            let names: Vec<String> = stmt.column_names().map(String::from).collect();
            let mut result = stmt.query([t.as_str()]).map_err(|e| self.error(e))?;
            while let Some(row) = result.next().map_err(|e| self.error(e))? {
                let mut columns = Vec::with_capacity(names.len());
                for (i, name) in names.iter().enumerate() {
                    match from_sql(row.get_ref(i).map_err(|e| self.error(e))?) {
                        Value::Null => {}
                        value => columns.push((name.clone(), value)),
                    }
                }
                rows.push(Row { data_type: t, columns });
            }
        }
        Ok(rows)
    }
}

/// Writes a collector's items into `ConfigurationData`.
pub(super) struct RowWriter {
    collector: String,
    data_type: DataType,
    computer: String,
    time: String,
    insert_new: String,
    upsert: String,
}

impl RowWriter {
    pub fn new(collector: &str, data_type: DataType, computer: &str, time: &str) -> RowWriter {
        let columns = data_type.columns();
        let sql = |verb: &str, tail: &str| {
            format!(
                "{verb} INTO ConfigurationData (Collector, ItemKey, ConfigDataType, Computer, TimeGenerated, {}) \
                 VALUES (?1, ?2, ?3, ?4, ?5, {}){tail}",
                columns.join(", "),
                (0..columns.len())
                    .map(|i| format!("?{}", i + 6))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        RowWriter {
            collector: collector.to_string(),
            data_type,
            computer: computer.to_string(),
            time: time.to_string(),
            insert_new: sql("INSERT", " ON CONFLICT DO NOTHING"),
            upsert: sql("INSERT OR REPLACE", ""),
        }
    }

    /// Inserts an item whose key is not stored; false (and nothing written)
    /// when it is.
    pub fn insert_new(&self, tx: &Transaction, item: &Item) -> rusqlite::Result<bool> {
        Ok(self.execute(tx, &self.insert_new, item)? == 1)
    }

    /// Inserts an item, or replaces the stored one with its key.
    pub fn upsert(&self, tx: &Transaction, item: &Item) -> rusqlite::Result<()> {
        self.execute(tx, &self.upsert, item).map(|_| ())
    }

    fn execute(&self, tx: &Transaction, sql: &str, item: &Item) -> rusqlite::Result<usize> {
        let mut statement = tx.prepare_cached(sql)?;
        statement.raw_bind_parameter(1, &self.collector)?;
        statement.raw_bind_parameter(2, super::key_value(&item.key))?;
        statement.raw_bind_parameter(3, self.data_type.as_str())?;
        statement.raw_bind_parameter(4, &self.computer)?;
        statement.raw_bind_parameter(5, &self.time)?;
        for (i, column) in self.data_type.columns().iter().enumerate() {
            statement.raw_bind_parameter(i + 6, item.get(column).unwrap_or(&Value::Null))?;
        }
        statement.raw_execute()
    }
}

/// A stored item of a collector by key, with its row id.
pub(super) fn lookup(
    tx: &Transaction,
    collector: &str,
    data_type: DataType,
    key: &str,
) -> rusqlite::Result<Option<(i64, Item)>> {
    let columns = data_type.columns();
    let sql = format!(
        "SELECT rowid, {} FROM ConfigurationData WHERE Collector = ?1 AND ItemKey = ?2",
        columns.join(", ")
    );
    let mut statement = tx.prepare_cached(&sql)?;
    let mut rows = statement.query(rusqlite::params![collector, super::key_value(key)])?;
    let Some(row) = rows.next()? else {
        return Ok(None);
    };
    let mut fields = Vec::with_capacity(columns.len());
    for (i, column) in columns.iter().enumerate() {
        fields.push((*column, from_sql(row.get_ref(i + 1)?)));
    }
    let item = Item {
        key: key.to_string(),
        fields,
        keep_previous: false,
    };
    Ok(Some((row.get(0)?, item)))
}

/// A stored item by row id.
pub(super) fn load_by_rowid(tx: &Transaction, data_type: DataType, rowid: i64) -> rusqlite::Result<Option<Item>> {
    let columns = data_type.columns();
    let sql = format!(
        "SELECT ItemKey, {} FROM ConfigurationData WHERE rowid = ?1",
        columns.join(", ")
    );
    let mut statement = tx.prepare_cached(&sql)?;
    let mut rows = statement.query([rowid])?;
    let Some(row) = rows.next()? else {
        return Ok(None);
    };
    let mut fields = Vec::with_capacity(columns.len());
    for (i, column) in columns.iter().enumerate() {
        fields.push((*column, from_sql(row.get_ref(i + 1)?)));
    }
    Ok(Some(Item {
        key: super::key_from_sql(row.get_ref(0)?),
        fields,
        keep_previous: false,
    }))
}

/// The row ids of a collector's stored items — all of them, or those at
/// or under the paths of a targeted run — for which `pick` says yes (given
/// the row id and the item's key).
pub(super) fn pick_rows(
    tx: &Transaction,
    collector: &str,
    paths: Option<&[String]>,
    mut pick: impl FnMut(i64, &str) -> bool,
) -> rusqlite::Result<Vec<i64>> {
    let mut picked = Vec::new();
    let mut take = |rows: &mut rusqlite::Rows| -> rusqlite::Result<()> {
        while let Some(row) = rows.next()? {
            let rowid: i64 = row.get(0)?;
            if pick(rowid, &super::key_from_sql(row.get_ref(1)?)) {
                picked.push(rowid);
            }
        }
        Ok(())
    };
    match paths {
        None => {
            let mut statement =
                tx.prepare_cached("SELECT rowid, ItemKey FROM ConfigurationData WHERE Collector = ?1")?;
            take(&mut statement.query([collector])?)?;
        }
        Some(paths) => {
            let sql = format!("SELECT rowid, ItemKey FROM ConfigurationData WHERE Collector = ?1 AND {IN_RANGE}");
            let mut statement = tx.prepare_cached(&sql)?;
            for (from, to) in paths.iter().flat_map(|path| scope_ranges(path)) {
                take(&mut statement.query(rusqlite::params![collector, from, to])?)?;
            }
            picked.sort_unstable();
            picked.dedup();
        }
    }
    Ok(picked)
}

/// The key ranges of what is at or under `path`: the path itself, `path/`
/// up to `path0` and `path\\` up to `path]` (the characters after `/` and
/// `\\`). Each range is its own query: SQLite answers one from the primary
/// key index, where an `OR` of them would make it scan the collector.
fn scope_ranges(path: &str) -> [(String, String); 3] {
    let base = path.trim_end_matches(['/', '\\']);
    [
        (path.to_string(), format!("{path}\0")),
        (format!("{base}/"), format!("{base}0")),
        (format!("{base}\\"), format!("{base}]")),
    ]
}

const IN_RANGE: &str = "ItemKey >= ?2 AND ItemKey < ?3";

impl Store {
    /// The stat keys of a collector's stored files by path: all of them, or
    /// those at or under the paths of a targeted run.
    pub fn stat_keys(&self, collector: &str, paths: Option<&[String]>) -> Result<Vec<(String, i64)>, StoreError> {
        fn take(rows: &mut rusqlite::Rows, keys: &mut Vec<(String, i64)>) -> rusqlite::Result<()> {
            while let Some(row) = rows.next()? {
                keys.push((super::key_from_sql(row.get_ref(0)?), row.get(1)?));
            }
            Ok(())
        }
        let mut keys = Vec::new();
        let read = |keys: &mut Vec<(String, i64)>| -> rusqlite::Result<()> {
            match paths {
                None => {
                    let mut statement = self.conn.prepare_cached(
                        "SELECT ItemKey, StatKey FROM ConfigurationData WHERE Collector = ?1 AND StatKey IS NOT NULL",
                    )?;
                    take(&mut statement.query([collector])?, keys)
                }
                Some(paths) => {
                    let sql = format!(
                        "SELECT ItemKey, StatKey FROM ConfigurationData \
                         WHERE Collector = ?1 AND StatKey IS NOT NULL AND {IN_RANGE}"
                    );
                    let mut statement = self.conn.prepare_cached(&sql)?;
                    for (from, to) in paths.iter().flat_map(|path| scope_ranges(path)) {
                        take(&mut statement.query(rusqlite::params![collector, from, to])?, keys)?;
                    }
                    Ok(())
                }
            }
        };
        read(&mut keys).map_err(|e| self.error(e))?;
        Ok(keys)
    }
}
