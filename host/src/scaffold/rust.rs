//! A Rust project: a crate on the Rust SDK, built with cargo.

use super::{NewPlugin, Project, Sdk, fill};
use crate::kind::Kind;

const CARGO_TOML: &str = include_str!("rust/Cargo.toml.in");
const GITIGNORE: &str = include_str!("rust/gitignore.in");
const README: &str = include_str!("rust/README.md.in");

/// The collector's source, for a kind.
fn source(kind: Kind) -> &'static str {
    match kind {
        Kind::Packages => include_str!("rust/packages.rs.in"),
        Kind::Services => include_str!("rust/services.rs.in"),
        Kind::Files => include_str!("rust/files.rs.in"),
        Kind::Registry => include_str!("rust/registry.rs.in"),
    }
}

pub(super) fn project(new: &NewPlugin) -> Project {
    let sdk = match &new.sdk {
        Sdk::Git(url) => format!("driftwatch-sdk = {{ git = {url:?} }}"),
        Sdk::Path(path) => format!("driftwatch-sdk = {{ path = {:?} }}", path.display().to_string()),
    };
    let crate_name = new.name.replace('-', "_");
    let values = [
        ("__NAME__", new.name.as_str()),
        ("__CRATE__", crate_name.as_str()),
        ("__KIND__", new.kind.as_str()),
        ("__SDK__", sdk.as_str()),
    ];
    Project {
        files: vec![
            ("Cargo.toml", fill(CARGO_TOML, &values)),
            ("src/lib.rs", fill(source(new.kind), &values)),
            ("README.md", fill(README, &values)),
            (".gitignore", fill(GITIGNORE, &values)),
        ],
        build: "cargo build --release --target wasm32-wasip2",
        wasm: format!("target/wasm32-wasip2/release/{crate_name}.wasm"),
        test: "cargo test",
    }
}
