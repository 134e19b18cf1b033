//! `ConfigurationData`: the current inventory, one row per item.

use rusqlite::types::Value as SqlValue;
use rusqlite::{CachedStatement, Transaction};

use super::revision::Clock;
use super::{Row, Store, StoreError, from_sql};
use crate::change_engine::KeyScope;
use crate::exact_path;
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

/// The statements that write a collector's items into `ConfigurationData`.
pub(super) struct RowWriter {
    /// Gives each written row its row id (see `revision`).
    clock: Clock,
    collector: String,
    data_type: DataType,
    computer: String,
    time: String,
    insert_new: String,
    upsert: String,
    lookup: String,
    load: String,
}

impl RowWriter {
    pub fn new(collector: &str, data_type: DataType, computer: &str, time: &str, clock: Clock) -> RowWriter {
        let columns = data_type.columns();
        let sql = |verb: &str, tail: &str| {
            format!(
                "{verb} INTO ConfigurationData (Collector, ItemKey, ConfigDataType, Computer, TimeGenerated, {}, rowid) \
                 VALUES (?1, ?2, ?3, ?4, ?5, {}, ?{}){tail}",
                columns.join(", "),
                (0..columns.len())
                    .map(|i| format!("?{}", i + 6))
                    .collect::<Vec<_>>()
                    .join(", "),
                columns.len() + 6
            )
        };
        RowWriter {
            clock,
            collector: collector.to_string(),
            data_type,
            computer: computer.to_string(),
            time: time.to_string(),
            insert_new: sql("INSERT", " ON CONFLICT DO NOTHING"),
            upsert: sql("INSERT OR REPLACE", ""),
            lookup: format!(
                "SELECT rowid, {} FROM ConfigurationData WHERE Collector = ?1 AND ItemKey = ?2",
                columns.join(", ")
            ),
            load: format!(
                "SELECT ItemKey, {} FROM ConfigurationData WHERE rowid = ?1",
                columns.join(", ")
            ),
        }
    }

    /// The statements, prepared for a batch: what every row shares is
    /// bound once.
    pub fn prepare<'t>(&self, tx: &'t Transaction) -> rusqlite::Result<Rows<'t>> {
        let mut insert_new = tx.prepare_cached(&self.insert_new)?;
        let mut upsert = tx.prepare_cached(&self.upsert)?;
        for statement in [&mut insert_new, &mut upsert] {
            statement.raw_bind_parameter(1, &self.collector)?;
            statement.raw_bind_parameter(3, self.data_type.as_str())?;
            statement.raw_bind_parameter(4, &self.computer)?;
            statement.raw_bind_parameter(5, &self.time)?;
        }
        Ok(Rows {
            insert_new,
            upsert,
            lookup: tx.prepare_cached(&self.lookup)?,
            clock: self.clock.clone(),
            collector: self.collector.clone(),
            data_type: self.data_type,
        })
    }

    /// A stored item by row id.
    pub fn load(&self, tx: &Transaction, rowid: i64) -> rusqlite::Result<Option<Item>> {
        let mut statement = tx.prepare_cached(&self.load)?;
        let mut rows = statement.query([rowid])?;
        let Some(row) = rows.next()? else {
            return Ok(None);
        };
        Ok(Some(Item {
            key: super::key_from_sql(self.data_type, row.get_ref(0)?),
            fields: fields(row, self.data_type.columns())?,
            keep_previous: false,
        }))
    }
}

/// A row's columns, after the first one, as an item's fields.
fn fields(row: &rusqlite::Row, columns: &'static [&'static str]) -> rusqlite::Result<Vec<(&'static str, Value)>> {
    let mut fields = Vec::with_capacity(columns.len());
    for (i, column) in columns.iter().enumerate() {
        fields.push((*column, from_sql(row.get_ref(i + 1)?)));
    }
    Ok(fields)
}

/// A collector's rows, for one batch.
pub(super) struct Rows<'t> {
    insert_new: CachedStatement<'t>,
    upsert: CachedStatement<'t>,
    lookup: CachedStatement<'t>,
    clock: Clock,
    collector: String,
    data_type: DataType,
}

impl Rows<'_> {
    /// Inserts an item whose key is not stored; false (and nothing written)
    /// when it is.
    pub fn insert_new(&mut self, item: &Item) -> rusqlite::Result<bool> {
        Ok(write(&mut self.insert_new, self.data_type, item, &self.clock)? == 1)
    }

    /// Inserts an item, or replaces the stored one with its key.
    pub fn upsert(&mut self, item: &Item) -> rusqlite::Result<()> {
        write(&mut self.upsert, self.data_type, item, &self.clock).map(|_| ())
    }

    /// The stored item with this key, and its row id.
    pub fn lookup(&mut self, key: &str) -> rusqlite::Result<Option<(i64, Item)>> {
        let mut rows = self
            .lookup
            .query(rusqlite::params![self.collector, super::key_value(self.data_type, key)])?;
        let Some(row) = rows.next()? else {
            return Ok(None);
        };
        let item = Item {
            key: key.to_string(),
            fields: fields(row, self.data_type.columns())?,
            keep_previous: false,
        };
        Ok(Some((row.get(0)?, item)))
    }
}

