//! The web console's page times at fleet size: a real `driftwatch-server`
//! and a throwaway PostgreSQL on this machine, filled by simulated agents
//! through the real API (their baselines, then their changes spread over
//! the last 30 days, and their collectors' reports), then every page asked
//! for with varied parameters, one request at a time, as a signed-in user.
//!
//! ```sh
//! cargo bench -p driftwatch-server --bench console          # 500 machines, 500,000 changes
//! CONSOLE_AGENTS=10000 CONSOLE_CHANGES=10000000 cargo bench -p driftwatch-server --bench console
//! ```
//!
//! Prints, per page, p50 / p99 / max over `CONSOLE_REQUESTS` requests (50).

mod support;

use std::time::{Duration, Instant, SystemTime};

use driftwatch_protocol::{Columns, Position, ShipBatch};
use serde_json::json;
use support::*;

/// Changes per batch, as an agent ships a busy run's.
const CHANGES_PER_BATCH: usize = 1_000;
/// How far back the changes go.
const SPREAD: Duration = Duration::from_secs(30 * 86_400);
/// A page's goal.
const GOAL_MS: f64 = 300.0;

fn main() {
    let agents = env_or("CONSOLE_AGENTS", 500);
    let changes = env_or("CONSOLE_CHANGES", 500_000);
    let requests = env_or("CONSOLE_REQUESTS", 50);
    let per_agent = changes.div_ceil(agents);

    let fleet = Fleet::start();
    let credentials = fleet.enroll(agents);
    fleet.ship_baselines(&credentials, &Latencies::default());

    // Changes, spread over the last 30 days, encoded before the clock starts.
    let now = SystemTime::now();
    let started = Instant::now();
    let bodies: Vec<Vec<(Position, Vec<u8>)>> = parallel(agents, |agent| {
        let mut from = Position {
            change_id: 0,
            revision: ITEMS as i64,
        };
        let mut bodies = Vec::new();
        let mut k = 0;
        while k < per_agent {
            let count = CHANGES_PER_BATCH.min(per_agent - k);
            let rows = (k..k + count)
                .map(|n| {
                    change(
                        agent,
                        n,
                        from.change_id + (n - k) as i64 + 1,
                        at(now, n, per_agent, agent),
                    )
                })
                .collect();
            let to = Position {
                change_id: from.change_id + count as i64,
                revision: from.revision,
            };
            let batch = ShipBatch {
                from,
                to,
                changes: rows,
                inventory: Vec::new(),
                restart_inventory: false,
            };
            bodies.push((to, encode(&batch)));
            from = to;
            k += count;
        }
        bodies
    });
    println!(
        "encoded {} changes in {:.1} s",
        agents * per_agent,
        started.elapsed().as_secs_f64()
    );
    let latencies = Latencies::default();
    let started = Instant::now();
    parallel(agents, |i| {
        for (to, body) in &bodies[i] {
            let acknowledged = post(&fleet.http, &fleet.url, &credentials[i], body, &latencies);
            assert_eq!(acknowledged, *to);
        }
    });
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "changes: {} rows from {agents} agents in {elapsed:.1} s = {:.0} rows/s",
        agents * per_agent,
        (agents * per_agent) as f64 / elapsed
    );
    drop(bodies);

    // Each agent's collectors, as it reports them; 1 % of machines have one failing.
    parallel(agents, |i| {
        let failing = i % 100 == 7;
        let report = json!({"collectors": [
            {"collector": "dpkg", "plugin": "packages-dpkg", "last_run": "2026-12-02T10:00:00Z",
             "outcome": if failing { "Failed" } else { "Succeeded" },
             "error": if failing { Some("the status file is damaged") } else { None },
             "duration_ms": 41, "items": PACKAGES},
            {"collector": "systemd", "plugin": "services-systemd", "last_run": "2026-12-02T10:00:00Z",
             "outcome": "Succeeded", "duration_ms": 12, "items": SERVICES},
            {"collector": "etc", "plugin": "files-posix", "last_run": "2026-12-02T10:00:00Z",
             "outcome": "Succeeded", "duration_ms": 30, "items": FILES},
        ],
        "heartbeat": {"os_type": "Linux", "os_name": "Debian GNU/Linux", "os_major_version": "12",
                      "os_minor_version": "", "version": "0.1.0"}});
        fleet
            .http
            .post(&format!("{}/v1/collectors", fleet.url))
            .header("Authorization", &format!("Bearer {}", credentials[i]))
            .send_json(&report)
            .expect("a collectors' report");
    });
    // The heartbeats of the 3 days before that report, one per 15 minutes
    // and machine (agents report after each pass, at most once a minute),
    // written straight to the table: the API would take as long again as
    // the changes for rows that are all alike.
    fleet.pg.psql(
        "fleet",
        "INSERT INTO \"Heartbeat\" (machine_id, \"Computer\", \"TimeGenerated\", \"Category\", \"OSType\", \
         \"OSName\", \"OSMajorVersion\", \"OSMinorVersion\", \"Version\", \"ComputerIP\", \"ComputerEnvironment\") \
         SELECT m.machine_id, m.name, now() - i * interval '15 minutes', 'Direct Agent', 'Linux', 'Debian GNU/Linux', \
         '12', '', '0.1.0', '10.0.' || (m.machine_id / 250) || '.' || (m.machine_id % 250), 'Non-Azure' \
         FROM machine m, generate_series(1, 288) AS i",
    );
    fleet.pg.psql("fleet", "VACUUM ANALYZE");
    println!(
        "store: {} machines, {} change rows, {} inventory rows, {} heartbeat rows, {} MiB",
        fleet.pg.psql("fleet", "SELECT count(*) FROM machine"),
        fleet.pg.psql("fleet", "SELECT count(*) FROM \"ConfigurationChange\""),
        fleet.pg.psql("fleet", "SELECT count(*) FROM \"ConfigurationData\""),
        fleet.pg.psql("fleet", "SELECT count(*) FROM \"Heartbeat\""),
        fleet.database_size() >> 20
    );

    // The pages, as a signed-in viewer.
    admin_with_input(
        &fleet.database,
        &["user", "add", "bench", "--role", "viewer"],
        Some("a long bench password"),
    );
    let browser = Browser::log_in(&fleet.url, "bench", "a long bench password");
    let machine = |n: usize| format!("load-{:06}", (n * 7_919) % agents);
    let package = |n: usize| (n * 104_729) % PACKAGES;
    let id = |n: usize| (n * 7_919) % agents + 1;
    let pages: Vec<(&str, PathOf)> = vec![
        ("overview (24 h)", Box::new(|_| "/".into())),
        ("overview (1 h)", Box::new(|_| "/?range=1h".into())),
        ("overview (30 d)", Box::new(|_| "/?range=30d".into())),
        ("machines", Box::new(|_| "/machines".into())),
        (
            "machines, searched",
            Box::new(move |n| format!("/machines?q={}", &machine(n)[5..10])),
        ),
        (
            "machine (7 d timeline, collectors, software tab)",
            Box::new(move |n| format!("/machines/{}", id(n))),
        ),
        (
            "machine, files tab searched",
            Box::new(move |n| format!("/machines/{}?tab=Files&q=app{}", id(n), n % 20)),
        ),
        ("changes", Box::new(|_| "/changes".into())),
        (
            "changes of a machine and type",
            Box::new(move |n| format!("/changes?machine={}&type=Files", machine(n))),
        ),
        (
            "changes of a type and category",
            Box::new(|_| "/changes?type=Daemons&category=Removed".into()),
        ),
        (
            "changes, text",
            Box::new(move |n| format!("/changes?text=pkg{}", package(n))),
        ),
        (
            "changes, text over a day",
            Box::new(move |n| format!("/changes?text=file{}&since={}", n % FILES, day_ago(now))),
        ),
        (
            "change",
            Box::new(move |n| format!("/changes/{}/{}", id(n), 1 + (n * 31) % per_agent)),
        ),
        ("software", Box::new(|_| "/software".into())),
        (
            "software, searched",
            Box::new(move |n| format!("/software?q=pkg{}", package(n) / 10)),
        ),
        (
            "software versions",
            Box::new(move |n| format!("/software/versions?name=pkg{}", package(n))),
        ),
        (
            "software, machines of a version",
            Box::new(move |n| {
                let p = package(n);
                format!("/software/versions?name=pkg{p}&version={}.{}-{}", p % 7, p % 13, n % 3)
            }),
        ),
        (
            "query (last hour by type)",
            Box::new(|_| {
                "/query?q=ConfigurationChange%20%7C%20where%20TimeGenerated%20%3E%20ago(1h)%20%7C%20summarize%20count()%20by%20ConfigChangeType"
                    .into()
            }),
        ),
        (
            "query: changes of the last hour join Heartbeat",
            kql(
                "ConfigurationChange | where TimeGenerated > ago(1h) | summarize Changes = count() by Computer \
                 | join kind=inner (Heartbeat | where TimeGenerated > ago(1h) | summarize arg_max(TimeGenerated, *) by Computer) \
                 on Computer | project Computer, OSName, ComputerIP, Changes",
            ),
        ),
        (
            "query: machines silent for an hour (Heartbeat)",
            kql("Heartbeat | summarize LastHeartbeat = max(TimeGenerated) by Computer \
                 | where LastHeartbeat < ago(1h) | join kind=leftouter (ConfigurationChange \
                 | where TimeGenerated > ago(1d) | summarize count() by Computer) on Computer"),
        ),
        (
            "query: summarize by bin(TimeGenerated, 1h), 24 h",
            kql(
                "ConfigurationChange | where TimeGenerated > ago(1d) | summarize count() by bin(TimeGenerated, 1h), ConfigChangeType",
            ),
        ),
        (
            "query: summarize by bin(TimeGenerated, 1h), 7 d",
            kql("ConfigurationChange | where TimeGenerated > ago(7d) | summarize count() by bin(TimeGenerated, 1h)"),
        ),
        ("alerts", Box::new(|_| "/alerts".into())),
    ];
    println!("pages, {requests} requests each (goal: p99 < {GOAL_MS:.0} ms):");
    let mut slow = Vec::new();
    for (name, path) in &pages {
        let latencies = Latencies::default();
        for n in 0..requests {
            let body = browser.page(&path(n), &latencies);
            assert!(!body.contains("id=\"query-error\""), "{name}: the query failed: {body}");
        }
        report(name, &latencies, &mut slow);
    }
    // Deep in the changes: following "Older" links, page after page.
    let latencies = Latencies::default();
    let mut path = "/changes?type=Files".to_string();
    for _ in 0..requests {
        let body = browser.page(&path, &latencies);
        let Some(older) = older_link(&body) else { break };
        path = older;
    }
    report(
        &format!("changes of a type, {} pages deep", latencies.count()),
        &latencies,
        &mut slow,
    );
    if slow.is_empty() {
        println!("every page answered within the goal");
    } else {
        println!("over the goal: {}", slow.join(", "));
    }
}

