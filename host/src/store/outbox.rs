//! The store as the outbox of a fleet member: the change rows and inventory
//! revisions the server has not acknowledged, read as batches, and where
//! the acknowledgement stands (`ShipState`).

use driftwatch_protocol::columns::{self, Kind};
use driftwatch_protocol::{
    CollectorDigest, CollectorHealth, Columns, DIGEST_MODULUS, InventoryEntry, Position, ShipBatch,
};
use rusqlite::OptionalExtension;
use rusqlite::types::ValueRef;
use serde_json::Value as Json;

use super::{Store, StoreError};
use crate::exact_path;

/// Where shipping stands, as `status` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShipStatus {
    pub server: String,
    pub machine: String,
    pub acknowledged: Position,
    pub pending_changes: u64,
    pub pending_inventory: u64,
    pub last_shipped: Option<String>,
    pub last_error: Option<String>,
}

impl Store {
    /// Where the acknowledgement stands for `server` and `machine`. A first
    /// shipment, or one to another server or under another name, starts
    /// from nothing: everything is sent again.
    pub fn outbox_position(&mut self, server: &str, machine: &str) -> Result<Position, StoreError> {
        self.write(|tx| {
            let stored: Option<(String, String, i64, i64)> = tx
                .query_row(
                    "SELECT Server, Machine, ChangeId, Revision FROM ShipState WHERE Id = 1",
                    [],
                    |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
                )
                .optional()?;
            match stored {
                Some((s, m, change_id, revision)) if s == server && m == machine => Ok(Position { change_id, revision }),
                _ => {
                    // Removals before now are in no server's copy: none to send.
                    tx.execute("DELETE FROM InventoryRemoval", [])?;
                    tx.execute(
                        "INSERT OR REPLACE INTO ShipState (Id, Server, Machine, ChangeId, Revision) VALUES (1, ?1, ?2, 0, 0)",
                        [server, machine],
                    )?;
                    Ok(Position::default())
                }
            }
        })
    }

