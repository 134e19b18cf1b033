//! Inventory items: what plugins returned, validated and normalised into rows
//! keyed per kind, with the column names of Azure's `ConfigurationData`.
//!
//! Normalising here (trimmed text, sorted items, one row per key, fixed time
//! format) is what keeps formatting or ordering differences in a plugin's
//! output from ever looking like a change.

use std::fmt;

use serde::Serialize;

use crate::exact_path;
use crate::kind::{Kind, Os};
use crate::runtime::Records;
use crate::runtime::bindings::{files_api, packages_api, registry_api, services_api};
use crate::timefmt;

/// Longest text accepted in one field (1 MiB).
pub const MAX_FIELD_BYTES: usize = 1 << 20;

/// `ConfigDataType` / `ConfigChangeType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum DataType {
    Software,
    Files,
    Daemons,
    WindowsServices,
    Registry,
}

impl DataType {
    pub const ALL: [DataType; 5] = [
        DataType::Software,
        DataType::Files,
        DataType::Daemons,
        DataType::WindowsServices,
        DataType::Registry,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DataType::Software => "Software",
            DataType::Files => "Files",
            DataType::Daemons => "Daemons",
            DataType::WindowsServices => "WindowsServices",
            DataType::Registry => "Registry",
        }
    }

    /// What a collector of `kind` records on a machine running `os`:
    /// services are `Daemons`, or `WindowsServices` on Windows.
    pub fn of(kind: Kind, os: Os) -> DataType {
        match kind {
            Kind::Packages => DataType::Software,
            Kind::Services if os == Os::Windows => DataType::WindowsServices,
            Kind::Services => DataType::Daemons,
            Kind::Files => DataType::Files,
            Kind::Registry => DataType::Registry,
        }
    }

    pub fn parse(text: &str) -> Option<DataType> {
        DataType::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(text))
    }

    /// The columns rows of this type fill, in display order.
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            DataType::Software => &[
                "SoftwareName",
                "CurrentVersion",
                "Architecture",
                "Publisher",
                "SoftwareDescription",
                "SoftwareType",
                "InstallState",
                "InstallDate",
            ],
            DataType::Daemons | DataType::WindowsServices => &[
                "SvcName",
                "SvcDisplayName",
                "SvcState",
                "SvcStartupType",
                "SvcPath",
                "SvcAccount",
                "SvcRunlevels",
                "SvcDescription",
            ],
            DataType::Files => &[
                "FileSystemPath",
                "FileType",
                "Size",
                "DateCreated",
                "DateModified",
                "FileContentChecksum",
                "Acls",
                "Attributes",
                "LinkTarget",
                "ItemName",
                "ContentHash",
                "ContentState",
                "StatKey",
            ],
            DataType::Registry => &["RegistryKey", "ValueName", "ValueType", "ValueData"],
        }
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A column value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(untagged)]
pub enum Value {
    Text(String),
    Integer(i64),
    Null,
    /// A file path that is not UTF-8, byte for byte (see `exact_path`);
    /// shown escaped.
    #[serde(serialize_with = "escaped")]
    Bytes(Vec<u8>),
}

fn escaped<S: serde::Serializer>(raw: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&exact_path::display(raw))
}

impl Value {
    /// A path from a plugin: text, or the exact bytes of a name that is
    /// not UTF-8.
    pub fn path(guest: String) -> Value {
        match exact_path::decode(&guest) {
            std::borrow::Cow::Borrowed(_) => Value::Text(guest),
            std::borrow::Cow::Owned(raw) => Value::from_bytes(raw),
        }
    }

    /// Text when the bytes are UTF-8, the bytes otherwise.
    pub fn from_bytes(raw: Vec<u8>) -> Value {
        match String::from_utf8(raw) {
            Ok(text) => Value::Text(text),
            Err(error) => Value::Bytes(error.into_bytes()),
        }
    }

