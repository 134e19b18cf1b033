//! What a plugin says about itself.

use crate::{CollectorKind, OsFamily, PluginInfo, ProbeResult};

/// A plugin's name, version, one-line summary and platforms. The kind is
/// filled in from the trait the collector implements.
#[derive(Debug, Clone)]
pub struct Description {
    pub name: String,
    pub version: String,
    pub summary: String,
    pub platforms: Vec<OsFamily>,
}

impl Description {
    pub(crate) fn into_info(self, kind: CollectorKind) -> PluginInfo {
        PluginInfo {
            name: self.name,
            version: self.version,
            kind,
            platforms: self.platforms,
            description: self.summary,
        }
    }
}

/// A [`Description`] named and versioned after the calling crate:
/// `describe!("Debian packages from dpkg's status database", [OsFamily::Linux])`.
#[macro_export]
macro_rules! describe {
    ($summary:expr, [$($platform:expr),* $(,)?]) => {
        $crate::Description {
            name: env!("CARGO_PKG_NAME").to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            summary: ($summary).to_string(),
            platforms: vec![$($platform),*],
        }
    };
}

impl ProbeResult {
    /// The collector applies here; `reason` says what it found.
    pub fn applies(reason: impl Into<String>) -> Self {
        Self {
            applies: true,
            reason: reason.into(),
        }
    }

    /// The collector does not apply here; `reason` says why.
    pub fn not_applicable(reason: impl Into<String>) -> Self {
        Self {
            applies: false,
            reason: reason.into(),
        }
    }
}
