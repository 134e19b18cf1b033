//! `[[output]]`: the records reach a rotated JSON-lines file, a real rsyslog
//! and an HTTPS endpoint speaking the Logs Ingestion API's contract, each
//! record once.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::*;

/// A files collector over `dir`, plus `outputs`.
fn manifest(env: &Env, dir: &Path, outputs: &str) -> String {
    let text = format!(
        "[[collector]]\nkind = \"files\"\nplugin = \"files-posix\"\npaths = [{{ path = \"{}\", recurse = true }}]\n\n{outputs}",
        dir.display()
    );
    env.write("m.toml", text).display().to_string()
}

/// Adds `count` files named `prefix-N` to `dir`.
fn add_files(dir: &Path, prefix: &str, count: usize) {
    std::fs::create_dir_all(dir).unwrap();
    for n in 0..count {
        std::fs::write(dir.join(format!("{prefix}-{n}")), format!("{prefix} {n}\n")).unwrap();
    }
}

/// The store's change ids and current item keys.
fn stored(env: &Env) -> (BTreeSet<i64>, BTreeSet<String>) {
    let db = rusqlite::Connection::open(env.path("state/driftwatch.db")).unwrap();
    let ids = column(&db, "SELECT ChangeId FROM ConfigurationChange");
    let keys = column(&db, "SELECT ItemKey FROM ConfigurationData");
    (ids.into_iter().collect(), keys.into_iter().collect())
}

fn column<T: rusqlite::types::FromSql>(db: &rusqlite::Connection, sql: &str) -> Vec<T> {
    let mut statement = db.prepare(sql).unwrap();
    let rows = statement.query_map([], |row| row.get(0)).unwrap();
    rows.collect::<Result<_, _>>().unwrap()
}

/// Each change id sent, with how many times; and the inventory records sent.
fn tally(records: &[Value]) -> (BTreeMap<i64, usize>, Vec<String>) {
    let mut changes = BTreeMap::new();
    let mut inventory = Vec::new();
    for record in records {
        match record["Type"].as_str() {
            Some("ConfigurationChange") => *changes.entry(record["ChangeId"].as_i64().unwrap()).or_insert(0) += 1,
            Some("ConfigurationData") => inventory.push(record.to_string()),
            other => panic!("a record of type {other:?}: {record}"),
        }
    }
    (changes, inventory)
}

/// Every stored change sent once, and every current item among the
/// inventory records, none of them twice.
fn assert_once(env: &Env, records: &[Value]) -> (usize, usize) {
    let (ids, keys) = stored(env);
    let (changes, inventory) = tally(records);
    let twice: Vec<_> = changes.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "changes sent more than once: {twice:?}");
    assert_eq!(
        changes.keys().copied().collect::<BTreeSet<_>>(),
        ids,
        "changes sent ≠ changes stored"
    );
    let distinct: BTreeSet<&String> = inventory.iter().collect();
    assert_eq!(distinct.len(), inventory.len(), "an inventory record sent twice");
    let sent_keys: BTreeSet<String> = records
        .iter()
        .filter(|r| r["Type"] == "ConfigurationData")
        .map(|r| r["ItemKey"].as_str().unwrap().to_string())
        .collect();
    let missing: Vec<_> = keys.difference(&sent_keys).collect();
    assert!(missing.is_empty(), "inventory never sent: {missing:?}");
    (changes.len(), inventory.len())
}

