//! Alert rules end to end: a real HTTP server on 127.0.0.1 receives the
//! webhook, a command gets the document on stdin, and nothing alerts twice.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::support::*;

/// A webhook receiver answering 503 to the first `fail_first` requests and
/// 200 after; it keeps the bodies it accepted.
struct Receiver {
    url: String,
    accepted: Arc<Mutex<Vec<Value>>>,
    requests: Arc<Mutex<usize>>,
}

impl Receiver {
    fn start(fail_first: usize) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let requests = Arc::new(Mutex::new(0));
        let (kept, count) = (accepted.clone(), requests.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut length = 0;
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap();
                    }
                    line.clear();
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                let n = {
                    let mut count = count.lock().unwrap();
                    *count += 1;
                    *count
                };
                let reply = if n <= fail_first {
                    "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbusy"
                } else {
                    kept.lock().unwrap().push(serde_json::from_slice(&body).unwrap());
                    "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                };
                let _ = stream.write_all(reply.as_bytes());
            }
        });
        Receiver {
            url,
            accepted,
            requests,
        }
    }

    fn accepted(&self) -> Vec<Value> {
        self.accepted.lock().unwrap().clone()
    }

    fn requests(&self) -> usize {
        *self.requests.lock().unwrap()
    }
}

fn manifest(env: &Env, actions: &str) -> String {
    let text = format!(
        r#"
[[collector]]
name = "etc"
kind = "files"
plugin = "files-posix"
interval = "1s"
  [[collector.paths]]
  path = "/etc"
  recurse = true

[[alert]]
name = "hosts-file"
query = 'ConfigurationChange | where FileSystemPath == "/etc/hosts" | project ChangeId, ChangeCategory, FileSystemPath, FieldsChanged'
severity = "high"
{actions}
"#
    );
    env.write("manifest.toml", text).display().to_string()
}

fn webhook(url: &str) -> String {
    format!("[[alert.action]]\ntype = \"webhook\"\nurl = \"{url}\"\nbackoff = \"100ms\"\n")
}

fn scan(env: &Env, manifest: &str) -> std::process::Output {
    let root = env.path("root").display().to_string();
    let out = env.run(&["--root", &root, "--manifest", manifest, "scan"]);
    assert_eq!(exit_code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    out
}

/// A baseline scan, an edit of /etc/hosts and of another file, a second scan.
fn baseline_then_edit(env: &Env, manifest: &str) -> std::process::Output {
    env.write("root/etc/hosts", "127.0.0.1 localhost\n");
    env.write("root/etc/motd", "hello\n");
    scan(env, manifest);
    env.write("root/etc/hosts", "127.0.0.1 localhost\n10.0.0.5 db\n");
    env.write("root/etc/motd", "hello again\n");
    scan(env, manifest)
}

#[test]
fn a_webhook_that_fails_first_gets_the_alert_on_retry() {
    let env = Env::new();
    let receiver = Receiver::start(1);
    let manifest = manifest(&env, &webhook(&receiver.url));
    let out = baseline_then_edit(&env, &manifest);
    assert!(
        stdout(&out).contains("Alert hosts-file: 1 matching row"),
        "{}",
        stdout(&out)
    );
    assert_eq!(receiver.requests(), 2, "one refused attempt, one accepted");
    let accepted = receiver.accepted();
    assert_eq!(accepted.len(), 1);
    let doc = &accepted[0];
    assert_eq!(doc["rule"], "hosts-file");
    assert_eq!(doc["severity"], "high");
    assert_eq!(doc["alert_id"], 1);
    assert_eq!(doc["count"], 1);
    assert_eq!(
        doc["changes"][0]["FileSystemPath"], "/etc/hosts",
        "only the matching change: {doc}"
    );
    assert_eq!(doc["changes"][0]["ChangeCategory"], "Modified");

    // The delivery is recorded with its attempts.
    let listed = json_lines(&env.run(&["--manifest", &manifest, "alerts", "list", "--json"]));
    assert_eq!(listed.len(), 1);
    let delivery = &listed[0]["Deliveries"][0];
    assert_eq!(delivery["State"], "delivered");
    assert_eq!(delivery["Attempts"], 2);
    assert!(delivery["DeliveredAt"].is_string());
}

#[test]
fn a_webhook_that_keeps_failing_is_given_up_and_recorded() {
    let env = Env::new();
    let receiver = Receiver::start(usize::MAX);
    let action = format!("{}retries = 2\n", webhook(&receiver.url));
    let manifest = manifest(&env, &action);
    let out = baseline_then_edit(&env, &manifest);
    assert!(stdout(&out).contains("failed (3 attempts)"), "{}", stdout(&out));
    assert_eq!(receiver.requests(), 3);
    let listed = json_lines(&env.run(&["--manifest", &manifest, "alerts", "list", "--json"]));
    let delivery = &listed[0]["Deliveries"][0];
    assert_eq!(delivery["State"], "failed");
    assert!(
        delivery["Error"]
            .as_str()
            .unwrap()
            .contains("503 Service Unavailable: busy"),
        "{delivery}"
    );
}

#[cfg(unix)]
#[test]
fn exec_gets_the_document_on_stdin_without_a_shell() {
    let env = Env::new();
    let out_file = env.path("from-exec.json");
    let shell_file = env.path("from-shell.txt");
    let actions = format!(
        "[[alert.action]]\ntype = \"exec\"\ncommand = [\"/usr/bin/tee\", \"{}\"]\n\
         [[alert.action]]\ntype = \"exec\"\nshell = true\ncommand = \"echo $DRIFTWATCH_ALERT $DRIFTWATCH_SEVERITY > '{}'\"\n\
         [[alert.action]]\ntype = \"log\"\n",
        out_file.display(),
        shell_file.display()
    );
    let manifest = manifest(&env, &actions);
    let out = baseline_then_edit(&env, &manifest);
    assert!(stdout(&out).contains("exec /usr/bin/tee"), "{}", stdout(&out));
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&out_file).unwrap()).unwrap();
    assert_eq!(doc["changes"][0]["FileSystemPath"], "/etc/hosts");
    assert_eq!(std::fs::read_to_string(&shell_file).unwrap(), "hosts-file high\n");
}

