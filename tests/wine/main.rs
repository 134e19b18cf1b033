//! The Windows build, run under Wine: the live registry (host import), the
//! Service Control Manager and Windows paths, exercised for real.
//!
//! Run by `tests/wine/run.sh`, which builds `driftwatch.exe` for
//! `x86_64-pc-windows-gnu`, prepares a Wine prefix and runs these tests with
//! `--ignored` (they need both; `cargo test` alone skips them).
//! `DRIFTWATCH_EXE` names the executable, `WINEPREFIX` the prefix.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;

mod events;
mod service;

const UNINSTALL: &str = r"SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall";
const UNINSTALL_WOW: &str = r"SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall";
const TEST_KEY: &str = r"HKEY_LOCAL_MACHINE\SOFTWARE\DriftwatchTest";

/// The programs seeded under `Uninstall`: key, view, name, version, publisher.
const PROGRAMS: [(&str, &str, &str, &str); 3] = [
    ("HKEY_LOCAL_MACHINE", UNINSTALL, "Driftwatch Test App", "1.2.3"),
    ("HKEY_LOCAL_MACHINE", UNINSTALL_WOW, "Driftwatch Legacy Tool", "4.5"),
    (
        "HKEY_CURRENT_USER",
        r"Software\Microsoft\Windows\CurrentVersion\Uninstall",
        "Driftwatch User Tool",
        "0.9",
    ),
];

/// The values seeded under the tracked key: name, type, `.reg` data, how
/// driftwatch renders it.
const VALUES: [(&str, &str, &str, &str); 7] = [
    ("Text", "REG_SZ", "\"hello\"", "hello"),
    (
        "Expand",
        "REG_EXPAND_SZ",
        "hex(2):25,00,57,00,49,00,4e,00,44,00,49,00,52,00,25,00,5c,00,78,00,00,00",
        r"%WINDIR%\x",
    ),
    ("Binary", "REG_BINARY", "hex:de,ad,be,ef", "deadbeef"),
    ("Number", "REG_DWORD", "dword:0000002a", "42"),
    ("Big", "REG_QWORD", "hex(b):02,00,00,00,01,00,00,00", "4294967298"),
    (
        "List",
        "REG_MULTI_SZ",
        "hex(7):6f,00,6e,00,65,00,00,00,74,00,77,00,6f,00,00,00,00,00",
        r#"["one","two"]"#,
    ),
    ("Nothing", "REG_NONE", "hex(0):", ""),
];

struct Wine {
    exe: PathBuf,
    prefix: PathBuf,
}

/// The prefix, seeded once: programs, values, a `C:\dwtest` tree.
fn wine() -> &'static Wine {
    static WINE: OnceLock<Wine> = OnceLock::new();
    WINE.get_or_init(|| {
        let exe =
            PathBuf::from(std::env::var_os("DRIFTWATCH_EXE").expect("DRIFTWATCH_EXE: the driftwatch.exe to test"));
        let prefix = PathBuf::from(std::env::var_os("WINEPREFIX").expect("WINEPREFIX: the Wine prefix to use"));
        let wine = Wine { exe, prefix };
        let mut reg = String::from("Windows Registry Editor Version 5.00\r\n\r\n");
        for (i, (root, key, name, version)) in PROGRAMS.iter().enumerate() {
            reg.push_str(&format!(
                "[{root}\\{key}\\DW-{i}]\r\n\"DisplayName\"=\"{name}\"\r\n\"DisplayVersion\"=\"{version}\"\r\n\
                 \"Publisher\"=\"Driftwatch Tests\"\r\n\"InstallDate\"=\"20240115\"\r\n\r\n"
            ));
        }
        reg.push_str(&format!("[{TEST_KEY}]\r\n"));
        for (name, _, data, _) in VALUES {
            reg.push_str(&format!("\"{name}\"={data}\r\n"));
        }
        reg.push_str(&format!("\r\n[{TEST_KEY}\\Nested]\r\n\"Deep\"=\"down here\"\r\n"));
        // As regedit writes them: UTF-16LE with a byte-order mark (in an
        // 8-bit file Wine's regedit reads hex(2) and hex(7) data as ANSI).
        let mut bytes = vec![0xff, 0xfe];
        bytes.extend(reg.encode_utf16().flat_map(u16::to_le_bytes));
        std::fs::write(wine.prefix.join("drive_c/seed.reg"), bytes).unwrap();
        wine.run_tool(&["regedit", "/S", r"C:\seed.reg"]);
        let tree = wine.prefix.join("drive_c/dwtest");
        for (path, text) in [
            ("a.txt", "alpha"),
            ("b.TXT", "bravo"),
            ("c.log", "not tracked"),
            ("Sub/File.TXT", "sub"),
            ("Sub/deeper/x.txt", "deep"),
        ] {
            let path = tree.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        wine
    })
}

