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
}

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
}

/// Prefixes that make secrets recognisable (and greppable in leaks).
pub mod tokens {
    /// An enrollment secret, given to people who enroll machines.
    pub const ENROLLMENT_SECRET: &str = "dwe_";
    /// A machine's credential, kept by its agent.
    pub const MACHINE_CREDENTIAL: &str = "dwm_";
}
