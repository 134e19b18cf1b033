//! The manifest: which collectors run, on which systems, how often, with what
//! access and limits, and their kind-specific settings (TOML).
//!
//! ```toml
//! [agent]
//! retention = "90d"             # change history kept (default: forever)
//!
//! [defaults]
//! timeout = "2m"
//! memory = "256MiB"
//!
//! [fleet]                       # only in the machine's own manifest
//! plugin_sha256 = []            # plugin files a fleet server's manifest may run
//!
//! [[collector]]
//! name = "dpkg"                 # defaults to the plugin's name
//! kind = "packages"             # packages | services | files | registry
//! plugin = "packages-dpkg"      # a bundled plugin, or a path to a .wasm file
//! os = ["linux"]                # where it may run (default: anywhere)
//! interval = "5m"
//! watch = true                  # the agent collects as soon as what it reads changes
//! grants = ["/var/lib/dpkg"]    # what it may read, read-only (default: what its plugin declares)
//! options = { admindir = "/var/lib/dpkg" }
//! ```
//!
//! Alert rules (`[[alert]]`) are described in `alerts`, outputs (`[[output]]`)
//! in `outputs`. Every error names the
//! file, line and column.

pub mod alerts;
pub mod files;
pub mod outputs;
mod raw;
pub mod units;

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

pub use raw::{Checksum, Links};
use raw::{CollectorEntry, ManifestFile};
use toml::Spanned;

use crate::catalog::{self, PluginRef};
use crate::kind::{Kind, Os};
use crate::runtime::Limits;
use crate::runtime::{grants, registry_import};

/// Azure's default content size cap for captured files.
pub const DEFAULT_MAX_CONTENT_SIZE: u64 = 5 << 20;

#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// The file it came from, or which embedded default it is.
    pub source: String,
    pub agent: AgentSettings,
    pub collectors: Vec<CollectorSpec>,
    pub alerts: Vec<alerts::AlertRule>,
    pub outputs: Vec<outputs::Output>,
    pub fleet: FleetSettings,
}

/// The `[fleet]` table: what a manifest from the fleet server may do here.
/// Only the machine's own manifest says this; a server manifest's `[fleet]`
/// is ignored.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FleetSettings {
    /// SHA-256 (lowercase hex) of plugin files a server manifest may name,
    /// besides the bundled plugins.
    pub plugin_sha256: Vec<String>,
}

/// The `[agent]` table.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AgentSettings {
    /// Change history older than this is deleted; `None` keeps everything.
    pub retention: Option<Duration>,
    /// Most collectors running at once (default: the CPU count, at most 4).
    pub parallel: Option<usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CollectorSpec {
    pub name: String,
    pub kind: Kind,
    pub plugin: PluginRef,
    /// Systems it may run on; empty means any.
    pub os: Vec<Os>,
    pub enabled: bool,
    /// Set in the manifest; otherwise the kind's default for the machine's OS.
    pub interval: Option<Duration>,
    /// Paths it may read (read-only), as the manifest lists them, or its
    /// plugin's default grants when it lists none (see `grants_from`); see
    /// `collectors::grants::paths` for those implied when there are neither.
    pub grants: Vec<String>,
    /// Keys of the live Windows registry it may read (`*` = any one name).
    pub registry_grants: Vec<String>,
    /// Where `grants` and `registry_grants` come from.
    pub grants_from: GrantsFrom,
    pub limits: Limits,
    pub options: Vec<(String, String)>,
    pub paths: Vec<FileRule>,
    pub keys: Vec<KeyRule>,
    /// Files collectors: re-read only files whose stat changed since the last
    /// collection (a full collection still happens daily).
    pub incremental: bool,
    /// The agent watches what it reads and collects when that changes (a
    /// targeted re-check of the changed paths for files collectors).
    pub watch: bool,
}

