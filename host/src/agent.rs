//! The long-running agent (`driftwatch run`): every collector on its own
//! schedule, at most a few at once, until a signal says stop.
//!
//! - Each collector has one loop task, so two runs of one collector never
//!   overlap. Runs start with jitter so that a fleet does not move in step;
//!   a collector with no baseline yet runs at once.
//! - A semaphore bounds how many plugins run at once.
//! - Runs come on each collector's interval (capped at
//!   `manifest::FULL_RUN_CAP`, so that a full snapshot is taken at least
//!   daily) and on file events: what a
//!   collector reads is watched (see `watch`), and a change triggers, after
//!   a short debounce, a targeted re-check of the changed paths (files) or a
//!   collection (packages, services). `watch = false` turns that off.
//! - SIGTERM / SIGINT: stop scheduling, let in-flight runs finish for a grace
//!   period, then exit 0. What was committed stays committed; a run cut short
//!   commits nothing (each run is one transaction).
//! - SIGHUP, or a change of the manifest file: reload it. Collectors whose
//!   settings changed are re-baselined by the change engine; collectors that
//!   left the manifest have their inventory dropped without `Removed` rows.
//! - Enrolled in a fleet: the agent ships after each committed run, and
//!   asks the server for its group's manifest every minute; one that passes
//!   the machine's checks replaces the machine's own as a reload (see
//!   `fleet::manifest`).
//! - Every run goes through `pipeline::run_collector`; its run-completed hook
//!   wakes the alert task when a run recorded changes. That task evaluates
//!   the alert rules (also once at start, for changes recorded while the
//!   agent was down), then delivers what they raised, retrying with backoff
//!   without holding up collection.
//! - Outputs (`[[output]]`) are sent what each committed run recorded, by a
//!   task of their own; after a failure they are tried again with backoff.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinSet;

use crate::collectors::{LoadedPlugins, Selection, select};
use crate::machine::Machine;
use crate::manifest::{CollectorSpec, Manifest};
use crate::pipeline::{self, CollectorReport, Request, RunHook};
use crate::runtime::{Plugin, Runtime};
use crate::scan;
use crate::store::Store;
use crate::timefmt;
use crate::watch::{CollectorWatch, Trigger};
/// How long in-flight runs may take to finish after a stop signal.
pub const STOP_GRACE: Duration = Duration::from_secs(10);
/// How long events may gather before the run they trigger.
const DEBOUNCE: Duration = Duration::from_millis(50);
/// The least time between two event-triggered runs of a collector that
/// reads everything again (packages, services), whatever the event rate.
const MIN_EVENT_GAP: Duration = Duration::from_secs(1);
/// Beyond this many changed paths, a run re-checks everything instead.
const MAX_TARGETED_PATHS: usize = 10_000;
/// How often the manifest file is checked for changes.
const MANIFEST_POLL: Duration = Duration::from_secs(5);
/// How often old history is pruned (when a retention is set).
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Where the agent's manifest comes from.
#[derive(Debug, Clone)]
pub enum ManifestSource {
    File(PathBuf),
    BuiltIn,
}

impl ManifestSource {
    fn load(&self) -> anyhow::Result<Manifest> {
        Ok(match self {
            ManifestSource::File(path) => Manifest::load(path)?,
            ManifestSource::BuiltIn => Manifest::builtin()?,
        })
    }

    fn modified(&self) -> Option<SystemTime> {
        match self {
            ManifestSource::File(path) => std::fs::metadata(path).and_then(|m| m.modified()).ok(),
            ManifestSource::BuiltIn => None,
        }
    }
}

/// What every collector loop shares.
struct Shared {
    runtime: Runtime,
    machine: Machine,
    store: Mutex<Store>,
    /// A second connection, for what runs read before they start.
    reader: Mutex<Store>,
    state_dir: PathBuf,
    /// What its `Heartbeat` rows say.
    heartbeat: driftwatch_protocol::Heartbeat,
}

