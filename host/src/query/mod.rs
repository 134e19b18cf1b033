//! KQL over the agent's store. The language (parser, checks, translation to
//! SQL) is `driftwatch_kql`, shared with the fleet server; what is SQLite's
//! lives here: the SQL functions translated queries call, and how
//! parameters bind.

mod functions;

#[cfg(test)]
mod tests;

pub use driftwatch_kql::*;
pub use functions::register as register_functions;

use rusqlite::types::Value as SqlValue;

use crate::timefmt;

/// A parameter as the store holds such values: booleans as integers, times
/// as fixed-width RFC 3339 text (so that text order is time order).
pub fn sqlite_value(param: &Param) -> SqlValue {
    match param {
        Param::Text(s) => SqlValue::Text(s.clone()),
        Param::Long(n) => SqlValue::Integer(*n),
        Param::Real(r) => SqlValue::Real(*r),
        Param::Bool(b) => SqlValue::Integer(i64::from(*b)),
        Param::Time(ts) => SqlValue::Text(timefmt::format(*ts)),
    }
}
