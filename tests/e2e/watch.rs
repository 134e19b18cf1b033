//! The agent collects on file events, long before a collector's interval:
//! a targeted re-check of changed files, a collection of a package database
//! that changed, nothing at all with `watch = false`.

use std::io::{BufRead, BufReader};
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::*;

/// The agent's log, collected as it comes; set when it says it watches.
struct Log {
    lines: Arc<Mutex<Vec<String>>>,
    watching: Arc<AtomicBool>,
}

fn follow_log(agent: &mut Child) -> Log {
    let lines: Arc<Mutex<Vec<String>>> = Arc::default();
    let watching = Arc::new(AtomicBool::new(false));
    let stderr = agent.stderr.take().expect("agent stderr");
    let (kept, flag) = (lines.clone(), watching.clone());
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("watching") {
                flag.store(true, Ordering::Relaxed);
            }
            kept.lock().unwrap().push(line);
        }
    });
    Log { lines, watching }
}

/// A baseline scan, then the agent, once it watches.
fn baseline_then_watch(env: &Env, manifest: &str) -> (Child, Log) {
    let root = env.path("root").display().to_string();
    assert_eq!(
        exit_code(&env.run(&["--root", &root, "--manifest", manifest, "scan"])),
        0
    );
    let mut agent = start_agent(env, manifest);
    let log = follow_log(&mut agent);
    wait_for(Duration::from_secs(30), "the watches", || {
        log.watching.load(Ordering::Relaxed)
    });
    (agent, log)
}

fn stop(agent: Child) {
    signal(&agent, "TERM");
    let output = agent.wait_with_output().expect("agent stops");
    assert_eq!(output.status.code(), Some(0));
}

const FILES: &str = r#"
[[collector]]
name = "data"
kind = "files"
plugin = "files-posix"
interval = "24h"
WATCH
  [[collector.paths]]
  path = "/data"
  recurse = true
"#;

fn changes(env: &Env) -> Vec<serde_json::Value> {
    json_lines(&env.run(&["changes", "--json"]))
}

#[cfg(target_os = "linux")]
#[test]
fn file_events_trigger_a_targeted_recheck() {
    let env = Env::new();
    env.write("root/data/a.txt", "one\n");
    env.write("root/data/keep.txt", "same\n");
    env.write("root/data/gone.txt", "bye\n");
    for i in 0..50 {
        env.write(&format!("root/data/many/f{i}.txt"), format!("{i}\n"));
    }
    let manifest = env.write("m.toml", FILES.replace("WATCH", "")).display().to_string();
    let (agent, log) = baseline_then_watch(&env, &manifest);

    env.write("root/data/a.txt", "one and two\n");
    std::fs::remove_file(env.path("root/data/gone.txt")).unwrap();
    env.write("root/data/new/deeper/b.txt", "new\n");
    wait_for(Duration::from_secs(20), "three changes", || changes(&env).len() >= 3);
    std::thread::sleep(Duration::from_millis(500));
    let mut found: Vec<String> = changes(&env)
        .iter()
        .map(|c| {
            format!(
                "{} {}",
                c["ChangeCategory"].as_str().unwrap(),
                c["FileSystemPath"].as_str().unwrap()
            )
        })
        .collect();
    found.sort();
    assert_eq!(
        found,
        [
            "Added /data/new/deeper/b.txt",
            "Modified /data/a.txt",
            "Removed /data/gone.txt"
        ],
        "{:?}",
        log.lines.lock().unwrap()
    );
    // The rest of the inventory stood: all 53 files are still there.
    let inventory = json_lines(&env.run(&["inventory", "--json"]));
    assert_eq!(inventory.len(), 53);
    // Runs since the scan were targeted: none of them re-read the whole tree.
    let status = json_lines(&env.run(&["--manifest", &manifest, "status", "--json"]));
    assert_eq!(status[0]["Items"], 53, "{status:?}");
    stop(agent);
}

#[cfg(target_os = "linux")]
#[test]
fn a_package_database_change_is_collected_at_once() {
    let env = Env::new();
    env.write(
        "root/var/lib/dpkg/status",
        stanza("bash", "install ok installed", "5.2-1", "amd64"),
    );
    let manifest = env
        .write(
            "m.toml",
            "[[collector]]\nname = \"dpkg\"\nkind = \"packages\"\nplugin = \"packages-dpkg\"\ninterval = \"24h\"\n\
             grants = [\"/var/lib/dpkg\"]\n",
        )
        .display()
        .to_string();
    let (agent, _log) = baseline_then_watch(&env, &manifest);
    // dpkg writes a new status file and renames it into place.
    let status = format!(
        "{}\n{}",
        stanza("bash", "install ok installed", "5.2-1", "amd64"),
        stanza("curl", "install ok installed", "8.5.0-1", "amd64")
    );
    env.write("root/var/lib/dpkg/status-new", status);
    std::fs::rename(
        env.path("root/var/lib/dpkg/status-new"),
        env.path("root/var/lib/dpkg/status"),
    )
    .unwrap();
    wait_for(Duration::from_secs(20), "curl's arrival", || !changes(&env).is_empty());
    let found = changes(&env);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["SoftwareName"], "curl");
    assert_eq!(found[0]["ChangeCategory"], "Added");
    stop(agent);
}

#[cfg(target_os = "linux")]
#[test]
fn watch_false_leaves_changes_to_the_schedule() {
    let env = Env::new();
    env.write("root/data/a.txt", "one\n");
    let manifest = env
        .write("m.toml", FILES.replace("WATCH", "watch = false"))
        .display()
        .to_string();
    let root = env.path("root").display().to_string();
    assert_eq!(
        exit_code(&env.run(&["--root", &root, "--manifest", &manifest, "scan"])),
        0
    );
    let mut agent = start_agent(&env, &manifest);
    let log = follow_log(&mut agent);
    // Two changes 2 s apart. The agent's first scheduled run comes at a
    // random moment (within 30 s) and may record what is there by then; but
    // without watches nothing else runs: at most one collection records
    // changes, where watching would make one per change.
    std::thread::sleep(Duration::from_secs(1));
    env.write("root/data/a.txt", "changed\n");
    std::thread::sleep(Duration::from_secs(2));
    env.write("root/data/b.txt", "new\n");
    std::thread::sleep(Duration::from_secs(3));
    let lines = log.lines.lock().unwrap().clone();
    let collections = lines.iter().filter(|l| l.contains("INFO collected")).count();
    assert!(collections <= 1, "{lines:?}");
    assert!(changes(&env).len() <= 2);
    assert!(!log.watching.load(Ordering::Relaxed));
    stop(agent);
}