/// The path of a page's `n`th request.
type PathOf<'a> = Box<dyn Fn(usize) -> String + 'a>;

/// The query page asked `text`.
fn kql(text: &'static str) -> PathOf<'static> {
    let encoded: String = text
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    Box::new(move |_| format!("/query?q={encoded}"))
}

fn report(name: &str, latencies: &Latencies, slow: &mut Vec<String>) {
    let p99 = latencies.quantile_ms(0.99);
    println!(
        "  {name:<50} p50 {:>7.1} ms  p99 {:>7.1} ms  max {:>7.1} ms{}",
        latencies.quantile_ms(0.5),
        p99,
        latencies.quantile_ms(1.0),
        if p99 < GOAL_MS { "" } else { "  (over)" }
    );
    if p99 >= GOAL_MS {
        slow.push(name.to_string());
    }
}

/// When change `n` of an agent's `total` happened: evenly over the last 30
/// days, oldest first, each agent a little apart.
fn at(now: SystemTime, n: usize, total: usize, agent: usize) -> String {
    let step = SPREAD.as_secs_f64() / total as f64;
    let back = SPREAD.as_secs_f64() - step * (n as f64 + 0.5) - (agent % 97) as f64;
    let time = now - Duration::from_secs_f64(back.max(1.0));
    jiff::Timestamp::try_from(time).unwrap().to_string()
}

fn day_ago(now: SystemTime) -> String {
    let time = now - Duration::from_secs(86_400);
    jiff::Timestamp::try_from(time)
        .unwrap()
        .strftime("%Y-%m-%dT%H:%M")
        .to_string()
}

/// Change `n` of an agent: types in the proportions a fleet sees (software
/// and files most), on the items of its baseline.
fn change(agent: usize, n: usize, change_id: i64, time: String) -> Columns {
    let category = ["Modified", "Modified", "Added", "Removed"][n % 4];
    let mut row = match n % 20 {
        0..=7 => {
            let p = (n * 7 + agent) % PACKAGES;
            json!({"Collector": "dpkg", "ItemKey": format!("pkg{p}\tamd64"), "ConfigChangeType": "Software",
                   "FieldsChanged": "CurrentVersion", "SoftwareName": format!("pkg{p}"),
                   "Current": format!("9.{n}"), "Previous": format!("8.{n}"), "Publisher": "Debian"})
        }
        8..=13 => {
            let f = (n * 13 + agent) % FILES;
            let path = format!("/etc/app{}/file{f}.conf", f % 20);
            json!({"Collector": "etc", "ItemKey": path, "ConfigChangeType": "Files",
                   "FieldsChanged": "FileContentChecksum, Size", "FileSystemPath": path, "Size": 1024 + n,
                   "PreviousSize": 1000 + n, "FileContentChecksum": format!("{n:032x}"),
                   "PreviousFileContentChecksum": format!("{agent:032x}")})
        }
        14..=17 => {
            let s = (n + agent) % SERVICES;
            json!({"Collector": "systemd", "ItemKey": format!("svc{s}.service"), "ConfigChangeType": "Daemons",
                   "FieldsChanged": "SvcState", "SvcName": format!("svc{s}.service"), "SvcState": "Stopped",
                   "SvcPreviousState": "Running"})
        }
        18 => json!({"Collector": "windows-services", "ItemKey": format!("Svc{}", n % 50),
                     "ConfigChangeType": "WindowsServices", "FieldsChanged": "SvcStartupType",
                     "SvcName": format!("Svc{}", n % 50), "SvcStartupType": "Disabled",
                     "SvcPreviousStartupType": "Auto"}),
        _ => {
            let key = format!("HKEY_LOCAL_MACHINE\\SOFTWARE\\Vendor{}", n % 30);
            json!({"Collector": "registry", "ItemKey": format!("{key}\\Setting"), "ConfigChangeType": "Registry",
                   "FieldsChanged": "ValueData", "RegistryKey": key, "ValueName": "Setting", "ValueType": "REG_SZ",
                   "ValueData": format!("{n}"), "PreviousValueData": format!("{}", n - 1)})
        }
    };
    let object = row.as_object_mut().unwrap();
    object.insert("ChangeId".into(), json!(change_id));
    object.insert("TimeGenerated".into(), json!(time));
    object.insert("Computer".into(), json!("x"));
    object.insert("ChangeCategory".into(), json!(category));
    object.clone()
}

/// A signed-in session, as a browser holds it.
struct Browser {
    http: ureq::Agent,
    url: String,
    cookie: String,
}

impl Browser {
    fn log_in(url: &str, name: &str, password: &str) -> Browser {
        let http: ureq::Agent = ureq::Agent::config_builder()
            .max_redirects(0)
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let form = http.get(&format!("{url}/login")).call().expect("the login form");
        let login_cookie = cookie(&form, "driftwatch_login");
        let body = form.into_body().read_to_string().expect("the login page");
        let marker = "name=\"csrf\" value=\"";
        let at = body.find(marker).expect("a CSRF field") + marker.len();
        let csrf = &body[at..at + body[at..].find('"').expect("its end")];
        let answer = http
            .post(&format!("{url}/login"))
            .header("Cookie", &login_cookie)
            .send_form([("name", name), ("password", password), ("csrf", csrf)])
            .expect("log in");
        assert_eq!(answer.status().as_u16(), 303, "logged in");
        Browser {
            cookie: cookie(&answer, "driftwatch_session"),
            http,
            url: url.to_string(),
        }
    }

    /// A page's HTML; its time goes into `latencies`.
    fn page(&self, path: &str, latencies: &Latencies) -> String {
        let begun = Instant::now();
        let answer = self
            .http
            .get(&format!("{}{path}", self.url))
            .header("Cookie", &self.cookie)
            .call()
            .expect("a page");
        let status = answer.status().as_u16();
        let body = answer.into_body().read_to_string().expect("its HTML");
        latencies.add(begun.elapsed());
        assert_eq!(status, 200, "{path}: {body}");
        body
    }
}

/// `name=value` of the answer's `Set-Cookie` for `name`.
fn cookie(answer: &ureq::http::Response<ureq::Body>, name: &str) -> String {
    answer
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .filter_map(|value| value.split(';').next())
        .find(|pair| pair.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie"))
        .to_string()
}

fn older_link(body: &str) -> Option<String> {
    let marker = "href=\"";
    let end = body.find("id=\"older\"")?;
    let start = body[..end].rfind(marker)? + marker.len();
    Some(
        body[start..]
            .split('"')
            .next()?
            .replace("&#38;", "&")
            .replace("&amp;", "&"),
    )
}
