//! The agent collects on file events, long before a collector's interval:
//! a targeted re-check of changed files, a collection of a package database
//! that changed, nothing at all with `watch = false`.
//!
//! Each test lets the agent's first scheduled run (at a random moment within
//! 30 s of its start) happen before changing anything, so that every later
//! run is one that events caused — and runs record what they looked at.

use std::time::Duration;

use serde_json::Value;

use crate::support::*;

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

fn changes(env: &Env) -> Vec<Value> {
    json_lines(&env.run(&["changes", "--json"]))
}

/// The recorded runs, oldest first.
fn runs(env: &Env) -> Vec<Value> {
    let mut runs = json_lines(&env.run(&["runs", "--json"]));
    runs.reverse();
    runs
}

/// A baseline scan, then the agent, once its first scheduled run is done.
fn baseline_then_agent(env: &Env, manifest: &str) -> Agent {
    let root = env.path("root").display().to_string();
    assert_eq!(
        exit_code(&env.run(&["--root", &root, "--manifest", manifest, "scan"])),
        0
    );
    let agent = start_agent(env, manifest);
    agent.wait_for(Duration::from_secs(40), "the agent's first scheduled run", || {
        runs(env).len() >= 2
    });
    agent
}

fn stop(agent: Agent) {
    let (exit, log) = agent.stop();
    assert_eq!(exit.code(), Some(0), "{log}");
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
    let agent = baseline_then_agent(&env, &manifest);
    let before = runs(&env).len();

    env.write("root/data/a.txt", "one and two\n");
    std::fs::remove_file(env.path("root/data/gone.txt")).unwrap();
    env.write("root/data/new/deeper/b.txt", "new\n");
    agent.wait_for(Duration::from_secs(20), "three changes", || changes(&env).len() >= 3);
    // Let any event still queued run, then take stock.
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
        ]
    );
    // Every run since was targeted at the changed paths, and between them
    // they recorded exactly those changes.
    let since: Vec<Value> = runs(&env).split_off(before);
    assert!(!since.is_empty());
    let mut looked_at = Vec::new();
    for run in &since {
        assert_eq!(run["Scope"], "targeted", "{since:#?}");
        looked_at.extend(
            run["ScopePaths"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_str().unwrap().to_string()),
        );
    }
    for path in ["/data/a.txt", "/data/gone.txt"] {
        assert!(looked_at.iter().any(|p| p == path), "{path} in {looked_at:?}");
    }
    assert!(looked_at.iter().any(|p| p.starts_with("/data/new")), "{looked_at:?}");
    assert!(
        !looked_at
            .iter()
            .any(|p| p.starts_with("/data/many") || p == "/data/keep.txt"),
        "only what changed is looked at: {looked_at:?}"
    );
    let recorded: i64 = since.iter().map(|r| r["ChangeCount"].as_i64().unwrap()).sum();
    assert_eq!(recorded, 3, "{since:#?}");
    // The rest of the inventory stood: all 53 files, counted by the last run too.
    assert_eq!(json_lines(&env.run(&["inventory", "--json"])).len(), 53);
    assert_eq!(since.last().unwrap()["ItemCount"], 53);
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
    let agent = baseline_then_agent(&env, &manifest);
    let before = runs(&env).len();
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
    agent.wait_for(Duration::from_secs(20), "curl's arrival", || !changes(&env).is_empty());
    let found = changes(&env);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["SoftwareName"], "curl");
    assert_eq!(found[0]["ChangeCategory"], "Added");
    // Package databases are read whole again: a full run, not a targeted one.
    let since = runs(&env).split_off(before);
    assert!(since.iter().all(|r| r["Scope"] == "full"), "{since:#?}");
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
    let agent = baseline_then_agent(&env, &manifest);
    let before = runs(&env).len();
    // With watches, each of these would be recorded within a fraction of a
    // second; without them nothing runs until the next interval (24 h).
    env.write("root/data/a.txt", "changed\n");
    env.write("root/data/b.txt", "new\n");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(runs(&env).len(), before, "{:#?}", runs(&env));
    assert!(changes(&env).is_empty(), "{:?}", changes(&env));
    stop(agent);
}
