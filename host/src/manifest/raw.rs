//! The manifest file as written: serde structures with source spans, checked
//! for unknown keys and wrong types while parsing.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::units::{ByteSize, DurationSetting};
use crate::kind::{Kind, Os};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestFile {
    #[serde(default)]
    pub agent: Agent,
    #[serde(default)]
    pub defaults: Defaults,
    #[serde(default)]
    pub collector: Vec<CollectorEntry>,
    #[serde(default)]
    pub alert: Vec<super::alerts::AlertEntry>,
    #[serde(default)]
    pub output: Vec<super::outputs::OutputEntry>,
    #[serde(default)]
    pub fleet: Fleet,
}

/// What this machine allows a manifest from its fleet server to do.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fleet {
    /// SHA-256 (hex) of the plugin files, besides the bundled plugins, that
    /// a server manifest may name.
    #[serde(default)]
    pub plugin_sha256: Vec<Spanned<String>>,
}

/// Settings of the long-running agent and of the history it keeps.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Agent {
    /// How long change history is kept (default: forever).
    pub retention: Option<DurationSetting>,
    /// Most collectors running at once.
    pub parallel: Option<usize>,
}

/// Limits applied to every collector that does not set its own.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    pub timeout: Option<DurationSetting>,
    pub memory: Option<ByteSize>,
    pub max_items: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectorEntry {
    pub name: Option<Spanned<String>>,
    pub kind: Kind,
    pub plugin: Spanned<String>,
    #[serde(default)]
    pub os: Vec<Os>,
    #[serde(default = "yes")]
    pub enabled: bool,
    pub interval: Option<Spanned<DurationSetting>>,
    #[serde(default)]
    pub grants: Vec<Spanned<String>>,
    pub timeout: Option<DurationSetting>,
    pub memory: Option<ByteSize>,
    pub max_items: Option<u64>,
    #[serde(default)]
    pub options: BTreeMap<String, Spanned<toml::Value>>,
    pub paths: Option<Spanned<Vec<PathEntry>>>,
    /// Files collectors: skip files whose stat is unchanged (default true).
    pub incremental: Option<Spanned<bool>>,
    /// `driftwatch run`: collect as soon as what it reads changes (default true).
    #[serde(default = "yes")]
    pub watch: bool,
    pub keys: Option<Spanned<Vec<KeyEntry>>>,
}

/// A tracked file path (kind = "files"), with Azure's file settings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathEntry {
    pub path: Spanned<String>,
    pub name: Option<String>,
    #[serde(default)]
    pub group_tag: String,
    #[serde(default)]
    pub recurse: bool,
    #[serde(default)]
    pub links: Links,
    #[serde(default)]
    pub checksum: Checksum,
    /// Files larger than this are not hashed.
    pub max_size: Option<ByteSize>,
    #[serde(default)]
    pub capture_content: bool,
    pub max_content_size: Option<ByteSize>,
    /// Capture files that do not read as text too.
    #[serde(default)]
    pub capture_binary: bool,
    #[serde(default = "yes")]
    pub enabled: bool,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Checksum {
    None,
    #[default]
    Md5,
    Sha256,
}

impl Checksum {
    /// The manifest's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Checksum::None => "none",
            Checksum::Md5 => "md5",
            Checksum::Sha256 => "sha256",
        }
    }
}

/// What a files collector does with symbolic links.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Links {
    /// Neither report nor follow them.
    Ignore,
    /// Report what they point to and descend into linked directories.
    #[default]
    Follow,
    /// Report the links themselves.
    Manage,
}

impl Links {
    /// The manifest's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Links::Ignore => "ignore",
            Links::Follow => "follow",
            Links::Manage => "manage",
        }
    }
}

/// A tracked registry key (kind = "registry").
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyEntry {
    pub key: Spanned<String>,
    pub value: Option<String>,
    pub name: Option<String>,
    #[serde(default)]
    pub group_tag: String,
    #[serde(default)]
    pub recurse: bool,
    #[serde(default)]
    pub max_depth: u32,
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}
