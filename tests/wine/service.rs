//! The agent as a Windows service, installed from its MSI by Wine's
//! `msiexec`: the Service Control Manager runs it, it collects, it stops
//! and starts cleanly (twenty times, no change lost or counted twice), it
//! records a registry value set or a file created within 2 s, an upgrade
//! keeps its state, an uninstall removes the service and the program but
//! keeps `ProgramData` unless asked.
//!
//! Under Wine, `services.exe` (and every service with it) is shut down when
//! the last ordinary process of the prefix ends; `KeepAlive` holds one
//! open for as long as the service should run, as a logged-in session does
//! on Windows.

use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

use crate::{Wine, generated, json_lines, text, wine};

const STATE: &str = r"C:\ProgramData\driftwatch";
const SERVICE_KEY: &str = r"HKEY_LOCAL_MACHINE\SOFTWARE\DriftwatchService";
/// Stop/start cycles, each with a change made while the service is stopped.
const CYCLES: usize = 20;

/// An ordinary process of the prefix, so that Wine keeps its services up.
pub(crate) struct KeepAlive(Child);

impl KeepAlive {
    pub(crate) fn start(wine: &Wine) -> KeepAlive {
        // Whichever Wine process starts the prefix's wineserver (and its
        // services.exe) hands it its standard output and error: they must
        // not be a pipe that a later `output()` waits to see closed.
        let quiet_cmd = |args: &[&str]| {
            let mut command = wine.command(Path::new("cmd"));
            command.args(args).stdout(Stdio::null()).stderr(Stdio::null());
            command
        };
        // `cmd /c pause` waits for a key on a standard input that never sends one.
        let child = quiet_cmd(&["/c", "pause"])
            .stdin(Stdio::piped())
            .spawn()
            .expect("wine runs cmd");
        let settled = quiet_cmd(&["/c", "exit"])
            .stdin(Stdio::null())
            .status()
            .expect("wine runs cmd");
        assert!(settled.success());
        KeepAlive(child)
    }
}

impl Drop for KeepAlive {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Wine {
    pub(crate) fn tool(&self, args: &[&str]) -> Output {
        self.command(Path::new(args[0]))
            .args(&args[1..])
            .output()
            .expect("wine runs")
    }

    /// `driftwatch.exe` as installed, on the service's state.
    fn installed(&self, args: &[&str]) -> Output {
        self.command(&self.program_files().join("driftwatch.exe"))
            .args(["--state", STATE])
            .args(args)
            .output()
            .expect("wine runs the installed driftwatch.exe")
    }

    fn program_files(&self) -> PathBuf {
        self.prefix.join("drive_c/Program Files/driftwatch")
    }

    fn program_data(&self) -> PathBuf {
        self.prefix.join("drive_c/ProgramData/driftwatch")
    }