#[test]
fn jsonl_rotates_and_has_each_record_once_across_kill_9() {
    let env = Env::new();
    let data = env.path("data");
    add_files(&data, "base", 200);
    let out = env.path("out");
    let manifest = manifest(
        &env,
        &data,
        &format!(
            "[[output]]\ntype = \"jsonl\"\npath = \"{}/records.jsonl\"\nmax_size = \"256KiB\"\nkeep = 1000\n",
            out.display()
        ),
    );
    let scan = || {
        env.driftwatch()
            .args(["--manifest", &manifest, "scan"])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    // Rounds of 1500 new files, each scan killed (-9) once it has begun to
    // write the file, a few milliseconds in: mid-write or between a write
    // and its commit, at times.
    let written = || -> u64 {
        std::fs::read_dir(&out)
            .map(|d| d.flatten().filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum())
            .unwrap_or(0)
    };
    let (mut cut, mut killed) = (0, 0);
    for round in 0..8 {
        add_files(&data, &format!("r{round}"), 1500);
        let before = written();
        let mut child = scan();
        let start = Instant::now();
        while written() == before && child.try_wait().unwrap().is_none() && start.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_micros(200));
        }
        std::thread::sleep(Duration::from_micros(fastrand::u64(0..5_000)));
        if child.try_wait().unwrap().is_none() {
            killed += 1;
        }
        let _ = child.kill();
        let _ = child.wait();
        let mut log = String::new();
        child.stderr.take().unwrap().read_to_string(&mut log).unwrap();
        cut += log.matches("written but not recorded as sent").count();
    }
    let last = scan().wait_with_output().unwrap();
    assert!(last.status.success(), "{}", stderr(&last));
    cut += stderr(&last).matches("written but not recorded as sent").count();

    // The files kept, oldest first: records.jsonl.N … .1, then records.jsonl.
    let mut files: Vec<(u32, PathBuf)> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?.to_string();
            let n = match name.strip_prefix("records.jsonl") {
                Some("") => 0,
                Some(rest) => rest.strip_prefix('.')?.parse().ok()?,
                None => return None,
            };
            Some((n, p))
        })
        .collect();
    files.sort_by_key(|(n, _)| std::cmp::Reverse(*n));
    assert!(files.len() >= 3, "{} files: rotation did not happen", files.len());
    let mut records = Vec::new();
    for (_, file) in &files {
        assert!(
            std::fs::metadata(file).unwrap().len() <= 256 * 1024,
            "{} is past max_size",
            file.display()
        );
        for line in std::fs::read_to_string(file).unwrap().lines() {
            let record: Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{}: {e}: {line}", file.display()));
            records.push(record);
        }
    }
    let (changes, inventory) = assert_once(&env, &records);
    assert!(changes >= 1500, "{changes} changes");
    // Changes come in ChangeId order across the files.
    let ids: Vec<i64> = records.iter().filter_map(|r| r["ChangeId"].as_i64()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    eprintln!(
        "jsonl: {changes} changes and {inventory} inventory records in {} files, each once; \
         {killed} scans killed while writing, {cut} tails cut after a kill",
        files.len()
    );
}

/// A real rsyslogd listening on TCP (or TLS, through its GnuTLS driver),
/// writing what it parsed (MSGID, structured data) to a file.
struct Rsyslog {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl Rsyslog {
    fn start(dir: &Path, port: u16) -> Rsyslog {
        Rsyslog::start_with(dir, port, None)
    }

