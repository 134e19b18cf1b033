//! Change-detection latency of the agent: `driftwatch run` watches a tree of
//! tracked files (100,000 by default) while this bench modifies, creates and
//! deletes files at a steady rate; each change is timed from the write to
//! the moment its `ConfigurationChange` row is committed (seen by polling the
//! store every 2 ms). Also the agent's CPU and RSS at idle and under load.
//!
//! `cargo bench -p driftwatch --bench latency` (Linux). Settings through the
//! environment: LATENCY_FILES (100000), LATENCY_RATE (changes per second,
//! 50), LATENCY_SECONDS (20), LATENCY_IDLE_SECONDS (10).

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

const PER_DIR: u64 = 100;

fn main() {
    if !cfg!(target_os = "linux") {
        println!("latency: Linux only (inotify, /proc)");
        return;
    }
    let files = setting("LATENCY_FILES", 100_000);
    let rate = setting("LATENCY_RATE", 50).max(1);
    let seconds = setting("LATENCY_SECONDS", 20);
    let idle_seconds = setting("LATENCY_IDLE_SECONDS", 10);
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("root");
    let data = root.join("data");
    let made = Instant::now();
    for i in 0..files {
        let sub = data.join(format!("d{:04}", i / PER_DIR));
        if i % PER_DIR == 0 {
            std::fs::create_dir_all(&sub).expect("mkdir");
        }
        std::fs::write(sub.join(format!("f{i:06}.txt")), format!("file {i}\n").repeat(8)).expect("write");
    }
    println!(
        "tree: {files} files in {} directories, made in {:.1} s",
        files.div_ceil(PER_DIR),
        made.elapsed().as_secs_f64()
    );
    let manifest = dir.path().join("manifest.toml");
    std::fs::write(
        &manifest,
        "[[collector]]\nname = \"data\"\nkind = \"files\"\nplugin = \"files-posix\"\ninterval = \"24h\"\n\
         [[collector.paths]]\npath = \"/data\"\nrecurse = true\n",
    )
    .expect("manifest");
    let state = dir.path().join("state");
    let binary = env!("CARGO_BIN_EXE_driftwatch");
    let args = |command: &str| -> Vec<String> {
        vec![
            "--root".into(),
            root.display().to_string(),
            "--manifest".into(),
            manifest.display().to_string(),
            "--state".into(),
            state.display().to_string(),
            command.into(),
        ]
    };
    let baseline = Instant::now();
    let status = Command::new(binary)
        .args(args("scan"))
        .stdout(Stdio::null())
        .status()
        .expect("scan");
    assert!(status.success(), "baseline scan failed");
    println!("baseline scan: {:.2} s", baseline.elapsed().as_secs_f64());

    let mut agent = Command::new(binary)
        .args(args("run"))
        .env("RUST_LOG", "info,driftwatch::agent=debug")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the agent");
    let watching = Arc::new(AtomicBool::new(false));
    let log = agent.stderr.take().expect("agent stderr");
    {
        let watching = watching.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(log).lines().map_while(Result::ok) {
                if line.contains("watching") {
                    watching.store(true, Ordering::Relaxed);
                }
            }
        });
    }
    let started = Instant::now();
    while !watching.load(Ordering::Relaxed) {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the agent did not start watching"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    println!("agent watching {:.2} s after start", started.elapsed().as_secs_f64());
    // Idle means after the agent's first scheduled run (at most 30 s in):
    // the second run the store records, after the baseline scan's.
    let db = state.join("driftwatch.db");
    while runs_recorded(&db) < 2 && started.elapsed() < Duration::from_secs(45) {
        std::thread::sleep(Duration::from_millis(100));
    }
    println!(
        "first scheduled run done {:.1} s after start",
        started.elapsed().as_secs_f64()
    );
    std::thread::sleep(Duration::from_secs(1));

    let idle = Usage::sample(&agent, Duration::from_secs(idle_seconds));
    println!(
        "idle ({idle_seconds} s): CPU {:.2}% of one core, RSS {:.1} MiB",
        idle.cpu_percent, idle.rss_mib
    );

    // The poller: when each change row first becomes visible.
    let seen: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let poller = {
        let (seen, stop, db) = (seen.clone(), stop.clone(), state.join("driftwatch.db"));
        std::thread::spawn(move || poll_changes(&db, &seen, &stop))
    };
    let load_start = Instant::now();
    let usage_thread = {
        let pid = agent.id();
        let span = Duration::from_secs(seconds);
        std::thread::spawn(move || Usage::sample_pid(pid, span))
    };
    let written = write_changes(&data, files, rate, seconds);
    let wrote_for = load_start.elapsed();
    let load = usage_thread.join().expect("usage");
    // Let the last changes land.
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && seen.lock().unwrap().len() < written.len() {
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Relaxed);
    poller.join().expect("poller");
    let _ = Command::new("kill").args(["-TERM", &agent.id().to_string()]).status();
    let _ = agent.wait();

    let seen = seen.lock().unwrap();
    let mut latencies: Vec<f64> = Vec::new();
    let mut missed = Vec::new();
    for (key, at) in &written {
        match seen.get(key) {
            Some(found) => latencies.push(found.saturating_duration_since(*at).as_secs_f64() * 1000.0),
            None => missed.push(key.as_str()),
        }
    }
    let missed_some: Vec<&str> = missed.iter().take(5).copied().collect();
    let missed = missed.len();
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    println!(
        "load: {} changes (modify/create/delete) at {rate}/s over {:.1} s",
        written.len(),
        wrote_for.as_secs_f64()
    );
    println!(
        "latency write → change row committed: p50 {:.0} ms, p90 {:.0} ms, p99 {:.0} ms, max {:.0} ms; missed {missed}",
        pct(0.5),
        pct(0.9),
        pct(0.99),
        latencies.last().copied().unwrap_or(f64::NAN)
    );
    if missed > 0 {
        println!("missed, for example: {missed_some:?}");
    }
    println!(
        "under load: CPU {:.1}% of one core, RSS {:.1} MiB",
        load.cpu_percent, load.rss_mib
    );
}

