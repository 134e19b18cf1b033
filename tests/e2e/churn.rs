//! Files that vanish, are replaced or turn into directories while scans
//! read them: the scans finish, the store stays sound, and the next scans
//! settle on exactly the final state, each change recorded once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::support::*;

const FILES: usize = 20_000;

#[cfg(unix)]
#[test]
fn a_tree_changing_during_scans_settles_to_its_final_state() {
    let env = Env::new();
    for i in 0..FILES {
        env.write(&format!("root/data/d{:03}/f{i:05}", i / 100), format!("file {i}\n"));
    }
    let manifest = env
        .write(
            "m.toml",
            "[[collector]]\nname = \"data\"\nkind = \"files\"\nplugin = \"files-posix\"\n\
             [[collector.paths]]\npath = \"/data\"\nrecurse = true\n",
        )
        .display()
        .to_string();
    let root = env.path("root").display().to_string();
    let scan = |extra: &[&str]| {
        let mut args = vec![
            "--root",
            root.as_str(),
            "--manifest",
            manifest.as_str(),
            "scan",
            "--json",
        ];
        args.extend(extra);
        env.run(&args)
    };
    assert_eq!(exit_code(&scan(&[])), 0);

    // While full scans run, a writer deletes, rewrites and replaces files.
    let data = env.path("root/data");
    let staging = env.path("staging");
    std::fs::create_dir_all(&staging).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) && i < FILES / 10 {
                let path = |n: usize| data.join(format!("d{:03}/f{n:05}", n / 100));
                match i % 3 {
                    0 => std::fs::remove_file(path(i * 10)).unwrap(),
                    1 => {
                        // Replaced whole, as editors and package managers do.
                        let new = staging.join(format!("f{i}"));
                        std::fs::write(&new, format!("rewritten {i}\n")).unwrap();
                        std::fs::rename(&new, path(i * 10)).unwrap();
                    }
                    _ => {
                        std::fs::remove_file(path(i * 10)).unwrap();
                        std::fs::create_dir(path(i * 10)).unwrap();
                    }
                }
                i += 1;
                std::thread::sleep(std::time::Duration::from_micros(200));
            }
            i
        })
    };
    for _ in 0..3 {
        let out = scan(&["--full"]);
        assert_eq!(exit_code(&out), 0, "{}", stderr(&out));
    }
    stop.store(true, Ordering::Relaxed);
    let touched = writer.join().unwrap();

    // After the churn: one more scan takes in the rest, then nothing changes.
    assert_eq!(exit_code(&scan(&["--full"])), 0);
    let quiet = json_lines(&scan(&["--full"]));
    assert_eq!(quiet[0]["Changes"], 0, "{quiet:?}");

    // The inventory is exactly the tree now; the history, one row per event.
    let inventory = json_lines(&env.run(&["inventory", "--json"]));
    let (removed, rewritten) = (touched.div_ceil(3) + touched / 3, (touched + 1) / 3);
    assert_eq!(inventory.len(), FILES - removed, "{touched} files touched");
    let changes = json_lines(&env.run(&["changes", "--json"]));
    let count = |category: &str| changes.iter().filter(|c| c["ChangeCategory"] == category).count();
    assert_eq!(count("Removed"), removed);
    let twice: Vec<String> = changes
        .iter()
        .filter(|c| c["ChangeCategory"] == "Modified")
        .filter(|c| {
            let path = c["FileSystemPath"].as_str().unwrap_or_default();
            let n: usize = path.rsplit('f').next().and_then(|n| n.parse().ok()).unwrap_or(1);
            (n / 10) % 3 != 1
        })
        .map(|c| {
            format!(
                "{} {} {} {}",
                c["FileSystemPath"], c["FieldsChanged"], c["Size"], c["FileType"]
            )
        })
        .collect();
    assert_eq!(count("Modified"), rewritten, "modified but not rewritten: {twice:?}");
    assert_eq!(count("Added"), 0, "a directory is not a tracked file");
    let mut keys: Vec<String> = changes
        .iter()
        .map(|c| format!("{} {}", c["ChangeCategory"], c["FileSystemPath"]))
        .collect();
    keys.sort();
    let before = keys.len();
    keys.dedup();
    assert_eq!(keys.len(), before, "a change recorded twice");
}
