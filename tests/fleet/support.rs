//! The server and agent binaries, certificates for TLS, HTTP by hand, and
//! results made comparable across stores.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
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
            .env(
                "RUST_LOG",
                "info,driftwatch_server::http::contents=debug,driftwatch_server::database::shipping=debug",
            )
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

/// A machine image (a folder of the machine's name, which is what the agent
/// calls an image without a name of its own) and the agent that
/// inventories it, with the built-in manifest or one of its own.
pub struct Machine {
    pub agent: AgentState,
    pub name: String,
    folder: String,
    manifest: Option<PathBuf>,
}

impl Machine {
    pub fn new(name: &str) -> Machine {
        Machine {
            agent: AgentState::new(),
            name: name.to_string(),
            folder: name.to_string(),
            manifest: None,
        }
    }

    /// The image names itself `name` (a Windows image's ComputerName, say):
    /// the agent calls it that, whatever its folder.
    pub fn named(mut self, name: &str) -> Machine {
        self.name = name.to_string();
        self
    }

    /// The agent runs with this manifest instead of the built-in one.
    pub fn with_manifest(mut self, text: &str) -> Machine {
        let path = self.agent.dir.path().join("manifest.toml");
        std::fs::write(&path, text).unwrap();
        self.manifest = Some(path);
        self
    }

    pub fn root(&self) -> PathBuf {
        self.agent.dir.path().join(&self.folder)
    }

    /// Its own manifest's path (see `with_manifest`).
    pub fn manifest(&self) -> PathBuf {
        self.manifest.clone().expect("a machine with a manifest of its own")
    }

    /// Writes `root/path`, making its folders.
    pub fn write(&self, path: &str, bytes: impl AsRef<[u8]>) {
        let path = self.root().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }

    /// `--root …` and, with a manifest of its own, `--manifest …`.
    pub fn global_args(&self) -> Vec<String> {
        let mut args = vec!["--root".to_string(), self.root().display().to_string()];
        if let Some(manifest) = &self.manifest {
            args.extend(["--manifest".to_string(), manifest.display().to_string()]);
        }
        args
    }

    /// `driftwatch --root … [--manifest …] ARGS…`
    pub fn run(&self, args: &[&str]) -> Output {
        let global = self.global_args();
        let mut all: Vec<&str> = global.iter().map(String::as_str).collect();
        all.extend_from_slice(args);
        self.agent.run(&all)
    }

    pub fn enroll(&self, url: &str, secret: &str) {
        let output = self.run(&["enroll", url, "--secret", secret]);
        assert!(output.status.success(), "{}", stderr(&output));
        assert!(
            stdout(&output).contains(&format!("enrolled as {}", self.name)),
            "{}",
            stdout(&output)
        );
    }

    /// Scans; returns what it said about shipping.
    pub fn scan(&self) -> String {
        let output = self.run(&["scan"]);
        assert!(output.status.success(), "{}{}", stdout(&output), stderr(&output));
        stdout(&output)
            .lines()
            .filter(|l| l.contains("hip"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The agent's answer to `kql`, as sorted JSON lines.
    pub fn query(&self, kql: &str) -> Vec<String> {
        let output = self.run(&["query", kql, "--json"]);
        assert!(output.status.success(), "{kql}: {}", stderr(&output));
        sorted_json_lines(&stdout(&output))
    }

    /// The agent's own inventory, every stored column, as sorted JSON texts
    /// (`Type`, the table's name, is not stored; `--json` leaves nulls out).
    pub fn inventory(&self) -> Vec<String> {
        self.query("ConfigurationData | project-away Type")
    }

    pub fn changes(&self) -> Vec<serde_json::Value> {
        stdout(&self.run(&["changes", "--json"]))
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// The credential it enrolled with.
    pub fn credential(&self) -> String {
        self.agent.membership()["credential"].as_str().unwrap().to_string()
    }
}

/// `driftwatch run` on a machine, its log read as it is written; killed
/// when dropped, however a test ends.
pub struct RunningAgent {
    child: KillOnDrop,
    log: Arc<Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl RunningAgent {
    pub fn start(machine: &Machine) -> RunningAgent {
        let mut child = KillOnDrop(
            Command::new(driftwatch())
                .env("RUST_LOG", "info")
                .arg("--state")
                .arg(machine.agent.state())
                .args(machine.global_args())
                .arg("run")
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start the agent"),
        );
        let log = Arc::new(Mutex::new(String::new()));
        let mut stderr = child.0.stderr.take().unwrap();
        let sink = log.clone();
        let reader = std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n @ 1..) = stderr.read(&mut chunk) {
                sink.lock().unwrap().push_str(&String::from_utf8_lossy(&chunk[..n]));
            }
        });
        RunningAgent {
            child,
            log,
            reader: Some(reader),
        }
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Sends a signal (`HUP`, `TERM`, ...).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.child.0.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits up to `seconds` for `check` to hold, showing the log if not.
    pub fn wait_for(&self, seconds: u64, what: &str, mut check: impl FnMut() -> bool) {
        let start = Instant::now();
        while !check() {
            assert!(
                start.elapsed() < Duration::from_secs(seconds),
                "timed out waiting for {what}; the agent logged:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// SIGTERM, then its exit status and whole log.
    pub fn stop(mut self) -> (ExitStatus, String) {
        self.signal("TERM");
        let exit = self.child.0.wait().unwrap();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        (exit, self.log())
    }
}

/// JSON lines, each re-serialised with its keys sorted (and nulls left
/// out), then sorted: comparable across stores.
pub fn sorted_json_lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let value: serde_json::Map<String, serde_json::Value> = serde_json::from_str(l).unwrap();
            let sorted: std::collections::BTreeMap<String, serde_json::Value> =
                value.into_iter().filter(|(_, v)| !v.is_null()).collect();
            serde_json::to_string(&sorted).unwrap()
        })
        .collect();
    lines.sort();
    lines
}

/// Posts `body` to `path` over plain HTTP with a bearer credential; the
/// status code and the answer's body.
pub fn post(address: &str, path: &str, credential: &str, encoding: Option<&str>, body: &[u8]) -> (u16, String) {
    send("POST", address, path, credential, encoding, body)
}

/// Like `post`, with another method.
pub fn send(
    method: &str,
    address: &str,
    path: &str,
    credential: &str,
    encoding: Option<&str>,
    body: &[u8],
) -> (u16, String) {
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(encoding) = encoding {
        headers.push(("Content-Encoding", encoding));
    }
    let answer = request(method, address, path, credential, &headers, body);
    (answer.status, answer.body)
}

/// An HTTP answer: status, header lines, body.
pub struct Answer {
    pub status: u16,
    pub headers: String,
    pub body: String,
}

impl Answer {
    /// A header's value (names compared without case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim().eq_ignore_ascii_case(name).then_some(value.trim())
        })
    }
}

/// One request over plain HTTP with a bearer credential and `headers`.
pub fn request(
    method: &str,
    address: &str,
    path: &str,
    credential: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Answer {
    let mut stream = TcpStream::connect(address).expect("connect");
    let headers: String = headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {credential}\r\n\
         {headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    // The server may answer before reading it all (a body over the limit).
    let _ = stream.write_all(body);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer}"));
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    Answer {
        status,
        headers: head.to_string(),
        body: body.to_string(),
    }
}
