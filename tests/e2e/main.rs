//! End-to-end tests: the real binary, real plugins, fixture trees.

#[path = "../fixtures/mod.rs"]
mod fixtures;
#[cfg(target_os = "linux")]
#[path = "../packaging/linux.rs"]
mod linux_packages;
mod support;

mod agent;
mod alerts;
mod churn;
mod cli;
mod content;
mod dpkg;
mod history;
mod languages;
mod linux;
mod names;
mod outputs;
#[cfg(target_os = "linux")]
mod packages;
mod sandbox;
mod scaffold;
mod sdk;
mod watch;
mod windows;
