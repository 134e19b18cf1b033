//! Running one collector: the one way `scan` and the agent both do it.
//!
//! 1. decide the run's scope (full, incremental, targeted) — `scope`;
//! 2. run the plugin in its sandbox on a thread of its own, under a
//!    watchdog; its items come out in batches — `collectors::sandboxed`;
//! 3. record them as they come: small collections in one short write, large
//!    ones streamed into the store's transaction (`queue`, `store::Recording`)
//!    so that a million files never sit in memory at once;
//! 4. tell the run-completed hook — `report::RunHook`.
//!
//! | module | job |
//! |---|---|
//! | `scope` | what a run looks at, decided before it starts |
//! | `queue` | batches from the plugin's thread to the recorder |
//! | `report` | how a run ended; the run-completed hook |

mod queue;
mod report;
pub mod scope;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub use report::{CollectorReport, Outcome, RunHook};
pub use scope::Request;

use crate::change_engine::{Baseline, Scope};
use crate::collectors::fingerprint;
use crate::collectors::sandboxed::{self, Ended, Job, WATCHDOG_GRACE};
use crate::inventory::{DataType, Item};
use crate::machine::Machine;
use crate::manifest::CollectorSpec;
use crate::runtime::bindings::types::{CollectError, Warning};
use crate::runtime::{Plugin, RunError, StatIndex};
use crate::store::{Ending, RunInfo, Store, StoreError};
use crate::timefmt;
use queue::{BatchQueue, Next};

/// Items gathered before a run starts writing into the store while it
/// collects; smaller collections are recorded in one short write at the end.
const STREAM_AFTER: usize = 8192;

/// What every run shares.
pub struct Context<'a> {
    pub machine: &'a Machine,
    /// Where runs are recorded. A large collection holds it while it is
    /// written, in one transaction.
    pub store: &'a Mutex<Store>,
    /// A second connection to the same store, for what a run reads before
    /// it starts (its baseline, its stat index): runs start while another
    /// one is being written.
    pub reader: &'a Mutex<Store>,
    pub hook: &'a dyn RunHook,
}

impl Context<'_> {
    fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn reader(&self) -> MutexGuard<'_, Store> {
        self.reader.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What travels from the plugin's thread to the recorder.
enum Message {
    Items(Vec<Item>),
    Ended(Result<Ended, RunError>),
}

/// Runs one collector whose plugin is ready, records the run, and tells the
/// hook. Failures are the run's outcome, never a panic or an error of the
/// caller's: the other collectors carry on.
pub fn run_collector(ctx: &Context, spec: &CollectorSpec, plugin: &Arc<Plugin>, request: Request) -> CollectorReport {
    let started = timefmt::now();
    let info = plugin.info();
    let run = RunInfo {
        collector: &spec.name,
        plugin: &info.name,
        plugin_version: &info.version,
        computer: &ctx.machine.hostname,
        started: &started,
    };
    let baseline = fingerprint::baseline(spec);
    let prepared = {
        let mut reader = ctx.reader();
        translate_fingerprints(&mut reader, spec, &baseline)
            .map(|()| (scope::decide(&reader, spec, &baseline, request), reader.content()))
    };
    // The run's own time starts here: waiting to read its baseline is not its.
    let clock = Instant::now();
    let (outcome, scope) = match prepared {
        Err(error) => (Recorded::failed(ctx, &run, None, clock, error), None),
        Ok((decision, content)) => {
            let narrowed = scope::narrowed(spec, &decision.scope);
            let job = Job::new(
                plugin,
                narrowed.as_ref().unwrap_or(spec),
                ctx.machine,
                decision.index.clone(),
                &content,
            );
            let budget = job.budget();
            let queue = Arc::new(BatchQueue::default());
            let outcome = match start(job, queue.clone()) {
                Ok(()) => Recorder {
                    ctx,
                    run: &run,
                    data_type: DataType::of(spec.kind, ctx.machine.os),
                    scope: &decision.scope,
                    baseline,
                    index: decision.index.as_deref(),
                    queue: &queue,
                    deadline: clock + budget + WATCHDOG_GRACE,
                    budget,
                    clock,
                    spec,
                    plugin,
                }
                .record(),
                Err(error) => Recorded::failed(ctx, &run, Some(&decision.scope), clock, error),
            };
            (outcome, Some(decision.scope))
        }
    };
    let report = CollectorReport {
        collector: spec.name.clone(),
        kind: spec.kind,
        plugin: info.name.clone(),
        plugin_version: (!info.version.is_empty()).then(|| info.version.clone()),
        started,
        // A collector that did not apply looked at nothing.
        scope: scope.filter(|_| !matches!(outcome.outcome, Outcome::Skipped(_))),
        run_id: outcome.run_id,
        outcome: outcome.outcome,
        duration: clock.elapsed(),
    };
    report.log();
    ctx.hook.run_completed(&report);
    report
}

