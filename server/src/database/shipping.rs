//! Applying what an agent ships: one batch, one transaction. Positions make
//! it idempotent: change rows at or below the machine's acknowledged
//! `ChangeId` and inventory entries at or below its acknowledged revision
//! are already here, so a batch sent twice changes nothing.

use std::collections::HashSet;
use std::sync::LazyLock;
use std::time::SystemTime;

use driftwatch_protocol::columns::{self, Kind};
use driftwatch_protocol::{CollectorDigest, DIGEST_MODULUS, InventoryDigest, InventoryEntry, Position, ShipBatch};
use serde_json::Value as Json;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};

use super::columnar::{Cell, Columnar};
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
    /// Applies a batch that passed `validate`.
    pub async fn apply_batch(&self, machine: &MachineId, prepared: &Prepared<'_>) -> Result<Applied, DatabaseError> {
        match self.try_apply_batch(machine, prepared).await {
            // A partition this process knew of was dropped (retention, by
            // any server): forget what it knew and make them again.
            Err(DatabaseError::Sql(error))
                if error.code() == Some(&tokio_postgres::error::SqlState::CHECK_VIOLATION) =>
            {
                self.partitions.lock().unwrap_or_else(|p| p.into_inner()).clear();
                self.try_apply_batch(machine, prepared).await
            }
            other => other,
        }
    }

    async fn try_apply_batch(&self, machine: &MachineId, prepared: &Prepared<'_>) -> Result<Applied, DatabaseError> {
        let batch = prepared.batch;
        self.ensure_partitions(&prepared.months).await?;
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let locked = tx
            .prepare_cached("SELECT shipped_change_id, shipped_revision FROM machine WHERE machine_id = $1 FOR UPDATE")
            .await?;
        let row = tx.query_one(&locked, &[&machine.id]).await?;
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
        if !prepared.changes.is_empty() {
            insert_changes(&tx, machine, &prepared.changes, current.change_id).await?;
        }
        let mut tx = tx;
        apply_inventory(&mut tx, machine, prepared, floor).await?;
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
        let advance = tx
            .prepare_cached(
                "UPDATE machine SET shipped_change_id = $2, shipped_revision = $3, last_shipped = now(), \
                 last_change = (SELECT max(\"TimeGenerated\") FROM \"ConfigurationChange\" \
                                WHERE machine_id = $1 AND \"ChangeId\" = $2) \
                 WHERE machine_id = $1",
            )
            .await?;
        tx.execute(&advance, &[&machine.id, &now.change_id, &now.revision])
            .await?;
        if now.change_id > current.change_id {
            let count = tx.prepare_cached(COUNT_HOURLY).await?;
            tx.execute(&count, &[&machine.id, &current.change_id, &now.change_id])
                .await?;
        }
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
                 AND (to_date(substr(c.relname, length('ConfigurationChange_') + 1), 'YYYY_MM') \
                      + interval '1 month')::timestamp AT TIME ZONE 'UTC' <= $1 \
                 ORDER BY 1",
                &[&before],
            )
            .await?;
        let names: Vec<String> = rows.iter().map(|row| row.get(0)).collect();
        for name in &names {
            tx.batch_execute(&format!("DROP TABLE \"{}\"", name.replace('"', "")))
                .await?;
        }
        tx.execute("DELETE FROM \"Heartbeat\" WHERE \"TimeGenerated\" < $1", &[&before])
            .await?;
        // The dropped months are those that started before `before`'s.
        tx.execute(
            "DELETE FROM change_hourly WHERE hour < date_trunc('month', $1::timestamptz, 'UTC')",
            &[&before],
        )
        .await?;
        tx.commit().await?;
        self.partitions.lock().unwrap_or_else(|p| p.into_inner()).clear();
        Ok(names)
    }
}

/// Columns a row may carry that the server fills itself: the machine is
/// the credential's, never the payload's.
const SERVER_FILLED: &[&str] = &["Computer"];

/// A batch that follows the protocol, laid out for the database.
pub struct Prepared<'a> {
    batch: &'a ShipBatch,
    /// The (year, month) of its change rows, whose partitions must exist.
    months: Vec<(i16, i8)>,
    changes: Columnar<'a>,
    /// Inventory rows written, `Revision` first.
    writes: Columnar<'a>,
    removals: Removals<'a>,
}

