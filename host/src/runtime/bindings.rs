//! Host-side bindings of the plugin contract, one module per collector world.
//! The shared interfaces (`types`, `log`, `machine`, `registry-access`) are
//! generated once, with the packages world, and reused by the others.

pub mod packages {
    wasmtime::component::bindgen!({
        path: "../wit/since_v0.1.3",
        world: "packages-core",
    });
}

pub mod services {
    wasmtime::component::bindgen!({
        path: "../wit/since_v0.1.3",
        world: "services-core",
        with: {
            "driftwatch:collector/fs": crate::runtime::bindings::files::driftwatch::collector::fs,
            "driftwatch:collector/types": crate::runtime::bindings::packages::driftwatch::collector::types,
            "driftwatch:collector/log": crate::runtime::bindings::packages::driftwatch::collector::log,
            "driftwatch:collector/machine": crate::runtime::bindings::packages::driftwatch::collector::machine,
            "driftwatch:collector/registry-access": crate::runtime::bindings::packages::driftwatch::collector::registry_access,
        },
    });
}

pub mod files {
    wasmtime::component::bindgen!({
        path: "../wit/since_v0.1.3",
        world: "files-core",
        with: {
            "driftwatch:collector/fs.walk": crate::runtime::fs_import::Walker,
            "driftwatch:collector/types": crate::runtime::bindings::packages::driftwatch::collector::types,
            "driftwatch:collector/log": crate::runtime::bindings::packages::driftwatch::collector::log,
            "driftwatch:collector/machine": crate::runtime::bindings::packages::driftwatch::collector::machine,
            "driftwatch:collector/registry-access": crate::runtime::bindings::packages::driftwatch::collector::registry_access,
        },
    });
}

pub mod registry {
    wasmtime::component::bindgen!({
        path: "../wit/since_v0.1.3",
        world: "registry-core",
        with: {
            "driftwatch:collector/types": crate::runtime::bindings::packages::driftwatch::collector::types,
            "driftwatch:collector/log": crate::runtime::bindings::packages::driftwatch::collector::log,
            "driftwatch:collector/machine": crate::runtime::bindings::packages::driftwatch::collector::machine,
            "driftwatch:collector/registry-access": crate::runtime::bindings::packages::driftwatch::collector::registry_access,
        },
    });
}

pub use files::driftwatch::collector::fs;
pub use packages::driftwatch::collector::{log, machine, registry_access, types};
pub use services::driftwatch::collector::service_manager;

pub use files::exports::driftwatch::collector::files as files_api;
pub use packages::exports::driftwatch::collector::packages as packages_api;
pub use registry::exports::driftwatch::collector::registry as registry_api;
pub use services::exports::driftwatch::collector::services as services_api;
