//! Fleet alerts: rules on the server see each shipped change once,
//! whichever machine it came from; a webhook gets the alert's document,
//! and a failed delivery is tried again.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::postgres::Postgres;
use crate::support::*;

const LOCAL: &str = r#"
[[collector]]
name = "etc"
kind = "files"
plugin = "files-posix"
  [[collector.paths]]
  path = "/etc/*.conf"
"#;

/// A webhook receiver: answers 500 to its first request, then 200; keeps
/// the bodies it accepted.
struct Receiver {
    url: String,
    bodies: Arc<Mutex<Vec<Value>>>,
    requests: Arc<Mutex<usize>>,
}

impl Receiver {
    fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let requests = Arc::new(Mutex::new(0));
        let (kept, counted) = (bodies.clone(), requests.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = value.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                let n = {
                    let mut count = counted.lock().unwrap();
                    *count += 1;
                    *count
                };
                let status = if n == 1 { "500 Internal Server Error" } else { "200 OK" };
                if n > 1 {
                    kept.lock().unwrap().push(serde_json::from_slice(&body).unwrap());
                }
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
            }
        });
        Receiver { url, bodies, requests }
    }
}

fn raised(database: &str) -> Vec<Value> {
    let output = server_command(database, &["alerts", "raised", "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    stdout(&output)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn fleet_rules_raise_once_per_change_and_deliver_with_retries() {
    let postgres = Postgres::start();
    let database = postgres.new_database("fleet");
    let server = Server::start(&database, None);
    let secret = new_secret(&database, &["--uses", "2"]);
    let receiver = Receiver::start();
    let rules = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        rules.path(),
        format!(
            r#"
[[alert]]
name = "ssh-config"
query = 'ConfigurationChange | where FileSystemPath endswith "ssh.conf" | project Computer, ChangeCategory, FileSystemPath'
severity = "high"
  [[alert.action]]
  type = "webhook"
  url = "{}"
  headers = {{ Authorization = "Bearer hook-secret" }}
  backoff = "1s"
  [[alert.action]]
  type = "log"
"#,
            receiver.url
        ),
    )
    .unwrap();
    let set = server_command(&database, &["alerts", "set", rules.path().to_str().unwrap()]);
    assert!(set.status.success(), "{}", stderr(&set));
    let exec = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        exec.path(),
        "[[alert]]\nname = \"x\"\nquery = \"ConfigurationChange\"\n[[alert.action]]\ntype = \"exec\"\ncommand = [\"/bin/true\"]\n",
    )
    .unwrap();
    let refused = server_command(&database, &["alerts", "set", exec.path().to_str().unwrap()]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("the server runs no programs"),
        "{}",
        stderr(&refused)
    );

    let machines: Vec<Machine> = ["alpha", "beta"]
        .iter()
        .map(|name| {
            let machine = Machine::new(name).with_manifest(LOCAL);
            machine.write("etc/hostname", format!("{name}\n"));
            machine.write("etc/ssh.conf", "PermitRootLogin no\n");
            machine.write("etc/app.conf", "port = 80\n");
            machine.enroll(&server.url, &secret);
            machine.scan();
            machine
        })
        .collect();
    // Baselines are not changes: nothing raised.
    assert_eq!(raised(&database), Vec::<Value>::new());

    // A change on beta: one alert, naming beta only.
    machines[1].write("etc/ssh.conf", "PermitRootLogin yes\n");
    machines[1].write("etc/app.conf", "port = 8080\n");
    machines[1].scan();
    let wait = std::time::Instant::now();
    while raised(&database)
        .first()
        .is_none_or(|a| a["deliveries"][0]["state"] != "delivered")
    {
        assert!(
            wait.elapsed().as_secs() < 30,
            "no delivery; server log:\n{}",
            server.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // The agent forgets that the server acknowledged its changes (as after
    // a crash between sending and recording the answer) and sends them
    // again: the server has them; nothing is raised again.
    let store = rusqlite::Connection::open(machines[1].agent.state().join("driftwatch.db")).unwrap();
    store.execute("UPDATE ShipState SET ChangeId = 1", []).unwrap();
    drop(store);
    let again = machines[1].run(&["ship"]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        stdout(&again).contains("Shipped"),
        "a replay was sent: {}",
        stdout(&again)
    );
    let alerts = raised(&database);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let alert = &alerts[0];
    assert_eq!(
        (alert["machine"].as_str(), alert["rule"].as_str()),
        (Some("beta"), Some("ssh-config"))
    );
    assert_eq!(alert["rows"], 1);
    assert_eq!(alert["deliveries"][0]["state"], "delivered");
    assert_eq!(alert["deliveries"][0]["attempts"], 2, "the first attempt got a 500");
    assert_eq!(alert["deliveries"][1]["action"], "log");
    let document = receiver.bodies.lock().unwrap()[0].clone();
    assert_eq!(document["computer"], "beta");
    assert_eq!(document["severity"], "high");
    assert_eq!(
        document["changes"],
        serde_json::json!([{"Computer": "beta", "ChangeCategory": "Modified", "FileSystemPath": "/etc/ssh.conf"}])
    );
    assert_eq!(*receiver.requests.lock().unwrap(), 2);
    assert!(server.log().contains("alert raised"), "{}", server.log());

    // A change on alpha that the rule does not match: nothing.
    machines[0].write("etc/app.conf", "port = 81\n");
    machines[0].scan();
    assert_eq!(raised(&database).len(), 1);
    drop(server);
}
