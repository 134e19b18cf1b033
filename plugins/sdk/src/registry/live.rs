//! The live registry, through the host's `registry-access` import.

use std::collections::HashMap;

use super::{Key, KeyData, Registry, RegistryError, Value, View};
use crate::bindings::registry_access::{self as wit, RegistryError as WitError};

/// Keys asked for per call when reading a level of subkeys.
const LEVEL_BATCH: u32 = 10_000;

pub(super) struct LiveKey {
    view: View,
    subkeys: Vec<String>,
    values: Vec<Value>,
}

pub(super) fn key<'r>(registry: &'r Registry, path: &str, view: View) -> Result<Option<Key<'r>>, RegistryError> {
    match read(path, view, 0, 1) {
        Ok(keys) => Ok(keys
            .into_iter()
            .next()
            .map(|k| to_key(registry, path.to_string(), k, view))),
        Err(WitError::NotFound(_)) => Ok(None),
        Err(error) => Err(convert(error)),
    }
}

fn to_key(registry: &Registry, path: String, key: wit::Key, view: View) -> Key<'_> {
    Key {
        registry,
        path,
        last_write: key.last_write,
        data: KeyData::Live(LiveKey {
            view,
            subkeys: key.subkeys,
            values: key
                .values
                .into_iter()
                .map(|v| Value {
                    name: v.name,
                    value_type: v.value_type,
                    data: v.data,
                })
                .collect(),
        }),
    }
}

impl LiveKey {
    pub fn subkey_names(&self) -> Vec<String> {
        self.subkeys.clone()
    }

    pub fn values(&self) -> Vec<Value> {
        self.values.clone()
    }

    /// One call reads the key and all its children; any the host's cap left
    /// out are read one by one.
    pub fn subkeys<'r>(&self, parent: &Key<'r>) -> Result<Vec<Key<'r>>, RegistryError> {
        if self.subkeys.is_empty() {
            return Ok(Vec::new());
        }
        let mut returned: HashMap<String, wit::Key> = read(&parent.path, self.view, 1, LEVEL_BATCH)
            .map_err(convert)?
            .into_iter()
            .skip(1)
            .filter_map(|k| Some((k.path.rsplit('\\').next()?.to_string(), k)))
            .collect();
        let mut keys = Vec::with_capacity(self.subkeys.len());
        for name in &self.subkeys {
            let path = format!("{}\\{name}", parent.path);
            match returned.remove(name) {
                Some(child) => keys.push(to_key(parent.registry, path, child, self.view)),
                // Beyond the cap, or deleted meanwhile (then `None`).
                None => keys.extend(key(parent.registry, &path, self.view)?),
            }
        }
        Ok(keys)
    }
}

fn convert(error: WitError) -> RegistryError {
    match error {
        WitError::NotFound(m) | WitError::Unavailable(m) => RegistryError::Unavailable(m),
        WitError::Denied(m) => RegistryError::Denied(m),
        WitError::Io(m) => RegistryError::Io(m),
    }
}

fn read(path: &str, view: View, depth: u32, max_keys: u32) -> Result<Vec<wit::Key>, WitError> {
    #[cfg(target_arch = "wasm32")]
    {
        wit::read_key(path, view, depth, max_keys)
    }
    // Natively (unit tests) there is no host.
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = (view, depth, max_keys);
        Err(WitError::Unavailable(format!(
            "no host to read {path} (not running as a plugin)"
        )))
    }
}
