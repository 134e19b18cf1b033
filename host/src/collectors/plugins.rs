//! Loading the plugins a manifest names, each once, and deciding which
//! manifest entries can run on this machine.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::catalog::PluginRef;
use crate::kind::Os;
use crate::machine::Machine;
use crate::manifest::CollectorSpec;
use crate::runtime::{Plugin, Runtime};

/// The plugins a manifest refers to, each loaded once.
#[derive(Default)]
pub struct LoadedPlugins {
    plugins: BTreeMap<PluginRef, Result<Arc<Plugin>, String>>,
}

impl LoadedPlugins {
    pub fn load<'a>(runtime: &Runtime, refs: impl IntoIterator<Item = &'a PluginRef>) -> LoadedPlugins {
        let mut plugins = BTreeMap::new();
        for plugin_ref in refs {
            if plugins.contains_key(plugin_ref) {
                continue;
            }
            let loaded = plugin_ref
                .wasm()
                .and_then(|wasm| runtime.load(&plugin_ref.to_string(), &wasm))
                .map(Arc::new)
                .map_err(|e| e.to_string());
            if let Err(error) = &loaded {
                tracing::error!("{error}");
            }
            plugins.insert(plugin_ref.clone(), loaded);
        }
        LoadedPlugins { plugins }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&PluginRef, &Result<Arc<Plugin>, String>)> {
        self.plugins.iter()
    }

    fn get(&self, plugin_ref: &PluginRef) -> Result<&Arc<Plugin>, String> {
        match self.plugins.get(plugin_ref) {
            Some(Ok(plugin)) => Ok(plugin),
            Some(Err(error)) => Err(error.clone()),
            None => Err(format!("plugin {plugin_ref} was not loaded")),
        }
    }
}

/// Whether a manifest entry can run on this machine.
pub enum Selection {
    /// `enabled = false`.
    Disabled,
    /// Its `os` list, or its plugin's platforms, leave this machine out.
    OtherOs(Vec<Os>),
    /// The plugin cannot be used.
    Unusable(String),
    Ready(Arc<Plugin>),
}

impl Selection {
    /// Why an entry that is not ready does not run here, in words.
    pub fn reason(&self, machine: &Machine) -> Option<String> {
        match self {
            Selection::Disabled => Some("disabled in the manifest".into()),
            Selection::OtherOs(os) => {
                let list: Vec<_> = os.iter().map(|o| o.as_str()).collect();
                Some(format!("for {} only; this machine is {}", list.join(", "), machine.os))
            }
            Selection::Unusable(error) => Some(error.clone()),
            Selection::Ready(_) => None,
        }
    }
}

pub fn select(spec: &CollectorSpec, machine: &Machine, plugins: &LoadedPlugins) -> Selection {
    if !spec.enabled {
        return Selection::Disabled;
    }
    if !spec.runs_on(machine.os) {
        return Selection::OtherOs(spec.os.clone());
    }
    match plugins.get(&spec.plugin) {
        Err(error) => Selection::Unusable(error),
        Ok(plugin) if plugin.kind() != spec.kind => Selection::Unusable(format!(
            "plugin {} is a {} collector, but the manifest entry is of kind {}",
            spec.plugin,
            plugin.kind(),
            spec.kind
        )),
        // A plugin declares the systems it serves: elsewhere it is not even probed.
        Ok(plugin) if !plugin.info().platforms.is_empty() && !plugin.info().platforms.contains(&machine.os) => {
            Selection::OtherOs(plugin.info().platforms.clone())
        }
        Ok(plugin) => Selection::Ready(plugin.clone()),
    }
}
