//! driftwatch-server: the fleet's one place. Agents enroll, then ship their
//! inventory, changes and captured contents into one PostgreSQL.
//!
//! | module | job |
//! |---|---|
//! | `alerts` | fleet alert rules and the delivery of what they raise |
//! | `cli` | the command line |
//! | `console` | the web console: pages for signed-in people |
//! | `database` | PostgreSQL: pool, migrations, each table's queries |
//! | `http` | the API: agents enroll, ship and fetch manifests; people query; plain or over TLS |
//! | `tokens` | secrets and credentials: made at random, kept as hashes |
//! | `duration` | durations people write (`7d`, `12h`) |

pub mod alerts;
pub mod cli;
pub mod console;
pub mod database;
pub mod duration;
pub mod http;
pub mod tokens;
