//! End-to-end tests of the fleet: a real PostgreSQL (a throwaway cluster
//! made with `initdb` for each test), the real `driftwatch-server`, and the
//! real `driftwatch` agent talking to it over TLS.

#[path = "../fixtures/mod.rs"]
mod fixtures;
#[cfg(target_os = "linux")]
#[path = "../packaging/linux.rs"]
mod linux_packages;
mod postgres;
mod support;

mod alerts;
mod browser;
mod console;
mod enroll;
mod faults;
mod manifests;
#[cfg(target_os = "linux")]
mod packages;
mod query;
mod shipping;
