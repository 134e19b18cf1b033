//! Shipping: agents on fixture roots enroll, scan and ship; the server's
//! copy of each machine equals the agent's own, changes land under the
//! right machine only, nothing is lost or doubled when batches repeat or
//! the server is away, and bad batches store nothing.

use std::io::Write;

use serde_json::Value;

use crate::postgres::Postgres;
use crate::support::*;

const MANIFEST: &str = r#"
[[collector]]
name = "dpkg"
kind = "packages"
plugin = "packages-dpkg"
grants = ["/var/lib/dpkg"]

[[collector]]
name = "etc"
kind = "files"
plugin = "files-posix"
  [[collector.paths]]
  path = "/etc/*.conf"
"#;

fn stanza(name: &str, version: &str) -> String {
    format!(
        "Package: {name}\nStatus: install ok installed\nPriority: optional\nMaintainer: Test <test@example.org>\n\
         Architecture: amd64\nVersion: {version}\nDescription: the {name} package\n\n"
    )
}

/// A Debian-like image with a name, packages and configuration files, and
/// the agent that inventories it with [`MANIFEST`].
fn debian_image(name: &str, packages: &[(&str, &str)], files: &[(&str, &str)]) -> Machine {
    let machine = Machine::new(name).with_manifest(MANIFEST);
    machine.write("etc/hostname", format!("{name}\n"));
    let status: String = packages.iter().map(|(p, v)| stanza(p, v)).collect();
    machine.write("var/lib/dpkg/status", status);
    for (path, text) in files {
        machine.write(path, text);
    }
    machine
}

/// The server's copy of a machine's inventory, shaped as the agent's
/// `query ConfigurationData --json` prints it.
fn server_inventory(postgres: &Postgres, machine: &str) -> Vec<String> {
    let columns: Vec<String> = driftwatch_protocol::columns::CONFIGURATION_DATA
        .iter()
        .filter(|(name, _)| *name != "ItemKey")
        .map(|(name, kind)| match kind {
            driftwatch_protocol::columns::Kind::Time => {
                format!("to_char(\"{name}\" AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS \"{name}\"")
            }
            _ => format!("\"{name}\""),
        })
        .collect();
    let sql = format!(
        "SELECT row_to_json(t) FROM (SELECT {} FROM \"ConfigurationData\" d JOIN machine m USING (machine_id) \
         WHERE m.name = '{machine}' AND m.revoked_at IS NULL) t",
        columns.join(", ")
    );
    sorted_json_lines(&postgres.psql("fleet", &sql))
}

fn server_count(postgres: &Postgres, sql: &str) -> i64 {
    postgres.psql("fleet", sql).parse().unwrap()
}

