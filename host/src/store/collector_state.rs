//! `CollectorState`: what each collector's stored inventory was collected
//! under (its baseline fingerprints, see `collectors::fingerprint`), when
//! that baseline was taken, and its last successful and full collections.

use rusqlite::{OptionalExtension, Transaction, params};

use super::{Store, StoreError};
use crate::change_engine::Baseline;
use crate::collectors::fingerprint;

/// A collector's stored baseline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBaseline {
    pub baseline: Baseline,
    /// When the last full collection was.
    pub last_full: Option<String>,
}

impl Store {
    /// A collector's stored baseline, if it has been collected.
    pub fn baseline(&self, collector: &str) -> Result<Option<StoredBaseline>, StoreError> {
        self.conn
            .query_row(
                "SELECT ConfigHash, RuleHashes, LastFull FROM CollectorState WHERE Collector = ?1",
                [collector],
                |row| {
                    Ok(StoredBaseline {
                        baseline: baseline_from(row.get(0)?, &row.get::<_, String>(1)?),
                        last_full: row.get(2)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.error(e))
    }

    /// Brings a baseline stored under an older fingerprint scheme to the
    /// current one with `translate` (see `Baseline::translate`). Returns
    /// whether there was one to translate.
    pub fn translate_baseline(
        &mut self,
        collector: &str,
        translate: impl FnOnce(Baseline) -> Baseline,
    ) -> Result<bool, StoreError> {
        // Most runs find nothing to translate: look before taking the write lock.
        let older: bool = self
            .conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM CollectorState WHERE Collector = ?1 AND Fingerprint < ?2)",
                params![collector, fingerprint::VERSION],
                |row| row.get(0),
            )
            .map_err(|e| self.error(e))?;
        if !older {
            return Ok(false);
        }
        self.write(|tx| {
            let stored: Option<(String, String)> = tx
                .query_row(
                    "SELECT ConfigHash, RuleHashes FROM CollectorState WHERE Collector = ?1 AND Fingerprint < ?2",
                    params![collector, fingerprint::VERSION],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()?;
            let Some((config, rules)) = stored else {
                return Ok(false);
            };
            let translated = translate(baseline_from(config, &rules));
            tx.execute(
                "UPDATE CollectorState SET ConfigHash = ?2, RuleHashes = ?3, Fingerprint = ?4 WHERE Collector = ?1",
                params![
                    collector,
                    translated.config,
                    rules_text(&translated),
                    fingerprint::VERSION
                ],
            )?;
            Ok(true)
        })
    }
}

fn baseline_from(config: String, rules: &str) -> Baseline {
    Baseline {
        config,
        // Unreadable rule hashes only cost a re-baseline of the rules' items.
        rules: serde_json::from_str(rules).unwrap_or_default(),
    }
}

fn rules_text(baseline: &Baseline) -> String {
    serde_json::to_string(&baseline.rules).unwrap_or_else(|_| "{}".into())
}

pub(super) fn load_baseline(tx: &Transaction, collector: &str) -> rusqlite::Result<Option<Baseline>> {
    tx.query_row(
        "SELECT ConfigHash, RuleHashes FROM CollectorState WHERE Collector = ?1",
        [collector],
        |row| Ok(baseline_from(row.get(0)?, &row.get::<_, String>(1)?)),
    )
    .optional()
}

/// Saves a collector's baseline after a successful collection at `time`;
/// `new_baseline` when the collection was taken as one, `full` when it was
/// a full collection.
pub(super) fn save_baseline(
    tx: &Transaction,
    collector: &str,
    time: &str,
    baseline: &Baseline,
    new_baseline: bool,
    full: bool,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO CollectorState (Collector, ConfigHash, RuleHashes, BaselineTime, LastSuccess, LastFull, Fingerprint) \
         VALUES (?1, ?2, ?3, ?4, ?4, CASE WHEN ?6 THEN ?4 END, ?7) \
         ON CONFLICT (Collector) DO UPDATE SET ConfigHash = ?2, RuleHashes = ?3, LastSuccess = ?4, \
         BaselineTime = CASE WHEN ?5 THEN ?4 ELSE BaselineTime END, \
         LastFull = CASE WHEN ?6 THEN ?4 ELSE LastFull END, Fingerprint = ?7",
    )?
    .execute(params![
        collector,
        baseline.config,
        rules_text(baseline),
        time,
        new_baseline,
        full,
        fingerprint::VERSION
    ])?;
    Ok(())
}
