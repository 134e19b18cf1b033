//! The web console over HTTP: no page without a session; a session made
//! fresh at login, ended at logout; a CSRF token on every form; password
//! guessing throttled; agents' credentials open no page and sessions ship
//! nothing; the overview's figures.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::postgres::Postgres;
use crate::support::*;

pub const PASSWORD: &str = "correct horse battery";

pub fn add_user(database: &str, name: &str, role: &str, password: &str) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_driftwatch-server"))
        .env_remove("DRIFTWATCH_DATABASE")
        .args(["--database", database, "user", "add", name, "--role", role])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run driftwatch-server");
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    child.wait_with_output().unwrap()
}

/// A browser's view of the console: the cookies it holds.
struct Browser {
    address: String,
    cookies: Vec<(String, String)>,
}

impl Browser {
    fn new(address: &str) -> Browser {
        Browser {
            address: address.to_string(),
            cookies: Vec::new(),
        }
    }

    fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    fn set(&mut self, name: &str, value: &str) {
        self.cookies.retain(|(n, _)| n != name);
        if !value.is_empty() {
            self.cookies.push((name.to_string(), value.to_string()));
        }
    }

    fn send(&mut self, method: &str, path: &str, form: &[(&str, &str)]) -> Answer {
        let cookies: Vec<String> = self.cookies.iter().map(|(n, v)| format!("{n}={v}")).collect();
        let cookie_line = cookies.join("; ");
        let body: Vec<String> = form.iter().map(|(k, v)| format!("{k}={}", encode(v))).collect();
        let mut headers = vec![("Content-Type", "application/x-www-form-urlencoded")];
        if !cookie_line.is_empty() {
            headers.push(("Cookie", &cookie_line));
        }
        let answer = request(method, &self.address, path, "", &headers, body.join("&").as_bytes());
        for line in answer.headers.lines() {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            if !name.trim().eq_ignore_ascii_case("set-cookie") {
                continue;
            }
            let first = value.trim().split(';').next().unwrap_or_default();
            if let Some((cookie, value)) = first.split_once('=') {
                self.set(cookie, value);
            }
        }
        answer
    }

    fn get(&mut self, path: &str) -> Answer {
        self.send("GET", path, &[])
    }

    /// Opens the login form and sends it.
    fn log_in(&mut self, name: &str, password: &str) -> Answer {
        let form = self.get("/login");
        assert_eq!(form.status, 200, "{}", form.body);
        let csrf = hidden(&form.body, "csrf");
        self.send(
            "POST",
            "/login",
            &[("name", name), ("password", password), ("csrf", &csrf)],
        )
    }
}

fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            b' ' => "+".to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The value of a hidden form field.
fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let at = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} field in {html}"))
        + marker.len();
    html[at..].split('"').next().unwrap().to_string()
}

fn set_cookie_lines(answer: &Answer) -> Vec<String> {
    answer
        .headers
        .lines()
        .filter(|line| line.to_ascii_lowercase().starts_with("set-cookie:"))
        .map(|line| line.to_string())
        .collect()
}

