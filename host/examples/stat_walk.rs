//! The floor under an unchanged rescan: list a tree and stat every entry,
//! nothing else, on every core. `tests/scripts/bench-files.sh` times it
//! beside `find -printf` (the same on one core) and `driftwatch scan`.
//!
//!     cargo run --release --example stat_walk -- DIR

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use rayon::prelude::*;

fn main() {
    let Some(root) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: stat_walk DIR");
        std::process::exit(2);
    };
    let started = Instant::now();
    let entries = AtomicU64::new(0);
    let bytes = AtomicU64::new(0);
    walk(&root, &entries, &bytes);
    println!(
        "{} entries, {} bytes, in {:.3} s",
        entries.load(Ordering::Relaxed),
        bytes.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64()
    );
}

/// Stats what `dir` holds (through its open handle, as `fstatat` does) and
/// walks its subdirectories in parallel.
fn walk(dir: &Path, entries: &AtomicU64, bytes: &AtomicU64) {
    let Ok(listing) = std::fs::read_dir(dir) else {
        return;
    };
    let mut subdirectories = Vec::new();
    for entry in listing.flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        entries.fetch_add(1, Ordering::Relaxed);
        bytes.fetch_add(meta.len(), Ordering::Relaxed);
        if meta.is_dir() {
            subdirectories.push(entry.path());
        }
    }
    subdirectories
        .par_iter()
        .for_each(|subdirectory| walk(subdirectory, entries, bytes));
}