#[derive(Default)]
struct Removals<'a> {
    revisions: Vec<i64>,
    collectors: Vec<&'a str>,
    item_keys: Vec<&'a str>,
}

impl Prepared<'_> {
    pub fn changes(&self) -> usize {
        self.changes.len()
    }

    pub fn inventory_entries(&self) -> usize {
        self.writes.len() + self.removals.revisions.len()
    }
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

/// Checks a batch against the protocol (known columns with values of
/// their kind, required columns present, positions in order and in range)
/// and lays it out for the database.
pub fn validate(batch: &ShipBatch) -> Result<Prepared<'_>, Invalid> {
    if batch.to.change_id < batch.from.change_id || batch.to.revision < batch.from.revision {
        return Err(Invalid::Backwards);
    }
    if batch.restart_inventory && batch.from.revision != 0 {
        return Err(Invalid::Restart);
    }
    let mut changes = Columnar::new(columns::CONFIGURATION_CHANGE, SERVER_FILLED);
    let mut last = batch.from.change_id;
    for (index, row) in batch.changes.iter().enumerate() {
        let change = |reason: String| Invalid::Change { index, reason };
        changes.push(row, &[], CHANGE_REQUIRED).map_err(change)?;
        let id = row.get("ChangeId").and_then(Json::as_i64).unwrap_or_default();
        if id <= last || id > batch.to.change_id {
            return Err(change(format!(
                "ChangeId {id} is out of order or outside ({}, {}]",
                batch.from.change_id, batch.to.change_id
            )));
        }
        last = id;
    }
    // The times were read (and checked) as the rows were laid out.
    let months: HashSet<(i16, i8)> = changes
        .times("TimeGenerated")
        .iter()
        .flatten()
        .map(|t| month_of(*t))
        .collect();
    let mut writes = Columnar::new(&DATA_WITH_REVISION, SERVER_FILLED);
    let mut removals = Removals::default();
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
        match entry {
            InventoryEntry::Write { row, .. } => {
                writes
                    .push(row, &[("Revision", Cell::Integer(revision))], DATA_REQUIRED)
                    .map_err(invalid)?;
                let text = |name: &str| row.get(name).and_then(Json::as_str).unwrap_or_default();
                if !written.insert((text("Collector"), text("ItemKey"))) {
                    return Err(invalid("the same item is written twice".into()));
                }
            }
            InventoryEntry::Remove {
                collector, item_key, ..
            } => {
                if collector.contains('\0') || item_key.contains('\0') {
                    return Err(invalid("a key holds a NUL character".into()));
                }
                removals.revisions.push(revision);
                removals.collectors.push(collector);
                removals.item_keys.push(item_key);
            }
        }
    }
    Ok(Prepared {
        batch,
        months: months.into_iter().collect(),
        changes,
        writes,
        removals,
    })
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

/// `ConfigurationData`'s columns as written: its revision, then the row.
static DATA_WITH_REVISION: LazyLock<Vec<(&'static str, Kind)>> = LazyLock::new(|| {
    let mut table = vec![("Revision", Kind::Integer)];
    table.extend_from_slice(columns::CONFIGURATION_DATA);
    table
});

/// $1 machine, $2 its name, $3 the acknowledged `ChangeId`, then the columns.
static INSERT_CHANGES: LazyLock<String> = LazyLock::new(|| {
    let columns = Columnar::new(columns::CONFIGURATION_CHANGE, SERVER_FILLED);
    format!(
        "INSERT INTO \"ConfigurationChange\" (machine_id, \"Computer\", {names}) \
         SELECT $1, $2, r.* FROM {unnest} WHERE r.\"ChangeId\" > $3 ON CONFLICT DO NOTHING",
        names = columns.quoted_names().join(", "),
        unnest = columns.unnest(4),
    )
});

/// Counts the changes a batch added, $1 the machine's, above $2 up to $3,
/// into `change_hourly` (machines spread over its 16 stripes, as migration
/// 9 says). The last statement before the commit: the rows it locks are
/// shared with the other machines of the stripe.
const COUNT_HOURLY: &str = "INSERT INTO change_hourly (hour, change_type, stripe, changes) \
     SELECT date_trunc('hour', \"TimeGenerated\", 'UTC'), \"ConfigChangeType\", ($1::bigint % 16)::smallint, count(*) \
     FROM \"ConfigurationChange\" WHERE machine_id = $1 AND \"ChangeId\" > $2 AND \"ChangeId\" <= $3 \
     GROUP BY 1, 2 ORDER BY 1, 2 \
     ON CONFLICT (hour, change_type, stripe) DO UPDATE SET changes = change_hourly.changes + EXCLUDED.changes";

