//! One collector's plugin at work in its sandbox: the probe, then the
//! collection, its records validated and normalised into items on the way
//! out — a files collector's batch by batch, other kinds' whole (their
//! duplicates merge across the collection).

use std::sync::Arc;
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use super::{grants, settings};
use crate::content_store::ContentStore;
use crate::inventory::{self, DataType, Item, Rejected, Value};
use crate::machine::Machine;
use crate::manifest::CollectorSpec;
use crate::runtime::bindings::types::CollectionSummary;
use crate::runtime::grants::Preopen;
use crate::runtime::{Captured, Limits, Observed, Plugin, Probe, RUN_THREAD_STACK, RunError, Sandbox, StatIndex};

/// Longest a probe may take, whatever the collector's own timeout.
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);
/// Time allowed past a run's deadline before the watchdog gives up on it.
pub const WATCHDOG_GRACE: Duration = Duration::from_secs(5);

/// How a plugin's run ended, once everything it collected was handed on.
pub enum Ended {
    /// Its probe said the collector does not apply here.
    NotApplicable(String),
    Collected {
        summary: CollectionSummary,
        /// Records merged away as duplicates.
        notes: Vec<String>,
    },
}

/// A collector's plugin, ready to run with its sandbox and settings.
pub struct Job {
    plugin: Arc<Plugin>,
    name: String,
    data_type: DataType,
    machine: Machine,
    probe: Sandbox,
    collect: Sandbox,
    settings: crate::runtime::Settings,
}

impl Job {
    /// `index`: what the last collection saw, for an incremental or
    /// targeted run of a files collector.
    pub fn new(
        plugin: &Arc<Plugin>,
        spec: &CollectorSpec,
        machine: &Machine,
        index: Option<Arc<StatIndex>>,
        content: &ContentStore,
    ) -> Job {
        let preopens = grants::preopens(spec, machine);
        Job {
            plugin: plugin.clone(),
            name: spec.name.clone(),
            data_type: DataType::of(spec.kind, machine.os),
            machine: machine.clone(),
            probe: probe_sandbox(spec, preopens.clone()),
            collect: Sandbox {
                preopens,
                limits: spec.limits.clone(),
                stat_index: index,
                registry_grants: grants::registry_keys(spec),
                capture: settings::content_capture(spec, content),
            },
            settings: settings::for_collect(spec, machine),
        }
    }

    /// The longest the run may take: the probe's deadline and the collection's.
    pub fn budget(&self) -> Duration {
        self.probe.limits.timeout + self.collect.limits.timeout
    }

    /// Probes and, when the collector applies, collects, handing items to
    /// `sink`. An error from `sink` ends the collection.
    pub fn run(&self, sink: &mut dyn FnMut(Vec<Item>) -> Result<(), RunError>) -> Result<Ended, RunError> {
        let probe = self.plugin.probe(&self.probe)?;
        if !probe.applies {
            return Ok(Ended::NotApplicable(probe.reason));
        }
        let collecting = Instant::now();
        let mut count = 0;
        let mut whole: Vec<Item> = Vec::new();
        let streams = self.data_type == DataType::Files;
        let finished = self
            .plugin
            .collect(&self.collect, &self.settings, &mut |records, observed| {
                count += records.len();
                let (_, mut items) = inventory::items_from(records, self.machine.os).map_err(rejected)?;
                self.attach_observed(&mut items, observed);
                if streams {
                    sink(items)
                } else {
                    whole.extend(items);
                    Ok(())
                }
            })?;
        tracing::debug!(plugin = %self.plugin.info().name, records = count, elapsed = ?collecting.elapsed(), "collected");
        let mut notes = Vec::new();
        if !streams {
            let inventory = inventory::normalise(self.data_type, whole);
            notes = inventory.notes;
            sink(inventory.items)?;
        }
        let mut summary = finished.summary;
        if !finished.interrupted.is_empty() {
            let walks = finished.interrupted.join(", ");
            summary
                .incomplete
                .get_or_insert_with(|| format!("the walk of {walks} ended early"));
        }
        Ok(Ended::Collected { summary, notes })
    }

