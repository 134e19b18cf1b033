//! Load on the fleet server: simulated agents speaking the real protocol to
//! a real `driftwatch-server` and a throwaway PostgreSQL on this machine.
//!
//! ```sh
//! cargo bench -p driftwatch-server --bench load                 # 500 agents, 20 s of steady state
//! LOAD_AGENTS=10000 LOAD_STEADY_AGENTS=100000 LOAD_SECONDS=60 cargo bench -p driftwatch-server --bench load
//! ```
//!
//! 1. Baselines: every agent enrolls and ships its first inventory (~1,500
//!    packages, ~200 services, ~500 files), in batches as the agent sends
//!    them, from 32 connections at once. The batches are encoded before
//!    the clock starts (agents do that on their own machines). Prints
//!    rows/s.
//! 2. Steady state of `LOAD_STEADY_AGENTS` agents: each asks for its
//!    group's manifest once a minute (a conditional GET answered 304, as
//!    agents poll), and 1 % of its items change a day, shipped as they
//!    come. The enrolled agents stand in for the many, round robin. Prints
//!    request latency by endpoint.
//!
//! Then the server's CPU time and peak memory, and PostgreSQL's bytes per
//! machine and per machine-month of churn.

#[path = "../../tests/fleet/postgres.rs"]
#[allow(dead_code)]
mod postgres;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use driftwatch_protocol::{Columns, EnrollRequest, Enrolled, InventoryEntry, Position, ShipBatch};
use serde_json::json;

