//! Whether a service is running, where that can be seen: on the live machine,
//! with systemd as init, from the service's control group. Anywhere else the
//! state is Unknown — never guessed.

use driftwatch_sdk::ServiceState;

use driftwatch_sdk::tree::{Node, Tree, join};

/// systemd creates this when it runs as init (what `sd_booted()` checks).
const BOOTED_MARK: &str = "/run/systemd/system";
/// Where services' control groups are, cgroup v2 first, then v1.
const CGROUP_SLICES: [&str; 2] = ["/sys/fs/cgroup/system.slice", "/sys/fs/cgroup/systemd/system.slice"];

pub struct LiveState {
    slices: Option<&'static str>,
}

impl LiveState {
    /// What can be known on this machine: nothing offline or without systemd.
    pub fn probe(tree: &dyn Tree, live: bool) -> LiveState {
        let booted = live && tree.node(BOOTED_MARK) == Node::Dir;
        LiveState {
            slices: booted
                .then(|| CGROUP_SLICES.into_iter().find(|dir| tree.node(dir) == Node::Dir))
                .flatten(),
        }
    }

    /// Running when the unit's control group holds processes.
    pub fn of(&self, tree: &dyn Tree, unit: &str, masked_or_template: bool) -> ServiceState {
        let Some(slices) = self.slices else {
            return ServiceState::Unknown;
        };
        if masked_or_template {
            return ServiceState::Unknown;
        }
        let procs = tree
            .read(&join(&join(slices, unit), "cgroup.procs"))
            .unwrap_or_default();
        if procs.trim().is_empty() {
            ServiceState::Stopped
        } else {
            ServiceState::Running
        }
    }
}
