//! Recording a collector's run: its items as they stream in, compared with
//! the stored inventory by the change engine; the `ConfigurationChange` rows
//! that makes; the run itself (`CollectorRun`) and the collector's baseline
//! (`CollectorState`) — all in one transaction, so a crash leaves either all
//! of it or none.
//!
//! Each collected item is looked up by key, compared and written at once, so
//! a collection is never held whole: only the row ids of stored items that
//! came back are kept, a bit each. When the collection is over, stored items
//! that neither came back nor were confirmed unchanged (incremental runs) are
//! the candidates for removal.

use std::path::PathBuf;
use std::time::Duration;

use rusqlite::{Transaction, params};

use super::collector_state::save_baseline;
use super::inventory::{RowWriter, Rows, delete_row, pick_registry_rows, pick_rows};
use super::revision::Clock;
use super::{Store, StoreError, to_sql};
use crate::change_engine::{Action, Baseline, Change, Comparison, Scope, Verdict};
use crate::inventory::{DataType, Item};

/// Who runs, and when.
#[derive(Debug, Clone)]
pub struct RunInfo<'a> {
    pub collector: &'a str,
    pub plugin: &'a str,
    pub plugin_version: &'a str,
    pub computer: &'a str,
    /// Start of the run, as stored text; also the `TimeGenerated` of what it records.
    pub started: &'a str,
}

/// What recording a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub run_id: i64,
    /// Items in the collector's inventory after the run.
    pub items: usize,
    pub changes: usize,
    /// Why the collection was taken as a baseline, when it was.
    pub baseline: Option<&'static str>,
    /// Items reported more than once with different values (one was kept).
    pub duplicates: Vec<String>,
}

/// Most paths of a targeted run kept in its record.
const RECORDED_PATHS: usize = 100;

/// Stored items a run confirmed unchanged without collecting them again
/// (incremental runs), by key.
pub type Retained<'a> = &'a dyn Fn(&str) -> bool;

/// Nothing retained: a run that collected everything it looked at.
pub const NONE_RETAINED: Retained<'static> = &|_| false;

/// How a collection ended, as far as the change engine cares.
pub struct Ending<'a> {
    /// False when the plugin said part of the source could not be read:
    /// then nothing is removed.
    pub complete: bool,
    /// The stored items confirmed unchanged (the same as given to `apply`),
    /// and how many there are.
    pub retained: Retained<'a>,
    pub retained_count: usize,
    pub warnings: usize,
    pub duration: Duration,
}

impl Store {
    /// Starts recording a collection: takes the write lock, registers the
    /// run. Dropping the recording without `finish` leaves no trace.
    pub fn begin_recording<'s>(
        &'s mut self,
        run: &RunInfo,
        data_type: DataType,
        scope: &Scope,
        baseline: &Baseline,
    ) -> Result<Recording<'s>, StoreError> {
        let path = self.path.clone();
        let err = |e| super::classify(&path, e);
        let tx = self.begin_write()?;
        let before = super::collector_state::load_baseline(&tx, run.collector).map_err(err)?;
        let (stored, max_rowid): (i64, i64) = tx
            .query_row(
                "SELECT (SELECT COUNT(*) FROM ConfigurationData WHERE Collector = ?1), \
                 (SELECT IFNULL(MAX(rowid), 0) FROM ConfigurationData)",
                [run.collector],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .map_err(err)?;
        let run_id = insert_run(&tx, run, "Running", None, Some(scope)).map_err(err)?;
        let clock = Clock::read(&tx).map_err(err)?;
        let state = State {
            writer: RowWriter::new(run.collector, data_type, run.computer, run.started, clock.clone()),
            clock,
            run_id,
            collector: run.collector.to_string(),
            started: run.started.to_string(),
            computer: run.computer.to_string(),
            data_type,
            scope: scope.clone(),
            stored: stored as usize,
            max_rowid,
            seen: RowSet::default(),
            seen_count: 0,
            added: 0,
            changes: 0,
            duplicates: Vec::new(),
        };
        Ok(Recording {
            tx,
            path,
            before,
            now: baseline.clone(),
            state,
        })
    }

    /// Records a run whose collector did not apply here.
    pub fn record_skipped(&mut self, run: &RunInfo, reason: &str, duration: Duration) -> Result<i64, StoreError> {
        self.write(|tx| {
            let run_id = insert_run(tx, run, "Skipped", Some(reason), None)?;
            finish_run(tx, run_id, "Skipped", duration, None)?;
            Ok(run_id)
        })
    }

    /// Records a failed run (`scope`: what it was to look at, if it got
    /// that far); its collector's inventory is left as it was.
    pub fn record_failed(
        &mut self,
        run: &RunInfo,
        error: &str,
        scope: Option<&Scope>,
        duration: Duration,
    ) -> Result<i64, StoreError> {
        self.write(|tx| {
            let run_id = insert_run(tx, run, "Failed", Some(error), scope)?;
            finish_run(tx, run_id, "Failed", duration, None)?;
            Ok(run_id)
        })
    }
}