/// What the agent runs with.
pub struct Setup {
    pub source: ManifestSource,
    pub machine: Machine,
    pub state_dir: PathBuf,
    pub runtime: Runtime,
}

/// Runs the agent until SIGTERM or SIGINT, or until `stop` is notified (a
/// Windows service's stop). Holds an exclusive lock on the state directory
/// so that two agents never share one.
pub fn run(setup: Setup, stop: Option<Arc<Notify>>) -> anyhow::Result<()> {
    Prepared::new(setup)?.run(stop)
}

/// An agent ready to run: its state directory locked, its store open, its
/// manifest loaded — what can fail at start has been tried.
pub struct Prepared {
    shared: Arc<Shared>,
    source: ManifestSource,
    local: Manifest,
    _lock: std::fs::File,
}

impl Prepared {
    pub fn new(setup: Setup) -> anyhow::Result<Prepared> {
        let Setup {
            source,
            machine,
            state_dir,
            runtime,
        } = setup;
        let lock = lock_state_dir(&state_dir)?;
        let store = Store::open(&state_dir)?;
        let reader = store.reopen()?;
        let local = source.load()?;
        let heartbeat = crate::heartbeat::of(&machine);
        let shared = Arc::new(Shared {
            runtime,
            machine,
            store: Mutex::new(store),
            reader: Mutex::new(reader),
            state_dir,
            heartbeat,
        });
        Ok(Prepared {
            shared,
            source,
            local,
            _lock: lock,
        })
    }

    /// Runs until stopped (see `run`).
    pub fn run(self, stop: Option<Arc<Notify>>) -> anyhow::Result<()> {
        let tokio = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .thread_name("agent")
            .build()?;
        let result = tokio.block_on(supervise(self.shared, self.source, self.local, stop));
        // Runs abandoned after the grace period go on in blocking threads
        // until their plugin's deadline; the agent does not wait for them
        // (they commit nothing once the process ends).
        tokio.shutdown_timeout(Duration::from_millis(100));
        result
    }
}

/// Starts the schedule, restarts it on reload, stops it on a signal.
/// `local` is the machine's own manifest; the one run is the fleet
/// server's when it has one for this machine.
async fn supervise(
    shared: Arc<Shared>,
    source: ManifestSource,
    mut local: Manifest,
    stop: Option<Arc<Notify>>,
) -> anyhow::Result<()> {
    let mut signals = Signals::new(stop)?;
    let server_manifest = Arc::new(Notify::new());
    let mut manifest = crate::fleet::manifest::effective(&shared.state_dir, local.clone());
    // The file's modification time when it was last loaded. A failed load
    // (say, of a file caught half-written) is tried once more at the next
    // poll, then left alone until the file changes again.
    let mut loaded_stamp = source.modified();
    let mut failed: Option<(Option<SystemTime>, u32)> = None;
    // Enrolling, leaving or enrolling again while the agent runs changes
    // its fleet file: the schedule starts again with (or without) shipping.
    let membership_file = shared.state_dir.join(crate::fleet::MEMBERSHIP_FILE);
    let membership_stamp = || std::fs::metadata(&membership_file).and_then(|m| m.modified()).ok();
    let mut membership_seen = membership_stamp();
    loop {
        let (stop, schedule) = start_schedule(&shared, &manifest, &local, &server_manifest).await?;
        let mut reload = false;
        let mut poll = tokio::time::interval(MANIFEST_POLL);
        poll.tick().await;
        let mut prune = tokio::time::interval(PRUNE_EVERY);
        loop {
            tokio::select! {
                signal = signals.next() => match signal {
                    Signal::Stop => break,
                    Signal::Reload => { reload = true; break; }
                },
                _ = server_manifest.notified() => { reload = true; break; }
                _ = poll.tick() => {
                    let stamp = source.modified();
                    let given_up = failed.is_some_and(|(f, attempts)| f == stamp && attempts >= 2);
                    if stamp != loaded_stamp && !given_up {
                        tracing::info!("the manifest file changed");
                        reload = true;
                        break;
                    }
                    let membership_now = membership_stamp();
                    if membership_now != membership_seen {
                        tracing::info!("the fleet membership changed");
                        membership_seen = membership_now;
                        reload = true;
                        break;
                    }
                }
                _ = prune.tick() => prune_history(&shared, &manifest).await,
            }
        }
        stop_schedule(stop, schedule).await;
        if !reload {
            tracing::info!("agent stopped");
            return Ok(());
        }
        let stamp = source.modified();
        match source.load() {
            Ok(new) => {
                local = new;
                loaded_stamp = stamp;
                failed = None;
            }
            Err(error) => {
                tracing::error!("manifest not reloaded, keeping the previous one: {error:#}");
                let attempts = failed.filter(|(f, _)| *f == stamp).map_or(0, |(_, a)| a);
                failed = Some((stamp, attempts + 1));
            }
        }
        manifest = crate::fleet::manifest::effective(&shared.state_dir, local.clone());
        tracing::info!("manifest reloaded from {}", manifest.source);
    }
}

