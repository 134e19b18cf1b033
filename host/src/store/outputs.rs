//! Output bookkeeping: each `[[output]]` has a position in the records (the
//! last `ChangeId` and inventory revision it was sent), moved only once what
//! it names has been sent, so that a record goes out once.

use driftwatch_protocol::{Columns, Position};
use rusqlite::OptionalExtension;

use super::outbox::{read_changes, read_inventory_writes};
use super::{Store, StoreError};
use crate::manifest::outputs::Records;

/// Where an output stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutputMark {
    pub position: Position,
    /// What the output keeps besides: for a file, its length once the
    /// records up to `position` were written.
    pub offset: u64,
}

/// The table a record comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordTable {
    ConfigurationChange,
    ConfigurationData,
}

impl RecordTable {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordTable::ConfigurationChange => "ConfigurationChange",
            RecordTable::ConfigurationData => "ConfigurationData",
        }
    }
}

/// One record to send, and where the output stands once it is sent.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputRecord {
    pub table: RecordTable,
    pub columns: Columns,
    pub after: Position,
}

/// An output's state, as `status` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputStatus {
    pub name: String,
    pub pending_changes: u64,
    pub pending_inventory: u64,
    pub last_sent: Option<String>,
    pub last_error: Option<String>,
}

impl Store {
    /// Where output `name` stands; `None` before it has started (see
    /// [`Store::start_output`]).
    pub fn output_mark(&self, name: &str) -> Result<Option<OutputMark>, StoreError> {
        self.conn
            .query_row(
                "SELECT ChangeId, Revision, Offset FROM OutputPosition WHERE Name = ?1",
                [name],
                |row| {
                    Ok(OutputMark {
                        position: Position {
                            change_id: row.get(0)?,
                            revision: row.get(1)?,
                        },
                        offset: row.get::<_, i64>(2)? as u64,
                    })
                },
            )
            .optional()
            .map_err(|e| self.error(e))
    }

    /// Records that output `name` starts, before anything is sent: at the
    /// beginning of the history, with `offset` (what its destination held
    /// before, e.g. a file's length). Returns where it stands.
    pub fn start_output(&mut self, name: &str, offset: u64) -> Result<OutputMark, StoreError> {
        self.write(|tx| {
            tx.execute(
                "INSERT OR IGNORE INTO OutputPosition (Name, ChangeId, Revision, Offset) VALUES (?1, 0, 0, ?2)",
                rusqlite::params![name, offset as i64],
            )
            .map(|_| ())
        })?;
        self.output_mark(name)?.ok_or_else(|| StoreError::Corrupt {
            path: self.path.clone(),
            detail: format!("output {name} has no position after starting"),
        })
    }

    /// Up to `limit` records after `from`, of the kinds `records` names:
    /// changes first, in `ChangeId` order, then inventory rows written
    /// since, in revision order. Read in one snapshot.
    pub fn output_records(
        &mut self,
        from: Position,
        records: Records,
        limit: usize,
    ) -> Result<Vec<OutputRecord>, StoreError> {
        let path = self.path.clone();
        let err = |e| super::classify(&path, e);
        let tx = self.conn.transaction().map_err(err)?;
        let mut out = Vec::new();
        let mut position = from;
        if records.changes {
            for columns in read_changes(&tx, from.change_id, limit).map_err(err)? {
                position.change_id = columns
                    .get("ChangeId")
                    .and_then(serde_json::Value::as_i64)
                    .unwrap_or(position.change_id);
                out.push(OutputRecord {
                    table: RecordTable::ConfigurationChange,
                    columns,
                    after: position,
                });
            }
        }
        if records.inventory && out.len() < limit {
            for (revision, columns) in read_inventory_writes(&tx, from.revision, limit - out.len()).map_err(err)? {
                position.revision = revision;
                out.push(OutputRecord {
                    table: RecordTable::ConfigurationData,
                    columns,
                    after: position,
                });
            }
        }
        tx.commit().map_err(err)?;
        Ok(out)
    }

    /// Moves output `name` from `from` to `to`, and clears its last error;
    /// false (nothing moved) when it no longer stands at `from`.
    pub fn advance_output(
        &mut self,
        name: &str,
        from: &OutputMark,
        to: &OutputMark,
        time: &str,
    ) -> Result<bool, StoreError> {
        self.write(|tx| {
            let moved = tx.execute(
                "UPDATE OutputPosition SET ChangeId = ?1, Revision = ?2, Offset = ?3, LastSent = ?4, LastError = NULL \
                 WHERE Name = ?5 AND ChangeId = ?6 AND Revision = ?7 AND Offset = ?8",
                rusqlite::params![
                    to.position.change_id,
                    to.position.revision,
                    to.offset as i64,
                    time,
                    name,
                    from.position.change_id,
                    from.position.revision,
                    from.offset as i64
                ],
            )?;
            Ok(moved == 1)
        })
    }

    /// Notes why output `name` could not send (shown by `status`).
    pub fn note_output_error(&mut self, name: &str, error: &str) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "UPDATE OutputPosition SET LastError = ?1 WHERE Name = ?2",
                [error, name],
            )
            .map(|_| ())
        })
    }

    /// Each output's state, for those named (in that order); an output
    /// that has not sent yet counts everything as pending.
    pub fn output_status(&self, outputs: &[(&str, Records)]) -> Result<Vec<OutputStatus>, StoreError> {
        let mut statuses = Vec::new();
        for (name, records) in outputs {
            let stored: Option<(i64, i64, Option<String>, Option<String>)> = self
                .conn
                .query_row(
                    "SELECT ChangeId, Revision, LastSent, LastError FROM OutputPosition WHERE Name = ?1",
                    [name],
                    |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
                )
                .optional()
                .map_err(|e| self.error(e))?;
            let (change_id, revision, last_sent, last_error) = stored.unwrap_or((0, 0, None, None));
            let (pending_changes, pending_inventory) = self
                .conn
                .query_row(
                    "SELECT (SELECT COUNT(*) FROM ConfigurationChange WHERE ChangeId > ?1), \
                            (SELECT COUNT(*) FROM ConfigurationData WHERE rowid > ?2)",
                    [change_id, revision],
                    |row| Ok((row.get::<_, i64>(0)? as u64, row.get::<_, i64>(1)? as u64)),
                )
                .map_err(|e| self.error(e))?;
            statuses.push(OutputStatus {
                name: name.to_string(),
                pending_changes: if records.changes { pending_changes } else { 0 },
                pending_inventory: if records.inventory { pending_inventory } else { 0 },
                last_sent,
                last_error,
            });
        }
        Ok(statuses)
    }
}
