//! Keeping history in bounds: forgetting collectors the manifest no longer
//! tracks, pruning old changes and runs, and removing captured contents that
//! nothing refers to any more.

use rusqlite::OptionalExtension;
use rusqlite::{Transaction, TransactionBehavior};

use super::revision::Clock;
use super::{Store, StoreError};

impl Store {
    /// Drops the inventory and baseline of collectors not in `keep` (removed
    /// from the manifest or disabled): no longer tracked, so no `Removed` rows.
    /// Their history stays. Returns the names dropped.
    pub fn forget_collectors_except(&mut self, keep: &[&str]) -> Result<Vec<String>, StoreError> {
        self.write(|tx| {
            // Known: with a baseline, an inventory, or runs since it was
            // last forgotten (one that only ever failed has runs only).
            let known: Vec<String> = tx
                .prepare(
                    "SELECT Collector FROM CollectorState UNION SELECT DISTINCT Collector FROM ConfigurationData \
                     UNION SELECT r.Collector FROM CollectorRun r GROUP BY r.Collector \
                     HAVING MAX(r.RunId) > IFNULL((SELECT LastRunId FROM ForgottenCollector f \
                                                   WHERE f.Collector = r.Collector), 0)",
                )?
                .query_map([], |row| row.get(0))?
                .collect::<Result<_, _>>()?;
            let dropped: Vec<String> = known.into_iter().filter(|c| !keep.contains(&c.as_str())).collect();
            let clock = Clock::read(tx)?;
            for collector in &dropped {
                clock.note_collector_removal(tx, collector)?;
                tx.execute("DELETE FROM ConfigurationData WHERE Collector = ?1", [collector])?;
                tx.execute("DELETE FROM CollectorState WHERE Collector = ?1", [collector])?;
                tx.execute(
                    "INSERT OR REPLACE INTO ForgottenCollector (Collector, LastRunId) \
                     SELECT ?1, IFNULL(MAX(RunId), 0) FROM CollectorRun WHERE Collector = ?1",
                    [collector],
                )?;
            }
            clock.save(tx)?;
            Ok(dropped)
        })
    }

    /// Deletes changes and runs older than `before` (stored time text), keeping
    /// each collector's last run, and the changes the fleet server or one of
    /// `outputs` (names of outputs sending changes) has not been sent yet.
    /// Returns (changes, runs) deleted.
    pub fn prune_history(&mut self, before: &str, outputs: &[String]) -> Result<(usize, usize), StoreError> {
        self.write(|tx| {
            let mut sent_by_all = i64::MAX;
            for name in outputs {
                let sent: Option<i64> = tx
                    .query_row("SELECT ChangeId FROM OutputPosition WHERE Name = ?1", [name], |row| {
                        row.get(0)
                    })
                    .optional()?;
                sent_by_all = sent_by_all.min(sent.unwrap_or(0));
            }
            let changes = tx.execute(
                "DELETE FROM ConfigurationChange WHERE TimeGenerated < ?1 \
                 AND ChangeId <= IFNULL((SELECT ChangeId FROM ShipState), 9223372036854775807) \
                 AND ChangeId <= ?2",
                rusqlite::params![before, sent_by_all],
            )?;
            let runs = tx.execute(
                "DELETE FROM CollectorRun WHERE TimeStarted < ?1 \
                 AND RunId NOT IN (SELECT MAX(RunId) FROM CollectorRun GROUP BY Collector) \
                 AND RunId NOT IN (SELECT RunId FROM ConfigurationChange)",
                [before],
            )?;
            tx.execute("DELETE FROM Heartbeat WHERE TimeGenerated < ?1", [before])?;
            // Raised alerts go with the history, unless still being delivered.
            tx.execute(
                "DELETE FROM Alert WHERE TimeGenerated < ?1 \
                 AND AlertId NOT IN (SELECT AlertId FROM AlertDelivery WHERE State = 'pending')",
                [before],
            )?;
            Ok((changes, runs))
        })
    }

    /// Deletes captured contents that neither the inventory nor the history
    /// refers to any more (and that are older than a day: a collection in
    /// flight may have stored one it has not committed yet). Returns how many.
    pub fn collect_content_garbage(&self) -> Result<usize, StoreError> {
        let mut keep = std::collections::HashSet::new();
        for sql in [
            "SELECT ContentHash FROM ConfigurationData WHERE ContentHash IS NOT NULL",
            "SELECT ContentHash FROM ConfigurationChange WHERE ContentHash IS NOT NULL",
            "SELECT PreviousContentHash FROM ConfigurationChange WHERE PreviousContentHash IS NOT NULL",
        ] {
            let mut stmt = self.conn.prepare(sql).map_err(|e| self.error(e))?;
            let hashes = stmt
                .query_map([], |row| row.get::<_, String>(0))
                .map_err(|e| self.error(e))?;
            for hash in hashes {
                keep.insert(hash.map_err(|e| self.error(e))?);
            }
        }
        self.content()
            .collect_garbage(&keep, std::time::Duration::from_secs(24 * 3600))
            .map_err(|error| StoreError::StateDir {
                path: self.path.with_file_name("content"),
                error,
            })
    }

    /// Runs `work` in one IMMEDIATE transaction: the write lock is taken before
    /// anything is read, so two writers (an agent and a manual scan) cannot
    /// interleave a diff. Commits when `work` succeeds, rolls back otherwise.
    pub(super) fn write<R>(&mut self, work: impl FnOnce(&Transaction) -> rusqlite::Result<R>) -> Result<R, StoreError> {
        let path = self.path.clone();
        let tx = self.begin_write()?;
        let result = work(&tx).map_err(|e| super::classify(&path, e))?;
        tx.commit().map_err(|e| super::classify(&path, e))?;
        Ok(result)
    }

    /// An IMMEDIATE transaction: it holds the write lock from the start.
    pub(super) fn begin_write(&mut self) -> Result<Transaction<'_>, StoreError> {
        let path = self.path.clone();
        self.conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| super::classify(&path, e))
    }
}
