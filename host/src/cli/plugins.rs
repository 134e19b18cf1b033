//! `driftwatch plugins` and `driftwatch plugin check`

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use serde_json::{Map, json};

use super::Context;
use crate::catalog::{self, PluginRef};
use crate::collectors::{self, LoadedPlugins, Selection};
use crate::machine::Machine;
use crate::output::{Table, clip, json_line};
use crate::runtime::{CONTRACT_VERSION, Plugin, Runtime};

/// One line of `driftwatch plugins`: a plugin, and a collector that uses it.
struct Entry {
    plugin: PluginRef,
    info: Option<(String, String, String, String)>, // name, kind, version, platforms
    collector: Option<String>,
    active: bool,
    reason: String,
}

pub fn list(ctx: &Context, json: bool) -> anyhow::Result<ExitCode> {
    let runtime = ctx.runtime()?;
    let mut refs: Vec<PluginRef> = catalog::bundled_names().map(PluginRef::Bundled).collect();
    refs.extend(ctx.manifest.collectors.iter().map(|c| c.plugin.clone()));
    let plugins = LoadedPlugins::load(&runtime, &refs);

    let mut entries = Vec::new();
    for (plugin_ref, loaded) in plugins.iter() {
        let info = loaded.as_ref().ok().map(|p| describe(p));
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
            entries.push(Entry {
                plugin: plugin_ref.clone(),
                info,
                collector: None,
                active: false,
                reason,
            });
            continue;
        }
        for spec in users {
            let (active, reason) = match collectors::select(spec, &ctx.machine, &plugins) {
                Selection::Disabled => (false, "disabled in the manifest".to_string()),
                Selection::OtherOs(os) => {
                    let list: Vec<_> = os.iter().map(|o| o.as_str()).collect();
                    (
                        false,
                        format!("for {} only; this machine is {}", list.join(", "), ctx.machine.os),
                    )
                }
                Selection::Unusable(error) => (false, error),
                Selection::Ready(plugin) => match collectors::probe(&plugin, spec, &ctx.machine) {
                    Ok(probe) => (probe.applies, probe.reason),
                    Err(error) => (false, format!("probe failed: {error}")),
                },
            };
            entries.push(Entry {
                plugin: plugin_ref.clone(),
                info: info.clone(),
                collector: Some(spec.name.clone()),
                active,
                reason,
            });
        }
    }
    print_list(&entries, &ctx.machine, json)?;
    Ok(ExitCode::SUCCESS)
}

fn describe(plugin: &Plugin) -> (String, String, String, String) {
    let info = plugin.info();
    let platforms: Vec<_> = info.platforms.iter().map(|o| o.as_str()).collect();
    (
        info.name.clone(),
        info.kind.to_string(),
        info.version.clone(),
        platforms.join(","),
    )
}

fn print_list(entries: &[Entry], machine: &Machine, json: bool) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        for e in entries {
            let mut o = Map::new();
            let (name, kind, version, platforms) = e.info.clone().unwrap_or_default();
            o.insert(
                "Plugin".into(),
                json!(if name.is_empty() { e.plugin.to_string() } else { name }),
            );
            o.insert("Kind".into(), json!(kind));
            o.insert("Version".into(), json!(version));
            o.insert(
                "Platforms".into(),
                json!(platforms.split(',').filter(|p| !p.is_empty()).collect::<Vec<_>>()),
            );
            o.insert("Source".into(), json!(source(&e.plugin)));
            o.insert("Collector".into(), json!(e.collector));
            o.insert("Active".into(), json!(e.active));
            o.insert("Reason".into(), json!(e.reason));
            json_line(&mut out, o)?;
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
        "WHY",
    ]);
    for e in entries {
        let (name, kind, version, platforms) = e.info.clone().unwrap_or_default();
        table.row(vec![
            if name.is_empty() { e.plugin.to_string() } else { name },
            kind,
            version,
            platforms,
            clip(&source(&e.plugin), 40),
            e.collector.clone().unwrap_or_else(|| "-".into()),
            if e.active { "active" } else { "inactive" }.into(),
            clip(&e.reason, 100),
        ]);
    }
    table.print(&mut out)
}

fn source(plugin: &PluginRef) -> String {
    match plugin {
        PluginRef::Bundled(_) => "bundled".into(),
        PluginRef::File(path) => path.display().to_string(),
    }
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
    match &result {
        Ok(plugin) => {
            let info = plugin.info();
            let platforms: Vec<_> = info.platforms.iter().map(|o| o.as_str()).collect();
            if json {
                let mut o = Map::new();
                o.insert("File".into(), json!(label));
                o.insert("Valid".into(), json!(true));
                o.insert("Plugin".into(), json!(info.name));
                o.insert("Version".into(), json!(info.version));
                o.insert("Kind".into(), json!(info.kind.as_str()));
                o.insert("World".into(), json!(info.kind.world()));
                o.insert("Contract".into(), json!(plugin.contract()));
                o.insert("Platforms".into(), json!(platforms));
                o.insert("Description".into(), json!(info.description));
                json_line(&mut out, o)?;
            } else {
                writeln!(
                    out,
                    "{label}: ok\n  plugin    {} {}\n  world     {} (driftwatch:collector@{}; this host: @{CONTRACT_VERSION})\n  platforms {}\n  about     {}",
                    info.name,
                    info.version,
                    info.kind.world(),
                    plugin.contract(),
                    platforms.join(", "),
                    info.description
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            if json {
                let mut o = Map::new();
                o.insert("File".into(), json!(label));
                o.insert("Valid".into(), json!(false));
                o.insert("Error".into(), json!(error));
                json_line(&mut out, o)?;
            } else {
                eprintln!("driftwatch: {error}");
            }
            Ok(ExitCode::from(1))
        }
    }
}
