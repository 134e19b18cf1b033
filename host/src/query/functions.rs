//! The SQL functions translated queries call, registered on a SQLite
//! connection (see `driftwatch_kql::text` for what they mean).

use driftwatch_kql::text::{change_case, text_match};
use rusqlite::functions::FunctionFlags;
use rusqlite::{Connection, types::ValueRef};

/// Adds the functions translated queries call to `conn`.
pub fn register(conn: &Connection) -> rusqlite::Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    // kql_text(op, case_sensitive, subject, pattern) → 0 or 1.
    conn.create_scalar_function("kql_text", 4, flags, |ctx| {
        let op: i64 = ctx.get(0)?;
        let case_sensitive: bool = ctx.get(1)?;
        let subject = text(ctx.get_raw(2));
        let pattern = text(ctx.get_raw(3));
        Ok(text_match(op, case_sensitive, &subject, &pattern))
    })?;
    // kql_case(text, upper) → the text in lower (0) or upper (1) case.
    conn.create_scalar_function("kql_case", 2, flags, |ctx| {
        let subject = text(ctx.get_raw(0));
        let upper: bool = ctx.get(1)?;
        Ok(change_case(&subject, upper))
    })
}

/// A value as KQL sees it in a string operation: null is the empty string,
/// numbers are their text.
fn text(value: ValueRef<'_>) -> String {
    match value {
        ValueRef::Null => String::new(),
        ValueRef::Blob(raw) => crate::exact_path::display(raw),
        ValueRef::Integer(n) => n.to_string(),
        ValueRef::Real(r) => r.to_string(),
        ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
    }
}
