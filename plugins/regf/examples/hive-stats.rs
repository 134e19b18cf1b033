//! Counts the keys and values of hive files and prints the damage met:
//! `cargo run -p driftwatch-regf --example hive-stats -- HIVE...`

use std::path::Path;

fn count(key: &regf::Key, depth: usize, totals: &mut (usize, usize, usize)) {
    totals.0 += 1;
    match key.values() {
        Ok(values) => {
            for value in values {
                totals.1 += 1;
                if value.render().is_err() {
                    totals.2 += 1;
                }
            }
        }
        Err(_) => totals.2 += 1,
    }
    // Real hives are far shallower; deeper means a loop in a damaged file.
    if depth >= 512 {
        return;
    }
    match key.subkeys() {
        Ok(subkeys) => subkeys.iter().for_each(|sub| count(sub, depth + 1, totals)),
        Err(_) => totals.2 += 1,
    }
}

fn main() {
    for path in std::env::args().skip(1) {
        let started = std::time::Instant::now();
        match regf::Hive::open(Path::new(&path)) {
            Ok(hive) => {
                let mut totals = (0, 0, 0);
                if let Ok(root) = hive.root() {
                    count(&root, 0, &mut totals);
                }
                let warnings = hive.take_warnings();
                println!(
                    "{path}: {} keys, {} values, {} unreadable, {} warnings, {:?}",
                    totals.0,
                    totals.1,
                    totals.2,
                    warnings.len(),
                    started.elapsed()
                );
                for warning in warnings.iter().take(5) {
                    println!("  warning: {warning}");
                }
            }
            Err(e) => println!("{path}: error: {e}"),
        }
    }
}