#[test]
fn only_signed_in_people_see_pages_and_sessions_are_theirs_alone() {
    let postgres = Postgres::start();
    let database = postgres.new_database("fleet");
    let server = Server::start(&database, None);
    let address = server.address().to_string();
    let added = add_user(&database, "ada", "viewer", PASSWORD);
    assert!(added.status.success(), "{}", stderr(&added));
    let short = add_user(&database, "bob", "viewer", "short");
    assert!(
        !short.status.success() && stderr(&short).contains("at least 12"),
        "{}",
        stderr(&short)
    );
    let again = add_user(&database, "ada", "admin", PASSWORD);
    assert!(
        !again.status.success() && stderr(&again).contains("already"),
        "{}",
        stderr(&again)
    );
    let listed = stdout(&server_command(&database, &["user", "list", "--json"]));
    assert!(listed.contains(r#""name":"ada","role":"viewer""#), "{listed}");

    // No page without a session: the login form instead, with the
    // security headers every answer carries.
    let mut browser = Browser::new(&address);
    let answer = browser.get("/");
    assert_eq!(answer.status, 303);
    assert_eq!(answer.header("location"), Some("/login"));
    let csp = answer.header("content-security-policy").expect("a CSP");
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(answer.header("x-content-type-options"), Some("nosniff"));

    // An agent's credential opens no page.
    let secret = new_secret(&database, &[]);
    let machine = Machine::new("web-1");
    machine.write("etc/hostname", "web-1\n");
    machine.write("etc/hosts", "127.0.0.1 localhost\n");
    machine.enroll(&server.url, &secret);
    // A baseline, then one changed file: one change of type Files today.
    assert!(machine.scan().contains("Shipped"));
    machine.write("etc/hosts", "127.0.0.1 localhost web-1\n");
    assert!(machine.scan().contains("Shipped 1 changes"));
    let with_credential = request("GET", &address, "/", &machine.credential(), &[], b"");
    assert_eq!(with_credential.status, 303, "{}", with_credential.body);

    // A login form without its CSRF token, or with another one, is refused.
    let mut forger = Browser::new(&address);
    let refused = forger.send(
        "POST",
        "/login",
        &[("name", "ada"), ("password", PASSWORD), ("csrf", "x")],
    );
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(forger.cookie("driftwatch_session").is_none());

    // A planted session cookie is not adopted: logging in makes a new one.
    browser.set("driftwatch_session", "dws_planted");
    let wrong = browser.log_in("ada", "not the password");
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("wrong name or password"), "{}", wrong.body);
    let answer = browser.log_in("ada", PASSWORD);
    assert_eq!(answer.status, 303, "{}", answer.body);
    assert_eq!(answer.header("location"), Some("/"));
    let session_cookie = set_cookie_lines(&answer)
        .into_iter()
        .find(|line| line.contains("driftwatch_session=dws_"))
        .expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(session_cookie.contains(attribute), "{session_cookie}");
    }
    assert!(
        !session_cookie.contains("Secure"),
        "plain HTTP on loopback: {session_cookie}"
    );
    let session = browser.cookie("driftwatch_session").unwrap().to_string();
    assert_ne!(session, "dws_planted");

    // The overview, with the fleet's figures.
    let overview = browser.get("/");
    assert_eq!(overview.status, 200, "{}", overview.body);
    assert!(
        overview.body.contains(r#"<p class="figure" id="machines">1</p>"#),
        "{}",
        overview.body
    );
    assert!(overview.body.contains("<td>linux</td>"), "{}", overview.body);
    assert!(
        overview.body.contains(r#"<p class="figure" id="changes">1</p>"#),
        "{}",
        overview.body
    );
    assert!(
        overview.body.contains(r#"<a href="/changes?type=Files&#38;since="#),
        "{}",
        overview.body
    );
    assert!(
        overview.body.contains(">ada (viewer)<"),
        "who is signed in, and as what"
    );
    assert_eq!(overview.header("cache-control"), Some("no-store"));
    // Adding a user of the same name again changes nothing, sessions included.
    let again = add_user(&database, "ada", "admin", "another long password");
    assert!(
        !again.status.success() && stderr(&again).contains("already"),
        "{}",
        stderr(&again)
    );
    assert_eq!(browser.get("/").status, 200, "the session outlives a refused add");

    // A session cookie ships nothing: the API takes credentials only.
    let shipped = request(
        "POST",
        &address,
        "/v1/ship",
        "",
        &[("Cookie", &format!("driftwatch_session={session}"))],
        b"{}",
    );
    assert_eq!(shipped.status, 401, "{}", shipped.body);

    // Logging out needs the session's CSRF token; then the session is gone
    // on the server, not just in this browser.
    let csrf = hidden(&overview.body, "csrf");
    let forged = browser.send("POST", "/logout", &[("csrf", "0000")]);
    assert_eq!(forged.status, 403);
    assert_eq!(browser.get("/").status, 200, "still signed in");
    let out = browser.send("POST", "/logout", &[("csrf", &csrf)]);
    assert_eq!(out.status, 303);
    assert!(browser.cookie("driftwatch_session").is_none(), "the cookie is cleared");
    let mut replay = Browser::new(&address);
    replay.set("driftwatch_session", &session);
    assert_eq!(replay.get("/").status, 303, "the old session no longer opens pages");

    // Password guessing is throttled per name: after 5 failures even the
    // right password is refused for a while.
    let mut guesser = Browser::new(&address);
    for _ in 0..5 {
        assert_eq!(guesser.log_in("ada", "guess guess guess").status, 401);
    }
    let throttled = guesser.log_in("ada", PASSWORD);
    assert_eq!(throttled.status, 429, "{}", throttled.body);
    assert!(throttled.body.contains("too many failed logins"), "{}", throttled.body);

    // Removing a user ends their sessions at once.
    let mut other = Browser::new(&address);
    let added = add_user(&database, "cy", "admin", PASSWORD);
    assert!(added.status.success(), "{}", stderr(&added));
    assert_eq!(other.log_in("cy", PASSWORD).status, 303);
    assert_eq!(other.get("/").status, 200);
    assert!(server_command(&database, &["user", "remove", "cy"]).status.success());
    assert_eq!(other.get("/").status, 303);
    drop(server);
}

/// The first `href` in `html` that starts with `prefix`.
fn link(html: &str, prefix: &str) -> String {
    let marker = format!("href=\"{prefix}");
    let at = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no link to {prefix}… in {html}"))
        + "href=\"".len();
    html[at..]
        .split('"')
        .next()
        .unwrap()
        .replace("&#38;", "&")
        .replace("&amp;", "&")
}

const FILES_MANIFEST: &str = r#"
[[collector]]
name = "etc"
kind = "files"
plugin = "files-posix"
  [[collector.paths]]
  path = "/etc/*.conf"
  capture_content = true
"#;

#[test]
fn every_page_answers_and_only_admins_change_things() {
    let postgres = Postgres::start();
    let database = postgres.new_database("fleet");
    let server = Server::start(&database, None);
    let address = server.address().to_string();
    for (name, role) in [("ada", "admin"), ("vic", "viewer")] {
        let added = add_user(&database, name, role, PASSWORD);
        assert!(added.status.success(), "{}", stderr(&added));
    }
    let rules = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        rules.path(),
        "[[alert]]\nname = \"app\"\nquery = 'ConfigurationChange | where FileSystemPath endswith \"app.conf\"'\n\
         [[alert.action]]\ntype = \"log\"\n",
    )
    .unwrap();
    assert!(
        server_command(&database, &["alerts", "set", rules.path().to_str().unwrap()])
            .status
            .success()
    );
    let secret = new_secret(&database, &[]);
    let machine = Machine::new("web-1").with_manifest(FILES_MANIFEST);
    machine.write("etc/app.conf", "port = 80\n");
    machine.enroll(&server.url, &secret);
    machine.scan();
    machine.write("etc/app.conf", "port = 8080\n");
    assert!(machine.scan().contains("Shipped 1 changes"));
    let rule_enabled = || postgres.psql(&database, "SELECT enabled FROM alert_rule WHERE name = 'app'");

    let mut admin = Browser::new(&address);
    assert_eq!(admin.log_in("ada", PASSWORD).status, 303);
    let page = |browser: &mut Browser, path: &str| {
        let answer = browser.get(path);
        assert_eq!(answer.status, 200, "{path}: {}\n{}", answer.body, server.log());
        answer.body
    };

    // Every page answers, with what it is about.
    for range in ["", "?range=1h", "?range=6h", "?range=7d", "?range=30d"] {
        let overview = page(&mut admin, &format!("/{range}"));
        assert!(
            overview.contains(r#"<span class="total" id="total-Files">1</span>"#),
            "{range}: {overview}"
        );
    }
    let machines = page(&mut admin, "/machines?q=WEB");
    assert!(machines.contains(">web-1</a>"), "{machines}");
    assert!(page(&mut admin, "/machines?q=nothing-like-it").contains("No enrolled machine"));
    let machine_page = link(&machines, "/machines/");
    let overview_of_machine = page(&mut admin, &machine_page);
    // The agent reported its collector's run along with its changes.
    assert!(overview_of_machine.contains("<td>etc</td>"), "{overview_of_machine}");
    assert!(overview_of_machine.contains("Succeeded"), "{overview_of_machine}");
    let files_tab = page(&mut admin, &format!("{machine_page}?tab=Files&q=APP"));
    assert!(files_tab.contains("<td>/etc/app.conf</td>"), "{files_tab}");
    assert_eq!(admin.get("/machines/999999").status, 404);
    assert_eq!(admin.get("/machines/not-a-number").status, 400);

    let changes = page(&mut admin, "/changes?type=Files&machine=web-1&text=app");
    assert_eq!(changes.matches(r#"<tr class="change">"#).count(), 1, "{changes}");
    let none = page(&mut admin, "/changes?category=Removed");
    assert!(none.contains("No change matches"), "{none}");
    let bad = page(&mut admin, "/changes?since=yesterday&type=Nonsense&before=x");
    for problem in [
        "\"yesterday\" is not a time",
        "\"Nonsense\" is not a change type",
        "the page link is damaged",
    ] {
        assert!(bad.contains(&problem.replace('"', "&#34;")), "{problem}: {bad}");
    }
    let change = page(&mut admin, &link(&changes, "/changes/"));
    assert!(
        change.contains("-port = 80") && change.contains("+port = 8080"),
        "{change}"
    );
    assert_eq!(admin.get("/changes/1/999999").status, 404);

    let software = page(&mut admin, "/software");
    assert!(software.contains("No software name"), "{software}");
    let answered = page(&mut admin, "/query?q=ConfigurationChange+%7C+count");
    assert!(answered.contains("<td>1</td>"), "{answered}");
    let refused = page(&mut admin, "/query?q=ConfigurationChange+%7C+where");
    assert!(refused.contains(r#"id="query-error" data-line="1""#), "{refused}");
    let csv = admin.get("/query/download?q=ConfigurationChange+%7C+project+FileSystemPath&format=csv");
    assert_eq!(csv.status, 200);
    assert_eq!(
        csv.header("content-disposition"),
        Some("attachment; filename=\"query.csv\"")
    );
    assert_eq!(csv.body, "FileSystemPath\r\n/etc/app.conf\r\n");
    let json = admin.get("/query/download?q=ConfigurationChange+%7C+project+FileSystemPath&format=json");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&json.body).unwrap(),
        serde_json::json!([{"FileSystemPath": "/etc/app.conf"}])
    );
    let alerts = page(&mut admin, "/alerts");
    assert!(
        alerts.contains(r#"<tr data-rule="app">"#) && alerts.contains("Turn off"),
        "{alerts}"
    );
    let raised = alerts.matches("<tr data-alert=").count();
    assert_eq!(raised, 1, "{alerts}");

    // A failing collector, as its agent reports it, shows on the overview
    // and in the machine list; a report that is not one is refused.
    let credential = machine.credential();
    let report = r#"{"collectors":[{"collector":"etc","plugin":"files-posix","last_run":"2026-01-02T03:04:05Z",
        "outcome":"Failed","error":"the disk is on fire","duration_ms":3}]}"#;
    let (status, body) = post(&address, "/v1/collectors", &credential, None, report.as_bytes());
    assert_eq!((status, body.as_str()), (200, r#"{"collectors":1}"#));
    let overview = page(&mut admin, "/");
    assert!(
        overview.contains(r#"title="the disk is on fire">etc</td>"#),
        "{overview}"
    );
    assert!(page(&mut admin, "/machines").contains(r#"<td class="number bad">1</td>"#));
    let (status, _) = post(
        &address,
        "/v1/collectors",
        &credential,
        None,
        br#"{"collectors":[{"collector":"etc","plugin":"p","last_run":"soon","outcome":"Failed","duration_ms":1}]}"#,
    );
    assert_eq!(status, 400);
    let (status, _) = post(&address, "/v1/collectors", "", None, report.as_bytes());
    assert_eq!(status, 401, "no report without a machine's credential");

    // Changing things: a form without the session's CSRF token is refused,
    // and so is a viewer's, whatever it carries.
    let admin_csrf = hidden(&alerts, "csrf");
    let no_token = admin.send("POST", "/alerts/rules", &[("rule", "app"), ("enabled", "off")]);
    assert_eq!(no_token.status, 403, "{}", no_token.body);
    let wrong = admin.send(
        "POST",
        "/alerts/rules",
        &[("csrf", "0123"), ("rule", "app"), ("enabled", "off")],
    );
    assert_eq!(wrong.status, 403);
    assert_eq!(rule_enabled(), "t");
    let mut viewer = Browser::new(&address);
    assert_eq!(viewer.log_in("vic", PASSWORD).status, 303);
    let viewer_alerts = page(&mut viewer, "/alerts");
    assert!(!viewer_alerts.contains("Turn off"), "a viewer sees no switch");
    assert!(
        !page(&mut viewer, &machine_page).contains("Revoke"),
        "nor a revoke button"
    );
    let viewer_csrf = hidden(&viewer_alerts, "csrf");
    let switched = viewer.send(
        "POST",
        "/alerts/rules",
        &[("csrf", &viewer_csrf), ("rule", "app"), ("enabled", "off")],
    );
    assert_eq!(switched.status, 403);
    assert!(
        switched.body.contains("viewers cannot change anything"),
        "{}",
        switched.body
    );
    let revoked = viewer.send("POST", &format!("{machine_page}/revoke"), &[("csrf", &viewer_csrf)]);
    assert_eq!(revoked.status, 403);
    assert_eq!(rule_enabled(), "t");
    assert_eq!(
        request("GET", &address, "/v1/identity", &credential, &[], b"").status,
        200
    );
    // A session cannot query the API either: that takes an API token.
    let cookie = format!("driftwatch_session={}", viewer.cookie("driftwatch_session").unwrap());
    let queried = request(
        "POST",
        &address,
        "/v1/query",
        "",
        &[("Cookie", &cookie)],
        br#"{"query":"ConfigurationChange"}"#,
    );
    assert_eq!(queried.status, 401);

    // The admin's own forms do change things.
    let switched = admin.send(
        "POST",
        "/alerts/rules",
        &[("csrf", &admin_csrf), ("rule", "app"), ("enabled", "off")],
    );
    assert_eq!(switched.status, 303, "{}", switched.body);
    assert_eq!(rule_enabled(), "f");
    assert!(page(&mut admin, "/alerts").contains("Turn on"));
    let revoked = admin.send("POST", &format!("{machine_page}/revoke"), &[("csrf", &admin_csrf)]);
    assert_eq!(revoked.status, 303, "{}", revoked.body);
    assert_eq!(
        request("GET", &address, "/v1/identity", &credential, &[], b"").status,
        401
    );
    assert!(page(&mut admin, "/machines").contains("No enrolled machine"));
    assert!(page(&mut admin, &machine_page).contains("revoked"));
    drop(server);
}