    fn msiexec(&self, args: &[&str]) {
        let out = self.tool(&[&["msiexec"], args].concat());
        assert!(
            out.status.success(),
            "msiexec {args:?}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `sc query driftwatch`: the state's name (RUNNING, STOPPED, ...) and
    /// the exit code, or `None` when there is no such service.
    fn service_state(&self) -> Option<(String, String)> {
        let out = self.tool(&["sc", "query", "driftwatch"]);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        // `STATE : 4  RUNNING`, `WIN32_EXIT_CODE : 0  (0x0)`
        let field = |name: &str| -> Option<Vec<String>> {
            let line = stdout.lines().find(|line| line.trim_start().starts_with(name))?;
            Some(line.split(':').nth(1)?.split_whitespace().map(str::to_string).collect())
        };
        let state = field("STATE")?.last()?.clone();
        let exit_code = field("WIN32_EXIT_CODE").and_then(|words| words.first().cloned());
        Some((state, exit_code.unwrap_or_default()))
    }

    /// Waits until there is no such service (a deleted one may linger a moment).
    fn wait_for_no_service(&self) {
        let started = Instant::now();
        while let Some(status) = self.service_state() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the service is still there: {status:?}"
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    fn wait_for_state(&self, wanted: &str) -> (String, String) {
        let started = Instant::now();
        loop {
            let now = self.service_state();
            if let Some(status) = now.as_ref().filter(|(state, _)| state == wanted) {
                return status.clone();
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the service is not {wanted}: {now:?}\n{}",
                self.service_log()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// The service's log files, joined.
    fn service_log(&self) -> String {
        let Ok(entries) = std::fs::read_dir(self.program_data().join("logs")) else {
            return "(no log)".into();
        };
        let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        files.sort();
        files
            .iter()
            .map(|f| std::fs::read_to_string(f).unwrap_or_default())
            .collect()
    }
}

/// A Linux path as Wine's `Z:` drive shows it.
fn windows_path(path: &str) -> String {
    let absolute = std::path::absolute(path).expect("an absolute path");
    format!("Z:{}", absolute.display()).replace('/', "\\")
}

/// On a failing test, uninstalls what it installed: the prefix is shared,
/// and an automatic-start service would run in the tests after it.
struct UninstallOnFailure<'a> {
    wine: &'a Wine,
    /// The packages the test installs (whichever is installed goes).
    msis: [String; 2],
}

impl Drop for UninstallOnFailure<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for msi in &self.msis {
                let _ = self.wine.tool(&["msiexec", "/x", msi, "/qn", "PURGE_STATE=1"]);
            }
        }
    }
}

fn wait_until(what: &str, wine: &Wine, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "timed out waiting for {what}; the service logged:\n{}",
            wine.service_log()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The changes of the tracked value `Cycle`, as (ChangeId, data).
fn cycle_changes(wine: &Wine) -> Vec<(i64, String)> {
    let changes = json_lines(&wine.installed(&["changes", "--type", "Registry", "--json"]));
    changes
        .iter()
        .filter(|c| text(c, "ValueName") == "Cycle")
        .map(|c: &Value| (c["ChangeId"].as_i64().unwrap_or(-1), text(c, "ValueData")))
        .collect()
}

const SERVICE_MANIFEST: &str = r#"
[[collector]]
name = "service-registry"
kind = "registry"
plugin = "registry-windows"
interval = "2s"
  [[collector.keys]]
  key = 'HKLM\SOFTWARE\DriftwatchService'
"#;

/// The same key with a daily interval, and a folder: changes are seen on
/// events, not on the schedule.
const EVENTS_MANIFEST: &str = r#"
[[collector]]
name = "service-registry"
kind = "registry"
plugin = "registry-windows"
interval = "24h"
  [[collector.keys]]
  key = 'HKLM\SOFTWARE\DriftwatchService'

[[collector]]
name = "service-files"
kind = "files"
plugin = "files-windows"
interval = "24h"
  [[collector.paths]]
  path = 'C:\dwservice'
  recurse = true
"#;

/// Waits for a change that `is` picks out, then how long after `before`
/// the service recorded it.
fn recorded_after(wine: &Wine, before: SystemTime, is: impl Fn(&Value) -> bool) -> Duration {
    let mut found = None;
    wait_until("a change on an event", wine, || {
        found = json_lines(&wine.installed(&["changes", "--json"]))
            .into_iter()
            .find(|c| is(c));
        found.is_some()
    });
    let change = found.expect("found");
    generated(&change).duration_since(before).unwrap_or_default()
}

#[test]
#[ignore = "needs Wine, wixl and the Windows build: run tests/wine/run.sh"]
fn the_msi_installs_a_service_that_collects_restarts_cleanly_and_uninstalls() {
    let wine = wine();
    let msi = windows_path(&std::env::var("DRIFTWATCH_MSI").expect("DRIFTWATCH_MSI: the MSI to install"));
    let next_msi =
        windows_path(&std::env::var("DRIFTWATCH_MSI_NEXT").expect("DRIFTWATCH_MSI_NEXT: a newer MSI, to upgrade to"));
    let _session = KeepAlive::start(wine);
    wine.run_tool(&["reg", "add", SERVICE_KEY, "/v", "Cycle", "/d", "start", "/f"]);

    // Installed: the program, the default manifest, a running service.
    let _cleanup = UninstallOnFailure {
        wine,
        msis: [msi.clone(), next_msi.clone()],
    };
    wine.msiexec(&["/i", &msi, "/qn"]);
    assert!(wine.program_files().join("driftwatch.exe").is_file());
    let manifest = wine.program_data().join("manifest.toml");
    let default = std::fs::read_to_string(&manifest).expect("the default manifest in ProgramData");
    assert!(default.contains("plugin = \"services-windows\""), "{default}");
    wine.wait_for_state("RUNNING");

    // It collects on its own: Wine's services and programs.
    let inventory = || json_lines(&wine.installed(&["inventory", "--json"]));
    wait_until("the service's first inventory", wine, || {
        let rows = inventory();
        ["WindowsServices", "Software"]
            .iter()
            .all(|t| rows.iter().any(|r| r["ConfigDataType"] == *t))
    });

    // A manifest of its own, picked up while it runs.
    std::fs::write(&manifest, SERVICE_MANIFEST).unwrap();
    wait_until("the new manifest's baseline", wine, || {
        inventory().iter().any(|r| text(r, "ValueName") == "Cycle")
    });

    // Stopped and started again and again, with a change made while it is
    // stopped each time: each change is recorded once.
    for cycle in 0..CYCLES {
        wine.run_tool(&["sc", "stop", "driftwatch"]);
        let (_, exit_code) = wine.wait_for_state("STOPPED");
        assert_eq!(exit_code, "0", "cycle {cycle}: a clean stop\n{}", wine.service_log());
        let value = format!("cycle-{cycle}");
        wine.run_tool(&["reg", "add", SERVICE_KEY, "/v", "Cycle", "/d", &value, "/f"]);
        wine.run_tool(&["sc", "start", "driftwatch"]);
        wine.wait_for_state("RUNNING");
        wait_until(&format!("the change of cycle {cycle}"), wine, || {
            cycle_changes(wine).iter().any(|(_, data)| *data == value)
        });
    }
    let changes = cycle_changes(wine);
    let values: Vec<&str> = changes.iter().map(|(_, data)| data.as_str()).collect();
    let expected: Vec<String> = (0..CYCLES).map(|c| format!("cycle-{c}")).collect();
    assert_eq!(values, expected, "one change per cycle, in order: {changes:?}");
    let log = wine.service_log();
    assert!(
        log.matches("the driftwatch service is running").count() > CYCLES,
        "{log}"
    );
    assert!(log.contains("asked to stop: stopping"), "{log}");

    // Run by the SCM, it sees changes as they happen: daily intervals, and
    // a value set or a file created is recorded within 2 s.
    std::fs::create_dir_all(wine.prefix.join("drive_c/dwservice")).unwrap();
    std::fs::write(&manifest, EVENTS_MANIFEST).unwrap();
    wait_until("the files collector's baseline", wine, || {
        let runs = json_lines(&wine.installed(&["runs", "--json"]));
        runs.iter().any(|r| text(r, "Collector") == "service-files")
    });
    std::thread::sleep(Duration::from_secs(1));
    let before = SystemTime::now();
    wine.run_tool(&["reg", "add", SERVICE_KEY, "/v", "Cycle", "/d", "on-event", "/f"]);
    let latency = recorded_after(wine, before, |c| text(c, "ValueData") == "on-event");
    println!("service: registry value set → change recorded: {latency:?}");
    assert!(
        latency < Duration::from_secs(2),
        "registry change seen after {latency:?}"
    );
    let before = SystemTime::now();
    std::fs::write(wine.prefix.join("drive_c/dwservice/new.txt"), "new").unwrap();
    let latency = recorded_after(wine, before, |c| text(c, "FileSystemPath").ends_with("new.txt"));
    println!("service: file created → change recorded: {latency:?}");
    assert!(latency < Duration::from_secs(2), "file change seen after {latency:?}");

    // An upgrade in place keeps the state: no new baseline, no change.
    let before = cycle_changes(wine);
    wine.msiexec(&["/i", &next_msi, "/qn"]);
    wine.wait_for_state("RUNNING");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(cycle_changes(wine), before);
    assert_eq!(std::fs::read_to_string(&manifest).unwrap(), EVENTS_MANIFEST);

    // Uninstalled: no service, no program; the state stays.
    wine.msiexec(&["/x", &next_msi, "/qn"]);
    wine.wait_for_no_service();
    assert!(!wine.program_files().join("driftwatch.exe").exists());
    assert!(manifest.is_file());
    assert!(wine.program_data().join("logs").is_dir());

    // Asked to, the uninstall takes the state too.
    wine.msiexec(&["/i", &next_msi, "/qn"]);
    wine.wait_for_state("RUNNING");
    wine.msiexec(&["/x", &next_msi, "/qn", "PURGE_STATE=1"]);
    wine.wait_for_no_service();
    assert!(!wine.program_data().exists());
}
