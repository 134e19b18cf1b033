//! What the fleet benchmarks share: a throwaway PostgreSQL and a real
//! `driftwatch-server`, simulated agents that enroll and ship as the agent
//! does (batches encoded as it encodes them), their baselines, and
//! latency figures.

#![allow(dead_code)]

#[path = "../../../tests/fleet/postgres.rs"]
#[allow(dead_code)]
pub mod postgres;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use driftwatch_protocol::{Columns, EnrollRequest, Enrolled, InventoryEntry, Position, ShipBatch};
use serde_json::json;

pub const PACKAGES: usize = 1_500;
pub const SERVICES: usize = 200;
pub const FILES: usize = 500;
/// Items in one agent's baseline.
pub const ITEMS: usize = PACKAGES + SERVICES + FILES;
pub const BATCH: usize = 2_000;
pub const CONNECTIONS: usize = 32;

pub fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// PostgreSQL and the server on it, stopped however the benchmark ends.
pub struct Fleet {
    pub pg: postgres::Postgres,
    pub database: String,
    pub server: KillOnDrop,
    pub url: String,
    pub http: ureq::Agent,
}

impl Fleet {
    pub fn start() -> Fleet {
        let pg = postgres::Postgres::start();
        let database = pg.new_database("fleet");
        let mut server = KillOnDrop(
            Command::new(env!("CARGO_BIN_EXE_driftwatch-server"))
                .env("RUST_LOG", "warn,driftwatch_server::cli=info")
                .args([
                    "--database",
                    &database,
                    "serve",
                    "--listen",
                    "127.0.0.1:0",
                    "--insecure-http",
                ])
                .stderr(Stdio::piped())
                .spawn()
                .expect("start the server"),
        );
        let mut lines = BufReader::new(server.0.stderr.take().unwrap()).lines();
        let url = loop {
            let line = lines.next().expect("the server's log").expect("a log line");
            if let Some(at) = line.find("listening on ") {
                break line[at + "listening on ".len()..].trim().to_string();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        let http: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        Fleet {
            pg,
            database,
            server,
            url,
            http,
        }
    }

    /// `driftwatch-server --database … ARGS`: its output.
    pub fn admin(&self, args: &[&str]) -> String {
        admin_with_input(&self.database, args, None)
    }

    /// Enrolls `agents` machines named `load-000000`…; their credentials.
    pub fn enroll(&self, agents: usize) -> Vec<String> {
        let secret = self.admin(&["secret", "new", "--group", "bench", "--uses", &agents.to_string()]);
        let started = Instant::now();
        let credentials = parallel(agents, |i| {
            let request = EnrollRequest {
                secret: secret.clone(),
                name: format!("load-{i:06}"),
                os: if i % 4 == 3 { "windows" } else { "linux" }.into(),
                agent_version: "load".into(),
            };
            let enrolled: Enrolled = self
                .http
                .post(&format!("{}/v1/enroll", self.url))
                .send_json(&request)
                .expect("enroll")
                .body_mut()
                .read_json()
                .expect("enrolled");
            enrolled.credential
        });
        println!("enrolled {agents} agents in {:.1} s", started.elapsed().as_secs_f64());
        credentials
    }

    /// Ships every agent's baseline, encoded before the clock starts
    /// (agents encode on their own machines); prints rows/s.
    pub fn ship_baselines(&self, credentials: &[String], latencies: &Latencies) {
        let agents = credentials.len();
        let started = Instant::now();
        let bodies: Vec<Vec<(Position, Vec<u8>)>> = parallel(agents, |i| {
            let inventory = baseline(i);
            let mut from = Position::default();
            let mut bodies = Vec::new();
            for (n, chunk) in inventory.chunks(BATCH).enumerate() {
                let to = Position {
                    change_id: 0,
                    revision: from.revision + chunk.len() as i64,
                };
                let batch = ShipBatch {
                    from,
                    to,
                    changes: Vec::new(),
                    inventory: chunk.to_vec(),
                    restart_inventory: n == 0,
                };
                bodies.push((to, encode(&batch)));
                from = to;
            }
            bodies
        });
        let compressed: usize = bodies.iter().flatten().map(|(_, body)| body.len()).sum();
        println!(
            "encoded the agents' baseline batches in {:.1} s ({} MiB gzip'd)",
            started.elapsed().as_secs_f64(),
            compressed >> 20
        );
        let rows = AtomicUsize::new(0);
        let started = Instant::now();
        parallel(agents, |i| {
            let mut from = Position::default();
            for (to, body) in &bodies[i] {
                let acknowledged = post(&self.http, &self.url, &credentials[i], body, latencies);
                assert_eq!(acknowledged, *to, "the server acknowledges the whole batch");
                rows.fetch_add((to.revision - from.revision) as usize, Ordering::Relaxed);
                from = *to;
            }
        });
        let elapsed = started.elapsed().as_secs_f64();
        let rows = rows.into_inner();
        println!(
            "baselines: {rows} rows from {agents} agents in {elapsed:.1} s = {:.0} rows/s",
            rows as f64 / elapsed
        );
    }

    pub fn database_size(&self) -> i64 {
        self.pg
            .psql("fleet", "SELECT pg_database_size('fleet')")
            .parse()
            .unwrap_or(0)
    }
}

/// `driftwatch-server --database … ARGS`, with `input` on its stdin.
pub fn admin_with_input(database: &str, args: &[&str], input: Option<&str>) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_driftwatch-server"))
        .args(["--database", database])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("driftwatch-server");
    if let Some(input) = input {
        let _ = writeln!(child.stdin.take().unwrap(), "{input}");
    }
    drop(child.stdin.take());
    let made = child.wait_with_output().expect("driftwatch-server");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    String::from_utf8_lossy(&made.stdout).trim().to_string()
}

/// A process killed however the benchmark ends (a panic included).
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `work(i)` for i in 0..n on `CONNECTIONS` threads; results in order.
pub fn parallel<T: Send>(n: usize, work: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let next = AtomicUsize::new(0);
    let results: Vec<Mutex<Option<T>>> = (0..n).map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..CONNECTIONS.min(n.max(1)) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return;
                    }
                    let result = work(i);
                    *results[i].lock().unwrap() = Some(result);
                }
            });
        }
    });
    results
        .into_iter()
        .map(|r| r.into_inner().unwrap().expect("done"))
        .collect()
}

