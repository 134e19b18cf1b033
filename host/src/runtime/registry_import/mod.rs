//! The `registry-access` host import (contract 0.1.2): the live Windows
//! registry, read-only, within the collector's registry grants.
//!
//! The host only ever reads the live registry through the Windows API; hive
//! files (offline images) are parsed by plugins inside the sandbox.

mod grants;
#[cfg(windows)]
mod windows;

use std::sync::Arc;

pub use grants::{Access, RegistryGrants};
#[cfg(windows)]
pub(crate) use windows::{split_root, wide};
pub use windows_paths::registry_key::{looks_like_key, normalize};

use super::bindings::registry_access::{Key, RawValue, RegistryError, View};
use super::bindings::types::Timestamp;

/// Most keys one `read-key` call returns, whatever the plugin asks for.
pub const MAX_KEYS_PER_CALL: u32 = 10_000;

/// A key as the registry gives it.
#[derive(Debug, Clone, Default)]
pub struct RawKey {
    /// Last write time, as a Windows FILETIME.
    pub last_write: Option<u64>,
    pub subkeys: Vec<String>,
    pub values: Vec<RawValue>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendError {
    NotFound,
    Denied(String),
    Io(String),
}

/// Something that reads keys of a live registry.
pub trait Backend: Send + Sync {
    /// The key at `path` (normalized, root spelled out) in `view`.
    fn read(&self, path: &str, view: View) -> Result<RawKey, BackendError>;
}

/// Where `registry-access` calls go for this runtime.
#[derive(Clone)]
pub enum LiveRegistry {
    Available(Arc<dyn Backend>),
    /// Why there is none (another OS, or an offline image).
    Unavailable(String),
}

impl LiveRegistry {
    /// The live registry of this machine when collecting live on Windows.
    pub fn for_machine(live: bool) -> LiveRegistry {
        if !live {
            return LiveRegistry::Unavailable("collecting from an offline image: read its hive files".into());
        }
        #[cfg(windows)]
        {
            LiveRegistry::Available(Arc::new(windows::WindowsRegistry))
        }
        #[cfg(not(windows))]
        {
            LiveRegistry::Unavailable("there is no live Windows registry on this system".into())
        }
    }

    /// Reads a key and up to `depth` levels below it, depth first, at most
    /// `max_keys` keys, each checked against the grants.
    pub fn read_key(
        &self,
        grants: &RegistryGrants,
        path: &str,
        view: View,
        depth: u32,
        max_keys: u32,
    ) -> Result<Vec<Key>, RegistryError> {
        let backend = match self {
            LiveRegistry::Available(backend) => backend,
            LiveRegistry::Unavailable(why) => return Err(RegistryError::Unavailable(why.clone())),
        };
        let path = normalize(path).map_err(|e| RegistryError::NotFound(e.to_string()))?;
        let cap = max_keys.clamp(1, MAX_KEYS_PER_CALL) as usize;
        let mut keys = Vec::new();
        // (path, levels left); popped from the end, pushed in reverse for a depth-first order.
        let mut pending = vec![(path, depth)];
        let mut first = true;
        while let Some((path, levels)) = pending.pop() {
            if keys.len() >= cap {
                break;
            }
            let access = grants.access(&path);
            if access == Access::Denied {
                if first {
                    return Err(RegistryError::Denied(format!(
                        "{path} is outside the collector's registry grants"
                    )));
                }
                continue;
            }
            let raw = match backend.read(&path, view) {
                Ok(raw) => raw,
                Err(error) if first => return Err(to_wit(&path, error)),
                // A subkey deleted or locked between listing and reading: leave it out.
                Err(_) => continue,
            };
            first = false;
            if levels > 0 {
                for name in raw.subkeys.iter().rev() {
                    pending.push((format!("{path}\\{name}"), levels - 1));
                }
            }
            keys.push(Key {
                path,
                last_write: raw.last_write.and_then(filetime_to_timestamp),
                subkeys: raw.subkeys,
                values: if access == Access::Full { raw.values } else { Vec::new() },
            });
        }
        Ok(keys)
    }
}

fn to_wit(path: &str, error: BackendError) -> RegistryError {
    match error {
        BackendError::NotFound => RegistryError::NotFound(format!("{path} does not exist")),
        BackendError::Denied(why) => RegistryError::Denied(format!("{path}: {why}")),
        BackendError::Io(why) => RegistryError::Io(format!("{path}: {why}")),
    }
}

/// FILETIME (100 ns since 1601-01-01) → Unix time; `None` for zero.
fn filetime_to_timestamp(filetime: u64) -> Option<Timestamp> {
    const UNIX_EPOCH_AS_FILETIME_SECONDS: i64 = 11_644_473_600;
    if filetime == 0 {
        return None;
    }
    Some(Timestamp {
        seconds: (filetime / 10_000_000) as i64 - UNIX_EPOCH_AS_FILETIME_SECONDS,
        nanoseconds: (filetime % 10_000_000) as u32 * 100,
    })
}

#[cfg(test)]
mod tests;
