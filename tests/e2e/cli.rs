//! Command-line behaviour: manifests with errors, plugin listing and checks,
//! the precompiled plugin cache.

use crate::support::*;

fn manifest_error(env: &Env, text: &str) -> String {
    let path = env.write("bad.toml", text);
    let out = env.run(&["--manifest", path.to_str().unwrap(), "scan"]);
    assert_eq!(exit_code(&out), 1, "{}", stdout(&out));
    stderr(&out)
}

#[test]
fn manifest_errors_name_file_line_and_column() {
    let env = Env::new();
    let unknown = manifest_error(
        &env,
        "[[collector]]\nkind = \"packages\"\nplugin = \"packages-dpkg\"\nfrequency = \"5m\"\n",
    );
    assert!(unknown.contains("bad.toml:4:1: unknown field `frequency`"), "{unknown}");
    let wrong_type = manifest_error(
        &env,
        "[[collector]]\nkind = \"packages\"\nplugin = \"packages-dpkg\"\ngrants = \"/var/lib/dpkg\"\n",
    );
    assert!(
        wrong_type.contains("bad.toml:4:10: invalid type: string"),
        "{wrong_type}"
    );
    let missing = manifest_error(&env, "[[collector]]\nkind = \"packages\"\nplugin = \"packages-rpm5\"\n");
    assert!(
        missing.contains("bad.toml:3:10: unknown plugin `packages-rpm5`"),
        "{missing}"
    );
    let missing_file = manifest_error(
        &env,
        "[[collector]]\nkind = \"packages\"\nplugin = \"plugins/mine.wasm\"\n",
    );
    assert!(
        missing_file.contains("bad.toml:3:10: plugin file") && missing_file.contains("mine.wasm not found"),
        "{missing_file}"
    );
}

#[test]
fn a_manifest_without_collectors_says_there_is_nothing_to_scan() {
    let env = Env::new();
    let manifest = env.write("empty.toml", "# nothing yet\n");
    let out = env.run(&["--manifest", manifest.to_str().unwrap(), "scan"]);
    assert_eq!(exit_code(&out), 0);
    assert!(
        stderr(&out).contains("has no collectors: there is nothing to scan"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).contains(": 0 changes"), "{}", stdout(&out));
}

