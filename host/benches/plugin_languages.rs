//! What a plugin costs by the language it is written in: the Python and
//! JavaScript examples (`examples/`) next to the bundled Rust dpkg plugin,
//! each inventorying 200 packages in its own format. For each: the
//! component's size, its first load (compile) and a later one (precompiled,
//! from the cache), one run (describe, probe and collect, each in a fresh
//! store, as the agent runs them), the fixed part of that (a fresh store,
//! instantiation and `describe` alone), and its peak linear memory (the
//! smallest memory limit the run passes under). Prints figures; it asserts
//! nothing.
//!
//! The Python and JavaScript components are those the end-to-end test
//! `languages` builds (or the files $PYTHON_PLUGIN and $JS_PLUGIN name):
//!
//!     cargo test --release -p driftwatch --test e2e languages
//!     cargo bench -p driftwatch --bench plugin_languages

use std::path::{Path, PathBuf};
use std::time::Duration;

mod measure;
use measure::{percentile, timed};

use driftwatch::catalog;
use driftwatch::machine::Machine;
use driftwatch::runtime::bindings::packages_api;
use driftwatch::runtime::grants::Preopen;
use driftwatch::runtime::{Limits, Plugin, Runtime, Sandbox, Settings};

const PACKAGES: usize = 200;
const RUNS: usize = 50;

/// One plugin and the tree it reads.
struct Subject {
    label: &'static str,
    wasm: Vec<u8>,
    /// The folder it is granted, as (host, guest).
    grant: (PathBuf, &'static str),
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let built = target.join("tmp/languages");
    let file = |var: &str, default: PathBuf| -> Vec<u8> {
        let path = std::env::var_os(var).map(PathBuf::from).unwrap_or(default);
        std::fs::read(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; build it first: cargo test --release -p driftwatch --test e2e languages",
                path.display()
            )
        })
    };
    let subjects = [
        Subject {
            label: "Rust (packages-dpkg)",
            wasm: catalog::bundled("packages-dpkg")
                .expect("bundled dpkg plugin")
                .wasm
                .to_vec(),
            grant: (dpkg_tree(dir.path()), "/var/lib/dpkg"),
        },
        Subject {
            label: "Python (packages-python)",
            wasm: file("PYTHON_PLUGIN", built.join("packages-python/packages-python.wasm")),
            grant: (python_tree(dir.path()), "/usr/lib"),
        },
        Subject {
            label: "JavaScript (packages-npm)",
            wasm: file("JS_PLUGIN", built.join("packages-npm/packages-npm.wasm")),
            grant: (npm_tree(dir.path()), "/usr/lib/node_modules"),
        },
    ];

    let facts = Machine::detect(None).expect("this machine").facts();
    println!(
        "one collection of {PACKAGES} packages, {RUNS} runs each (fresh store, instantiate, describe, probe, collect)"
    );
    println!(
        "{:<26} {:>9} {:>11} {:>10} {:>10} {:>10} {:>10} {:>12}",
        "plugin", "size", "compile", "cached", "run p50", "run p99", "describe", "peak memory"
    );
    let mut rust_run = None;
    for (index, subject) in subjects.iter().enumerate() {
        let cache = dir.path().join(format!("cache-{index}"));
        let runtime = Runtime::new(facts.clone(), Some(cache.clone())).expect("runtime");
        let (_, compile) = timed(|| runtime.load(subject.label, &subject.wasm).expect("compile"));
        drop(runtime);
        let runtime = Runtime::new(facts.clone(), Some(cache)).expect("runtime");
        let (plugin, cached) = timed(|| runtime.load(subject.label, &subject.wasm).expect("load precompiled"));

        let mut runs: Vec<Duration> = (0..RUNS)
            .map(|_| timed(|| run(&plugin, &sandbox(subject, 256 << 20)).expect("run")).1)
            .collect();
        let (p50, p99) = (percentile(&mut runs, 50.0), percentile(&mut runs, 99.0));
        let mut describes: Vec<Duration> = (0..RUNS)
            .map(|_| timed(|| plugin.describe(&sandbox(subject, 256 << 20)).expect("describe")).1)
            .collect();
        let describe = percentile(&mut describes, 50.0);
        let rust = *rust_run.get_or_insert(p50);
        println!(
            "{:<26} {:>6.1} MB {:>8.0} ms {:>7.1} ms {:>7.1} ms {:>7.1} ms {:>7.1} ms {:>8.1} MiB   run / Rust's = {:.1}x",
            subject.label,
            subject.wasm.len() as f64 / 1e6,
            compile.as_secs_f64() * 1e3,
            cached.as_secs_f64() * 1e3,
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3,
            describe.as_secs_f64() * 1e3,
            peak_memory(&plugin, subject) as f64 / (1 << 20) as f64,
            p50.as_secs_f64() / rust.as_secs_f64(),
        );
    }
}

