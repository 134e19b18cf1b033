//! The store's schema, as an ordered list of migrations. A released migration
//! is never edited; changes are new entries. `PRAGMA user_version` records how
//! many have been applied.

pub const MIGRATIONS: &[&str] = &[
    V1_CONFIGURATION_DATA,
    V2_HISTORY,
    V3_INCREMENTAL,
    V4_CONTENT,
    V5_ALERTS,
    V6_SCOPES_AND_FINGERPRINTS,
    V7_OUTBOX,
    V8_SHIP_SENT,
    V9_RUNS_REPORTED,
    V10_OUTPUTS,
    V11_HEARTBEAT,
];

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

/// Change history shaped like Azure's `ConfigurationChange` (with a previous-value
/// column for every tracked field, Azure's names where Azure has one), the
/// record of every collector run, and what each collector's stored inventory
/// was collected under (for re-baselining when the manifest changes).
const V2_HISTORY: &str = "
CREATE TABLE CollectorRun (
    RunId         INTEGER PRIMARY KEY AUTOINCREMENT,
    Collector     TEXT NOT NULL,
    Plugin        TEXT NOT NULL,
    PluginVersion TEXT,
    Computer      TEXT NOT NULL,
    TimeStarted   TEXT NOT NULL,
    DurationMs    INTEGER NOT NULL,
    Outcome       TEXT NOT NULL,
    Error         TEXT,
    ItemCount     INTEGER,
    ChangeCount   INTEGER,
    WarningCount  INTEGER
);
CREATE INDEX CollectorRun_by_collector ON CollectorRun (Collector, RunId);
CREATE INDEX CollectorRun_by_time ON CollectorRun (TimeStarted);

CREATE TABLE CollectorState (
    Collector    TEXT PRIMARY KEY,
    ConfigHash   TEXT NOT NULL,
    RuleHashes   TEXT NOT NULL,
    BaselineTime TEXT NOT NULL,
    LastSuccess  TEXT NOT NULL
);

CREATE TABLE ConfigurationChange (
    ChangeId                    INTEGER PRIMARY KEY AUTOINCREMENT,
    RunId                       INTEGER NOT NULL REFERENCES CollectorRun (RunId),
    Collector                   TEXT NOT NULL,
    ItemKey                     TEXT NOT NULL,
    Computer                    TEXT NOT NULL,
    TimeGenerated               TEXT NOT NULL,
    ConfigChangeType            TEXT NOT NULL,
    ChangeCategory              TEXT NOT NULL,
    FieldsChanged               TEXT,
    SoftwareName                TEXT,
    Current                     TEXT,
    Previous                    TEXT,
    Architecture                TEXT,
    Publisher                   TEXT,
    PreviousPublisher           TEXT,
    SoftwareDescription         TEXT,
    SoftwareType                TEXT,
    InstallState                TEXT,
    PreviousInstallState        TEXT,
    InstallDate                 TEXT,
    SvcName                     TEXT,
    SvcDisplayName              TEXT,
    SvcPreviousDisplayName      TEXT,
    SvcState                    TEXT,
    SvcPreviousState            TEXT,
    SvcStartupType              TEXT,
    SvcPreviousStartupType      TEXT,
    SvcPath                     TEXT,
    SvcPreviousPath             TEXT,
    SvcAccount                  TEXT,
    SvcPreviousAccount          TEXT,
    SvcRunlevels                TEXT,
    SvcPreviousRunlevels        TEXT,
    SvcDescription              TEXT,
    SvcPreviousDescription      TEXT,
    FileSystemPath              TEXT,
    FileType                    TEXT,
    PreviousFileType            TEXT,
    Size                        INTEGER,
    PreviousSize                INTEGER,
    DateCreated                 TEXT,
    PreviousDateCreated         TEXT,
    DateModified                TEXT,
    PreviousDateModified        TEXT,
    FileContentChecksum         TEXT,
    PreviousFileContentChecksum TEXT,
    Acls                        TEXT,
    PreviousAcls                TEXT,
    Attributes                  TEXT,
    PreviousAttributes          TEXT,
    LinkTarget                  TEXT,
    PreviousLinkTarget          TEXT,
    ItemName                    TEXT,
    RegistryKey                 TEXT,
    ValueName                   TEXT,
    ValueType                   TEXT,
    PreviousValueType           TEXT,
    ValueData                   TEXT,
    PreviousValueData           TEXT
);
CREATE INDEX ConfigurationChange_by_time ON ConfigurationChange (TimeGenerated);
CREATE INDEX ConfigurationChange_by_type ON ConfigurationChange (ConfigChangeType, TimeGenerated);
CREATE INDEX ConfigurationChange_by_item ON ConfigurationChange (Collector, ItemKey);
CREATE INDEX ConfigurationChange_by_software ON ConfigurationChange (SoftwareName) WHERE SoftwareName IS NOT NULL;
CREATE INDEX ConfigurationChange_by_service ON ConfigurationChange (SvcName) WHERE SvcName IS NOT NULL;
CREATE INDEX ConfigurationChange_by_path ON ConfigurationChange (FileSystemPath) WHERE FileSystemPath IS NOT NULL;
CREATE INDEX ConfigurationChange_by_key ON ConfigurationChange (RegistryKey) WHERE RegistryKey IS NOT NULL;
CREATE INDEX ConfigurationData_by_time ON ConfigurationData (TimeGenerated);
";