    /// Records, before a batch goes out, that this store sends to the
    /// server and machine of the outbox position.
    pub fn note_sending(&mut self) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute("UPDATE ShipState SET Sent = 1 WHERE Id = 1 AND Sent = 0", [])?;
            Ok(())
        })
    }

    /// Whether this store has sent anything to its outbox's server and machine.
    pub fn has_sent(&self) -> Result<bool, StoreError> {
        self.conn
            .query_row("SELECT IFNULL(MAX(Sent), 0) FROM ShipState WHERE Id = 1", [], |row| {
                row.get::<_, i64>(0)
            })
            .map(|sent| sent != 0)
            .map_err(|e| self.error(e))
    }

    /// The next batch after `from`: change rows first, then inventory
    /// entries, `limit` in all; `None` when nothing is pending. Read in one
    /// snapshot, so a row and its removal never both appear.
    pub fn next_batch(&mut self, from: Position, limit: usize) -> Result<Option<ShipBatch>, StoreError> {
        let path = self.path.clone();
        let err = |e| super::classify(&path, e);
        let tx = self.conn.transaction().map_err(err)?;
        let changes = read_changes(&tx, from.change_id, limit).map_err(err)?;
        let inventory = read_inventory(&tx, from.revision, limit - changes.len()).map_err(err)?;
        tx.commit().map_err(err)?;
        if changes.is_empty() && inventory.is_empty() {
            return Ok(None);
        }
        let to = Position {
            change_id: changes
                .last()
                .and_then(|row| row.get("ChangeId"))
                .and_then(Json::as_i64)
                .unwrap_or(from.change_id),
            revision: inventory.last().map_or(from.revision, InventoryEntry::revision),
        };
        Ok(Some(ShipBatch {
            from,
            to,
            changes,
            inventory,
            restart_inventory: from.revision == 0,
        }))
    }

    /// The server acknowledged up to `position`: removals up to it are no
    /// longer needed.
    pub fn acknowledge(&mut self, position: Position, time: &str) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "UPDATE ShipState SET ChangeId = ?1, Revision = ?2, LastShipped = ?3, LastError = NULL WHERE Id = 1",
                rusqlite::params![position.change_id, position.revision, time],
            )?;
            tx.execute("DELETE FROM InventoryRemoval WHERE Revision <= ?1", [position.revision])?;
            Ok(())
        })
    }

    /// Per collector: items and the sum of their revisions, as the server
    /// counts them (see `InventoryDigest`).
    pub fn inventory_digest(&self) -> Result<Vec<CollectorDigest>, StoreError> {
        let mut statement = self
            .conn
            .prepare(
                "SELECT Collector, COUNT(*), SUM(rowid % ?1) % ?1 FROM ConfigurationData \
                 GROUP BY Collector ORDER BY Collector",
            )
            .map_err(|e| self.error(e))?;
        let rows = statement
            .query_map([DIGEST_MODULUS], |row| {
                Ok(CollectorDigest {
                    collector: row.get(0)?,
                    items: row.get(1)?,
                    revisions: row.get(2)?,
                })
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>());
        rows.map_err(|e| self.error(e))
    }

    /// When the inventory was last found equal to the server's copy.
    pub fn last_verified(&self) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row("SELECT LastVerified FROM ShipState WHERE Id = 1", [], |row| row.get(0))
            .optional()
            .map(Option::flatten)
            .map_err(|e| self.error(e))
    }

    pub fn note_verified(&mut self, time: &str) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute("UPDATE ShipState SET LastVerified = ?1 WHERE Id = 1", [time])
                .map(|_| ())
        })
    }

    /// The last collector run reported to the server, and the last run.
    pub fn runs_to_report(&self) -> Result<(i64, i64), StoreError> {
        self.conn
            .query_row(
                "SELECT IFNULL((SELECT RunsReported FROM ShipState WHERE Id = 1), 0), \
                        IFNULL((SELECT MAX(RunId) FROM CollectorRun), 0)",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .map_err(|e| self.error(e))
    }

    pub fn note_runs_reported(&mut self, run_id: i64) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute("UPDATE ShipState SET RunsReported = ?1 WHERE Id = 1", [run_id])
                .map(|_| ())
        })
    }

    /// Each collector's latest run, with its last success and failure (what
    /// the fleet server is told); forgotten collectors left out until they
    /// run again.
    pub fn collector_health(&self) -> Result<Vec<CollectorHealth>, StoreError> {
        let mut statement = self
            .conn
            .prepare(
                "SELECT r.Collector, r.Plugin, r.PluginVersion, r.TimeStarted, r.Outcome, r.Error, r.DurationMs, \
                        r.ItemCount, r.ChangeCount, s.LastSuccess, f.TimeStarted, f.Error \
                 FROM CollectorRun r \
                 LEFT JOIN CollectorState s ON s.Collector = r.Collector \
                 LEFT JOIN CollectorRun f ON f.RunId = (SELECT MAX(RunId) FROM CollectorRun \
                                                        WHERE Collector = r.Collector AND Outcome = 'Failed') \
                 WHERE r.RunId IN (SELECT MAX(RunId) FROM CollectorRun GROUP BY Collector) \
                 AND r.RunId > IFNULL((SELECT LastRunId FROM ForgottenCollector g WHERE g.Collector = r.Collector), 0) \
                 ORDER BY r.Collector",
            )
            .map_err(|e| self.error(e))?;
        let rows = statement
            .query_map([], |row| {
                Ok(CollectorHealth {
                    collector: row.get(0)?,
                    plugin: row.get(1)?,
                    plugin_version: row.get(2)?,
                    last_run: row.get(3)?,
                    outcome: row.get(4)?,
                    error: row.get(5)?,
                    duration_ms: row.get(6)?,
                    items: row.get(7)?,
                    changes: row.get(8)?,
                    last_success: row.get(9)?,
                    last_failure: row.get(10)?,
                    last_failure_error: row.get(11)?,
                })
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>());
        rows.map_err(|e| self.error(e))
    }

    /// Notes why the last attempt failed (shown by `status`).
    pub fn note_ship_error(&mut self, error: &str) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute("UPDATE ShipState SET LastError = ?1 WHERE Id = 1", [error])
                .map(|_| ())
        })
    }

    /// All changes and inventory rows: what a first shipment sends.
    pub fn outbox_totals(&self) -> Result<(u64, u64), StoreError> {
        self.conn
            .query_row(
                "SELECT (SELECT COUNT(*) FROM ConfigurationChange), (SELECT COUNT(*) FROM ConfigurationData)",
                [],
                |row| Ok((row.get::<_, i64>(0)? as u64, row.get::<_, i64>(1)? as u64)),
            )
            .map_err(|e| self.error(e))
    }

    /// Where shipping stands; `None` before the first shipment.
    pub fn ship_status(&self) -> Result<Option<ShipStatus>, StoreError> {
        self.conn
            .query_row(
                "SELECT Server, Machine, ChangeId, Revision, LastShipped, LastError, \
                 (SELECT COUNT(*) FROM ConfigurationChange WHERE ChangeId > s.ChangeId), \
                 (SELECT COUNT(*) FROM ConfigurationData WHERE rowid > s.Revision) \
                 + (SELECT COUNT(*) FROM InventoryRemoval WHERE Revision > s.Revision) \
                 FROM ShipState s WHERE Id = 1",
                [],
                |row| {
                    Ok(ShipStatus {
                        server: row.get(0)?,
                        machine: row.get(1)?,
                        acknowledged: Position {
                            change_id: row.get(2)?,
                            revision: row.get(3)?,
                        },
                        last_shipped: row.get(4)?,
                        last_error: row.get(5)?,
                        pending_changes: row.get::<_, i64>(6)? as u64,
                        pending_inventory: row.get::<_, i64>(7)? as u64,
                    })
                },
            )
            .optional()
            .map_err(|e| self.error(e))
    }
}