/// Loads the manifest's plugins and starts one loop per collector that runs
/// here, and the fleet tasks when the machine is enrolled.
async fn start_schedule(
    shared: &Arc<Shared>,
    manifest: &Manifest,
    local: &Manifest,
    server_manifest: &Arc<Notify>,
) -> anyhow::Result<(watch::Sender<bool>, JoinSet<()>)> {
    let setup = {
        let shared = shared.clone();
        let manifest = manifest.clone();
        tokio::task::spawn_blocking(move || -> anyhow::Result<LoadedPlugins> {
            let mut store = shared.store.lock().unwrap_or_else(|p| p.into_inner());
            scan::forget_untracked(&mut store, &manifest, &shared.machine)?;
            Ok(LoadedPlugins::load(
                &shared.runtime,
                manifest.collectors.iter().map(|c| &c.plugin),
            ))
        })
    };
    let plugins = setup.await??;
    let parallel = manifest
        .agent
        .parallel
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()).min(4));
    let permits = Arc::new(Semaphore::new(parallel));
    let (stop, stopped) = watch::channel(false);
    let mut schedule = JoinSet::new();
    let alerts = Arc::new(RunWake::default());
    schedule.spawn(alert_loop(
        shared.clone(),
        Arc::new(manifest.alerts.clone()),
        alerts.clone(),
        stopped.clone(),
    ));
    if !manifest.outputs.is_empty() {
        let outputs = crate::outputs::Outputs::new(&manifest.outputs, &shared.state_dir);
        schedule.spawn(output_loop(shared.clone(), outputs, alerts.clone(), stopped.clone()));
    }
    match crate::fleet::Membership::load(&shared.state_dir) {
        Ok(Some(membership)) => {
            schedule.spawn(crate::fleet::manifest_loop(
                shared.state_dir.clone(),
                membership.clone(),
                local.clone(),
                crate::fleet::manifest::kept(&shared.state_dir),
                server_manifest.clone(),
                stopped.clone(),
            ));
            schedule.spawn(crate::fleet::ship_loop(
                shared.state_dir.clone(),
                membership,
                alerts.committed.clone(),
                stopped.clone(),
            ));
        }
        Ok(None) => {}
        Err(error) => tracing::error!("not shipping: {error}"),
    }
    if manifest.collectors.is_empty() {
        tracing::warn!("the manifest {} has no collectors: nothing to collect", manifest.source);
    }
    let mut scheduled = 0;
    for spec in &manifest.collectors {
        match select(spec, &shared.machine, &plugins) {
            Selection::Ready(plugin) => {
                let spec = crate::collectors::grants::effective(spec, &plugin);
                let task = CollectorTask {
                    shared: shared.clone(),
                    interval: spec.interval_on(shared.machine.os),
                    spec: spec.clone().into_owned(),
                    plugin,
                    permits: permits.clone(),
                    stopped: stopped.clone(),
                    alerts: alerts.clone(),
                };
                if spec.interval.is_some_and(|asked| asked > task.interval) {
                    tracing::warn!(
                        collector = %spec.name,
                        "its interval is longer than {}: it runs every {} (a full collection at least daily)",
                        crate::runtime::humanize(crate::manifest::FULL_RUN_CAP),
                        crate::runtime::humanize(task.interval)
                    );
                }
                tracing::info!(collector = %spec.name, "scheduled every {}", crate::runtime::humanize(task.interval));
                schedule.spawn(task.run());
                scheduled += 1;
            }
            Selection::Unusable(error) => tracing::error!(collector = %spec.name, "not scheduled: {error}"),
            Selection::Disabled | Selection::OtherOs(_) => {
                tracing::debug!(collector = %spec.name, "not scheduled on this machine")
            }
        }
    }
    tracing::info!("agent running {scheduled} collectors, at most {parallel} at once");
    Ok((stop, schedule))
}

