//! Plugins in Python and JavaScript: the two examples in `examples/` and
//! projects from `plugin new --lang python|javascript`, built from source
//! with their pinned toolchains (componentize-py from PyPI into a virtual
//! environment, componentize-js and jco from npm with the machine's Node.js),
//! checked, and run in the same sandbox as Rust plugins: exact inventories of
//! fixture roots, a malformed item as a warning, a folder outside the grants
//! denied, memory and time limits enforced.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

use crate::support::{Env, exit_code, json_lines, stderr, stdout};

/// Where the toolchains and example builds are kept between test runs.
fn work_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("languages")
}

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs a build or test command; panics with its output if it fails.
fn must(command: &mut Command, what: &str) -> String {
    let output = command
        .env("DRIFTWATCH", env!("CARGO_BIN_EXE_driftwatch"))
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    assert!(
        output.status.success(),
        "{what} failed:\n{}{}",
        stdout(&output),
        stderr(&output)
    );
    stdout(&output) + &stderr(&output)
}

/// Copies a project's source files (not its toolchain folders) into `to`.
fn copy_sources(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        if ["node_modules", ".venv", "build", "__pycache__"].contains(&name.as_str()) || name.ends_with(".wasm") {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            copy_sources(&entry.path(), &to.join(&name));
        } else {
            std::fs::copy(entry.path(), to.join(&name)).unwrap();
        }
    }
}

/// The virtual environment with componentize-py, shared by every Python
/// build: made once, before any `build.sh` runs (they would race to make it).
fn venv() -> &'static Path {
    static MADE: OnceLock<PathBuf> = OnceLock::new();
    MADE.get_or_init(|| {
        let venv = work_dir().join("python-venv");
        if !venv.join("bin/pip").exists() {
            must(
                Command::new("python3").arg("-m").arg("venv").arg(&venv),
                "python3 -m venv",
            );
        }
        let requirements = repository().join("examples/packages-python/requirements.txt");
        must(
            Command::new(venv.join("bin/pip"))
                .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
                .arg(requirements),
            "pip install componentize-py",
        );
        venv
    })
}

/// The Python example, built by its own `sh build.sh`.
fn python_example() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = work_dir().join("packages-python");
        copy_sources(&repository().join("examples/packages-python"), &dir);
        must(
            Command::new("python3").args(["-m", "unittest"]).current_dir(&dir),
            "python3 -m unittest",
        );
        must(
            Command::new("sh").arg("build.sh").env("VENV", venv()).current_dir(&dir),
            "sh build.sh",
        );
        dir.join("packages-python.wasm")
    })
}

/// The JavaScript example, built by its own `npm install && npm run build`.
fn javascript_example() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = work_dir().join("packages-npm");
        copy_sources(&repository().join("examples/packages-npm"), &dir);
        must(&mut npm(&dir, &["install", "--no-audit", "--no-fund"]), "npm install");
        must(&mut npm(&dir, &["test"]), "npm test");
        must(&mut npm(&dir, &["run", "build"]), "npm run build");
        dir.join("packages-npm.wasm")
    })
}

fn npm(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new("npm");
    command.args(args).current_dir(dir);
    command
}

/// `plugin check` accepts the file as a packages collector of `name` and
/// shows its default grants.
fn check(env: &Env, wasm: &Path, name: &str, grant: &str) {
    let check = env.run(&["plugin", "check", wasm.to_str().unwrap()]);
    assert_eq!(exit_code(&check), 0, "{}{}", stdout(&check), stderr(&check));
    let text = stdout(&check);
    assert!(text.contains(&format!("plugin    {name} 0.1.0")), "{text}");
    assert!(
        text.contains("packages-collector (driftwatch:collector@0.1.3"),
        "{text}"
    );
    assert!(text.contains(grant), "{text}");
}

