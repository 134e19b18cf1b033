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

mod support;

use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use driftwatch_protocol::{InventoryEntry, Position, ShipBatch};
use serde_json::json;
use support::*;

fn main() {
    let agents = env_or("LOAD_AGENTS", 500);
    let steady_agents = env_or("LOAD_STEADY_AGENTS", 100_000);
    let seconds = env_or("LOAD_SECONDS", 20) as u64;

    let fleet = Fleet::start();
    // The group's manifest, which the steady state's agents poll for.
    let manifest = std::env::temp_dir().join(format!("driftwatch-bench-{}.toml", std::process::id()));
    std::fs::write(
        &manifest,
        "[[collector]]\nname = \"dpkg\"\nkind = \"packages\"\nplugin = \"packages-dpkg\"\n",
    )
    .expect("write the manifest");
    fleet.admin(&["manifests", "set", "bench", &manifest.display().to_string()]);
    let _ = std::fs::remove_file(&manifest);
    let (http, url) = (&fleet.http, &fleet.url);
    let credentials = fleet.enroll(agents);
    let size_before = fleet.database_size();
    let latencies = Latencies::default();
    fleet.ship_baselines(&credentials, &latencies);
    latencies.print("POST /v1/ship (baseline batches)");
    let size_baselines = fleet.database_size();

    // Steady state.
    let per_second_polls = steady_agents as f64 / 60.0;
    // 1 % of ~2,200 items a day per agent, shipped in batches as they come
    // (an agent ships once per run: say one batch per changed run).
    let changes_per_day = steady_agents as f64 * ITEMS as f64 * 0.01;
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
                    revision: ITEMS as i64,
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
    let cpu_before = cpu_seconds(fleet.server.0.id());
    std::thread::scope(|scope| {
        for worker in 0..CONNECTIONS {
            let (http, url, credentials, positions, polls, batches, sent, etag) =
                (http, url, &credentials, &positions, &polls, &batches, &sent, &etag);
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
    let cpu = cpu_seconds(fleet.server.0.id()) - cpu_before;
    println!(
        "steady state: {} requests in {wall:.1} s = {:.0}/s (asked for {:.0}/s); server CPU {:.0} % of one core",
        sent.into_inner(),
        (polls.count() + batches.count()) as f64 / wall,
        per_second_polls,
        cpu / wall * 100.0
    );
    polls.print("GET /v1/manifest (conditional polls, 304)");
    batches.print("POST /v1/ship (change batches)");
    let size_after = fleet.database_size();
    let changes = batches.count() as f64 * 3.0;
    println!(
        "server peak RSS {} MiB; PostgreSQL: {:.0} KiB per machine's baseline, {:.0} KiB per machine-month of churn \
         (~{:.0} change rows a machine-month)",
        peak_rss_kib(fleet.server.0.id()) / 1024,
        (size_baselines - size_before) as f64 / 1024.0 / agents as f64,
        if changes > 0.0 {
            (size_after - size_baselines) as f64 / changes * ITEMS as f64 * 0.01 * 30.0 / 1024.0
        } else {
            0.0
        },
        ITEMS as f64 * 0.01 * 30.0
    );
    drop(fleet);
    let _ = std::io::stdout().flush();
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