/// Tells the loops to stop and waits for in-flight runs, up to the grace period.
async fn stop_schedule(stop: watch::Sender<bool>, mut schedule: JoinSet<()>) {
    let _ = stop.send(true);
    let drained = tokio::time::timeout(STOP_GRACE, async { while schedule.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(
            "{} runs did not finish within {}; abandoned (nothing of them was committed)",
            schedule.len(),
            crate::runtime::humanize(STOP_GRACE)
        );
        schedule.abort_all();
    }
}

/// What starts a run.
#[derive(Debug, Clone, PartialEq, Eq)]
enum RunCause {
    /// The collector's interval came round.
    Scheduled,
    /// Events on these paths (or a registry collector's keys): a targeted
    /// re-check.
    Changed(Vec<String>),
    /// Events that call for a whole collection (or that could not be seen).
    Events(String),
}

impl RunCause {
    fn from_trigger(trigger: Trigger) -> RunCause {
        match trigger {
            Trigger::Changed(paths) => RunCause::Changed(paths),
            Trigger::Collect => RunCause::Events("what it reads changed".into()),
            Trigger::Rescan(why) => RunCause::Events(why),
        }
    }

    /// Joins a later trigger into this cause: paths add up, a whole
    /// collection covers everything.
    fn absorb(&mut self, trigger: Trigger) {
        let next = RunCause::from_trigger(trigger);
        *self = match (std::mem::replace(self, RunCause::Scheduled), next) {
            (RunCause::Changed(mut paths), RunCause::Changed(more)) => {
                paths.extend(more);
                if paths.len() > MAX_TARGETED_PATHS {
                    RunCause::Events(format!("more than {MAX_TARGETED_PATHS} paths changed"))
                } else {
                    RunCause::Changed(paths)
                }
            }
            (whole @ RunCause::Events(_), _) => whole,
            (_, other) => other,
        };
    }
}

impl RunCause {
    /// What the run asks of the pipeline.
    fn request(self) -> Request {
        match self {
            RunCause::Changed(paths) => Request::Changed(paths),
            RunCause::Scheduled | RunCause::Events(_) => Request::Scheduled,
        }
    }
}

/// The agent's run-completed hook: wakes the alert task when a run
/// recorded changes, and the shipping and output tasks when a run was
/// committed.
#[derive(Default)]
struct RunWake {
    changes: Notify,
    committed: Arc<Notify>,
    outputs: Notify,
}

impl RunHook for RunWake {
    fn run_completed(&self, report: &CollectorReport) {
        if report.changes() > 0 {
            self.changes.notify_one();
        }
        if report.run_id.is_some() {
            self.committed.notify_one();
            self.outputs.notify_one();
        }
    }
}

/// One collector's loop: wait for its interval or for events on what it
/// reads, run, record, until stopped.
struct CollectorTask {
    shared: Arc<Shared>,
    spec: CollectorSpec,
    plugin: Arc<Plugin>,
    interval: Duration,
    /// Bounds how many collectors run at once.
    permits: Arc<Semaphore>,
    stopped: watch::Receiver<bool>,
    alerts: Arc<RunWake>,
}

impl CollectorTask {
    async fn run(mut self) {
        let (trigger_sender, mut triggers) = tokio::sync::mpsc::unbounded_channel();
        let _watch = self.watch(trigger_sender);
        // A collector with no baseline runs at once: until it has one,
        // changes cannot be told apart from what was there. Others spread
        // their first runs over a little time, then keep to the interval
        // with jitter.
        let first = if self.has_baseline().await {
            first_delay(self.interval)
        } else {
            tracing::info!(collector = %self.spec.name, "no baseline yet: collecting now");
            Duration::ZERO
        };
        let mut next_scheduled = tokio::time::Instant::now() + first;
        let mut last_event_run: Option<tokio::time::Instant> = None;
        loop {
            let cause = tokio::select! {
                _ = tokio::time::sleep_until(next_scheduled) => RunCause::Scheduled,
                Some(trigger) = triggers.recv() => {
                    // Let a burst of events settle, then take all of it.
                    tokio::time::sleep(DEBOUNCE).await;
                    let mut cause = RunCause::from_trigger(trigger);
                    while let Ok(more) = triggers.try_recv() {
                        cause.absorb(more);
                    }
                    cause
                }
                _ = self.stopped.changed() => return,
            };
            if let (RunCause::Events(_), Some(last)) = (&cause, last_event_run) {
                tokio::select! {
                    _ = tokio::time::sleep_until(last + MIN_EVENT_GAP) => {}
                    _ = self.stopped.changed() => return,
                }
            }
            if let RunCause::Events(why) = &cause {
                last_event_run = Some(tokio::time::Instant::now());
                tracing::debug!(collector = %self.spec.name, "collecting now: {why}");
            }
            let scheduled = cause == RunCause::Scheduled;
            if !self.run_once(cause).await {
                return;
            }
            if scheduled {
                next_scheduled = tokio::time::Instant::now() + jittered(self.interval);
            }
        }
    }

    /// Whether the store holds a baseline of this collector (an unreadable
    /// store counts as having one: the schedule then goes as usual).
    async fn has_baseline(&self) -> bool {
        let (shared, name) = (self.shared.clone(), self.spec.name.clone());
        let asked = tokio::task::spawn_blocking(move || {
            let reader = shared.reader.lock().unwrap_or_else(|p| p.into_inner());
            reader.baseline(&name)
        })
        .await;
        match asked {
            Ok(Ok(baseline)) => baseline.is_some(),
            Ok(Err(error)) => {
                tracing::warn!(collector = %self.spec.name, "cannot read its baseline: {error}");
                true
            }
            Err(_) => true,
        }
    }

    /// Watches what the collector reads, unless `watch = false`.
    fn watch(&self, triggers: tokio::sync::mpsc::UnboundedSender<Trigger>) -> Option<CollectorWatch> {
        if !self.spec.watch {
            return None;
        }
        match crate::watch::watch(&self.spec, &self.shared.machine, triggers) {
            Ok(Some(watch)) => {
                tracing::info!(collector = %self.spec.name, "watching {} places for changes", watch.watched);
                Some(watch)
            }
            Ok(None) => None,
            Err(error) => {
                tracing::warn!(collector = %self.spec.name, "{error}; collected on its schedule only");
                None
            }
        }
    }

    /// One run, once a permit is free; false when the agent stops first.
    async fn run_once(&mut self, cause: RunCause) -> bool {
        let permit = tokio::select! {
            permit = self.permits.clone().acquire_owned() => permit,
            _ = self.stopped.changed() => return false,
        };
        let Ok(_permit) = permit else { return false };
        let (shared, spec, plugin, alerts) = (
            self.shared.clone(),
            self.spec.clone(),
            self.plugin.clone(),
            self.alerts.clone(),
        );
        let run = tokio::task::spawn_blocking(move || {
            let ctx = pipeline::Context {
                machine: &shared.machine,
                store: &shared.store,
                reader: &shared.reader,
                hook: &*alerts,
            };
            pipeline::run_collector(&ctx, &spec, &plugin, cause.request());
            // A running agent beats at most once a minute, however often
            // its collectors run.
            let mut store = shared.store.lock().unwrap_or_else(|p| p.into_inner());
            let beat = store.record_heartbeat(&shared.machine.hostname, &shared.heartbeat, &timefmt::now(), 60);
            if let Err(error) = beat {
                tracing::warn!("cannot record the heartbeat: {error}");
            }
        });
        if let Err(error) = run.await {
            tracing::error!(collector = %self.spec.name, "run failed: {error}");
        }
        true
    }
}

/// Evaluates the alert rules when changes were recorded, then delivers what
/// is pending. A stop lets the attempt in flight finish; deliveries not yet
/// made stay pending for the next start.
async fn alert_loop(
    shared: Arc<Shared>,
    rules: Arc<Vec<crate::manifest::alerts::AlertRule>>,
    changes_recorded: Arc<RunWake>,
    mut stopped: watch::Receiver<bool>,
) {
    let stop = Arc::new(AtomicBool::new(false));
    loop {
        let work = {
            let (shared, rules, stop) = (shared.clone(), rules.clone(), stop.clone());
            tokio::task::spawn_blocking(move || {
                {
                    let mut store = shared.store.lock().unwrap_or_else(|p| p.into_inner());
                    if let Err(error) = crate::alerts::evaluate(&mut store, &rules, &shared.machine.hostname) {
                        tracing::error!("alert rules not evaluated: {error}");
                    }
                }
                if let Err(error) = crate::alerts::deliver_pending(&shared.store, &rules, &stop) {
                    tracing::error!("alerts not delivered: {error}");
                }
            })
        };
        tokio::pin!(work);
        tokio::select! {
            _ = &mut work => {}
            _ = stopped.changed() => {
                stop.store(true, Ordering::Relaxed);
                let _ = work.await;
                return;
            }
        }
        tokio::select! {
            _ = changes_recorded.changes.notified() => {}
            _ = stopped.changed() => return,
        }
    }
}

/// Sends the outputs what was recorded: at start (what was recorded while
/// the agent was down), then after each committed run. After a failure
/// (or an output another process was sending) they are tried again after a
/// backoff (5 s, doubled up to 5 min), whatever runs commit meanwhile.
async fn output_loop(
    shared: Arc<Shared>,
    mut outputs: crate::outputs::Outputs,
    runs: Arc<RunWake>,
    mut stopped: watch::Receiver<bool>,
) {
    const FIRST_BACKOFF: Duration = Duration::from_secs(5);
    let stop = Arc::new(AtomicBool::new(false));
    let mut backoff = FIRST_BACKOFF;
    loop {
        // Handed to the blocking send and back (it keeps tokens between sends).
        let mut sending = outputs;
        let work = {
            let (shared, stop) = (shared.clone(), stop.clone());
            tokio::task::spawn_blocking(move || {
                // A panic in a send is caught here, so that the outputs come
                // back and are tried again: their positions are in the store.
                let sent = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    sending.send_pending(&shared.store, &stop)
                }));
                let failed = match sent {
                    // Busy: another process sends; this one tries again later.
                    Ok(Ok(reports)) => reports.iter().any(|r| r.error.is_some() || r.busy),
                    Ok(Err(error)) => {
                        tracing::error!("outputs not sent: {error}");
                        true
                    }
                    Err(_) => {
                        tracing::error!("outputs not sent: the send panicked");
                        true
                    }
                };
                (sending, failed)
            })
        };
        tokio::pin!(work);
        let failed = tokio::select! {
            done = &mut work => match done {
                Ok((sending, failed)) => {
                    outputs = sending;
                    failed
                }
                Err(error) => {
                    tracing::error!("outputs stopped: {error}");
                    return;
                }
            },
            _ = stopped.changed() => {
                stop.store(true, Ordering::Relaxed);
                let _ = work.await;
                return;
            }
        };
        if failed {
            // The backoff holds even when runs commit meanwhile: a
            // collector that is down is not asked again at every run.
            let wait = backoff;
            backoff = (backoff * 2).min(Duration::from_secs(300));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stopped.changed() => return,
            }
        } else {
            backoff = FIRST_BACKOFF;
            tokio::select! {
                _ = runs.outputs.notified() => {}
                _ = stopped.changed() => return,
            }
        }
    }
}

