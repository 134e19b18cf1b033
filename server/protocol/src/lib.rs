//! The fleet API between agents and `driftwatch-server`: JSON over HTTPS,
//! one type per message. An agent authenticates with the credential it got
//! at enrollment (`Authorization: Bearer …`); its identity comes from that
//! credential, never from what it sends.

use serde::{Deserialize, Serialize};

/// Where each call goes.
pub mod paths {
    /// `POST` [`EnrollRequest`] → [`Enrolled`].
    pub const ENROLL: &str = "/v1/enroll";
    /// `GET` → [`Identity`] (is this credential good, and whose is it).
    pub const IDENTITY: &str = "/v1/identity";
    /// `GET` → `ok`: the server is up and its database answers.
    pub const HEALTH: &str = "/v1/health";
    /// `POST` [`ShipBatch`](super::ShipBatch) (gzip) → [`Position`](super::Position);
    /// `GET` → the machine's [`Position`](super::Position).
    pub const SHIP: &str = "/v1/ship";
    /// `GET` → [`InventoryDigest`](super::InventoryDigest) of the machine's inventory.
    pub const DIGEST: &str = "/v1/inventory/digest";
    /// `POST` [`ContentHashes`](super::ContentHashes) → the ones the server lacks.
    pub const CONTENTS_MISSING: &str = "/v1/contents/missing";
    /// `PUT /v1/contents/{sha256}`: a captured file content (gzip), stored
    /// once whoever sends it.
    pub const CONTENTS: &str = "/v1/contents";
    /// `POST {"query": KQL}` with an API token (not a machine credential)
    /// → `{"tables": [{"name", "columns", "rows", "truncated"}]}`.
    pub const QUERY: &str = "/v1/query";
    /// `GET` (with `If-None-Match`) → the manifest of the machine's group
    /// (TOML, with `ETag` and [`MANIFEST_GROUP_HEADER`](super::MANIFEST_GROUP_HEADER)),
    /// 304 when unchanged, 204 when none of its groups has one.
    pub const MANIFEST: &str = "/v1/manifest";
    /// `POST` [`CollectorHealthReport`](super::CollectorHealthReport) →
    /// [`CollectorHealthNoted`](super::CollectorHealthNoted): how each of the
    /// machine's collectors last ran (what the console shows).
    pub const COLLECTORS: &str = "/v1/collectors";
}

/// The header naming the group whose manifest an answer carries.
pub const MANIFEST_GROUP_HEADER: &str = "x-driftwatch-group";

pub mod columns;
mod entry_wire;

/// A machine asking to join the fleet with an enrollment secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollRequest {
    pub secret: String,
    /// The machine's name as its records carry it (`Computer`).
    pub name: String,
    /// `linux`, `windows`, ...
    pub os: String,
    pub agent_version: String,
}

/// The answer to an enrollment: the machine's credential, shown once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrolled {
    pub machine: String,
    pub credential: String,
    pub groups: Vec<String>,
}

/// Who a credential belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub machine: String,
    pub groups: Vec<String>,
}

/// Every refusal, with a reason for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub error: String,
    /// Where the server stands, when a batch did not follow on from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<Position>,
}

/// How far the server has a machine's records: the last `ChangeId` and the
/// last inventory revision it acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Position {
    pub change_id: i64,
    pub revision: i64,
}

/// Column name → value (text, integer or null), named as in
/// [`columns`].
pub type Columns = serde_json::Map<String, serde_json::Value>;

/// One shipment from an agent: what follows on from `from`, up to `to`.
/// Applying it twice changes nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShipBatch {
    pub from: Position,
    pub to: Position,
    /// `ConfigurationChange` rows, by `ChangeId`, each in `(from, to]`.
    pub changes: Vec<Columns>,
    /// Writes and removals of `ConfigurationData` rows, by revision, each in
    /// `(from, to]`.
    pub inventory: Vec<InventoryEntry>,
    /// The machine's inventory starts again from this batch (`from.revision`
    /// is 0): the server forgets what it had, unless it already has more
    /// than this batch brings (then the batch is a repeat).
    #[serde(default)]
    pub restart_inventory: bool,
}

