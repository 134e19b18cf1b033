//! Turning manifest entries into runnable collectors on a given machine:
//! loading their plugins once, deciding which apply, building each run's
//! sandbox and settings, and running one collector under a watchdog.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::catalog::PluginRef;
use crate::change_engine::Baseline;
use crate::content_store::ContentStore;
use crate::inventory::{self, Inventory, Rejected, Value};
use crate::kind::{Kind, Os};
use crate::machine::Machine;
use crate::manifest::{Checksum, CollectorSpec, FileRule, Links, files};
use crate::runtime::bindings::types::{CollectionSummary, Setting};
use crate::runtime::bindings::{files_api, packages_api, registry_api, services_api};
use crate::runtime::grants::{self, Preopen};
use crate::runtime::registry_import::RegistryGrants;
use crate::runtime::{
    CaptureRule, Captured, ContentCapture, Limits, Plugin, Probe, RUN_THREAD_STACK, RunError, Runtime, Sandbox,
    Settings, StatIndex,
};

/// Longest a probe may take, whatever the collector's own timeout.
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);
/// Time allowed past a run's deadline before the watchdog gives up on it.
const WATCHDOG_GRACE: Duration = Duration::from_secs(5);

/// The plugins a manifest refers to, each loaded once.
#[derive(Default)]
pub struct LoadedPlugins {
    plugins: BTreeMap<PluginRef, Result<Arc<Plugin>, String>>,
}

impl LoadedPlugins {
    pub fn load<'a>(runtime: &Runtime, refs: impl IntoIterator<Item = &'a PluginRef>) -> LoadedPlugins {
        let mut plugins = BTreeMap::new();
        for plugin_ref in refs {
            if plugins.contains_key(plugin_ref) {
                continue;
            }
            let loaded = plugin_ref
                .wasm()
                .and_then(|wasm| runtime.load(&plugin_ref.to_string(), &wasm))
                .map(Arc::new)
                .map_err(|e| e.to_string());
            if let Err(error) = &loaded {
                tracing::error!("{error}");
            }
            plugins.insert(plugin_ref.clone(), loaded);
        }
        LoadedPlugins { plugins }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&PluginRef, &Result<Arc<Plugin>, String>)> {
        self.plugins.iter()
    }

    fn get(&self, plugin_ref: &PluginRef) -> Result<&Arc<Plugin>, String> {
        match self.plugins.get(plugin_ref) {
            Some(Ok(plugin)) => Ok(plugin),
            Some(Err(error)) => Err(error.clone()),
            None => Err(format!("plugin {plugin_ref} was not loaded")),
        }
    }
}

/// Whether a manifest entry can run on this machine.
pub enum Selection {
    /// `enabled = false`.
    Disabled,
    /// Its `os` list, or its plugin's platforms, leave this machine out.
    OtherOs(Vec<Os>),
    /// The plugin cannot be used.
    Unusable(String),
    Ready(Arc<Plugin>),
}

pub fn select(spec: &CollectorSpec, machine: &Machine, plugins: &LoadedPlugins) -> Selection {
    if !spec.enabled {
        return Selection::Disabled;
    }
    if !spec.runs_on(machine.os) {
        return Selection::OtherOs(spec.os.clone());
    }
    match plugins.get(&spec.plugin) {
        Err(error) => Selection::Unusable(error),
        Ok(plugin) if plugin.kind() != spec.kind => Selection::Unusable(format!(
            "plugin {} is a {} collector, but the manifest entry is of kind {}",
            spec.plugin,
            plugin.kind(),
            spec.kind
        )),
        // A plugin declares the systems it serves: elsewhere it is not even probed.
        Ok(plugin) if !plugin.info().platforms.is_empty() && !plugin.info().platforms.contains(&machine.os) => {
            Selection::OtherOs(plugin.info().platforms.clone())
        }
        Ok(plugin) => Selection::Ready(plugin.clone()),
    }
}

/// The read-only directories a collector's run gets: its grants, resolved on
/// the machine (inside `--root` for an image). Grants that do not exist there
/// are left out; the plugin's probe decides what that means.
pub fn preopens(spec: &CollectorSpec, machine: &Machine) -> Vec<Preopen> {
    let mut preopens = Vec::new();
    for grant in &grants(spec, machine) {
        match grants::resolve(grant, machine.root.as_deref(), machine.os == Os::Windows) {
            Ok(preopen) => {
                if !preopen.present {
                    tracing::debug!(collector = %spec.name, "grant {grant} does not exist here");
                }
                preopens.push(preopen);
            }
            Err(error) => tracing::warn!(collector = %spec.name, "{error}; not granted"),
        }
    }
    preopens
}