/// Binds what differs from row to row (the constant columns are bound) and
/// runs; a row written takes the clock's next number as its row id.
fn write(statement: &mut CachedStatement, data_type: DataType, item: &Item, clock: &Clock) -> rusqlite::Result<usize> {
    statement.raw_bind_parameter(2, super::key_value(data_type, &item.key))?;
    for (i, column) in data_type.columns().iter().enumerate() {
        // Items carry their fields in column order: look there first.
        let value = match item.fields.get(i) {
            Some((name, value)) if name == column => Some(value),
            _ => item.get(column),
        };
        statement.raw_bind_parameter(i + 6, value.unwrap_or(&Value::Null))?;
    }
    statement.raw_bind_parameter(data_type.columns().len() + 6, clock.peek())?;
    let written = statement.raw_execute()?;
    if written == 1 {
        clock.take();
    }
    Ok(written)
}

/// The row ids of a collector's stored items — all of them, or those at
/// or under the paths of a targeted run — except those `skip` names (by
/// row id) and those `retained` names (by key; the key is read only then).
pub(super) fn pick_rows(
    tx: &Transaction,
    collector: &str,
    data_type: DataType,
    paths: Option<&[String]>,
    skip: impl Fn(i64) -> bool,
    retained: Option<&dyn Fn(&str) -> bool>,
) -> rusqlite::Result<Vec<i64>> {
    let mut picked = Vec::new();
    let mut take = |rows: &mut rusqlite::Rows| -> rusqlite::Result<()> {
        while let Some(row) = rows.next()? {
            let rowid: i64 = row.get(0)?;
            if skip(rowid) {
                continue;
            }
            if let Some(retained) = retained
                && retained(&super::key_from_sql(data_type, row.get_ref(1)?))
            {
                continue;
            }
            picked.push(rowid);
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

/// The collector's stored rows that the registry `rules` read and that
/// `skip` does not account for. Key names compare without regard to case,
/// which an index range cannot do: the collector's rows are read through
/// (a registry collector's inventory is small).
pub(super) fn pick_registry_rows(
    tx: &Transaction,
    collector: &str,
    rules: &[KeyScope],
    skip: impl Fn(i64) -> bool,
) -> rusqlite::Result<Vec<i64>> {
    let mut statement =
        tx.prepare_cached("SELECT rowid, RegistryKey, ValueName FROM ConfigurationData WHERE Collector = ?1")?;
    let mut rows = statement.query([collector])?;
    let mut picked = Vec::new();
    while let Some(row) = rows.next()? {
        let rowid: i64 = row.get(0)?;
        if skip(rowid) {
            continue;
        }
        let key: Option<String> = row.get(1)?;
        let value: Option<String> = row.get(2)?;
        let (key, value) = (key.unwrap_or_default(), value.unwrap_or_default());
        if rules.iter().any(|rule| rule.covers(&key, &value)) {
            picked.push(rowid);
        }
    }
    Ok(picked)
}

/// Deletes a stored row.
pub(super) fn delete_row(tx: &Transaction, rowid: i64) -> rusqlite::Result<()> {
    tx.prepare_cached("DELETE FROM ConfigurationData WHERE rowid = ?1")?
        .execute([rowid])?;
    Ok(())
}

/// The key ranges of what is at or under `path`: the path itself, `path/`
/// up to `path0` and `path\\` up to `path]` (the characters after `/` and
/// `\\`), as text and as bytes (names that are not UTF-8 are stored as
/// bytes, which SQLite sorts after all text). Each range is its own query:
/// SQLite answers one from the primary key index, where an `OR` of them
/// would make it scan the collector.
fn scope_ranges(path: &str) -> Vec<(SqlValue, SqlValue)> {
    let raw = exact_path::decode(path).into_owned();
    let end = raw
        .iter()
        .rposition(|b| !matches!(b, b'/' | b'\\'))
        .map_or(0, |i| i + 1);
    let base = &raw[..end];
    let with = |bytes: &[u8], tail: &[u8]| [bytes, tail].concat();
    let ranges = [
        (raw.clone(), with(&raw, b"\0")),
        (with(base, b"/"), with(base, b"0")),
        (with(base, b"\\"), with(base, b"]")),
    ];
    let mut values = Vec::with_capacity(6);
    for (from, to) in ranges {
        if let (Ok(from), Ok(to)) = (std::str::from_utf8(&from), std::str::from_utf8(&to)) {
            values.push((SqlValue::Text(from.to_string()), SqlValue::Text(to.to_string())));
        }
        values.push((SqlValue::Blob(from), SqlValue::Blob(to)));
    }
    values
}

const IN_RANGE: &str = "ItemKey >= ?2 AND ItemKey < ?3";

impl Store {
    /// The stat keys of a collector's stored files by path: all of them, or
    /// those at or under the paths of a targeted run.
    pub fn stat_keys(&self, collector: &str, paths: Option<&[String]>) -> Result<Vec<(String, i64)>, StoreError> {
        fn take(rows: &mut rusqlite::Rows, keys: &mut Vec<(String, i64)>) -> rusqlite::Result<()> {
            while let Some(row) = rows.next()? {
                keys.push((super::key_from_sql(DataType::Files, row.get_ref(0)?), row.get(1)?));
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