/// A tracked path of a files collector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRule {
    pub name: String,
    pub group_tag: String,
    /// Absolute, `$VAR`s expanded; wildcards only in the last segment.
    /// `%VAR%`s stay: they are the machine's, expanded when it is collected.
    pub path: String,
    pub recurse: bool,
    pub links: Links,
    pub checksum: Checksum,
    /// Files larger than this are not hashed (0: no limit).
    pub max_size: u64,
    /// Keep each new version of the content (up to `max_content_size`).
    pub capture_content: bool,
    pub max_content_size: u64,
    /// Capture contents that do not read as text (UTF-8 without NUL) too.
    pub capture_binary: bool,
    pub enabled: bool,
}

/// A tracked key of a registry collector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRule {
    pub name: String,
    pub group_tag: String,
    pub key: String,
    pub value: Option<String>,
    pub recurse: bool,
    pub max_depth: u32,
    pub enabled: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read manifest {path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("{file}:{line}:{column}: {message}")]
    Invalid {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
}

impl Manifest {
    /// Reads and checks a manifest file. Relative plugin paths are relative to it.
    pub fn load(path: &Path) -> Result<Manifest, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|error| ManifestError::Read {
            path: path.display().to_string(),
            error,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Manifest::parse(&text, &path.display().to_string(), base)
    }

    /// The built-in manifest's text (a starting point for one's own).
    pub const BUILTIN_TEXT: &str = include_str!("defaults/builtin.toml");

    /// The built-in manifest: every bundled collector; probes pick those
    /// that apply to the machine.
    pub fn builtin() -> Result<Manifest, ManifestError> {
        Manifest::parse(Self::BUILTIN_TEXT, "<built-in manifest>", Path::new("."))
    }

    /// Parses and checks manifest text; `file` names it in errors.
    pub fn parse(text: &str, file: &str, base_dir: &Path) -> Result<Manifest, ManifestError> {
        let at = |span: Option<Range<usize>>, message: String| {
            let (line, column) = line_column(text, span.map_or(0, |s| s.start));
            ManifestError::Invalid {
                file: file.to_string(),
                line,
                column,
                message,
            }
        };
        let raw: ManifestFile = toml::from_str(text).map_err(|e| at(e.span(), e.message().trim().to_string()))?;
        let mut collectors = Vec::new();
        let mut names: HashMap<String, usize> = HashMap::new();
        for entry in raw.collector {
            let spec =
                collector(entry, &raw.defaults, base_dir, text, &mut names).map_err(|(span, m)| at(Some(span), m))?;
            collectors.push(spec);
        }
        let alerts = alerts::alert_rules(raw.alert).map_err(|(span, m)| at(Some(span), m))?;
        let outputs = outputs::outputs(raw.output, base_dir).map_err(|(span, m)| at(Some(span), m))?;
        let mut plugin_sha256 = Vec::new();
        for hash in raw.fleet.plugin_sha256 {
            let hex = hash.get_ref().trim().to_ascii_lowercase();
            if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(at(Some(hash.span()), "a SHA-256 is 64 hexadecimal digits".into()));
            }
            plugin_sha256.push(hex);
        }
        Ok(Manifest {
            source: file.to_string(),
            agent: AgentSettings {
                retention: raw.agent.retention.map(|r| r.0),
                parallel: raw.agent.parallel.filter(|n| *n > 0),
            },
            collectors,
            alerts,
            outputs,
            fleet: FleetSettings { plugin_sha256 },
        })
    }
}

/// Who said what a collector may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantsFrom {
    /// Its manifest entry's `grants` (or none, when it lists none).
    Manifest,
    /// Its plugin's default grants, the entry listing none.
    Plugin,
}

impl CollectorSpec {
    /// Whether it may run on a system of this OS.
    pub fn runs_on(&self, os: Os) -> bool {
        self.os.is_empty() || self.os.contains(&os)
    }