const PACKAGES: usize = 1_500;
const SERVICES: usize = 200;
const FILES: usize = 500;
const BATCH: usize = 2_000;
const CONNECTIONS: usize = 32;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let agents = env_or("LOAD_AGENTS", 500);
    let steady_agents = env_or("LOAD_STEADY_AGENTS", 100_000);
    let seconds = env_or("LOAD_SECONDS", 20) as u64;

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
    let admin = |args: &[&str]| -> String {
        let made = Command::new(env!("CARGO_BIN_EXE_driftwatch-server"))
            .args(["--database", &database])
            .args(args)
            .output()
            .expect("driftwatch-server");
        assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
        String::from_utf8_lossy(&made.stdout).trim().to_string()
    };
    let secret = admin(&["secret", "new", "--group", "bench", "--uses", &agents.to_string()]);
    // The group's manifest, which the steady state's agents poll for.
    let manifest = std::env::temp_dir().join(format!("driftwatch-bench-{}.toml", std::process::id()));
    std::fs::write(
        &manifest,
        "[[collector]]\nname = \"dpkg\"\nkind = \"packages\"\nplugin = \"packages-dpkg\"\n",
    )
    .expect("write the manifest");
    admin(&["manifests", "set", "bench", &manifest.display().to_string()]);
    let _ = std::fs::remove_file(&manifest);
    let http: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into();

    // Enrollment.
    let started = Instant::now();
    let credentials: Vec<String> = parallel(agents, |i| {
        let request = EnrollRequest {
            secret: secret.clone(),
            name: format!("load-{i:06}"),
            os: "linux".into(),
            agent_version: "load".into(),
        };
        let enrolled: Enrolled = http
            .post(&format!("{url}/v1/enroll"))
            .send_json(&request)
            .expect("enroll")
            .body_mut()
            .read_json()
            .expect("enrolled");
        enrolled.credential
    });
    println!("enrolled {agents} agents in {:.1} s", started.elapsed().as_secs_f64());
    let size_before = database_size(&pg);

    // Baselines. Agents encode their batches on their own machines: here
    // that is done before the clock starts, so that the generator does not
    // take the server's two cores while it is measured.
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
    let latencies = Latencies::default();
    let rows = AtomicUsize::new(0);
    let started = Instant::now();
    parallel(agents, |i| {
        let mut from = Position::default();
        for (to, body) in &bodies[i] {
            let acknowledged = post(&http, &url, &credentials[i], body, &latencies);
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
    latencies.print("POST /v1/ship (baseline batches)");
    let size_baselines = database_size(&pg);

    // Steady state.
    let per_second_polls = steady_agents as f64 / 60.0;
    // 1 % of ~2,200 items a day per agent, shipped in batches as they come
    // (an agent ships once per run: say one batch per changed run).
    let changes_per_day = steady_agents as f64 * (PACKAGES + SERVICES + FILES) as f64 * 0.01;
    let per_second_batches = changes_per_day / 86_400.0;
    println!(
        "steady state of {steady_agents} agents for {seconds} s: {per_second_polls:.0} manifest polls/s, \
         {per_second_batches:.1} change batches/s"
    );
    let polls = Latencies::default();
    let batches = Latencies::default();
    let positions: Vec<Mutex<(Position, i64)>> = (0..agents)
        .map(|_| {
            Mutex::new((
                Position {
                    change_id: 0,
                    revision: (PACKAGES + SERVICES + FILES) as i64,
                },
                0,
            ))
        })
        .collect();
    // The manifest's version, as agents hold it after their first fetch.
    let etag = http
        .get(&format!("{url}/v1/manifest"))
        .header("Authorization", &format!("Bearer {}", credentials[0]))
        .call()
        .expect("the manifest")
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .expect("an ETag")
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let sent = AtomicUsize::new(0);
    let (poll_gap, batch_gap) = (1.0 / per_second_polls, 1.0 / per_second_batches.max(0.001));
    let start = Instant::now();
    let cpu_before = cpu_seconds(server.0.id());
    std::thread::scope(|scope| {
        for worker in 0..CONNECTIONS {
            let (http, url, credentials, positions, polls, batches, sent, etag) =
                (&http, &url, &credentials, &positions, &polls, &batches, &sent, &etag);
            scope.spawn(move || {
                // Each worker takes every CONNECTIONS-th request of one
                // schedule: polls at `poll_gap`, batches at `batch_gap`.
                let mut k = worker;
                loop {
                    let next_poll = start + Duration::from_secs_f64(k as f64 * poll_gap);
                    if next_poll > deadline {
                        return;
                    }
                    if let Some(wait) = next_poll.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    let agent = k % credentials.len();
                    let batch_due = (k as f64 * poll_gap / batch_gap) as usize
                        != (((k as f64) - 1.0) * poll_gap / batch_gap) as usize;
                    if batch_due && k > 0 {
                        let mut state = positions[agent].lock().unwrap();
                        let (position, _) = *state;
                        let batch = change_batch(agent, position, state.1);
                        let acknowledged = ship(http, url, &credentials[agent], &batch, batches);
                        *state = (acknowledged, state.1 + 1);
                    } else {
                        let begun = Instant::now();
                        let answer = http
                            .get(&format!("{url}/v1/manifest"))
                            .config()
                            .http_status_as_error(false)
                            .build()
                            .header("Authorization", &format!("Bearer {}", credentials[agent]))
                            .header("If-None-Match", etag)
                            .call()
                            .expect("manifest poll");
                        assert_eq!(answer.status().as_u16(), 304, "an unchanged manifest");
                        polls.add(begun.elapsed());
                    }
                    sent.fetch_add(1, Ordering::Relaxed);
                    k += CONNECTIONS;
                }
            });
        }
    });
    let wall = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds(server.0.id()) - cpu_before;
    println!(
        "steady state: {} requests in {wall:.1} s = {:.0}/s (asked for {:.0}/s); server CPU {:.0} % of one core",
        sent.into_inner(),
        (polls.count() + batches.count()) as f64 / wall,
        per_second_polls,
        cpu / wall * 100.0
    );
    polls.print("GET /v1/manifest (conditional polls, 304)");
    batches.print("POST /v1/ship (change batches)");
    let size_after = database_size(&pg);
    let changes = batches.count() as f64 * 3.0;
    println!(
        "server peak RSS {} MiB; PostgreSQL: {:.0} KiB per machine's baseline, {:.0} KiB per machine-month of churn \
         (~{:.0} change rows a machine-month)",
        peak_rss_kib(server.0.id()) / 1024,
        (size_baselines - size_before) as f64 / 1024.0 / agents as f64,
        if changes > 0.0 {
            (size_after - size_baselines) as f64 / changes * (PACKAGES + SERVICES + FILES) as f64 * 0.01 * 30.0 / 1024.0
        } else {
            0.0
        },
        (PACKAGES + SERVICES + FILES) as f64 * 0.01 * 30.0
    );
    drop(server);
    let _ = std::io::stdout().flush();
}

/// The server, killed however the benchmark ends (a panic included).
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `work(i)` for i in 0..n on `CONNECTIONS` threads; results in order.
fn parallel<T: Send>(n: usize, work: impl Fn(usize) -> T + Sync) -> Vec<T> {
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

fn ship(http: &ureq::Agent, url: &str, credential: &str, batch: &ShipBatch, latencies: &Latencies) -> Position {
    post(http, url, credential, &encode(batch), latencies)
}

/// A batch as the agent sends it: the JSON whole, then compressed in one
/// write (serde_json's many small writes straight into the encoder would
/// make flate2 clear its output buffer on each one).
fn encode(batch: &ShipBatch) -> Vec<u8> {
    let json = serde_json::to_vec(batch).unwrap();
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gzip.write_all(&json).unwrap();
    gzip.finish().unwrap()
}

fn post(http: &ureq::Agent, url: &str, credential: &str, body: &[u8], latencies: &Latencies) -> Position {
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

const TIME: &str = "2026-12-02T10:00:00.000000Z";

fn row(values: serde_json::Value) -> Columns {
    values.as_object().unwrap().clone()
}

/// Agent `i`'s first inventory: packages, services and files, as its
/// store numbers them.
fn baseline(i: usize) -> Vec<InventoryEntry> {
    let mut entries = Vec::with_capacity(PACKAGES + SERVICES + FILES);
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

/// Three changes of one run: a package upgraded, a service stopped, a file
/// modified, with their inventory writes.
fn change_batch(agent: usize, from: Position, run: i64) -> ShipBatch {
    let p = (run as usize * 7 + agent) % PACKAGES;
    let change = |id: i64, values: serde_json::Value| {
        let mut row = row(values);
        row.insert("ChangeId".into(), json!(id));
        row.insert("TimeGenerated".into(), json!(TIME));
        row.insert("Computer".into(), json!("x"));
        row
    };
    let changes = vec![
        change(
            from.change_id + 1,
            json!({"Collector": "dpkg", "ItemKey": format!("pkg{p}\tamd64"),
            "ConfigChangeType": "Software", "ChangeCategory": "Modified", "FieldsChanged": "CurrentVersion",
            "SoftwareName": format!("pkg{p}"), "Current": format!("9.{run}"), "Previous": "1.0"}),
        ),
        change(
            from.change_id + 2,
            json!({"Collector": "systemd", "ItemKey": "svc1.service",
            "ConfigChangeType": "Daemons", "ChangeCategory": "Modified", "FieldsChanged": "SvcState",
            "SvcName": "svc1.service", "SvcState": "Stopped", "SvcPreviousState": "Running"}),
        ),
        change(
            from.change_id + 3,
            json!({"Collector": "etc", "ItemKey": "/etc/app1/file1.conf",
            "ConfigChangeType": "Files", "ChangeCategory": "Modified", "FieldsChanged": "FileContentChecksum",
            "FileSystemPath": "/etc/app1/file1.conf", "FileContentChecksum": format!("{run:032x}")}),
        ),
    ];
    let inventory = vec![InventoryEntry::Write {
        revision: from.revision + 1,
        row: row(
            json!({"Collector": "dpkg", "ItemKey": format!("pkg{p}\tamd64"), "ConfigDataType": "Software",
            "TimeGenerated": TIME, "SoftwareName": format!("pkg{p}"), "CurrentVersion": format!("9.{run}")}),
        ),
    }];
    ShipBatch {
        from,
        to: Position {
            change_id: from.change_id + 3,
            revision: from.revision + 1,
        },
        changes,
        inventory,
        restart_inventory: false,
    }
}

#[derive(Default)]
struct Latencies(Mutex<Vec<Duration>>);

impl Latencies {
    fn add(&self, latency: Duration) {
        self.0.lock().unwrap().push(latency);
    }

    fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    fn print(&self, what: &str) {
        let mut all = self.0.lock().unwrap().clone();
        if all.is_empty() {
            println!("  {what}: none");
            return;
        }
        all.sort();
        let at = |q: f64| all[((all.len() - 1) as f64 * q) as usize].as_secs_f64() * 1000.0;
        println!(
            "  {what}: {} requests, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            all.len(),
            at(0.5),
            at(0.99),
            at(1.0)
        );
    }
}

fn database_size(pg: &postgres::Postgres) -> i64 {
    pg.psql("fleet", "SELECT pg_database_size('fleet')")
        .parse()
        .unwrap_or(0)
}

/// User + system CPU seconds of a process.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<f64>().ok())
        .sum();
    ticks / 100.0
}

fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}
