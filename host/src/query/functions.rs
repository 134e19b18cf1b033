//! The SQL functions translated queries call, registered on a SQLite
//! connection (see `driftwatch_kql::text` for what they mean).

use driftwatch_kql::text::{change_case, text_match};
use rusqlite::functions::FunctionFlags;
use rusqlite::{Connection, types::ValueRef};

use crate::timefmt;

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
    })?;
    // kql_micros(time text) → microseconds since 1970, null if not a time.
    conn.create_scalar_function("kql_micros", 1, flags, |ctx| {
        Ok(match ctx.get_raw(0) {
            ValueRef::Text(t) => std::str::from_utf8(t).ok().and_then(micros_of),
            _ => None,
        })
    })?;
    // kql_datetime(microseconds) → the store's time text, null if out of range.
    conn.create_scalar_function("kql_datetime", 1, flags, |ctx| {
        Ok(match ctx.get_raw(0) {
            ValueRef::Integer(n) => {
                timefmt::from_parts(n.div_euclid(1_000_000), (n.rem_euclid(1_000_000) * 1000) as u32)
            }
            _ => None,
        })
    })?;
    conn.create_scalar_function("kql_floor", 1, flags, |ctx| {
        Ok(match ctx.get_raw(0) {
            ValueRef::Integer(n) => Some(n as f64),
            ValueRef::Real(r) => Some(r.floor()),
            _ => None,
        })
    })?;
    // kql_regex(text, pattern) → whether the pattern matches somewhere.
    conn.create_scalar_function("kql_regex", 2, flags, |ctx| {
        let pattern = regex_arg(ctx, 1)?;
        Ok(pattern.is_match(&text(ctx.get_raw(0))))
    })?;
    // kql_extract(pattern, group, text) → the group of the first match, or null.
    conn.create_scalar_function("kql_extract", 3, flags, |ctx| {
        let pattern = regex_arg(ctx, 0)?;
        let group: i64 = ctx.get(1)?;
        let subject = text(ctx.get_raw(2));
        let found = pattern
            .captures(&subject)
            .and_then(|c| usize::try_from(group).ok().and_then(|g| c.get(g)))
            .map(|m| m.as_str().to_string());
        Ok(found)
    })?;
    // kql_replace_regex(text, pattern, rewrite) → every match replaced;
    // the rewrite names groups as \1, as in Kusto.
    conn.create_scalar_function("kql_replace_regex", 3, flags, |ctx| {
        let pattern = regex_arg(ctx, 1)?;
        let subject = text(ctx.get_raw(0));
        let rewrite = rewrite_of(&text(ctx.get_raw(2)));
        Ok(pattern.replace_all(&subject, rewrite.as_str()).into_owned())
    })?;
    // kql_json_text(json) → a dynamic value as text: a string itself, arrays
    // and bags compact with properties in name order, null for null.
    conn.create_scalar_function("kql_json_text", 1, flags, |ctx| {
        Ok(match ctx.get_raw(0) {
            ValueRef::Null => None,
            value => json_text(&text(value)),
        })
    })?;
    // kql_parse_version(text) → 32 digits, 8 per part, or null.
    conn.create_scalar_function("kql_parse_version", 1, flags, |ctx| {
        Ok(parse_version(&text(ctx.get_raw(0))))
    })?;
    // kql_split(text, delimiter) → a JSON array of the pieces ("" → [""];
    // an empty delimiter splits nothing), as the server's translation does.
    conn.create_scalar_function("kql_split", 2, flags, |ctx| {
        let subject = text(ctx.get_raw(0));
        let delimiter = text(ctx.get_raw(1));
        let pieces: Vec<&str> = if delimiter.is_empty() {
            vec![subject.as_str()]
        } else {
            subject.split(delimiter.as_str()).collect()
        };
        Ok(serde_json::to_string(&pieces).unwrap_or_else(|_| "[]".into()))
    })?;
    // kql_tolong(text) / kql_toreal(text) → the number, null if it is not one.
    conn.create_scalar_function("kql_tolong", 1, flags, |ctx| {
        Ok(match ctx.get_raw(0) {
            ValueRef::Text(t) => std::str::from_utf8(t).ok().and_then(parse_long),
            ValueRef::Integer(n) => Some(n),
            _ => None,
        })
    })?;
    conn.create_scalar_function("kql_toreal", 1, flags, |ctx| {
        Ok(match ctx.get_raw(0) {
            ValueRef::Text(t) => std::str::from_utf8(t).ok().and_then(parse_real),
            ValueRef::Integer(n) => Some(n as f64),
            ValueRef::Real(r) => Some(r),
            _ => None,
        })
    })
}

