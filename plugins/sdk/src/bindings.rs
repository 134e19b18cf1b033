//! Generated bindings, one module per collector world. The shared interfaces
//! (`types`, `log`, `machine`, `registry-access`) are generated once, with the packages world, and
//! reused by the others so every kind sees the same Rust types.

pub mod packages {
    wit_bindgen::generate!({
        path: "wit",
        world: "packages-core",
        pub_export_macro: true,
        export_macro_name: "__export_packages_world",
        default_bindings_module: "driftwatch_sdk::bindings::packages",
    });
}

pub mod services {
    wit_bindgen::generate!({
        path: "wit",
        world: "services-core",
        pub_export_macro: true,
        export_macro_name: "__export_services_world",
        default_bindings_module: "driftwatch_sdk::bindings::services",
        with: {
            "driftwatch:collector/fs@0.1.3": crate::bindings::files::driftwatch::collector::fs,
            "driftwatch:collector/types@0.1.3": crate::bindings::packages::driftwatch::collector::types,
            "driftwatch:collector/log@0.1.3": crate::bindings::packages::driftwatch::collector::log,
            "driftwatch:collector/machine@0.1.3": crate::bindings::packages::driftwatch::collector::machine,
            "driftwatch:collector/registry-access@0.1.3": crate::bindings::packages::driftwatch::collector::registry_access,
        },
    });
}

pub mod files {
    wit_bindgen::generate!({
        path: "wit",
        world: "files-core",
        pub_export_macro: true,
        export_macro_name: "__export_files_world",
        default_bindings_module: "driftwatch_sdk::bindings::files",
        with: {
            "driftwatch:collector/types@0.1.3": crate::bindings::packages::driftwatch::collector::types,
            "driftwatch:collector/log@0.1.3": crate::bindings::packages::driftwatch::collector::log,
            "driftwatch:collector/machine@0.1.3": crate::bindings::packages::driftwatch::collector::machine,
            "driftwatch:collector/registry-access@0.1.3": crate::bindings::packages::driftwatch::collector::registry_access,
        },
    });
}

pub mod registry {
    wit_bindgen::generate!({
        path: "wit",
        world: "registry-core",
        pub_export_macro: true,
        export_macro_name: "__export_registry_world",
        default_bindings_module: "driftwatch_sdk::bindings::registry",
        with: {
            "driftwatch:collector/types@0.1.3": crate::bindings::packages::driftwatch::collector::types,
            "driftwatch:collector/log@0.1.3": crate::bindings::packages::driftwatch::collector::log,
            "driftwatch:collector/machine@0.1.3": crate::bindings::packages::driftwatch::collector::machine,
            "driftwatch:collector/registry-access@0.1.3": crate::bindings::packages::driftwatch::collector::registry_access,
        },
    });
}

pub use packages::driftwatch::collector::{log, machine, registry_access, types};
pub use services::driftwatch::collector::service_manager;

/// The `access` export (contract 0.1.3), generated once: every kind's
/// export macro invokes it beside the kind's own, and the two worlds'
/// type sections join into the kind's `<kind>-collector` world.
pub mod access {
    wit_bindgen::generate!({
        path: "wit",
        inline: "package driftwatch:sdk;\nworld access { export driftwatch:collector/access@0.1.3; }",
        world: "driftwatch:sdk/access",
        pub_export_macro: true,
        export_macro_name: "__export_access_world",
        default_bindings_module: "driftwatch_sdk::bindings::access",
    });
}