impl Wine {
    fn command(&self, program: &Path) -> Command {
        let mut command = Command::new("wine");
        command
            .arg(program)
            .env("WINEPREFIX", &self.prefix)
            .env("WINEDEBUG", "-all");
        command
    }

    /// A Windows tool of the prefix (`reg`, `regedit`), which must succeed.
    /// Tried twice: once in a few hundred runs, Wine fails to start a tool
    /// at all (a failed exit with nothing said) while a service stops.
    fn run_tool(&self, args: &[&str]) {
        let run = || {
            self.command(Path::new(args[0]))
                .args(&args[1..])
                .output()
                .expect("wine runs")
        };
        let mut out = run();
        if !out.status.success() && out.stdout.is_empty() && out.stderr.is_empty() {
            eprintln!("{args:?} failed silently ({}): once more", out.status);
            out = run();
        }
        assert!(
            out.status.success(),
            "{args:?}: {}\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Sets the tracked DWORD and the first program's version.
    fn set_number_and_version(&self, number: &str, version: &str) {
        self.run_tool(&[
            "reg",
            "add",
            TEST_KEY,
            "/v",
            "Number",
            "/t",
            "REG_DWORD",
            "/d",
            number,
            "/f",
        ]);
        let app = format!(r"HKEY_LOCAL_MACHINE\{UNINSTALL}\DW-0");
        self.run_tool(&["reg", "add", &app, "/v", "DisplayVersion", "/d", version, "/f"]);
    }

    /// `driftwatch.exe` with a state directory of its own per test.
    fn dw(&self, state: &str, args: &[&str]) -> Output {
        let state = self.prefix.join("drive_c").join(state);
        std::fs::create_dir_all(&state).unwrap();
        let state = format!(r"C:\{}", state.file_name().unwrap().to_string_lossy());
        self.command(&self.exe)
            .args(["--state", &state])
            .args(args)
            .output()
            .expect("wine runs driftwatch.exe")
    }

    fn manifest(&self) -> String {
        let text = r#"
[[collector]]
name = "software"
kind = "packages"
plugin = "software-windows"
grants = ['HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall',
          'HKEY_LOCAL_MACHINE\SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall',
          'HKEY_USERS\*\Software\Microsoft\Windows\CurrentVersion\Uninstall']

[[collector]]
name = "services"
kind = "services"
plugin = "services-windows"
grants = ['HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services']

[[collector]]
name = "registry"
kind = "registry"
plugin = "registry-windows"
  [[collector.keys]]
  key = 'HKLM\SOFTWARE\DriftwatchTest'
  recurse = true

[[collector]]
name = "files"
kind = "files"
plugin = "files-windows"
  [[collector.paths]]
  path = 'C:\dwtest\*.txt'
  [[collector.paths]]
  path = 'c:\DWTEST\Sub'
  recurse = true
  [[collector.paths]]
  path = '%WINDIR%\win.ini'
"#;
        std::fs::write(self.prefix.join("drive_c/manifest.toml"), text).unwrap();
        r"C:\manifest.toml".to_string()
    }
}

fn json_lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn text(v: &Value, column: &str) -> String {
    v[column].as_str().unwrap_or_default().to_string()
}

/// A change's `TimeGenerated`.
fn generated(change: &Value) -> std::time::SystemTime {
    let time: jiff::Timestamp = text(change, "TimeGenerated").parse().expect("an RFC 3339 time");
    std::time::SystemTime::try_from(time).expect("a time after the epoch")
}

fn of_type<'a>(rows: &'a [Value], data_type: &str) -> Vec<&'a Value> {
    rows.iter().filter(|r| r["ConfigDataType"] == data_type).collect()
}