/// Where an offline Windows image keeps its hives: the machine's under
/// `Windows/System32/config`, each user's `NTUSER.DAT` in their profile.
pub const HIVE_FOLDERS: &[&str] = &["/Windows/System32/config", "/Users", "/Documents and Settings"];

/// The paths a collector may read: the manifest's grants, or, when it lists
/// none, what its settings imply — a files collector's tracked paths, a
/// registry collector's hive folders.
pub fn grants(spec: &CollectorSpec, machine: &Machine) -> Vec<String> {
    if !spec.grants.is_empty() {
        return spec.grants.clone();
    }
    let mut implied: Vec<String> = Vec::new();
    match spec.kind {
        Kind::Files => {
            for rule in spec.paths.iter().filter(|r| r.enabled) {
                let path = rule_path(rule, machine);
                let grant = if !windows_paths::env_vars::has_var(&path) {
                    files::grant_for(&path)
                } else if machine.is_live() {
                    // Unknown to the agent's environment: the plugin reports it.
                    continue;
                } else {
                    // Expanded by the plugin from the image's registry (in
                    // its hive files): the image's system drive is all that
                    // can be said beforehand.
                    implied.push(HIVE_FOLDERS[0].to_string());
                    "C:\\".to_string()
                };
                implied.push(grant);
            }
        }
        Kind::Registry => implied.extend(HIVE_FOLDERS.iter().map(|g| g.to_string())),
        Kind::Packages | Kind::Services => {}
    }
    let mut seen = std::collections::HashSet::new();
    implied.retain(|grant| seen.insert(grant.clone()));
    implied
}

/// The live registry keys a collector may read: the manifest's registry
/// grants, or a registry collector's tracked keys.
fn registry_grants(spec: &CollectorSpec) -> RegistryGrants {
    if spec.registry_grants.is_empty() && spec.kind == Kind::Registry {
        return RegistryGrants::new(spec.keys.iter().filter(|k| k.enabled).map(|k| k.key.as_str()));
    }
    RegistryGrants::new(spec.registry_grants.iter().map(String::as_str))
}

/// A tracked path as the plugin receives it: on the live machine, `%VAR%`s
/// expanded from the agent's environment; for an image, as written (the
/// plugin expands them from the image's own registry).
fn rule_path(rule: &FileRule, machine: &Machine) -> String {
    if machine.is_live() {
        windows_paths::env_vars::expand(&rule.path, |name| std::env::var(name).ok())
    } else {
        rule.path.clone()
    }
}

/// The kind-specific settings `collect` receives.
pub fn settings(spec: &CollectorSpec, machine: &Machine) -> Settings {
    let setting = |key: String, value: String| Setting { key, value };
    let options: Vec<Setting> = spec
        .options
        .iter()
        .map(|(k, v)| setting(k.clone(), v.clone()))
        .collect();
    match spec.kind {
        Kind::Packages => Settings::Packages(packages_api::Settings { options }),
        Kind::Services => Settings::Services(services_api::Settings { options }),
        Kind::Files => {
            let rules: Vec<_> = spec.paths.iter().filter(|p| p.enabled).collect();
            // Per-rule settings newer than the 0.1.0 records travel as options.
            let mut options = options;
            for rule in &rules {
                let links = match rule.links {
                    Links::Ignore => "ignore",
                    Links::Follow => "follow",
                    Links::Manage => "manage",
                };
                options.push(setting(format!("rule.{}.links", rule.name), links.into()));
                options.push(setting(
                    format!("rule.{}.max-size", rule.name),
                    rule.max_size.to_string(),
                ));
            }
            Settings::Files(files_api::Settings {
                rules: rules
                    .iter()
                    .map(|p| files_api::FileRule {
                        name: p.name.clone(),
                        group_tag: p.group_tag.clone(),
                        path: rule_path(p, machine),
                        recurse: p.recurse,
                        checksum: match p.checksum {
                            Checksum::None => files_api::ChecksumAlgorithm::None,
                            Checksum::Md5 => files_api::ChecksumAlgorithm::Md5,
                            Checksum::Sha256 => files_api::ChecksumAlgorithm::Sha256,
                        },
                        capture_content: p.capture_content,
                        max_content_size: p.max_content_size,
                    })
                    .collect(),
                options,
            })
        }
        Kind::Registry => Settings::Registry(registry_api::Settings {
            rules: spec
                .keys
                .iter()
                .filter(|k| k.enabled)
                .map(|k| registry_api::KeyRule {
                    name: k.name.clone(),
                    group_tag: k.group_tag.clone(),
                    key: k.key.clone(),
                    value_name: k.value.clone(),
                    recurse: k.recurse,
                    max_depth: k.max_depth,
                })
                .collect(),
            options,
        }),
    }
}

