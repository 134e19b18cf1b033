//! driftwatch collector for Windows services: their configuration from the
//! registry (`SYSTEM\CurrentControlSet\Services`, live or from an offline
//! image's SYSTEM hive) and, on a live machine, their state from the Service
//! Control Manager. Drivers are left out unless `include-drivers = true`.

pub mod service;

use std::collections::HashMap;

use driftwatch_sdk::prelude::*;
use driftwatch_sdk::registry::{Registry, RegistryError};
use driftwatch_sdk::service_manager::{self, State};

/// Where Windows keeps its services and drivers.
pub const SERVICES_KEY: &str = r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services";

struct ServicesWindows;

impl ServicesCollector for ServicesWindows {
    fn describe() -> Description {
        driftwatch_sdk::describe!(
            "Windows services: configuration from the registry, state from the Service Control Manager",
            [OsFamily::Windows]
        )
    }

    /// What it reads: an image's SYSTEM hive, and live the Services key.
    fn default_grants() -> Vec<String> {
        [
            "/Windows/System32/config",
            r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services",
        ]
        .map(String::from)
        .to_vec()
    }

    fn probe() -> ProbeResult {
        if machine().os != OsFamily::Windows {
            return ProbeResult::not_applicable("not a Windows system");
        }
        let registry = Registry::open();
        match registry.key(SERVICES_KEY) {
            Ok(Some(_)) => ProbeResult::applies(format!("services in {}", source(&registry))),
            Ok(None) => ProbeResult::not_applicable(format!("no {SERVICES_KEY} in {}", source(&registry))),
            // Windows, but the registry cannot be read: collecting says why.
            Err(error) => ProbeResult::applies(format!("a Windows system ({error})")),
        }
    }

    fn collect(settings: ServiceSettings) -> Result<Collection<Service>, CollectError> {
        let include_drivers = option(&settings.options, "include-drivers") == Some("true");
        let registry = Registry::open();
        let states = if registry.is_live() {
            match service_manager::statuses() {
                Ok(statuses) => Some(statuses.into_iter().map(|s| (s.name.to_lowercase(), s.state)).collect()),
                Err(error) => {
                    run_warning("Service Control Manager", format!("states are unknown: {error}"));
                    None
                }
            }
        } else {
            None
        };
        let services = collect_from(&registry, include_drivers, states.as_ref()).map_err(to_collect_error)?;
        Ok(Collection::from_vec(services))
    }
}

driftwatch_sdk::export_collector!(services: ServicesWindows);

/// The services under [`SERVICES_KEY`], with live states when known. Damaged
/// service keys are skipped with a warning and make the collection incomplete.
pub fn collect_from(
    registry: &Registry,
    include_drivers: bool,
    states: Option<&HashMap<String, State>>,
) -> Result<Vec<Service>, RegistryError> {
    let services_key = registry
        .key(SERVICES_KEY)?
        .ok_or_else(|| RegistryError::Unavailable(format!("{SERVICES_KEY} does not exist")))?;
    let mut services = Vec::new();
    for key in services_key.subkeys()? {
        match service::from_key(&key, include_drivers) {
            Ok(Some(mut found)) => {
                if let Some(states) = states {
                    found.state = states
                        .get(&found.name.to_lowercase())
                        .map_or(ServiceState::Unknown, state);
                }
                services.push(found);
            }
            Ok(None) => {}
            Err(error) => {
                run_warning(key.path(), error.to_string());
                incomplete(format!("{} could not be read", key.path()));
            }
        }
    }
    for problem in registry.take_warnings() {
        run_warning("registry", problem);
    }
    Ok(services)
}

fn state(state: &State) -> ServiceState {
    match state {
        State::Stopped => ServiceState::Stopped,
        State::StartPending => ServiceState::StartPending,
        State::StopPending => ServiceState::StopPending,
        State::Running => ServiceState::Running,
        State::ContinuePending => ServiceState::ContinuePending,
        State::PausePending => ServiceState::PausePending,
        State::Paused => ServiceState::Paused,
    }
}

fn source(registry: &Registry) -> &'static str {
    if registry.is_live() {
        "the live registry"
    } else {
        "the image's SYSTEM hive"
    }
}

fn to_collect_error(error: RegistryError) -> CollectError {
    match error {
        RegistryError::Unavailable(m) => CollectError::NotFound(m),
        other => CollectError::Unreadable(other.to_string()),
    }
}

#[cfg(test)]
mod tests;