/// $1 machine, $2 its name, $3 the revision the server has, then the
/// columns. A later write of a key replaces its row whole.
static UPSERT_INVENTORY: LazyLock<String> = LazyLock::new(|| {
    let columns = Columnar::new(&DATA_WITH_REVISION, SERVER_FILLED);
    let names = columns.quoted_names();
    format!(
        "INSERT INTO \"ConfigurationData\" (machine_id, \"Computer\", {list}) \
         SELECT $1, $2, r.* FROM {unnest} WHERE r.\"Revision\" > $3 \
         ON CONFLICT (machine_id, \"Collector\", \"ItemKey\") DO UPDATE SET \
         \"Computer\" = EXCLUDED.\"Computer\", {updates}",
        list = names.join(", "),
        unnest = columns.unnest(4),
        updates = names
            .iter()
            .map(|n| format!("{n} = EXCLUDED.{n}"))
            .collect::<Vec<_>>()
            .join(", "),
    )
});

/// $1 machine, $2 the revision the server has, $3–$5 the removals.
const DELETE_INVENTORY: &str = "DELETE FROM \"ConfigurationData\" d \
     USING unnest($3::bigint[], $4::text[], $5::text[]) AS r(\"Revision\", \"Collector\", \"ItemKey\") \
     WHERE d.machine_id = $1 AND r.\"Revision\" > $2 \
     AND d.\"Collector\" = r.\"Collector\" AND d.\"ItemKey\" = r.\"ItemKey\"";

async fn insert_changes(
    tx: &deadpool_postgres::Transaction<'_>,
    machine: &MachineId,
    changes: &Columnar<'_>,
    after: i64,
) -> Result<(), DatabaseError> {
    let statement = tx.prepare_cached(&INSERT_CHANGES).await?;
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&machine.id, &machine.name, &after];
    params.extend(changes.params());
    tx.execute(&statement, &params).await?;
    Ok(())
}

/// Removals first, then writes: within one consistent batch a key's
/// current row is newer than any removal of it. Entries at or below
/// `floor` are already here.
async fn apply_inventory(
    tx: &mut deadpool_postgres::Transaction<'_>,
    machine: &MachineId,
    prepared: &Prepared<'_>,
    floor: i64,
) -> Result<(), DatabaseError> {
    let removals = &prepared.removals;
    if !removals.revisions.is_empty() {
        let statement = tx.prepare_cached(DELETE_INVENTORY).await?;
        tx.execute(
            &statement,
            &[
                &machine.id,
                &floor,
                &removals.revisions,
                &removals.collectors,
                &removals.item_keys,
            ],
        )
        .await?;
    }
    let writes = &prepared.writes;
    if writes.len() >= COPY_AT_LEAST {
        let mut savepoint = tx.savepoint("copy_inventory").await?;
        match copy_new_rows(&mut savepoint, machine, writes, floor).await {
            Ok(()) => {
                savepoint.commit().await?;
                return Ok(());
            }
            // Some of these items were here already: write them the
            // careful way.
            Err(DatabaseError::Sql(error)) if error.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                savepoint.rollback().await?;
                tracing::debug!(
                    machine = machine.name,
                    "{} inventory writes: some items were here already, so they are upserted",
                    writes.len()
                );
            }
            Err(other) => return Err(other),
        }
    }
    if !writes.is_empty() {
        let statement = tx.prepare_cached(&UPSERT_INVENTORY).await?;
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&machine.id, &machine.name, &floor];
        params.extend(writes.params());
        tx.execute(&statement, &params).await?;
    }
    Ok(())
}

/// Batches with this many writes are most likely part of an inventory
/// sent whole (a baseline), whose items the server does not have yet.
const COPY_AT_LEAST: usize = 500;