/// Writes `rate` changes a second for `seconds`, cycling modify, create,
/// delete (of files that were there from the start); returns each change's key (`category path`) and write time.
fn write_changes(data: &Path, files: u64, rate: u64, seconds: u64) -> Vec<(String, Instant)> {
    let mut written = Vec::new();
    let total = rate * seconds;
    let start = Instant::now();
    let mut rng = fastrand::Rng::with_seed(7);
    let mut deleted = std::collections::HashSet::new();
    for n in 0..total {
        let due = start + Duration::from_secs_f64(n as f64 / rate as f64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        // Modifications take even-numbered files, deletions odd ones.
        let i = rng.u64(..files / 2) * 2;
        let (category, path) = match n % 3 {
            0 => {
                let path = data.join(format!("d{:04}", i / PER_DIR)).join(format!("f{i:06}.txt"));
                std::fs::write(&path, format!("changed {n}\n")).expect("modify");
                ("Modified", path)
            }
            1 => {
                let path = data.join(format!("d{:04}", i / PER_DIR)).join(format!("new{n:06}.txt"));
                std::fs::write(&path, format!("new {n}\n")).expect("create");
                ("Added", path)
            }
            _ => {
                let odd = i + 1;
                if !deleted.insert(odd) {
                    continue;
                }
                let path = data
                    .join(format!("d{:04}", odd / PER_DIR))
                    .join(format!("f{odd:06}.txt"));
                std::fs::remove_file(&path).expect("delete");
                ("Removed", path)
            }
        };
        let guest = format!(
            "/data{}",
            path.to_string_lossy().split("/data").nth(1).unwrap_or_default()
        );
        // A path modified twice counts once: the first write is what is timed.
        let key = format!("{category} {guest}");
        if !written.iter().any(|(k, _)| *k == key) {
            written.push((key, Instant::now()));
        }
    }
    written
}

/// How many collector runs the store holds.
fn runs_recorded(db: &Path) -> i64 {
    rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .and_then(|conn| conn.query_row("SELECT COUNT(*) FROM CollectorRun", [], |row| row.get(0)))
        .unwrap_or(0)
}

fn poll_changes(db: &Path, seen: &Mutex<HashMap<String, Instant>>, stop: &AtomicBool) {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).expect("open store");
    let mut last = 0i64;
    while !stop.load(Ordering::Relaxed) {
        let mut stmt = conn
            .prepare_cached(
                "SELECT ChangeId, ChangeCategory, FileSystemPath FROM ConfigurationChange WHERE ChangeId > ?1 ORDER BY ChangeId",
            )
            .expect("query");
        let rows: Vec<(i64, String, String)> = stmt
            .query_map([last], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .and_then(|rows| rows.collect())
            .unwrap_or_default();
        let now = Instant::now();
        let mut seen = seen.lock().unwrap();
        for (id, category, path) in rows {
            last = last.max(id);
            seen.entry(format!("{category} {path}")).or_insert(now);
        }
        drop(seen);
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// CPU (share of one core) and resident memory of a process over a span.
struct Usage {
    cpu_percent: f64,
    rss_mib: f64,
}

impl Usage {
    fn sample(child: &Child, span: Duration) -> Usage {
        Usage::sample_pid(child.id(), span)
    }

    fn sample_pid(pid: u32, span: Duration) -> Usage {
        let before = cpu_ticks(pid);
        let start = Instant::now();
        let mut rss_max = 0.0f64;
        while start.elapsed() < span {
            rss_max = rss_max.max(rss_mib(pid));
            std::thread::sleep(Duration::from_millis(200));
        }
        let ticks = cpu_ticks(pid).saturating_sub(before);
        // SAFETY: sysconf has no preconditions.
        let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        Usage {
            cpu_percent: ticks as f64 / per_second / start.elapsed().as_secs_f64() * 100.0,
            rss_mib: rss_max,
        }
    }
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses.
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    field(11) + field(12)
}

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}