/// A baseline stored under an older fingerprint scheme is translated to
/// today's before the run compares anything with it. If that cannot be
/// done, the run must not go on: every rule would look changed, and the
/// whole inventory would be re-baselined in silence.
fn translate_fingerprints(store: &mut Store, spec: &CollectorSpec, current: &Baseline) -> Result<(), String> {
    let earlier = fingerprint::earlier(spec);
    let translate = |stored: Baseline| {
        earlier
            .iter()
            .fold(stored, |stored, old| stored.translate(old, current))
    };
    match store.translate_baseline(&spec.name, translate) {
        Ok(translated) => {
            if translated {
                tracing::info!(collector = %spec.name, "baseline fingerprints brought to scheme {}", fingerprint::VERSION);
            }
            Ok(())
        }
        Err(error) => Err(format!("the stored baseline could not be brought up to date: {error}")),
    }
}

/// Starts the plugin's run on its own thread; its items and its end come
/// through `queue`. The queue closes however the thread ends.
fn start(job: Job, queue: Arc<BatchQueue<Message>>) -> Result<(), RunError> {
    struct CloseOnExit(Arc<BatchQueue<Message>>);
    impl Drop for CloseOnExit {
        fn drop(&mut self) {
            self.0.close();
        }
    }
    sandboxed::spawn_run_thread(move || {
        let _close = CloseOnExit(queue.clone());
        let ended = job.run(&mut |items| {
            if queue.send(Message::Items(items)) {
                Ok(())
            } else {
                Err(RunError::Setup("the recording of this run stopped".into()))
            }
        });
        queue.send(Message::Ended(ended));
    })
}

/// A run's outcome and its `CollectorRun` row.
struct Recorded {
    outcome: Outcome,
    run_id: Option<i64>,
}

impl Recorded {
    fn failed(ctx: &Context, run: &RunInfo, scope: Option<&Scope>, clock: Instant, error: impl ToString) -> Recorded {
        let message = error.to_string();
        match ctx.store().record_failed(run, &message, scope, clock.elapsed()) {
            Ok(run_id) => Recorded {
                outcome: Outcome::Failed(message),
                run_id: Some(run_id),
            },
            Err(store_error) => Recorded {
                outcome: Outcome::Failed(format!("{message}; and not recorded: {store_error}")),
                run_id: None,
            },
        }
    }
}

/// Takes a run's items off the queue into the store.
struct Recorder<'r> {
    ctx: &'r Context<'r>,
    run: &'r RunInfo<'r>,
    data_type: DataType,
    scope: &'r Scope,
    baseline: Baseline,
    index: Option<&'r StatIndex>,
    queue: &'r BatchQueue<Message>,
    /// When the plugin's thread is given up on.
    deadline: Instant,
    budget: Duration,
    clock: Instant,
    /// The entry and its plugin, for the grants note of a run that found
    /// nothing to read.
    spec: &'r CollectorSpec,
    plugin: &'r Plugin,
}

/// Why a recording stopped before its run ended well.
enum Stop {
    Run(RunError),
    Store(StoreError),
}