/// Inserts the writes above `floor` with a binary `COPY`: no conflict
/// check per row and bulk heap inserts, several times cheaper than the
/// upsert. Fails with a unique violation if any item exists already.
async fn copy_new_rows(
    tx: &mut deadpool_postgres::Transaction<'_>,
    machine: &MachineId,
    writes: &Columnar<'_>,
    floor: i64,
) -> Result<(), DatabaseError> {
    let mut types = vec![Type::INT8, Type::TEXT];
    types.extend(writes.types());
    let sink = tx.copy_in(COPY_INVENTORY.as_str()).await?;
    let writer = BinaryCopyInWriter::new(sink, &types);
    futures_util::pin_mut!(writer);
    let revisions = writes.integers("Revision").unwrap_or_default();
    let mut values: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(types.len());
    let mut row = Vec::with_capacity(types.len());
    for (index, revision) in revisions.iter().enumerate() {
        if revision.is_some_and(|r| r <= floor) {
            continue;
        }
        writes.row(index, &mut row);
        values.clear();
        values.push(&machine.id);
        values.push(&machine.name);
        values.extend(row.iter().copied());
        writer.as_mut().write(&values).await?;
    }
    writer.finish().await?;
    Ok(())
}

/// The same columns as `UPSERT_INVENTORY`, for `COPY`.
static COPY_INVENTORY: LazyLock<String> = LazyLock::new(|| {
    let columns = Columnar::new(&DATA_WITH_REVISION, SERVER_FILLED);
    format!(
        "COPY \"ConfigurationData\" (machine_id, \"Computer\", {}) FROM STDIN (FORMAT binary)",
        columns.quoted_names().join(", ")
    )
});

/// The (year, month) of a time, in UTC.
fn month_of(time: SystemTime) -> (i16, i8) {
    // Times here came from `parse_timestamp`, so jiff can hold them.
    let date = jiff::Timestamp::try_from(time)
        .map_or(jiff::civil::Date::ZERO, |t| jiff::tz::Offset::UTC.to_datetime(t).date());
    (date.year(), date.month())
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
        let (changes, to) = (vec![change(11), change(12)], 12);
        let batch = batch(changes, to);
        let prepared = validate(&batch).unwrap();
        assert_eq!((prepared.months.as_slice(), prepared.changes()), (&[(2026, 12)][..], 2));
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
        assert_eq!(validate(&batch(Vec::new(), 9)).err(), Some(Invalid::Backwards));
    }

    fn inventory(entries: Vec<InventoryEntry>) -> ShipBatch {
        ShipBatch {
            from: Position::default(),
            to: Position {
                change_id: 0,
                revision: entries.len() as i64,
            },
            changes: Vec::new(),
            inventory: entries,
            restart_inventory: true,
        }
    }

    fn write(revision: i64, extra: Option<(&str, Json)>) -> InventoryEntry {
        let mut row = json!({
            "Collector": "dpkg", "ItemKey": format!("pkg{revision}"), "ConfigDataType": "Software",
            "Computer": "whatever the payload says", "TimeGenerated": "2026-12-02T10:00:00Z",
        });
        if let Some((name, value)) = extra {
            row[name] = value;
        }
        InventoryEntry::Write {
            revision,
            row: row.as_object().unwrap().clone(),
        }
    }

    #[test]
    fn inventory_entries_are_checked_like_change_rows() {
        let removal = |key: &str| InventoryEntry::Remove {
            revision: 2,
            collector: "dpkg".into(),
            item_key: key.into(),
        };
        let good = inventory(vec![write(1, None), removal("gone")]);
        assert_eq!(validate(&good).unwrap().inventory_entries(), 2);
        let refused = |entries: Vec<InventoryEntry>| validate(&inventory(entries)).err().map(|e| e.to_string());
        let same_key = write(2, Some(("ItemKey", json!("pkg1"))));
        for (entries, expected) in [
            (
                vec![write(1, Some(("Revision", json!(7))))],
                "unknown column \"Revision\"",
            ),
            (
                vec![write(1, Some(("Size", json!("big"))))],
                "Size is not a Integer value",
            ),
            (
                vec![write(1, Some(("ConfigDataType", Json::Null)))],
                "ConfigDataType is missing",
            ),
            (vec![write(1, None), same_key], "written twice"),
            (vec![write(1, None), removal("nul\0key")], "NUL"),
        ] {
            let error = refused(entries).expect("refused");
            assert!(error.contains(expected), "{error}");
        }
    }
}
