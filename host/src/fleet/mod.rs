//! Membership of a fleet: the server this machine reports to and the
//! credential it enrolled with (`<state>/fleet.json`), the client that
//! talks to that server, and shipping what the store holds and the server
//! lacks.

mod background;
mod client;
mod membership;
mod ship;

pub use background::ship_loop;
pub use client::{FleetClient, FleetError};
pub use membership::{MEMBERSHIP_FILE, Membership, MembershipError};
pub use ship::{BATCH_ENTRIES, ShipError, Shipped, VERIFY_EVERY, Verify, ship_pending};
