//! Shared helpers: run the binary, make fixture roots, build test plugins.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
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

/// `driftwatch run` in the background. Its log is read as it is written
/// (an unread pipe would stall the agent once full) and shown when a wait
/// times out; dropping it kills the agent.
pub struct Agent {
    child: Child,
    log: Arc<Mutex<Vec<u8>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

pub fn start_agent(env: &Env, manifest: &str) -> Agent {
    let mut child = env
        .driftwatch()
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
        .expect("start the agent");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = log.clone();
    let reader = std::thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        loop {
            match stderr.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => sink.lock().unwrap().extend_from_slice(&chunk[..n]),
            }
        }
    });
    Agent {
        child,
        log,
        reader: Some(reader),
    }
}

impl Agent {
    /// What the agent has logged so far.
    pub fn log(&self) -> String {
        String::from_utf8_lossy(&self.log.lock().unwrap()).into_owned()
    }

    /// Polls `check` until it returns true; fails after `limit`, showing
    /// the agent's log.
    pub fn wait_for(&self, limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
        let start = Instant::now();
        while !check() {
            assert!(
                start.elapsed() < limit,
                "timed out waiting for {what}; the agent logged:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status();
        assert!(status.expect("kill runs").success());
    }

    /// Waits up to `limit` for the agent to exit; its exit status and whole log.
    pub fn wait(mut self, limit: Duration) -> (ExitStatus, String) {
        let start = Instant::now();
        let exit = loop {
            if let Some(exit) = self.child.try_wait().expect("wait") {
                break exit;
            }
            assert!(
                start.elapsed() < limit,
                "the agent did not stop; it logged:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        (exit, self.log())
    }

    /// SIGTERM, then the exit status and log; the agent must stop within 20 s.
    pub fn stop(self) -> (ExitStatus, String) {
        self.signal("TERM");
        self.wait(Duration::from_secs(20))
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