/// Up to a tenth of the interval (at most 30 s) before the first run.
fn first_delay(interval: Duration) -> Duration {
    let spread = (interval / 10).min(Duration::from_secs(30));
    spread.mul_f64(fastrand::f64())
}

/// The interval, give or take a tenth of it (at most a minute).
fn jittered(interval: Duration) -> Duration {
    let jitter = (interval / 10).min(Duration::from_secs(60));
    (interval + jitter.mul_f64(fastrand::f64() * 2.0)).saturating_sub(jitter)
}

async fn prune_history(shared: &Arc<Shared>, manifest: &Manifest) {
    let Some(retention) = manifest.agent.retention else {
        return;
    };
    let shared = shared.clone();
    // Changes an output has still to send are kept.
    let outputs: Vec<String> = manifest
        .outputs
        .iter()
        .filter(|o| o.records.changes)
        .map(|o| o.name.clone())
        .collect();
    let pruned = tokio::task::spawn_blocking(move || {
        let cutoff = jiff::Timestamp::now()
            .checked_sub(jiff::SignedDuration::try_from(retention).unwrap_or(jiff::SignedDuration::MAX))
            .unwrap_or(jiff::Timestamp::MIN);
        let mut store = shared.store.lock().unwrap_or_else(|p| p.into_inner());
        let pruned = store.prune_history(&timefmt::format(cutoff), &outputs)?;
        // Contents go with the history that referred to them.
        let contents = store.collect_content_garbage()?;
        Ok::<_, crate::store::StoreError>((pruned.0, pruned.1, contents))
    })
    .await;
    match pruned {
        Ok(Ok((changes, runs, contents))) if changes + runs + contents > 0 => {
            tracing::info!(
                "history pruned: {changes} changes, {runs} runs and {contents} captured contents older than the retention"
            )
        }
        Ok(Ok(_)) => {}
        Ok(Err(error)) => tracing::error!("pruning history failed: {error}"),
        Err(error) => tracing::error!("pruning history failed: {error}"),
    }
}

