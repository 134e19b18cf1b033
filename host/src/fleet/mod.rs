//! Membership of a fleet: the server this machine reports to and the
//! credential it enrolled with (`<state>/fleet.json`), and the client that
//! talks to that server.

mod client;
mod membership;

pub use client::{FleetClient, FleetError};
pub use membership::{MEMBERSHIP_FILE, Membership, MembershipError};