pub(super) fn read_changes(tx: &rusqlite::Transaction, after: i64, limit: usize) -> rusqlite::Result<Vec<Columns>> {
    let names: Vec<&str> = columns::CONFIGURATION_CHANGE.iter().map(|(name, _)| *name).collect();
    let sql = format!(
        "SELECT {} FROM ConfigurationChange WHERE ChangeId > ?1 ORDER BY ChangeId LIMIT ?2",
        names.join(", ")
    );
    let mut statement = tx.prepare(&sql)?;
    let mut rows = statement.query(rusqlite::params![after, limit as i64])?;
    let mut read = Vec::new();
    while let Some(row) = rows.next()? {
        read.push(to_columns(row, columns::CONFIGURATION_CHANGE, 0)?);
    }
    Ok(read)
}

/// Rows written and rows removed after revision `after`, in order.
fn read_inventory(tx: &rusqlite::Transaction, after: i64, limit: usize) -> rusqlite::Result<Vec<InventoryEntry>> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let written = read_inventory_writes(tx, after, limit)?
        .into_iter()
        .map(|(revision, row)| InventoryEntry::Write { revision, row });
    let mut removed = Vec::new();
    let mut statement = tx.prepare(
        "SELECT Revision, Collector, ItemKey FROM InventoryRemoval WHERE Revision > ?1 ORDER BY Revision LIMIT ?2",
    )?;
    let mut rows = statement.query(rusqlite::params![after, limit as i64])?;
    while let Some(row) = rows.next()? {
        removed.push(InventoryEntry::Remove {
            revision: row.get(0)?,
            collector: row.get(1)?,
            item_key: text(row.get_ref(2)?),
        });
    }
    // Both in revision order: merge, and keep the first `limit`.
    let mut merged: Vec<InventoryEntry> = written.chain(removed).collect();
    merged.sort_by_key(InventoryEntry::revision);
    merged.truncate(limit);
    Ok(merged)
}

/// Rows written after revision `after`, in order, with their revisions.
pub(super) fn read_inventory_writes(
    tx: &rusqlite::Transaction,
    after: i64,
    limit: usize,
) -> rusqlite::Result<Vec<(i64, Columns)>> {
    let names: Vec<&str> = columns::CONFIGURATION_DATA.iter().map(|(name, _)| *name).collect();
    let sql = format!(
        "SELECT rowid, {} FROM ConfigurationData WHERE rowid > ?1 ORDER BY rowid LIMIT ?2",
        names.join(", ")
    );
    let mut written = Vec::new();
    let mut statement = tx.prepare(&sql)?;
    let mut rows = statement.query(rusqlite::params![after, limit as i64])?;
    while let Some(row) = rows.next()? {
        written.push((row.get(0)?, to_columns(row, columns::CONFIGURATION_DATA, 1)?));
    }
    Ok(written)
}

/// A row's values from column `first` on, named as `table` names them.
fn to_columns(row: &rusqlite::Row, table: &[(&str, Kind)], first: usize) -> rusqlite::Result<Columns> {
    let mut columns = Columns::new();
    for (i, (name, _)) in table.iter().enumerate() {
        let value = match row.get_ref(first + i)? {
            ValueRef::Null => continue,
            ValueRef::Integer(n) => Json::from(n),
            ValueRef::Real(f) => Json::from(f),
            other => Json::from(text(other)),
        };
        columns.insert((*name).to_string(), value);
    }
    Ok(columns)
}

/// Text as stored; bytes (names that are not UTF-8) in their exact escaped form.
fn text(value: ValueRef) -> String {
    match value {
        ValueRef::Text(raw) => String::from_utf8_lossy(raw).into_owned(),
        ValueRef::Blob(raw) => exact_path::encode(raw).into_owned(),
        ValueRef::Integer(n) => n.to_string(),
        ValueRef::Real(f) => f.to_string(),
        ValueRef::Null => String::new(),
    }
}
