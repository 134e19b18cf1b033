//! Deciding a run's scope before it starts: full, incremental, or targeted
//! at the paths file events named.

use std::sync::Arc;
use std::time::Duration;

use crate::change_engine::{Baseline, KeyScope, Scope};
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
    /// Events on these paths (as the plugin names them), or for a registry
    /// collector these keys (normalized).
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
    if let Request::Changed(keys) = &request
        && spec.kind == Kind::Registry
    {
        return registry_keys(store, spec, baseline, keys);
    }
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

/// After registry events on `keys` (normalized, as watched): the rules that
/// read those keys, when the stored inventory was taken under the current
/// settings; a full collection otherwise.
fn registry_keys(store: &Store, spec: &CollectorSpec, baseline: &Baseline, keys: &[String]) -> Decision {
    let current = matches!(store.baseline(&spec.name), Ok(Some(stored)) if stored.baseline == *baseline);
    let rules: Vec<KeyScope> = spec
        .keys
        .iter()
        .filter_map(|rule| {
            let key = reads_one_of(rule, keys)?;
            Some(KeyScope {
                rule: rule.name.clone(),
                key,
                depth: match (rule.recurse, rule.max_depth) {
                    (false, _) => 0,
                    (true, 0) => u32::MAX,
                    (true, depth) => depth,
                },
                value: rule.value.clone(),
            })
        })
        .collect();
    if !current || rules.is_empty() {
        return Decision::full();
    }
    Decision {
        scope: Scope::Keys(rules),
        index: None,
    }
}

/// A registry collector's entry narrowed to the rules a targeted run reads;
/// `None` for any other scope (the plugin gets the whole entry).
pub fn narrowed(spec: &CollectorSpec, scope: &Scope) -> Option<CollectorSpec> {
    let Scope::Keys(rules) = scope else {
        return None;
    };
    let keys: Vec<String> = rules.iter().map(|r| r.key.clone()).collect();
    let mut narrowed = spec.clone();
    narrowed.keys.retain(|rule| reads_one_of(rule, &keys).is_some());
    Some(narrowed)
}

/// The normalized key of an enabled rule that reads one of `keys`.
fn reads_one_of(rule: &crate::manifest::KeyRule, keys: &[String]) -> Option<String> {
    let key = windows_paths::registry_key::normalize(&rule.key).ok()?;
    (rule.enabled && keys.iter().any(|changed| changed.eq_ignore_ascii_case(&key))).then_some(key)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::fingerprint;
    use crate::inventory::DataType;
    use crate::manifest::Manifest;
    use crate::store::{Ending, NONE_RETAINED, RunInfo};

    const MANIFEST: &str = r#"
[[collector]]
name = "reg"
kind = "registry"
plugin = "registry-windows"
  [[collector.keys]]
  name = "run"
  key = 'HKLM\Software\Microsoft\Windows\CurrentVersion\Run'
  [[collector.keys]]
  name = "services"
  key = 'HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services'
  recurse = true
  max_depth = 2
"#;

    fn spec() -> CollectorSpec {
        let manifest = Manifest::parse(MANIFEST, "t.toml", std::path::Path::new("/")).unwrap();
        manifest.collectors.into_iter().next().unwrap()
    }

    /// A store holding a full collection of `spec` under its settings.
    fn collected(dir: &std::path::Path, spec: &CollectorSpec) -> Store {
        let mut store = Store::open(dir).unwrap();
        let run = RunInfo {
            collector: &spec.name,
            plugin: "registry-windows",
            plugin_version: "1",
            computer: "host",
            started: "2026-12-03T00:00:00Z",
        };
        let recording = store
            .begin_recording(&run, DataType::Registry, &Scope::Full, &fingerprint::baseline(spec))
            .unwrap();
        let ending = Ending {
            complete: true,
            retained: NONE_RETAINED,
            retained_count: 0,
            warnings: 0,
            duration: Duration::ZERO,
        };
        recording.finish(ending).unwrap();
        store
    }

    #[test]
    fn a_changed_key_runs_the_rules_that_read_it() {
        let dir = tempfile::tempdir().unwrap();
        let spec = spec();
        let store = collected(dir.path(), &spec);
        let changed = Request::Changed(vec![r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services".into()]);
        let decision = decide(&store, &spec, &fingerprint::baseline(&spec), changed);
        let Scope::Keys(rules) = &decision.scope else {
            panic!("{:?}", decision.scope);
        };
        assert_eq!(rules.len(), 1);
        assert_eq!(
            (rules[0].rule.as_str(), rules[0].key.as_str(), rules[0].depth),
            ("services", r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services", 2)
        );
        // The plugin is given that rule alone.
        let given = narrowed(&spec, &decision.scope).unwrap();
        let names: Vec<&str> = given.keys.iter().map(|k| k.name.as_str()).collect();
        assert_eq!(names, ["services"]);
        assert!(narrowed(&spec, &Scope::Full).is_none());
    }

    #[test]
    fn a_changed_key_collects_everything_without_a_current_baseline() {
        let dir = tempfile::tempdir().unwrap();
        let spec = spec();
        let changed = || {
            Request::Changed(vec![
                r"HKEY_LOCAL_MACHINE\Software\Microsoft\Windows\CurrentVersion\Run".into(),
            ])
        };
        let empty = Store::open(dir.path()).unwrap();
        let decision = decide(&empty, &spec, &fingerprint::baseline(&spec), changed());
        assert_eq!(decision.scope, Scope::Full);
        drop(empty);
        // Taken under other settings: the rules' fingerprints differ.
        let mut other = spec.clone();
        other.keys.pop();
        let store = collected(dir.path(), &other);
        let decision = decide(&store, &spec, &fingerprint::baseline(&spec), changed());
        assert_eq!(decision.scope, Scope::Full);
        // A key no rule reads.
        let decision = decide(
            &store,
            &other,
            &fingerprint::baseline(&other),
            Request::Changed(vec![r"HKEY_LOCAL_MACHINE\SOFTWARE\Elsewhere".into()]),
        );
        assert_eq!(decision.scope, Scope::Full);
    }
}
