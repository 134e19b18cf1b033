//! What a collector's inventory is collected under (see `change_engine`): a
//! hash of the settings that shape every item, and one per tracking rule.
//! Intervals and limits are left out: they change when, not what; so are a
//! plugin's default grants, which are the plugin's as its code is.
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
use crate::manifest::{Checksum, CollectorSpec, GrantsFrom, Links};

/// The fingerprint scheme `baseline` computes.
pub const VERSION: i64 = 3;

/// A collector's fingerprints under the current scheme: the grants its
/// manifest entry lists (none when they are its plugin's defaults).
pub fn baseline(spec: &CollectorSpec) -> Baseline {
    fingerprints(spec, listed_grants(spec), Links::as_str, Checksum::as_str)
}

/// The grants the manifest entry itself lists.
fn listed_grants(spec: &CollectorSpec) -> &[String] {
    match spec.grants_from {
        GrantsFrom::Manifest => &spec.grants,
        GrantsFrom::Plugin => &[],
    }
}

/// The fingerprints a collector stored before this scheme may hold: scheme
/// 2 hashed the grants the entry ran with — the manifest's, which for the
/// bundled collectors were what their plugins now declare (so: as they run
/// now, and as their entry lists them) — and scheme 1 also named a file
/// rule's `links` and `checksum` by their Rust debug text.
pub fn earlier(spec: &CollectorSpec) -> [Baseline; 3] {
    let as_run = fingerprints(spec, &spec.grants, Links::as_str, Checksum::as_str);
    [baseline_v1(spec), as_run, baseline(spec)]
}

/// The fingerprints of scheme 1, which named a file rule's `links` and
/// `checksum` settings by their Rust debug text (`Follow`, `Md5`).
fn baseline_v1(spec: &CollectorSpec) -> Baseline {
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
    fingerprints(spec, &spec.grants, links, checksum)
}

fn fingerprints(
    spec: &CollectorSpec,
    grants: &[String],
    links: impl Fn(Links) -> &'static str,
    checksum: impl Fn(Checksum) -> &'static str,
) -> Baseline {
    let config = hash(&json!({
        "kind": spec.kind.as_str(),
        "plugin": spec.plugin.to_string(),
        "grants": grants,
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
        // Scheme 2 hashed the same, for entries that list their grants.
        assert_eq!(earlier(files)[1], baseline(files));
    }

    #[test]
    fn grants_a_plugin_declares_are_not_hashed_and_translate_from_scheme_2() {
        let mut dpkg = Manifest::parse(
            "[[collector]]\nkind = \"packages\"\nplugin = \"packages-dpkg\"\ngrants = [\"/var/lib/dpkg\"]\n",
            "t.toml",
            std::path::Path::new("/"),
        )
        .unwrap()
        .collectors
        .remove(0);
        // Scheme 2, when the entry listed the grant itself.
        let stored = baseline(&dpkg);
        // Now the entry lists none and the plugin declares the same.
        dpkg.grants_from = GrantsFrom::Plugin;
        let current = baseline(&dpkg);
        assert_ne!(current.config, stored.config);
        let translated = earlier(&dpkg)
            .iter()
            .fold(stored, |stored, old| stored.translate(old, &current));
        assert_eq!(translated, current);
        // A plugin declaring other defaults does not make a new baseline.
        dpkg.grants = vec!["/var/lib/dpkg".into(), "/var/log/dpkg.log".into()];
        assert_eq!(baseline(&dpkg), current);
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
