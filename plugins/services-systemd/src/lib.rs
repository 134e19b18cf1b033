//! driftwatch collector for systemd services (Linux daemons): unit files from
//! the whole search path, their enablement in systemd's own words, what they
//! run, and — on a live machine booted with systemd — whether they run.

pub mod live;
pub mod unit_file;
pub mod units;

use driftwatch_sdk::prelude::*;

use driftwatch_sdk::tree::{Disk, Node, Tree};
use live::LiveState;

struct Systemd;

impl ServicesCollector for Systemd {
    fn describe() -> Description {
        driftwatch_sdk::describe!("systemd services and their enablement", [OsFamily::Linux])
    }

    /// What it reads: unit folders along systemd's search path, its runtime state, and the cgroup tree (which units run).
    fn default_grants() -> Vec<String> {
        [
            "/etc/systemd",
            "/run/systemd",
            "/lib/systemd",
            "/usr/lib/systemd",
            "/usr/local/lib/systemd",
            "/sys/fs/cgroup",
        ]
        .map(String::from)
        .to_vec()
    }

    fn probe() -> ProbeResult {
        let tree = disk();
        let found = units::SEARCH_PATH
            .iter()
            .filter(|dir| !dir.starts_with("/run/"))
            .find(|dir| tree.node(dir) == Node::Dir && !tree.list(dir).is_empty());
        match found {
            Some(dir) => ProbeResult::applies(format!("systemd unit files in {dir}")),
            None => ProbeResult::not_applicable(
                "no systemd unit files (/lib/systemd/system, /usr/lib/systemd/system, /etc/systemd/system)",
            ),
        }
    }

    fn collect(_settings: ServiceSettings) -> Result<Collection<Service>, CollectError> {
        let tree = disk();
        let live = LiveState::probe(&tree, machine().live);
        let services = units::units(&tree, ".service")
            .into_iter()
            .map(|unit| {
                if unit.state == "bad" {
                    run_warning(&unit.path, "the unit file is a dangling or looping symlink");
                }
                let file = unit.file.unwrap_or_default();
                let account = match (file.value("Service", "User"), file.value("Service", "DynamicUser")) {
                    (Some(user), _) => user.to_string(),
                    (None, Some("yes" | "true" | "1" | "on")) => "dynamic".to_string(),
                    (None, _) if unit.state == "masked" || unit.state == "masked-runtime" => String::new(),
                    (None, _) => "root".to_string(),
                };
                let inert = unit.state.starts_with("masked") || unit.name.contains("@.");
                Service {
                    state: live.of(&tree, &unit.name, inert),
                    startup_type: unit.state.to_string(),
                    path: unit_file::exec_start(&file),
                    account,
                    description: file.value("Unit", "Description").unwrap_or_default().to_string(),
                    ..Service::new(unit.name)
                }
            })
            .collect::<Vec<_>>();
        if services.is_empty() {
            return Err(CollectError::NotFound("no systemd unit files".into()));
        }
        Ok(Collection::from_vec(services))
    }
}

driftwatch_sdk::export_collector!(services: Systemd);

fn disk() -> Disk {
    Disk::sandbox()
}
