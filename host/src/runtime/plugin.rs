//! A loaded plugin: its compiled component, the world it implements, and the
//! calls the host makes into it — each on a fresh `Store`.

use std::sync::Arc;
use std::time::Instant;

use wasmtime::component::{ComponentExportIndex, InstancePre, Linker, ResourceAny};
use wasmtime::{Engine, Store, Trap};

use super::artifact_cache::{ArtifactCache, Origin};
use super::bindings::machine::MachineFacts;
use super::bindings::types::{CollectError, CollectionSummary, OsFamily, PluginInfo as WitPluginInfo, ProbeResult};
use super::bindings::{
    files, files_api, packages, packages_api, registry, registry_api, services, services_api, types,
};
use super::engine::deadline_ticks;
use super::error::{LoadError, RunError};
use super::fs_import::Observed;
use super::state::{Limits, RunState, Sandbox};
use crate::kind::{Kind, Os};

/// The contract version this host implements, and what it accepts.
pub const CONTRACT_VERSION: &str = "0.1.3";
const SUPPORTED: &str = "0.1.x";

/// The export that declares a plugin's default grants (contract 0.1.3).
const ACCESS_INTERFACE: &str = "driftwatch:collector/access@0.1.3";
/// Most default grants a plugin may declare.
const MAX_DEFAULT_GRANTS: usize = 64;

/// Most records a plugin may return in one batch.
pub const MAX_BATCH: usize = 10_000;

/// What a plugin says about itself, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginInfo {
    pub name: String,
    pub version: String,
    pub kind: Kind,
    pub platforms: Vec<Os>,
    pub description: String,
}

/// Whether a collector applies here, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub applies: bool,
    pub reason: String,
}

/// Kind-specific settings for `collect`.
#[derive(Debug, Clone)]
pub enum Settings {
    Packages(packages_api::Settings),
    Services(services_api::Settings),
    Files(files_api::Settings),
    Registry(registry_api::Settings),
}

/// The records of one collection, as the plugin returned them.
#[derive(Debug, Clone)]
pub enum Records {
    Packages(Vec<packages_api::Package>),
    Services(Vec<services_api::Service>),
    Files(Vec<files_api::File>),
    Registry(Vec<registry_api::Value>),
}