/// Incremental file scans: each file's stat hash when last collected, and
/// when each collector last made a full (not incremental) collection.
/// Also drops two indexes on the current inventory that cost more on every
/// large collection than they saved on listings, and adds a narrow one that
/// an incremental run reads its stat index from.
const V3_INCREMENTAL: &str = "
ALTER TABLE ConfigurationData ADD COLUMN StatKey INTEGER;
ALTER TABLE CollectorState ADD COLUMN LastFull TEXT;
DROP INDEX ConfigurationData_by_type;
DROP INDEX ConfigurationData_by_time;
CREATE INDEX ConfigurationData_stat ON ConfigurationData (Collector, ItemKey, StatKey) WHERE StatKey IS NOT NULL;
";

/// Captured file contents: the hash of the content kept for a file's current
/// version (blobs live in the state directory's `content/` folder) and what
/// became of it (`captured`, `binary`, `too large`, `not stored`); change
/// rows carry the version before too, for `driftwatch diff`.
const V4_CONTENT: &str = "
ALTER TABLE ConfigurationData ADD COLUMN ContentHash TEXT;
ALTER TABLE ConfigurationData ADD COLUMN ContentState TEXT;
ALTER TABLE ConfigurationChange ADD COLUMN ContentHash TEXT;
ALTER TABLE ConfigurationChange ADD COLUMN ContentState TEXT;
ALTER TABLE ConfigurationChange ADD COLUMN PreviousContentHash TEXT;
ALTER TABLE ConfigurationChange ADD COLUMN PreviousContentState TEXT;
";

/// Alert rules: how far into `ConfigurationChange` each rule has looked
/// (so a change alerts once per rule, across restarts), every alert raised
/// with the document its actions send, and each action's delivery.
const V5_ALERTS: &str = "
CREATE TABLE AlertState (
    Rule         TEXT PRIMARY KEY,
    LastChangeId INTEGER NOT NULL
);
CREATE TABLE Alert (
    AlertId       INTEGER PRIMARY KEY AUTOINCREMENT,
    Rule          TEXT NOT NULL,
    Severity      TEXT NOT NULL,
    TimeGenerated TEXT NOT NULL,
    FirstChangeId INTEGER NOT NULL,
    LastChangeId  INTEGER NOT NULL,
    RowCount      INTEGER NOT NULL,
    Document      TEXT NOT NULL
);
CREATE INDEX Alert_by_time ON Alert (TimeGenerated);
CREATE TABLE AlertDelivery (
    DeliveryId  INTEGER PRIMARY KEY AUTOINCREMENT,
    AlertId     INTEGER NOT NULL REFERENCES Alert (AlertId) ON DELETE CASCADE,
    ActionIndex INTEGER NOT NULL,
    Action      TEXT NOT NULL,
    State       TEXT NOT NULL,
    Attempts    INTEGER NOT NULL DEFAULT 0,
    LastAttempt TEXT,
    DeliveredAt TEXT,
    Error       TEXT,
    -- A deliverer working on it holds it until then (an agent and a scan
    -- never send the same delivery twice).
    ClaimedUntil TEXT
);
CREATE INDEX AlertDelivery_pending ON AlertDelivery (State) WHERE State = 'pending';
";