fn sandbox(subject: &Subject, memory: u64) -> Sandbox {
    Sandbox {
        preopens: vec![Preopen {
            host: subject.grant.0.clone(),
            guest: subject.grant.1.into(),
            is_dir: true,
            present: true,
            fold_case: false,
        }],
        limits: Limits {
            memory,
            ..Limits::default()
        },
        stat_index: None,
        registry_grants: Default::default(),
        capture: None,
    }
}

/// One whole run; the number of packages collected.
fn run(plugin: &Plugin, sandbox: &Sandbox) -> Result<usize, String> {
    plugin.describe(sandbox).map_err(|e| e.to_string())?;
    let probe = plugin.probe(sandbox).map_err(|e| e.to_string())?;
    if !probe.applies {
        return Err(format!("did not apply: {}", probe.reason));
    }
    let settings = Settings::Packages(packages_api::Settings { options: Vec::new() });
    let mut packages = 0;
    plugin
        .collect(sandbox, &settings, &mut |records, _| {
            packages += records.len();
            Ok(())
        })
        .map_err(|e| e.to_string())?;
    match packages {
        PACKAGES => Ok(packages),
        other => Err(format!("collected {other} packages of {PACKAGES}")),
    }
}

/// The smallest memory limit (to 64 KiB, a WebAssembly page) the run passes under.
fn peak_memory(plugin: &Plugin, subject: &Subject) -> u64 {
    const PAGE: u64 = 64 << 10;
    let (mut fails, mut passes) = (0u64, 256u64 << 20);
    while passes - fails > PAGE {
        let middle = (fails + passes) / 2 / PAGE * PAGE;
        let middle = if middle <= fails { fails + PAGE } else { middle };
        match run(plugin, &sandbox(subject, middle)) {
            Ok(_) => passes = middle,
            Err(_) => fails = middle,
        }
    }
    passes
}

fn dpkg_tree(dir: &Path) -> PathBuf {
    let root = dir.join("dpkg");
    std::fs::create_dir_all(&root).expect("dpkg tree");
    let status: String = (0..PACKAGES)
        .map(|n| {
            format!(
                "Package: pkg{n}\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.{n}-1\nMaintainer: Someone <someone@example.org>\nDescription: package number {n}\n\n"
            )
        })
        .collect();
    std::fs::write(root.join("status"), status).expect("status");
    root
}

fn python_tree(dir: &Path) -> PathBuf {
    let root = dir.join("usr-lib");
    for n in 0..PACKAGES {
        let info = root.join(format!("python3/dist-packages/pkg{n}-1.{n}.dist-info"));
        std::fs::create_dir_all(&info).expect("dist-info");
        std::fs::write(
            info.join("METADATA"),
            format!(
                "Metadata-Version: 2.1\nName: pkg{n}\nVersion: 1.{n}\nSummary: package number {n}\nAuthor: Someone\n"
            ),
        )
        .expect("METADATA");
    }
    root
}

fn npm_tree(dir: &Path) -> PathBuf {
    let root = dir.join("node_modules");
    for n in 0..PACKAGES {
        let package = root.join(format!("pkg{n}"));
        std::fs::create_dir_all(&package).expect("package");
        std::fs::write(
            package.join("package.json"),
            format!(r#"{{"name":"pkg{n}","version":"1.{n}.0","description":"package number {n}","author":"Someone"}}"#),
        )
        .expect("package.json");
    }
    root
}
