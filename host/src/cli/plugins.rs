//! `driftwatch plugins` and `driftwatch plugin check`

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use serde::Serialize;

use super::Context;
use crate::catalog::{self, PluginRef};
use crate::collectors::{self, LoadedPlugins, Selection};
use crate::machine::Machine;
use crate::output::{Table, clip, json_record};
use crate::runtime::{CONTRACT_VERSION, Plugin, Runtime};

/// One line of `driftwatch plugins`: a plugin, and a collector that uses it.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Entry {
    /// Its own name once it described itself, else where it comes from.
    plugin: String,
    kind: String,
    version: String,
    platforms: Vec<&'static str>,
    /// `bundled`, or the plugin file's path.
    source: String,
    collector: Option<String>,
    active: bool,
    reason: String,
    /// What the collector may read: paths and live registry keys.
    granted: Vec<String>,
    /// Who said so: `manifest`, `plugin` (its default grants), `implied`
    /// (by tracked paths or keys) or `none`.
    granted_by: &'static str,
}

impl Entry {
    fn new(
        plugin_ref: &PluginRef,
        loaded: Option<&Plugin>,
        collector: Option<String>,
        active: bool,
        reason: String,
    ) -> Entry {
        let info = loaded.map(Plugin::info);
        Entry {
            plugin: info.map_or_else(|| plugin_ref.to_string(), |i| i.name.clone()),
            kind: info.map(|i| i.kind.to_string()).unwrap_or_default(),
            version: info.map(|i| i.version.clone()).unwrap_or_default(),
            platforms: info
                .map(|i| i.platforms.iter().map(|o| o.as_str()).collect())
                .unwrap_or_default(),
            source: match plugin_ref {
                PluginRef::Bundled(_) => "bundled".into(),
                PluginRef::File(path) => path.display().to_string(),
                PluginRef::Pinned { path, sha256 } => format!("{} (pinned {sha256})", path.display()),
            },
            collector,
            active,
            reason,
            granted: Vec::new(),
            granted_by: "none",
        }
    }

    fn granted(mut self, (granted, by): (Vec<String>, &'static str)) -> Entry {
        self.granted = granted;
        self.granted_by = by;
        self
    }
}

pub fn list(ctx: &Context, json: bool) -> anyhow::Result<ExitCode> {
    let runtime = ctx.runtime()?;
    let mut refs: Vec<PluginRef> = catalog::bundled_names().map(PluginRef::Bundled).collect();
    refs.extend(ctx.manifest.collectors.iter().map(|c| c.plugin.clone()));
    let plugins = LoadedPlugins::load(&runtime, &refs);

    let mut entries = Vec::new();
    for (plugin_ref, loaded) in plugins.iter() {
        let plugin = loaded.as_ref().ok().map(|p| &**p);
        let users: Vec<_> = ctx
            .manifest
            .collectors
            .iter()
            .filter(|c| &c.plugin == plugin_ref)
            .collect();
        if users.is_empty() {
            let reason = match loaded {
                Ok(_) => format!("no collector in {} uses it", ctx.manifest.source),
                Err(error) => error.clone(),
            };
            entries.push(Entry::new(plugin_ref, plugin, None, false, reason));
            continue;
        }
        for spec in users {
            let selection = collectors::select(spec, &ctx.machine, &plugins);
            let spec = match &selection {
                Selection::Ready(plugin) => collectors::grants::effective(spec, plugin),
                _ => std::borrow::Cow::Borrowed(spec),
            };
            let (active, reason) = match &selection {
                Selection::Ready(plugin) => match collectors::probe(plugin, &spec, &ctx.machine) {
                    Ok(probe) => (probe.applies, probe.reason),
                    Err(error) => (false, format!("probe failed: {error}")),
                },
                _ => (false, selection.reason(&ctx.machine).unwrap_or_default()),
            };
            let granted = collectors::grants::described(&spec, &ctx.machine);
            entries.push(Entry::new(plugin_ref, plugin, Some(spec.name.clone()), active, reason).granted(granted));
        }
    }
    print_list(&entries, &ctx.machine, json)?;
    Ok(ExitCode::SUCCESS)
}

fn print_list(entries: &[Entry], machine: &Machine, json: bool) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        for entry in entries {
            json_record(&mut out, entry)?;
        }
        return Ok(());
    }
    writeln!(out, "Plugins on {} ({})", machine.hostname, machine.os)?;
    let mut table = Table::new(&[
        "PLUGIN",
        "KIND",
        "VERSION",
        "PLATFORMS",
        "SOURCE",
        "COLLECTOR",
        "STATUS",
        "GRANTED",
        "WHY",
    ]);
    for e in entries {
        table.row(vec![
            e.plugin.clone(),
            e.kind.clone(),
            e.version.clone(),
            e.platforms.join(","),
            clip(&e.source, 40),
            e.collector.clone().unwrap_or_else(|| "-".into()),
            if e.active { "active" } else { "inactive" }.into(),
            match e.granted_by {
                "none" if e.collector.is_none() => "-".into(),
                "none" => "nothing".into(),
                by => clip(&format!("{by}: {}", e.granted.join(" ")), 60),
            },
            clip(&e.reason, 100),
        ]);
    }
    table.print(&mut out)
}

