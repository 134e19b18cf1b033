//! The agent's Linux packages (the checks shared with the fleet server's
//! are in tests/packaging/linux.rs): the service enabled on install, the
//! state folder kept until purge, and the installed binary scanning this
//! machine with the packaged manifest.

use std::path::Path;
use std::process::Command;

use crate::linux_packages::{Package, check_deb, check_rpm};
use crate::support::*;

const AGENT: Package = Package {
    name: "driftwatch",
    binary: env!("CARGO_BIN_EXE_driftwatch"),
    config: "manifest.toml",
    config_mode: 0o644,
    pages: &[
        "driftwatch",
        "driftwatch-scan",
        "driftwatch-run",
        "driftwatch-plugin-new",
    ],
    state: Some("var/lib/driftwatch"),
    enabled_on_install: true,
};

#[test]
fn the_deb_installs_upgrades_keeping_the_manifest_and_state_and_purges() {
    check_deb(&AGENT, |root: &Path, binary: &Path| {
        let unit = std::fs::read_to_string(root.join("lib/systemd/system/driftwatch.service")).unwrap();
        assert!(unit.contains(
            "ExecStart=/usr/bin/driftwatch --manifest /etc/driftwatch/manifest.toml --state /var/lib/driftwatch run"
        ));
        // The installed binary scans this machine, with the packaged manifest.
        let scan = Command::new(binary)
            .arg("--manifest")
            .arg(root.join("etc/driftwatch/manifest.toml"))
            .arg("--state")
            .arg(root.join("var/lib/driftwatch"))
            .arg("scan")
            .output()
            .unwrap();
        assert!(scan.status.success(), "{}", stderr(&scan));
        assert!(stdout(&scan).contains("collected"), "{}", stdout(&scan));
        assert!(root.join("var/lib/driftwatch/driftwatch.db").is_file());
    });
}

#[test]
fn the_rpm_installs_into_a_scratch_root_and_keeps_the_edited_config_across_an_upgrade() {
    check_rpm(&AGENT);
}
