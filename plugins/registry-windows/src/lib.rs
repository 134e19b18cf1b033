//! driftwatch collector for tracked Windows registry keys: the values of
//! each key the manifest names (one value, or all; recursively on request,
//! to a depth limit), from the live registry or an offline image's hives.

use std::collections::HashSet;

use driftwatch_sdk::registry::{Key, Registry, RegistryError};
use driftwatch_sdk::{KeyRule, prelude::*};

/// How deep recursion goes when a rule sets no limit: deeper than any real
/// registry, shallow enough to stop a loop in a damaged hive.
pub const DEEPEST: u32 = 512;

struct RegistryWindows;

impl RegistryCollector for RegistryWindows {
    fn describe() -> Description {
        driftwatch_sdk::describe!("Tracked Windows registry keys and values", [OsFamily::Windows])
    }

    /// What it reads: an image's hive files; live, the keys a manifest tracks are granted by tracking them.
    fn default_grants() -> Vec<String> {
        ["/Windows/System32/config", "/Users", "/Documents and Settings"]
            .map(String::from)
            .to_vec()
    }

    fn probe() -> ProbeResult {
        if machine().os != OsFamily::Windows {
            return ProbeResult::not_applicable("not a Windows system");
        }
        if Registry::open().is_live() {
            ProbeResult::applies("the live registry")
        } else {
            ProbeResult::applies("the image's hives")
        }
    }

    fn collect(settings: RegistrySettings) -> Result<Collection<RegistryValue>, CollectError> {
        Ok(Collection::from_vec(collect_from(&Registry::open(), &settings.rules)))
    }
}

driftwatch_sdk::export_collector!(registry: RegistryWindows);

/// The values the rules track. A key that does not exist has no values; one
/// that cannot be read is a warning and makes the collection incomplete.
pub fn collect_from(registry: &Registry, rules: &[KeyRule]) -> Vec<RegistryValue> {
    let mut values = Vec::new();
    let mut seen = HashSet::new();
    for rule in rules {
        match registry.key(&rule.key) {
            Ok(Some(key)) => {
                let depth = if rule.recurse { rule.max_depth.min(DEEPEST) } else { 0 };
                let depth = if rule.recurse && depth == 0 { DEEPEST } else { depth };
                visit(&key, rule, depth, &mut values, &mut seen);
            }
            Ok(None) => debug!("{}: {} does not exist", rule.name, rule.key),
            Err(error) => unreadable(&rule.key, &error),
        }
    }
    for problem in registry.take_warnings() {
        run_warning("registry", problem);
    }
    values
}

/// The key's values, then its subkeys' down to `levels` more levels.
fn visit(key: &Key, rule: &KeyRule, levels: u32, out: &mut Vec<RegistryValue>, seen: &mut HashSet<String>) {
    match key.values() {
        Ok(found) => {
            for value in found {
                if rule
                    .value_name
                    .as_ref()
                    .is_some_and(|wanted| !wanted.eq_ignore_ascii_case(&value.name))
                {
                    continue;
                }
                // Overlapping rules report a value once.
                if !seen.insert(format!("{}\\{}", key.path(), value.name).to_lowercase()) {
                    continue;
                }
                out.push(RegistryValue {
                    key: key.path().to_string(),
                    value_type: value.type_name(),
                    value_data: value.render(),
                    value_name: value.name,
                    last_write: key.last_write(),
                });
            }
        }
        Err(error) => unreadable(key.path(), &error),
    }
    if levels == 0 {
        return;
    }
    match key.subkeys() {
        Ok(subkeys) => subkeys.iter().for_each(|sub| visit(sub, rule, levels - 1, out, seen)),
        Err(error) => unreadable(key.path(), &error),
    }
}

fn unreadable(subject: &str, error: &RegistryError) {
    run_warning(subject, error.to_string());
    incomplete(format!("{subject} could not be read"));
}

#[cfg(test)]
mod tests;
