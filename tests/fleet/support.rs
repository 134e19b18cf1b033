//! The server and agent binaries, certificates for TLS.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// The agent binary, built beside the server's by the workspace build.
pub fn driftwatch() -> PathBuf {
    let server = PathBuf::from(env!("CARGO_BIN_EXE_driftwatch-server"));
    let agent = server.with_file_name(format!("driftwatch{}", std::env::consts::EXE_SUFFIX));
    assert!(
        agent.exists(),
        "{} is missing: build the agent first (cargo build --release)",
        agent.display()
    );
    agent
}

/// `driftwatch-server --database URL ARGS…`, run to its end.
pub fn server_command(database: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_driftwatch-server"))
        .env_remove("DRIFTWATCH_DATABASE")
        .env_remove("RUST_LOG")
        .args(["--database", database])
        .args(args)
        .output()
        .expect("run driftwatch-server")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A new enrollment secret.
pub fn new_secret(database: &str, args: &[&str]) -> String {
    let mut all = vec!["secret", "new"];
    all.extend_from_slice(args);
    let output = server_command(database, &all);
    assert!(output.status.success(), "{}", stderr(&output));
    stdout(&output).trim().to_string()
}

/// A CA and a certificate it signed for `localhost` and 127.0.0.1, as PEM
/// files in `dir`: (ca, cert, key).
pub fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "driftwatch test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let paths = (dir.join("ca.pem"), dir.join("server.pem"), dir.join("server.key"));
    std::fs::write(&paths.0, ca.pem()).unwrap();
    std::fs::write(&paths.1, cert.pem()).unwrap();
    std::fs::write(&paths.2, key.serialize_pem()).unwrap();
    paths
}

/// `driftwatch-server serve` in the background; its log is kept as it is
/// written. Killed on drop.
pub struct Server {
    child: Child,
    log: Arc<Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
    pub url: String,
}

impl Server {
    /// Starts serving `database` on a free loopback port, over TLS with
    /// `tls` (cert, key) or plain HTTP without.
    pub fn start(database: &str, tls: Option<(&Path, &Path)>) -> Server {
        Server::start_at(database, tls, "127.0.0.1:0")
    }

    /// Like `start`, on `listen` (`host:port`).
    pub fn start_at(database: &str, tls: Option<(&Path, &Path)>, listen: &str) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_driftwatch-server"));
        command
            // Each stored content is logged, so tests can count them.
            .env("RUST_LOG", "info,driftwatch_server::http::contents=debug")
            .args(["--database", database, "serve", "--listen", listen]);
        match tls {
            Some((cert, key)) => command.arg("--tls-cert").arg(cert).arg("--tls-key").arg(key),
            None => command.arg("--insecure-http"),
        };
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start driftwatch-server");
        let log = Arc::new(Mutex::new(String::new()));
        let (found, listening) = mpsc::channel();
        let reader = BufReader::new(child.stderr.take().unwrap());
        let sink = log.clone();
        let reader = std::thread::spawn(move || {
            for line in reader.lines().map_while(Result::ok) {
                if let Some(at) = line.find("listening on ") {
                    let _ = found.send(line[at + "listening on ".len()..].trim().to_string());
                }
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let url = match listening.recv_timeout(Duration::from_secs(60)) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the server did not start: {}", log.lock().unwrap());
            }
        };
        Server {
            child,
            log,
            reader: Some(reader),
            url,
        }
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// `host:port` it listens on.
    pub fn address(&self) -> &str {
        self.url.split("://").nth(1).unwrap_or_default()
    }

    /// SIGTERM; the exit status and log once it stopped (within 20 s).
    pub fn stop(mut self) -> (ExitStatus, String) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let start = Instant::now();
        loop {
            if let Some(exit) = self.child.try_wait().expect("wait") {
                // The log reader ends with the last line.
                if let Some(reader) = self.reader.take() {
                    let _ = reader.join();
                }
                return (exit, self.log());
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "the server did not stop: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// An agent's state directory.
pub struct AgentState {
    pub dir: tempfile::TempDir,
}

impl AgentState {
    pub fn new() -> AgentState {
        AgentState {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// `driftwatch --state … ARGS…`, run to its end.
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(driftwatch())
            .env_remove("RUST_LOG")
            .env_remove("DRIFTWATCH_ENROLL_SECRET")
            .arg("--state")
            .arg(self.state())
            .args(args)
            .output()
            .expect("run driftwatch")
    }

    /// `driftwatch enroll URL --secret SECRET --name NAME [--ca CA]`.
    pub fn enroll(&self, url: &str, secret: &str, ca: Option<&str>, name: &str) -> Output {
        let mut args = vec!["enroll", url, "--secret", secret, "--name", name];
        if let Some(ca) = ca {
            args.extend(["--ca", ca]);
        }
        self.run(&args)
    }

    /// What `fleet.json` holds.
    pub fn membership(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.state().join("fleet.json")).expect("fleet.json");
        serde_json::from_str(&text).expect("fleet.json is JSON")
    }
}

/// A child process killed when dropped (a failing test leaves nothing
/// running behind it).
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