#[test]
fn a_missing_manifest_or_root_is_a_clear_error() {
    let env = Env::new();
    let out = env.run(&["--manifest", "/no/such/manifest.toml", "scan"]);
    assert_eq!(exit_code(&out), 1);
    assert!(
        stderr(&out).contains("cannot read manifest /no/such/manifest.toml"),
        "{}",
        stderr(&out)
    );
    let out = env.run(&["--root", "/no/such/root", "scan"]);
    assert_eq!(exit_code(&out), 1);
    assert!(
        stderr(&out).contains("--root /no/such/root: no such directory"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_damaged_state_database_is_reported_not_replaced() {
    let env = Env::new();
    let db = env.write("state/driftwatch.db", vec![0x42u8; 8192]);
    let out = env.run(&["inventory"]);
    assert_eq!(exit_code(&out), 1);
    assert!(
        stderr(&out).contains("is damaged or is not a driftwatch database"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(db).unwrap(), vec![0x42u8; 8192]);
}

#[test]
fn plugins_lists_bundled_and_manifest_plugins_with_reasons() {
    let env = Env::new();
    env.write(
        "root/var/lib/dpkg/status",
        stanza("bash", "install ok installed", "5.2", "amd64"),
    );
    std::fs::create_dir_all(env.path("empty-root")).unwrap();
    let hostile = hostile_plugin().display().to_string();
    let manifest = env.write(
        "m.toml",
        format!(
            "[[collector]]\nname = \"dpkg\"\nkind = \"packages\"\nplugin = \"packages-dpkg\"\ngrants = [\"/var/lib/dpkg\"]\n\n\
             [[collector]]\nname = \"win-only\"\nkind = \"packages\"\nplugin = {hostile:?}\nos = [\"windows\"]\n\n\
             [[collector]]\nname = \"off\"\nkind = \"packages\"\nplugin = {hostile:?}\nenabled = false\n"
        ),
    );
    let manifest = manifest.to_str().unwrap();
    let list = |root: &str| json_lines(&env.run(&["--manifest", manifest, "--root", root, "plugins", "--json"]));

    let here = list(env.path("root").to_str().unwrap());
    let by = |rows: &[serde_json::Value], collector: &str| {
        rows.iter().find(|r| r["Collector"] == collector).cloned().unwrap()
    };
    let dpkg = by(&here, "dpkg");
    assert_eq!(
        (dpkg["Plugin"].as_str(), dpkg["Kind"].as_str(), dpkg["Active"].as_bool()),
        (Some("packages-dpkg"), Some("packages"), Some(true))
    );
    assert_eq!(dpkg["Source"], "bundled");
    assert_eq!(dpkg["Platforms"], serde_json::json!(["linux"]));
    assert_eq!(dpkg["Reason"], "dpkg database at /var/lib/dpkg/status");
    let win = by(&here, "win-only");
    assert_eq!(win["Active"], false);
    assert_eq!(win["Reason"], "for windows only; this machine is linux");
    assert_eq!(win["Plugin"], "test-plugin-hostile");
    assert_eq!(by(&here, "off")["Reason"], "disabled in the manifest");

    let elsewhere = list(env.path("empty-root").to_str().unwrap());
    let dpkg = by(&elsewhere, "dpkg");
    assert_eq!(dpkg["Active"], false);
    assert!(
        dpkg["Reason"].as_str().unwrap().starts_with("no dpkg database"),
        "{dpkg}"
    );

    let table = stdout(&env.run(&[
        "--manifest",
        manifest,
        "--root",
        env.path("root").to_str().unwrap(),
        "plugins",
    ]));
    assert!(table.lines().next().unwrap().starts_with("Plugins on "), "{table}");
    assert!(table.contains("packages-dpkg") && table.contains("active"), "{table}");
}

#[test]
fn plugin_check_accepts_collectors_and_rejects_the_rest() {
    let env = Env::new();
    let ok = env.run(&["plugin", "check", hostile_plugin().to_str().unwrap(), "--json"]);
    assert_eq!(exit_code(&ok), 0, "{}", stderr(&ok));
    let report = &json_lines(&ok)[0];
    assert_eq!(report["Valid"], true);
    assert_eq!(report["World"], "packages-collector");
    assert_eq!(report["Contract"], "0.1.3");
    // The SDK's default: it declares no grants.
    assert_eq!(report["DefaultGrants"], serde_json::json!([]));

    let junk = env.write("junk.wasm", b"\0asm\x01\0\0\0 truncated");
    let bad = env.run(&["plugin", "check", junk.to_str().unwrap()]);
    assert_eq!(exit_code(&bad), 1);
    assert!(
        stderr(&bad).contains("not a valid WebAssembly component"),
        "{}",
        stderr(&bad)
    );

    let text = env.write("hello.txt", "hello");
    let bad = env.run(&["plugin", "check", text.to_str().unwrap(), "--json"]);
    assert_eq!(exit_code(&bad), 1);
    assert_eq!(json_lines(&bad)[0]["Valid"], false);
}

#[test]
fn the_second_start_loads_plugins_precompiled() {
    let env = Env::new();
    env.write(
        "root/var/lib/dpkg/status",
        stanza("bash", "install ok installed", "5.2", "amd64"),
    );
    let root = env.path("root").display().to_string();
    let scan = |env: &Env| {
        env.driftwatch()
            .env("RUST_LOG", "driftwatch=debug")
            .env("NO_COLOR", "1")
            .args(["--root", &root, "scan"])
            .output()
            .unwrap()
    };
    let first = stderr(&scan(&env));
    assert!(first.contains("compiled plugin"), "{first}");
    let second = stderr(&scan(&env));
    assert!(second.contains("loaded precompiled artifact"), "{second}");
    assert!(!second.contains("compiled plugin"), "{second}");
}

#[test]
fn plugins_built_against_an_older_contract_keep_working() {
    let env = Env::new();
    let old = test_plugin("test-plugin-contract-v0-1-0").display().to_string();
    let check = json_lines(&env.run(&["plugin", "check", &old, "--json"]));
    assert_eq!(check[0]["Contract"], "0.1.0");
    let manifest = env.write(
        "m.toml",
        format!("[[collector]]\nname = \"old\"\nkind = \"packages\"\nplugin = {old:?}\n"),
    );
    std::fs::create_dir_all(env.path("root")).unwrap();
    let scan = env.run(&[
        "--manifest",
        manifest.to_str().unwrap(),
        "--root",
        env.path("root").to_str().unwrap(),
        "scan",
    ]);
    assert_eq!(exit_code(&scan), 0, "{}", stderr(&scan));
    let rows = json_lines(&env.run(&["inventory", "--json"]));
    assert_eq!(rows[0]["SoftwareName"], "from-contract-0.1.0");
}
