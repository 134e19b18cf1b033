//! Prints `name<TAB>state` for every service unit under a root, the way
//! `systemctl --root=ROOT list-unit-files --type=service` does — for checking
//! the collector's logic against systemd itself.
//!
//!     cargo run -p services-systemd --example unit_states -- / [.service]

fn main() {
    let root = std::env::args().nth(1).unwrap_or_else(|| "/".into());
    let suffix = std::env::args().nth(2).unwrap_or_else(|| ".service".into());
    let tree = driftwatch_sdk::tree::Disk::under(root);
    for unit in services_systemd::units::units(&tree, &suffix) {
        println!("{}\t{}", unit.name, unit.state);
    }
}
