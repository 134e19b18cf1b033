//! A Python project: componentize-py (pinned) builds `collector.py`, with
//! CPython inside, against the contract `driftwatch plugin wit` writes.

use super::{KindParts, NewPlugin, Project, ScaffoldError, fill, list_of};
use crate::kind::Kind;

const COLLECTOR: &str = include_str!("python/collector.py.in");
const README: &str = include_str!("python/README.md.in");
// The Python example's own build files, made the project's.
const BUILD: &str = include_str!("../../../examples/packages-python/build.sh");
const REQUIREMENTS: &str = include_str!("../../../examples/packages-python/requirements.txt");
const GITIGNORE: &str = include_str!("../../../examples/packages-python/.gitignore");

fn kind_parts(kind: Kind) -> KindParts {
    match kind {
        Kind::Services => KindParts {
            listing: include_str!("python/listing_services.py.in"),
            test: include_str!("python/test_listing_services.py.in"),
            record: SERVICE_RECORD,
            title: "Services",
        },
        _ => KindParts {
            listing: include_str!("python/listing_packages.py.in"),
            test: include_str!("python/test_listing_packages.py.in"),
            record: PACKAGE_RECORD,
            title: "Packages",
        },
    }
}

const PACKAGE_RECORD: &str = r#"def record(name, version):
    return api.Package(
        name=name,
        version=version,
        architecture="",
        publisher="",
        description="",
        software_type=api.SoftwareType.PACKAGE,
        install_state="installed",
        install_date=None,
    )"#;

const SERVICE_RECORD: &str = r#"def record(name, state):
    return api.Service(
        name=name,
        display_name=name,
        state=api.ServiceState.RUNNING if state == "running" else api.ServiceState.STOPPED,
        startup_type="",
        path="",
        account="",
        runlevels="",
        description="",
    )"#;

pub(super) fn project(new: &NewPlugin) -> Result<Project, ScaffoldError> {
    let (list, line) = list_of(new)?;
    let parts = kind_parts(new.kind);
    let upper = new.kind.as_str().to_uppercase();
    let world = format!("{}-collector", new.kind);
    let values = [
        ("__NAME__", new.name.as_str()),
        ("__KIND__", new.kind.as_str()),
        ("__UPPER_KIND__", upper.as_str()),
        ("__CLASS__", parts.title),
        ("__RECORD__", parts.record),
        ("__DESCRIPTION__", parts.title),
        ("__LIST__", list.as_str()),
        ("__LINE__", line),
    ];
    Ok(Project {
        files: vec![
            ("collector.py", fill(COLLECTOR, &values)),
            ("listing.py", fill(parts.listing, &values)),
            ("test_listing.py", fill(parts.test, &values)),
            (
                "build.sh",
                fill(
                    BUILD,
                    &[
                        ("packages-python", new.name.as_str()),
                        ("packages-collector", world.as_str()),
                    ],
                ),
            ),
            ("requirements.txt", REQUIREMENTS.to_string()),
            ("README.md", fill(README, &values)),
            (".gitignore", GITIGNORE.to_string()),
        ],
        build: "sh build.sh",
        wasm: format!("{}.wasm", new.name),
        test: "python3 -m unittest",
    })
}
