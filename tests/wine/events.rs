//! The agent on Windows collects on events, long before its 24-hour
//! intervals: a registry value set under a tracked key, a file created in a
//! tracked folder, a service's startup type (its registry key) and its
//! state (as the Service Control Manager notifies it).

use std::process::{Child, Stdio};
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

use crate::service::KeepAlive;
use crate::{generated, json_lines, text, wine};

const EVENTS_KEY: &str = r"HKEY_LOCAL_MACHINE\SOFTWARE\DriftwatchEvents";
/// Tracked too, by a rule of its own: untouched by a run of the other.
const OTHER_KEY: &str = r"HKEY_LOCAL_MACHINE\SOFTWARE\DriftwatchQuiet";
/// Wine's print spooler: a service that starts and stops on request.
const SERVICE: &str = "Spooler";

const MANIFEST: &str = r#"
[[collector]]
name = "registry"
kind = "registry"
plugin = "registry-windows"
interval = "24h"
  [[collector.keys]]
  key = 'HKLM\SOFTWARE\DriftwatchEvents'
  [[collector.keys]]
  key = 'HKLM\SOFTWARE\DriftwatchQuiet'

[[collector]]
name = "files"
kind = "files"
plugin = "files-windows"
interval = "24h"
  [[collector.paths]]
  path = 'C:\dwevents'
  recurse = true

[[collector]]
name = "services"
kind = "services"
plugin = "services-windows"
interval = "24h"
grants = ['HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services']
"#;

