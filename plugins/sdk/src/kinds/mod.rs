//! One module per collector kind: the trait an author implements and the
//! adapter that turns it into the world's generated `Guest` implementation.

/// Defines, for one kind, the author-facing trait and the adapter that
/// implements the generated bindings with it. The four kinds differ only in
/// names and record types, so they share this one definition.
macro_rules! collector_kind {
    (
        $(#[$doc:meta])*
        trait $trait_name:ident;
        wit = $wit:path;
        record = $record:ident;
        kind = $kind:ident;
    ) => {
        use std::marker::PhantomData;

        use $wit as wit;

        use crate::collection::{self, BatchStream};
        use crate::{CollectError, CollectionSummary, CollectorKind, Collection, Description, PluginInfo, ProbeResult};

        pub use wit::{$record, Settings};

        $(#[$doc])*
        pub trait $trait_name: 'static {
            /// Name, version, summary and platforms; see [`describe!`](crate::describe).
            fn describe() -> Description;
            /// Whether this collector applies to the machine or image, and why.
            fn probe() -> ProbeResult;
            /// The current state. Records are pulled lazily in batches by the host.
            fn collect(settings: Settings) -> Result<Collection<$record>, CollectError>;
            /// What a manifest entry without `grants` lets it read: paths
            /// (`"/var/lib/dpkg"`; inside `--root` for an image) and live
            /// registry keys (`r"HKEY_LOCAL_MACHINE\SOFTWARE\..."`, `*` for
            /// any one name). None by default: then the manifest must grant.
            fn default_grants() -> Vec<String> {
                Vec::new()
            }
        }

        /// Implements the generated bindings for a collector type.
        #[doc(hidden)]
        pub struct Adapter<T>(PhantomData<T>);

        impl<T: $trait_name> wit::Guest for Adapter<T> {
            type Batches = BatchStream<$record>;

            fn describe() -> PluginInfo {
                T::describe().into_info(CollectorKind::$kind)
            }

            fn probe() -> ProbeResult {
                T::probe()
            }

            fn collect(settings: Settings) -> Result<wit::Batches, CollectError> {
                collection::begin();
                T::collect(settings).map(|c| wit::Batches::new(BatchStream::new(c)))
            }
        }

        impl<T: $trait_name> crate::bindings::access::exports::driftwatch::collector::access::Guest for Adapter<T> {
            fn default_grants() -> Vec<String> {
                T::default_grants()
            }
        }

        impl wit::GuestBatches for BatchStream<$record> {
            fn next(&self) -> Result<Option<Vec<$record>>, CollectError> {
                self.next_batch()
            }

            fn summary(&self) -> CollectionSummary {
                collection::summary()
            }
        }
    };
}

pub mod packages {
    collector_kind! {
        /// A collector of installed software (`ConfigDataType == "Software"`).
        trait PackagesCollector;
        wit = crate::bindings::packages::exports::driftwatch::collector::packages;
        record = Package;
        kind = Packages;
    }

    pub use wit::SoftwareType;

    impl Package {
        /// A package with a name and version; other fields empty, type `Package`, state `installed`.
        pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
            Self {
                name: name.into(),
                version: version.into(),
                architecture: String::new(),
                publisher: String::new(),
                description: String::new(),
                software_type: SoftwareType::Package,
                install_state: "installed".into(),
                install_date: None,
            }
        }
    }
}

pub mod services {
    collector_kind! {
        /// A collector of Windows services or Linux daemons.
        trait ServicesCollector;
        wit = crate::bindings::services::exports::driftwatch::collector::services;
        record = Service;
        kind = Services;
    }

    pub use wit::ServiceState;

    impl Service {
        /// A service known by name only: state `Unknown`, other fields empty.
        pub fn new(name: impl Into<String>) -> Self {
            Self {
                name: name.into(),
                display_name: String::new(),
                state: ServiceState::Unknown,
                startup_type: String::new(),
                path: String::new(),
                account: String::new(),
                runlevels: String::new(),
                description: String::new(),
            }
        }
    }
}

pub mod files {
    collector_kind! {
        /// A collector of tracked files.
        trait FilesCollector;
        wit = crate::bindings::files::exports::driftwatch::collector::files;
        record = File;
        kind = Files;
    }

    pub use wit::{ChecksumAlgorithm, FileRule, FileType};

    use crate::fs::{DigestAlgorithm, Entry, EntryType, LinkMode, WalkRequest};

