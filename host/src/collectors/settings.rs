//! A manifest entry's settings in the contract's terms: what `collect`
//! receives, and which files' contents the host keeps while it reads them.

use std::collections::HashMap;
use std::sync::Arc;

use super::grants::rule_path;
use crate::content_store::ContentStore;
use crate::kind::Kind;
use crate::machine::Machine;
use crate::manifest::{Checksum, CollectorSpec};
use crate::runtime::bindings::types::Setting;
use crate::runtime::bindings::{files_api, packages_api, registry_api, services_api};
use crate::runtime::{CaptureRule, ContentCapture, Settings};

/// The kind-specific settings `collect` receives.
pub fn for_collect(spec: &CollectorSpec, machine: &Machine) -> Settings {
    let setting = |key: String, value: String| Setting { key, value };
    let mut options: Vec<Setting> = spec
        .options
        .iter()
        .map(|(k, v)| setting(k.clone(), v.clone()))
        .collect();
    match spec.kind {
        Kind::Packages => Settings::Packages(packages_api::Settings { options }),
        Kind::Services => Settings::Services(services_api::Settings { options }),
        Kind::Files => {
            let rules: Vec<_> = spec.paths.iter().filter(|p| p.enabled).collect();
            // Per-rule settings newer than the 0.1.0 records travel as options.
            for rule in &rules {
                options.push(setting(format!("rule.{}.links", rule.name), rule.links.as_str().into()));
                options.push(setting(
                    format!("rule.{}.max-size", rule.name),
                    rule.max_size.to_string(),
                ));
            }
            Settings::Files(files_api::Settings {
                rules: rules
                    .iter()
                    .map(|p| files_api::FileRule {
                        name: p.name.clone(),
                        group_tag: p.group_tag.clone(),
                        path: rule_path(p, machine),
                        recurse: p.recurse,
                        checksum: match p.checksum {
                            Checksum::None => files_api::ChecksumAlgorithm::None,
                            Checksum::Md5 => files_api::ChecksumAlgorithm::Md5,
                            Checksum::Sha256 => files_api::ChecksumAlgorithm::Sha256,
                        },
                        capture_content: p.capture_content,
                        max_content_size: p.max_content_size,
                    })
                    .collect(),
                options,
            })
        }
        Kind::Registry => Settings::Registry(registry_api::Settings {
            rules: spec
                .keys
                .iter()
                .filter(|k| k.enabled)
                .map(|k| registry_api::KeyRule {
                    name: k.name.clone(),
                    group_tag: k.group_tag.clone(),
                    key: k.key.clone(),
                    value_name: k.value.clone(),
                    recurse: k.recurse,
                    max_depth: k.max_depth,
                })
                .collect(),
            options,
        }),
    }
}

/// The content capture of a files collector's rules, if any rule captures.
pub fn content_capture(spec: &CollectorSpec, store: &ContentStore) -> Option<Arc<ContentCapture>> {
    let rules: HashMap<String, CaptureRule> = spec
        .paths
        .iter()
        .filter(|rule| rule.enabled && rule.capture_content)
        .map(|rule| {
            let capture = CaptureRule {
                max_size: rule.max_content_size,
                binary: rule.capture_binary,
            };
            (rule.name.clone(), capture)
        })
        .collect();
    (!rules.is_empty()).then(|| {
        Arc::new(ContentCapture {
            store: store.clone(),
            rules,
        })
    })
}