/// An exclusive lock on `<state>/agent.lock`, released when the process ends
/// (however it ends).
fn lock_state_dir(state_dir: &Path) -> anyhow::Result<std::fs::File> {
    std::fs::create_dir_all(state_dir)?;
    let path = state_dir.join("agent.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => {
            anyhow::bail!(
                "another driftwatch agent is running with the state directory {}",
                state_dir.display()
            )
        }
        Err(std::fs::TryLockError::Error(error)) => {
            Err(anyhow::Error::new(error).context(format!("locking {}", path.display())))
        }
    }
}

enum Signal {
    Stop,
    /// SIGHUP; elsewhere a saved manifest is the only way to ask for a reload.
    #[cfg_attr(not(unix), expect(dead_code, reason = "no SIGHUP outside Unix"))]
    Reload,
}

/// The signals the agent acts on, and a stop asked for in-process.
struct Signals {
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    hangup: tokio::signal::unix::Signal,
    stop: Option<Arc<Notify>>,
}

impl Signals {
    #[cfg(unix)]
    fn new(stop: Option<Arc<Notify>>) -> std::io::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
            hangup: signal(SignalKind::hangup())?,
            stop,
        })
    }

    #[cfg(not(unix))]
    fn new(stop: Option<Arc<Notify>>) -> std::io::Result<Signals> {
        Ok(Signals { stop })
    }

    #[cfg(unix)]
    async fn next(&mut self) -> Signal {
        let stop = self.stop.clone();
        tokio::select! {
            _ = stop_asked(stop.as_deref()) => { tracing::info!("asked to stop: stopping"); Signal::Stop }
            _ = self.terminate.recv() => { tracing::info!("SIGTERM: stopping"); Signal::Stop }
            _ = self.interrupt.recv() => { tracing::info!("SIGINT: stopping"); Signal::Stop }
            _ = self.hangup.recv() => { tracing::info!("SIGHUP: reloading the manifest"); Signal::Reload }
        }
    }

    /// A service (which has a stop notifier) has no console: Ctrl+C is
    /// not listened for there. Where listening fails, that is no stop.
    #[cfg(not(unix))]
    async fn next(&mut self) -> Signal {
        if self.stop.is_none() {
            match tokio::signal::ctrl_c().await {
                Ok(()) => tracing::info!("interrupted: stopping"),
                Err(error) => {
                    tracing::warn!("cannot listen for Ctrl+C ({error}): the agent runs until it is ended");
                    std::future::pending::<()>().await;
                }
            }
            return Signal::Stop;
        }
        stop_asked(self.stop.as_deref()).await;
        tracing::info!("asked to stop: stopping");
        Signal::Stop
    }
}

