//! Recording a collector run: the run itself (`CollectorRun`) and, for a
//! collection, the inventory update, its `ConfigurationChange` rows and the
//! collector's baseline (`CollectorState`) — all in one transaction, so a crash
//! leaves either all of it or none.

use std::time::Duration;

use rusqlite::{OptionalExtension, Transaction, TransactionBehavior, params, params_from_iter};
use rustc_hash::FxHashSet;

use super::inventory::{delete_items, load_items, load_items_except, load_items_in_scope, write_items};
use super::{Store, StoreError, to_sql};
use crate::change_engine::{self, Baseline, Change, Coverage};
use crate::inventory::{DataType, Inventory};

/// Who ran, when, for how long.
#[derive(Debug, Clone)]
pub struct RunInfo<'a> {
    pub collector: &'a str,
    pub plugin: &'a str,
    pub plugin_version: &'a str,
    pub computer: &'a str,
    /// Start of the run, as stored text; also the `TimeGenerated` of what it records.
    pub started: &'a str,
    pub duration: Duration,
}

/// How the run ended.
#[derive(Debug)]
pub enum RunResult<'a> {
    Collected {
        inventory: Inventory,
        baseline: &'a Baseline,
        /// False when the plugin said part of the source could not be read.
        complete: bool,
        /// Keys of items found unchanged without being collected again
        /// (incremental file scans): kept as stored.
        retained: &'a [String],
        /// A full collection, not an incremental one.
        full: bool,
        /// A targeted run (after file events): only items at or under these
        /// paths were looked at; the rest of the inventory stands.
        scope: Option<&'a [String]>,
        warnings: usize,
    },
    Skipped(&'a str),
    Failed(&'a str),
}

/// What recording a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub run_id: i64,
    pub changes: usize,
    /// Why the collection was taken as a baseline, when it was.
    pub baseline: Option<&'static str>,
}

impl Store {
    /// A collector's stored baseline and the time of its last full
    /// collection, if it has been collected.
    pub fn baseline(&self, collector: &str) -> Result<Option<(Baseline, Option<String>)>, StoreError> {
        self.conn
            .query_row(
                "SELECT ConfigHash, RuleHashes, LastFull FROM CollectorState WHERE Collector = ?1",
                [collector],
                |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, Option<String>>(2)?,
                    ))
                },
            )
            .optional()
            .map(|row| {
                row.map(|(config, rules, last_full)| {
                    let rules = serde_json::from_str(&rules).unwrap_or_default();
                    (Baseline { config, rules }, last_full)
                })
            })
            .map_err(|e| self.error(e))
    }

    /// Records a run; for a collection, diffs it against the stored inventory
    /// and writes the result and its changes in the same transaction.
    pub fn record(&mut self, run: &RunInfo, result: RunResult) -> Result<Recorded, StoreError> {
        self.write(|tx| match result {
            RunResult::Collected {
                inventory,
                baseline,
                complete,
                retained,
                full,
                scope,
                warnings,
            } => record_collection(
                tx,
                run,
                inventory,
                baseline,
                Completeness {
                    complete,
                    retained,
                    full,
                    scope,
                },
                warnings,
            ),
            RunResult::Skipped(reason) => Ok(Recorded {
                run_id: insert_run(tx, run, "Skipped", Some(reason), None, None, None)?,
                changes: 0,
                baseline: None,
            }),
            RunResult::Failed(error) => Ok(Recorded {
                run_id: insert_run(tx, run, "Failed", Some(error), None, None, None)?,
                changes: 0,
                baseline: None,
            }),
        })
    }

    /// Drops the inventory and baseline of collectors not in `keep` (removed
    /// from the manifest or disabled): no longer tracked, so no `Removed` rows.
    /// Their history stays. Returns the names dropped.
    pub fn forget_collectors_except(&mut self, keep: &[&str]) -> Result<Vec<String>, StoreError> {
        self.write(|tx| {
            let known: Vec<String> = tx
                .prepare("SELECT Collector FROM CollectorState UNION SELECT DISTINCT Collector FROM ConfigurationData")?
                .query_map([], |row| row.get(0))?
                .collect::<Result<_, _>>()?;
            let dropped: Vec<String> = known.into_iter().filter(|c| !keep.contains(&c.as_str())).collect();
            for collector in &dropped {
                tx.execute("DELETE FROM ConfigurationData WHERE Collector = ?1", [collector])?;
                tx.execute("DELETE FROM CollectorState WHERE Collector = ?1", [collector])?;
            }
            Ok(dropped)
        })
    }

    /// Deletes changes and runs older than `before` (stored time text), keeping
    /// each collector's last run. Returns (changes, runs) deleted.
    pub fn prune_history(&mut self, before: &str) -> Result<(usize, usize), StoreError> {
        self.write(|tx| {
            let changes = tx.execute("DELETE FROM ConfigurationChange WHERE TimeGenerated < ?1", [before])?;
            let runs = tx.execute(
                "DELETE FROM CollectorRun WHERE TimeStarted < ?1 \
                 AND RunId NOT IN (SELECT MAX(RunId) FROM CollectorRun GROUP BY Collector) \
                 AND RunId NOT IN (SELECT RunId FROM ConfigurationChange)",
                [before],
            )?;
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
        let err = |e| super::classify(&path, e);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let result = work(&tx).map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(result)
    }
}

/// How much of the inventory a collection covers.
struct Completeness<'a> {
    complete: bool,
    retained: &'a [String],
    full: bool,
    scope: Option<&'a [String]>,
}