    /// The value as people read it.
    pub fn display(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Value::Text(t) => t.into(),
            Value::Integer(n) => n.to_string().into(),
            Value::Null => "".into(),
            Value::Bytes(raw) => exact_path::display(raw).into(),
        }
    }
}

/// One inventory row: a stable key and its column values.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Item {
    pub key: String,
    pub fields: Vec<(&'static str, Value)>,
    /// The item exists but could not be read this time (a file that vanished or
    /// was unreadable mid-scan): its stored state is kept as it was.
    pub keep_previous: bool,
}

impl Item {
    pub fn get(&self, column: &str) -> Option<&Value> {
        self.fields.iter().find(|(c, _)| *c == column).map(|(_, v)| v)
    }

    pub fn set(&mut self, column: &str, value: Value) {
        if let Some(field) = self.fields.iter_mut().find(|(c, _)| *c == column) {
            field.1 = value;
        }
    }
}

/// Columns kept for the host's own use, not shown in listings: a hash of a
/// file's stat when last collected (for incremental scans).
pub const INTERNAL_COLUMNS: [&str; 1] = ["StatKey"];

/// A collection, normalised: sorted by key, one item per key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inventory {
    pub data_type: DataType,
    pub items: Vec<Item>,
    /// Notes about records merged away (duplicate keys).
    pub notes: Vec<String>,
}

/// Why records were refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Rejected {
    #[error("{0}")]
    Malformed(String),
    #[error("{0}")]
    Oversized(String),
}

use Rejected::Malformed;

/// Validates a batch of a plugin's records and turns them into items, in
/// the order they came. Services become `Daemons`, or `WindowsServices`
/// when the machine is Windows.
pub fn items_from(records: Records, os: Os) -> Result<(DataType, Vec<Item>), Rejected> {
    Ok(match records {
        Records::Packages(r) => (
            DataType::Software,
            r.into_iter().map(software).collect::<Result<Vec<_>, _>>()?,
        ),
        Records::Services(r) => (
            DataType::of(Kind::Services, os),
            r.into_iter().map(service).collect::<Result<Vec<_>, _>>()?,
        ),
        Records::Files(r) => (DataType::Files, r.into_iter().map(file).collect::<Result<Vec<_>, _>>()?),
        Records::Registry(r) => (
            DataType::Registry,
            r.into_iter().map(registry_value).collect::<Result<Vec<_>, _>>()?,
        ),
    })
}

/// Sorts items by key and makes one item per key: versions of a package
/// installed side by side merge; other duplicates keep one, with a note.
pub fn normalise(data_type: DataType, mut items: Vec<Item>) -> Inventory {
    items.sort();
    let mut notes = Vec::new();
    let mut unique: Vec<Item> = Vec::with_capacity(items.len());
    for item in items {
        match unique.last_mut() {
            Some(last) if last.key == item.key => {
                if data_type == DataType::Software {
                    merge_versions(last, &item);
                } else if *last != item {
                    notes.push(format!(
                        "{data_type} item {:?} reported more than once with different values; kept one",
                        item.key
                    ));
                }
            }
            _ => unique.push(item),
        }
    }
    Inventory {
        data_type,
        items: unique,
        notes,
    }
}

/// Several versions of one package installed side by side (kernels, say)
/// are one item whose version lists them all, so that installing or removing
/// one shows as a change of that list.
fn merge_versions(into: &mut Item, other: &Item) {
    for column in ["CurrentVersion", "InstallState"] {
        let (Some(Value::Text(have)), Some(Value::Text(more))) = (into.get(column).cloned(), other.get(column)) else {
            continue;
        };
        let mut all: Vec<&str> = have
            .split(", ")
            .chain(more.split(", "))
            .filter(|v| !v.is_empty())
            .collect();
        all.sort_unstable();
        all.dedup();
        into.set(column, Value::Text(all.join(", ")));
    }
    if let (Some(Value::Text(a)), Some(Value::Text(b))) = (into.get("InstallDate").cloned(), other.get("InstallDate"))
        && b.as_str() > a.as_str()
    {
        into.set("InstallDate", Value::Text(b.clone()));
    }
}