pub fn ship(http: &ureq::Agent, url: &str, credential: &str, batch: &ShipBatch, latencies: &Latencies) -> Position {
    post(http, url, credential, &encode(batch), latencies)
}

/// A batch as the agent sends it: the JSON whole, then compressed in one
/// write (serde_json's many small writes straight into the encoder would
/// make flate2 clear its output buffer on each one).
pub fn encode(batch: &ShipBatch) -> Vec<u8> {
    let json = serde_json::to_vec(batch).unwrap();
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gzip.write_all(&json).unwrap();
    gzip.finish().unwrap()
}

pub fn post(http: &ureq::Agent, url: &str, credential: &str, body: &[u8], latencies: &Latencies) -> Position {
    let begun = Instant::now();
    let position: Position = http
        .post(&format!("{url}/v1/ship"))
        .header("Authorization", &format!("Bearer {credential}"))
        .header("Content-Type", "application/json")
        .header("Content-Encoding", "gzip")
        .send(body)
        .expect("ship")
        .body_mut()
        .read_json()
        .expect("a position");
    latencies.add(begun.elapsed());
    position
}

pub const TIME: &str = "2026-12-02T10:00:00.000000Z";

pub fn row(values: serde_json::Value) -> Columns {
    values.as_object().unwrap().clone()
}

/// Agent `i`'s first inventory: packages, services and files, as its
/// store numbers them.
pub fn baseline(i: usize) -> Vec<InventoryEntry> {
    let mut entries = Vec::with_capacity(ITEMS);
    for p in 0..PACKAGES {
        entries.push(row(json!({
            "Collector": "dpkg", "ItemKey": format!("pkg{p}\tamd64"), "ConfigDataType": "Software",
            "Computer": "x", "TimeGenerated": TIME, "SoftwareName": format!("pkg{p}"),
            "CurrentVersion": format!("{}.{}-{}", p % 7, p % 13, i % 3), "Architecture": "amd64",
            "Publisher": "Debian Maintainers <maint@example.org>", "SoftwareType": "Package",
            "SoftwareDescription": format!("the pkg{p} package, with a description of a usual length"),
            "InstallState": "Installed",
        })));
    }
    for s in 0..SERVICES {
        entries.push(row(json!({
            "Collector": "systemd", "ItemKey": format!("svc{s}.service"), "ConfigDataType": "Daemons",
            "Computer": "x", "TimeGenerated": TIME, "SvcName": format!("svc{s}.service"),
            "SvcDisplayName": format!("Service number {s}"), "SvcState": "Running", "SvcStartupType": "enabled",
            "SvcPath": format!("/usr/sbin/svc{s} --daemon"),
        })));
    }
    for f in 0..FILES {
        entries.push(row(json!({
            "Collector": "etc", "ItemKey": format!("/etc/app{}/file{f}.conf", f % 20), "ConfigDataType": "Files",
            "Computer": "x", "TimeGenerated": TIME, "FileSystemPath": format!("/etc/app{}/file{f}.conf", f % 20),
            "FileType": "File", "Size": 1024 + f, "DateModified": TIME, "DateCreated": TIME,
            "FileContentChecksum": format!("{:032x}", (i * 1_000_003 + f) as u128 * 2_654_435_761),
            "Acls": "0:0", "Attributes": "0644 -rw-r--r--", "ItemName": "/etc/*",
        })));
    }
    entries
        .into_iter()
        .enumerate()
        .map(|(n, row)| InventoryEntry::Write {
            revision: n as i64 + 1,
            row,
        })
        .collect()
}

#[derive(Default)]
pub struct Latencies(Mutex<Vec<Duration>>);

impl Latencies {
    pub fn add(&self, latency: Duration) {
        self.0.lock().unwrap().push(latency);
    }

    pub fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    /// The `q` quantile in milliseconds (0 when there is none).
    pub fn quantile_ms(&self, q: f64) -> f64 {
        let mut all = self.0.lock().unwrap().clone();
        if all.is_empty() {
            return 0.0;
        }
        all.sort();
        all[((all.len() - 1) as f64 * q) as usize].as_secs_f64() * 1000.0
    }

    pub fn print(&self, what: &str) {
        if self.count() == 0 {
            println!("  {what}: none");
            return;
        }
        println!(
            "  {what}: {} requests, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            self.count(),
            self.quantile_ms(0.5),
            self.quantile_ms(0.99),
            self.quantile_ms(1.0)
        );
    }
}

/// User + system CPU seconds of a process.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<f64>().ok())
        .sum();
    ticks / 100.0
}

pub fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}