fn record_collection(
    tx: &Transaction,
    run: &RunInfo,
    inventory: Inventory,
    baseline: &Baseline,
    coverage: Completeness,
    warnings: usize,
) -> rusqlite::Result<Recorded> {
    let data_type = inventory.data_type;
    let clock = std::time::Instant::now();
    let before = load_baseline(tx, run.collector)?;
    if inventory.items.is_empty()
        && !coverage.retained.is_empty()
        && coverage.scope.is_none()
        && before.as_ref() == Some(baseline)
    {
        // An incremental run that found every stored item unchanged: nothing
        // to compare, as long as nothing else is stored for the collector.
        let stored: i64 = tx.query_row(
            "SELECT COUNT(*) FROM ConfigurationData WHERE Collector = ?1",
            [run.collector],
            |row| row.get(0),
        )?;
        if stored as usize == coverage.retained.len() {
            let run_id = insert_run(
                tx,
                run,
                "Succeeded",
                None,
                Some(stored as usize),
                Some(0),
                Some(warnings),
            )?;
            save_baseline(tx, run, baseline, false, coverage.full)?;
            return Ok(Recorded {
                run_id,
                changes: 0,
                baseline: None,
            });
        }
    }
    let retained: FxHashSet<String> = coverage.retained.iter().cloned().collect();
    let previous = match coverage.scope {
        // A targeted run without a baseline to compare with is not one.
        Some(scope) if before.as_ref() == Some(baseline) => {
            load_items_in_scope(tx, run.collector, data_type, scope, &retained)?
        }
        _ if retained.is_empty() => load_items(tx, run.collector, data_type)?,
        _ => load_items_except(tx, run.collector, data_type, &retained)?,
    };
    let complete = coverage.complete;
    let collected = inventory.items.len();
    let loaded = clock.elapsed();
    let plan = change_engine::plan(
        data_type,
        previous,
        inventory.items,
        before.as_ref(),
        baseline,
        Coverage {
            complete,
            retained: &retained,
        },
    );
    let outcome = if complete { "Succeeded" } else { "Partial" };
    let planned = clock.elapsed();
    write_items(tx, run.collector, data_type, run.computer, run.started, &plan.writes)?;
    delete_items(tx, run.collector, &plan.deletes)?;
    let items = match coverage.scope {
        // A targeted run saw a few items: count the whole inventory.
        Some(_) => tx.query_row(
            "SELECT COUNT(*) FROM ConfigurationData WHERE Collector = ?1",
            [run.collector],
            |row| row.get::<_, i64>(0),
        )? as usize,
        None => collected + coverage.retained.len(),
    };
    tracing::debug!(collector = run.collector, ?loaded, ?planned, written = ?clock.elapsed(), "recording");
    let run_id = insert_run(
        tx,
        run,
        outcome,
        None,
        Some(items),
        Some(plan.changes.len()),
        Some(warnings),
    )?;
    for change in &plan.changes {
        insert_change(tx, run_id, run, data_type, change)?;
    }
    save_baseline(
        tx,
        run,
        baseline,
        plan.baseline.is_some() || before.is_none(),
        coverage.full,
    )?;
    if let Some(why) = plan.baseline {
        tracing::info!(
            collector = run.collector,
            "baseline recorded ({why}): {} items",
            collected
        );
    }
    Ok(Recorded {
        run_id,
        changes: plan.changes.len(),
        baseline: plan.baseline,
    })
}