/// Trimmed text, checked for size.
fn text(column: &'static str, value: String) -> Result<(&'static str, Value), Rejected> {
    if value.len() > MAX_FIELD_BYTES {
        return Err(Rejected::Oversized(format!(
            "{column} is {} bytes long (at most {MAX_FIELD_BYTES})",
            value.len()
        )));
    }
    let trimmed = value.trim();
    Ok((
        column,
        Value::Text(if trimmed.len() == value.len() {
            value
        } else {
            trimmed.to_string()
        }),
    ))
}

/// Text that identifies the item: must not be empty.
fn key_text(column: &'static str, value: String) -> Result<(&'static str, Value), Rejected> {
    let field = text(column, value)?;
    match &field.1 {
        Value::Text(t) if t.is_empty() => Err(Malformed(format!("a record has an empty {column}"))),
        _ => Ok(field),
    }
}

fn time(
    column: &'static str,
    ts: Option<crate::runtime::bindings::types::Timestamp>,
) -> Result<(&'static str, Value), Rejected> {
    match ts {
        None => Ok((column, Value::Null)),
        Some(t) => timefmt::from_parts(t.seconds, t.nanoseconds)
            .map(|s| (column, Value::Text(s)))
            .ok_or_else(|| {
                Malformed(format!(
                    "{column} {}s {}ns is not a valid time",
                    t.seconds, t.nanoseconds
                ))
            }),
    }
}