    /// Per-rule settings added after contract 0.1.0. The host passes them in
    /// the settings' options as `rule.<name>.<setting>` (the 0.1.0 records
    /// could not grow); this reads them back.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct RuleOptions {
        /// What to do with symbolic links (default: follow).
        pub links: LinkMode,
        /// Files larger than this are not hashed (0: no limit).
        pub max_size: u64,
    }

    impl FileRule {
        /// Walks this tracked path with its settings applied (links, the
        /// hash size cap, content capture): how a files collector reads a
        /// rule. A rule whose path a plugin resolves first (`%VAR%`s, say)
        /// is walked as `FileRule { path, ..rule.clone() }.walk(settings)`.
        pub fn walk(&self, settings: &Settings) -> Result<crate::fs::Entries, crate::fs::FsError> {
            crate::fs::walk_rule(&self.walk_request(settings), &self.name)
        }

        /// The rule's settings newer than contract 0.1.0.
        pub fn options(&self, settings: &Settings) -> RuleOptions {
            let get = |setting: &str| crate::option(&settings.options, &format!("rule.{}.{setting}", self.name));
            RuleOptions {
                links: match get("links") {
                    Some("ignore") => LinkMode::Ignore,
                    Some("manage") => LinkMode::Manage,
                    _ => LinkMode::Follow,
                },
                max_size: get("max-size").and_then(|v| v.parse().ok()).unwrap_or(0),
            }
        }

        /// The host walk for this rule: its folder and the name pattern of
        /// its last segment, recursion, links and hashing as it asks.
        pub(crate) fn walk_request(&self, settings: &Settings) -> WalkRequest {
            let options = self.options(settings);
            let (path, pattern) = split_pattern(&self.path);
            WalkRequest {
                pattern,
                recurse: self.recurse,
                links: options.links,
                digest: match self.checksum {
                    ChecksumAlgorithm::None => None,
                    ChecksumAlgorithm::Md5 => Some(DigestAlgorithm::Md5),
                    ChecksumAlgorithm::Sha256 => Some(DigestAlgorithm::Sha256),
                },
                max_digest_size: options.max_size,
                ..WalkRequest::new(path)
            }
        }
    }

    /// Splits a tracked path into the folder to walk and the wildcard pattern
    /// of its last segment, if it has one (`/etc/*.conf`, `C:\Windows\*.log`).
    /// `\` separates names only in Windows paths (drive or `%VAR%` first).
    pub fn split_pattern(path: &str) -> (String, Option<String>) {
        let windows = path.as_bytes().get(1) == Some(&b':') || path.starts_with('%');
        let last = if windows {
            path.rfind(['/', '\\'])
        } else {
            path.rfind('/')
        };
        match last {
            Some(i) if path[i + 1..].contains(['*', '?']) => {
                let keep_separator = i == 0 || (windows && i == 2 && path.as_bytes()[1] == b':');
                let dir = if keep_separator { &path[..=i] } else { &path[..i] };
                (dir.to_string(), Some(path[i + 1..].to_string()))
            }
            _ => (path.to_string(), None),
        }
    }

    impl File {
        /// A record of a walk entry, for the rule named `rule`; `acls` and
        /// `attributes` are left empty for the platform's own rendering.
        pub fn from_entry(entry: Entry, rule: &str) -> File {
            File {
                file_type: match entry.entry_type {
                    EntryType::File => FileType::File,
                    EntryType::Directory => FileType::Directory,
                    EntryType::Symlink => FileType::Symlink,
                    EntryType::Other => FileType::Other,
                },
                acls: String::new(),
                attributes: String::new(),
                checksum: entry.digest.unwrap_or_default(),
                date_created: entry.created,
                date_modified: entry.modified,
                link_target: entry.link_target,
                path: entry.path,
                rule: rule.to_string(),
                size: entry.size,
                error: entry.error,
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::split_pattern;

        #[test]
        fn patterns_are_split_off_the_last_segment() {
            let split = |p: &str| split_pattern(p);
            assert_eq!(split("/etc/*.conf"), ("/etc".into(), Some("*.conf".into())));
            assert_eq!(split("/*"), ("/".into(), Some("*".into())));
            assert_eq!(split("/etc/hosts"), ("/etc/hosts".into(), None));
            assert_eq!(split("/var/log/"), ("/var/log/".into(), None));
            assert_eq!(
                split("/etc/ssh/ssh?_config"),
                ("/etc/ssh".into(), Some("ssh?_config".into()))
            );
            assert_eq!(split("/odd\\name*"), ("/".into(), Some("odd\\name*".into())));
            assert_eq!(
                split("C:\\Windows\\*.log"),
                ("C:\\Windows".into(), Some("*.log".into()))
            );
            assert_eq!(split("C:\\*"), ("C:\\".into(), Some("*".into())));
            assert_eq!(
                split("%WINDIR%\\System32\\drivers\\etc\\hosts"),
                ("%WINDIR%\\System32\\drivers\\etc\\hosts".into(), None)
            );
        }
    }
}

pub mod registry {
    collector_kind! {
        /// A collector of Windows registry values.
        trait RegistryCollector;
        wit = crate::bindings::registry::exports::driftwatch::collector::registry;
        record = Value;
        kind = Registry;
    }

    pub use wit::KeyRule;
}
