//! The fleet server's Linux packages (the checks shared with the agent's
//! are in tests/packaging/linux.rs): the service installed but not enabled,
//! `server.env` readable by root alone, and the installed binary bringing a
//! real PostgreSQL's schema up to date.

use std::path::Path;
use std::process::Command;

use crate::linux_packages::{Package, check_deb, check_rpm};
use crate::postgres::Postgres;
use crate::support::*;

const SERVER: Package = Package {
    name: "driftwatch-server",
    binary: env!("CARGO_BIN_EXE_driftwatch-server"),
    config: "server.env",
    config_mode: 0o600,
    pages: &[
        "driftwatch-server",
        "driftwatch-server-serve",
        "driftwatch-server-migrate",
        "driftwatch-server-secret-new",
    ],
    state: None,
    enabled_on_install: false,
};

#[test]
fn the_server_deb_installs_upgrades_keeping_server_env_and_purges() {
    check_deb(&SERVER, |root: &Path, binary: &Path| {
        let unit = std::fs::read_to_string(root.join("lib/systemd/system/driftwatch-server.service")).unwrap();
        assert!(unit.contains("EnvironmentFile=/etc/driftwatch/server.env"), "{unit}");
        // The installed binary migrates a real database, its address from
        // the environment as server.env gives it.
        let postgres = Postgres::start();
        let database = postgres.new_database("packaged");
        let migrate = Command::new(binary)
            .env("DRIFTWATCH_DATABASE", &database)
            .arg("migrate")
            .output()
            .unwrap();
        assert!(migrate.status.success(), "{}", stderr(&migrate));
        assert!(
            stdout(&migrate).starts_with("database schema up to date"),
            "{}",
            stdout(&migrate)
        );
    });
}

#[test]
fn the_server_rpm_installs_into_a_scratch_root_and_keeps_server_env_across_an_upgrade() {
    check_rpm(&SERVER);
}
