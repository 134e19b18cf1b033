//! `Heartbeat` rows: one per collection pass.

use driftwatch_protocol::Heartbeat;
use rusqlite::OptionalExtension;

use super::{Store, StoreError};

/// Azure's `Category` for an agent that reports directly.
pub const CATEGORY: &str = "Direct Agent";

impl Store {
    /// Records that `computer` collected at `now` (stored time text), unless
    /// a row was recorded less than `min_gap_seconds` before (a running
    /// agent beats at most once a minute, whatever its collectors do).
    /// Returns whether a row was written.
    pub fn record_heartbeat(
        &mut self,
        computer: &str,
        beat: &Heartbeat,
        now: &str,
        min_gap_seconds: i64,
    ) -> Result<bool, StoreError> {
        let since = now
            .parse::<jiff::Timestamp>()
            .ok()
            .and_then(|t| t.checked_sub(jiff::SignedDuration::from_secs(min_gap_seconds)).ok())
            .map(crate::timefmt::format);
        self.write(|tx| {
            if let Some(since) = since.filter(|_| min_gap_seconds > 0) {
                let recent: Option<i64> = tx
                    .query_row(
                        "SELECT 1 FROM Heartbeat WHERE TimeGenerated > ?1 LIMIT 1",
                        [since],
                        |row| row.get(0),
                    )
                    .optional()?;
                if recent.is_some() {
                    return Ok(false);
                }
            }
            tx.execute(
                "INSERT INTO Heartbeat (Computer, TimeGenerated, Category, OSType, OSName, OSMajorVersion, \
                 OSMinorVersion, Version, ComputerEnvironment) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'Non-Azure')",
                rusqlite::params![
                    computer,
                    now,
                    CATEGORY,
                    beat.os_type,
                    beat.os_name,
                    beat.os_major_version,
                    beat.os_minor_version,
                    beat.version
                ],
            )?;
            Ok(true)
        })
    }

    /// The heartbeat facts the last row recorded, for the fleet server.
    pub fn last_heartbeat(&self) -> Result<Option<Heartbeat>, StoreError> {
        self.conn
            .query_row(
                "SELECT OSType, OSName, OSMajorVersion, OSMinorVersion, Version FROM Heartbeat \
                 ORDER BY TimeGenerated DESC LIMIT 1",
                [],
                |row| {
                    let text = |i: usize| -> rusqlite::Result<String> {
                        Ok(row.get::<_, Option<String>>(i)?.unwrap_or_default())
                    };
                    Ok(Heartbeat {
                        os_type: text(0)?,
                        os_name: text(1)?,
                        os_major_version: text(2)?,
                        os_minor_version: text(3)?,
                        version: text(4)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.error(e))
    }
}
