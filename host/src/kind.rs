//! The four kinds of collector, and the systems plugins serve.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What a collector gathers; one contract world each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Packages,
    Services,
    Files,
    Registry,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Packages, Kind::Services, Kind::Files, Kind::Registry];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Packages => "packages",
            Kind::Services => "services",
            Kind::Files => "files",
            Kind::Registry => "registry",
        }
    }

    /// The contract world a plugin of this kind implements.
    pub fn world(self) -> &'static str {
        match self {
            Kind::Packages => "packages-collector",
            Kind::Services => "services-collector",
            Kind::Files => "files-collector",
            Kind::Registry => "registry-collector",
        }
    }

    /// The kind whose interface is named `name` in the contract.
    pub fn from_interface(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Operating-system families, as manifests and plugins name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Os {
    Linux,
    Windows,
    Macos,
    Other,
}

impl Os {
    pub fn as_str(self) -> &'static str {
        match self {
            Os::Linux => "linux",
            Os::Windows => "windows",
            Os::Macos => "macos",
            Os::Other => "other",
        }
    }

    /// The OS this binary was built for.
    pub fn current() -> Os {
        if cfg!(target_os = "linux") {
            Os::Linux
        } else if cfg!(windows) {
            Os::Windows
        } else if cfg!(target_os = "macos") {
            Os::Macos
        } else {
            Os::Other
        }
    }
}

impl fmt::Display for Os {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