    /// How often it runs on a system of this OS: Azure's defaults when
    /// unset, and at least once per [`FULL_RUN_CAP`].
    pub fn interval_on(&self, os: Os) -> Duration {
        self.interval
            .unwrap_or_else(|| default_interval(self.kind, os))
            .min(FULL_RUN_CAP)
    }
}

/// The longest a collector goes without a full collection: intervals are
/// capped at it, and a files collector whose last full collection is older
/// reads everything again instead of only what changed.
pub const FULL_RUN_CAP: Duration = Duration::from_secs(24 * 3600);

/// Azure Change Tracking's collection frequencies.
pub fn default_interval(kind: Kind, os: Os) -> Duration {
    let minutes = match (kind, os) {
        (Kind::Packages, Os::Windows) => 30,
        (Kind::Packages, _) => 5,
        (Kind::Services, Os::Windows) => 30,
        (Kind::Services, _) => 5,
        (Kind::Files, Os::Windows) => 30,
        (Kind::Files, _) => 15,
        (Kind::Registry, _) => 50,
    };
    Duration::from_secs(minutes * 60)
}

type Located = (Range<usize>, String);

fn collector(
    entry: CollectorEntry,
    defaults: &raw::Defaults,
    base_dir: &Path,
    text: &str,
    names: &mut HashMap<String, usize>,
) -> Result<CollectorSpec, Located> {
    let plugin = plugin_ref(&entry.plugin, base_dir)?;
    let (name, name_span) = match &entry.name {
        Some(name) => (name.get_ref().clone(), name.span()),
        None => (default_name(&plugin), entry.plugin.span()),
    };
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        return Err((
            name_span,
            format!("collector name {name:?} may only hold letters, digits, `-`, `_` and `.`"),
        ));
    }
    if let Some(first) = names.insert(name.clone(), name_span.start) {
        let (line, _) = line_column(text, first);
        return Err((
            name_span,
            format!("collector name `{name}` is already used at line {line}; give each collector its own `name`"),
        ));
    }
    let mut grants = Vec::new();
    let mut registry_grants = Vec::new();
    for grant in &entry.grants {
        if registry_import::looks_like_key(grant.get_ref()) {
            registry_grants
                .push(registry_import::normalize(grant.get_ref()).map_err(|e| (grant.span(), e.to_string()))?);
        } else {
            grants::check_form(grant.get_ref()).map_err(|e| (grant.span(), e.to_string()))?;
            grants.push(grant.get_ref().clone());
        }
    }
    let paths = match &entry.paths {
        Some(paths) if entry.kind != Kind::Files => {
            return Err((paths.span(), wrong_section("paths", "files", entry.kind)));
        }
        Some(paths) => paths.get_ref().iter().map(file_rule).collect::<Result<Vec<_>, _>>()?,
        None => Vec::new(),
    };
    let mut rule_names: HashMap<&str, ()> = HashMap::new();
    for (rule, raw) in paths.iter().zip(entry.paths.iter().flat_map(|p| p.get_ref())) {
        if rule_names.insert(&rule.name, ()).is_some() {
            return Err((
                raw.path.span(),
                format!("two tracked paths are named `{}`; give each its own `name`", rule.name),
            ));
        }
    }
    let options = entry
        .options
        .iter()
        .map(|(key, value)| option_text(value).map(|v| (key.clone(), v)))
        .collect::<Result<Vec<_>, _>>()?;
    let keys = match &entry.keys {
        Some(keys) if entry.kind != Kind::Registry => {
            return Err((keys.span(), wrong_section("keys", "registry", entry.kind)));
        }
        Some(keys) => keys.get_ref().iter().map(key_rule).collect::<Result<Vec<_>, _>>()?,
        None => Vec::new(),
    };

    if let Some(incremental) = &entry.incremental
        && entry.kind != Kind::Files
    {
        return Err((incremental.span(), wrong_section("incremental", "files", entry.kind)));
    }
    if let Some(interval) = &entry.interval
        && interval.get_ref().0 < Duration::from_secs(1)
    {
        return Err((interval.span(), "interval must be at least 1s".into()));
    }
    let fallback = Limits::default();
    Ok(CollectorSpec {
        name,
        kind: entry.kind,
        plugin,
        os: entry.os,
        enabled: entry.enabled,
        interval: entry.interval.map(|i| i.get_ref().0),
        grants,
        registry_grants,
        grants_from: GrantsFrom::Manifest,
        limits: Limits {
            memory: entry.memory.or(defaults.memory).map_or(fallback.memory, |m| m.0),
            timeout: entry.timeout.or(defaults.timeout).map_or(fallback.timeout, |t| t.0),
            max_items: entry.max_items.or(defaults.max_items).unwrap_or(fallback.max_items),
        },
        options,
        paths,
        keys,
        incremental: entry.incremental.as_ref().is_none_or(|i| *i.get_ref()),
        watch: entry.watch,
    })
}

