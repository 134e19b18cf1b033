//! A Python project: componentize-py (pinned) builds `collector.py`, with
//! CPython inside, against the contract `driftwatch plugin wit` writes.

use super::{NewPlugin, Project, ScaffoldError, fill, list_of};
use crate::kind::Kind;

const COLLECTOR: &str = include_str!("python/collector.py.in");
const README: &str = include_str!("python/README.md.in");
// The Python example's own build files, made the project's.
const BUILD: &str = include_str!("../../../examples/packages-python/build.sh");
const REQUIREMENTS: &str = include_str!("../../../examples/packages-python/requirements.txt");
const GITIGNORE: &str = include_str!("../../../examples/packages-python/.gitignore");

/// The kind's parsing module, its test, its export class, how an item
/// becomes a record, and what it collects (for `describe`).
fn kind_parts(kind: Kind) -> (&'static str, &'static str, &'static str, &'static str, &'static str) {
    match kind {
        Kind::Services => (
            include_str!("python/listing_services.py.in"),
            include_str!("python/test_listing_services.py.in"),
            "Services",
            SERVICE_RECORD,
            "Services",
        ),
        _ => (
            include_str!("python/listing_packages.py.in"),
            include_str!("python/test_listing_packages.py.in"),
            "Packages",
            PACKAGE_RECORD,
            "Packages",
        ),
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
    let (listing, test, class, record, description) = kind_parts(new.kind);
    let upper = new.kind.as_str().to_uppercase();
    let world = format!("{}-collector", new.kind);
    let values = [
        ("__NAME__", new.name.as_str()),
        ("__KIND__", new.kind.as_str()),
        ("__UPPER_KIND__", upper.as_str()),
        ("__CLASS__", class),
        ("__RECORD__", record),
        ("__DESCRIPTION__", description),
        ("__LIST__", list.as_str()),
        ("__LINE__", line),
    ];
    Ok(Project {
        files: vec![
            ("collector.py", fill(COLLECTOR, &values)),
            ("listing.py", fill(listing, &values)),
            ("test_listing.py", fill(test, &values)),
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
