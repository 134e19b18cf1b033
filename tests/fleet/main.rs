//! End-to-end tests of the fleet: a real PostgreSQL (a throwaway cluster
//! made with `initdb` for each test), the real `driftwatch-server`, and the
//! real `driftwatch` agent talking to it over TLS.

mod postgres;
mod support;

mod enroll;
mod faults;
mod shipping;
