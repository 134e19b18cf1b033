//! The agent as a Windows service.
//!
//! - `control`: `driftwatch service install | uninstall | start | stop`,
//!   through the Service Control Manager (SCM).
//! - `dispatch`: what the SCM starts (`driftwatch.exe … service run`): it
//!   connects to the SCM first, reports start pending → running → stop
//!   pending → stopped, and runs the agent until the SCM says stop,
//!   shutdown or preshutdown.
//! - `logging`: a service has no console: its log goes to a file under the
//!   state directory, rotated daily, and errors also to the event log.

mod control;
mod dispatch;
mod logging;

use std::path::PathBuf;

pub use control::{Installation, install, start, stop, uninstall};
pub use dispatch::{Launch, run};
pub use logging::init as init_logging;

/// The service's name, as `sc` and `services.msc` show it.
pub const SERVICE_NAME: &str = "driftwatch";

/// Where a service keeps its state unless told otherwise:
/// `%ProgramData%\driftwatch`, shared by every account.
pub fn default_state_dir() -> PathBuf {
    std::env::var_os("ProgramData")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(r"C:\ProgramData"))
        .join("driftwatch")
}