/// A stop asked for in-process; never, without a notifier.
async fn stop_asked(stop: Option<&Notify>) {
    match stop {
        Some(stop) => stop.notified().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_gather_into_one_run() {
        let changed = |p: &[&str]| Trigger::Changed(p.iter().map(|s| s.to_string()).collect());
        let mut cause = RunCause::from_trigger(changed(&["/a"]));
        cause.absorb(changed(&["/b", "/c"]));
        assert_eq!(cause, RunCause::Changed(vec!["/a".into(), "/b".into(), "/c".into()]));
        cause.absorb(Trigger::Rescan("overflow".into()));
        assert_eq!(cause, RunCause::Events("overflow".into()));
        cause.absorb(changed(&["/d"]));
        assert_eq!(
            cause,
            RunCause::Events("overflow".into()),
            "a whole collection covers later paths"
        );
        let many: Vec<String> = (0..=MAX_TARGETED_PATHS).map(|i| format!("/f{i}")).collect();
        let mut cause = RunCause::from_trigger(changed(&["/x"]));
        cause.absorb(Trigger::Changed(many));
        assert!(
            matches!(cause, RunCause::Events(_)),
            "too many paths: re-check everything"
        );
    }

    #[test]
    fn jitter_stays_within_a_tenth() {
        let interval = Duration::from_secs(300);
        for _ in 0..1000 {
            let d = jittered(interval);
            assert!(d >= Duration::from_secs(270) && d <= Duration::from_secs(330), "{d:?}");
            assert!(first_delay(interval) <= Duration::from_secs(30));
        }
        assert!(jittered(Duration::from_secs(86_400)) >= Duration::from_secs(86_340));
    }

    #[test]
    fn one_agent_per_state_directory() {
        let dir = tempfile::tempdir().unwrap();
        let first = lock_state_dir(dir.path()).unwrap();
        let second = lock_state_dir(dir.path()).unwrap_err();
        assert!(
            second.to_string().contains("another driftwatch agent is running"),
            "{second}"
        );
        drop(first);
        lock_state_dir(dir.path()).unwrap();
    }
}