    /// What the host's `fs` import saw of each file: its stat key and what
    /// became of its content.
    fn attach_observed(&self, items: &mut [Item], observed: &mut Observed) {
        if observed.keys.is_empty() && observed.captured.is_empty() {
            return;
        }
        for item in items {
            if let Some(key) = observed.keys.remove(&item.key) {
                item.set("StatKey", Value::Integer(key));
            }
            if let Some(captured) = observed.captured.remove(&item.key) {
                if let Captured::Failed(why) = &captured {
                    tracing::warn!(collector = %self.name, "content of {} not kept: {why}", item.key);
                }
                let hash = captured.hash().map_or(Value::Null, |h| Value::Text(h.to_string()));
                item.set("ContentHash", hash);
                item.set("ContentState", Value::Text(captured.state().to_string()));
            }
        }
    }
}

fn rejected(rejected: Rejected) -> RunError {
    match rejected {
        Rejected::Malformed(why) => RunError::Malformed(why),
        Rejected::Oversized(why) => RunError::Oversized(why),
    }
}

/// The sandbox of a probe: the collector's grants, a short deadline.
fn probe_sandbox(spec: &CollectorSpec, preopens: Vec<Preopen>) -> Sandbox {
    Sandbox {
        preopens,
        limits: Limits {
            timeout: spec.limits.timeout.min(PROBE_TIMEOUT),
            ..spec.limits.clone()
        },
        stat_index: None,
        registry_grants: grants::registry_keys(spec),
        capture: None,
    }
}

/// Asks a collector's plugin whether it applies here.
pub fn probe(plugin: &Arc<Plugin>, spec: &CollectorSpec, machine: &Machine) -> Result<Probe, RunError> {
    let sandbox = probe_sandbox(spec, grants::preopens(spec, machine));
    let plugin = plugin.clone();
    let budget = sandbox.limits.timeout;
    watched(budget, move || plugin.probe(&sandbox))
}

impl Job {
    /// Probes and collects everything at once, under a watchdog: for small
    /// collections wanted whole (the pipeline streams instead).
    pub fn collect_all(self) -> Result<(Ended, Vec<Item>), RunError> {
        watched(self.budget(), move || {
            let mut items = Vec::new();
            let ended = self.run(&mut |batch| {
                items.extend(batch);
                Ok(())
            })?;
            Ok((ended, items))
        })
    }
}

/// Runs `work` on a run thread and waits for it at most `budget` and the
/// watchdog's grace; past that, the thread is abandoned.
fn watched<T: Send + 'static>(
    budget: Duration,
    work: impl FnOnce() -> Result<T, RunError> + Send + 'static,
) -> Result<T, RunError> {
    let (done, result) = std::sync::mpsc::channel();
    spawn_run_thread(move || {
        let _ = done.send(work());
    })?;
    match result.recv_timeout(budget + WATCHDOG_GRACE) {
        Ok(outcome) => outcome,
        Err(RecvTimeoutError::Timeout) => Err(RunError::Abandoned(budget)),
        Err(RecvTimeoutError::Disconnected) => Err(ended_without_result()),
    }
}

/// Runs plugin work on a thread of its own, with the stack plugins need.
/// Such a thread is never joined: a plugin stuck in a host call (which an
/// epoch deadline cannot interrupt) is abandoned by its watchdog and ends
/// on its own once the call returns.
pub fn spawn_run_thread(work: impl FnOnce() + Send + 'static) -> Result<(), RunError> {
    std::thread::Builder::new()
        .name("plugin-run".into())
        .stack_size(RUN_THREAD_STACK)
        .spawn(work)
        .map(|_| ())
        .map_err(|e| RunError::Setup(format!("cannot start a thread: {e}")))
}

/// A run thread that ended without saying how.
pub fn ended_without_result() -> RunError {
    RunError::Setup("the run ended without a result (host thread failed)".into())
}
