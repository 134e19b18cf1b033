//! Applying what an agent ships: one batch, one transaction. Positions make
//! it idempotent: change rows at or below the machine's acknowledged
//! `ChangeId` and inventory entries at or below its acknowledged revision
//! are already here, so a batch sent twice changes nothing.

use std::collections::HashSet;

use driftwatch_protocol::columns::{self, Kind};
use driftwatch_protocol::{CollectorDigest, DIGEST_MODULUS, InventoryDigest, InventoryEntry, Position, ShipBatch};
use serde_json::Value as Json;

use super::machines::MachineId;
use super::{Database, DatabaseError};

/// Serialises the creation of history partitions between server processes.
const PARTITION_LOCK: i64 = 0x6472_6966_7470_6172; // "driftpar"

/// What became of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Applied (or already there): the machine's position now.
    Acknowledged(Position),
    /// The batch starts after what the server has: nothing applied.
    Gap(Position),
}

impl Database {
    /// Applies a batch that passed `validate`; `months` are the (year,
    /// month) of its change rows, whose partitions must exist.
    pub async fn apply_batch(
        &self,
        machine: &MachineId,
        batch: &ShipBatch,
        months: &[(i16, i8)],
    ) -> Result<Applied, DatabaseError> {
        match self.try_apply_batch(machine, batch, months).await {
            // A partition this process knew of was dropped (retention, by
            // any server): forget what it knew and make them again.
            Err(DatabaseError::Sql(error))
                if error.code() == Some(&tokio_postgres::error::SqlState::CHECK_VIOLATION) =>
            {
                self.partitions.lock().unwrap_or_else(|p| p.into_inner()).clear();
                self.try_apply_batch(machine, batch, months).await
            }
            other => other,
        }
    }

    async fn try_apply_batch(
        &self,
        machine: &MachineId,
        batch: &ShipBatch,
        months: &[(i16, i8)],
    ) -> Result<Applied, DatabaseError> {
        self.ensure_partitions(months).await?;
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let row = tx
            .query_one(
                "SELECT shipped_change_id, shipped_revision FROM machine WHERE machine_id = $1 FOR UPDATE",
                &[&machine.id],
            )
            .await?;
        let current = Position {
            change_id: row.get(0),
            revision: row.get(1),
        };
        if batch.from.change_id > current.change_id || batch.from.revision > current.revision {
            return Ok(Applied::Gap(current));
        }
        // A restart replaces the inventory whole (its first batch starts
        // from revision 0; a repeat of it only starts it over).
        let restart = batch.restart_inventory;
        if restart {
            tx.execute(
                "DELETE FROM \"ConfigurationData\" WHERE machine_id = $1",
                &[&machine.id],
            )
            .await?;
        }
        let floor = if restart { 0 } else { current.revision };
        if !batch.changes.is_empty() {
            insert_changes(&tx, machine, batch, current.change_id).await?;
        }
        apply_inventory(&tx, machine, &batch.inventory, floor).await?;
        let mut tx = tx;
        if batch.to.change_id > current.change_id {
            super::alerts::raise(&mut tx, machine, current.change_id, batch.to.change_id).await?;
        }
        let now = Position {
            change_id: current.change_id.max(batch.to.change_id),
            revision: if restart {
                batch.to.revision
            } else {
                current.revision.max(batch.to.revision)
            },
        };
        tx.execute(
            "UPDATE machine SET shipped_change_id = $2, shipped_revision = $3, last_shipped = now(), \
             last_change = (SELECT max(\"TimeGenerated\") FROM \"ConfigurationChange\" \
                            WHERE machine_id = $1 AND \"ChangeId\" = $2) \
             WHERE machine_id = $1",
            &[&machine.id, &now.change_id, &now.revision],
        )
        .await?;
        tx.commit().await?;
        Ok(Applied::Acknowledged(now))
    }

    /// How far the server has a machine's records.
    pub async fn position(&self, machine: &MachineId) -> Result<Position, DatabaseError> {
        let row = self
            .client()
            .await?
            .query_one(
                "SELECT shipped_change_id, shipped_revision FROM machine WHERE machine_id = $1",
                &[&machine.id],
            )
            .await?;
        Ok(Position {
            change_id: row.get(0),
            revision: row.get(1),
        })
    }

