//! `ConfigurationData`: the current inventory, one row per item.

use rusqlite::Transaction;
use rustc_hash::FxHashSet;

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

/// A collector's stored items of one type, sorted by key, in the form the
/// change engine compares.
pub(super) fn load_items(tx: &Transaction, collector: &str, data_type: DataType) -> rusqlite::Result<Vec<Item>> {
    let columns = data_type.columns();
    let sql = format!(
        "SELECT ItemKey, {} FROM ConfigurationData WHERE Collector = ?1 ORDER BY ItemKey",
        columns.join(", ")
    );
    let mut stmt = tx.prepare(&sql)?;
    let mut rows = stmt.query([collector])?;
    let mut items = Vec::new();
    while let Some(row) = rows.next()? {
        let mut fields = Vec::with_capacity(columns.len());
        for (i, column) in columns.iter().enumerate() {
            fields.push((*column, from_sql(row.get_ref(i + 1)?)));
        }
        items.push(Item {
            key: row.get(0)?,
            fields,
            keep_previous: false,
        });
    }
    Ok(items)
}

/// Like `load_items`, but without the items in `skip` (confirmed unchanged by
/// an incremental run): only their keys are read, so an unchanged tree of a
/// million files costs a key scan, not a million rows.
pub(super) fn load_items_except(
    tx: &Transaction,
    collector: &str,
    data_type: DataType,
    skip: &FxHashSet<String>,
) -> rusqlite::Result<Vec<Item>> {
    let keys: Vec<String> = tx
        .prepare_cached("SELECT ItemKey FROM ConfigurationData WHERE Collector = ?1 ORDER BY ItemKey")?
        .query_map([collector], |row| row.get(0))?
        .filter(|key| key.as_ref().map_or(true, |k| !skip.contains(k)))
        .collect::<Result<_, _>>()?;
    let columns = data_type.columns();
    let sql = format!(
        "SELECT {} FROM ConfigurationData WHERE Collector = ?1 AND ItemKey = ?2",
        columns.join(", ")
    );
    let mut stmt = tx.prepare_cached(&sql)?;
    let mut items = Vec::with_capacity(keys.len());
    for key in keys {
        let fields = stmt.query_row([collector, key.as_str()], |row| {
            columns
                .iter()
                .enumerate()
                .map(|(i, column)| Ok((*column, from_sql(row.get_ref(i)?))))
                .collect::<rusqlite::Result<Vec<_>>>()
        })?;
        items.push(Item {
            key,
            fields,
            keep_previous: false,
        });
    }
    Ok(items)
}

/// Inserts or replaces items of one collector.
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

/// The stored items at or under the paths of `scope` (a targeted run's
/// focus), except `skip`, sorted by key. Items are files keyed by path, so
/// what lies under a directory is a key range: `dir/` up to `dir0` (and
/// `dir\\` up to `dir]` for Windows paths).
pub(super) fn load_items_in_scope(
    tx: &Transaction,
    collector: &str,
    data_type: DataType,
    scope: &[String],
    skip: &FxHashSet<String>,
) -> rusqlite::Result<Vec<Item>> {
    let columns = data_type.columns();
    let sql = format!(
        "SELECT ItemKey, {} FROM ConfigurationData WHERE Collector = ?1 AND {IN_RANGE}",
        columns.join(", ")
    );
    let mut stmt = tx.prepare_cached(&sql)?;
    let mut found = std::collections::BTreeMap::new();
    for (from, to) in scope.iter().flat_map(|path| scope_ranges(path)) {
        let mut rows = stmt.query([collector, &from, &to])?;
        while let Some(row) = rows.next()? {
            let key: String = row.get(0)?;
            if skip.contains(&key) || found.contains_key(&key) {
                continue;
            }
            let mut fields = Vec::with_capacity(columns.len());
            for (i, column) in columns.iter().enumerate() {
                fields.push((*column, from_sql(row.get_ref(i + 1)?)));
            }
            found.insert(
                key.clone(),
                Item {
                    key,
                    fields,
                    keep_previous: false,
                },
            );
        }
    }
    Ok(found.into_values().collect())
}

pub(super) fn write_items(
    tx: &Transaction,
    collector: &str,
    data_type: DataType,
    computer: &str,
    time: &str,
    items: &[Item],
) -> rusqlite::Result<()> {
    let columns = data_type.columns();
    let sql = format!(
        "INSERT OR REPLACE INTO ConfigurationData (Collector, ItemKey, ConfigDataType, Computer, TimeGenerated, {}) \
         VALUES (?1, ?2, ?3, ?4, ?5, {})",
        columns.join(", "),
        (0..columns.len())
            .map(|i| format!("?{}", i + 6))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut insert = tx.prepare_cached(&sql)?;
    let type_name = data_type.as_str();
    for item in items {
        let mut values: Vec<&dyn rusqlite::ToSql> = Vec::with_capacity(columns.len() + 5);
        values.extend([
            &collector as &dyn rusqlite::ToSql,
            &item.key,
            &type_name,
            &computer,
            &time,
        ]);
        values.extend(
            columns
                .iter()
                .map(|c| item.get(c).unwrap_or(&Value::Null) as &dyn rusqlite::ToSql),
        );
        insert.execute(values.as_slice())?;
    }
    Ok(())
}

pub(super) fn delete_items(tx: &Transaction, collector: &str, keys: &[String]) -> rusqlite::Result<()> {
    let mut delete = tx.prepare_cached("DELETE FROM ConfigurationData WHERE Collector = ?1 AND ItemKey = ?2")?;
    for key in keys {
        delete.execute([collector, key.as_str()])?;
    }
    Ok(())
}

impl Store {
    /// The stat keys of the files at or under `scope`'s paths.
    pub fn stat_keys_in_scope(
        &self,
        collector: &str,
        scope: &[String],
    ) -> Result<rustc_hash::FxHashMap<String, i64>, StoreError> {
        let sql = format!(
            "SELECT ItemKey, StatKey FROM ConfigurationData WHERE Collector = ?1 AND StatKey IS NOT NULL AND {IN_RANGE}"
        );
        let mut stmt = self.conn.prepare_cached(&sql).map_err(|e| self.error(e))?;
        let mut keys = rustc_hash::FxHashMap::default();
        for (from, to) in scope.iter().flat_map(|path| scope_ranges(path)) {
            let rows = stmt
                .query_map([collector, &from, &to], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
                })
                .map_err(|e| self.error(e))?;
            for row in rows {
                let (key, stat) = row.map_err(|e| self.error(e))?;
                keys.insert(key, stat);
            }
        }
        Ok(keys)
    }

    /// The stat hashes of a collector's stored files, by path.
    pub fn stat_keys(&self, collector: &str) -> Result<rustc_hash::FxHashMap<String, i64>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT ItemKey, StatKey FROM ConfigurationData WHERE Collector = ?1 AND StatKey IS NOT NULL")
            .map_err(|e| self.error(e))?;
        let rows = stmt
            .query_map([collector], |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?)))
            .map_err(|e| self.error(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.error(e))
    }
}
