//! One scan: every collector of the manifest that applies to the machine,
//! run once through the pipeline, at most a few at a time.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::collectors::{LoadedPlugins, Selection, grants, select};
use crate::machine::Machine;
use crate::manifest::{CollectorSpec, Manifest};
use crate::pipeline::{self, CollectorReport, Outcome, Request, RunHook};
use crate::runtime::Runtime;
use crate::store::{RunInfo, Store, StoreError};
use crate::timefmt;

#[derive(Debug, Clone)]
pub struct ScanReport {
    pub computer: String,
    pub duration: Duration,
    pub collectors: Vec<CollectorReport>,
}

impl ScanReport {
    pub fn failures(&self) -> usize {
        self.collectors.iter().filter(|c| c.failed()).count()
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

/// Drops the stored inventory of collectors the manifest no longer tracks here.
pub fn forget_untracked(store: &mut Store, manifest: &Manifest, machine: &Machine) -> Result<(), StoreError> {
    let keep: Vec<&str> = tracked(manifest, machine).iter().map(|c| c.name.as_str()).collect();
    for dropped in store.forget_collectors_except(&keep)? {
        tracing::info!(collector = %dropped, "no longer in the manifest here: its inventory was dropped (no Removed rows)");
    }
    Ok(())
}

/// How a scan goes.
pub struct ScanOptions<'a> {
    /// Most collectors running at once.
    pub parallel: usize,
    /// `Request::Full` collects everything again; `Scheduled` lets files
    /// collectors skip what did not change.
    pub request: Request,
    pub hook: &'a dyn RunHook,
}

/// Runs every collector of the manifest that applies to the machine and
/// records each run. A failing collector never stops the others.
/// `progress` hears of each collector as it is done.
pub fn scan(
    runtime: &Runtime,
    manifest: &Manifest,
    machine: &Machine,
    store: &Mutex<Store>,
    options: ScanOptions,
    mut progress: impl FnMut(usize, usize, &CollectorReport),
) -> Result<ScanReport, StoreError> {
    let started = Instant::now();
    let reader = {
        let mut store = store.lock().unwrap_or_else(|p| p.into_inner());
        forget_untracked(&mut store, manifest, machine)?;
        Mutex::new(store.reopen()?)
    };
    let plugins = LoadedPlugins::load(runtime, manifest.collectors.iter().map(|c| &c.plugin));
    let total = manifest.collectors.len();
    let mut reports: Vec<Option<CollectorReport>> = vec![None; total];
    let mut jobs = Vec::new();
    for (index, spec) in manifest.collectors.iter().enumerate() {
        let selection = select(spec, machine, &plugins);
        match selection {
            Selection::Ready(plugin) => jobs.push((index, grants::effective(spec, &plugin), plugin)),
            Selection::Unusable(ref error) => reports[index] = Some(unusable(store, spec, machine, error)),
            Selection::Disabled | Selection::OtherOs(_) => {
                let why = selection.reason(machine).unwrap_or_default();
                reports[index] = Some(not_run(spec, Outcome::Skipped(why)));
            }
        }
    }
    let mut done = reports.iter().filter(|r| r.is_some()).count();

    let ctx = pipeline::Context {
        machine,
        store,
        reader: &reader,
        hook: options.hook,
    };
    let queue = Mutex::new(jobs.into_iter());
    let (sender, results) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        for _ in 0..options.parallel.max(1) {
            let sender = sender.clone();
            let (queue, ctx, request) = (&queue, &ctx, &options.request);
            scope.spawn(move || {
                loop {
                    let next = queue.lock().unwrap_or_else(|p| p.into_inner()).next();
                    let Some((index, spec, plugin)) = next else { break };
                    let report = pipeline::run_collector(ctx, &spec, &plugin, request.clone());
                    let _ = sender.send((index, report));
                }
            });
        }
        drop(sender);
        for (index, report) in results {
            done += 1;
            progress(done, total, &report);
            reports[index] = Some(report);
        }
    });
    let beat = crate::heartbeat::of(machine);
    let recorded = store.lock().unwrap_or_else(|p| p.into_inner()).record_heartbeat(
        &machine.hostname,
        &beat,
        &crate::timefmt::now(),
        0,
    );
    if let Err(error) = recorded {
        tracing::warn!("cannot record the heartbeat: {error}");
    }
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
        scope: None,
        run_id: None,
        outcome,
        duration: Duration::ZERO,
    }
}

/// A collector whose plugin cannot be used: a failed run, recorded.
fn unusable(store: &Mutex<Store>, spec: &CollectorSpec, machine: &Machine, error: &str) -> CollectorReport {
    let started = timefmt::now();
    let plugin = spec.plugin.to_string();
    let run = RunInfo {
        collector: &spec.name,
        plugin: &plugin,
        plugin_version: "",
        computer: &machine.hostname,
        started: &started,
    };
    let recorded = store
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .record_failed(&run, error, None, Duration::ZERO);
    tracing::error!(collector = %spec.name, "{error}");
    let (outcome, run_id) = match recorded {
        Ok(run_id) => (Outcome::Failed(error.to_string()), Some(run_id)),
        Err(store_error) => (
            Outcome::Failed(format!("{error}; and not recorded: {store_error}")),
            None,
        ),
    };
    CollectorReport {
        started,
        run_id,
        ..not_run(spec, outcome)
    }
}