/// A collection being recorded; see the module's description.
pub struct Recording<'s> {
    tx: Transaction<'s>,
    path: PathBuf,
    /// The baseline the stored inventory was collected under, and today's.
    before: Option<Baseline>,
    now: Baseline,
    state: State,
}

/// What a recording keeps track of.
struct State {
    writer: RowWriter,
    clock: Clock,
    run_id: i64,
    collector: String,
    started: String,
    computer: String,
    data_type: DataType,
    scope: Scope,
    /// Items stored when the run began, and the highest row id then: rows
    /// above it were written by this run.
    stored: usize,
    max_rowid: i64,
    /// Stored rows the collection returned.
    seen: RowSet,
    seen_count: usize,
    added: usize,
    changes: usize,
    duplicates: Vec<String>,
}

impl Recording<'_> {
    /// Compares a batch of collected items with their stored rows, and
    /// writes what changed. `retained`: see `Ending`.
    pub fn apply(&mut self, items: Vec<Item>, retained: Retained) -> Result<(), StoreError> {
        let comparison = Comparison::new(self.state.data_type, self.before.as_ref(), &self.now);
        self.state
            .apply(&self.tx, &comparison, items, retained)
            .map_err(|e| super::classify(&self.path, e))
    }

    /// Decides the fate of stored items the collection did not return,
    /// records the run and the baseline, and commits.
    pub fn finish(self, ending: Ending) -> Result<Recorded, StoreError> {
        let Recording {
            tx,
            path,
            before,
            now,
            mut state,
        } = self;
        let comparison = Comparison::new(state.data_type, before.as_ref(), &now);
        let finished = state.finish(&tx, &comparison, &now, &ending).and_then(|recorded| {
            tx.commit()?;
            Ok(recorded)
        });
        finished.map_err(|e| super::classify(&path, e))
    }
}

impl State {
    fn apply(
        &mut self,
        tx: &Transaction,
        comparison: &Comparison,
        items: Vec<Item>,
        retained: Retained,
    ) -> rusqlite::Result<()> {
        let mut rows = self.writer.prepare(tx)?;
        for item in items {
            let verdict = if self.stored == 0 {
                // Nothing was stored: every item is new, unless it came twice.
                let verdict = comparison.present(None, item);
                if let Action::Write(item) = &verdict.action
                    && !rows.insert_new(item)?
                {
                    self.duplicate(&mut rows, item)?;
                    continue;
                }
                self.added += 1;
                Verdict {
                    action: Action::Keep,
                    ..verdict
                }
            } else {
                match rows.lookup(&item.key)? {
                    Some((rowid, _)) if rowid > self.max_rowid || self.seen.contains(rowid) => {
                        self.duplicate(&mut rows, &item)?;
                        continue;
                    }
                    Some((rowid, stored)) => {
                        self.seen.insert(rowid);
                        // Counted once, whether seen or retained (a plugin
                        // should not report what the host withheld).
                        if !retained(&stored.key) {
                            self.seen_count += 1;
                        }
                        comparison.present(Some(&stored), item)
                    }
                    None => {
                        self.added += 1;
                        comparison.present(None, item)
                    }
                }
            };
            self.record_change(tx, verdict.change.as_ref())?;
            if let Action::Write(item) = verdict.action {
                rows.upsert(&item)?;
            }
        }
        Ok(())
    }

