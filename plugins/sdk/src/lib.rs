//! The crate a driftwatch collector plugin depends on.
//!
//! A collector is a type implementing one of four traits — [`PackagesCollector`],
//! [`ServicesCollector`], [`FilesCollector`], [`RegistryCollector`] — registered
//! with one macro, [`export_collector!`]:
//!
//! ```no_run
//! use driftwatch_sdk::prelude::*;
//!
//! struct Hello;
//!
//! impl PackagesCollector for Hello {
//!     fn describe() -> Description {
//!         driftwatch_sdk::describe!("One made-up package", [OsFamily::Linux])
//!     }
//!     fn probe() -> ProbeResult {
//!         ProbeResult::applies("always")
//!     }
//!     fn collect(_settings: PackageSettings) -> Result<Collection<Package>, CollectError> {
//!         Ok(Collection::from_vec(vec![Package::new("hello", "1.0")]))
//!     }
//! }
//!
//! driftwatch_sdk::export_collector!(packages: Hello);
//! ```
//!
//! Build it with `cargo build --release --target wasm32-wasip2`; the `.wasm` it
//! produces is the plugin. `plugins/README.md` walks through the whole path.

#[doc(hidden)]
pub mod bindings;
mod collection;
mod describe;
mod errors;
pub mod fs;
mod kinds;
pub mod log;
mod machine;
pub mod registry;
pub mod service_manager;
mod settings;
pub mod tree;

pub use bindings::types::{
    CollectError, CollectionSummary, CollectorKind, OsFamily, PluginInfo, ProbeResult, Setting, Timestamp, Warning,
};
pub use collection::{Collection, incomplete, run_warning};
pub use describe::Description;
pub use kinds::files::{ChecksumAlgorithm, File, FileRule, FileType, FilesCollector, Settings as FileSettings};
pub use kinds::packages::{Package, PackagesCollector, Settings as PackageSettings, SoftwareType};
pub use kinds::registry::{KeyRule, RegistryCollector, Settings as RegistrySettings, Value as RegistryValue};
pub use kinds::services::{Service, ServiceState, ServicesCollector, Settings as ServiceSettings};
pub use machine::{MachineFacts, machine};
pub use settings::option;

/// Everything a collector usually needs, in one `use`.
pub mod prelude {
    pub use crate::{
        ChecksumAlgorithm, CollectError, Collection, Description, File, FileRule, FileSettings, FileType,
        FilesCollector, KeyRule, OsFamily, Package, PackageSettings, PackagesCollector, ProbeResult, RegistryCollector,
        RegistrySettings, RegistryValue, Service, ServiceSettings, ServiceState, ServicesCollector, SoftwareType,
        Timestamp, incomplete, machine, option, run_warning,
    };
    pub use crate::{debug, error, info, trace, warn};
}

#[doc(hidden)]
pub mod __private {
    pub use crate::__mark_used as mark_used;

    pub use crate::kinds::{
        files::Adapter as FilesAdapter, packages::Adapter as PackagesAdapter, registry::Adapter as RegistryAdapter,
        services::Adapter as ServicesAdapter,
    };
}

/// Exports a collector type as the plugin's implementation of its kind's world.
///
/// `export_collector!(packages: MyType)` — likewise `services:`, `files:`,
/// `registry:` — where `MyType` implements the matching trait. Use it once per
/// plugin crate. It exports nothing in native builds, so a plugin's unit
/// tests run with plain `cargo test`.
#[macro_export]
macro_rules! export_collector {
    (packages: $collector:ty) => {
        $crate::__private::mark_used!($crate::PackagesCollector, $collector);
        type __DriftwatchExported = $crate::__private::PackagesAdapter<$collector>;
        // Native builds (a plugin's unit tests) have no component to export.
        #[cfg(target_arch = "wasm32")]
        $crate::bindings::packages::__export_packages_world!(
            __DriftwatchExported with_types_in $crate::bindings::packages
        );
        #[cfg(target_arch = "wasm32")]
        $crate::bindings::access::__export_access_world!(
            __DriftwatchExported with_types_in $crate::bindings::access
        );
    };
    (services: $collector:ty) => {
        $crate::__private::mark_used!($crate::ServicesCollector, $collector);
        type __DriftwatchExported = $crate::__private::ServicesAdapter<$collector>;
        // Native builds (a plugin's unit tests) have no component to export.
        #[cfg(target_arch = "wasm32")]
        $crate::bindings::services::__export_services_world!(
            __DriftwatchExported with_types_in $crate::bindings::services
        );
        #[cfg(target_arch = "wasm32")]
        $crate::bindings::access::__export_access_world!(
            __DriftwatchExported with_types_in $crate::bindings::access
        );
    };
    (files: $collector:ty) => {
        $crate::__private::mark_used!($crate::FilesCollector, $collector);
        type __DriftwatchExported = $crate::__private::FilesAdapter<$collector>;
        // Native builds (a plugin's unit tests) have no component to export.
        #[cfg(target_arch = "wasm32")]
        $crate::bindings::files::__export_files_world!(
            __DriftwatchExported with_types_in $crate::bindings::files
        );
        #[cfg(target_arch = "wasm32")]
        $crate::bindings::access::__export_access_world!(
            __DriftwatchExported with_types_in $crate::bindings::access
        );
    };
    (registry: $collector:ty) => {
        $crate::__private::mark_used!($crate::RegistryCollector, $collector);
        type __DriftwatchExported = $crate::__private::RegistryAdapter<$collector>;
        // Native builds (a plugin's unit tests) have no component to export.
        #[cfg(target_arch = "wasm32")]
        $crate::bindings::registry::__export_registry_world!(
            __DriftwatchExported with_types_in $crate::bindings::registry
        );
        #[cfg(target_arch = "wasm32")]
        $crate::bindings::access::__export_access_world!(
            __DriftwatchExported with_types_in $crate::bindings::access
        );
    };
}

/// Refers to a collector's trait functions so that native builds, which export
/// nothing, do not report the collector as dead code.
#[doc(hidden)]
#[macro_export]
macro_rules! __mark_used {
    ($trait_name:path, $collector:ty) => {
        #[cfg(not(target_arch = "wasm32"))]
        const _: () = {
            let _ = <$collector as $trait_name>::describe;
            let _ = <$collector as $trait_name>::probe;
            let _ = <$collector as $trait_name>::collect;
        };
    };
}