impl Records {
    pub fn len(&self) -> usize {
        match self {
            Records::Packages(r) => r.len(),
            Records::Services(r) => r.len(),
            Records::Files(r) => r.len(),
            Records::Registry(r) => r.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How a collection ended, once every batch was handed on.
#[derive(Debug)]
pub struct Finished {
    pub summary: CollectionSummary,
    /// Walks of the host's `fs` import that ended before they were done:
    /// the collection is not whole.
    pub interrupted: Vec<String>,
}

/// Where `collect` hands each batch of records, with what the host's `fs`
/// import saw of them (files collectors). An error ends the collection.
pub type BatchSink<'a> = dyn FnMut(Records, &mut Observed) -> Result<(), RunError> + 'a;

enum KindPre {
    Packages(packages::PackagesCorePre<RunState>),
    Services(services::ServicesCorePre<RunState>),
    Files(files::FilesCorePre<RunState>),
    Registry(registry::RegistryCorePre<RunState>),
}

pub struct Plugin {
    /// Where it came from (bundled name or file path), for messages.
    label: Arc<str>,
    /// What its log lines are tagged with: its own name once it has described itself.
    log_name: Arc<str>,
    info: PluginInfo,
    contract: String,
    origin: Origin,
    engine: Engine,
    facts: MachineFacts,
    pre: KindPre,
    /// The whole component's, for `access` (which the kind's world lacks).
    instance_pre: InstancePre<RunState>,
    /// `access.default-grants`, when the plugin has it (contract 0.1.3).
    access: Option<ComponentExportIndex>,
    /// What it declares a manifest entry without `grants` may read.
    default_grants: Vec<String>,
}

impl Plugin {
    pub(super) fn load(
        engine: &Engine,
        linker: &Linker<RunState>,
        cache: &ArtifactCache,
        facts: &MachineFacts,
        label: &str,
        wasm: &[u8],
    ) -> Result<Plugin, LoadError> {
        let plugin = label.to_string();
        let (component, origin) = cache.load(engine, label, wasm).map_err(|e| LoadError::Invalid {
            plugin: plugin.clone(),
            reason: format!("{e:#}"),
        })?;
        let (kind, contract) = world_of(engine, &component, label)?;
        let link_error = |e: wasmtime::Error| LoadError::Link {
            plugin: plugin.clone(),
            reason: format!("{e:#}"),
        };
        let instance_pre: InstancePre<RunState> = linker.instantiate_pre(&component).map_err(link_error)?;
        let kind_pre = instance_pre.clone();
        let pre = match kind {
            Kind::Packages => KindPre::Packages(packages::PackagesCorePre::new(kind_pre).map_err(link_error)?),
            Kind::Services => KindPre::Services(services::ServicesCorePre::new(kind_pre).map_err(link_error)?),
            Kind::Files => KindPre::Files(files::FilesCorePre::new(kind_pre).map_err(link_error)?),
            Kind::Registry => KindPre::Registry(registry::RegistryCorePre::new(kind_pre).map_err(link_error)?),
        };
        let access = component
            .get_export_index(None, ACCESS_INTERFACE)
            .and_then(|interface| component.get_export_index(Some(&interface), "default-grants"));
        let mut loaded = Plugin {
            label: label.into(),
            log_name: label.into(),
            info: PluginInfo {
                name: label.to_string(),
                version: String::new(),
                kind,
                platforms: Vec::new(),
                description: String::new(),
            },
            contract,
            origin,
            engine: engine.clone(),
            facts: facts.clone(),
            pre,
            instance_pre,
            access,
            default_grants: Vec::new(),
        };
        let describe_sandbox = Sandbox {
            preopens: Vec::new(),
            limits: Limits {
                timeout: std::time::Duration::from_secs(10),
                ..Limits::default()
            },
            stat_index: None,
            registry_grants: Default::default(),
            capture: None,
        };
        let info = loaded
            .describe(&describe_sandbox)
            .map_err(|error| LoadError::Describe {
                plugin: plugin.clone(),
                error,
            })?;
        if info.kind != kind {
            return Err(LoadError::KindMismatch {
                plugin,
                said: info.kind.as_str(),
                world: kind.world(),
            });
        }
        loaded.log_name = info.name.as_str().into();
        loaded.info = info;
        loaded.default_grants =
            loaded
                .call_default_grants(&describe_sandbox)
                .map_err(|error| LoadError::DefaultGrants {
                    plugin: plugin.clone(),
                    error,
                })?;
        Ok(loaded)
    }

    /// What the plugin declares a manifest entry without `grants` may read
    /// (paths and `HKEY_...` keys, unchecked: the manifest's rules check
    /// them where they are applied). None for plugins built before 0.1.3.
    pub fn default_grants(&self) -> &[String] {
        &self.default_grants
    }

    /// Calls `access.default-grants` in a fresh sandbox.
    fn call_default_grants(&self, sandbox: &Sandbox) -> Result<Vec<String>, RunError> {
        let Some(function) = &self.access else {
            return Ok(Vec::new());
        };
        let mut store = self.new_store(sandbox)?;
        let result = self.instance_pre.instantiate(&mut store).and_then(|instance| {
            let default_grants = instance.get_typed_func::<(), (Vec<String>,)>(&mut store, function)?;
            let (grants,) = default_grants.call(&mut store, ())?;
            Ok(grants)
        });
        store.data().finish_output();
        let grants = result.map_err(|e| Failure::Wasm(e).into_run_error(&store, sandbox.limits.timeout))?;
        if grants.len() > MAX_DEFAULT_GRANTS || grants.iter().any(|g| g.is_empty() || g.len() > 1024) {
            return Err(RunError::Malformed(format!(
                "default grants: at most {MAX_DEFAULT_GRANTS}, each 1 to 1024 bytes long"
            )));
        }
        Ok(grants)
    }

    pub fn info(&self) -> &PluginInfo {
        &self.info
    }

    pub fn kind(&self) -> Kind {
        self.info.kind
    }

    /// The contract version it was built against, e.g. `0.1.0`.
    pub fn contract(&self) -> &str {
        &self.contract
    }

    /// Whether this start compiled the plugin or loaded it precompiled.
    pub fn origin(&self) -> Origin {
        self.origin
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    /// Calls `describe` in a fresh sandbox.
    pub fn describe(&self, sandbox: &Sandbox) -> Result<PluginInfo, RunError> {
        check_info(self.call(sandbox, |guest, store| guest.describe(store))?)
    }

    /// Calls `probe` in a fresh sandbox.
    pub fn probe(&self, sandbox: &Sandbox) -> Result<Probe, RunError> {
        let ProbeResult { applies, reason } = self.call(sandbox, |guest, store| guest.probe(store))?;
        Ok(Probe {
            applies,
            reason: cap_text(reason, 1024),
        })
    }

    /// Calls `collect` in a fresh sandbox and pulls every batch into `sink`.
    pub fn collect(&self, sandbox: &Sandbox, settings: &Settings, sink: &mut BatchSink) -> Result<Finished, RunError> {
        let limits = Pulling {
            max_items: sandbox.limits.max_items,
            timeout: sandbox.limits.timeout,
            began: Instant::now(),
        };
        let mut store = self.new_store(sandbox)?;
        let store = &mut store;
        let result = match (&self.pre, settings) {
            (KindPre::Packages(p), Settings::Packages(s)) => {
                p.instantiate(&mut *store).map_err(Failure::from).and_then(|i| {
                    pull(
                        i.driftwatch_collector_packages(),
                        store,
                        s,
                        &limits,
                        Records::Packages,
                        sink,
                    )
                })
            }
            (KindPre::Services(p), Settings::Services(s)) => {
                p.instantiate(&mut *store).map_err(Failure::from).and_then(|i| {
                    pull(
                        i.driftwatch_collector_services(),
                        store,
                        s,
                        &limits,
                        Records::Services,
                        sink,
                    )
                })
            }
            (KindPre::Files(p), Settings::Files(s)) => p
                .instantiate(&mut *store)
                .map_err(Failure::from)
                .and_then(|i| pull(i.driftwatch_collector_files(), store, s, &limits, Records::Files, sink)),
            (KindPre::Registry(p), Settings::Registry(s)) => {
                p.instantiate(&mut *store).map_err(Failure::from).and_then(|i| {
                    pull(
                        i.driftwatch_collector_registry(),
                        store,
                        s,
                        &limits,
                        Records::Registry,
                        sink,
                    )
                })
            }
            _ => Err(Failure::Run(RunError::Setup(format!(
                "settings of the wrong kind for a {} collector",
                self.kind()
            )))),
        };
        store.data().finish_output();
        let summary = result.map_err(|failure| failure.into_run_error(store, sandbox.limits.timeout))?;
        Ok(Finished {
            summary,
            interrupted: std::mem::take(&mut store.data_mut().observed.interrupted),
        })
    }

    fn new_store(&self, sandbox: &Sandbox) -> Result<Store<RunState>, RunError> {
        let state = RunState::new(self.log_name.clone(), sandbox, &self.facts)
            .map_err(|e| RunError::Setup(format!("{e:#}")))?;
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limiter);
        store.set_epoch_deadline(deadline_ticks(sandbox.limits.timeout));
        Ok(store)
    }

    /// One call on a fresh instance, with failures classified.
    fn call<R>(
        &self,
        sandbox: &Sandbox,
        f: impl FnOnce(&dyn PluginCalls, &mut Store<RunState>) -> wasmtime::Result<R>,
    ) -> Result<R, RunError> {
        let mut store = self.new_store(sandbox)?;
        let store = &mut store;
        let result = match &self.pre {
            KindPre::Packages(p) => p
                .instantiate(&mut *store)
                .and_then(|i| f(i.driftwatch_collector_packages(), store)),
            KindPre::Services(p) => p
                .instantiate(&mut *store)
                .and_then(|i| f(i.driftwatch_collector_services(), store)),
            KindPre::Files(p) => p
                .instantiate(&mut *store)
                .and_then(|i| f(i.driftwatch_collector_files(), store)),
            KindPre::Registry(p) => p
                .instantiate(&mut *store)
                .and_then(|i| f(i.driftwatch_collector_registry(), store)),
        };
        store.data().finish_output();
        result.map_err(|e| Failure::Wasm(e).into_run_error(store, sandbox.limits.timeout))
    }
}

/// A failure inside a run, before it is put in words.
enum Failure {
    Wasm(wasmtime::Error),
    Run(RunError),
}

impl From<wasmtime::Error> for Failure {
    fn from(e: wasmtime::Error) -> Self {
        Failure::Wasm(e)
    }
}

impl Failure {
    fn into_run_error(self, store: &Store<RunState>, timeout: std::time::Duration) -> RunError {
        let error = match self {
            Failure::Run(error) => return error,
            Failure::Wasm(error) => error,
        };
        let state = store.data();
        if let Some(asked) = state.limiter.denied {
            return RunError::Memory {
                limit: state.limiter.cap(),
                asked,
            };
        }
        match error.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => RunError::Timeout(timeout),
            Some(trap) => {
                let tail = state.stderr.tail();
                let panic = tail.iter().position(|l| l.contains("panicked at"));
                match panic {
                    Some(at) => RunError::Trap(format!("plugin panicked: {}", tail[at..].join(" "))),
                    None => RunError::Trap(trap.to_string()),
                }
            }
            None => RunError::Trap(format!("{error:#}")),
        }
    }
}

/// The calls every kind's export interface has.
trait PluginCalls {
    fn describe(&self, store: &mut Store<RunState>) -> wasmtime::Result<WitPluginInfo>;
    fn probe(&self, store: &mut Store<RunState>) -> wasmtime::Result<ProbeResult>;
}

/// A kind's collection calls: the generated interfaces differ only in their
/// record and settings types.
trait KindGuest: PluginCalls {
    type Record;
    type Settings;
    fn collect(
        &self,
        store: &mut Store<RunState>,
        s: &Self::Settings,
    ) -> wasmtime::Result<Result<ResourceAny, CollectError>>;
    fn next(
        &self,
        store: &mut Store<RunState>,
        b: ResourceAny,
    ) -> wasmtime::Result<Result<Option<Vec<Self::Record>>, CollectError>>;
    fn summary(&self, store: &mut Store<RunState>, b: ResourceAny) -> wasmtime::Result<CollectionSummary>;
}

macro_rules! uniform_kind {
    ($api:ident, $record:ident) => {
        impl PluginCalls for $api::Guest {
            fn describe(&self, store: &mut Store<RunState>) -> wasmtime::Result<WitPluginInfo> {
                self.call_describe(store)
            }
            fn probe(&self, store: &mut Store<RunState>) -> wasmtime::Result<ProbeResult> {
                self.call_probe(store)
            }
        }

        impl KindGuest for $api::Guest {
            type Record = $api::$record;
            type Settings = $api::Settings;
            fn collect(
                &self,
                store: &mut Store<RunState>,
                s: &$api::Settings,
            ) -> wasmtime::Result<Result<ResourceAny, CollectError>> {
                self.call_collect(store, s)
            }
            fn next(
                &self,
                store: &mut Store<RunState>,
                b: ResourceAny,
            ) -> wasmtime::Result<Result<Option<Vec<$api::$record>>, CollectError>> {
                self.batches().call_next(store, b)
            }
            fn summary(&self, store: &mut Store<RunState>, b: ResourceAny) -> wasmtime::Result<CollectionSummary> {
                self.batches().call_summary(store, b)
            }
        }
    };
}

uniform_kind!(packages_api, Package);
uniform_kind!(services_api, Service);
uniform_kind!(files_api, File);
uniform_kind!(registry_api, Value);

/// The bounds of one collection.
struct Pulling {
    max_items: u64,
    /// The plugin's time: the time spent handing batches on is not its.
    timeout: std::time::Duration,
    began: Instant,
}

/// Runs `collect` and hands each batch to `sink` until the plugin says
/// there are no more; returns the plugin's summary.
fn pull<G: KindGuest>(
    guest: &G,
    store: &mut Store<RunState>,
    settings: &G::Settings,
    limits: &Pulling,
    wrap: fn(Vec<G::Record>) -> Records,
    sink: &mut BatchSink,
) -> Result<CollectionSummary, Failure> {
    let batches = guest
        .collect(store, settings)?
        .map_err(|e| Failure::Run(RunError::Collect(e)))?;
    let (mut pulled, mut handing_on) = (0u64, std::time::Duration::ZERO);
    loop {
        let used = limits.began.elapsed().saturating_sub(handing_on);
        store.set_epoch_deadline(deadline_ticks(limits.timeout.saturating_sub(used)));
        let batch = guest
            .next(store, batches)?
            .map_err(|e| Failure::Run(RunError::Collect(e)))?;
        let Some(batch) = batch else { break };
        if batch.len() > MAX_BATCH {
            return Err(Failure::Run(RunError::Oversized(format!(
                "a batch of {} records (at most {MAX_BATCH} per batch)",
                batch.len()
            ))));
        }
        pulled += batch.len() as u64;
        if pulled > limits.max_items {
            return Err(Failure::Run(RunError::Oversized(format!(
                "more than {} records (the collector's max_items)",
                limits.max_items
            ))));
        }
        let handing = Instant::now();
        sink(wrap(batch), &mut store.data_mut().observed).map_err(Failure::Run)?;
        handing_on += handing.elapsed();
    }
    let mut summary = guest.summary(store, batches)?;
    batches.resource_drop(&mut *store)?;
    summary.warnings.truncate(10_000);
    Ok(summary)
}

/// Finds the one collector interface a component exports, and its contract version.
fn world_of(
    engine: &Engine,
    component: &wasmtime::component::Component,
    label: &str,
) -> Result<(Kind, String), LoadError> {
    let mut found: Vec<(Kind, String, String)> = Vec::new();
    for (name, _) in component.component_type().exports(engine) {
        let Some(rest) = name.strip_prefix("driftwatch:collector/") else {
            continue;
        };
        let (interface, version) = rest.split_once('@').unwrap_or((rest, ""));
        if let Some(kind) = Kind::from_interface(interface) {
            found.push((kind, version.to_string(), name.to_string()));
        }
    }
    match found.as_slice() {
        [] => Err(LoadError::NotACollector {
            plugin: label.into(),
            supported: SUPPORTED,
        }),
        [(kind, version, _)] if compatible(version) => Ok((*kind, version.clone())),
        [(_, version, _)] => Err(LoadError::IncompatibleContract {
            plugin: label.into(),
            found: version.clone(),
            supported: SUPPORTED,
        }),
        _ => Err(LoadError::SeveralWorlds {
            plugin: label.into(),
            exports: found.into_iter().map(|(_, _, name)| name).collect(),
        }),
    }
}

/// Semver for 0.x: the same minor version, any patch.
fn compatible(version: &str) -> bool {
    let mut ours = CONTRACT_VERSION.split('.');
    let mut theirs = version.split('.');
    ours.next() == theirs.next()
        && ours.next() == theirs.next()
        && theirs.next().is_some_and(|p| p.parse::<u32>().is_ok())
}

fn check_info(info: WitPluginInfo) -> Result<PluginInfo, RunError> {
    let name_ok = !info.name.is_empty()
        && info.name.len() <= 64
        && info
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !name_ok {
        return Err(RunError::Malformed(format!(
            "plugin name {:?} (1-64 characters: letters, digits, `-`, `_`)",
            cap_text(info.name, 80)
        )));
    }
    Ok(PluginInfo {
        name: info.name,
        version: cap_text(info.version, 64),
        kind: match info.kind {
            types::CollectorKind::Packages => Kind::Packages,
            types::CollectorKind::Services => Kind::Services,
            types::CollectorKind::Files => Kind::Files,
            types::CollectorKind::Registry => Kind::Registry,
        },
        platforms: info
            .platforms
            .into_iter()
            .map(|p| match p {
                OsFamily::Linux => Os::Linux,
                OsFamily::Windows => Os::Windows,
                OsFamily::Macos => Os::Macos,
                OsFamily::Other => Os::Other,
            })
            .collect(),
        description: cap_text(info.description, 200),
    })
}

/// Cuts text meant for display to a sane length, on a character boundary.
fn cap_text(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_versions() {
        assert!(compatible("0.1.0"));
        assert!(compatible("0.1.7"));
        assert!(!compatible("0.2.0"));
        assert!(!compatible("1.1.0"));
        assert!(!compatible(""));
        assert!(!compatible("0.1"));
    }

    #[test]
    fn text_is_capped_on_char_boundaries() {
        assert_eq!(cap_text("héllo".into(), 2), "h…");
        assert_eq!(cap_text("short".into(), 10), "short");
    }
}
