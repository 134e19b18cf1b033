//! One scan: every collector that applies to the machine, run once, each
//! result recorded — inventory, changes and the run itself.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::collectors::{self, LoadedPlugins, Mode, RunOutcome, Selection};
use crate::kind::Kind;
use crate::machine::Machine;
use crate::manifest::{CollectorSpec, Manifest};
use crate::runtime::bindings::types::Warning;
use crate::runtime::{Focus, RunError, Runtime, StatIndex};
use crate::store::{RunInfo, RunResult, Store};
use crate::timefmt;

/// How one collector's run ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    Collected {
        items: usize,
        changes: usize,
        /// Why this collection was recorded as a baseline, if it was.
        baseline: Option<&'static str>,
        warnings: Vec<Warning>,
        /// Why the collection is not the whole inventory, if it is not.
        incomplete: Option<String>,
    },
    /// Not run here: disabled, another OS, or its probe said no.
    Skipped(String),
    /// Failed; its previous inventory is untouched.
    Failed(String),
}

#[derive(Debug, Clone)]
pub struct CollectorReport {
    pub collector: String,
    pub kind: Kind,
    pub plugin: String,
    pub plugin_version: Option<String>,
    pub started: String,
    pub outcome: Outcome,
    pub duration: Duration,
}

impl CollectorReport {
    pub fn changes(&self) -> usize {
        match self.outcome {
            Outcome::Collected { changes, .. } => changes,
            _ => 0,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ScanReport {
    pub computer: String,
    pub duration: Duration,
    pub collectors: Vec<CollectorReport>,
}

impl ScanReport {
    pub fn failures(&self) -> usize {
        self.collectors
            .iter()
            .filter(|c| matches!(c.outcome, Outcome::Failed(_)))
            .count()
    }

    pub fn changes(&self) -> usize {
        self.collectors.iter().map(CollectorReport::changes).sum()
    }
}

/// The collectors of a manifest that are tracked on this machine: enabled and
/// for its OS. The store forgets everything else (no `Removed` rows).
pub fn tracked<'m>(manifest: &'m Manifest, machine: &Machine) -> Vec<&'m CollectorSpec> {
    manifest
        .collectors
        .iter()
        .filter(|c| c.enabled && c.runs_on(machine.os))
        .collect()
}

/// The longest a files collector goes without a full collection.
const FULL_EVERY: Duration = Duration::from_secs(24 * 3600);

/// How a collector's next run collects: incrementally when it is a files
/// collector, its settings are the ones its stored inventory was taken
/// under, and its last full collection is less than a day old; fully
/// otherwise (or when `force_full`).
pub fn mode(store: &Store, spec: &CollectorSpec, force_full: bool) -> Mode {
    if force_full || !can_be_incremental(store, spec) {
        return Mode::Full;
    }
    let loading = Instant::now();
    match store.stat_keys(&spec.name) {
        Ok(keys) if !keys.is_empty() => {
            tracing::debug!(collector = %spec.name, files = keys.len(), elapsed = ?loading.elapsed(), "incremental run");
            Mode::Incremental(Arc::new(StatIndex::new(keys)))
        }
        Ok(_) => Mode::Full,
        Err(error) => {
            tracing::warn!(collector = %spec.name, "full collection: the stat index could not be read: {error}");
            Mode::Full
        }
    }
}

/// How a run after file events collects: a targeted run that looks only at
/// `paths` (and what is under them) when an incremental run is possible; a
/// full one otherwise.
pub fn targeted_mode(store: &Store, spec: &CollectorSpec, paths: Vec<String>) -> Mode {
    if !can_be_incremental(store, spec) {
        return Mode::Full;
    }
    let focus = Focus::new(paths);
    match store.stat_keys_in_scope(&spec.name, focus.paths()) {
        Ok(keys) => Mode::Incremental(Arc::new(StatIndex::new(keys).focused(focus))),
        Err(error) => {
            tracing::warn!(collector = %spec.name, "full collection: the stat index could not be read: {error}");
            Mode::Full
        }
    }
}

/// A files collector, allowed to run incrementally, whose stored inventory
/// was taken under its current settings less than a day after a full one.
fn can_be_incremental(store: &Store, spec: &CollectorSpec) -> bool {
    if spec.kind != Kind::Files || !spec.incremental {
        return false;
    }
    let Ok(Some((stored, Some(last_full)))) = store.baseline(&spec.name) else {
        return false;
    };
    let recent = last_full
        .parse::<jiff::Timestamp>()
        .ok()
        .and_then(|t| jiff::Timestamp::now().duration_since(t).try_into().ok())
        .is_some_and(|age: Duration| age < FULL_EVERY);
    recent && stored == collectors::baseline(spec)
}

/// Drops the stored inventory of collectors the manifest no longer tracks here.
pub fn forget_untracked(
    store: &mut Store,
    manifest: &Manifest,
    machine: &Machine,
) -> Result<(), crate::store::StoreError> {
    let keep: Vec<&str> = tracked(manifest, machine).iter().map(|c| c.name.as_str()).collect();
    for dropped in store.forget_collectors_except(&keep)? {
        tracing::info!(collector = %dropped, "no longer in the manifest here: its inventory was dropped (no Removed rows)");
    }
    Ok(())
}

/// Runs every collector of the manifest that applies to the machine, at most
/// `parallel` at a time, and records each run. A failing collector never stops
/// the others.
pub fn scan(
    runtime: &Runtime,
    manifest: &Manifest,
    machine: &Machine,
    store: &mut Store,
    parallel: usize,
    force_full: bool,
    mut progress: impl FnMut(usize, usize, &CollectorReport),
) -> Result<ScanReport, crate::store::StoreError> {
    let started = Instant::now();
    forget_untracked(store, manifest, machine)?;
    let plugins = LoadedPlugins::load(runtime, manifest.collectors.iter().map(|c| &c.plugin));
    let total = manifest.collectors.len();
    let mut reports: Vec<Option<CollectorReport>> = vec![None; total];
    let mut jobs = Vec::new();
    for (index, spec) in manifest.collectors.iter().enumerate() {
        match collectors::select(spec, machine, &plugins) {
            Selection::Ready(plugin) => jobs.push((index, spec, plugin, mode(store, spec, force_full))),
            Selection::Disabled => {
                reports[index] = Some(not_run(spec, Outcome::Skipped("disabled in the manifest".into())))
            }
            Selection::OtherOs(os) => {
                let list: Vec<_> = os.iter().map(|o| o.as_str()).collect();
                let why = format!("for {} only; this machine is {}", list.join(", "), machine.os);
                reports[index] = Some(not_run(spec, Outcome::Skipped(why)));
            }
            Selection::Unusable(error) => {
                let report = record(
                    store,
                    spec,
                    machine,
                    (&spec.plugin.to_string(), ""),
                    timefmt::now(),
                    Duration::ZERO,
                    Err(RunError::Setup(error)),
                );
                reports[index] = Some(report);
            }
        }
    }
    let mut done = reports.iter().filter(|r| r.is_some()).count();

    let content = store.content();
    let queue = Mutex::new(jobs.into_iter());
    let (sender, results) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        for _ in 0..parallel.max(1) {
            let sender = sender.clone();
            let (queue, content) = (&queue, &content);
            scope.spawn(move || {
                loop {
                    let next = queue.lock().unwrap_or_else(|p| p.into_inner()).next();
                    let Some((index, spec, plugin, mode)) = next else { break };
                    let started_at = timefmt::now();
                    let clock = Instant::now();
                    let outcome = collectors::run(&plugin, spec, machine, mode, content);
                    let info = plugin.info();
                    let plugin = (info.name.clone(), info.version.clone());
                    let _ = sender.send((index, spec, plugin, started_at, clock.elapsed(), outcome));
                }
            });
        }
        drop(sender);
        for (index, spec, (name, version), started_at, duration, outcome) in results {
            let report = record(store, spec, machine, (&name, &version), started_at, duration, outcome);
            done += 1;
            progress(done, total, &report);
            reports[index] = Some(report);
        }
    });
    Ok(ScanReport {
        computer: machine.hostname.clone(),
        duration: started.elapsed(),
        collectors: reports.into_iter().flatten().collect(),
    })
}

