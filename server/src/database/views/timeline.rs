//! Changes over time, counted per bar and change type: the fleet's (from
//! the hourly counts, or the changes themselves within a few hours) or
//! one machine's.

use std::time::{Duration, SystemTime};

use crate::database::{Database, DatabaseError};

/// The change types the timeline stacks, bottom first.
pub const CHANGE_TYPES: [&str; 5] = ["Software", "Files", "Registry", "WindowsServices", "Daemons"];

/// How far back a timeline looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    Hour,
    SixHours,
    Day,
    Week,
    Month,
}

impl Range {
    pub const ALL: [Range; 5] = [Range::Hour, Range::SixHours, Range::Day, Range::Week, Range::Month];

    pub fn as_str(self) -> &'static str {
        match self {
            Range::Hour => "1h",
            Range::SixHours => "6h",
            Range::Day => "24h",
            Range::Week => "7d",
            Range::Month => "30d",
        }
    }

    pub fn parse(text: &str) -> Option<Range> {
        Range::ALL.into_iter().find(|range| range.as_str() == text)
    }

    /// One bar's time.
    pub fn bar(self) -> Duration {
        let minutes = match self {
            Range::Hour => 5,
            Range::SixHours => 30,
            Range::Day => 60,
            Range::Week => 6 * 60,
            Range::Month => 24 * 60,
        };
        Duration::from_secs(minutes * 60)
    }

    pub fn bars(self) -> usize {
        match self {
            Range::Hour | Range::SixHours => 12,
            Range::Day => 24,
            Range::Week => 28,
            Range::Month => 30,
        }
    }

    /// Bars of whole hours can be counted from the hourly counts.
    fn hourly(self) -> bool {
        self.bar().as_secs().is_multiple_of(3600)
    }
}

/// Counts per bar (oldest first) and per type (as `CHANGE_TYPES`).
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    pub range: Range,
    /// When the first bar starts (bars are aligned to their length, UTC).
    pub start: SystemTime,
    pub bars: Vec<[i64; CHANGE_TYPES.len()]>,
}

impl Timeline {
    /// Changes per type over the whole range.
    pub fn totals(&self) -> [i64; CHANGE_TYPES.len()] {
        let mut totals = [0; CHANGE_TYPES.len()];
        for bar in &self.bars {
            for (total, count) in totals.iter_mut().zip(bar) {
                *total += count;
            }
        }
        totals
    }
}

impl Database {
    /// The timeline of `range` up to `now`: the fleet's, or one machine's.
    pub async fn timeline(
        &self,
        range: Range,
        now: SystemTime,
        machine: Option<i64>,
    ) -> Result<Timeline, DatabaseError> {
        let bar = range.bar().as_secs() as i64;
        let now = now.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_secs() as i64;
        let start = (now.div_euclid(bar) - (range.bars() as i64 - 1)) * bar;
        let end = start + bar * range.bars() as i64;
        let (start_f, end_f, bar_f) = (start as f64, end as f64, bar as f64);
        let client = self.client().await?;
        let rows = match machine {
            None if range.hourly() => {
                client
                    .query(
                        "SELECT floor((extract(epoch FROM hour)::float8 - $1::float8) / $3::float8)::bigint, change_type, sum(changes)::bigint \
                         FROM change_hourly WHERE hour >= to_timestamp($1::float8) AND hour < to_timestamp($2::float8) \
                         GROUP BY 1, 2",
                        &[&start_f, &end_f, &bar_f],
                    )
                    .await?
            }
            None => {
                client
                    .query(
                        "SELECT floor((extract(epoch FROM \"TimeGenerated\")::float8 - $1::float8) / $3::float8)::bigint, \
                                \"ConfigChangeType\", count(*) \
                         FROM \"ConfigurationChange\" \
                         WHERE \"TimeGenerated\" >= to_timestamp($1::float8) AND \"TimeGenerated\" < to_timestamp($2::float8) \
                         GROUP BY 1, 2",
                        &[&start_f, &end_f, &bar_f],
                    )
                    .await?
            }
            Some(machine) => {
                client
                    .query(
                        "SELECT floor((extract(epoch FROM \"TimeGenerated\")::float8 - $1::float8) / $3::float8)::bigint, \
                                \"ConfigChangeType\", count(*) \
                         FROM \"ConfigurationChange\" WHERE machine_id = $4 \
                         AND \"TimeGenerated\" >= to_timestamp($1::float8) AND \"TimeGenerated\" < to_timestamp($2::float8) \
                         GROUP BY 1, 2",
                        &[&start_f, &end_f, &bar_f, &machine],
                    )
                    .await?
            }
        };
        let mut bars = vec![[0; CHANGE_TYPES.len()]; range.bars()];
        for row in &rows {
            let (index, kind, count): (i64, &str, i64) = (row.get(0), row.get(1), row.get(2));
            let Some(column) = CHANGE_TYPES.iter().position(|known| *known == kind) else {
                continue;
            };
            if let Some(bar) = usize::try_from(index).ok().and_then(|i| bars.get_mut(i)) {
                bar[column] += count;
            }
        }
        Ok(Timeline {
            range,
            start: SystemTime::UNIX_EPOCH + Duration::from_secs(start.max(0) as u64),
            bars,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_read_back_and_hourly_ones_are_whole_hours() {
        for range in Range::ALL {
            assert_eq!(Range::parse(range.as_str()), Some(range));
            assert_eq!(range.hourly(), range.bar() >= Duration::from_secs(3600));
        }
        assert_eq!(Range::parse("2h"), None);
    }

    #[test]
    fn totals_add_each_type_over_the_bars() {
        let timeline = Timeline {
            range: Range::Hour,
            start: SystemTime::UNIX_EPOCH,
            bars: vec![[1, 2, 0, 0, 0], [0, 3, 0, 0, 4]],
        };
        assert_eq!(timeline.totals(), [1, 5, 0, 0, 4]);
    }
}
