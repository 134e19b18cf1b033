//! The SDK as a stranger gets it: packaged (`cargo package`, as it would be
//! published, with the two crates it depends on), used by a plugin crate in
//! a folder outside this repository, built for wasm32-wasip2, checked and
//! run by the agent.

use std::path::Path;
use std::process::Command;

use crate::support::{Env, json_lines, stderr, stdout};

/// The guide's example collector (plugins/README.md, "From `cargo new` to a
/// running plugin"), as a stranger's crate would hold it.
const PLUGIN_SOURCE: &str = r#"
use driftwatch_sdk::prelude::*;

const LIST: &str = "/opt/inventory/software.txt";

struct HandKept;

impl PackagesCollector for HandKept {
    fn describe() -> Description {
        driftwatch_sdk::describe!("Software listed by hand in /opt/inventory", [OsFamily::Linux])
    }

    fn probe() -> ProbeResult {
        if std::path::Path::new(LIST).is_file() {
            ProbeResult::applies(format!("list at {LIST}"))
        } else {
            ProbeResult::not_applicable(format!("{LIST} not found"))
        }
    }

    fn collect(_settings: PackageSettings) -> Result<Collection<Package>, CollectError> {
        let text = std::fs::read_to_string(LIST)?;
        let mut packages = Vec::new();
        for (number, line) in text.lines().enumerate() {
            match line.split_once(' ') {
                Some((name, version)) => packages.push(Package {
                    software_type: SoftwareType::Application,
                    ..Package::new(name, version.trim())
                }),
                None if line.trim().is_empty() => {}
                None => run_warning(format!("{LIST} line {}", number + 1), "expected `name version`"),
            }
        }
        debug!("{} entries in {LIST}", packages.len());
        Ok(Collection::from_vec(packages))
    }
}

driftwatch_sdk::export_collector!(packages: HandKept);
"#;

/// Runs a command to success; its stdout.
fn run(command: &mut Command, what: &str) -> String {
    let out = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_plugin_outside_the_repository_builds_on_the_packaged_sdk() {
    let env = Env::new();
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace");
    let packaged = env.path("package-target");

    // The SDK and its two dependencies, packaged (and verified) together.
    run(
        driftwatch_plugin_builder::cargo()
            .current_dir(workspace)
            .args(["package", "--allow-dirty", "--target-dir"])
            .arg(&packaged)
            .args([
                "-p",
                "driftwatch-regf",
                "-p",
                "driftwatch-windows-paths",
                "-p",
                "driftwatch-sdk",
            ]),
        "cargo package",
    );
    let crates = env.path("crates");
    std::fs::create_dir_all(&crates).unwrap();
    for name in ["driftwatch-regf", "driftwatch-windows-paths", "driftwatch-sdk"] {
        let file = packaged.join("package").join(format!("{name}-0.1.0.crate"));
        run(
            Command::new("tar").arg("xzf").arg(&file).arg("-C").arg(&crates),
            "unpacking a .crate",
        );
    }
    let listing = run(
        Command::new("tar")
            .arg("tzf")
            .arg(packaged.join("package/driftwatch-sdk-0.1.0.crate")),
        "tar",
    );
    assert!(
        listing.contains("driftwatch-sdk-0.1.0/wit/worlds.wit"),
        "the contract travels with it:\n{listing}"
    );

    // A stranger's crate: the SDK as a registry dependency, served from the
    // packaged crates (as a registry would serve them once published).
    let unpacked = |name: &str| crates.join(format!("{name}-0.1.0")).display().to_string();
    env.write(
        "hand-kept/Cargo.toml",
        format!(
            r#"[package]
name = "hand-kept"
version = "0.1.0"
edition = "2024"

[lib]
crate-type = ["cdylib"]

[dependencies]
driftwatch-sdk = "0.1"

[patch.crates-io]
driftwatch-sdk = {{ path = "{}" }}
driftwatch-regf = {{ path = "{}" }}
driftwatch-windows-paths = {{ path = "{}" }}

[workspace]
"#,
            unpacked("driftwatch-sdk"),
            unpacked("driftwatch-regf"),
            unpacked("driftwatch-windows-paths"),
        ),
    );
    env.write("hand-kept/src/lib.rs", PLUGIN_SOURCE);
    std::fs::copy(
        workspace.join("rust-toolchain.toml"),
        env.path("hand-kept/rust-toolchain.toml"),
    )
    .unwrap();
    run(
        driftwatch_plugin_builder::cargo()
            .current_dir(env.path("hand-kept"))
            .args(["build", "--release", "--target", "wasm32-wasip2"]),
        "building the stranger's plugin",
    );
    let wasm = env.path("hand-kept/target/wasm32-wasip2/release/hand_kept.wasm");

    // Checked and run as the guide says.
    let check = env.run(&["plugin", "check", wasm.to_str().unwrap()]);
    assert!(check.status.success(), "{}{}", stdout(&check), stderr(&check));
    assert!(stdout(&check).contains("packages"), "{}", stdout(&check));
    env.write(
        "root/opt/inventory/software.txt",
        "editor 2.1\nbackup-agent 7.0.3\nno-version-here\n\n",
    );
    let manifest = env.write(
        "manifest.toml",
        format!(
            "[[collector]]\nname = \"hand-kept\"\nkind = \"packages\"\nplugin = \"{}\"\nos = [\"linux\"]\ngrants = [\"/opt/inventory\"]\n",
            wasm.display()
        ),
    );
    let manifest = manifest.to_str().unwrap();
    let root = env.path("root");
    let scan = env.run(&["--manifest", manifest, "--root", root.to_str().unwrap(), "scan"]);
    assert!(scan.status.success(), "{}{}", stdout(&scan), stderr(&scan));
    let rows = json_lines(&env.run(&["inventory", "--json"]));
    let mut found: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            (
                r["SoftwareName"].as_str().unwrap_or_default().to_string(),
                r["CurrentVersion"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    found.sort();
    assert_eq!(
        found,
        [
            ("backup-agent".to_string(), "7.0.3".to_string()),
            ("editor".into(), "2.1".into())
        ]
    );
    let runs = json_lines(&env.run(&["runs", "--json"]));
    assert_eq!(runs[0]["WarningCount"], 1, "{runs:#?}");
}