impl Recorder<'_> {
    fn record(self) -> Recorded {
        // However this ends (a panic included), the plugin's thread must
        // not wait for a recorder that is gone.
        struct HangUpOnExit<'q>(&'q BatchQueue<Message>);
        impl Drop for HangUpOnExit<'_> {
            fn drop(&mut self) {
                self.0.hang_up();
            }
        }
        let _hang_up = HangUpOnExit(self.queue);
        // Gather until the run ends or is large enough to stream.
        let mut gathered: Vec<Vec<Item>> = Vec::new();
        let mut count = 0;
        let ended = loop {
            match self.next() {
                Ok(Message::Items(items)) => {
                    count += items.len();
                    gathered.push(items);
                    if count >= STREAM_AFTER {
                        break None;
                    }
                }
                Ok(Message::Ended(ended)) => break Some(ended),
                Err(error) => break Some(Err(error)),
            }
        };
        let ended = match ended {
            Some(Ok(Ended::NotApplicable(reason))) => return self.skipped(self.with_grant_note(reason)),
            Some(Err(error @ RunError::Collect(CollectError::NotFound(_)))) => {
                let message = self.with_grant_note(error.to_string());
                return Recorded::failed(self.ctx, self.run, Some(self.scope), self.clock, message);
            }
            Some(Err(error)) => return Recorded::failed(self.ctx, self.run, Some(self.scope), self.clock, error),
            Some(Ok(ended)) => Some(ended),
            None => None,
        };
        let mut store = self.ctx.store();
        let result = self.write(&mut store, gathered, ended);
        drop(store);
        match result {
            Ok(recorded) => recorded,
            Err(Stop::Run(error)) => Recorded::failed(self.ctx, self.run, Some(self.scope), self.clock, error),
            Err(Stop::Store(error)) => {
                let message = format!("collected, but not stored: {error}");
                Recorded::failed(self.ctx, self.run, Some(self.scope), self.clock, message)
            }
        }
    }

    /// Writes what was gathered and, unless the run already `ended`, the
    /// rest as it comes, in one transaction.
    fn write(&self, store: &mut Store, gathered: Vec<Vec<Item>>, ended: Option<Ended>) -> Result<Recorded, Stop> {
        let retained = |key: &str| self.index.is_some_and(|index| index.found_unchanged(key));
        let mut recording = store
            .begin_recording(self.run, self.data_type, self.scope, &self.baseline)
            .map_err(Stop::Store)?;
        self.queue.start_consuming();
        for items in gathered {
            recording.apply(items, &retained).map_err(Stop::Store)?;
        }
        let ended = match ended {
            Some(ended) => ended,
            None => loop {
                match self.next().map_err(Stop::Run)? {
                    Message::Items(items) => recording.apply(items, &retained).map_err(Stop::Store)?,
                    Message::Ended(ended) => break ended.map_err(Stop::Run)?,
                }
            },
        };
        let Ended::Collected { summary, notes } = ended else {
            return Err(Stop::Run(RunError::Setup(
                "a plugin that collected said it did not apply".into(),
            )));
        };
        let mut warnings = summary.warnings;
        let ending = Ending {
            complete: summary.incomplete.is_none(),
            retained: &retained,
            retained_count: self.index.map_or(0, StatIndex::unchanged_count),
            warnings: warnings.len() + notes.len(),
            duration: self.clock.elapsed(),
        };
        let recorded = recording.finish(ending).map_err(Stop::Store)?;
        let note = |message: String| Warning {
            subject: self.run.collector.to_string(),
            message,
        };
        warnings.extend(notes.into_iter().map(note));
        warnings.extend(recorded.duplicates.iter().map(|key| {
            note(format!(
                "{} item {key:?} reported more than once with different values; kept the first",
                self.data_type
            ))
        }));
        Ok(Recorded {
            outcome: Outcome::Collected {
                items: recorded.items,
                changes: recorded.changes,
                baseline: recorded.baseline,
                warnings,
                incomplete: summary.incomplete,
            },
            run_id: Some(recorded.run_id),
        })
    }

    /// The next message of the run; an error once the run is past its
    /// deadline or its thread ended without saying how.
    fn next(&self) -> Result<Message, RunError> {
        match self.queue.next(self.deadline) {
            Next::Batch(message) => Ok(message),
            Next::Closed => Err(sandboxed::ended_without_result()),
            Next::TimedOut => {
                self.queue.hang_up();
                tracing::error!(
                    collector = self.run.collector,
                    "plugin run abandoned after {:?}",
                    self.clock.elapsed()
                );
                Err(RunError::Abandoned(self.budget))
            }
        }
    }

    /// A reason for finding nothing, with what the entry's grants leave out.
    fn with_grant_note(&self, reason: String) -> String {
        match crate::collectors::grants::left_out_note(self.spec, self.plugin, self.ctx.machine) {
            Some(note) => format!("{reason} ({note})"),
            None => reason,
        }
    }

    fn skipped(&self, reason: String) -> Recorded {
        match self.ctx.store().record_skipped(self.run, &reason, self.clock.elapsed()) {
            Ok(run_id) => Recorded {
                outcome: Outcome::Skipped(reason),
                run_id: Some(run_id),
            },
            Err(error) => Recorded {
                outcome: Outcome::Failed(format!("not stored: {error}")),
                run_id: None,
            },
        }
    }
}