/// A bundled plugin's name, or a path (anything with a separator or ending in
/// `.wasm`) relative to the manifest's folder.
fn plugin_ref(plugin: &Spanned<String>, base_dir: &Path) -> Result<PluginRef, Located> {
    let text = plugin.get_ref();
    let looks_like_path = text.ends_with(".wasm") || text.contains('/') || text.contains('\\');
    if !looks_like_path {
        return catalog::bundled(text)
            .map(|p| PluginRef::Bundled(p.name))
            .ok_or_else(|| {
                let known: Vec<_> = catalog::bundled_names().collect();
                (
                    plugin.span(),
                    format!(
                        "unknown plugin `{text}`: not a bundled plugin ({}) nor a path to a .wasm file",
                        known.join(", ")
                    ),
                )
            });
    }
    let path = base_dir.join(text);
    if path.is_file() {
        Ok(PluginRef::File(std::path::absolute(&path).unwrap_or(path)))
    } else {
        Err((plugin.span(), format!("plugin file {} not found", path.display())))
    }
}

fn default_name(plugin: &PluginRef) -> String {
    match plugin {
        PluginRef::Bundled(name) => name.to_string(),
        PluginRef::File(path) | PluginRef::Pinned { path, .. } => path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
    }
}

fn option_text(value: &Spanned<toml::Value>) -> Result<String, Located> {
    match value.get_ref() {
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::Float(f) => Ok(f.to_string()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        other => Err((
            value.span(),
            format!("options must be strings, numbers or booleans, not {}", other.type_str()),
        )),
    }
}

fn wrong_section(section: &str, wanted: &str, kind: Kind) -> String {
    format!("`{section}` belongs to collectors of kind \"{wanted}\", and this one is \"{kind}\"")
}

fn file_rule(p: &raw::PathEntry) -> Result<FileRule, Located> {
    let path = files::expand_env(p.path.get_ref()).map_err(|m| (p.path.span(), m))?;
    files::check_path(&path).map_err(|m| (p.path.span(), m))?;
    Ok(FileRule {
        name: p.name.clone().unwrap_or_else(|| p.path.get_ref().clone()),
        group_tag: p.group_tag.clone(),
        path,
        recurse: p.recurse,
        links: p.links,
        checksum: p.checksum,
        max_size: p.max_size.map_or(0, |s| s.0),
        capture_content: p.capture_content,
        max_content_size: p.max_content_size.map_or(DEFAULT_MAX_CONTENT_SIZE, |s| s.0),
        capture_binary: p.capture_binary,
        enabled: p.enabled,
    })
}

fn key_rule(k: &raw::KeyEntry) -> Result<KeyRule, Located> {
    let key = registry_import::normalize(k.key.get_ref()).map_err(|e| (k.key.span(), e.to_string()))?;
    Ok(KeyRule {
        name: k.name.clone().unwrap_or_else(|| key.clone()),
        group_tag: k.group_tag.clone(),
        key,
        value: k.value.clone(),
        recurse: k.recurse,
        max_depth: k.max_depth,
        enabled: k.enabled,
    })
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests;
