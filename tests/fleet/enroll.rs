//! Enrollment: secrets, credentials, revocation, TLS, several servers on
//! one database.

use std::io::{Read, Write};
use std::net::TcpStream;

use serde_json::Value;

use crate::postgres::Postgres;
use crate::support::*;

/// The status code of `GET path` with a bearer credential, over plain HTTP.
fn http_status(server_url: &str, path: &str, credential: &str) -> u16 {
    let address = server_url.strip_prefix("http://").expect("a plain HTTP server");
    let mut stream = TcpStream::connect(address).expect("connect");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {credential}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer}"))
}

fn machines(database: &str) -> Vec<Value> {
    let output = server_command(database, &["machines", "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    stdout(&output)
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect()
}

#[test]
fn machines_enroll_over_tls_with_a_secret_and_revoked_ones_are_cut_off() {
    let postgres = Postgres::start();
    let database = postgres.new_database("fleet");
    let certs = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificates(certs.path());
    let server = Server::start(&database, Some((&cert, &key)));
    assert!(server.url.starts_with("https://127.0.0.1:"), "{}", server.url);
    let ca = ca.to_str().unwrap();
    let secret = new_secret(&database, &["--group", "web", "--uses", "2", "--expires", "1h"]);
    assert!(secret.starts_with("dwe_"), "{secret}");

    // A server certificate nobody vouched for is refused, and nothing is kept.
    let web1 = AgentState::new();
    let untrusted = web1.enroll(&server.url, &secret, None, "web-1");
    assert_eq!(untrusted.status.code(), Some(1), "{}", stderr(&untrusted));
    assert!(stderr(&untrusted).contains("certificate"), "{}", stderr(&untrusted));
    assert!(!web1.state().join("fleet.json").exists());

    let enrolled = web1.enroll(&server.url, &secret, Some(ca), "web-1");
    assert!(enrolled.status.success(), "{}", stderr(&enrolled));
    assert!(
        stdout(&enrolled).contains("enrolled as web-1 in web"),
        "{}",
        stdout(&enrolled)
    );
    let membership = web1.membership();
    assert_eq!(membership["machine"], "web-1");
    assert_eq!(membership["server"], server.url.as_str());
    let credential = membership["credential"].as_str().unwrap().to_string();
    assert!(credential.starts_with("dwm_") && credential.len() == 68, "{credential}");
    assert!(membership["ca"].as_str().unwrap().contains("BEGIN CERTIFICATE"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(web1.state().join("fleet.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // The database keeps digests only.
    assert_eq!(
        postgres.psql(
            "fleet",
            &format!(
                "SELECT count(*) FROM credential WHERE credential_hash = sha256(convert_to('{credential}', 'UTF8'))"
            )
        ),
        "1"
    );
    assert_eq!(
        postgres.psql(
            "fleet",
            &format!(
                "SELECT count(*) FROM enrollment_secret WHERE secret_hash = sha256(convert_to('{secret}', 'UTF8'))"
            )
        ),
        "1"
    );

    // The name is taken while web-1 is enrolled.
    let again = AgentState::new().enroll(&server.url, &secret, Some(ca), "web-1");
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains("(409)") && stderr(&again).contains("enrolled already"),
        "{}",
        stderr(&again)
    );

    // The second use of the secret, then none left.
    let web2 = AgentState::new();
    let enrolled = web2.enroll(&server.url, &secret, Some(ca), "web-2");
    assert!(enrolled.status.success(), "{}", stderr(&enrolled));
    let used_up = AgentState::new().enroll(&server.url, &secret, Some(ca), "web-3");
    assert_eq!(used_up.status.code(), Some(1));
    assert!(
        stderr(&used_up).contains("(403)") && stderr(&used_up).contains("used up"),
        "{}",
        stderr(&used_up)
    );
    let wrong = AgentState::new().enroll(&server.url, "dwe_nope", Some(ca), "web-4");
    assert!(stderr(&wrong).contains("(403)"), "{}", stderr(&wrong));

    let listed = machines(&database);
    let names: Vec<&str> = listed.iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["web-1", "web-2"]);
    assert_eq!(listed[0]["groups"], serde_json::json!(["web"]));
    assert_eq!(listed[0]["os"], std::env::consts::OS);
    assert!(
        listed[0]["last_seen"].is_string(),
        "enroll checked the credential: {listed:?}"
    );
    assert!(listed[0]["revoked_at"].is_null());

    // Groups can change after enrollment.
    for (action, groups) in [
        ("join", serde_json::json!(["db", "web"])),
        ("leave", serde_json::json!(["web"])),
    ] {
        let changed = server_command(&database, &["machines", action, "web-2", "db"]);
        assert!(changed.status.success(), "{}", stderr(&changed));
        assert_eq!(machines(&database)[1]["groups"], groups);
    }
    let nobody = server_command(&database, &["machines", "join", "web-9", "db"]);
    assert_eq!(nobody.status.code(), Some(1));

    // A second server on the same database knows the same machines.
    let plain = Server::start(&database, None);
    assert_eq!(http_status(&plain.url, "/v1/identity", &credential), 200);
    assert_eq!(http_status(&plain.url, "/v1/identity", "dwm_forged"), 401);

    // Revoked: its credential stops working at once, on every server.
    let revoke = server_command(&database, &["machines", "revoke", "web-1"]);
    assert!(revoke.status.success(), "{}", stderr(&revoke));
    assert_eq!(http_status(&plain.url, "/v1/identity", &credential), 401);
    assert!(machines(&database)[0]["revoked_at"].is_string());
    let unknown = server_command(&database, &["machines", "revoke", "web-9"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        stderr(&unknown).contains("no enrolled machine is named \"web-9\""),
        "{}",
        stderr(&unknown)
    );

    // A revoked name can enroll again with a new secret, and gets a new credential.
    let fresh = new_secret(&database, &[]);
    let enrolled = web1.enroll(&server.url, &fresh, Some(ca), "web-1");
    assert!(enrolled.status.success(), "{}", stderr(&enrolled));
    let renewed = web1.membership()["credential"].as_str().unwrap().to_string();
    assert_ne!(renewed, credential);
    assert_eq!(http_status(&plain.url, "/v1/identity", &renewed), 200);
    assert_eq!(http_status(&plain.url, "/v1/identity", &credential), 401);

    // SIGTERM: both servers stop cleanly.
    for server in [server, plain] {
        let (exit, log) = server.stop();
        assert_eq!(exit.code(), Some(0), "{log}");
        assert!(
            log.contains("SIGTERM: stopping") && log.contains("server stopped"),
            "{log}"
        );
    }
}

#[test]
fn an_expired_secret_is_refused() {
    let postgres = Postgres::start();
    let database = postgres.new_database("fleet");
    // Administration commands check the schema; only `migrate` and `serve`
    // change it.
    let early = server_command(&database, &["secret", "new"]);
    assert!(!early.status.success());
    assert!(
        stderr(&early).contains("run `driftwatch-server migrate`"),
        "{}",
        stderr(&early)
    );
    let migrated = server_command(&database, &["migrate"]);
    assert!(migrated.status.success(), "{}", stderr(&migrated));
    let secret = new_secret(&database, &["--expires", "1h"]);
    postgres.psql(
        "fleet",
        "UPDATE enrollment_secret SET expires_at = now() - interval '1 second'",
    );
    let server = Server::start(&database, None);
    let refused = AgentState::new().enroll(&server.url, &secret, None, "late");
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("(403)") && stderr(&refused).contains("expired"),
        "{}",
        stderr(&refused)
    );
    assert!(machines(&database).is_empty());
}

#[test]
fn servers_migrating_one_database_at_once_apply_each_migration_once() {
    let postgres = Postgres::start();
    let database = postgres.new_database("fleet");
    let migrations: Vec<_> = (0..4)
        .map(|_| {
            let database = database.clone();
            std::thread::spawn(move || server_command(&database, &["migrate"]))
        })
        .collect();
    let mut applied = 0;
    for migration in migrations {
        let output = migration.join().unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
        let text = stdout(&output);
        if !text.contains("(0 migrations applied)") {
            applied += 1;
        }
    }
    assert_eq!(applied, 1, "one process applied the migrations");
    assert_eq!(
        postgres.psql("fleet", "SELECT count(*) = max(version) FROM schema_migration"),
        "t"
    );
}

#[test]
fn plain_http_is_for_loopback_only_and_a_bad_database_is_a_clear_error() {
    let output = server_command(
        "postgres://nobody@127.0.0.1:1/none",
        &["serve", "--listen", "0.0.0.0:0", "--insecure-http"],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("plain HTTP only on a loopback address"),
        "{}",
        stderr(&output)
    );
    let output = server_command(
        "postgres://nobody@127.0.0.1:1/none",
        &["serve", "--listen", "127.0.0.1:0"],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("--tls-cert"), "{}", stderr(&output));
    let output = server_command("postgres://nobody@127.0.0.1:1/none", &["migrate"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("no database connection"),
        "{}",
        stderr(&output)
    );
    let output = server_command("not a url", &["migrate"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("database address is not valid"),
        "{}",
        stderr(&output)
    );
}
