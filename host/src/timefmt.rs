//! The one text form of instants in the store and in output: RFC 3339 in UTC
//! with microseconds, fixed width, so text order is time order.

use jiff::Timestamp;

pub const FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.6fZ";

pub fn format(ts: Timestamp) -> String {
    ts.strftime(FORMAT).to_string()
}

pub fn now() -> String {
    format(Timestamp::now())
}

/// A plugin's `(seconds, nanoseconds)` as stored text; `None` when out of range.
pub fn from_parts(seconds: i64, nanoseconds: u32) -> Option<String> {
    let nanos = i32::try_from(nanoseconds).ok().filter(|n| *n < 1_000_000_000)?;
    Timestamp::new(seconds, nanos).ok().map(format)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_width_utc() {
        assert_eq!(from_parts(0, 0).unwrap(), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            from_parts(1_700_000_000, 123_456_789).unwrap(),
            "2023-11-14T22:13:20.123456Z"
        );
        assert_eq!(from_parts(0, 1_000_000_000), None);
        assert_eq!(from_parts(i64::MAX, 0), None);
        assert_eq!(now().len(), 27);
    }
}