#[cfg(unix)]
#[test]
fn no_alert_twice_across_scans_and_agent_restarts() {
    let env = Env::new();
    let receiver = Receiver::start(0);
    let manifest = manifest(&env, &webhook(&receiver.url));
    baseline_then_edit(&env, &manifest);
    assert_eq!(receiver.accepted().len(), 1);

    // Scans that find nothing new raise nothing.
    scan(&env, &manifest);
    // Two agent lifetimes over the same history: nothing is sent again.
    for _ in 0..2 {
        let agent = start_agent(&env, &manifest);
        let status = || json_lines(&env.run(&["--manifest", &manifest, "status", "--json"]));
        let runs_before = status()[0]["LastRun"].clone();
        agent.wait_for(Duration::from_secs(30), "a collection by the agent", || {
            status()[0]["LastRun"] != runs_before
        });
        let (exit, log) = agent.stop();
        assert_eq!(exit.code(), Some(0), "{log}");
    }
    assert_eq!(receiver.requests(), 1, "{:?}", receiver.accepted());

    // A new change while the agent runs alerts once more, from the agent.
    let agent = start_agent(&env, &manifest);
    env.write("root/etc/hosts", "127.0.0.1 localhost\n");
    agent.wait_for(Duration::from_secs(30), "the agent's alert", || {
        receiver.accepted().len() == 2
    });
    let (exit, log) = agent.stop();
    assert_eq!(exit.code(), Some(0), "{log}");
    let second = &receiver.accepted()[1];
    assert_eq!(second["alert_id"], 2);
    assert_eq!(
        second["changes"][0]["FieldsChanged"],
        "Size,DateModified,FileContentChecksum"
    );
    assert_eq!(receiver.requests(), 2);
}

#[test]
fn alerts_test_shows_matches_and_sends_nothing() {
    let env = Env::new();
    let receiver = Receiver::start(0);
    let manifest = manifest(&env, &webhook(&receiver.url));
    baseline_then_edit(&env, &manifest);
    let before = receiver.requests();
    let out = env.run(&["--manifest", &manifest, "alerts", "test", "hosts-file"]);
    assert_eq!(exit_code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("1 matching row. Nothing sent"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("/etc/hosts"));
    let out = env.run(&["--manifest", &manifest, "alerts", "test", "hosts-file", "--json"]);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["count"], 1);
    assert_eq!(receiver.requests(), before);
    let out = env.run(&["--manifest", &manifest, "alerts", "test", "nope"]);
    assert_eq!(exit_code(&out), 1);
    assert!(stderr(&out).contains("its alerts: hosts-file"), "{}", stderr(&out));
}

#[test]
fn a_bad_alert_query_is_refused_with_its_position() {
    let env = Env::new();
    let manifest = env.write(
        "bad.toml",
        "[[alert]]\nname = \"x\"\nquery = 'ConfigurationChange | where SvcName hasprefix \"x\"'\n\
         [[alert.action]]\ntype = \"log\"\n",
    );
    let out = env.run(&["--manifest", manifest.to_str().unwrap(), "status"]);
    assert_eq!(exit_code(&out), 1);
    let err = stderr(&out);
    assert!(err.contains("bad.toml:3:9"), "{err}");
    assert!(err.contains("unsupported operator 'hasprefix'"), "{err}");
}

#[test]
fn query_prints_a_table_json_and_pointed_errors() {
    let env = Env::new();
    let manifest = manifest(&env, "[[alert.action]]\ntype = \"log\"\n");
    baseline_then_edit(&env, &manifest);
    let q = r#"ConfigurationChange | where ConfigChangeType == "Files" | summarize count() by ChangeCategory"#;
    let out = env.run(&["query", q]);
    assert_eq!(exit_code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "ChangeCategory  count_\nModified             2\n1 row\n");
    let out = env.run(&["query", q, "--json"]);
    assert_eq!(
        json_lines(&out),
        [serde_json::json!({"ChangeCategory": "Modified", "count_": 2})]
    );
    let out = env.run(&["query", "ConfigurationChange | where Size >> 3"]);
    assert_eq!(exit_code(&out), 2);
    assert!(stderr(&out).contains("line 1, column 35"), "{}", stderr(&out));
    let caret = format!("\n{}^\n", " ".repeat(2 + 34));
    assert!(stderr(&out).contains(&caret), "{}", stderr(&out));
}
