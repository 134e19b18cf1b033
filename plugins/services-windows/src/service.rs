//! One service's registry key as a `WindowsServices` record.

use driftwatch_sdk::Service;
use driftwatch_sdk::registry::{Key, RegistryError, Value};

/// Service types that run in a process of their own or a shared one (with or
/// without `SERVICE_INTERACTIVE_PROCESS`, and per-user services too); the
/// other types are drivers.
const WIN32: u64 = 0x10 | 0x20;

/// The record of a service key; `None` for drivers (unless asked for) and
/// for keys that are not services at all (no `Type`).
pub fn from_key(key: &Key, include_drivers: bool) -> Result<Option<Service>, RegistryError> {
    let values = key.values()?;
    let get = |name: &str| values.iter().find(|v| v.name.eq_ignore_ascii_case(name));
    let text = |name: &str| get(name).and_then(Value::as_string).unwrap_or_default();
    let Some(service_type) = get("Type").and_then(Value::as_number) else {
        return Ok(None);
    };
    let win32 = service_type & WIN32 != 0;
    if !win32 && !include_drivers {
        return Ok(None);
    }
    let delayed = get("DelayedAutostart").and_then(Value::as_number) == Some(1);
    let account = match text("ObjectName") {
        // Win32 services without an account run as LocalSystem.
        name if name.is_empty() && win32 => "LocalSystem".to_string(),
        name => name,
    };
    Ok(Some(Service {
        display_name: text("DisplayName"),
        startup_type: startup_type(get("Start").and_then(Value::as_number), delayed),
        path: text("ImagePath"),
        account,
        description: text("Description"),
        ..Service::new(key.name())
    }))
}

/// `Start` in the words of the Services console.
pub fn startup_type(start: Option<u64>, delayed: bool) -> String {
    match start {
        Some(0) => "Boot".into(),
        Some(1) => "System".into(),
        Some(2) if delayed => "Automatic (Delayed Start)".into(),
        Some(2) => "Automatic".into(),
        Some(3) => "Manual".into(),
        Some(4) => "Disabled".into(),
        Some(other) => format!("Unknown ({other})"),
        None => String::new(),
    }
}