fn not_run(spec: &CollectorSpec, outcome: Outcome) -> CollectorReport {
    CollectorReport {
        collector: spec.name.clone(),
        kind: spec.kind,
        plugin: spec.plugin.to_string(),
        plugin_version: None,
        started: String::new(),
        outcome,
        duration: Duration::ZERO,
    }
}

/// Records one run of a collector in the store, and reports it. Storing
/// failures become the run's failure: nothing is half-written.
pub fn record(
    store: &mut Store,
    spec: &CollectorSpec,
    machine: &Machine,
    (plugin, version): (&str, &str),
    started: String,
    duration: Duration,
    outcome: Result<RunOutcome, RunError>,
) -> CollectorReport {
    let run = RunInfo {
        collector: &spec.name,
        plugin,
        plugin_version: version,
        computer: &machine.hostname,
        started: &started,
        duration,
    };
    let recording = std::time::Instant::now();
    let outcome = match outcome {
        Ok(RunOutcome::NotApplicable(reason)) => match store.record(&run, RunResult::Skipped(&reason)) {
            Ok(_) => Outcome::Skipped(reason),
            Err(error) => Outcome::Failed(format!("not stored: {error}")),
        },
        Ok(RunOutcome::Collected {
            inventory,
            summary,
            unchanged,
            full,
            scope,
        }) => {
            let mut warnings = summary.warnings;
            warnings.extend(inventory.notes.iter().map(|message| Warning {
                subject: spec.name.clone(),
                message: message.clone(),
            }));
            let baseline = collectors::baseline(spec);
            let items = inventory.items.len() + unchanged.len();
            let result = RunResult::Collected {
                inventory,
                baseline: &baseline,
                complete: summary.incomplete.is_none(),
                retained: &unchanged,
                full,
                scope: scope.as_deref(),
                warnings: warnings.len(),
            };
            match store.record(&run, result) {
                Ok(recorded) => Outcome::Collected {
                    items,
                    changes: recorded.changes,
                    baseline: recorded.baseline,
                    warnings,
                    incomplete: summary.incomplete,
                },
                Err(error) => Outcome::Failed(format!("collected, but not stored: {error}")),
            }
        }
        Err(error) => {
            let message = error.to_string();
            match store.record(&run, RunResult::Failed(&message)) {
                Ok(_) => Outcome::Failed(message),
                Err(store_error) => Outcome::Failed(format!("{message}; and not recorded: {store_error}")),
            }
        }
    };
    tracing::debug!(collector = %spec.name, elapsed = ?recording.elapsed(), "run recorded");
    log_outcome(&spec.name, &outcome);
    CollectorReport {
        collector: spec.name.clone(),
        kind: spec.kind,
        plugin: plugin.to_string(),
        plugin_version: (!version.is_empty()).then(|| version.to_string()),
        started,
        outcome,
        duration,
    }
}

fn log_outcome(collector: &str, outcome: &Outcome) {
    match outcome {
        Outcome::Failed(reason) => tracing::error!(collector, "{reason}"),
        Outcome::Collected {
            warnings,
            incomplete,
            items,
            changes,
            ..
        } => {
            for w in warnings {
                tracing::info!(collector, "warning: {}: {}", w.subject, w.message);
            }
            if let Some(why) = incomplete {
                tracing::warn!(collector, "incomplete collection: {why}");
            }
            tracing::debug!(collector, items, changes, "collected");
        }
        Outcome::Skipped(reason) => tracing::debug!(collector, "skipped: {reason}"),
    }
}
