//! A packages collector written directly against `wit/since_v0.1.0` (not the
//! SDK, which follows the newest contract): the host must keep running it.

#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

wit_bindgen::generate!({
    path: "../../../wit/since_v0.1.0",
    world: "packages-collector",
});

use driftwatch::collector::types::{CollectError, CollectionSummary, CollectorKind, OsFamily, PluginInfo, ProbeResult};
use exports::driftwatch::collector::packages::{Batches, Guest, GuestBatches, Package, Settings, SoftwareType};

struct Old;

impl Guest for Old {
    type Batches = Once;

    fn describe() -> PluginInfo {
        PluginInfo {
            name: "test-plugin-contract-v0-1-0".into(),
            version: "0.1.0".into(),
            kind: CollectorKind::Packages,
            platforms: vec![OsFamily::Linux],
            description: "built against driftwatch:collector@0.1.0".into(),
        }
    }

    fn probe() -> ProbeResult {
        ProbeResult {
            applies: true,
            reason: "always".into(),
        }
    }

    fn collect(_settings: Settings) -> Result<Batches, CollectError> {
        driftwatch::collector::log::log(driftwatch::collector::log::Level::Info, "old contract, still here");
        Ok(Batches::new(Once(std::cell::Cell::new(true))))
    }
}

struct Once(std::cell::Cell<bool>);

impl GuestBatches for Once {
    fn next(&self) -> Result<Option<Vec<Package>>, CollectError> {
        Ok(self.0.replace(false).then(|| {
            vec![Package {
                name: "from-contract-0.1.0".into(),
                version: "1".into(),
                architecture: "noarch".into(),
                publisher: String::new(),
                description: String::new(),
                software_type: SoftwareType::Package,
                install_state: "installed".into(),
                install_date: None,
            }]
        }))
    }

    fn summary(&self) -> CollectionSummary {
        CollectionSummary {
            warnings: Vec::new(),
            incomplete: None,
        }
    }
}

#[cfg(target_arch = "wasm32")]
export!(Old);
