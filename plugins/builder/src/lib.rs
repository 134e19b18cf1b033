//! Builds plugin crates of this workspace as WebAssembly components.
//!
//! Used by the host's build script (to bundle the platform collectors into the
//! `driftwatch` binary) and by the end-to-end tests (to build purpose-made test
//! plugins). It runs a nested `cargo build --target wasm32-wasip2` with its own
//! target directory, so it never contends with the outer build's lock.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The target every plugin is built for: it emits a component directly.
pub const WASM_TARGET: &str = "wasm32-wasip2";

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(
        "the {WASM_TARGET} target is not installed for this Rust toolchain ({libdir}).\n\
         Plugins are WebAssembly components and need it: run `rustup target add {WASM_TARGET}`"
    )]
    MissingTarget { libdir: String },
    #[error("could not run `{program}`: {source}")]
    Spawn { program: String, source: std::io::Error },
    #[error("building plugins {packages:?} for {WASM_TARGET} failed ({status}); cargo's output is above")]
    Cargo {
        packages: Vec<String>,
        status: std::process::ExitStatus,
    },
    #[error("cargo finished but {0} is missing")]
    MissingOutput(PathBuf),
}

/// A plugin crate built into a component.
#[derive(Debug, Clone)]
pub struct BuiltPlugin {
    /// The crate (and plugin) name, e.g. `packages-dpkg`.
    pub name: String,
    pub wasm: PathBuf,
}

/// Where and how to build.
#[derive(Debug, Clone)]
pub struct PluginBuild {
    /// The workspace holding the plugin crates (its `Cargo.toml` and `Cargo.lock`).
    pub workspace: PathBuf,
    /// A target directory of its own, not the outer build's.
    pub target_dir: PathBuf,
    /// Cargo package names to build.
    pub packages: Vec<String>,
}

impl PluginBuild {
    /// Checks the wasm target, runs cargo once for all packages, and returns the
    /// path of each component.
    pub fn run(&self) -> Result<Vec<BuiltPlugin>, BuildError> {
        check_wasm_target()?;
        let mut cargo = cargo();
        cargo
            .arg("build")
            .arg("--release")
            .arg("--target")
            .arg(WASM_TARGET)
            .arg("--manifest-path")
            .arg(self.workspace.join("Cargo.toml"))
            .arg("--target-dir")
            .arg(&self.target_dir)
            // Plugins are small and run inside the sandbox: optimised for
            // size, with what they link.
            .arg("--config")
            .arg("profile.release.opt-level=\"s\"");
        for package in &self.packages {
            cargo.arg("-p").arg(package);
        }
        let status = cargo.status().map_err(|source| BuildError::Spawn {
            program: cargo_program().to_string_lossy().into_owned(),
            source,
        })?;
        if !status.success() {
            return Err(BuildError::Cargo {
                packages: self.packages.clone(),
                status,
            });
        }
        let out_dir = self.target_dir.join(WASM_TARGET).join("release");
        self.packages
            .iter()
            .map(|name| {
                let wasm = out_dir.join(format!("{}.wasm", name.replace('-', "_")));
                if wasm.is_file() {
                    Ok(BuiltPlugin {
                        name: name.clone(),
                        wasm,
                    })
                } else {
                    Err(BuildError::MissingOutput(wasm))
                }
            })
            .collect()
    }
}

/// Fails with a message saying how to fix it when the toolchain lacks the wasm target.
pub fn check_wasm_target() -> Result<(), BuildError> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| OsString::from("rustc"));
    let output = Command::new(&rustc)
        .args(["--print", "target-libdir", "--target", WASM_TARGET])
        .output()
        .map_err(|source| BuildError::Spawn {
            program: rustc.to_string_lossy().into_owned(),
            source,
        })?;
    let libdir = String::from_utf8_lossy(&output.stdout).trim().to_string();
    if output.status.success() && has_std(Path::new(&libdir)) {
        Ok(())
    } else {
        Err(BuildError::MissingTarget { libdir })
    }
}

fn has_std(libdir: &Path) -> bool {
    std::fs::read_dir(libdir)
        .map(|entries| {
            entries
                .flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("libstd-"))
        })
        .unwrap_or(false)
}

/// A `cargo` command clear of what an outer cargo passes down (see
/// `sanitize_env`): for builds nested in a build script or a test.
pub fn cargo() -> Command {
    let mut cargo = Command::new(cargo_program());
    sanitize_env(&mut cargo);
    cargo
}

fn cargo_program() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"))
}

/// Drops what an outer cargo (build script or test) passes down that would
/// change or break the nested wasm build: host rustflags, target overrides,
/// the outer target directory. The jobserver (`CARGO_MAKEFLAGS`), registry and
/// network settings stay, so `-j` and offline modes carry over.
fn sanitize_env(cmd: &mut Command) {
    const KEEP_PREFIXES: [&str; 6] = [
        "CARGO_HOME",
        "CARGO_MAKEFLAGS",
        "CARGO_NET_",
        "CARGO_HTTP_",
        "CARGO_REGISTRIES_",
        "CARGO_TERM_",
    ];
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        let cargo_var = key.starts_with("CARGO_") && !KEEP_PREFIXES.iter().any(|p| key.starts_with(p));
        if cargo_var || matches!(key, "RUSTFLAGS" | "RUSTDOCFLAGS" | "TARGET" | "HOST" | "OUT_DIR") {
            cmd.env_remove(key);
        }
    }
}