    /// An item whose key this run already wrote: the first one stays; a
    /// different second is noted.
    fn duplicate(&mut self, rows: &mut Rows, item: &Item) -> rusqlite::Result<()> {
        let first = rows.lookup(&item.key)?;
        if first.is_some_and(|(_, first)| first.fields != item.fields) {
            self.duplicates.push(item.key.clone());
        }
        Ok(())
    }

    fn record_change(&mut self, tx: &Transaction, change: Option<&Change>) -> rusqlite::Result<()> {
        if let Some(change) = change {
            self.insert_change(tx, change)?;
            self.changes += 1;
        }
        Ok(())
    }

    fn finish(
        &mut self,
        tx: &Transaction,
        comparison: &Comparison,
        now: &Baseline,
        ending: &Ending,
    ) -> rusqlite::Result<Recorded> {
        let mut removed = 0;
        for rowid in self.missing(tx, ending)? {
            let Some(item) = self.writer.load(tx, rowid)? else {
                continue;
            };
            let verdict = comparison.absent(&item, ending.complete);
            self.record_change(tx, verdict.change.as_ref())?;
            if verdict.action == Action::Delete {
                self.clock.note_removal(tx, rowid)?;
                delete_row(tx, rowid)?;
                removed += 1;
            }
        }
        let items = self.stored + self.added - removed;
        let outcome = if ending.complete { "Succeeded" } else { "Partial" };
        finish_run(
            tx,
            self.run_id,
            outcome,
            ending.duration,
            Some((items, self.changes, ending.warnings + self.duplicates.len())),
        )?;
        self.clock.save(tx)?;
        let baseline = comparison.baseline();
        save_baseline(
            tx,
            &self.collector,
            &self.started,
            now,
            baseline.is_some(),
            self.scope.is_full(),
        )?;
        if let Some(why) = baseline {
            tracing::info!(collector = self.collector, "baseline recorded ({why}): {items} items");
        }
        Ok(Recorded {
            run_id: self.run_id,
            items,
            changes: self.changes,
            baseline,
            duplicates: std::mem::take(&mut self.duplicates),
        })
    }

    /// Stored rows that neither came back nor were confirmed unchanged,
    /// within the run's scope.
    fn missing(&self, tx: &Transaction, ending: &Ending) -> rusqlite::Result<Vec<i64>> {
        let accounted = self.seen_count + ending.retained_count;
        if matches!(self.scope, Scope::Full | Scope::Incremental) && accounted == self.stored {
            return Ok(Vec::new());
        }
        // Rows above `max_rowid` are this run's own.
        let accounted_for = |rowid: i64| rowid > self.max_rowid || self.seen.contains(rowid);
        let retained = (ending.retained_count > 0).then_some(ending.retained);
        match &self.scope {
            Scope::Keys(rules) => pick_registry_rows(tx, &self.collector, rules, accounted_for),
            Scope::Targeted(paths) => pick_rows(
                tx,
                &self.collector,
                self.data_type,
                Some(paths),
                accounted_for,
                retained,
            ),
            Scope::Full | Scope::Incremental => {
                pick_rows(tx, &self.collector, self.data_type, None, accounted_for, retained)
            }
        }
    }

