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
}

impl PluginRef {
    /// The component's bytes.
    pub fn wasm(&self) -> Result<Cow<'static, [u8]>, LoadError> {
        match self {
            PluginRef::Bundled(name) => Ok(Cow::Borrowed(bundled(name).map(|p| p.wasm).unwrap_or_default())),
            PluginRef::File(path) => std::fs::read(path).map(Cow::Owned).map_err(|error| LoadError::Read {
                path: path.display().to_string(),
                error,
            }),
        }
    }

    pub fn is_bundled(&self) -> bool {
        matches!(self, PluginRef::Bundled(_))
    }
}

impl fmt::Display for PluginRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PluginRef::Bundled(name) => f.write_str(name),
            PluginRef::File(path) => write!(f, "{}", path.display()),
        }
    }
}
