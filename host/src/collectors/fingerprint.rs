//! What a collector's inventory is collected under (see `change_engine`): a
//! hash of the settings that shape every item, and one per tracking rule.
//! Intervals and limits are left out: they change when, not what.
//!
//! Settings enter a hash by explicit names — the manifest's own words —
//! never by a Rust type's debug text, so that renaming code cannot move a
//! hash and re-baseline machines. Changing what is hashed makes a new
//! [`VERSION`]; baselines stored under an older one are translated once
//! (`Store::translate_baseline`), which re-baselines nothing.

use std::collections::BTreeMap;

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::change_engine::Baseline;
use crate::manifest::{Checksum, CollectorSpec, Links};

/// The fingerprint scheme `baseline` computes.
pub const VERSION: i64 = 2;

/// A collector's fingerprints under the current scheme.
pub fn baseline(spec: &CollectorSpec) -> Baseline {
    fingerprints(spec, Links::as_str, Checksum::as_str)
}

/// The fingerprints of scheme 1, which named a file rule's `links` and
/// `checksum` settings by their Rust debug text (`Follow`, `Md5`).
pub fn baseline_v1(spec: &CollectorSpec) -> Baseline {
    let links = |links: Links| match links {
        Links::Ignore => "Ignore",
        Links::Follow => "Follow",
        Links::Manage => "Manage",
    };
    let checksum = |checksum: Checksum| match checksum {
        Checksum::None => "None",
        Checksum::Md5 => "Md5",
        Checksum::Sha256 => "Sha256",
    };
    fingerprints(spec, links, checksum)
}

fn fingerprints(
    spec: &CollectorSpec,
    links: impl Fn(Links) -> &'static str,
    checksum: impl Fn(Checksum) -> &'static str,
) -> Baseline {
    let config = hash(&json!({
        "kind": spec.kind.as_str(),
        "plugin": spec.plugin.to_string(),
        "grants": spec.grants,
        "options": spec.options,
    }));
    let mut rules: BTreeMap<String, String> = BTreeMap::new();
    for p in spec.paths.iter().filter(|p| p.enabled) {
        let rule = json!([
            p.path,
            p.recurse,
            links(p.links),
            checksum(p.checksum),
            p.max_size,
            p.capture_content,
            p.max_content_size,
            p.capture_binary
        ]);
        rules.insert(p.name.clone(), hash(&rule));
    }
    // Registry values are matched to rules by key, so rules on one key share a hash.
    let mut by_key: BTreeMap<&str, Vec<serde_json::Value>> = BTreeMap::new();
    for k in spec.keys.iter().filter(|k| k.enabled) {
        by_key
            .entry(&k.key)
            .or_default()
            .push(json!([k.value, k.recurse, k.max_depth]));
    }
    for (key, settings) in by_key {
        rules.insert(key.to_string(), hash(&serde_json::Value::Array(settings)));
    }
    Baseline { config, rules }
}

fn hash(value: &serde_json::Value) -> String {
    let digest = Sha256::digest(value.to_string().as_bytes());
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Manifest;

    const MANIFEST: &str = r#"
[[collector]]
name = "f"
kind = "files"
plugin = "files-posix"
grants = ["/etc"]
options = { a = "b" }
  [[collector.paths]]
  name = "hosts"
  path = "/etc/hosts"
  [[collector.paths]]
  name = "conf"
  path = "/etc/*.conf"
  recurse = true
  links = "manage"
  checksum = "sha256"
  max_size = 1000
  capture_content = true
  max_content_size = 2000
  capture_binary = true
[[collector]]
name = "r"
kind = "registry"
plugin = "registry-windows"
  [[collector.keys]]
  key = 'HKEY_LOCAL_MACHINE\SOFTWARE\X'
  [[collector.keys]]
  key = 'HKEY_LOCAL_MACHINE\SOFTWARE\X'
  value = "V"
  recurse = true
  max_depth = 3
"#;

    fn specs() -> Vec<CollectorSpec> {
        Manifest::parse(MANIFEST, "t.toml", std::path::Path::new("/"))
            .unwrap()
            .collectors
    }

    fn expected(config: &str, rules: &[(&str, &str)]) -> Baseline {
        Baseline {
            config: config.into(),
            rules: rules.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }
    }

    #[test]
    fn scheme_1_gives_the_hashes_stores_hold() {
        // Computed by the code that wrote scheme 1, from the manifest above.
        let specs = specs();
        assert_eq!(
            baseline_v1(&specs[0]),
            expected(
                "2797ca38566e3597558680b473c3cdcb",
                &[
                    ("conf", "a9de7a0180435590cc867332dc5a7e4c"),
                    ("hosts", "352fe9776b58698f43270c591c1aa333")
                ]
            )
        );
        assert_eq!(
            baseline_v1(&specs[1]),
            expected(
                "d73b196d0252ce9bae9eb9cf77390aaf",
                &[("HKEY_LOCAL_MACHINE\\SOFTWARE\\X", "923f7bb6f4a3aff4c484e0c0c055ba77")]
            )
        );
    }

    #[test]
    fn the_current_scheme_differs_only_where_names_changed() {
        let specs = specs();
        let (files, registry) = (&specs[0], &specs[1]);
        assert_eq!(baseline(files).config, baseline_v1(files).config);
        assert_ne!(baseline(files).rules["hosts"], baseline_v1(files).rules["hosts"]);
        assert_eq!(baseline(registry), baseline_v1(registry));
    }

    #[test]
    fn hashed_names_are_the_manifests_words() {
        for links in [Links::Ignore, Links::Follow, Links::Manage] {
            let parsed: Links = serde_json::from_value(json!(links.as_str())).unwrap();
            assert_eq!(parsed, links);
        }
        for checksum in [Checksum::None, Checksum::Md5, Checksum::Sha256] {
            let parsed: Checksum = serde_json::from_value(json!(checksum.as_str())).unwrap();
            assert_eq!(parsed, checksum);
        }
    }
}
