//! The store's schema, as an ordered list of migrations. A released migration
//! is never edited; changes are new entries. `PRAGMA user_version` records how
//! many have been applied.

pub const MIGRATIONS: &[&str] = &[V1_CONFIGURATION_DATA];

/// Current inventory, one row per item, shaped like Azure's `ConfigurationData`.
/// `Collector` + `ItemKey` identify a row; the other columns are Azure's (plus a
/// few of our own: InstallState, InstallDate, FileType, LinkTarget, ItemName).
const V1_CONFIGURATION_DATA: &str = "
CREATE TABLE ConfigurationData (
    Collector           TEXT NOT NULL,
    ItemKey             TEXT NOT NULL,
    ConfigDataType      TEXT NOT NULL,
    Computer            TEXT NOT NULL,
    TimeGenerated       TEXT NOT NULL,
    SoftwareName        TEXT,
    CurrentVersion      TEXT,
    Architecture        TEXT,
    Publisher           TEXT,
    SoftwareDescription TEXT,
    SoftwareType        TEXT,
    InstallState        TEXT,
    InstallDate         TEXT,
    SvcName             TEXT,
    SvcDisplayName      TEXT,
    SvcState            TEXT,
    SvcStartupType      TEXT,
    SvcPath             TEXT,
    SvcAccount          TEXT,
    SvcRunlevels        TEXT,
    SvcDescription      TEXT,
    FileSystemPath      TEXT,
    FileType            TEXT,
    Size                INTEGER,
    DateCreated         TEXT,
    DateModified        TEXT,
    FileContentChecksum TEXT,
    Acls                TEXT,
    Attributes          TEXT,
    LinkTarget          TEXT,
    ItemName            TEXT,
    RegistryKey         TEXT,
    ValueName           TEXT,
    ValueType           TEXT,
    ValueData           TEXT,
    PRIMARY KEY (Collector, ItemKey)
);
CREATE INDEX ConfigurationData_by_type ON ConfigurationData (ConfigDataType, ItemKey);
";