/// Argument `i` as a compiled pattern, compiled once per statement.
fn regex_arg(ctx: &rusqlite::functions::Context<'_>, i: i32) -> rusqlite::Result<std::sync::Arc<regex::Regex>> {
    ctx.get_or_create_aux(
        i,
        |value| -> Result<regex::Regex, Box<dyn std::error::Error + Send + Sync>> {
            let pattern = text(value);
            Ok(regex::RegexBuilder::new(&pattern).size_limit(1 << 20).build()?)
        },
    )
}

/// Kusto's rewrite (`\1` for a group) in the regex crate's syntax (`${1}`).
fn rewrite_of(kusto: &str) -> String {
    let mut out = String::new();
    let mut chars = kusto.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek().is_some_and(char::is_ascii_digit) => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                    digits.push(d);
                    chars.next();
                }
                out.push_str(&format!("${{{digits}}}"));
            }
            '$' => out.push_str("$$"),
            c => out.push(c),
        }
    }
    out
}

/// See `kql_json_text`; text that is not JSON is itself.
fn json_text(json: &str) -> Option<String> {
    fn compact(value: &serde_json::Value, out: &mut String) {
        match value {
            serde_json::Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    compact(item, out);
                }
                out.push(']');
            }
            serde_json::Value::Object(bag) => {
                let mut pairs: Vec<_> = bag.iter().collect();
                pairs.sort_by(|a, b| a.0.cmp(b.0));
                out.push('{');
                for (i, (key, item)) in pairs.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::Value::String(key.clone()).to_string());
                    out.push(':');
                    compact(item, out);
                }
                out.push('}');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    match serde_json::from_str::<serde_json::Value>(json) {
        Ok(serde_json::Value::Null) => None,
        Ok(serde_json::Value::String(s)) => Some(s),
        Ok(value) => {
            let mut out = String::new();
            compact(&value, &mut out);
            Some(out)
        }
        Err(_) => Some(json.to_string()),
    }
}

/// Up to four dot-separated parts of 1 to 8 digits, each padded to 8.
fn parse_version(text: &str) -> Option<String> {
    let parts: Vec<&str> = text.trim().split('.').collect();
    let valid = parts.len() <= 4
        && parts
            .iter()
            .all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()));
    if !valid {
        return None;
    }
    Some((0..4).map(|i| format!("{:0>8}", parts.get(i).unwrap_or(&""))).collect())
}

/// Stored time text (RFC 3339) as microseconds since 1970.
fn micros_of(text: &str) -> Option<i64> {
    let ts: jiff::Timestamp = text.parse().ok()?;
    Some(ts.as_microsecond())
}

/// An optionally signed run of 1 to 18 digits, spaces around allowed (the
/// rule the server's translation applies too).
fn parse_long(text: &str) -> Option<i64> {
    let trimmed = text.trim();
    let digits = trimmed.strip_prefix(['-', '+']).unwrap_or(trimmed);
    if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    trimmed.parse().ok()
}

/// A decimal number, optionally with an exponent of up to 3 digits.
fn parse_real(text: &str) -> Option<f64> {
    let trimmed = text.trim();
    let unsigned = trimmed.strip_prefix(['-', '+']).unwrap_or(trimmed);
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(i) => (&unsigned[..i], Some(&unsigned[i + 1..])),
        None => (unsigned, None),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = digits(whole) && digits(fraction) && !(whole.is_empty() && fraction.is_empty());
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        (1..=3).contains(&e.len()) && digits(e)
    });
    if !(mantissa_ok && exponent_ok) {
        return None;
    }
    trimmed.parse().ok()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_text_are_read_as_kql_reads_them() {
        assert_eq!(parse_long(" 42 "), Some(42));
        assert_eq!(parse_long("-7"), Some(-7));
        assert_eq!(parse_long("1.5"), None);
        assert_eq!(parse_long("12abc"), None);
        assert_eq!(parse_long(""), None);
        assert_eq!(parse_long("1234567890123456789"), None, "19 digits may not fit");
        assert_eq!(parse_real("1.5"), Some(1.5));
        assert_eq!(parse_real(".5"), Some(0.5));
        assert_eq!(parse_real("2."), Some(2.0));
        assert_eq!(parse_real("-1e3"), Some(-1000.0));
        assert_eq!(parse_real("."), None);
        assert_eq!(parse_real("1e"), None);
        assert_eq!(parse_real("nan"), None);
        assert_eq!(micros_of("1970-01-01T00:00:01.000002Z"), Some(1_000_002));
        assert_eq!(micros_of("soon"), None);
        assert_eq!(
            parse_version("1.2.3.4").as_deref(),
            Some("00000001000000020000000300000004")
        );
        assert_eq!(
            parse_version(" 3.0 ").as_deref(),
            Some("00000003000000000000000000000000")
        );
        assert_eq!(parse_version("1:2.3-4"), None);
        assert_eq!(parse_version("1.2.3.4.5"), None);
        assert_eq!(parse_version("123456789"), None);
        assert_eq!(rewrite_of(r"\1-\2 $5"), "${1}-${2} $$5");
    }
}