/// What a collector's inventory is collected under (see `change_engine`): a
/// hash of the settings that shape every item, and one per tracking rule.
/// Intervals and limits are left out: they change when, not what.
pub fn baseline(spec: &CollectorSpec) -> Baseline {
    let config = fingerprint(&serde_json::json!({
        "kind": spec.kind.as_str(),
        "plugin": spec.plugin.to_string(),
        "grants": spec.grants,
        "options": spec.options,
    }));
    let mut rules: BTreeMap<String, String> = BTreeMap::new();
    for p in spec.paths.iter().filter(|p| p.enabled) {
        let rule = serde_json::json!([
            p.path,
            p.recurse,
            format!("{:?}", p.links),
            format!("{:?}", p.checksum),
            p.max_size,
            p.capture_content,
            p.max_content_size,
            p.capture_binary
        ]);
        rules.insert(p.name.clone(), fingerprint(&rule));
    }
    // Registry values are matched to rules by key, so rules on one key share a hash.
    let mut by_key: BTreeMap<&str, Vec<serde_json::Value>> = BTreeMap::new();
    for k in spec.keys.iter().filter(|k| k.enabled) {
        by_key
            .entry(&k.key)
            .or_default()
            .push(serde_json::json!([k.value, k.recurse, k.max_depth]));
    }
    for (key, settings) in by_key {
        rules.insert(key.to_string(), fingerprint(&serde_json::Value::Array(settings)));
    }
    Baseline { config, rules }
}

fn fingerprint(value: &serde_json::Value) -> String {
    let digest = Sha256::digest(value.to_string().as_bytes());
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
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
        registry_grants: registry_grants(spec),
        capture: None,
    }
}

/// Asks a collector's plugin whether it applies here.
pub fn probe(plugin: &Arc<Plugin>, spec: &CollectorSpec, machine: &Machine) -> Result<Probe, RunError> {
    let sandbox = probe_sandbox(spec, preopens(spec, machine));
    let plugin = plugin.clone();
    watched(sandbox.limits.timeout, move || plugin.probe(&sandbox))
}

/// How a run collects.
#[derive(Clone)]
pub enum Mode {
    /// Everything.
    Full,
    /// Files collectors: only files whose stat differs from the last
    /// collection's; the others are confirmed unchanged by the host. With a
    /// focus (after file events), only the paths it names are looked at.
    Incremental(Arc<StatIndex>),
}

/// What one run of a collector produced.
pub enum RunOutcome {
    NotApplicable(String),
    Collected {
        inventory: Inventory,
        summary: CollectionSummary,
        /// Items withheld as unchanged by an incremental run.
        unchanged: Vec<String>,
        /// Whether this was a full collection.
        full: bool,
        /// A targeted run's focus: the paths it looked at.
        scope: Option<Vec<String>>,
    },
}

/// Probes and, if it applies, collects; each call in a fresh sandbox, the whole
/// under a watchdog so that a plugin stuck in a host call cannot hold the host.
/// The content capture of a files collector's rules, if any rule captures.
fn content_capture(spec: &CollectorSpec, store: &ContentStore) -> Option<Arc<ContentCapture>> {
    let rules: HashMap<String, CaptureRule> = spec
        .paths
        .iter()
        .filter(|rule| rule.enabled && rule.capture_content)
        .map(|rule| {
            let capture = CaptureRule {
                max_size: rule.max_content_size,
                binary: rule.capture_binary,
            };
            (rule.name.clone(), capture)
        })
        .collect();
    (!rules.is_empty()).then(|| {
        Arc::new(ContentCapture {
            store: store.clone(),
            rules,
        })
    })
}