    fn insert_change(&self, tx: &Transaction, change: &Change) -> rusqlite::Result<()> {
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
            self.run_id.into(),
            self.collector.clone().into(),
            super::key_value(self.data_type, &change.key),
            self.computer.clone().into(),
            self.started.clone().into(),
            self.data_type.as_str().to_string().into(),
            change.category.as_str().to_string().into(),
            fields_changed.map_or(rusqlite::types::Value::Null, Into::into),
        ];
        values.extend(change.columns.iter().map(|(_, v)| to_sql(Some(v))));
        tx.prepare_cached(&sql)?.execute(rusqlite::params_from_iter(values))?;
        Ok(())
    }
}

/// Row ids, a bit each, from the lowest one set.
#[derive(Debug, Default)]
struct RowSet {
    base: i64,
    bits: Vec<u64>,
}

impl RowSet {
    fn insert(&mut self, rowid: i64) {
        if self.bits.is_empty() {
            self.base = rowid & !63;
        }
        if rowid < self.base {
            let shift = ((self.base - (rowid & !63)) / 64) as usize;
            self.bits.splice(0..0, std::iter::repeat_n(0, shift));
            self.base = rowid & !63;
        }
        let offset = (rowid - self.base) as usize;
        if offset / 64 >= self.bits.len() {
            self.bits.resize(offset / 64 + 1, 0);
        }
        self.bits[offset / 64] |= 1 << (offset % 64);
    }

    fn contains(&self, rowid: i64) -> bool {
        if rowid < self.base {
            return false;
        }
        let offset = (rowid - self.base) as usize;
        self.bits
            .get(offset / 64)
            .is_some_and(|word| word & (1 << (offset % 64)) != 0)
    }
}

fn insert_run(
    tx: &Transaction,
    run: &RunInfo,
    outcome: &str,
    error: Option<&str>,
    scope: Option<&Scope>,
) -> rusqlite::Result<i64> {
    let paths = scope.map(Scope::places).unwrap_or_default();
    let recorded_paths = (!paths.is_empty()).then(|| {
        let kept = &paths[..paths.len().min(RECORDED_PATHS)];
        serde_json::to_string(kept).unwrap_or_default()
    });
    tx.prepare_cached(
        "INSERT INTO CollectorRun (Collector, Plugin, PluginVersion, Computer, TimeStarted, DurationMs, Outcome, Error, Scope, ScopePaths) \
         VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        run.collector,
        run.plugin,
        run.plugin_version,
        run.computer,
        run.started,
        outcome,
        error,
        scope.map(Scope::as_str),
        recorded_paths,
    ])?;
    Ok(tx.last_insert_rowid())
}

/// Sets how a run ended; `counts` are its items, changes and warnings.
fn finish_run(
    tx: &Transaction,
    run_id: i64,
    outcome: &str,
    duration: Duration,
    counts: Option<(usize, usize, usize)>,
) -> rusqlite::Result<()> {
    let count = |pick: fn((usize, usize, usize)) -> usize| counts.map(|c| pick(c) as i64);
    tx.prepare_cached(
        "UPDATE CollectorRun SET Outcome = ?2, DurationMs = ?3, ItemCount = ?4, ChangeCount = ?5, WarningCount = ?6 \
         WHERE RunId = ?1",
    )?
    .execute(params![
        run_id,
        outcome,
        duration.as_millis() as i64,
        count(|c| c.0),
        count(|c| c.1),
        count(|c| c.2),
    ])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::RowSet;

    #[test]
    fn row_sets_hold_what_was_put_in() {
        let mut set = RowSet::default();
        for rowid in [500, 70, 1, 64, 1000] {
            set.insert(rowid);
        }
        for rowid in [500, 70, 1, 64, 1000] {
            assert!(set.contains(rowid), "{rowid}");
        }
        for rowid in [0, 2, 63, 65, 499, 501, 999, 1001, -5] {
            assert!(!set.contains(rowid), "{rowid}");
        }
    }
}