    /// Per collector, the machine's items and the sum of their revisions
    /// (modulo `DIGEST_MODULUS`), with its position, read in one snapshot.
    pub async fn inventory_digest(&self, machine: &MachineId) -> Result<InventoryDigest, DatabaseError> {
        let mut client = self.client().await?;
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        let position = tx
            .query_one(
                "SELECT shipped_change_id, shipped_revision FROM machine WHERE machine_id = $1",
                &[&machine.id],
            )
            .await?;
        let rows = tx
            .query(
                "SELECT \"Collector\", count(*), (sum(\"Revision\" % $2) % $2)::bigint \
                 FROM \"ConfigurationData\" WHERE machine_id = $1 GROUP BY 1 ORDER BY \"Collector\" COLLATE \"C\"",
                &[&machine.id, &DIGEST_MODULUS],
            )
            .await?;
        tx.commit().await?;
        Ok(InventoryDigest {
            position: Position {
                change_id: position.get(0),
                revision: position.get(1),
            },
            collectors: rows
                .iter()
                .map(|row| CollectorDigest {
                    collector: row.get(0),
                    items: row.get(1),
                    revisions: row.get(2),
                })
                .collect(),
        })
    }

    /// Makes the monthly history partitions that do not exist yet.
    async fn ensure_partitions(&self, months: &[(i16, i8)]) -> Result<(), DatabaseError> {
        let missing: Vec<(i16, i8)> = {
            let known = self.partitions.lock().unwrap_or_else(|p| p.into_inner());
            months.iter().filter(|m| !known.contains(m)).copied().collect()
        };
        if missing.is_empty() {
            return Ok(());
        }
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&PARTITION_LOCK])
            .await?;
        for &(year, month) in &missing {
            let (next_year, next_month) = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
            tx.batch_execute(&format!(
                "CREATE TABLE IF NOT EXISTS \"ConfigurationChange_{year:04}_{month:02}\" \
                 PARTITION OF \"ConfigurationChange\" \
                 FOR VALUES FROM ('{year:04}-{month:02}-01 00:00:00+00') TO ('{next_year:04}-{next_month:02}-01 00:00:00+00')"
            ))
            .await?;
        }
        tx.commit().await?;
        self.partitions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(missing);
        Ok(())
    }
}

impl Database {
    /// Drops the history partitions of months that ended before `before`
    /// (whole months only); returns their names.
    pub async fn drop_history_before(&self, before: std::time::SystemTime) -> Result<Vec<String>, DatabaseError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&PARTITION_LOCK])
            .await?;
        // A partition's upper bound is the first day of the next month.
        let rows = tx
            .query(
                "SELECT c.relname FROM pg_inherits i \
                 JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent \
                 WHERE p.relname = 'ConfigurationChange' \
                 AND to_date(substr(c.relname, length('ConfigurationChange_') + 1), 'YYYY_MM') \
                     + interval '1 month' <= $1 \
                 ORDER BY 1",
                &[&before],
            )
            .await?;
        let names: Vec<String> = rows.iter().map(|row| row.get(0)).collect();
        for name in &names {
            tx.batch_execute(&format!("DROP TABLE \"{}\"", name.replace('"', "")))
                .await?;
        }
        tx.commit().await?;
        self.partitions.lock().unwrap_or_else(|p| p.into_inner()).clear();
        Ok(names)
    }
}

/// The column definition list of `jsonb_to_recordset` for `table`,
/// without `Computer` (the server names the machine, not the payload).
fn record_columns(table: &[(&str, Kind)], extra: &str) -> String {
    let mut list: Vec<String> = table
        .iter()
        .filter(|(name, _)| *name != "Computer")
        .map(|(name, kind)| {
            let sql = match kind {
                Kind::Text => "text",
                Kind::Integer => "bigint",
                Kind::Time => "timestamptz",
            };
            format!("\"{name}\" {sql}")
        })
        .collect();
    if !extra.is_empty() {
        list.insert(0, extra.to_string());
    }
    list.join(", ")
}

fn column_names(table: &[(&str, Kind)]) -> Vec<String> {
    table
        .iter()
        .filter(|(name, _)| *name != "Computer")
        .map(|(name, _)| format!("\"{name}\""))
        .collect()
}

async fn insert_changes(
    tx: &deadpool_postgres::Transaction<'_>,
    machine: &MachineId,
    batch: &ShipBatch,
    after: i64,
) -> Result<(), DatabaseError> {
    let names = column_names(columns::CONFIGURATION_CHANGE);
    let sql = format!(
        "INSERT INTO \"ConfigurationChange\" (machine_id, \"Computer\", {names}) \
         SELECT $1, $2, {selected} FROM jsonb_to_recordset($3::jsonb) AS r({definition}) \
         WHERE r.\"ChangeId\" > $4 ON CONFLICT DO NOTHING",
        names = names.join(", "),
        selected = names.iter().map(|n| format!("r.{n}")).collect::<Vec<_>>().join(", "),
        definition = record_columns(columns::CONFIGURATION_CHANGE, ""),
    );
    let rows = Json::Array(batch.changes.iter().cloned().map(Json::Object).collect());
    tx.execute(&sql, &[&machine.id, &machine.name, &rows, &after]).await?;
    Ok(())
}

