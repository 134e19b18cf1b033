//! Fuzzes every parser of untrusted input for a fixed budget.
//!
//! ```text
//! cargo run --release -p driftwatch-fuzz -- [--seconds N] [--cases N] [TARGET...]
//! ```
//!
//! Inputs are the seeds in `fuzz/seeds/<target>/` (real-format samples made
//! by the parsers' own fixture writers, and hand-written text) mutated by a
//! proptest strategy: bit flips, byte sets, insertions, deletions,
//! duplications, splices of two seeds, truncations; and plain random bytes.
//! A panic is a failure: proptest shrinks the input, the runner writes it to
//! `fuzz/crashes/<target>-<n>` and exits non-zero. Prints, per target, the
//! executions run and the crashes found.

mod mutate;
mod targets;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};

fn main() {
    let mut seconds = 10u64;
    let mut cases: Option<u32> = None;
    let mut wanted: Vec<String> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => seconds = args.next().and_then(|v| v.parse().ok()).unwrap_or(seconds),
            "--cases" => cases = args.next().and_then(|v| v.parse().ok()),
            "--list" => {
                for target in targets::TARGETS {
                    println!("{}", target.name);
                }
                return;
            }
            "-h" | "--help" => {
                println!("driftwatch-fuzz [--seconds N per target (10)] [--cases N instead] [TARGET...] | --list");
                return;
            }
            name => wanted.push(name.to_string()),
        }
    }
    // Panics are expected and caught; their messages would only be noise.
    std::panic::set_hook(Box::new(|_| {}));
    let seeds_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    let mut failed = false;
    println!("{:<15} {:>6} {:>12} {:>9}", "TARGET", "SEEDS", "EXECUTIONS", "CRASHES");
    for target in targets::TARGETS {
        if !wanted.is_empty() && !wanted.iter().any(|w| w == target.name) {
            continue;
        }
        let seeds = mutate::load_seeds(&seeds_dir.join(target.name));
        let budget = match cases {
            Some(n) => Budget::Cases(n),
            None => Budget::Time(Duration::from_secs(seconds)),
        };
        let report = fuzz(target, &seeds, budget);
        println!(
            "{:<15} {:>6} {:>12} {:>9}",
            target.name,
            seeds.len(),
            report.executions,
            report.crashes.len()
        );
        for (i, (input, message)) in report.crashes.iter().enumerate() {
            failed = true;
            let path = crash_path(target.name, i);
            let _ = std::fs::create_dir_all(path.parent().unwrap_or(Path::new(".")));
            let _ = std::fs::write(&path, input);
            eprintln!(
                "  {}: {message}; input ({} bytes) in {}",
                target.name,
                input.len(),
                path.display()
            );
        }
    }
    if failed {
        std::process::exit(1);
    }
}

enum Budget {
    Time(Duration),
    Cases(u32),
}

struct Report {
    executions: u64,
    crashes: Vec<(Vec<u8>, String)>,
}

/// Runs rounds of proptest cases until the budget is spent or a crash is found.
fn fuzz(target: &targets::Target, seeds: &[Vec<u8>], budget: Budget) -> Report {
    const ROUND: u32 = 2_000;
    let started = Instant::now();
    let mut report = Report {
        executions: 0,
        crashes: Vec::new(),
    };
    let mut round = 0u64;
    loop {
        let cases = match budget {
            Budget::Time(limit) if started.elapsed() >= limit => break,
            Budget::Time(_) => ROUND,
            Budget::Cases(total) => {
                let left = u64::from(total).saturating_sub(report.executions);
                if left == 0 {
                    break;
                }
                left.min(u64::from(ROUND)) as u32
            }
        };
        let config = Config {
            cases,
            failure_persistence: None,
            rng_seed: proptest::test_runner::RngSeed::Fixed(round),
            ..Config::default()
        };
        round += 1;
        let mut runner = TestRunner::new(config);
        let counted = std::cell::Cell::new(0u64);
        let result = runner.run(&mutate::inputs(seeds.to_vec()), |input| {
            counted.set(counted.get() + 1);
            let run = target.run;
            std::panic::catch_unwind(|| run(&input)).map_err(|panic| TestCaseError::fail(panic_message(&panic)))
        });
        report.executions += counted.get();
        match result {
            Ok(()) => {}
            Err(TestError::Fail(message, input)) => {
                report.crashes.push((input, message.to_string()));
                break;
            }
            Err(TestError::Abort(why)) => {
                report.crashes.push((Vec::new(), format!("aborted: {why}")));
                break;
            }
        }
    }
    report
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into())
}

fn crash_path(target: &str, n: usize) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("crashes")
        .join(format!("{target}-{n}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A short run of every target, so that the harness and the parsers'
    /// robustness stay checked by the test suite; long runs use the binary.
    #[test]
    fn every_target_survives_a_short_run() {
        std::panic::set_hook(Box::new(|_| {}));
        let seeds_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
        for target in targets::TARGETS {
            let seeds = mutate::load_seeds(&seeds_dir.join(target.name));
            assert!(!seeds[0].is_empty(), "{}: no seeds", target.name);
            let report = fuzz(target, &seeds, Budget::Cases(300));
            assert_eq!(report.executions, 300, "{}", target.name);
            assert!(report.crashes.is_empty(), "{}: {:?}", target.name, report.crashes);
        }
    }

    #[test]
    fn a_panicking_target_is_caught_and_reported() {
        std::panic::set_hook(Box::new(|_| {}));
        let target = targets::Target {
            name: "panics-on-x",
            run: |data| assert!(!data.contains(&b'x'), "found an x"),
        };
        let report = fuzz(&target, &[b"abc".to_vec()], Budget::Cases(5_000));
        assert_eq!(report.crashes.len(), 1);
        let (input, message) = &report.crashes[0];
        assert!(message.contains("found an x"), "{message}");
        assert_eq!(input, b"x", "proptest shrinks the input");
    }
}
