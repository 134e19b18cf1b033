//! The agent: picks up changes on its own schedule and stops cleanly.

use std::time::Duration;

use crate::support::*;

const MANIFEST: &str = r#"
[[collector]]
name = "data"
kind = "files"
plugin = "files-posix"
interval = "1s"
  [[collector.paths]]
  path = "/data/*.txt"
"#;

#[cfg(unix)]
#[test]
fn the_agent_picks_up_a_change_without_a_scan_and_stops_on_sigterm() {
    let env = Env::new();
    env.write("root/data/a.txt", "one\n");
    let manifest = env.write("m.toml", MANIFEST).display().to_string();
    let agent = start_agent(&env, &manifest);
    let status = || json_lines(&env.run(&["--manifest", &manifest, "status", "--json"]));
    agent.wait_for(Duration::from_secs(30), "the first collection", || {
        status()[0]["LastSuccess"].is_string()
    });

    env.write("root/data/a.txt", "one and two\n");
    env.write("root/data/b.txt", "new\n");
    let changes = || json_lines(&env.run(&["changes", "--json"]));
    agent.wait_for(Duration::from_secs(30), "the changes", || changes().len() >= 2);
    let found = changes();
    assert!(
        found
            .iter()
            .any(|c| c["ChangeCategory"] == "Modified" && c["FileSystemPath"] == "/data/a.txt"),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|c| c["ChangeCategory"] == "Added" && c["FileSystemPath"] == "/data/b.txt"),
        "{found:?}"
    );

    // A second agent on the same state is refused while the first runs.
    let second = env.run(&[
        "--manifest",
        &manifest,
        "--root",
        env.path("root").to_str().unwrap(),
        "run",
    ]);
    assert_eq!(exit_code(&second), 1);
    assert!(
        stderr(&second).contains("another driftwatch agent is running"),
        "{}",
        stderr(&second)
    );

    let (exit, log) = agent.stop();
    assert_eq!(exit.code(), Some(0), "{log}");
    assert!(
        log.contains("SIGTERM: stopping") && log.contains("agent stopped"),
        "{log}"
    );
    // Nothing was counted twice.
    assert_eq!(changes().len(), found.len());
}

#[cfg(unix)]
#[test]
fn sighup_reloads_the_manifest_and_rebaselines_new_paths() {
    let env = Env::new();
    env.write("root/data/a.txt", "one\n");
    env.write("root/data/c.log", "log\n");
    let manifest = env.write("m.toml", MANIFEST).display().to_string();
    let agent = start_agent(&env, &manifest);
    let inventory = || json_lines(&env.run(&["inventory", "--json"]));
    agent.wait_for(Duration::from_secs(30), "the first collection", || {
        inventory().len() == 1
    });

    std::fs::write(&manifest, MANIFEST.replace("/data/*.txt", "/data/*")).unwrap();
    agent.signal("HUP");
    agent.wait_for(Duration::from_secs(30), "the reloaded manifest", || {
        inventory().len() == 2
    });
    let changes = json_lines(&env.run(&["changes", "--json"]));
    assert!(
        changes.is_empty(),
        "a newly tracked file is a baseline, not an addition: {changes:?}"
    );

    let (exit, log) = agent.stop();
    assert!(exit.success(), "{log}");
}

#[cfg(unix)]
#[test]
fn a_fresh_agent_collects_at_once_and_a_restarted_one_keeps_its_schedule() {
    let env = Env::new();
    env.write("root/data/a.txt", "one\n");
    let manifest = env
        .write("m.toml", MANIFEST.replace("\"1s\"", "\"24h\"\nwatch = false"))
        .display()
        .to_string();
    let runs = || json_lines(&env.run(&["runs", "--json"])).len();
    // No baseline: the collector runs as the agent starts, not somewhere
    // in its first 30 s, so that changes made meanwhile are seen as changes.
    let agent = start_agent(&env, &manifest);
    agent.wait_for(Duration::from_secs(10), "the first collection", || runs() == 1);
    let (exit, log) = agent.stop();
    assert_eq!(exit.code(), Some(0), "{log}");
    assert!(log.contains("no baseline yet: collecting now"), "{log}");

    // With a baseline, the first run waits for its (jittered) turn.
    let agent = start_agent(&env, &manifest);
    std::thread::sleep(Duration::from_secs(1));
    let (exit, log) = agent.stop();
    assert_eq!(exit.code(), Some(0), "{log}");
    assert!(!log.contains("no baseline yet"), "{log}");
}