/// `plugin check --json`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct CheckJson<'a> {
    file: &'a str,
    valid: bool,
    #[serde(flatten)]
    found: Option<Checked<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Checked<'a> {
    plugin: &'a str,
    version: &'a str,
    kind: &'a str,
    world: &'a str,
    contract: &'a str,
    platforms: Vec<&'a str>,
    description: &'a str,
    /// What a manifest entry without `grants` lets it read.
    default_grants: &'a [String],
}

pub fn check(file: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let machine = Machine::detect(None)?;
    // No cache: checking a file must not leave artifacts behind.
    let runtime = Runtime::new(machine.facts(), None)?;
    let label = file.display().to_string();
    let result = std::fs::read(file)
        .map_err(|e| format!("cannot read {label}: {e}"))
        .and_then(|wasm| runtime.load(&label, &wasm).map_err(|e| e.to_string()));
    let mut out = std::io::stdout().lock();
    let checked = result.as_ref().ok().map(|plugin| {
        let info = plugin.info();
        Checked {
            plugin: &info.name,
            version: &info.version,
            kind: info.kind.as_str(),
            world: info.kind.world(),
            contract: plugin.contract(),
            platforms: info.platforms.iter().map(|o| o.as_str()).collect(),
            description: &info.description,
            default_grants: plugin.default_grants(),
        }
    });
    if json {
        let record = CheckJson {
            file: &label,
            valid: result.is_ok(),
            error: result.as_ref().err().map(String::as_str),
            found: checked,
        };
        json_record(&mut out, &record)?;
    } else {
        match (&checked, &result) {
            (Some(c), _) => writeln!(
                out,
                "{label}: ok\n  plugin    {} {}\n  world     {} (driftwatch:collector@{}; this host: @{CONTRACT_VERSION})\n  platforms {}\n  about     {}\n  grants    {}",
                c.plugin,
                c.version,
                c.world,
                c.contract,
                c.platforms.join(", "),
                c.description,
                if c.default_grants.is_empty() {
                    "none by default: a manifest entry must grant what it reads".to_string()
                } else {
                    format!("by default {}", c.default_grants.join(" "))
                }
            )?,
            (None, Err(error)) => eprintln!("driftwatch: {error}"),
            (None, Ok(_)) => {}
        }
    }
    Ok(if result.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `plugin wit`.
pub fn wit(dir: &std::path::Path) -> anyhow::Result<ExitCode> {
    let written = crate::runtime::contract::write(dir)?;
    println!(
        "wrote driftwatch:collector@{CONTRACT_VERSION} ({} files) into {}",
        written.len(),
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `plugin new`.
pub fn new(
    name: String,
    kind: crate::kind::Kind,
    lang: crate::scaffold::Lang,
    dir: Option<std::path::PathBuf>,
    sdk: Option<std::path::PathBuf>,
) -> anyhow::Result<ExitCode> {
    use crate::scaffold::{Lang, NewPlugin, Sdk};
    if sdk.is_some() && lang != Lang::Rust {
        anyhow::bail!("--sdk is for Rust projects; {lang} projects take the contract from `driftwatch plugin wit`");
    }
    let new = NewPlugin {
        dir: dir.unwrap_or_else(|| name.clone().into()),
        name,
        kind,
        lang,
        sdk: match sdk {
            Some(path) => Sdk::Path(std::path::absolute(&path)?),
            None => Sdk::Git(SDK_REPOSITORY.into()),
        },
    };
    let project = new.create()?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "created {} ({} collector, {}):", new.dir.display(), kind, new.lang)?;
    for (file, _) in &project.files {
        writeln!(out, "  {file}")?;
    }
    writeln!(
        out,
        "next:\n  cd {}\n  {}\n  driftwatch plugin check {}\n  {}\n  driftwatch --manifest manifest.toml scan",
        new.dir.display(),
        project.build,
        project.wasm,
        project.test,
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Where a new plugin's SDK comes from unless told.
const SDK_REPOSITORY: &str = "https://github.com/driftwatch/driftwatch";
