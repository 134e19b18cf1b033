//! One scan: every collector that applies to the machine, run once, each
//! result stored as that collector's inventory.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::collectors::{self, LoadedPlugins, RunOutcome, Selection};
use crate::kind::Kind;
use crate::machine::Machine;
use crate::manifest::Manifest;
use crate::runtime::Runtime;
use crate::runtime::bindings::types::Warning;
use crate::store::Store;
use crate::timefmt;

/// How one collector's part of the scan ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    Collected {
        items: usize,
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
    pub outcome: Outcome,
    pub duration: Duration,
}

#[derive(Debug, Clone)]
pub struct ScanReport {
    pub computer: String,
    pub time: String,
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
}

/// Runs every collector of the manifest that applies to the machine, at most
/// `parallel` at a time, and stores each successful collection. A failing
/// collector never stops the others.
pub fn scan(
    runtime: &Runtime,
    manifest: &Manifest,
    machine: &Machine,
    store: &mut Store,
    parallel: usize,
    mut progress: impl FnMut(&CollectorReport),
) -> ScanReport {
    let started = Instant::now();
    let time = timefmt::now();
    let plugins = LoadedPlugins::load(runtime, manifest.collectors.iter().map(|c| &c.plugin));
    let mut reports: Vec<Option<CollectorReport>> = vec![None; manifest.collectors.len()];
    let mut jobs = Vec::new();
    for (index, spec) in manifest.collectors.iter().enumerate() {
        let skipped = |outcome| CollectorReport {
            collector: spec.name.clone(),
            kind: spec.kind,
            plugin: spec.plugin.to_string(),
            plugin_version: None,
            outcome,
            duration: Duration::ZERO,
        };
        match collectors::select(spec, machine, &plugins) {
            Selection::Disabled => reports[index] = Some(skipped(Outcome::Skipped("disabled in the manifest".into()))),
            Selection::OtherOs(os) => {
                let list: Vec<_> = os.iter().map(|o| o.as_str()).collect();
                let why = format!("for {} only; this machine is {}", list.join(", "), machine.os);
                reports[index] = Some(skipped(Outcome::Skipped(why)));
            }
            Selection::Unusable(error) => reports[index] = Some(skipped(Outcome::Failed(error))),
            Selection::Ready(plugin) => jobs.push((index, spec, plugin)),
        }
    }

    let queue = Mutex::new(jobs.into_iter());
    let (sender, results) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        for _ in 0..parallel.max(1) {
            let sender = sender.clone();
            let queue = &queue;
            scope.spawn(move || {
                loop {
                    let next = queue.lock().unwrap_or_else(|p| p.into_inner()).next();
                    let Some((index, spec, plugin)) = next else { break };
                    let started = Instant::now();
                    let outcome = collectors::run(&plugin, spec, machine);
                    let info = plugin.info();
                    let _ = sender.send((
                        index,
                        spec,
                        info.name.clone(),
                        info.version.clone(),
                        outcome,
                        started.elapsed(),
                    ));
                }
            });
        }
        drop(sender);
        for (index, spec, plugin_name, version, outcome, duration) in results {
            let outcome = match outcome {
                Ok(RunOutcome::NotApplicable(reason)) => Outcome::Skipped(reason),
                Ok(RunOutcome::Collected { inventory, summary }) => {
                    match store.replace_inventory(&spec.name, &machine.hostname, &time, &inventory) {
                        Ok(()) => {
                            let mut warnings = summary.warnings;
                            warnings.extend(inventory.notes.into_iter().map(|message| Warning {
                                subject: spec.name.clone(),
                                message,
                            }));
                            Outcome::Collected {
                                items: inventory.items.len(),
                                warnings,
                                incomplete: summary.incomplete,
                            }
                        }
                        Err(error) => Outcome::Failed(format!("collected, but not stored: {error}")),
                    }
                }
                Err(error) => Outcome::Failed(error.to_string()),
            };
            match &outcome {
                Outcome::Failed(reason) => tracing::error!(collector = %spec.name, "{reason}"),
                Outcome::Collected {
                    warnings, incomplete, ..
                } => {
                    for w in warnings {
                        tracing::info!(collector = %spec.name, "warning: {}: {}", w.subject, w.message);
                    }
                    if let Some(why) = incomplete {
                        tracing::warn!(collector = %spec.name, "incomplete collection: {why}");
                    }
                }
                Outcome::Skipped(_) => {}
            }
            let report = CollectorReport {
                collector: spec.name.clone(),
                kind: spec.kind,
                plugin: plugin_name,
                plugin_version: Some(version),
                outcome,
                duration,
            };
            progress(&report);
            reports[index] = Some(report);
        }
    });
    ScanReport {
        computer: machine.hostname.clone(),
        time,
        duration: started.elapsed(),
        collectors: reports.into_iter().flatten().collect(),
    }
}
