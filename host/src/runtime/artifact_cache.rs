//! Precompiled plugins on disk, so that only the first start compiles.
//!
//! An artifact is keyed by the engine's compatibility hash (wasmtime version,
//! configuration, CPU features) and the component's bytes: a new host or a new
//! plugin simply misses the cache. Files are written to a temporary name and
//! renamed, so a crash never leaves a half-written artifact under a real key.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::Instant;

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// How a component was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Loaded from a precompiled artifact.
    Cached,
    /// Compiled now (and stored, when the cache directory is writable).
    Compiled,
}

pub struct ArtifactCache {
    dir: Option<PathBuf>,
}

impl ArtifactCache {
    /// A cache in `dir`, created if needed; `None` compiles every time.
    pub fn new(dir: Option<PathBuf>) -> Self {
        Self { dir }
    }

    /// The component for `wasm`, from the cache or freshly compiled.
    pub fn load(&self, engine: &Engine, label: &str, wasm: &[u8]) -> wasmtime::Result<(Component, Origin)> {
        let Some(dir) = &self.dir else {
            return Ok((Component::new(engine, wasm)?, Origin::Compiled));
        };
        let path = dir.join(format!("{}.cwasm", cache_key(engine, wasm)));
        let started = Instant::now();
        if path.is_file() {
            match load_artifact(engine, &path) {
                Ok(component) => {
                    tracing::debug!(plugin = label, elapsed = ?started.elapsed(), "loaded precompiled artifact {}", path.display());
                    return Ok((component, Origin::Cached));
                }
                Err(error) => tracing::warn!(
                    plugin = label,
                    "precompiled artifact {} unusable, recompiling: {error:#}",
                    path.display()
                ),
            }
        }
        let artifact = engine.precompile_component(wasm)?;
        // SAFETY: these bytes were produced by `precompile_component` of this engine just now.
        let component = unsafe { Component::deserialize(engine, &artifact)? };
        tracing::debug!(plugin = label, elapsed = ?started.elapsed(), "compiled plugin");
        if let Err(error) = store_artifact(dir, &path, &artifact) {
            tracing::warn!(
                plugin = label,
                "could not cache compiled plugin in {}: {error}",
                dir.display()
            );
        }
        Ok((component, Origin::Compiled))
    }
}

/// Memory-maps the artifact; where mapping is refused (some platforms and
/// emulation layers deny making pages read-only), reads it into memory instead.
fn load_artifact(engine: &Engine, path: &Path) -> wasmtime::Result<Component> {
    // SAFETY: artifacts in the cache directory are written only by this code,
    // from `Engine::precompile_component`, and renamed into place atomically; the
    // key includes the engine's compatibility hash.
    match unsafe { Component::deserialize_file(engine, path) } {
        Ok(component) => Ok(component),
        Err(mapped_error) => {
            let bytes = std::fs::read(path)?;
            // SAFETY: as above.
            unsafe { Component::deserialize(engine, &bytes) }
                .map_err(|e| e.context(format!("memory-mapped load failed too: {mapped_error}")))
        }
    }
}

fn store_artifact(dir: &Path, path: &Path, artifact: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let temp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&temp, artifact)?;
    std::fs::rename(&temp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&temp);
    })
}

fn cache_key(engine: &Engine, wasm: &[u8]) -> String {
    struct ShaHasher(Sha256);
    impl Hasher for ShaHasher {
        fn finish(&self) -> u64 {
            0
        }
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
    }
    let mut hasher = ShaHasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    hasher.0.update(wasm);
    hasher
        .0
        .finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}