/// Removals first, then writes: within one consistent batch a key's
/// current row is newer than any removal of it.
async fn apply_inventory(
    tx: &deadpool_postgres::Transaction<'_>,
    machine: &MachineId,
    entries: &[InventoryEntry],
    floor: i64,
) -> Result<(), DatabaseError> {
    let mut removals = Vec::new();
    let mut writes = Vec::new();
    for entry in entries.iter().filter(|e| e.revision() > floor) {
        match entry {
            InventoryEntry::Remove {
                collector, item_key, ..
            } => removals.push(serde_json::json!({ "Collector": collector, "ItemKey": item_key })),
            InventoryEntry::Write { revision, row } => {
                let mut row = row.clone();
                row.insert("Revision".into(), Json::from(*revision));
                writes.push(Json::Object(row));
            }
        }
    }
    if !removals.is_empty() {
        tx.execute(
            "DELETE FROM \"ConfigurationData\" d \
             USING jsonb_to_recordset($2::jsonb) AS r(\"Collector\" text, \"ItemKey\" text) \
             WHERE d.machine_id = $1 AND d.\"Collector\" = r.\"Collector\" AND d.\"ItemKey\" = r.\"ItemKey\"",
            &[&machine.id, &Json::Array(removals)],
        )
        .await?;
    }
    if !writes.is_empty() {
        let names = column_names(columns::CONFIGURATION_DATA);
        let sql = format!(
            "INSERT INTO \"ConfigurationData\" (machine_id, \"Computer\", \"Revision\", {names}) \
             SELECT $1, $2, r.\"Revision\", {selected} FROM jsonb_to_recordset($3::jsonb) AS r({definition}) \
             ON CONFLICT (machine_id, \"Collector\", \"ItemKey\") DO UPDATE SET \
             \"Computer\" = EXCLUDED.\"Computer\", \"Revision\" = EXCLUDED.\"Revision\", {updates}",
            names = names.join(", "),
            selected = names.iter().map(|n| format!("r.{n}")).collect::<Vec<_>>().join(", "),
            definition = record_columns(columns::CONFIGURATION_DATA, "\"Revision\" bigint"),
            updates = names
                .iter()
                .map(|n| format!("{n} = EXCLUDED.{n}"))
                .collect::<Vec<_>>()
                .join(", "),
        );
        tx.execute(&sql, &[&machine.id, &machine.name, &Json::Array(writes)])
            .await?;
    }
    Ok(())
}

/// Why a batch is refused before anything is stored.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Invalid {
    #[error("the batch ends before it starts")]
    Backwards,
    #[error("an inventory starts again from revision 0")]
    Restart,
    #[error("change row {index}: {reason}")]
    Change { index: usize, reason: String },
    #[error("inventory entry {index}: {reason}")]
    Inventory { index: usize, reason: String },
}

/// Checks a batch against the protocol: known columns with values of
/// their kind, required columns present, positions in order and in range.
/// Returns the months its change rows fall in.
pub fn validate(batch: &ShipBatch) -> Result<Vec<(i16, i8)>, Invalid> {
    if batch.to.change_id < batch.from.change_id || batch.to.revision < batch.from.revision {
        return Err(Invalid::Backwards);
    }
    if batch.restart_inventory && batch.from.revision != 0 {
        return Err(Invalid::Restart);
    }
    let mut months = HashSet::new();
    let mut last = batch.from.change_id;
    for (index, row) in batch.changes.iter().enumerate() {
        let change = |reason: String| Invalid::Change { index, reason };
        check_row(row, columns::CONFIGURATION_CHANGE, CHANGE_REQUIRED).map_err(change)?;
        let id = row.get("ChangeId").and_then(Json::as_i64).unwrap_or_default();
        if id <= last || id > batch.to.change_id {
            return Err(change(format!(
                "ChangeId {id} is out of order or outside ({}, {}]",
                batch.from.change_id, batch.to.change_id
            )));
        }
        last = id;
        let time = row.get("TimeGenerated").and_then(Json::as_str).unwrap_or_default();
        months.insert(month_of(time).map_err(change)?);
    }
    let mut last = batch.from.revision;
    let mut written = HashSet::new();
    for (index, entry) in batch.inventory.iter().enumerate() {
        let invalid = |reason: String| Invalid::Inventory { index, reason };
        let revision = entry.revision();
        if revision <= last || revision > batch.to.revision {
            return Err(invalid(format!(
                "revision {revision} is out of order or outside ({}, {}]",
                batch.from.revision, batch.to.revision
            )));
        }
        last = revision;
        if let InventoryEntry::Write { row, .. } = entry {
            check_row(row, columns::CONFIGURATION_DATA, DATA_REQUIRED).map_err(invalid)?;
            let key = (row.get("Collector").cloned(), row.get("ItemKey").cloned());
            if !written.insert(format!("{key:?}")) {
                return Err(invalid("the same item is written twice".into()));
            }
        }
    }
    Ok(months.into_iter().collect())
}

