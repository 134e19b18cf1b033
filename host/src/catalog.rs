//! Where plugins come from: the ones bundled in this binary, or `.wasm` files
//! a manifest points at.

use std::borrow::Cow;
use std::fmt;
use std::path::PathBuf;

use crate::runtime::LoadError;

/// A plugin embedded in the binary at build time.
pub struct BundledPlugin {
    pub name: &'static str,
    pub wasm: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/bundled_plugins.rs"));

pub fn bundled(name: &str) -> Option<&'static BundledPlugin> {
    BUNDLED.iter().find(|p| p.name == name)
}

pub fn bundled_names() -> impl Iterator<Item = &'static str> {
    BUNDLED.iter().map(|p| p.name)
}

/// A reference to a plugin, as a manifest makes it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PluginRef {
    Bundled(&'static str),
    File(PathBuf),
    /// A file that must have this SHA-256 (lowercase hex) when it is read:
    /// how a fleet server's manifest names a plugin the machine pinned.
    Pinned {
        path: PathBuf,
        sha256: String,
    },
}

impl PluginRef {
    /// The component's bytes.
    pub fn wasm(&self) -> Result<Cow<'static, [u8]>, LoadError> {
        match self {
            PluginRef::Bundled(name) => Ok(Cow::Borrowed(bundled(name).map(|p| p.wasm).unwrap_or_default())),
            PluginRef::File(path) => read(path).map(Cow::Owned),
            // Checked on the very bytes that are loaded.
            PluginRef::Pinned { path, sha256 } => {
                let bytes = read(path)?;
                let found = crate::content_store::ContentStore::hash(&bytes);
                if &found != sha256 {
                    return Err(LoadError::NotPinned {
                        path: path.display().to_string(),
                        found,
                    });
                }
                Ok(Cow::Owned(bytes))
            }
        }
    }

    pub fn is_bundled(&self) -> bool {
        matches!(self, PluginRef::Bundled(_))
    }
}

fn read(path: &std::path::Path) -> Result<Vec<u8>, LoadError> {
    std::fs::read(path).map_err(|error| LoadError::Read {
        path: path.display().to_string(),
        error,
    })
}

impl fmt::Display for PluginRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PluginRef::Bundled(name) => f.write_str(name),
            PluginRef::File(path) | PluginRef::Pinned { path, .. } => write!(f, "{}", path.display()),
        }
    }
}
