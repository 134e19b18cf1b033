//! Faults while agents ship: the server killed (-9) again and again, and
//! PostgreSQL restarted, in the middle of batches. Afterwards every
//! machine's changes and inventory on the server are exactly the agent's:
//! none missing, none twice.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::postgres::Postgres;
use crate::support::*;

const MANIFEST: &str = r#"
[[collector]]
name = "data"
kind = "files"
plugin = "files-posix"
  [[collector.paths]]
  path = "/data"
  recurse = true
"#;

/// Files per machine: a few batches' worth of inventory.
const FILES: usize = 3_000;
/// Files changed on each machine per round.
const CHANGED: usize = 150;
const KILLS: usize = 20;

struct Machine {
    agent: AgentState,
    name: String,
}

impl Machine {
    fn new(name: &str) -> Machine {
        let machine = Machine {
            agent: AgentState::new(),
            name: name.to_string(),
        };
        machine.write("etc/hostname", name);
        for i in 0..FILES {
            machine.write(&format!("data/d{}/f{i}.txt", i % 30), &format!("{i}\n"));
        }
        std::fs::write(machine.agent.dir.path().join("m.toml"), MANIFEST).unwrap();
        machine
    }

    fn write(&self, path: &str, text: &str) {
        let path = self.agent.dir.path().join("root").join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn command(&self, args: &[&str]) -> Command {
        let dir = self.agent.dir.path();
        let mut command = Command::new(driftwatch());
        command
            .env_remove("RUST_LOG")
            .arg("--state")
            .arg(self.agent.state())
            .arg("--root")
            .arg(dir.join("root"))
            .arg("--manifest")
            .arg(dir.join("m.toml"))
            .args(args);
        command
    }

    /// A scan (which ships when it is done) in the background.
    fn scan(&self) -> Child {
        self.command(&["scan"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start a scan")
    }

    fn output(&self, args: &[&str]) -> std::process::Output {
        self.command(args).output().expect("run driftwatch")
    }

    /// The agent's own change ids, in order.
    fn change_ids(&self) -> Vec<i64> {
        let output = self.output(&[
            "query",
            "ConfigurationChange | project ChangeId | order by ChangeId asc",
            "--json",
        ]);
        stdout(&output)
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["ChangeId"]
                    .as_i64()
                    .unwrap()
            })
            .collect()
    }

    fn inventory_paths(&self) -> Vec<String> {
        let output = self.output(&[
            "query",
            "ConfigurationData | project FileSystemPath, FileContentChecksum",
            "--json",
        ]);
        normalized(&stdout(&output))
    }
}

fn server_change_ids(postgres: &Postgres, machine: &str) -> Vec<i64> {
    let text = postgres.psql(
        "fleet",
        &format!(
            "SELECT \"ChangeId\" FROM \"ConfigurationChange\" c JOIN machine m USING (machine_id) \
             WHERE m.name = '{machine}' ORDER BY \"ChangeId\""
        ),
    );
    text.lines().map(|l| l.trim().parse().unwrap()).collect()
}

fn server_inventory_paths(postgres: &Postgres, machine: &str) -> Vec<String> {
    let text = postgres.psql(
        "fleet",
        &format!(
            "SELECT json_build_object('FileSystemPath', \"FileSystemPath\", 'FileContentChecksum', \"FileContentChecksum\") \
             FROM \"ConfigurationData\" d JOIN machine m USING (machine_id) WHERE m.name = '{machine}'"
        ),
    );
    normalized(&text)
}

/// JSON lines with their keys in one order, sorted.
fn normalized(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text
        .lines()
        .map(|l| {
            let value: std::collections::BTreeMap<String, serde_json::Value> = serde_json::from_str(l).unwrap();
            serde_json::to_string(&value).unwrap()
        })
        .collect();
    lines.sort();
    lines
}

#[test]
fn killing_the_server_and_restarting_postgres_mid_batch_loses_and_doubles_nothing() {
    let postgres = Postgres::start();
    let database = postgres.new_database("fleet");
    let mut server = Server::start(&database, None);
    let address = server.address().to_string();
    let secret = new_secret(&database, &[]);
    let machines = [Machine::new("fault-a"), Machine::new("fault-b")];
    for machine in &machines {
        let enrolled = machine.output(&["enroll", &server.url, "--secret", &secret]);
        assert!(enrolled.status.success(), "{}", stderr(&enrolled));
    }
    let (mut interrupted, mut completed) = (0, 0);
    for round in 0..KILLS {
        for (m, machine) in machines.iter().enumerate() {
            for i in 0..CHANGED {
                let file = (round * 97 + i * 13 + m) % FILES;
                machine.write(
                    &format!("data/d{}/f{file}.txt", file % 30),
                    &format!("{file} round {round}\n"),
                );
            }
        }
        let scans: Vec<Child> = machines.iter().map(Machine::scan).collect();
        // Let the scans get to shipping, then pull the server away.
        std::thread::sleep(Duration::from_millis(50 + spread_ms(round)));
        if round == KILLS / 2 {
            postgres.restart();
        }
        drop(server); // kill -9
        for scan in scans {
            let output = scan.wait_with_output().unwrap();
            assert!(output.status.success(), "the scan itself stands");
            if stdout(&output).contains("Not shipped") {
                interrupted += 1;
            } else if stdout(&output).contains("Shipped ") {
                completed += 1;
            }
        }
        server = Server::start_at(&database, None, &address);
    }
    // Everything catches up.
    for machine in &machines {
        let mut done = false;
        let mut said = Vec::new();
        for _ in 0..5 {
            let output = machine.output(&["ship"]);
            if output.status.success() && stdout(&output).contains("Nothing to ship") {
                done = true;
                break;
            }
            said.push(format!("{}{}", stdout(&output), stderr(&output)));
        }
        assert!(
            done,
            "{} did not catch up: {said:#?}\nserver log:\n{}",
            machine.name,
            server.log()
        );
    }
    for machine in &machines {
        let local = machine.change_ids();
        let shipped = server_change_ids(&postgres, &machine.name);
        assert!(local.len() >= KILLS * CHANGED / 2, "{} changes recorded", local.len());
        assert_eq!(shipped.len(), local.len(), "{}: every change once", machine.name);
        assert_eq!(shipped, local, "{}", machine.name);
        let (server, local) = (
            server_inventory_paths(&postgres, &machine.name),
            machine.inventory_paths(),
        );
        assert_eq!(local.len(), FILES);
        let differ = server.iter().zip(&local).find(|(s, l)| s != l);
        assert!(
            server.len() == local.len() && differ.is_none(),
            "{}: {differ:?}",
            machine.name
        );
    }
    // A row lost on the server behind the positions' back: the comparison
    // finds it, and the inventory (3,000 rows: two batches) goes again whole.
    postgres.psql(
        "fleet",
        "DELETE FROM \"ConfigurationData\" WHERE \"FileSystemPath\" = '/data/d0/f0.txt'",
    );
    let verified = machines[0].output(&["ship", "--verify"]);
    assert!(
        stdout(&verified).contains("(2 batches); the server's copy of the inventory differed"),
        "{}{}",
        stdout(&verified),
        stderr(&verified)
    );
    let (server, local) = (
        server_inventory_paths(&postgres, "fault-a"),
        machines[0].inventory_paths(),
    );
    assert!(
        server == local,
        "{} rows on the server, {} here",
        server.len(),
        local.len()
    );
    let verified = machines[0].output(&["ship", "--verify"]);
    assert!(stdout(&verified).contains("is the same"), "{}", stdout(&verified));
    eprintln!(
        "{KILLS} server kills, 1 PostgreSQL restart; shipments: {interrupted} cut off, {completed} done; \
         changes per machine: {:?}",
        machines.iter().map(|m| m.change_ids().len()).collect::<Vec<_>>()
    );
}

/// 0–399 ms, spread evenly over the rounds: kills land before, during and
/// after the shipments.
fn spread_ms(round: usize) -> u64 {
    (round as u64 * 23) % 400
}
