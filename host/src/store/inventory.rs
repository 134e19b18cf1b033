//! `ConfigurationData`: the current inventory, one row per item.

use rusqlite::{Transaction, params_from_iter};

use super::{Row, Store, StoreError, from_sql, to_sql};
use crate::inventory::{DataType, Item, Value};

impl Store {
    /// Current inventory rows, optionally of one type, ordered by type and key.
    pub fn inventory(&self, data_type: Option<DataType>) -> Result<Vec<Row>, StoreError> {
        let mut rows = Vec::new();
        for t in DataType::ALL.into_iter().filter(|t| data_type.is_none_or(|d| d == *t)) {
            let sql = format!(
                "SELECT Computer, TimeGenerated, ConfigDataType, {}, Collector FROM ConfigurationData \
                 WHERE ConfigDataType = ?1 ORDER BY ItemKey, Collector",
                t.columns().join(", ")
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

/// Inserts or replaces items of one collector.
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
    for item in items {
        let mut values: Vec<rusqlite::types::Value> = vec![
            collector.to_string().into(),
            item.key.clone().into(),
            data_type.as_str().to_string().into(),
            computer.to_string().into(),
            time.to_string().into(),
        ];
        values.extend(columns.iter().map(|c| to_sql(item.get(c))));
        insert.execute(params_from_iter(values))?;
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