const CHANGE_REQUIRED: &[&str] = &[
    "ChangeId",
    "Collector",
    "ItemKey",
    "TimeGenerated",
    "ConfigChangeType",
    "ChangeCategory",
];
const DATA_REQUIRED: &[&str] = &["Collector", "ItemKey", "ConfigDataType", "TimeGenerated"];

fn check_row(row: &driftwatch_protocol::Columns, table: &[(&str, Kind)], required: &[&str]) -> Result<(), String> {
    for (name, value) in row {
        let Some(kind) = columns::kind(table, name) else {
            return Err(format!("unknown column {name:?}"));
        };
        let fits = match (kind, value) {
            (_, Json::Null) => true,
            // PostgreSQL text cannot hold NUL.
            (Kind::Text, Json::String(text)) => !text.contains('\0'),
            (Kind::Integer, Json::Number(n)) => n.is_i64(),
            (Kind::Time, Json::String(text)) => month_of(text).is_ok(),
            _ => false,
        };
        if !fits {
            return Err(format!("{name} is not a {kind:?} value: {value}"));
        }
    }
    for name in required {
        if row.get(*name).is_none_or(Json::is_null) {
            return Err(format!("{name} is missing"));
        }
    }
    Ok(())
}

fn month_of(time: &str) -> Result<(i16, i8), String> {
    let timestamp: jiff::Timestamp = time
        .parse()
        .map_err(|e| format!("TimeGenerated {time:?} is not a time: {e}"))?;
    let date = jiff::tz::Offset::UTC.to_datetime(timestamp).date();
    if !(1..=9999).contains(&date.year()) {
        return Err(format!("TimeGenerated {time:?} is outside years 1 to 9999"));
    }
    Ok((date.year(), date.month()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn change(id: i64) -> driftwatch_protocol::Columns {
        let row = json!({
            "ChangeId": id, "Collector": "dpkg", "ItemKey": "bash\tamd64",
            "TimeGenerated": "2026-12-02T10:00:00.5Z", "ConfigChangeType": "Software",
            "ChangeCategory": "Modified", "Current": "5.2", "Size": null,
        });
        row.as_object().unwrap().clone()
    }

    fn batch(changes: Vec<driftwatch_protocol::Columns>, to: i64) -> ShipBatch {
        ShipBatch {
            from: Position {
                change_id: 10,
                revision: 0,
            },
            to: Position {
                change_id: to,
                revision: 0,
            },
            changes,
            inventory: Vec::new(),
            restart_inventory: false,
        }
    }

    #[test]
    fn good_batches_pass_and_name_their_months() {
        assert_eq!(validate(&batch(vec![change(11), change(12)], 12)), Ok(vec![(2026, 12)]));
    }

    #[test]
    fn unknown_columns_wrong_kinds_and_missing_columns_are_refused() {
        let mut extra = change(11);
        extra.insert("Password".into(), json!("x"));
        assert!(
            matches!(validate(&batch(vec![extra], 11)), Err(Invalid::Change { index: 0, reason }) if reason.contains("unknown column \"Password\""))
        );
        let mut wrong = change(11);
        wrong.insert("Size".into(), json!("big"));
        assert!(validate(&batch(vec![wrong], 11)).is_err());
        let mut missing = change(11);
        missing.remove("ChangeCategory");
        assert!(validate(&batch(vec![missing], 11)).is_err());
        let mut time = change(11);
        time.insert("TimeGenerated".into(), json!("yesterday"));
        assert!(validate(&batch(vec![time], 11)).is_err());
    }

    #[test]
    fn positions_must_be_in_order_and_in_range() {
        assert!(validate(&batch(vec![change(12), change(11)], 12)).is_err());
        assert!(validate(&batch(vec![change(10)], 10)).is_err(), "at or below from");
        assert!(validate(&batch(vec![change(13)], 12)).is_err(), "above to");
        assert_eq!(validate(&batch(Vec::new(), 9)), Err(Invalid::Backwards));
    }
}
