//! What one plugin run owns: its WASI context (the sandbox), its resource
//! table, its memory limiter and the host imports it may call.

use std::sync::Arc;
use std::time::Duration;

use wasmtime::ResourceLimiter;
use wasmtime::component::{Resource, ResourceTable};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxView, WasiView};

use super::bindings::log::Level;
use super::bindings::machine::MachineFacts;
use super::bindings::{fs, log, machine, registry_access, service_manager, types};
use super::fs_import::{self, ContentCapture, Observed, StatIndex, Walker};
use super::grants::Preopen;
use super::output_capture::{CapturedOutput, StreamName};
use super::registry_import::{LiveRegistry, RegistryGrants};
use super::service_manager::ServiceManager;

/// Resource limits of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest linear memory, in bytes.
    pub memory: u64,
    /// Wall-clock time for the whole run.
    pub timeout: Duration,
    /// Most records one collection may return.
    pub max_items: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory: 256 << 20,
            timeout: Duration::from_secs(300),
            max_items: 5_000_000,
        }
    }
}

/// Everything that defines a run's sandbox.
#[derive(Debug, Clone)]
pub struct Sandbox {
    /// Directories readable by the plugin, read-only; nothing else is.
    pub preopens: Vec<Preopen>,
    pub limits: Limits,
    /// For an incremental files run: what the last collection saw.
    pub stat_index: Option<Arc<StatIndex>>,
    /// Keys of the live registry the plugin may read.
    pub registry_grants: RegistryGrants,
    /// Files collectors: the rules whose files' contents are kept.
    pub capture: Option<Arc<ContentCapture>>,
}

/// Denies memory growth past the cap and remembers that it did, so the
/// resulting trap can be reported as what it is.
pub struct MemoryLimiter {
    cap: u64,
    pub denied: Option<u64>,
}

impl MemoryLimiter {
    pub fn cap(&self) -> u64 {
        self.cap
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired as u64 > self.cap {
            self.denied = Some(desired as u64);
            wasmtime::bail!("memory limit of {} bytes exceeded: asked for {desired}", self.cap);
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}

/// The data of a plugin's `Store`.
pub struct RunState {
    wasi: WasiCtx,
    /// Every grant, directories and single files, for the `fs` import.
    grants: Vec<Preopen>,
    stat_index: Option<Arc<StatIndex>>,
    capture: Option<Arc<ContentCapture>>,
    registry: LiveRegistry,
    registry_grants: RegistryGrants,
    services: ServiceManager,
    /// What this run's walks found (see `fs_import::Observed`).
    pub observed: Observed,
    table: ResourceTable,
    pub limiter: MemoryLimiter,
    plugin: Arc<str>,
    facts: MachineFacts,
    pub stderr: CapturedOutput,
    stdout: CapturedOutput,
}

impl RunState {
    /// A sandbox with exactly the given read-only preopens, no environment, no
    /// arguments, no network, and output captured into the log.
    pub fn new(plugin: Arc<str>, sandbox: &Sandbox, facts: &MachineFacts) -> wasmtime::Result<Self> {
        let stdout = CapturedOutput::new(plugin.clone(), StreamName::Stdout);
        let stderr = CapturedOutput::new(plugin.clone(), StreamName::Stderr);
        let mut wasi = WasiCtx::builder();
        // Must come before the preopens: each preopen copies the flag. Runs
        // happen on their own threads, so blocking them in fs calls is fine,
        // and it avoids a thread hop per file operation.
        wasi.allow_blocking_current_thread(true);
        wasi.stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        for preopen in sandbox.preopens.iter().filter(|p| p.is_wasi_dir()) {
            wasi.preopened_dir(&preopen.host, &preopen.guest, FsPerms::ReadOnly)?;
        }
        Ok(Self {
            wasi: wasi.build(),
            grants: sandbox.preopens.clone(),
            stat_index: sandbox.stat_index.clone(),
            capture: sandbox.capture.clone(),
            registry: LiveRegistry::for_machine(facts.live),
            registry_grants: sandbox.registry_grants.clone(),
            services: ServiceManager::for_machine(facts.live),
            observed: Observed::default(),
            table: ResourceTable::new(),
            limiter: MemoryLimiter {
                cap: sandbox.limits.memory,
                denied: None,
            },
            plugin,
            facts: facts.clone(),
            stderr,
            stdout,
        })
    }

    /// Flushes captured output that did not end with a newline.
    pub fn finish_output(&self) {
        self.stdout.finish();
        self.stderr.finish();
    }
}

impl WasiView for RunState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl types::Host for RunState {}

impl log::Host for RunState {
    fn log(&mut self, level: Level, message: String) {
        let plugin = &*self.plugin;
        match level {
            Level::Trace => tracing::trace!(plugin, "{message}"),
            Level::Debug => tracing::debug!(plugin, "{message}"),
            Level::Info => tracing::info!(plugin, "{message}"),
            Level::Warn => tracing::warn!(plugin, "{message}"),
            Level::Error => tracing::error!(plugin, "{message}"),
        }
    }
}

impl machine::Host for RunState {
    fn facts(&mut self) -> MachineFacts {
        self.facts.clone()
    }
}

impl fs::Host for RunState {
    fn start_walk(&mut self, request: fs::WalkRequest) -> Result<Resource<Walker>, fs::FsError> {
        let walker = Walker::start(&self.grants, request, self.stat_index.clone(), None)?;
        self.table
            .push(walker)
            .map_err(|e| fs::FsError::Io(format!("cannot keep another walk open: {e}")))
    }

    fn start_rule_walk(&mut self, request: fs::WalkRequest, rule: String) -> Result<Resource<Walker>, fs::FsError> {
        let capture = self
            .capture
            .as_ref()
            .and_then(|capture| Some((*capture.rules.get(&rule)?, capture.store.clone())));
        let walker = Walker::start(&self.grants, request, self.stat_index.clone(), capture)?;
        self.table
            .push(walker)
            .map_err(|e| fs::FsError::Io(format!("cannot keep another walk open: {e}")))
    }

    fn stat(
        &mut self,
        path: String,
        follow_links: bool,
        digest: Option<fs::DigestAlgorithm>,
    ) -> Result<fs::Entry, fs::FsError> {
        fs_import::stat(&self.grants, &path, follow_links, digest)
    }
}

impl fs::HostWalk for RunState {
    fn next(&mut self, walk: Resource<Walker>) -> Option<Vec<fs::Entry>> {
        // A handle the plugin could only have got from `start-walk`; a stale
        // one simply ends the walk.
        self.table.get_mut(&walk).ok()?.next_batch(&mut self.observed)
    }

    fn drop(&mut self, walk: Resource<Walker>) -> wasmtime::Result<()> {
        self.table.delete(walk)?;
        Ok(())
    }
}

impl registry_access::Host for RunState {
    fn read_key(
        &mut self,
        path: String,
        view: registry_access::View,
        depth: u32,
        max_keys: u32,
    ) -> Result<Vec<registry_access::Key>, registry_access::RegistryError> {
        self.registry
            .read_key(&self.registry_grants, &path, view, depth, max_keys)
    }
}

impl service_manager::Host for RunState {
    fn statuses(&mut self) -> Result<Vec<service_manager::ServiceStatus>, String> {
        self.services.statuses()
    }
}