/// Wine's services as its registry file says: name → (Start, delayed), Win32 services only.
fn registry_services(prefix: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(prefix.join("system.reg")).expect("system.reg");
    let mut services = BTreeMap::new();
    let mut current: Option<(String, Option<u64>, Option<u64>, bool)> = None;
    let mut finish = |entry: Option<(String, Option<u64>, Option<u64>, bool)>| {
        if let Some((name, Some(kind), start, delayed)) = entry
            && kind & 0x30 != 0
        {
            let words = match (start, delayed) {
                (Some(0), _) => "Boot",
                (Some(1), _) => "System",
                (Some(2), true) => "Automatic (Delayed Start)",
                (Some(2), false) => "Automatic",
                (Some(3), _) => "Manual",
                (Some(4), _) => "Disabled",
                _ => "",
            };
            services.insert(name, words.to_string());
        }
    };
    for line in text.lines() {
        if let Some(header) = line.strip_prefix('[') {
            finish(current.take());
            let key = header.split(']').next().unwrap_or_default().replace(r"\\", r"\");
            let lower = key.to_ascii_lowercase();
            // Wine keeps them under CurrentControlSet itself, Windows under ControlSet001.
            if let Some(name) = [r"system\currentcontrolset\services\", r"system\controlset001\services\"]
                .iter()
                .find_map(|prefix| lower.strip_prefix(prefix))
                .filter(|rest| !rest.contains('\\'))
            {
                let name = &key[key.len() - name.len()..];
                current = Some((name.to_string(), None, None, false));
            }
            continue;
        }
        let dword = |line: &str, value: &str| {
            line.strip_prefix(&format!("\"{value}\"=dword:"))
                .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        };
        if let Some(entry) = current.as_mut() {
            if let Some(n) = dword(line, "Type") {
                entry.1 = Some(n);
            }
            if let Some(n) = dword(line, "Start") {
                entry.2 = Some(n);
            }
            if dword(line, "DelayedAutostart") == Some(1) {
                entry.3 = true;
            }
        }
    }
    finish(current);
    services
}

#[test]
#[ignore = "needs Wine and the Windows build: run tests/wine/run.sh"]
fn a_scan_reports_what_was_seeded_and_what_wine_has() {
    let wine = wine();
    let manifest = wine.manifest();
    let scan = wine.dw("state-scan", &["--manifest", &manifest, "scan", "--json"]);
    let reports = json_lines(&scan);
    assert_eq!(reports.len(), 4, "{}", String::from_utf8_lossy(&scan.stderr));
    for report in &reports {
        assert_eq!(report["Outcome"], "collected", "{report}");
    }
    // Let Wine flush its registry to system.reg, for the services expected.
    let _ = Command::new("wineserver")
        .arg("-w")
        .env("WINEPREFIX", &wine.prefix)
        .status();
    let inventory = json_lines(&wine.dw("state-scan", &["--manifest", &manifest, "inventory", "--json"]));

    // Software: exactly the seeded programs, in their views.
    let software: BTreeSet<(String, String, String)> = of_type(&inventory, "Software")
        .iter()
        .map(|r| {
            (
                text(r, "SoftwareName"),
                text(r, "CurrentVersion"),
                text(r, "Architecture"),
            )
        })
        .collect();
    let expected: BTreeSet<(String, String, String)> = [
        ("Driftwatch Test App", "1.2.3", "x64"),
        ("Driftwatch Legacy Tool", "4.5", "x86"),
        // Per-user installs say nothing of their architecture.
        ("Driftwatch User Tool", "0.9", ""),
    ]
    .iter()
    .map(|(n, v, a)| (n.to_string(), v.to_string(), a.to_string()))
    .collect();
    assert_eq!(software, expected);
    println!("programs: {} (seeded {})", software.len(), PROGRAMS.len());

    // Registry: every value type, rendered.
    let values: BTreeMap<(String, String), (String, String)> = of_type(&inventory, "Registry")
        .iter()
        .map(|r| {
            (
                (text(r, "RegistryKey"), text(r, "ValueName")),
                (text(r, "ValueType"), text(r, "ValueData")),
            )
        })
        .collect();
    let mut expected: BTreeMap<(String, String), (String, String)> = VALUES
        .iter()
        .map(|(name, kind, _, shown)| {
            (
                (TEST_KEY.to_string(), name.to_string()),
                (kind.to_string(), shown.to_string()),
            )
        })
        .collect();
    expected.insert(
        (format!(r"{TEST_KEY}\Nested"), "Deep".into()),
        ("REG_SZ".into(), "down here".into()),
    );
    assert_eq!(values, expected);
    println!("registry values: {}", values.len());

    // Services: Wine's, with the startup types its registry holds, and states from the SCM.
    let services: BTreeMap<String, (String, String)> = of_type(&inventory, "WindowsServices")
        .iter()
        .map(|r| (text(r, "SvcName"), (text(r, "SvcStartupType"), text(r, "SvcState"))))
        .collect();
    let in_registry = registry_services(&wine.prefix);
    let startup: BTreeMap<String, String> = services.iter().map(|(n, (s, _))| (n.clone(), s.clone())).collect();
    assert_eq!(startup, in_registry, "names and startup types as in system.reg");
    for (name, (startup, state)) in &services {
        assert!(!state.is_empty(), "{name}: no state from the SCM");
        if startup == "Disabled" {
            assert_eq!(state, "Stopped", "{name}");
        }
    }
    let running = services.values().filter(|(_, s)| s == "Running").count();
    assert!(running > 0, "the SCM reports running services: {services:?}");
    println!("services: {} ({running} running)", services.len());

    // Files: wildcards, recursion, %WINDIR%, letter case.
    let files: BTreeSet<String> = of_type(&inventory, "Files")
        .iter()
        .map(|r| text(r, "FileSystemPath").to_ascii_lowercase())
        .collect();
    let expected: BTreeSet<String> = [
        r"c:\dwtest\a.txt",
        r"c:\dwtest\b.txt",
        r"c:\dwtest\sub\file.txt",
        r"c:\dwtest\sub\deeper\x.txt",
        r"c:\windows\win.ini",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(files, expected);
    println!("files: {}", files.len());
}

#[test]
#[ignore = "needs Wine and the Windows build: run tests/wine/run.sh"]
fn changing_a_value_and_a_version_gives_exactly_those_changes() {
    let wine = wine();
    let manifest = wine.manifest();
    let state = "state-changes";
    let first = wine.dw(state, &["--manifest", &manifest, "scan"]);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    wine.set_number_and_version("43", "1.2.4");
    let second = wine.dw(state, &["--manifest", &manifest, "scan"]);
    assert!(second.status.success(), "{}", String::from_utf8_lossy(&second.stderr));
    let changes = json_lines(&wine.dw(state, &["changes", "--json"]));
    // Services may change state while Wine starts them: only their states.
    let (services, others): (Vec<&Value>, Vec<&Value>) =
        changes.iter().partition(|c| c["ConfigChangeType"] == "WindowsServices");
    for c in services {
        assert_eq!(c["FieldsChanged"], "SvcState", "{c}");
    }
    assert_eq!(others.len(), 2, "{others:?}");
    let registry = others
        .iter()
        .find(|c| c["ConfigChangeType"] == "Registry")
        .expect("a registry change");
    assert_eq!(registry["ChangeCategory"], "Modified");
    assert_eq!(registry["ValueName"], "Number");
    assert_eq!(registry["ValueData"], "43");
    assert_eq!(registry["PreviousValueData"], "42");
    let software = others
        .iter()
        .find(|c| c["ConfigChangeType"] == "Software")
        .expect("a software change");
    assert_eq!(software["ChangeCategory"], "Modified");
    assert_eq!(software["SoftwareName"], "Driftwatch Test App");
    assert_eq!(software["Current"], "1.2.4");
    assert_eq!(software["Previous"], "1.2.3");
    // Put them back for the other tests.
    wine.set_number_and_version("42", "1.2.3");
    println!(
        "changes: {} registry + software ({} service state changes while Wine settled)",
        others.len(),
        changes.len() - others.len()
    );
}

#[test]
#[ignore = "needs Wine and the Windows build: run tests/wine/run.sh"]
fn plugins_shows_the_windows_collectors_active_and_the_linux_ones_not() {
    let wine = wine();
    let out = wine.dw("state-plugins", &["plugins", "--json"]);
    let rows = json_lines(&out);
    assert!(!rows.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    for row in &rows {
        let plugin = text(row, "Plugin");
        let windows = row["Platforms"]
            .as_array()
            .is_some_and(|p| p.iter().any(|x| x == "windows"));
        let reason = text(row, "Reason");
        assert!(!reason.is_empty(), "{row}");
        if plugin.ends_with("-windows") {
            assert_eq!(row["Active"], true, "{row}");
        } else if !windows {
            assert_eq!(row["Active"], false, "{row}");
        }
        println!(
            "{plugin:<18} {:<6} {reason}",
            if row["Active"] == true { "active" } else { "-" }
        );
    }
    // The built-in manifest grants nothing itself: the plugins declare it.
    let software = rows
        .iter()
        .find(|r| r["Collector"] == "windows-software")
        .expect("the software collector");
    assert_eq!(software["GrantedBy"], "plugin", "{software}");
    let granted = software["Granted"].as_array().cloned().unwrap_or_default();
    assert!(
        granted
            .iter()
            .any(|g| g.as_str().is_some_and(|g| g.ends_with(r"CurrentVersion\Uninstall"))),
        "{software}"
    );
}
