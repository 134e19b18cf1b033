//! The sandboxed plugin runtime: one wasmtime engine, plugins compiled once
//! (and cached precompiled on disk), and a fresh, locked-down store per run.
//!
//! | module | job |
//! |---|---|
//! | `engine` | the engine configuration and the epoch clock behind deadlines |
//! | `artifact_cache` | precompiled components on disk |
//! | `bindings` | host bindings of the WIT contract |
//! | `contract` | the contract's WIT text, for `driftwatch plugin wit` |
//! | `state` | a run's store data: WASI sandbox, limits, host imports |
//! | `grants` | read grants → host directories (resolved inside `--root`) |
//! | `fs_import` | the `fs` import: native walk, stat and hashing within the grants |
//! | `registry_import` | the `registry-access` import: the live Windows registry within registry grants |
//! | `service_manager` | the `service-manager` import: live Windows service states |
//! | `output_capture` | plugin stdout/stderr into the log |
//! | `plugin` | loading a component and calling describe / probe / collect |
//! | `error` | load and run failures, in words |

mod artifact_cache;
pub mod bindings;
pub mod contract;
mod engine;
mod error;
mod fs_import;
pub mod grants;
mod output_capture;
mod plugin;
pub mod registry_import;
pub(crate) mod service_manager;
mod state;

use std::path::PathBuf;

use wasmtime::Engine;
use wasmtime::component::{HasSelf, Linker};

pub use artifact_cache::Origin;
pub use bindings::machine::MachineFacts;
pub use engine::RUN_THREAD_STACK;
pub use error::{LoadError, RunError, bytes, humanize};
pub use fs_import::{CaptureRule, Captured, ContentCapture, Focus, Observed, StatIndex};
pub use plugin::{BatchSink, CONTRACT_VERSION, Finished, Plugin, PluginInfo, Probe, Records, Settings};
pub use state::{Limits, Sandbox};

use artifact_cache::ArtifactCache;
use state::RunState;

/// Loads plugins and runs them in sandboxes. One per process.
pub struct Runtime {
    engine: Engine,
    linker: Linker<RunState>,
    cache: ArtifactCache,
    facts: MachineFacts,
    _ticker: engine::EpochTicker,
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("cannot set up the WebAssembly engine: {0}")]
    Engine(String),
}

impl Runtime {
    /// A runtime whose plugins see `facts`; compiled plugins are cached in
    /// `cache_dir` when given.
    pub fn new(facts: MachineFacts, cache_dir: Option<PathBuf>) -> Result<Self, RuntimeError> {
        let setup = |e: wasmtime::Error| RuntimeError::Engine(format!("{e:#}"));
        // The pool that stats and hashes files for the `fs` import; named so
        // that profiles and logs tell it apart. Already built is fine.
        let _ = rayon::ThreadPoolBuilder::new()
            .thread_name(|i| format!("fs-worker-{i}"))
            .build_global();
        let engine = engine::new_engine().map_err(setup)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(setup)?;
        bindings::log::add_to_linker::<RunState, HasSelf<RunState>>(&mut linker, |s| s).map_err(setup)?;
        bindings::machine::add_to_linker::<RunState, HasSelf<RunState>>(&mut linker, |s| s).map_err(setup)?;
        bindings::fs::add_to_linker::<RunState, HasSelf<RunState>>(&mut linker, |s| s).map_err(setup)?;
        bindings::registry_access::add_to_linker::<RunState, HasSelf<RunState>>(&mut linker, |s| s).map_err(setup)?;
        bindings::service_manager::add_to_linker::<RunState, HasSelf<RunState>>(&mut linker, |s| s).map_err(setup)?;
        let ticker = engine::EpochTicker::start(&engine).map_err(|e| RuntimeError::Engine(e.to_string()))?;
        Ok(Self {
            engine,
            linker,
            cache: ArtifactCache::new(cache_dir),
            facts,
            _ticker: ticker,
        })
    }

    /// Compiles (or loads precompiled) a component, checks which world it
    /// implements, and asks it to describe itself.
    pub fn load(&self, label: &str, wasm: &[u8]) -> Result<Plugin, LoadError> {
        Plugin::load(&self.engine, &self.linker, &self.cache, &self.facts, label, wasm)
    }
}
