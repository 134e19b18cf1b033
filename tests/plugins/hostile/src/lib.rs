//! A packages collector that misbehaves on request, for the sandbox tests.
//! The manifest option `behaviour` picks the misdeed; `path` and `count`
//! parameterise some of them. It uses the raw contract bindings instead of the
//! SDK's traits so that it can break the rules the SDK keeps (batch sizes).
//!
//! Escape attempts never fail silently: when a forbidden operation succeeds the
//! plugin reports it as a package named `ESCAPED ...`, which the tests look for.

#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

use std::cell::RefCell;

use driftwatch_sdk::bindings::packages::exports::driftwatch::collector::packages::{
    Batches, Guest, GuestBatches, Package, Settings, SoftwareType,
};
use driftwatch_sdk::bindings::types::{
    CollectError, CollectionSummary, CollectorKind, OsFamily, PluginInfo, ProbeResult,
};

struct Hostile;

impl Guest for Hostile {
    type Batches = Canned;

    fn describe() -> PluginInfo {
        PluginInfo {
            name: "test-plugin-hostile".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            kind: CollectorKind::Packages,
            platforms: vec![OsFamily::Linux, OsFamily::Windows, OsFamily::Macos, OsFamily::Other],
            description: "misbehaves on request (sandbox tests)".into(),
        }
    }

    fn probe() -> ProbeResult {
        ProbeResult::applies("always")
    }

    fn collect(settings: Settings) -> Result<Batches, CollectError> {
        let option = |key: &str| driftwatch_sdk::option(&settings.options, key).map(str::to_string);
        let path = option("path").unwrap_or_default();
        let count: usize = option("count").and_then(|c| c.parse().ok()).unwrap_or(1);
        let behaviour = option("behaviour").unwrap_or_else(|| "ok".into());
        let batches = misbehave(&behaviour, &path, count)?;
        Ok(Batches::new(Canned(RefCell::new(batches))))
    }
}

/// Does what `behaviour` says; `from-file` reads "BEHAVIOUR [COUNT]" from
/// `path`, so that a test can change it between runs without touching the
/// manifest.
fn misbehave(behaviour: &str, path: &str, count: usize) -> Result<Vec<Vec<Package>>, CollectError> {
    Ok({
        match behaviour {
            "from-file" => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| CollectError::Failed(format!("cannot read {path}: {e}")))?;
                let mut words = text.split_whitespace();
                let behaviour = words.next().unwrap_or("ok").to_string();
                let count = words.next().and_then(|c| c.parse().ok()).unwrap_or(1);
                return misbehave(&behaviour, path, count);
            }
            "ok" => vec![vec![package("hostile-ok")]],
            "sleep" => {
                std::thread::sleep(std::time::Duration::from_secs(count as u64));
                vec![vec![package("slept")]]
            }
            "trap" => {
                #[cfg(target_arch = "wasm32")]
                core::arch::wasm32::unreachable();
                #[cfg(not(target_arch = "wasm32"))]
                unreachable!("traps only in wasm")
            }
            "socket" => match std::net::TcpStream::connect(("127.0.0.1", 9)) {
                Ok(_) => vec![vec![package("ESCAPED connected to 127.0.0.1:9")]],
                Err(e) => return Err(CollectError::Failed(format!("denied: cannot connect: {e}"))),
            },
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "memory-bomb" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "panic" => panic!("deliberate panic from the hostile plugin"),
            "stack-overflow" => {
                fn deeper(depth: u64) -> u64 {
                    if depth == u64::MAX {
                        0
                    } else {
                        std::hint::black_box(deeper(depth + 1)) + 1
                    }
                }
                vec![vec![package(&deeper(0).to_string())]]
            }
            "read" => match std::fs::read(path) {
                Ok(bytes) => vec![vec![package(&format!("ESCAPED read {path} ({} bytes)", bytes.len()))]],
                Err(e) => return Err(CollectError::Failed(format!("denied: cannot read {path}: {e}"))),
            },
            "list" => match std::fs::read_dir(path) {
                Ok(entries) => vec![vec![package(&format!(
                    "ESCAPED listed {path} ({} entries)",
                    entries.count()
                ))]],
                Err(e) => return Err(CollectError::Failed(format!("denied: cannot list {path}: {e}"))),
            },
            "write" => match std::fs::write(path, b"written from inside the sandbox") {
                Ok(()) => vec![vec![package(&format!("ESCAPED wrote {path}"))]],
                Err(e) => return Err(CollectError::Failed(format!("denied: cannot write {path}: {e}"))),
            },
            "env" => {
                let vars = std::env::vars().map(|(k, _)| package(&format!("ESCAPED env {k}")));
                let args = std::env::args().map(|a| package(&format!("ESCAPED arg {a}")));
                let seen: Vec<Package> = vars.chain(args).collect();
                if seen.is_empty() {
                    vec![vec![package("no-environment")]]
                } else {
                    vec![seen]
                }
            }
            "oversized-batch" => vec![(0..count).map(|i| package(&format!("p{i}"))).collect()],
            "many-batches" => (0..count).map(|i| vec![package(&format!("p{i}"))]).collect(),
            "huge-field" => {
                let mut p = package("huge");
                p.description = "x".repeat(count);
                vec![vec![p]]
            }
            "empty-name" => vec![vec![package("")]],
            "chatty" => {
                for i in 0..count {
                    println!("stdout line {i}");
                    eprintln!("stderr line {i}");
                }
                vec![vec![package("chatty")]]
            }
            other => return Err(CollectError::InvalidSettings(format!("unknown behaviour {other:?}"))),
        }
    })
}

/// Batches prepared in advance, handed out as they are, whatever their size.
struct Canned(RefCell<Vec<Vec<Package>>>);

impl GuestBatches for Canned {
    fn next(&self) -> Result<Option<Vec<Package>>, CollectError> {
        let mut batches = self.0.borrow_mut();
        Ok(if batches.is_empty() {
            None
        } else {
            Some(batches.remove(0))
        })
    }

    fn summary(&self) -> CollectionSummary {
        CollectionSummary {
            warnings: Vec::new(),
            incomplete: None,
        }
    }
}

fn package(name: &str) -> Package {
    Package {
        name: name.into(),
        version: "1".into(),
        architecture: String::new(),
        publisher: String::new(),
        description: String::new(),
        software_type: SoftwareType::Package,
        install_state: "installed".into(),
        install_date: None,
    }
}

#[cfg(target_arch = "wasm32")]
driftwatch_sdk::bindings::packages::__export_packages_world!(Hostile with_types_in driftwatch_sdk::bindings::packages);