#[test]
fn agents_ship_their_inventory_and_changes_exactly_once() {
    let postgres = Postgres::start();
    let database = postgres.new_database("fleet");
    let server = Server::start(&database, None);
    let secret = new_secret(&database, &["--uses", "2"]);

    let debian = debian_image(
        "debian-a",
        &[("bash", "5.2-1"), ("openssl", "3.0.11-1"), ("curl", "7.88.1-10")],
        &[
            ("etc/app.conf", "port = 80\n"),
            ("etc/ssh.conf", "PermitRootLogin no\n"),
        ],
    );
    let other = debian_image("files-b", &[("bash", "5.2-1")], &[("etc/app.conf", "port = 8080\n")]);
    for machine in [&debian, &other] {
        machine.enroll(&server.url, &secret);
        let said = machine.scan();
        assert!(said.contains("Shipped 0 changes and"), "{said}");
    }
    assert_eq!(server_inventory(&postgres, "debian-a"), debian.inventory());
    assert_eq!(server_inventory(&postgres, "files-b"), other.inventory());
    assert_eq!(debian.inventory().len(), 5);

    // A change on one machine: on the server under its name, nowhere else.
    debian.write("etc/app.conf", "port = 443\n");
    debian.write(
        "var/lib/dpkg/status",
        [stanza("bash", "5.2-1"), stanza("openssl", "3.0.13-1")].concat(),
    );
    let said = debian.scan();
    assert!(said.contains("Shipped 3 changes"), "{said}");
    assert_eq!(server_inventory(&postgres, "debian-a"), debian.inventory());
    assert_eq!(server_inventory(&postgres, "files-b"), other.inventory());
    let changes = |machine: &str| {
        server_count(
            &postgres,
            &format!(
                "SELECT count(*) FROM \"ConfigurationChange\" c JOIN machine m USING (machine_id) \
                 WHERE m.name = '{machine}' AND c.\"Computer\" = m.name"
            ),
        )
    };
    assert_eq!(changes("debian-a"), 3);
    assert_eq!(changes("files-b"), 0);
    let kinds = postgres.psql(
        "fleet",
        // The collectors run side by side: their change ids come in either order.
        "SELECT string_agg(k, ', ' ORDER BY k) FROM (SELECT \"ChangeCategory\" || ' ' || \
         coalesce(\"SoftwareName\", \"FileSystemPath\") AS k FROM \"ConfigurationChange\") t",
    );
    assert_eq!(kinds, "Modified /etc/app.conf, Modified openssl, Removed curl");
    assert_eq!(debian.changes().len(), 3);

    // Nothing pending: shipping again sends nothing.
    let again = debian.run(&["ship", "--json"]);
    assert!(again.status.success(), "{}", stderr(&again));
    let again: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(again["batches"], 0);
    assert_eq!(again["acknowledged_change_id"], 3);

    // The server loses what it acknowledged (a restored backup): the agent
    // sends again from where the server stands; nothing is doubled.
    postgres.psql(
        "fleet",
        "UPDATE machine SET shipped_change_id = 1, shipped_revision = 0 WHERE name = 'debian-a'",
    );
    postgres.psql("fleet", "DELETE FROM \"ConfigurationChange\" WHERE \"ChangeId\" = 3");
    postgres.psql(
        "fleet",
        "DELETE FROM \"ConfigurationData\" WHERE \"Collector\" = 'dpkg' AND machine_id = \
         (SELECT machine_id FROM machine WHERE name = 'debian-a')",
    );
    let resent = debian.run(&["ship"]);
    assert!(resent.status.success(), "{}", stderr(&resent));
    assert_eq!(changes("debian-a"), 3, "{}{}", stdout(&resent), stderr(&resent));
    assert_eq!(server_inventory(&postgres, "debian-a"), debian.inventory());

    // The server's copy loses a row behind the positions' back: the daily
    // comparison (here asked for at once) finds it and sends it all again.
    postgres.psql(
        "fleet",
        "DELETE FROM \"ConfigurationData\" WHERE \"FileSystemPath\" = '/etc/ssh.conf'",
    );
    let plain = debian.run(&["ship"]);
    assert!(stdout(&plain).starts_with("Nothing to ship"), "{}", stdout(&plain));
    assert_ne!(server_inventory(&postgres, "debian-a"), debian.inventory());
    let verified = debian.run(&["ship", "--verify"]);
    assert!(
        stdout(&verified).contains("differed: sent whole again"),
        "{}{}",
        stdout(&verified),
        stderr(&verified)
    );
    assert_eq!(server_inventory(&postgres, "debian-a"), debian.inventory());
    let verified = debian.run(&["ship", "--verify"]);
    assert!(stdout(&verified).contains("is the same"), "{}", stdout(&verified));
    assert_eq!(changes("debian-a"), 3);

    // The server away: the agent keeps collecting, and catches up later.
    let address = server.address().to_string();
    let (exit, log) = server.stop();
    assert_eq!(exit.code(), Some(0), "{log}");
    other.write("etc/app.conf", "port = 9090\n");
    let said = other.scan();
    assert!(said.contains("Not shipped (kept for the next time)"), "{said}");
    let status = stdout(&other.run(&["status", "--json"]));
    assert!(status.contains("\"PendingChanges\":1"), "{status}");
    let server = Server::start_at(&database, None, &address);
    let said = other.scan();
    assert!(said.contains("Shipped 1 changes"), "{said}");
    assert_eq!(changes("files-b"), 1);
    assert_eq!(server_inventory(&postgres, "files-b"), other.inventory());
    drop(server);
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn stored(postgres: &Postgres) -> (i64, i64) {
    (
        server_count(postgres, "SELECT count(*) FROM \"ConfigurationChange\""),
        server_count(postgres, "SELECT count(*) FROM \"ConfigurationData\""),
    )
}

#[test]
fn bad_batches_and_bad_credentials_store_nothing() {
    let postgres = Postgres::start();
    let database = postgres.new_database("fleet");
    let server = Server::start(&database, None);
    let secret = new_secret(&database, &[]);
    let machine = debian_image("web-1", &[("bash", "5.2-1")], &[]);
    machine.enroll(&server.url, &secret);
    let credential = machine.credential();
    let address = server.address().to_string();
    // One change row, `id`, after `from`.
    let batch = |from: i64, id: i64, extra: &str| {
        format!(
            r#"{{"from":{{"change_id":{from},"revision":0}},"to":{{"change_id":{id},"revision":0}},"inventory":[],
               "changes":[{{"ChangeId":{id},"Collector":"dpkg","ItemKey":"bash","TimeGenerated":"2026-12-02T10:00:00.000000Z",
               "ConfigChangeType":"Software","ChangeCategory":"Added","Computer":"someone-else"{extra}}}]}}"#
        )
    };
    let change = |extra: &str| batch(0, 1, extra);
    let ship =
        |credential: &str, encoding: Option<&str>, body: &[u8]| post(&address, "/v1/ship", credential, encoding, body);

    // Wrong, forged or missing credentials.
    for bad in ["dwm_0000", "", "web-1"] {
        let (status, _) = ship(bad, None, change("").as_bytes());
        assert_eq!(status, 401, "credential {bad:?}");
    }
    // Malformed JSON, an unknown column, a value of the wrong kind.
    let (status, body) = ship(&credential, None, b"{ not json");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("not valid"), "{body}");
    let (status, body) = ship(&credential, Some("gzip"), &gzip(change(r#","Secret":"x""#).as_bytes()));
    assert_eq!(status, 400);
    assert!(body.contains("unknown column \\\"Secret\\\""), "{body}");
    let (status, body) = ship(&credential, None, change(r#","Size":"big""#).as_bytes());
    assert_eq!(status, 400, "{body}");
    // A decompression bomb: a small body that inflates past the limit.
    let bomb = gzip(&vec![b' '; driftwatch_protocol::MAX_BATCH_INFLATED + 1024]);
    assert!(bomb.len() < 1 << 20);
    let (status, body) = ship(&credential, Some("gzip"), &bomb);
    assert_eq!(status, 413, "{body}");
    // Over the size limit as sent.
    let (status, _) = ship(
        &credential,
        None,
        &vec![b' '; driftwatch_protocol::MAX_BATCH_COMPRESSED + 1],
    );
    assert_eq!(status, 413);
    // A batch that does not follow on from what the server has.
    let (status, body) = ship(&credential, None, batch(5, 6, "").as_bytes());
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("\"position\":{\"change_id\":0"), "{body}");
    assert_eq!(stored(&postgres), (0, 0), "nothing stored");
    // A content sent under another content's hash.
    let path = format!("/v1/contents/{}", sha256_hex(b"what it says"));
    let (status, body) = send("PUT", &address, &path, &credential, None, b"something else");
    assert_eq!(status, 400, "{body}");
    let (status, body) = send("PUT", &address, "/v1/contents/not-a-hash", &credential, None, b"x");
    assert_eq!(status, 400, "{body}");
    let (status, _) = send("PUT", &address, &path, "dwm_0000", None, b"what it says");
    assert_eq!(status, 401);
    assert_eq!(server_count(&postgres, "SELECT count(*) FROM file_content"), 0);

    // A good batch naming another machine is stored as the sender's; sent
    // twice, it is stored once.
    for _ in 0..2 {
        let (status, body) = ship(&credential, None, change("").as_bytes());
        assert_eq!(status, 200, "{body}");
        assert_eq!(body, r#"{"change_id":1,"revision":0}"#);
    }
    assert_eq!(stored(&postgres), (1, 0));
    assert_eq!(
        postgres.psql("fleet", "SELECT \"Computer\" FROM \"ConfigurationChange\""),
        "web-1"
    );
    // A revoked machine ships nothing more.
    assert!(
        server_command(&database, &["machines", "revoke", "web-1"])
            .status
            .success()
    );
    let (status, _) = ship(&credential, None, batch(1, 2, "").as_bytes());
    assert_eq!(status, 401);
    assert_eq!(stored(&postgres), (1, 0));
}

/// Large batches go in by `COPY` when their items are new to the server;
/// when some are not, the batch is written row by row instead, and the
/// result is the same as for small batches.
#[test]
fn large_batches_land_whole_whether_their_items_are_new_or_not() {
    let postgres = Postgres::start();
    let database = postgres.new_database("fleet");
    let server = Server::start(&database, None);
    let secret = new_secret(&database, &[]);
    let machine = debian_image("bulk-1", &[("bash", "5.2-1")], &[]);
    machine.enroll(&server.url, &secret);
    let credential = machine.credential();
    let address = server.address().to_string();
    // Writes of items `keys` at revisions from + 1 …, with `version`.
    let batch = |from: i64, keys: std::ops::Range<usize>, version: &str, restart: bool| {
        let inventory: Vec<Value> = keys
            .enumerate()
            .map(|(n, key)| {
                serde_json::json!({"op": "write", "revision": from + 1 + n as i64, "row": {
                    "Collector": "dpkg", "ItemKey": format!("pkg{key:04}"), "ConfigDataType": "Software",
                    "TimeGenerated": "2026-12-02T10:00:00.000000Z", "SoftwareName": format!("pkg{key:04}"),
                    "CurrentVersion": version, "Computer": "someone-else"}})
            })
            .collect();
        let to = from + inventory.len() as i64;
        let body = serde_json::json!({"from": {"change_id": 0, "revision": from}, "to": {"change_id": 0, "revision": to},
            "changes": [], "inventory": inventory, "restart_inventory": restart});
        gzip(body.to_string().as_bytes())
    };
    let ship = |body: &[u8]| {
        let (status, answer) = post(&address, "/v1/ship", &credential, Some("gzip"), body);
        assert_eq!(status, 200, "{answer}");
        answer
    };
    let versions = || {
        postgres.psql(
            "fleet",
            "SELECT \"CurrentVersion\" || ' ' || count(*) || ' ' || min(\"Computer\") FROM \"ConfigurationData\" \
             GROUP BY \"CurrentVersion\" ORDER BY \"CurrentVersion\"",
        )
    };

    // A baseline of 1,000 items, then the same batch again: stored once.
    let baseline = batch(0, 0..1000, "1.0", true);
    for _ in 0..2 {
        assert_eq!(ship(&baseline), r#"{"change_id":0,"revision":1000}"#);
        assert_eq!(versions(), "1.0 1000 bulk-1");
    }
    // 600 writes, half of them to items the server has: they replace those.
    assert_eq!(
        ship(&batch(1000, 700..1300, "2.0", false)),
        r#"{"change_id":0,"revision":1600}"#
    );
    assert_eq!(versions(), "1.0 700 bulk-1\n2.0 600 bulk-1");
    // 600 writes of new items whose first 100 the server has from this
    // very batch (a repeat that overlaps): those are not written twice.
    let overlapping = batch(1500, 1200..1800, "3.0", false);
    assert_eq!(ship(&overlapping), r#"{"change_id":0,"revision":2100}"#);
    assert_eq!(versions(), "1.0 700 bulk-1\n2.0 600 bulk-1\n3.0 500 bulk-1");
    assert_eq!(stored(&postgres), (0, 1800));
    let (_, log) = server.stop();
    assert_eq!(
        log.matches("some items were here already").count(),
        1,
        "only the batch that replaced items went the careful way: {log}"
    );
}

/// Polls `check` every 200 ms; fails after `seconds`, showing `log()`.
fn wait_for(seconds: u64, what: &str, log: impl Fn() -> String, mut check: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !check() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(seconds),
            "timed out waiting for {what}; the agent logged:\n{}",
            log()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[test]
fn the_running_agent_ships_each_change_as_it_is_recorded() {
    let postgres = Postgres::start();
    let database = postgres.new_database("fleet");
    let server = Server::start(&database, None);
    let secret = new_secret(&database, &[]);
    let machine = debian_image("agent-1", &[("bash", "5.2-1")], &[("etc/app.conf", "port = 80\n")]);
    // Short intervals: first runs come within a second (a tenth of them).
    let quick = MANIFEST.replace("plugin = \"", "interval = \"10s\"\nplugin = \"");
    std::fs::write(machine.manifest(), quick).unwrap();

    // Enrolled while it runs: it ships without being restarted.
    let agent = RunningAgent::start(&machine);
    machine.enroll(&server.url, &secret);
    let logged = || agent.log();
    let changes = || {
        server_count(
            &postgres,
            "SELECT count(*) FROM \"ConfigurationChange\" WHERE \"Computer\" = 'agent-1'",
        )
    };

    wait_for(60, "the first shipment", logged, || {
        server_inventory(&postgres, "agent-1").len() == 2
    });
    assert_eq!(server_inventory(&postgres, "agent-1"), machine.inventory());
    machine.write("etc/app.conf", "port = 443\n");
    wait_for(30, "the change on the server", logged, || changes() == 1);
    assert_eq!(server_inventory(&postgres, "agent-1"), machine.inventory());

    let (exit, log) = agent.stop();
    assert_eq!(exit.code(), Some(0), "{log}");
    assert!(log.contains("shipping to http://"), "{log}");
    assert_eq!(changes(), 1, "nothing doubled");
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn captured_contents_travel_once_and_only_when_the_server_lacks_them() {
    let postgres = Postgres::start();
    let database = postgres.new_database("fleet");
    let server = Server::start(&database, None);
    let secret = new_secret(&database, &[]);
    let capture = MANIFEST.replace(
        "path = \"/etc/*.conf\"",
        "path = \"/etc/*.conf\"\n  capture_content = true",
    );
    let shared = "port = 80\n";
    let a = debian_image("web-a", &[], &[("etc/app.conf", shared), ("etc/own.conf", "a\n")]);
    let b = debian_image("web-b", &[], &[("etc/app.conf", shared), ("etc/own.conf", "b\n")]);
    for machine in [&a, &b] {
        std::fs::write(machine.manifest(), &capture).unwrap();
        machine.enroll(&server.url, &secret);
        machine.scan();
    }
    let content = |hash: &str| {
        postgres.psql(
            "fleet",
            &format!("SELECT convert_from(content, 'UTF8') FROM file_content WHERE sha256 = decode('{hash}', 'hex')"),
        )
    };
    // Three distinct contents; the shared one was sent by the first machine only.
    assert_eq!(server_count(&postgres, "SELECT count(*) FROM file_content"), 3);
    assert_eq!(content(&sha256_hex(shared.as_bytes())), shared.trim_end());
    assert_eq!(content(&sha256_hex(b"b\n")), "b");
    let sent = server.log().lines().filter(|l| l.contains("stored (")).count();
    assert_eq!(sent, 3, "{}", server.log());

    // A change: its new content travels, the old one is there already, and
    // the server can show both sides.
    a.write("etc/app.conf", "port = 443\n");
    a.scan();
    assert_eq!(server_count(&postgres, "SELECT count(*) FROM file_content"), 4);
    let sides = postgres.psql(
        "fleet",
        "SELECT convert_from(p.content, 'UTF8') || ' -> ' || convert_from(n.content, 'UTF8') \
         FROM \"ConfigurationChange\" c \
         JOIN file_content p ON p.sha256 = decode(c.\"PreviousContentHash\", 'hex') \
         JOIN file_content n ON n.sha256 = decode(c.\"ContentHash\", 'hex')",
    );
    assert_eq!(sides, "port = 80\n -> port = 443");
    assert_eq!(server.log().lines().filter(|l| l.contains("stored (")).count(), 4);
}

#[test]
fn prune_drops_whole_months_of_history_and_late_rows_still_land() {
    let postgres = Postgres::start();
    let database = postgres.new_database("fleet");
    let server = Server::start(&database, None);
    let secret = new_secret(&database, &[]);
    let machine = debian_image("old-1", &[], &[]);
    machine.enroll(&server.url, &secret);
    let credential = machine.credential();
    let batch = |from: i64, id: i64, time: &str| {
        format!(
            r#"{{"from":{{"change_id":{from},"revision":0}},"to":{{"change_id":{id},"revision":0}},"inventory":[],
               "changes":[{{"ChangeId":{id},"Collector":"dpkg","ItemKey":"bash","TimeGenerated":"{time}",
               "ConfigChangeType":"Software","ChangeCategory":"Added"}}]}}"#
        )
    };
    let now = postgres.psql(
        "fleet",
        "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
    );
    for (from, id, time) in [
        (0, 1, "2024-01-15T10:00:00Z"),
        (1, 2, "2024-02-01T00:00:00Z"),
        (2, 3, now.as_str()),
    ] {
        let (status, body) = post(
            server.address(),
            "/v1/ship",
            &credential,
            None,
            batch(from, id, time).as_bytes(),
        );
        assert_eq!(status, 200, "{body}");
    }
    let partitions = || {
        postgres.psql(
            "fleet",
            "SELECT string_agg(c.relname, ',' ORDER BY c.relname) FROM pg_inherits i \
             JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent \
             WHERE p.relname = 'ConfigurationChange'",
        )
    };
    assert!(
        partitions().starts_with("ConfigurationChange_2024_01,ConfigurationChange_2024_02,"),
        "{}",
        partitions()
    );

    let pruned = server_command(&database, &["prune", "--keep", "30d"]);
    assert!(pruned.status.success(), "{}", stderr(&pruned));
    assert!(
        stdout(&pruned)
            .contains("dropped 2 months of history: ConfigurationChange_2024_01, ConfigurationChange_2024_02"),
        "{}",
        stdout(&pruned)
    );
    assert!(!partitions().contains("2024"), "{}", partitions());
    assert_eq!(
        server_count(&postgres, "SELECT count(*) FROM \"ConfigurationChange\""),
        1
    );

    // A machine that was away a long time still gets its old changes in,
    // through a server that thought the partition was there.
    let (status, body) = post(
        server.address(),
        "/v1/ship",
        &credential,
        None,
        batch(3, 4, "2024-01-20T00:00:00Z").as_bytes(),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        server_count(&postgres, "SELECT count(*) FROM \"ConfigurationChange\""),
        2
    );
    let again = server_command(&database, &["prune", "--keep", "30d"]);
    assert!(
        stdout(&again).contains("dropped 1 month of history: ConfigurationChange_2024_01"),
        "{}",
        stdout(&again)
    );
}

#[test]
fn a_lost_first_acknowledgement_is_recovered_and_a_stranger_store_is_refused() {
    let postgres = Postgres::start();
    let database = postgres.new_database("fleet");
    let server = Server::start(&database, None);
    let secret = new_secret(&database, &[]);
    let machine = debian_image("first-1", &[("bash", "5.2-1")], &[("etc/app.conf", "port = 80\n")]);
    machine.enroll(&server.url, &secret);
    assert!(machine.scan().contains("Shipped"));
    machine.write("etc/app.conf", "port = 81\n");
    assert!(machine.scan().contains("Shipped 1 changes"));
    let forget = |sent: i64| {
        let store = rusqlite::Connection::open(machine.agent.state().join("driftwatch.db")).unwrap();
        store
            .execute("UPDATE ShipState SET ChangeId = 0, Revision = 0, Sent = ?1", [sent])
            .unwrap();
    };
    // The server stored the first batches, then went away before the
    // agent heard back: the agent goes on from where the server stands.
    forget(1);
    let resumed = machine.run(&["ship"]);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert!(stdout(&resumed).starts_with("Nothing to ship"), "{}", stdout(&resumed));
    assert_eq!(server_inventory(&postgres, "first-1"), machine.inventory());
    // A store that never sent anything under this name (a moved-aside
    // state database) is refused: its change ids are not the server's.
    forget(0);
    let refused = machine.run(&["ship"]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("it is not the one that sent them"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(
        server_count(&postgres, "SELECT count(*) FROM \"ConfigurationChange\""),
        1,
        "nothing doubled"
    );
    drop(server);
}
