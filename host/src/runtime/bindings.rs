//! Host-side bindings of the plugin contract, one module per collector world.
//! The shared interfaces (`types`, `log`, `machine`) are generated once, with
//! the packages world, and reused by the others.

pub mod packages {
    wasmtime::component::bindgen!({
        path: "../wit/since_v0.1.1",
        world: "packages-collector",
    });
}

pub mod services {
    wasmtime::component::bindgen!({
        path: "../wit/since_v0.1.1",
        world: "services-collector",
        with: {
            "driftwatch:collector/fs": crate::runtime::bindings::files::driftwatch::collector::fs,
            "driftwatch:collector/types": crate::runtime::bindings::packages::driftwatch::collector::types,
            "driftwatch:collector/log": crate::runtime::bindings::packages::driftwatch::collector::log,
            "driftwatch:collector/machine": crate::runtime::bindings::packages::driftwatch::collector::machine,
        },
    });
}

pub mod files {
    wasmtime::component::bindgen!({
        path: "../wit/since_v0.1.1",
        world: "files-collector",
        with: {
            "driftwatch:collector/fs.walk": crate::runtime::fs_import::Walker,
            "driftwatch:collector/types": crate::runtime::bindings::packages::driftwatch::collector::types,
            "driftwatch:collector/log": crate::runtime::bindings::packages::driftwatch::collector::log,
            "driftwatch:collector/machine": crate::runtime::bindings::packages::driftwatch::collector::machine,
        },
    });
}

pub mod registry {
    wasmtime::component::bindgen!({
        path: "../wit/since_v0.1.1",
        world: "registry-collector",
        with: {
            "driftwatch:collector/types": crate::runtime::bindings::packages::driftwatch::collector::types,
            "driftwatch:collector/log": crate::runtime::bindings::packages::driftwatch::collector::log,
            "driftwatch:collector/machine": crate::runtime::bindings::packages::driftwatch::collector::machine,
        },
    });
}

pub use files::driftwatch::collector::fs;
pub use packages::driftwatch::collector::{log, machine, types};

pub use files::exports::driftwatch::collector::files as files_api;
pub use packages::exports::driftwatch::collector::packages as packages_api;
pub use registry::exports::driftwatch::collector::registry as registry_api;
pub use services::exports::driftwatch::collector::services as services_api;