    /// With `tls`, it serves TLS with that certificate and key, anonymous
    /// clients (as RFC 5425 collectors usually take them).
    fn start_with(dir: &Path, port: u16, tls: Option<&TestCa>) -> Rsyslog {
        let rsyslogd = ["/usr/sbin/rsyslogd", "/sbin/rsyslogd"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("rsyslogd is needed (Debian: apt install rsyslog)");
        std::fs::create_dir_all(dir).unwrap();
        let (global_tls, module_tls) = match tls {
            None => (String::new(), ""),
            Some(ca) => {
                let [ca_file, cert, key] = [
                    ("ca.pem", &ca.ca_pem),
                    ("cert.pem", &ca.cert_pem),
                    ("key.pem", &ca.key_pem),
                ]
                .map(|(name, pem)| {
                    let path = dir.join(name);
                    std::fs::write(&path, pem).unwrap();
                    path.display().to_string()
                });
                (
                    format!(
                        " defaultNetstreamDriver=\"gtls\" defaultNetstreamDriverCAFile=\"{ca_file}\" \
                         defaultNetstreamDriverCertFile=\"{cert}\" defaultNetstreamDriverKeyFile=\"{key}\""
                    ),
                    " streamDriver.name=\"gtls\" streamDriver.mode=\"1\" streamDriver.authMode=\"anon\"",
                )
            }
        };
        let config = dir.join("rsyslog.conf");
        std::fs::write(
            &config,
            format!(
                "global(workDirectory=\"{dir}\"{global_tls})\n\
                 module(load=\"imtcp\"{module_tls})\n\
                 template(name=\"parsed\" type=\"string\" string=\"%msgid%|%structured-data%\\n\")\n\
                 input(type=\"imtcp\" address=\"127.0.0.1\" port=\"{port}\")\n\
                 *.* action(type=\"omfile\" file=\"{dir}/received.log\" template=\"parsed\")\n",
                dir = dir.display()
            ),
        )
        .unwrap();
        let child = Command::new(rsyslogd)
            .arg("-n")
            .arg("-f")
            .arg(&config)
            .arg("-i")
            .arg(dir.join("rsyslogd.pid"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start rsyslogd");
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "rsyslogd did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Rsyslog {
            child,
            dir: dir.to_path_buf(),
            port,
        }
    }

    /// What it received, as records: `Type` and the structured data's params.
    fn received(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(self.dir.join("received.log")).unwrap_or_default();
        text.lines().map(parse_structured_data).collect()
    }

    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `MSGID|[driftwatch@32473 Name="value" …]` → `{"Name": "value", …}`,
/// with ChangeId a number; the MSGID must be the record's type.
fn parse_structured_data(line: &str) -> Value {
    let (msgid, data) = line.split_once('|').unwrap();
    let body = data
        .strip_prefix("[driftwatch@32473 ")
        .and_then(|d| d.strip_suffix(']'))
        .unwrap_or_else(|| panic!("not our structured data: {line}"));
    let mut fields = serde_json::Map::new();
    let mut chars = body.chars().peekable();
    loop {
        let name: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if name.is_empty() {
            break;
        }
        assert_eq!(chars.next(), Some('"'), "{line}");
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => value.push(chars.next().unwrap()),
                '"' => break,
                c => value.push(c),
            }
        }
        let value = match name.as_str() {
            "ChangeId" => Value::from(value.parse::<i64>().unwrap()),
            _ => Value::from(value),
        };
        fields.insert(name.trim().to_string(), value);
        if chars.peek() == Some(&' ') {
            chars.next();
        }
    }
    assert_eq!(fields["Type"], msgid, "{line}");
    Value::Object(fields)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn syslog_reaches_a_real_rsyslog_once_and_catches_up_after_it_was_away() {
    let env = Env::new();
    let data = env.path("root/data");
    add_files(&data, "base", 20);
    let port = free_port();
    let rsyslog = Rsyslog::start(&env.path("rsyslog"), port);
    let manifest = env
        .write(
            "m.toml",
            format!(
                "[[collector]]\nkind = \"files\"\nplugin = \"files-posix\"\npaths = [{{ path = \"/data\", recurse = true }}]\n\n\
                 [[output]]\ntype = \"syslog\"\naddress = \"127.0.0.1:{port}\"\nfacility = \"local4\"\n"
            ),
        )
        .display()
        .to_string();
    let agent = start_agent(&env, &manifest);
    let changes = |records: &[Value]| records.iter().filter(|r| r["Type"] == "ConfigurationChange").count();
    agent.wait_for(Duration::from_secs(30), "the baseline at rsyslog", || {
        rsyslog.received().len() >= 20
    });

    add_files(&data, "first", 5);
    agent.wait_for(Duration::from_secs(30), "5 changes at rsyslog", || {
        changes(&rsyslog.received()) >= 5
    });

    // The collector goes away; the agent records on, and keeps what it could not send.
    let received_before = rsyslog.received();
    rsyslog.stop();
    add_files(&data, "while-away", 7);
    agent.wait_for(Duration::from_secs(30), "a failed send", || {
        agent.log().contains("not sent: cannot connect")
    });
    assert_eq!(stored(&env).0.len(), 12);

    // Back on the same port: what was kept arrives, then what comes next.
    let rsyslog = Rsyslog::start(&env.path("rsyslog-again"), port);
    agent.wait_for(Duration::from_secs(60), "the 7 kept changes", || {
        changes(&rsyslog.received()) >= 7
    });
    add_files(&data, "after", 3);
    agent.wait_for(Duration::from_secs(30), "3 more changes", || {
        changes(&rsyslog.received()) >= 10
    });
    let (exit, log) = agent.stop();
    assert_eq!(exit.code(), Some(0), "{log}");
    let status = json_lines(&env.run(&["--manifest", &manifest, "status", "--json"]));
    let output = &status.last().unwrap()["Output"];
    assert_eq!(output["Name"], "syslog");
    assert_eq!(
        (output["PendingChanges"].as_u64(), output["PendingInventory"].as_u64()),
        (Some(0), Some(0))
    );
    assert!(
        output["LastError"].is_null() && output["LastSent"].is_string(),
        "{output}"
    );

    let mut all = received_before;
    all.extend(rsyslog.received());
    let (changes, inventory) = assert_once(&env, &all);
    assert_eq!(changes, 15);
    // Structured data intact: a change's columns as stored.
    let added = all
        .iter()
        .find(|r| r["FileSystemPath"] == "/data/while-away-3")
        .expect("the change of while-away-3");
    assert_eq!(added["ChangeCategory"], "Added");
    assert_eq!(added["ConfigChangeType"], "Files");
    assert_eq!(added["FileContentChecksum"], md5_hex(b"while-away 3\n"));
    eprintln!(
        "syslog: {changes} changes and {inventory} inventory records at rsyslog (port {}), each once, \
         across its stop and restart",
        rsyslog.port
    );
    rsyslog.stop();
}

/// A CA of the test's own and a certificate it signed for `localhost`.
struct TestCa {
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
    cert_der: rustls::pki_types::CertificateDer<'static>,
    key_der: Vec<u8>,
}

impl TestCa {
    fn new() -> TestCa {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        TestCa {
            ca_pem: ca.pem(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().clone(),
            key_der: key.serialize_der(),
        }
    }
}

#[test]
fn syslog_over_tls_reaches_a_real_rsyslog_once() {
    let env = Env::new();
    let data = env.path("root/data");
    add_files(&data, "base", 10);
    let ca = TestCa::new();
    let port = free_port();
    let rsyslog = Rsyslog::start_with(&env.path("rsyslog"), port, Some(&ca));
    let ca_file = env.write("ca.pem", &ca.ca_pem);
    let manifest = env
        .write(
            "m.toml",
            format!(
                "[[collector]]\nkind = \"files\"\nplugin = \"files-posix\"\npaths = [{{ path = \"/data\", recurse = true }}]\n\n\
                 [[output]]\ntype = \"syslog\"\naddress = \"localhost:{port}\"\ntransport = \"tls\"\nca = \"{}\"\ntimeout = \"20s\"\n",
                ca_file.display()
            ),
        )
        .display()
        .to_string();
    let scan = || {
        let started = Instant::now();
        let output = env.run(&[
            "--manifest",
            &manifest,
            "--root",
            &env.path("root").display().to_string(),
            "scan",
        ]);
        assert!(output.status.success(), "{}", stderr(&output));
        let said = stdout(&output);
        assert!(said.contains("): sent ") && !said.contains("failed"), "{said}");
        started.elapsed()
    };
    let first = scan();
    add_files(&data, "more", 4);
    let second = scan();
    // The records are in rsyslog's file once it has them: wait for the last.
    let start = Instant::now();
    while rsyslog.received().len() < 18 && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let records = rsyslog.received();
    let (changes, inventory) = assert_once(&env, &records);
    assert_eq!((changes, inventory), (4, 14));
    // rsyslog closes when the agent does: no scan waits out the 20 s timeout.
    assert!(first.max(second) < Duration::from_secs(15), "{first:?} {second:?}");
    eprintln!(
        "syslog over TLS: {changes} changes and {inventory} inventory records at rsyslog's gtls driver, each once; \
         scans took {first:.1?} and {second:.1?}"
    );
    rsyslog.stop();
}

/// Each accepted call: its stream and its records.
type Received = Mutex<Vec<(String, Vec<Value>)>>;

/// An HTTPS endpoint that keeps the Logs Ingestion API's contract: a token
/// endpoint, stream endpoints taking gzipped JSON arrays; it throttles the
/// first call (429, Retry-After: 1) and refuses calls over `limit` bytes
/// of JSON (413).
struct IngestionEndpoint {
    port: u16,
    ca_pem: String,
    received: Arc<Received>,
    calls: Arc<Mutex<BTreeMap<u16, usize>>>,
}

impl IngestionEndpoint {
    fn start(limit: usize) -> IngestionEndpoint {
        let test_ca = TestCa::new();
        let key = rustls::pki_types::PrivateKeyDer::try_from(test_ca.key_der).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![test_ca.cert_der], key)
            .unwrap();
        let ca_pem = test_ca.ca_pem;
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let calls = Arc::new(Mutex::new(BTreeMap::new()));
        let (r, c) = (received.clone(), calls.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (config, r, c) = (config.clone(), r.clone(), c.clone());
                std::thread::spawn(move || serve(stream, config, limit, &r, &c));
            }
        });
        IngestionEndpoint {
            port,
            ca_pem,
            received,
            calls,
        }
    }
}

fn serve(
    stream: TcpStream,
    config: Arc<rustls::ServerConfig>,
    limit: usize,
    received: &Received,
    calls: &Mutex<BTreeMap<u16, usize>>,
) {
    let connection = rustls::ServerConnection::new(config).unwrap();
    let mut tls = rustls::StreamOwned::new(connection, stream);
    let mut reader = BufReader::new(&mut tls);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut headers = BTreeMap::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').unwrap();
            headers.insert(name.to_ascii_lowercase(), value.trim().to_string());
        }
        let length: usize = headers.get("content-length").map_or(0, |l| l.parse().unwrap());
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let target = request_line.split(' ').nth(1).unwrap().to_string();
        let (status, extra, answer) = answer(&target, &headers, &body, limit, received, calls);
        *calls.lock().unwrap().entry(status).or_insert(0) += 1;
        let response = format!(
            "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nContent-Type: application/json\r\n{extra}\r\n{answer}",
            answer.len()
        );
        let tls = reader.get_mut();
        tls.write_all(response.as_bytes()).unwrap();
        tls.flush().unwrap();
    }
}

