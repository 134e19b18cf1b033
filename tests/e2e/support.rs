//! Shared helpers: run the binary, make fixture roots, build test plugins.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

/// A temporary state directory and a place for fixtures, removed on drop.
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Env {
        Env {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// The binary with `--state` pointing into this environment.
    pub fn driftwatch(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_driftwatch"));
        cmd.arg("--state").arg(self.path("state"));
        cmd.env_remove("RUST_LOG");
        cmd
    }

    /// Runs the binary with `args`; returns its output.
    pub fn run(&self, args: &[&str]) -> Output {
        self.driftwatch().args(args).output().expect("run driftwatch")
    }

    /// Writes a file (creating folders) and returns its path.
    pub fn write(&self, rel: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().expect("has a parent")).expect("mkdir");
        std::fs::write(&path, contents).expect("write fixture");
        path
    }
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Parses JSON lines.
pub fn json_lines(output: &Output) -> Vec<Value> {
    stdout(output)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

pub fn exit_code(output: &Output) -> i32 {
    output.status.code().expect("exited normally")
}

/// A dpkg status stanza.
pub fn stanza(name: &str, status: &str, version: &str, arch: &str) -> String {
    format!(
        "Package: {name}\nStatus: {status}\nPriority: optional\nMaintainer: Test Maintainer <test@example.org>\nArchitecture: {arch}\nVersion: {version}\nDescription: the {name} package\n continued description\n\n"
    )
}

/// The test plugins (in `tests/plugins/`), built once per test run.
const TEST_PLUGINS: [&str; 2] = ["test-plugin-hostile", "test-plugin-contract-v0-1-0"];

/// The `.wasm` of a test plugin, building them all on first use.
pub fn test_plugin(name: &str) -> &'static Path {
    static BUILT: OnceLock<Vec<(String, PathBuf)>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("workspace")
            .to_path_buf();
        let build = driftwatch_plugin_builder::PluginBuild {
            workspace,
            target_dir: Path::new(env!("CARGO_TARGET_TMPDIR")).join("test-plugins"),
            packages: TEST_PLUGINS.iter().map(|s| s.to_string()).collect(),
        };
        let built = build.run().unwrap_or_else(|e| panic!("building the test plugins: {e}"));
        built.into_iter().map(|p| (p.name, p.wasm)).collect()
    });
    built
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, wasm)| wasm.as_path())
        .unwrap_or_else(|| panic!("no test plugin {name}"))
}

/// The plugin that misbehaves on request.
pub fn hostile_plugin() -> &'static Path {
    test_plugin("test-plugin-hostile")
}

/// Sets a file's modification time, so tests can expect exact values.
pub fn set_mtime(path: &Path, unix_seconds: u64) {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open for mtime");
    file.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix_seconds))
        .expect("set mtime");
}

/// Lowercase hex MD5, as `FileContentChecksum` holds it.
pub fn md5_hex(bytes: &[u8]) -> String {
    use md5::{Digest, Md5};
    Md5::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Polls `check` until it returns true or `limit` passes.
pub fn wait_for(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

pub fn start_agent(env: &Env, manifest: &str) -> Child {
    env.driftwatch()
        .args([
            "--manifest",
            manifest,
            "--root",
            env.path("root").to_str().unwrap(),
            "run",
        ])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the agent")
}

pub fn signal(child: &Child, name: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status();
    assert!(status.expect("kill runs").success());
}
