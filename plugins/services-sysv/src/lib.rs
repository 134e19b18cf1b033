//! driftwatch collector for SysV init services: `/etc/init.d` scripts, their
//! LSB headers, and the runlevels their `/etc/rc?.d` start links give them.
//! It serves systems that boot without systemd; where systemd runs, the
//! services-systemd collector reports these scripts through their units.

pub mod init;
pub mod lsb;

use driftwatch_sdk::prelude::*;
use driftwatch_sdk::tree::{Disk, Node, Tree};

/// Where systemd's vendor units live; their presence means systemd manages services.
const SYSTEMD_UNITS: [&str; 2] = ["/lib/systemd/system", "/usr/lib/systemd/system"];

struct SysV;

impl ServicesCollector for SysV {
    fn describe() -> Description {
        driftwatch_sdk::describe!("SysV init scripts and their runlevels", [OsFamily::Linux])
    }

    /// What it reads: init scripts, runlevel links, and systemd's units (which replace scripts of the same name).
    fn default_grants() -> Vec<String> {
        [
            "/etc/init.d",
            "/etc/rcS.d",
            "/etc/rc0.d",
            "/etc/rc1.d",
            "/etc/rc2.d",
            "/etc/rc3.d",
            "/etc/rc4.d",
            "/etc/rc5.d",
            "/etc/rc6.d",
            "/lib/systemd/system",
            "/usr/lib/systemd/system",
        ]
        .map(String::from)
        .to_vec()
    }

    fn probe() -> ProbeResult {
        let tree = Disk::sandbox();
        if tree.node(init::INIT_D) != Node::Dir {
            return ProbeResult::not_applicable(format!("no {}", init::INIT_D));
        }
        if let Some(dir) = SYSTEMD_UNITS.iter().find(|d| !tree.list(d).is_empty()) {
            return ProbeResult::not_applicable(format!("systemd manages services here ({dir})"));
        }
        ProbeResult::applies(format!("SysV init scripts in {}", init::INIT_D))
    }

    fn collect(_settings: ServiceSettings) -> Result<Collection<Service>, CollectError> {
        let scan = init::scan(&Disk::sandbox());
        for oddity in scan.oddities {
            run_warning(oddity.subject, oddity.message);
        }
        Ok(scan
            .scripts
            .into_iter()
            .map(|script| {
                let header = script.header.unwrap_or_default();
                let description = if header.short_description.is_empty() {
                    header.description
                } else {
                    header.short_description
                };
                Service {
                    startup_type: if script.runlevels.is_empty() {
                        "disabled"
                    } else {
                        "enabled"
                    }
                    .into(),
                    path: script.path,
                    runlevels: script.runlevels.join(","),
                    description,
                    ..Service::new(script.name)
                }
            })
            .collect())
    }
}

driftwatch_sdk::export_collector!(services: SysV);
