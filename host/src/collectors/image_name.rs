//! The name a Windows image gives itself: `ComputerName` in its SYSTEM
//! hive, read by the bundled registry plugin in its sandbox like any
//! other registry value (the host never parses a hive itself).

use std::path::Path;

use super::plugins::{LoadedPlugins, Selection, select};
use super::sandboxed::{Ended, Job};
use crate::content_store::ContentStore;
use crate::inventory::Value;
use crate::kind::Os;
use crate::machine::{Machine, plausible_name};
use crate::manifest::Manifest;
use crate::runtime::Runtime;

/// A registry collector of the one value, as a manifest would say it.
const COMPUTER_NAME: &str = r#"
[[collector]]
name = "computer-name"
kind = "registry"
plugin = "registry-windows"
timeout = "30s"

  [[collector.keys]]
  name = "computer-name"
  key = 'HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Control\ComputerName\ComputerName'
"#;

/// The image's computer name, when it is a Windows image that has a
/// plausible one; `None` otherwise (the reason is logged).
pub fn windows_image_name(machine: &Machine, state_dir: &Path) -> Option<String> {
    if machine.os != Os::Windows || machine.is_live() {
        return None;
    }
    match read(machine, state_dir) {
        Ok(Some(name)) if plausible_name(&name) => Some(name),
        Ok(Some(name)) => {
            tracing::warn!("the image's ComputerName {name:?} is not a usable machine name");
            None
        }
        Ok(None) => {
            tracing::info!("the image's registry has no ComputerName");
            None
        }
        Err(error) => {
            tracing::warn!("cannot read the image's ComputerName: {error}");
            None
        }
    }
}

fn read(machine: &Machine, state_dir: &Path) -> Result<Option<String>, String> {
    let manifest = Manifest::parse(COMPUTER_NAME, "<computer name>", Path::new("/")).map_err(|e| e.to_string())?;
    let spec = manifest
        .collectors
        .first()
        .ok_or("the computer-name collector is missing")?;
    let runtime = Runtime::new(machine.facts(), Some(state_dir.join("plugin-cache"))).map_err(|e| e.to_string())?;
    let plugins = LoadedPlugins::load(&runtime, [&spec.plugin]);
    let plugin = match select(spec, machine, &plugins) {
        Selection::Ready(plugin) => plugin,
        other => return Err(other.reason(machine).unwrap_or_else(|| "the plugin cannot run".into())),
    };
    let spec = super::grants::effective(spec, &plugin);
    let job = Job::new(&plugin, &spec, machine, None, &ContentStore::in_state_dir(state_dir));
    let (ended, items) = job.collect_all().map_err(|e| e.to_string())?;
    if let Ended::NotApplicable(reason) = ended {
        return Err(reason);
    }
    Ok(items.iter().find_map(|item| {
        let named =
            matches!(item.get("ValueName"), Some(Value::Text(name)) if name.eq_ignore_ascii_case("ComputerName"));
        match item.get("ValueData") {
            Some(Value::Text(data)) if named => Some(data.trim().to_string()),
            _ => None,
        }
    }))
}
