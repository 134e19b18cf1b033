//! Live states of Windows services, from the Service Control Manager through
//! the host's `service-manager` import (contract 0.1.2). Services collectors
//! only; an offline image or another OS answers with an error.

pub use crate::bindings::service_manager::{ServiceStatus, State};

/// Every Win32 service and its state.
pub fn statuses() -> Result<Vec<ServiceStatus>, String> {
    #[cfg(target_arch = "wasm32")]
    {
        crate::bindings::service_manager::statuses()
    }
    // Natively (unit tests) there is no host.
    #[cfg(not(target_arch = "wasm32"))]
    {
        Err("no host to ask (not running as a plugin)".into())
    }
}
