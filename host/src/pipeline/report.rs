//! What a collector's run came to, for the caller, the log and the
//! run-completed hook.

use std::time::Duration;

use crate::change_engine::Scope;
use crate::kind::Kind;
use crate::runtime::bindings::types::Warning;

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
    /// What the run looked at; none when it did not run.
    pub scope: Option<Scope>,
    /// Its `CollectorRun` row, when it was recorded.
    pub run_id: Option<i64>,
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

    pub fn failed(&self) -> bool {
        matches!(self.outcome, Outcome::Failed(_))
    }

    /// Says how the run ended in the log.
    pub(super) fn log(&self) {
        let collector = self.collector.as_str();
        match &self.outcome {
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
                let scope = self.scope.as_ref().map_or("", Scope::as_str);
                if *changes > 0 {
                    tracing::info!(collector, items, changes, scope, "collected");
                } else {
                    tracing::debug!(collector, items, changes, scope, "collected");
                }
            }
            Outcome::Skipped(reason) => tracing::debug!(collector, "skipped: {reason}"),
        }
    }
}

/// Where later work attaches to finished runs: called once per run, after
/// what it recorded is committed (alerts today).
pub trait RunHook: Sync {
    fn run_completed(&self, report: &CollectorReport);
}

/// No hook.
impl RunHook for () {
    fn run_completed(&self, _: &CollectorReport) {}
}