/// What each run looked at: `full`, `incremental` or `targeted`, and a
/// targeted run's paths (the first hundred, as a JSON list). And the
/// fingerprint scheme each baseline was hashed with: baselines from before
/// scheme 2 say 1 until their collector's next run translates them.
const V6_SCOPES_AND_FINGERPRINTS: &str = "
ALTER TABLE CollectorRun ADD COLUMN Scope TEXT;
ALTER TABLE CollectorRun ADD COLUMN ScopePaths TEXT;
ALTER TABLE CollectorState ADD COLUMN Fingerprint INTEGER NOT NULL DEFAULT 1;
";

/// Shipping to a fleet server: the store is the outbox. Every write to the
/// inventory takes the next number of `InventoryClock` as its row id, so
/// "rows above N" are the writes since N; a removal leaves a numbered
/// `InventoryRemoval` while the machine ships. `ShipState` is where the
/// server's acknowledgement stands.
const V7_OUTBOX: &str = "
CREATE TABLE InventoryClock (
    Id       INTEGER PRIMARY KEY CHECK (Id = 1),
    Revision INTEGER NOT NULL
);
INSERT INTO InventoryClock (Id, Revision) SELECT 1, IFNULL(MAX(rowid), 0) FROM ConfigurationData;
CREATE TABLE InventoryRemoval (
    Revision  INTEGER PRIMARY KEY,
    Collector TEXT NOT NULL,
    ItemKey   TEXT NOT NULL
);
CREATE TABLE ShipState (
    Id          INTEGER PRIMARY KEY CHECK (Id = 1),
    Server      TEXT NOT NULL,
    Machine     TEXT NOT NULL,
    ChangeId    INTEGER NOT NULL,
    Revision    INTEGER NOT NULL,
    LastShipped TEXT,
    LastError   TEXT,
    -- When the inventory was last compared with the server's copy.
    LastVerified TEXT
);
";

/// Whether this store has sent a batch to the server and machine of
/// `ShipState`: when the first acknowledgement is lost (the server stored
/// the batch, then went away), what the server has is this store's own.
const V8_SHIP_SENT: &str = "
ALTER TABLE ShipState ADD COLUMN Sent INTEGER NOT NULL DEFAULT 0;
";

/// The last collector run the fleet server was told of (`RunId`): the
/// server is told again when a collector has run since. Collectors taken
/// out of the manifest keep their runs (history) but are no longer
/// reported, unless they run again: `ForgottenCollector` holds their last
/// run when they were forgotten.
const V9_RUNS_REPORTED: &str = "
ALTER TABLE ShipState ADD COLUMN RunsReported INTEGER NOT NULL DEFAULT 0;
CREATE TABLE ForgottenCollector (
    Collector TEXT PRIMARY KEY,
    LastRunId INTEGER NOT NULL
);
";

/// Where each `[[output]]` stands: the last change and inventory revision
/// it was sent, and what it keeps besides (a file's committed length).
const V10_OUTPUTS: &str = "
CREATE TABLE OutputPosition (
    Name      TEXT PRIMARY KEY,
    ChangeId  INTEGER NOT NULL,
    Revision  INTEGER NOT NULL,
    Offset    INTEGER NOT NULL,
    LastSent  TEXT,
    LastError TEXT
);
";

/// Azure's `Heartbeat`: one row per collection pass, saying who the
/// machine is and that its agent collected.
const V11_HEARTBEAT: &str = "
CREATE TABLE Heartbeat (
    Computer            TEXT NOT NULL,
    TimeGenerated       TEXT NOT NULL,
    Category            TEXT NOT NULL,
    OSType              TEXT,
    OSName              TEXT,
    OSMajorVersion      TEXT,
    OSMinorVersion      TEXT,
    Version             TEXT,
    ComputerIP          TEXT,
    ComputerEnvironment TEXT
);
CREATE INDEX Heartbeat_by_time ON Heartbeat (TimeGenerated);
";
