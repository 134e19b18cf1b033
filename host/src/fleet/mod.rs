//! Membership of a fleet: the server this machine reports to and the
//! credential it enrolled with (`<state>/fleet.json`), the client that
//! talks to that server, shipping what the store holds and the server
//! lacks, and the manifest the server gives the machine's group.

mod background;
mod client;
pub mod manifest;
mod membership;
mod ship;

pub use background::{manifest_loop, ship_loop};
pub use client::{FleetClient, FleetError};
pub use membership::{MEMBERSHIP_FILE, Membership, MembershipError};
pub use ship::{BATCH_ENTRIES, ShipError, Shipped, VERIFY_EVERY, Verify, ship_pending};