/// Scans `root` with one collector entry; returns its report and the exit code.
fn scan(env: &Env, wasm: &Path, extra: &str) -> (Value, i32) {
    let manifest = env.write(
        "manifest.toml",
        format!(
            "[[collector]]\nname = \"lang\"\nkind = \"packages\"\nplugin = {:?}\n{extra}\n",
            wasm.display().to_string()
        ),
    );
    let root = env.path("root");
    let scan = env.run(&[
        "--manifest",
        manifest.to_str().unwrap(),
        "--root",
        root.to_str().unwrap(),
        "scan",
        "--json",
    ]);
    let reports = json_lines(&scan);
    assert_eq!(reports.len(), 1, "{}{}", stdout(&scan), stderr(&scan));
    (reports[0].clone(), exit_code(&scan))
}

fn inventory(env: &Env) -> Vec<(String, String, String)> {
    let mut rows: Vec<(String, String, String)> = json_lines(&env.run(&["inventory", "--json"]))
        .iter()
        .map(|r| {
            let text = |k: &str| r[k].as_str().unwrap_or_default().to_string();
            (text("SoftwareName"), text("CurrentVersion"), text("Publisher"))
        })
        .collect();
    rows.sort();
    rows
}

fn owned(rows: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    rows.iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect()
}

/// The sandbox cases every language gets: a folder outside the grants,
/// a memory limit below what the runtime needs, a deadline a large tree
/// cannot meet.
fn sandbox_cases(env: &Env, wasm: &Path, outside: &str, many: impl Fn(usize) -> (String, String)) {
    let (report, code) = scan(env, wasm, &format!("options = {{ paths = {outside:?} }}"));
    assert_eq!((report["Outcome"].as_str(), code), (Some("failed"), 3), "{report}");
    let error = report["Error"].as_str().unwrap();
    assert!(
        error.contains(&format!("denied: {outside}: not within a granted folder")),
        "{error}"
    );

    // Below what the interpreter's own heap needs: it fails as it starts.
    let (report, _) = scan(env, wasm, "memory = \"4MiB\"");
    assert_eq!(report["Outcome"], "failed", "{report}");
    assert!(
        report["Error"]
            .as_str()
            .unwrap()
            .contains("exceeded its memory limit of 4 MiB"),
        "{report}"
    );

    for n in 0..4000 {
        let (path, text) = many(n);
        env.write(&format!("root{path}"), text);
    }
    // The deadline covers the whole run (probe and collection); 4000
    // packages take the interpreters well over a second.
    let (report, _) = scan(env, wasm, "timeout = \"50ms\"");
    assert_eq!(report["Outcome"], "failed", "{report}");
    assert!(
        report["Error"]
            .as_str()
            .unwrap()
            .contains("exceeded its time limit of 50 ms"),
        "{report}"
    );
    // Given the time, the same tree is read whole.
    let (report, _) = scan(env, wasm, "");
    assert_eq!(report["Outcome"], "collected", "{report}");
    assert!(report["Items"].as_u64().unwrap() > 4000, "{report}");
}

