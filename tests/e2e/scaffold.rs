//! `driftwatch plugin new`: a project of each kind, as generated, builds
//! for wasm32-wasip2, passes `plugin check`, passes its own unit test, and
//! (the packages one, with its own manifest) scans a fixture root.

use std::path::Path;

use crate::support::{Env, exit_code, json_lines, stderr, stdout};

#[test]
fn a_new_plugin_of_each_kind_builds_checks_and_tests_as_generated() {
    let env = Env::new();
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/sdk");
    let target = env.path("target");
    for kind in ["packages", "services", "files", "registry"] {
        let name = format!("my-{kind}");
        let dir = env.path(&name);
        let new = env.run(&[
            "plugin",
            "new",
            &name,
            "--kind",
            kind,
            "--dir",
            dir.to_str().unwrap(),
            "--sdk",
            sdk.to_str().unwrap(),
        ]);
        assert_eq!(exit_code(&new), 0, "{}{}", stdout(&new), stderr(&new));
        assert!(
            stdout(&new).contains("cargo build --release --target wasm32-wasip2"),
            "{}",
            stdout(&new)
        );

        // The one documented command (a shared target folder saves building the SDK four times).
        let cargo = |args: &[&str]| {
            driftwatch_plugin_builder::cargo()
                .current_dir(&dir)
                .env("CARGO_TARGET_DIR", &target)
                .args(args)
                .output()
                .expect("cargo runs")
        };
        let build = cargo(&["build", "--release", "--target", "wasm32-wasip2"]);
        assert!(build.status.success(), "{kind}: {}", stderr(&build));
        let crate_name = name.replace('-', "_");
        let wasm = target.join(format!("wasm32-wasip2/release/{crate_name}.wasm"));
        let check = env.run(&["plugin", "check", wasm.to_str().unwrap()]);
        assert_eq!(exit_code(&check), 0, "{kind}: {}{}", stdout(&check), stderr(&check));
        assert!(
            stdout(&check).contains(&format!("{kind}-collector")),
            "{}",
            stdout(&check)
        );

        let test = cargo(&["test"]);
        assert!(test.status.success(), "{kind}: {}{}", stdout(&test), stderr(&test));
        assert!(stdout(&test).contains("1 passed"), "{kind}: {}", stdout(&test));

        // Where its manifest looks for it.
        let built = dir.join(format!("target/wasm32-wasip2/release/{crate_name}.wasm"));
        std::fs::create_dir_all(built.parent().unwrap()).unwrap();
        std::fs::copy(&wasm, &built).unwrap();
    }

    // The packages plugin, run by its own manifest on what it reads by default.
    env.write("root/opt/my-packages/packages.txt", "alpha 1.0\nbeta 2.1-3\nbroken\n");
    let manifest = env.path("my-packages/manifest.toml");
    let root = env.path("root");
    let scan = env.run(&[
        "--manifest",
        manifest.to_str().unwrap(),
        "--root",
        root.to_str().unwrap(),
        "scan",
    ]);
    assert_eq!(exit_code(&scan), 0, "{}{}", stdout(&scan), stderr(&scan));
    let rows = json_lines(&env.run(&["inventory", "--json"]));
    let found: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["SoftwareName"].as_str().unwrap_or_default(),
                r["CurrentVersion"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(found, [("alpha", "1.0"), ("beta", "2.1-3")]);
    let runs = json_lines(&env.run(&["runs", "--json"]));
    assert_eq!(runs[0]["WarningCount"], 1, "{runs:#?}");
}

#[test]
fn plugin_new_refuses_a_bad_name_and_an_existing_folder() {
    let env = Env::new();
    let bad = env.run(&["plugin", "new", "Bad_Name", "--kind", "packages"]);
    assert_eq!(exit_code(&bad), 1, "{}", stderr(&bad));
    assert!(stderr(&bad).contains("cannot name a plugin"), "{}", stderr(&bad));
    std::fs::create_dir_all(env.path("taken")).unwrap();
    let taken = env.run(&[
        "plugin",
        "new",
        "taken",
        "--kind",
        "files",
        "--dir",
        env.path("taken").to_str().unwrap(),
    ]);
    assert_eq!(exit_code(&taken), 1, "{}", stderr(&taken));
    assert!(stderr(&taken).contains("already exists"), "{}", stderr(&taken));
}