pub fn run(
    plugin: &Arc<Plugin>,
    spec: &CollectorSpec,
    machine: &Machine,
    mode: Mode,
    content: &ContentStore,
) -> Result<RunOutcome, RunError> {
    let preopens = preopens(spec, machine);
    let probe_sandbox = probe_sandbox(spec, preopens.clone());
    let full = matches!(mode, Mode::Full);
    let scope = match &mode {
        Mode::Incremental(index) => index.focus().map(|f| f.paths().to_vec()),
        Mode::Full => None,
    };
    let collect_sandbox = Sandbox {
        preopens,
        limits: spec.limits.clone(),
        stat_index: match mode {
            Mode::Full => None,
            Mode::Incremental(index) => Some(index),
        },
        registry_grants: registry_grants(spec),
        capture: content_capture(spec, content),
    };
    let budget = probe_sandbox.limits.timeout + collect_sandbox.limits.timeout;
    let settings = settings(spec, machine);
    let plugin = plugin.clone();
    let os = machine.os;
    watched(budget, move || {
        let probe = plugin.probe(&probe_sandbox)?;
        if !probe.applies {
            return Ok(RunOutcome::NotApplicable(probe.reason));
        }
        let collecting = Instant::now();
        let collected = plugin.collect(&collect_sandbox, &settings)?;
        tracing::debug!(plugin = %plugin.info().name, records = collected.records.len(), elapsed = ?collecting.elapsed(), "collected");
        let normalising = Instant::now();
        let mut inventory = inventory::from_records(collected.records, os).map_err(|rejected| match rejected {
            Rejected::Malformed(why) => RunError::Malformed(why),
            Rejected::Oversized(why) => RunError::Oversized(why),
        })?;
        let observed = collected.observed;
        let mut summary = collected.summary;
        if !observed.interrupted.is_empty() {
            let walks = observed.interrupted.join(", ");
            summary
                .incomplete
                .get_or_insert_with(|| format!("the walk of {walks} ended early"));
        }
        for item in &mut inventory.items {
            if let Some(key) = observed.keys.get(&item.key) {
                item.set("StatKey", Value::Integer(*key));
            }
            if let Some(captured) = observed.captured.get(&item.key) {
                if let Captured::Failed(why) = captured {
                    tracing::warn!(collector = %plugin.info().name, "content of {} not kept: {why}", item.key);
                }
                let hash = captured.hash().map_or(Value::Null, |h| Value::Text(h.to_string()));
                item.set("ContentHash", hash);
                item.set("ContentState", Value::Text(captured.state().to_string()));
            }
        }
        tracing::debug!(plugin = %plugin.info().name, elapsed = ?normalising.elapsed(), "normalised");
        Ok(RunOutcome::Collected {
            inventory,
            summary,
            unchanged: observed.unchanged,
            full,
            scope,
        })
    })
}

/// Runs `work` on its own thread and waits at most `budget` plus a grace
/// period. Plugin deadlines normally end a run well before that; the watchdog
/// is for a plugin blocked inside a host call, which an epoch cannot interrupt.
/// Such a thread is abandoned: it ends on its own once the call returns.
fn watched<T: Send + 'static>(
    budget: Duration,
    work: impl FnOnce() -> Result<T, RunError> + Send + 'static,
) -> Result<T, RunError> {
    let (done, result) = std::sync::mpsc::channel();
    let started = Instant::now();
    std::thread::Builder::new()
        .name("plugin-run".into())
        .stack_size(RUN_THREAD_STACK)
        .spawn(move || {
            let _ = done.send(work());
        })
        .map_err(|e| RunError::Setup(format!("cannot start a thread: {e}")))?;
    match result.recv_timeout(budget + WATCHDOG_GRACE) {
        Ok(outcome) => outcome,
        Err(RecvTimeoutError::Timeout) => {
            tracing::error!("plugin run abandoned after {:?}", started.elapsed());
            Err(RunError::Abandoned(budget))
        }
        Err(RecvTimeoutError::Disconnected) => Err(RunError::Setup(
            "the run ended without a result (host thread failed)".into(),
        )),
    }
}