fn key_of(fields: &[(&'static str, Value)], columns: &[&str]) -> String {
    columns
        .iter()
        .map(|c| match fields.iter().find(|(name, _)| name == c).map(|(_, v)| v) {
            Some(Value::Text(t)) => t.as_str(),
            _ => "",
        })
        .collect::<Vec<_>>()
        .join("\t")
}

fn software(p: packages_api::Package) -> Result<Item, Rejected> {
    let software_type = match p.software_type {
        packages_api::SoftwareType::Application => "Application",
        packages_api::SoftwareType::Package => "Package",
        packages_api::SoftwareType::Update => "Update",
    };
    let fields = vec![
        key_text("SoftwareName", p.name)?,
        text("CurrentVersion", p.version)?,
        text("Architecture", p.architecture)?,
        text("Publisher", p.publisher)?,
        text("SoftwareDescription", p.description)?,
        ("SoftwareType", Value::Text(software_type.into())),
        text("InstallState", p.install_state)?,
        time("InstallDate", p.install_date)?,
    ];
    Ok(Item {
        key: key_of(&fields, &["SoftwareName", "Architecture"]),
        fields,
        keep_previous: false,
    })
}

fn service(s: services_api::Service) -> Result<Item, Rejected> {
    use services_api::ServiceState as S;
    let state = match s.state {
        S::Running => "Running",
        S::Stopped => "Stopped",
        S::Paused => "Paused",
        S::StartPending => "StartPending",
        S::StopPending => "StopPending",
        S::ContinuePending => "ContinuePending",
        S::PausePending => "PausePending",
        S::Unknown => "Unknown",
    };
    let fields = vec![
        key_text("SvcName", s.name)?,
        text("SvcDisplayName", s.display_name)?,
        ("SvcState", Value::Text(state.into())),
        text("SvcStartupType", s.startup_type)?,
        text("SvcPath", s.path)?,
        text("SvcAccount", s.account)?,
        text("SvcRunlevels", s.runlevels)?,
        text("SvcDescription", s.description)?,
    ];
    Ok(Item {
        key: key_of(&fields, &["SvcName"]),
        fields,
        keep_previous: false,
    })
}

fn file(f: files_api::File) -> Result<Item, Rejected> {
    let file_type = match f.file_type {
        files_api::FileType::File => "File",
        files_api::FileType::Directory => "Directory",
        files_api::FileType::Symlink => "Symlink",
        files_api::FileType::Other => "Other",
    };
    let keep_previous = f.error.is_some();
    let size = i64::try_from(f.size).map_err(|_| Malformed(format!("Size {} is out of range", f.size)))?;
    // A path is kept exactly as the host gave it: not trimmed (a name may
    // end in a space), not made text (a name may not be UTF-8).
    if f.path.is_empty() {
        return Err(Malformed("a record has an empty FileSystemPath".into()));
    }
    if f.path.len() > MAX_FIELD_BYTES {
        return Err(Rejected::Oversized(format!(
            "FileSystemPath is {} bytes long (at most {MAX_FIELD_BYTES})",
            f.path.len()
        )));
    }
    let key = f.path.clone();
    let fields = vec![
        ("FileSystemPath", Value::path(f.path)),
        ("FileType", Value::Text(file_type.into())),
        ("Size", Value::Integer(size)),
        time("DateCreated", f.date_created)?,
        time("DateModified", f.date_modified)?,
        text("FileContentChecksum", {
            let mut checksum = f.checksum;
            checksum.make_ascii_lowercase();
            checksum
        })?,
        text("Acls", f.acls)?,
        text("Attributes", f.attributes)?,
        match f.link_target {
            Some(target) if target.len() <= MAX_FIELD_BYTES => ("LinkTarget", Value::path(target)),
            Some(target) => text("LinkTarget", target)?,
            None => ("LinkTarget", Value::Null),
        },
        text("ItemName", f.rule)?,
        // Filled in by the host from what its `fs` import saw.
        ("ContentHash", Value::Null),
        ("ContentState", Value::Null),
        ("StatKey", Value::Null),
    ];
    Ok(Item {
        key,
        fields,
        keep_previous,
    })
}

fn registry_value(v: registry_api::Value) -> Result<Item, Rejected> {
    let fields = vec![
        key_text("RegistryKey", v.key)?,
        text("ValueName", v.value_name)?,
        text("ValueType", v.value_type)?,
        text("ValueData", v.value_data)?,
    ];
    Ok(Item {
        key: key_of(&fields, &["RegistryKey", "ValueName"]),
        fields,
        keep_previous: false,
    })
}

/// The item a row (of `ConfigurationData` or `ConfigurationChange`, as
/// JSON) is about, as people name it: `KEY\ValueName` for a registry value,
/// else the software, service or file name, else its key.
pub fn item_label(row: &serde_json::Map<String, serde_json::Value>) -> Option<String> {
    let text = |name: &str| {
        row.get(name)
            .and_then(serde_json::Value::as_str)
            .filter(|s| !s.is_empty())
    };
    match (text("RegistryKey"), text("ValueName")) {
        (Some(key), Some(value)) => Some(format!("{key}\\{value}")),
        (Some(key), None) => Some(key.to_string()),
        _ => ["SoftwareName", "SvcName", "FileSystemPath", "ItemKey"]
            .iter()
            .find_map(|name| text(name))
            .map(str::to_string),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A whole collection, validated and normalised.
    fn from_records(records: Records, os: Os) -> Result<Inventory, Rejected> {
        let (data_type, items) = items_from(records, os)?;
        Ok(normalise(data_type, items))
    }

    fn package(name: &str, version: &str, arch: &str) -> packages_api::Package {
        packages_api::Package {
            name: name.into(),
            version: version.into(),
            architecture: arch.into(),
            publisher: String::new(),
            description: String::new(),
            software_type: packages_api::SoftwareType::Package,
            install_state: "installed".into(),
            install_date: None,
        }
    }

    #[test]
    fn items_are_sorted_trimmed_and_keyed_by_name_and_architecture() {
        let inv = from_records(
            Records::Packages(vec![
                package("zlib", "1.3 ", "amd64"),
                package(" bash", "5.2", "amd64"),
                package("zlib", "1.3", "i386"),
            ]),
            Os::Linux,
        )
        .unwrap();
        assert_eq!(inv.data_type, DataType::Software);
        let keys: Vec<_> = inv.items.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(keys, ["bash\tamd64", "zlib\tamd64", "zlib\ti386"]);
        assert_eq!(inv.items[1].get("CurrentVersion"), Some(&Value::Text("1.3".into())));
    }

    #[test]
    fn the_same_records_in_another_order_give_the_same_inventory() {
        let a = vec![package("a", "1", "x"), package("b", "2", "x"), package("c", "3", "x")];
        let mut b = a.clone();
        b.reverse();
        assert_eq!(
            from_records(Records::Packages(a), Os::Linux),
            from_records(Records::Packages(b), Os::Linux)
        );
    }

    #[test]
    fn versions_installed_side_by_side_are_one_item() {
        let records =
            |versions: &[&str]| Records::Packages(versions.iter().map(|v| package("kernel", v, "x86_64")).collect());
        let one = from_records(records(&["6.2", "6.1", "6.2"]), Os::Linux).unwrap();
        let two = from_records(records(&["6.1", "6.2"]), Os::Linux).unwrap();
        assert_eq!(one, two);
        assert_eq!(one.items.len(), 1);
        assert_eq!(
            one.items[0].get("CurrentVersion"),
            Some(&Value::Text("6.1, 6.2".into()))
        );
        assert!(one.notes.is_empty());
    }

    #[test]
    fn other_duplicate_keys_keep_one_with_a_note() {
        let svc = |state| services_api::Service {
            name: "ssh".into(),
            display_name: String::new(),
            state,
            startup_type: "enabled".into(),
            path: String::new(),
            account: String::new(),
            runlevels: String::new(),
            description: String::new(),
        };
        let records = Records::Services(vec![
            svc(services_api::ServiceState::Running),
            svc(services_api::ServiceState::Stopped),
        ]);
        let inv = from_records(records, Os::Linux).unwrap();
        assert_eq!(inv.items.len(), 1);
        assert_eq!(inv.notes.len(), 1);
    }

    #[test]
    fn malformed_records_are_rejected() {
        let err = from_records(Records::Packages(vec![package("  ", "1", "x")]), Os::Linux).unwrap_err();
        assert_eq!(err, Malformed("a record has an empty SoftwareName".into()));
        let huge = "x".repeat(MAX_FIELD_BYTES + 1);
        let err = from_records(Records::Packages(vec![package("a", &huge, "x")]), Os::Linux).unwrap_err();
        assert_eq!(
            err,
            Rejected::Oversized("CurrentVersion is 1048577 bytes long (at most 1048576)".into())
        );
        let mut bad_time = package("a", "1", "x");
        bad_time.install_date = Some(crate::runtime::bindings::types::Timestamp {
            seconds: 0,
            nanoseconds: 2_000_000_000,
        });
        assert!(from_records(Records::Packages(vec![bad_time]), Os::Linux).is_err());
    }

    #[test]
    fn services_are_daemons_on_linux_and_windows_services_on_windows() {
        let svc = services_api::Service {
            name: "ssh".into(),
            display_name: String::new(),
            state: services_api::ServiceState::Running,
            startup_type: "enabled".into(),
            path: String::new(),
            account: String::new(),
            runlevels: String::new(),
            description: String::new(),
        };
        let linux = from_records(Records::Services(vec![svc.clone()]), Os::Linux).unwrap();
        assert_eq!(linux.data_type, DataType::Daemons);
        assert_eq!(linux.items[0].get("SvcState"), Some(&Value::Text("Running".into())));
        let windows = from_records(Records::Services(vec![svc]), Os::Windows).unwrap();
        assert_eq!(windows.data_type, DataType::WindowsServices);
    }
}
