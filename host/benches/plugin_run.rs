//! What one plugin run costs once the plugin is loaded: a fresh store,
//! instantiation, and the describe + probe + collect calls on a trivial input
//! (a one-package dpkg database). Prints figures; it asserts nothing.
//!
//! Baselines measured in the same run: the native parse of the same input (what
//! the work itself costs) and the one-time load (compile vs precompiled).
//!
//!     cargo bench -p driftwatch --bench plugin_run

use std::time::{Duration, Instant};

mod measure;
use measure::{percentile, timed};

use driftwatch::catalog;
use driftwatch::machine::Machine;
use driftwatch::runtime::bindings::packages_api;
use driftwatch::runtime::grants::Preopen;
use driftwatch::runtime::{Limits, Runtime, Sandbox, Settings};

const RUNS: usize = 2000;

const STATUS: &str = "Package: hello\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.10-3\nMaintainer: Someone <someone@example.org>\nDescription: example package\n";

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let dpkg_dir = dir.path().join("var/lib/dpkg");
    std::fs::create_dir_all(&dpkg_dir).expect("fixture dir");
    std::fs::write(dpkg_dir.join("status"), STATUS).expect("fixture");
    let facts = Machine::detect(None).expect("this machine").facts();
    let wasm = catalog::bundled("packages-dpkg").expect("bundled dpkg plugin").wasm;
    let cache = dir.path().join("cache");

    let (runtime, engine_setup) = timed(|| Runtime::new(facts.clone(), Some(cache.clone())).expect("runtime"));
    let (plugin, cold) = timed(|| runtime.load("packages-dpkg", wasm).expect("load"));
    let warm_runtime = Runtime::new(facts.clone(), Some(cache.clone())).expect("runtime");
    let (_, warm) = timed(|| warm_runtime.load("packages-dpkg", wasm).expect("load from cache"));
    drop(warm_runtime);

    let sandbox = Sandbox {
        preopens: vec![Preopen {
            host: dpkg_dir.clone(),
            guest: "/var/lib/dpkg".into(),
            is_dir: true,
            present: true,
            fold_case: false,
        }],
        limits: Limits::default(),
        stat_index: None,
        registry_grants: Default::default(),
        capture: None,
    };
    let settings = Settings::Packages(packages_api::Settings { options: Vec::new() });
    let mut runs = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let started = Instant::now();
        plugin.describe(&sandbox).expect("describe");
        let probe = plugin.probe(&sandbox).expect("probe");
        let mut packages = 0;
        plugin
            .collect(&sandbox, &settings, &mut |records, _| {
                packages += records.len();
                Ok(())
            })
            .expect("collect");
        runs.push(started.elapsed());
        assert!(probe.applies);
        assert_eq!(packages, 1);
    }

    let mut native = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let started = Instant::now();
        let text = std::fs::read_to_string(dpkg_dir.join("status")).expect("read");
        let parsed =
            packages_dpkg::status::parse(&text, "status", packages_dpkg::status::MissingStatus::Skip).expect("parse");
        std::hint::black_box(parsed);
        native.push(started.elapsed());
    }
    drop(runtime);

    let (median, p99) = (percentile(&mut runs, 50.0), percentile(&mut runs, 99.0));
    let native_median = percentile(&mut native, 50.0);
    println!("plugin run: instantiate + describe + probe + collect (3 fresh stores), {RUNS} runs");
    println!("  median {:>9.1} µs", micros(median));
    println!("  p99    {:>9.1} µs", micros(p99));
    println!(
        "  budget      1000.0 µs  (median is {:.1}% of it)",
        100.0 * micros(median) / 1000.0
    );
    println!("baseline: native read + parse of the same file");
    println!(
        "  median {:>9.1} µs  (plugin run / native = {:.1}x)",
        micros(native_median),
        micros(median) / micros(native_median)
    );
    println!("plugin load (+ describe): the first start compiles, later starts load the precompiled artifact");
    println!("  compile   {:>9.2} ms", cold.as_secs_f64() * 1e3);
    let ratio = cold.as_secs_f64() / warm.as_secs_f64();
    println!(
        "  cached    {:>9.2} ms  (compile / cached = {ratio:.0}x)",
        warm.as_secs_f64() * 1e3
    );
    println!(
        "engine and linker setup, once per process: {:.2} ms",
        engine_setup.as_secs_f64() * 1e3
    );
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
