//! A JavaScript project: componentize-js (pinned, with jco for WASI's WIT)
//! builds `collector.js` against a world of the contract plus WASI's
//! preopens, through which `wasi-files.js` reads the granted folders.

use super::{KindParts, NewPlugin, Project, ScaffoldError, fill, list_of};
use crate::kind::Kind;

const COLLECTOR: &str = include_str!("javascript/collector.js.in");
const README: &str = include_str!("javascript/README.md.in");
// The npm example's own files, made the project's: reading by path through
// WASI, the world, the build and its pinned tools.
const WASI_FILES: &str = include_str!("../../../examples/packages-npm/wasi-files.js");
const WORLD: &str = include_str!("../../../examples/packages-npm/wit/world.wit");
const BUILD: &str = include_str!("../../../examples/packages-npm/build.mjs");
const PACKAGE_JSON: &str = include_str!("../../../examples/packages-npm/package.json");
const GITIGNORE: &str = include_str!("../../../examples/packages-npm/.gitignore");

fn kind_parts(kind: Kind) -> KindParts {
    match kind {
        Kind::Services => KindParts {
            listing: include_str!("javascript/listing_services.js.in"),
            test: include_str!("javascript/listing_services.test.js.in"),
            record: SERVICE_RECORD,
            title: "Services",
        },
        _ => KindParts {
            listing: include_str!("javascript/listing_packages.js.in"),
            test: include_str!("javascript/listing_packages.test.js.in"),
            record: PACKAGE_RECORD,
            title: "Packages",
        },
    }
}

const PACKAGE_RECORD: &str = r#"function record({ name, version }) {
  return {
    name,
    version,
    architecture: '',
    publisher: '',
    description: '',
    softwareType: 'package',
    installState: 'installed',
    installDate: undefined,
  };
}"#;

const SERVICE_RECORD: &str = r#"function record({ name, state }) {
  return { name, displayName: name, state, startupType: '', path: '', account: '', runlevels: '', description: '' };
}"#;

pub(super) fn project(new: &NewPlugin) -> Result<Project, ScaffoldError> {
    let (list, line) = list_of(new)?;
    let parts = kind_parts(new.kind);
    let kind = new.kind.as_str();
    let (collector, include) = (format!("driftwatch's {kind} collector"), format!("/{kind}-collector@"));
    let world = [
        ("example:packages-npm", "local:plugin"),
        ("driftwatch's packages collector", collector.as_str()),
        ("/packages-collector@", include.as_str()),
    ];
    let description = format!("A driftwatch {kind} collector");
    let package = [
        (
            "A driftwatch packages collector for globally installed npm packages",
            description.as_str(),
        ),
        ("packages-npm", new.name.as_str()),
    ];
    let values = [
        ("__NAME__", new.name.as_str()),
        ("__KIND__", new.kind.as_str()),
        ("__RECORD__", parts.record),
        ("__DESCRIPTION__", parts.title),
        ("__LIST__", list.as_str()),
        ("__LINE__", line),
    ];
    Ok(Project {
        files: vec![
            ("collector.js", fill(COLLECTOR, &values)),
            ("listing.js", fill(parts.listing, &values)),
            ("listing.test.js", fill(parts.test, &values)),
            ("wasi-files.js", WASI_FILES.to_string()),
            ("wit/world.wit", fill(WORLD, &world)),
            ("package.json", fill(PACKAGE_JSON, &package)),
            ("build.mjs", fill(BUILD, &[("packages-npm", new.name.as_str())])),
            ("README.md", fill(README, &values)),
            (".gitignore", GITIGNORE.to_string()),
        ],
        build: "npm install && npm run build",
        wasm: format!("{}.wasm", new.name),
        test: "npm test",
    })
}