/// `driftwatch.exe run`, killed when dropped.
struct Agent(Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
#[ignore = "needs Wine and the Windows build: run tests/wine/run.sh"]
fn the_agent_collects_on_registry_file_and_service_events() {
    let wine = wine();
    let prefix = &wine.prefix;
    wine.run_tool(&["reg", "add", EVENTS_KEY, "/v", "Setting", "/d", "before", "/f"]);
    wine.run_tool(&["reg", "add", EVENTS_KEY, "/v", "Gone", "/d", "soon", "/f"]);
    wine.run_tool(&["reg", "add", OTHER_KEY, "/v", "Kept", "/d", "as is", "/f"]);
    std::fs::create_dir_all(prefix.join("drive_c/dwevents")).unwrap();
    std::fs::write(prefix.join("drive_c/dwevents/old.txt"), "old").unwrap();
    std::fs::write(prefix.join("drive_c/events.toml"), MANIFEST).unwrap();
    let state = "dw-events";
    std::fs::create_dir_all(prefix.join("drive_c").join(state)).unwrap();
    let log_path = prefix.join("drive_c/events-agent.log");
    let log = std::fs::File::create(&log_path).unwrap();
    // The prefix's wineserver started with no pipe to hold (see KeepAlive).
    let _session = KeepAlive::start(wine);
    let agent = Agent(
        wine.command(&wine.exe)
            .args(["--state", r"C:\dw-events", "--manifest", r"C:\events.toml", "run"])
            // The watches' debug lines say what told of each change.
            .env("RUST_LOG", "info,driftwatch::watch=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("wine runs driftwatch.exe"),
    );
    let agent_log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let changes = || json_lines(&wine.dw(state, &["changes", "--json"]));
    let wait_for = |what: &str, limit: Duration, check: &dyn Fn(&[Value]) -> bool| -> Vec<Value> {
        let started = Instant::now();
        loop {
            let found = changes();
            if check(&found) {
                return found;
            }
            assert!(
                started.elapsed() < limit,
                "no {what} within {limit:?}: {found:#?}\nthe agent logged:\n{}",
                agent_log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    // The three baselines, at once (no baseline yet: no waiting for a turn).
    let started = Instant::now();
    while json_lines(&wine.dw(state, &["runs", "--json"])).len() < 3 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no baselines; the agent logged:\n{}",
            agent_log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Let the watches settle in before changing anything.
    std::thread::sleep(Duration::from_secs(1));

    // A value under the tracked key: Modified, within 2 s.
    let before = SystemTime::now();
    wine.run_tool(&["reg", "add", EVENTS_KEY, "/v", "Setting", "/d", "after", "/f"]);
    let found = wait_for("registry change", Duration::from_secs(20), &|c| {
        c.iter().any(|c| text(c, "ValueData") == "after")
    });
    let change = found.iter().find(|c| text(c, "ValueData") == "after").unwrap();
    assert_eq!(text(change, "ChangeCategory"), "Modified");
    let latency = generated(change).duration_since(before).unwrap_or_default();
    assert!(
        latency < Duration::from_secs(2),
        "registry change seen after {latency:?}"
    );
    println!("registry value set → change recorded: {latency:?}");

    // A value deleted: Removed, by a run of that key's rule alone.
    let before = SystemTime::now();
    wine.run_tool(&["reg", "delete", EVENTS_KEY, "/v", "Gone", "/f"]);
    let is_gone = |c: &Value| text(c, "ValueName") == "Gone" && text(c, "ChangeCategory") == "Removed";
    let found = wait_for("registry removal", Duration::from_secs(20), &|c| c.iter().any(is_gone));
    let latency = generated(found.iter().find(|c| is_gone(c)).unwrap())
        .duration_since(before)
        .unwrap_or_default();
    assert!(
        latency < Duration::from_secs(2),
        "registry removal seen after {latency:?}"
    );
    println!("registry value deleted → change recorded: {latency:?}");
    let runs = json_lines(&wine.dw(state, &["runs", "--json"]));
    let last = runs
        .iter()
        .filter(|r| text(r, "Collector") == "registry")
        .max_by_key(|r| r["RunId"].as_i64())
        .expect("a registry run");
    assert_eq!(text(last, "Scope"), "targeted", "{last:#}");
    assert_eq!(last["ScopePaths"], serde_json::json!([EVENTS_KEY]), "{last:#}");
    assert!(
        !found.iter().any(|c| text(c, "RegistryKey").contains("DriftwatchQuiet")),
        "the other rule's values were touched: {found:#?}"
    );

    // A file created in the tracked folder: Added, within 2 s.
    let before = SystemTime::now();
    std::fs::write(prefix.join("drive_c/dwevents/new.txt"), "new").unwrap();
    let found = wait_for("file change", Duration::from_secs(20), &|c| {
        c.iter().any(|c| text(c, "FileSystemPath").ends_with("new.txt"))
    });
    let change = found
        .iter()
        .find(|c| text(c, "FileSystemPath").ends_with("new.txt"))
        .unwrap();
    assert_eq!(text(change, "ChangeCategory"), "Added");
    let latency = generated(change).duration_since(before).unwrap_or_default();
    assert!(latency < Duration::from_secs(2), "file change seen after {latency:?}");
    println!("file created → change recorded: {latency:?}");

    // A service's startup type (its registry key; Wine's `sc config` does
    // not set it): within 2 s.
    let service_key = format!(r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\{SERVICE}");
    let set_start = |start: &str| {
        wine.run_tool(&[
            "reg",
            "add",
            &service_key,
            "/v",
            "Start",
            "/t",
            "REG_DWORD",
            "/d",
            start,
            "/f",
        ])
    };
    let before = SystemTime::now();
    set_start("4");
    let is_startup = |c: &Value| text(c, "SvcName") == SERVICE && text(c, "SvcStartupType") == "Disabled";
    let found = wait_for("startup type change", Duration::from_secs(20), &|c| {
        c.iter().any(is_startup)
    });
    let latency = generated(found.iter().find(|c| is_startup(c)).unwrap())
        .duration_since(before)
        .unwrap_or_default();
    assert!(
        latency < Duration::from_secs(2),
        "startup type change seen after {latency:?}"
    );
    println!("service startup type set → change recorded: {latency:?}");
    set_start("3");

    // A service started: its state, as the SCM notifies it.
    let before = SystemTime::now();
    wine.run_tool(&["sc", "start", SERVICE]);
    let is_running = |c: &Value| text(c, "SvcName") == SERVICE && text(c, "SvcState") == "Running";
    let found = wait_for("service state change", Duration::from_secs(30), &|c| {
        c.iter().any(is_running)
    });
    let latency = generated(found.iter().find(|c| is_running(c)).unwrap())
        .duration_since(before)
        .unwrap_or_default();
    assert!(
        latency < Duration::from_secs(2),
        "service state change seen after {latency:?}"
    );
    println!("service started → change recorded: {latency:?}");
    let _ = wine.tool(&["sc", "stop", SERVICE]);

    assert!(agent_log().contains("watching"), "the agent logged:\n{}", agent_log());
    // The SCM told (`NotifyServiceStatusChangeW`), not the 10 s asking.
    let notified = format!("service {SERVICE}: state 4 (notified)");
    assert!(agent_log().contains(&notified), "the agent logged:\n{}", agent_log());
    drop(agent);
}