/// Status, extra header lines and body for one request.
fn answer(
    target: &str,
    headers: &BTreeMap<String, String>,
    body: &[u8],
    limit: usize,
    received: &Received,
    calls: &Mutex<BTreeMap<u16, usize>>,
) -> (u16, String, String) {
    if target == "/tenant-1/oauth2/v2.0/token" {
        let form = String::from_utf8_lossy(body);
        for field in [
            "client_id=app-1",
            "client_secret=s3cret",
            "grant_type=client_credentials",
            "scope=https%3A%2F%2Fmonitor.azure.com%2F%2F.default",
        ] {
            assert!(
                form.split('&').any(|f| f == field),
                "token request {form} lacks {field}"
            );
        }
        return (
            200,
            String::new(),
            r#"{"token_type":"Bearer","expires_in":3599,"access_token":"tok-1"}"#.into(),
        );
    }
    let Some(stream) = target
        .strip_prefix("/dataCollectionRules/dcr-0123/streams/")
        .and_then(|rest| rest.strip_suffix("?api-version=2023-01-01"))
    else {
        return (404, String::new(), format!(r#"{{"error":"no such target {target}"}}"#));
    };
    assert_eq!(headers.get("authorization").map(String::as_str), Some("Bearer tok-1"));
    assert_eq!(headers.get("content-encoding").map(String::as_str), Some("gzip"));
    assert_eq!(
        headers.get("content-type").map(String::as_str),
        Some("application/json")
    );
    let mut json = Vec::new();
    flate2::read::GzDecoder::new(body).read_to_end(&mut json).unwrap();
    // The first call to a stream is throttled.
    if !calls.lock().unwrap().contains_key(&429) {
        return (
            429,
            "Retry-After: 1\r\n".into(),
            r#"{"error":{"code":"TooManyRequests"}}"#.into(),
        );
    }
    if json.len() > limit {
        return (
            413,
            String::new(),
            r#"{"error":{"code":"ContentLengthLimitExceeded"}}"#.into(),
        );
    }
    let records: Vec<Value> = serde_json::from_slice(&json).unwrap();
    received.lock().unwrap().push((stream.to_string(), records));
    (204, String::new(), String::new())
}

#[test]
fn azure_monitor_calls_are_split_retried_and_carry_each_record_once() {
    let env = Env::new();
    let data = env.path("data");
    add_files(&data, "base", 1200);
    // The endpoint takes 150 kB a call; the agent tries 400 kB first.
    let endpoint = IngestionEndpoint::start(150_000);
    let ca = env.write("ca.pem", &endpoint.ca_pem);
    env.write("secret", "s3cret\n");
    let manifest = manifest(
        &env,
        &data,
        &format!(
            "[[output]]\ntype = \"azure-monitor\"\nendpoint = \"https://localhost:{port}\"\n\
             dcr_immutable_id = \"dcr-0123\"\ntenant_id = \"tenant-1\"\nclient_id = \"app-1\"\n\
             client_secret_file = \"secret\"\nauthority = \"https://localhost:{port}\"\nca = \"{ca}\"\n\
             max_bytes = \"400KB\"\n",
            port = endpoint.port,
            ca = ca.display()
        ),
    );
    let scan = |what: &str| {
        let out = env.run(&["--manifest", &manifest, "scan"]);
        assert!(out.status.success(), "{what}: {}{}", stdout(&out), stderr(&out));
        stdout(&out)
    };
    let first = scan("baseline");
    assert!(first.contains("Output azure-monitor"), "{first}");
    add_files(&data, "added", 600);
    std::fs::remove_file(data.join("base-7")).unwrap();
    let second = scan("changes");
    assert!(second.contains("sent 1201 records"), "{second}");

    let received = endpoint.received.lock().unwrap().clone();
    // Azure reserves `Type`: the stream says which table a record is of.
    let mut records = Vec::new();
    for (stream, batch) in &received {
        let table = match stream.as_str() {
            "Custom-ConfigurationChange" => "ConfigurationChange",
            "Custom-ConfigurationData" => "ConfigurationData",
            other => panic!("records sent to stream {other}"),
        };
        for record in batch {
            assert!(record.get("Type").is_none(), "{record}");
            assert!(record["TimeGenerated"].is_string(), "{record}");
            let mut record = record.clone();
            record["Type"] = Value::from(table);
            records.push(record);
        }
    }
    let (changes, inventory) = assert_once(&env, &records);
    assert_eq!((changes, inventory), (601, 1800));
    let calls = endpoint.calls.lock().unwrap().clone();
    assert_eq!(calls.get(&429), Some(&1), "{calls:?}");
    assert!(calls.get(&413).is_some_and(|n| *n >= 1), "{calls:?}");
    eprintln!(
        "azure-monitor: {changes} changes and {inventory} inventory records, each once; calls by status {calls:?}"
    );
}