fn insert_run(
    tx: &Transaction,
    run: &RunInfo,
    outcome: &str,
    error: Option<&str>,
    items: Option<usize>,
    changes: Option<usize>,
    warnings: Option<usize>,
) -> rusqlite::Result<i64> {
    tx.execute(
        "INSERT INTO CollectorRun (Collector, Plugin, PluginVersion, Computer, TimeStarted, DurationMs, Outcome, Error, ItemCount, ChangeCount, WarningCount) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            run.collector,
            run.plugin,
            run.plugin_version,
            run.computer,
            run.started,
            run.duration.as_millis() as i64,
            outcome,
            error,
            items.map(|n| n as i64),
            changes.map(|n| n as i64),
            warnings.map(|n| n as i64),
        ],
    )?;
    Ok(tx.last_insert_rowid())
}

fn insert_change(
    tx: &Transaction,
    run_id: i64,
    run: &RunInfo,
    data_type: DataType,
    change: &Change,
) -> rusqlite::Result<()> {
    let names: Vec<&str> = change.columns.iter().map(|(c, _)| *c).collect();
    let sql = format!(
        "INSERT INTO ConfigurationChange (RunId, Collector, ItemKey, Computer, TimeGenerated, ConfigChangeType, ChangeCategory, FieldsChanged{}{}) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8{})",
        if names.is_empty() { "" } else { ", " },
        names.join(", "),
        (0..names.len()).map(|i| format!(", ?{}", i + 9)).collect::<String>()
    );
    let fields_changed = (!change.fields_changed.is_empty()).then(|| change.fields_changed.join(","));
    let mut values: Vec<rusqlite::types::Value> = vec![
        run_id.into(),
        run.collector.to_string().into(),
        change.key.clone().into(),
        run.computer.to_string().into(),
        run.started.to_string().into(),
        data_type.as_str().to_string().into(),
        change.category.as_str().to_string().into(),
        fields_changed.map_or(rusqlite::types::Value::Null, Into::into),
    ];
    values.extend(change.columns.iter().map(|(_, v)| to_sql(Some(v))));
    tx.prepare_cached(&sql)?.execute(params_from_iter(values))?;
    Ok(())
}

fn load_baseline(tx: &Transaction, collector: &str) -> rusqlite::Result<Option<Baseline>> {
    let row: Option<(String, String)> = tx
        .query_row(
            "SELECT ConfigHash, RuleHashes FROM CollectorState WHERE Collector = ?1",
            [collector],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?;
    Ok(row.map(|(config, rules)| Baseline {
        config,
        // Unreadable rule hashes only cost a re-baseline of the rules' items.
        rules: serde_json::from_str(&rules).unwrap_or_default(),
    }))
}

fn save_baseline(
    tx: &Transaction,
    run: &RunInfo,
    baseline: &Baseline,
    new_baseline: bool,
    full: bool,
) -> rusqlite::Result<()> {
    let rules = serde_json::to_string(&baseline.rules).unwrap_or_else(|_| "{}".into());
    tx.execute(
        "INSERT INTO CollectorState (Collector, ConfigHash, RuleHashes, BaselineTime, LastSuccess, LastFull) \
         VALUES (?1, ?2, ?3, ?4, ?4, CASE WHEN ?6 THEN ?4 END) \
         ON CONFLICT (Collector) DO UPDATE SET ConfigHash = ?2, RuleHashes = ?3, LastSuccess = ?4, \
         BaselineTime = CASE WHEN ?5 THEN ?4 ELSE BaselineTime END, \
         LastFull = CASE WHEN ?6 THEN ?4 ELSE LastFull END",
        params![run.collector, baseline.config, rules, run.started, new_baseline, full],
    )?;
    Ok(())
}