/// On the wire, an object tagged by `op` (`write` or `remove`). It is read
/// by `entry_wire` in one pass, in any field order, rather than through
/// serde's buffering of internally tagged enums: baselines bring millions.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum InventoryEntry {
    /// The row as it now is (inserted or replaced whole).
    Write { revision: i64, row: Columns },
    /// The row with this key is gone.
    Remove {
        revision: i64,
        collector: String,
        item_key: String,
    },
}

impl InventoryEntry {
    pub fn revision(&self) -> i64 {
        match self {
            InventoryEntry::Write { revision, .. } | InventoryEntry::Remove { revision, .. } => *revision,
        }
    }
}

/// What the server holds of a machine's inventory, per collector, to be
/// compared with the agent's own: a mismatch means the inventory is sent
/// whole again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryDigest {
    pub position: Position,
    /// By collector name.
    pub collectors: Vec<CollectorDigest>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectorDigest {
    pub collector: String,
    pub items: i64,
    /// The sum of its rows' revisions, modulo [`DIGEST_MODULUS`].
    pub revisions: i64,
}

pub const DIGEST_MODULUS: i64 = 1_000_000_007;

/// Captured file contents by their SHA-256 (lowercase hex).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ContentHashes {
    pub hashes: Vec<String>,
}

/// Most hashes asked about at once.
pub const MAX_CONTENT_HASHES: usize = 10_000;

/// Most bytes of a batch as sent (gzip) and once inflated: a batch over
/// either is refused whole.
pub const MAX_BATCH_COMPRESSED: usize = 8 << 20;
pub const MAX_BATCH_INFLATED: usize = 64 << 20;

/// How each collector of a machine last ran, sent when it has run again
/// since the last report. It replaces the machine's previous report whole.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CollectorHealthReport {
    pub collectors: Vec<CollectorHealth>,
    /// Who the machine is, for the server's `Heartbeat` row of this report
    /// (absent from agents that predate it).
    #[serde(default)]
    pub heartbeat: Option<Heartbeat>,
}

/// The facts of a `Heartbeat` row (Azure's table) that the machine knows:
/// its OS and the agent's version. Each text is at most
/// [`MAX_HEARTBEAT_TEXT`] bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Heartbeat {
    /// `Linux` or `Windows`, as Azure writes them.
    pub os_type: String,
    pub os_name: String,
    pub os_major_version: String,
    pub os_minor_version: String,
    pub version: String,
}

pub const MAX_HEARTBEAT_TEXT: usize = 256;

/// One collector's latest run and its last success and failure. Times are
/// RFC 3339.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectorHealth {
    pub collector: String,
    pub plugin: String,
    #[serde(default)]
    pub plugin_version: Option<String>,
    pub last_run: String,
    /// `Succeeded`, `Partial`, `Failed`, `Skipped` (or `Running`).
    pub outcome: String,
    #[serde(default)]
    pub error: Option<String>,
    pub duration_ms: i64,
    #[serde(default)]
    pub items: Option<i64>,
    #[serde(default)]
    pub changes: Option<i64>,
    #[serde(default)]
    pub last_success: Option<String>,
    #[serde(default)]
    pub last_failure: Option<String>,
    #[serde(default)]
    pub last_failure_error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectorHealthNoted {
    pub collectors: usize,
}

/// Most collectors one report may name.
pub const MAX_COLLECTORS_REPORTED: usize = 1_000;

/// Prefixes that make secrets recognisable (and greppable in leaks).
pub mod tokens {
    /// An enrollment secret, given to people who enroll machines.
    pub const ENROLLMENT_SECRET: &str = "dwe_";
    /// A machine's credential, kept by its agent.
    pub const MACHINE_CREDENTIAL: &str = "dwm_";
    /// A person's or script's token for the query API (not for agents).
    pub const API_TOKEN: &str = "dwr_";
}