#[test]
fn the_python_example_inventories_site_packages_in_the_sandbox() {
    let env = Env::new();
    let wasm = python_example();
    check(&env, wasm, "packages-python", "/usr/local/lib /usr/lib /usr/lib64");

    let dist = "root/usr/lib/python3/dist-packages";
    let local = "root/usr/local/lib/python3.11/dist-packages";
    env.write(
        &format!("{dist}/six-1.16.0.dist-info/METADATA"),
        "Metadata-Version: 2.1\nName: six\nVersion: 1.16.0\nSummary: Python 2 and 3 compatibility utilities\nAuthor: Benjamin Peterson\n\nlong text\n",
    );
    env.write(
        &format!("{dist}/requests-2.28.1.egg-info/PKG-INFO"),
        "Metadata-Version: 1.2\nName: requests\nVersion: 2.28.1\nAuthor: Kenneth Reitz\n",
    );
    env.write(
        &format!("{dist}/lone-1.0.egg-info"),
        "Name: lone\nVersion: 1.0\nAuthor: UNKNOWN\n",
    );
    env.write(&format!("{dist}/six.py"), "");
    // Shadowed by the newer one in /usr/local, which Python finds first.
    env.write(
        &format!("{local}/requests-2.32.3.dist-info/METADATA"),
        "Name: requests\nVersion: 2.32.3\nAuthor-email: Kenneth Reitz <me@kennethreitz.org>\n",
    );
    env.write(
        &format!("{local}/broken-0.1.dist-info/METADATA"),
        "Name: broken\nSummary: no version\n",
    );
    env.write(
        &format!("{local}/latin-1.dist-info/METADATA"),
        b"Name: latin\nVersion: 1\nAuthor: Jos\xe9\n",
    );
    // Elsewhere: read only when granted and named.
    env.write(
        "root/srv/app/venv/lib/python3.11/site-packages/flask-3.0.0.dist-info/METADATA",
        "Name: Flask\nVersion: 3.0.0\n",
    );

    let (report, code) = scan(&env, wasm, "");
    assert_eq!((report["Outcome"].as_str(), code), (Some("collected"), 0), "{report}");
    assert_eq!(
        inventory(&env),
        owned(&[
            ("lone", "1.0", ""),
            ("requests", "2.32.3", "Kenneth Reitz <me@kennethreitz.org>"),
            ("six", "1.16.0", "Benjamin Peterson"),
        ])
    );
    let warnings: Vec<(&str, &str)> = report["Warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (w["Subject"].as_str().unwrap(), w["Message"].as_str().unwrap()))
        .collect();
    assert_eq!(
        warnings,
        [
            (
                "/usr/local/lib/python3.11/dist-packages/broken-0.1.dist-info/METADATA",
                "no Version field"
            ),
            (
                "/usr/local/lib/python3.11/dist-packages/latin-1.dist-info/METADATA",
                "not UTF-8 text"
            ),
        ]
    );

    let venv_site = "/srv/app/venv/lib/python3.11/site-packages";
    let (report, _) = scan(
        &env,
        wasm,
        &format!("grants = [\"/srv/app/venv/lib\"]\noptions = {{ paths = {venv_site:?} }}"),
    );
    assert_eq!(report["Outcome"], "collected", "{report}");
    assert_eq!(inventory(&env), owned(&[("Flask", "3.0.0", "")]));

    sandbox_cases(&env, wasm, venv_site, |n| {
        (
            format!("/usr/lib/python3/dist-packages/bulk{n}-1.0.dist-info/METADATA"),
            format!("Name: bulk{n}\nVersion: 1.0\n"),
        )
    });
}

#[test]
fn the_javascript_example_inventories_global_npm_packages_in_the_sandbox() {
    let env = Env::new();
    let wasm = javascript_example();
    check(
        &env,
        wasm,
        "packages-npm",
        "/usr/local/lib/node_modules /usr/lib/node_modules",
    );

    let local = "root/usr/local/lib/node_modules";
    let system = "root/usr/lib/node_modules";
    env.write(
        &format!("{local}/npm/package.json"),
        r#"{"name":"npm","version":"10.8.2","description":"a package manager for JavaScript","author":"GitHub Inc."}"#,
    );
    env.write(
        &format!("{local}/@vue/cli/package.json"),
        r#"{"name":"@vue/cli","version":"5.0.8","author":{"name":"Evan You","email":"yyx990803@gmail.com"}}"#,
    );
    env.write(&format!("{local}/.package-lock.json"), "{}");
    env.write(
        &format!("{local}/broken/package.json"),
        r#"{"name":"broken","version":"#,
    );
    env.write(
        &format!("{system}/npm/package.json"),
        r#"{"name":"npm","version":"9.2.0"}"#,
    );
    env.write(
        &format!("{system}/corepack/package.json"),
        r#"{"name":"corepack","version":"0.24.0","author":"Maël Nison <nison.mael@gmail.com>"}"#,
    );
    env.write(
        "root/opt/node/lib/node_modules/typescript/package.json",
        r#"{"name":"typescript","version":"5.6.3","author":"Microsoft Corp."}"#,
    );

    let (report, code) = scan(&env, wasm, "");
    assert_eq!((report["Outcome"].as_str(), code), (Some("collected"), 0), "{report}");
    assert_eq!(
        inventory(&env),
        owned(&[
            ("@vue/cli", "5.0.8", "Evan You"),
            ("corepack", "0.24.0", "Maël Nison"),
            ("npm", "10.8.2", "GitHub Inc."),
        ])
    );
    let warnings = report["Warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{report}");
    assert_eq!(
        warnings[0]["Subject"],
        "/usr/local/lib/node_modules/broken/package.json"
    );
    assert!(
        warnings[0]["Message"].as_str().unwrap().starts_with("not JSON"),
        "{report}"
    );

    let prefix = "/opt/node/lib/node_modules";
    let (report, _) = scan(
        &env,
        wasm,
        &format!("grants = [{prefix:?}]\noptions = {{ paths = {prefix:?} }}"),
    );
    assert_eq!(report["Outcome"], "collected", "{report}");
    assert_eq!(inventory(&env), owned(&[("typescript", "5.6.3", "Microsoft Corp.")]));

    sandbox_cases(&env, wasm, prefix, |n| {
        (
            format!("/usr/lib/node_modules/bulk{n}/package.json"),
            format!(r#"{{"name":"bulk{n}","version":"1.0.0"}}"#),
        )
    });
}

/// `plugin new --lang python|javascript`: the project builds with its one
/// documented command, passes `plugin check` and its own unit test, and
/// scans the list it reads.
#[test]
fn new_python_and_javascript_plugins_build_check_and_collect_as_generated() {
    let env = Env::new();
    for (lang, kind) in [("python", "packages"), ("javascript", "services")] {
        let name = format!("my-{lang}");
        let dir = env.path(&name);
        let new = env.run(&[
            "plugin",
            "new",
            &name,
            "--kind",
            kind,
            "--lang",
            lang,
            "--dir",
            dir.to_str().unwrap(),
        ]);
        assert_eq!(exit_code(&new), 0, "{}{}", stdout(&new), stderr(&new));
        let next = stdout(&new);
        match lang {
            "python" => {
                assert!(next.contains("sh build.sh"), "{next}");
                must(
                    Command::new("sh").arg("build.sh").env("VENV", venv()).current_dir(&dir),
                    "sh build.sh",
                );
                must(
                    Command::new("python3").args(["-m", "unittest"]).current_dir(&dir),
                    "unittest",
                );
            }
            _ => {
                assert!(next.contains("npm install && npm run build"), "{next}");
                must(&mut npm(&dir, &["install", "--no-audit", "--no-fund"]), "npm install");
                must(&mut npm(&dir, &["run", "build"]), "npm run build");
                must(&mut npm(&dir, &["test"]), "npm test");
            }
        }
        let wasm = dir.join(format!("{name}.wasm"));
        let check = env.run(&["plugin", "check", wasm.to_str().unwrap()]);
        assert_eq!(exit_code(&check), 0, "{lang}: {}{}", stdout(&check), stderr(&check));
        assert!(
            stdout(&check).contains(&format!("{kind}-collector")),
            "{}",
            stdout(&check)
        );
    }

    env.write("root/opt/my-python/packages.txt", "alpha 1.0\nbeta 2.1-3\nbroken\n");
    env.write("root/etc/my-javascript/services.txt", "web running\nbackup stopped\n");
    let root = env.path("root");
    for (lang, found) in [("python", ("beta", "2.1-3")), ("javascript", ("backup", "Stopped"))] {
        let manifest = env.path(&format!("my-{lang}/manifest.toml"));
        let manifest = manifest.to_str().unwrap();
        let scan = env.run(&[
            "--manifest",
            manifest,
            "--root",
            root.to_str().unwrap(),
            "scan",
            "--json",
        ]);
        let reports = json_lines(&scan);
        assert_eq!(
            reports[0]["Outcome"],
            "collected",
            "{lang}: {}{}",
            stdout(&scan),
            stderr(&scan)
        );
        assert_eq!(reports[0]["Items"], 2, "{lang}: {}", reports[0]);
        let rows = json_lines(&env.run(&["--manifest", manifest, "inventory", "--json"]));
        let (name, column) = match lang {
            "python" => ("SoftwareName", "CurrentVersion"),
            _ => ("SvcName", "SvcState"),
        };
        assert!(
            rows.iter().any(|r| r[name] == found.0 && r[column] == found.1),
            "{lang}: {rows:?}"
        );
    }
}
