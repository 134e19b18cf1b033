//! Deciding a run's scope before it starts: full, incremental, or targeted
//! at the paths file events named.

use std::sync::Arc;
use std::time::Duration;

use crate::change_engine::{Baseline, Scope};
use crate::kind::Kind;
use crate::manifest::{CollectorSpec, FULL_RUN_CAP};
use crate::runtime::{Focus, StatIndex};
use crate::store::Store;

/// What asked for a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// A scheduled run, or a scan: incremental where it can be.
    Scheduled,
    /// Everything, whatever could be skipped (`scan --full`).
    Full,
    /// File events on these paths (as the plugin names them).
    Changed(Vec<String>),
}

/// A run's scope, and for incremental and targeted runs what the last
/// collection saw of each file (the walk compares with it).
pub struct Decision {
    pub scope: Scope,
    pub index: Option<Arc<StatIndex>>,
}

impl Decision {
    fn full() -> Decision {
        Decision {
            scope: Scope::Full,
            index: None,
        }
    }
}

/// Incremental and targeted runs are for files collectors allowed to run
/// incrementally whose stored inventory was taken under their current
/// settings less than [`FULL_RUN_CAP`] after a full collection. Anything
/// else collects fully.
pub fn decide(store: &Store, spec: &CollectorSpec, baseline: &Baseline, request: Request) -> Decision {
    if request == Request::Full || !can_be_incremental(store, spec, baseline) {
        return Decision::full();
    }
    let (focus, paths) = match request {
        Request::Changed(paths) => {
            let focus = Focus::new(paths);
            let paths = focus.paths().to_vec();
            (Some(focus), Some(paths))
        }
        Request::Scheduled | Request::Full => (None, None),
    };
    let loading = std::time::Instant::now();
    let keys = match store.stat_keys(&spec.name, paths.as_deref()) {
        Ok(keys) => keys,
        Err(error) => {
            tracing::warn!(collector = %spec.name, "full collection: the stat index could not be read: {error}");
            return Decision::full();
        }
    };
    tracing::debug!(collector = %spec.name, files = keys.len(), elapsed = ?loading.elapsed(), "stat index loaded");
    match (focus, paths) {
        (Some(focus), Some(paths)) => Decision {
            scope: Scope::Targeted(paths),
            index: Some(Arc::new(StatIndex::new(keys).focused(focus))),
        },
        // Nothing to compare with: a full collection.
        _ if keys.is_empty() => Decision::full(),
        _ => Decision {
            scope: Scope::Incremental,
            index: Some(Arc::new(StatIndex::new(keys))),
        },
    }
}

/// `baseline`: the collector's fingerprints under its current settings.
fn can_be_incremental(store: &Store, spec: &CollectorSpec, baseline: &Baseline) -> bool {
    if spec.kind != Kind::Files || !spec.incremental {
        return false;
    }
    let Ok(Some(stored)) = store.baseline(&spec.name) else {
        return false;
    };
    let recent = stored
        .last_full
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .and_then(|t| jiff::Timestamp::now().duration_since(t).try_into().ok())
        .is_some_and(|age: Duration| age < FULL_RUN_CAP);
    recent && stored.baseline == *baseline
}
