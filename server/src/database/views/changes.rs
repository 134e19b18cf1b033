//! Changes across machines, filtered and paged by keyset (newest first),
//! and one change whole.

use std::time::SystemTime;

use driftwatch_protocol::columns;
use serde_json::Value as Json;

use super::PAGE_ROWS;
use crate::database::{Database, DatabaseError};

/// What the changes page filters on; each is optional.
#[derive(Debug, Clone, Default)]
pub struct ChangeFilter {
    pub machines: Option<Vec<i64>>,
    pub change_type: Option<String>,
    pub category: Option<String>,
    pub since: Option<SystemTime>,
    pub until: Option<SystemTime>,
    /// Contained (any case) in the item's name.
    pub text: Option<String>,
    /// Rows older than this one (the last row of the page before).
    pub before: Option<Cursor>,
}

/// A row's place in the newest-first order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// Microseconds since the epoch.
    pub time: i64,
    pub machine_id: i64,
    pub change_id: i64,
}

impl Cursor {
    /// `time.machine.change`, as links carry it.
    pub fn encode(&self) -> String {
        format!("{}.{}.{}", self.time, self.machine_id, self.change_id)
    }

    pub fn decode(text: &str) -> Option<Cursor> {
        let mut parts = text.split('.').map(|part| part.parse::<i64>().ok());
        let cursor = Cursor {
            time: parts.next()??,
            machine_id: parts.next()??,
            change_id: parts.next()??,
        };
        parts.next().is_none().then_some(cursor)
    }
}

/// A change as the list shows it.
#[derive(Debug, Clone)]
pub struct ChangeListRow {
    pub machine_id: i64,
    pub change_id: i64,
    pub computer: String,
    pub time: SystemTime,
    pub change_type: String,
    pub category: String,
    /// The item's name: package, path, service, registry value.
    pub item: String,
    pub fields_changed: Option<String>,
    pub cursor: Cursor,
}

/// `text` matched literally by LIKE (whose escape is `\`).
fn like_escaped(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// Whether pg_trgm finds a trigram in `text`: three letters or digits in
/// a row (it splits words at anything else).
fn has_trigram(text: &str) -> bool {
    let mut run = 0;
    text.chars().any(|c| {
        run = if c.is_alphanumeric() { run + 1 } else { 0 };
        run >= 3
    })
}

/// The rows of a listing, as read by `SELECT_LISTED`.
fn listed(rows: &[tokio_postgres::Row]) -> Vec<ChangeListRow> {
    rows.iter()
        .map(|row| {
            let (machine_id, change_id) = (row.get(0), row.get(1));
            ChangeListRow {
                machine_id,
                change_id,
                computer: row.get(2),
                time: row.get(3),
                change_type: row.get(4),
                category: row.get(5),
                item: row.get(6),
                fields_changed: row.get(7),
                cursor: Cursor {
                    time: row.get(8),
                    machine_id,
                    change_id,
                },
            }
        })
        .collect()
}

type Param = Box<dyn tokio_postgres::types::ToSql + Sync + Send>;

fn refs(params: &[Param]) -> Vec<&(dyn tokio_postgres::types::ToSql + Sync)> {
    params
        .iter()
        .map(|p| p.as_ref() as &(dyn tokio_postgres::types::ToSql + Sync))
        .collect()
}

/// How many of the newest rows a text search reads before it asks the
/// trigram index.
const RECENT_SCANNED: i64 = 10_000;

/// The item's name, whatever its type (as indexed in migration 9).
const ITEM: &str = "coalesce(\"SoftwareName\", \"FileSystemPath\", \"SvcName\", \
     \"RegistryKey\" || coalesce('\\' || \"ValueName\", ''), \"ItemKey\")";

/// A listing's columns (see `listed`), the item's name as `item`.
static SELECT_LISTED: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT machine_id, \"ChangeId\", \"Computer\", \"TimeGenerated\", \"ConfigChangeType\", \
                \"ChangeCategory\", {ITEM} AS item, \"FieldsChanged\", \
                (extract(epoch FROM \"TimeGenerated\") * 1000000)::bigint AS micros"
    )
});

const NEWEST_FIRST: &str = "ORDER BY \"TimeGenerated\" DESC, machine_id DESC, \"ChangeId\" DESC LIMIT";
const NEWEST_FIRST_OUTER: &str = "ORDER BY r.\"TimeGenerated\" DESC, r.machine_id DESC, r.\"ChangeId\" DESC LIMIT";

impl Database {
    /// Changes matching `filter`, newest first: a page, and one more row
    /// when there are more.
    pub async fn change_list(&self, filter: &ChangeFilter) -> Result<Vec<ChangeListRow>, DatabaseError> {
        let mut conditions = Vec::new();
        let mut params: Vec<Param> = Vec::new();
        let mut bind = |condition: &str, value: Param| {
            params.push(value);
            conditions.push(condition.replace('?', &format!("${}", params.len())));
        };
        if let Some(machines) = &filter.machines {
            bind("machine_id = ANY(?)", Box::new(machines.clone()));
        }
        if let Some(kind) = &filter.change_type {
            bind("\"ConfigChangeType\" = ?", Box::new(kind.clone()));
        }
        if let Some(category) = &filter.category {
            bind("\"ChangeCategory\" = ?", Box::new(category.clone()));
        }
        if let Some(since) = filter.since {
            bind("\"TimeGenerated\" >= ?", Box::new(since));
        }
        if let Some(until) = filter.until {
            bind("\"TimeGenerated\" <= ?", Box::new(until));
        }
        if let Some(cursor) = filter.before {
            let time = SystemTime::UNIX_EPOCH + std::time::Duration::from_micros(cursor.time.max(0) as u64);
            bind("(\"TimeGenerated\", machine_id, \"ChangeId\") < (?", Box::new(time));
            let last = conditions.len() - 1;
            params.push(Box::new(cursor.machine_id));
            params.push(Box::new(cursor.change_id));
            let n = params.len();
            conditions[last].push_str(&format!(", ${}, ${})", n - 1, n));
        }
        let filter_sql = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let client = self.client().await?;
        let select = SELECT_LISTED.as_str();
        let Some(text) = &filter.text else {
            params.push(Box::new(PAGE_ROWS + 1));
            let sql = format!(
                "{select} FROM \"ConfigurationChange\" {filter_sql} {NEWEST_FIRST} ${}",
                params.len()
            );
            return Ok(listed(&client.query(&sql, &refs(&params)).await?));
        };
        // Text in the item's name: the newest rows are read first, as far
        // back as RECENT_SCANNED; a common text has a page of matches there.
        // Fewer, and the trigram index (migration 9) finds the rarer ones.
        let pattern = format!("%{}%", like_escaped(text));
        params.push(Box::new(pattern));
        let text_param = params.len();
        params.push(Box::new(RECENT_SCANNED));
        params.push(Box::new(PAGE_ROWS + 1));
        let (recent, limit) = (params.len() - 1, params.len());
        let sql = format!(
            "SELECT * FROM ({select} FROM \"ConfigurationChange\" {filter_sql} {NEWEST_FIRST} ${recent}) r \
             WHERE lower(r.item) LIKE lower(${text_param}) {NEWEST_FIRST_OUTER} ${limit}"
        );
        let rows = client.query(&sql, &refs(&params)).await?;
        if rows.len() as i64 > PAGE_ROWS {
            return Ok(listed(&rows));
        }
        let searched = format!("lower({ITEM}) LIKE lower(${text_param})");
        let filter_sql = if conditions.is_empty() {
            format!("WHERE {searched}")
        } else {
            format!("{filter_sql} AND {searched}")
        };
        // Without the window's parameter, the limit moves down one.
        let mut params = refs(&params);
        params.remove(recent - 1);
        let limit = limit - 1;
        // A text with a trigram is looked up in the trigram index, all its
        // matches at once, then sorted: bounded by how many rows match.
        // Asked for newest first, the planner may instead walk the time
        // index and read far back to find a page of a rarer text. Without a
        // trigram, the walk back is the better plan.
        let sql = if has_trigram(text) && self.has_text_index(&client).await? {
            format!(
                "WITH r AS MATERIALIZED ({select} FROM \"ConfigurationChange\" {filter_sql}) \
                 SELECT * FROM r {NEWEST_FIRST_OUTER} ${limit}"
            )
        } else {
            format!("{select} FROM \"ConfigurationChange\" {filter_sql} {NEWEST_FIRST} ${limit}")
        };
        Ok(listed(&client.query(&sql, &params).await?))
    }

    /// Whether migration 9 could make the trigram index (it needs pg_trgm).
    async fn has_text_index(&self, client: &tokio_postgres::Client) -> Result<bool, DatabaseError> {
        let known = self
            .text_index
            .get_or_try_init(|| async {
                let row = client
                    .query_one(
                        "SELECT EXISTS (SELECT 1 FROM pg_class WHERE relname = 'ConfigurationChange_by_item_text')",
                        &[],
                    )
                    .await?;
                Ok::<bool, DatabaseError>(row.get(0))
            })
            .await?;
        Ok(*known)
    }

    /// One change: its columns that have a value, in the protocol's order.
    pub async fn change(&self, machine_id: i64, change_id: i64) -> Result<Option<Vec<(String, Json)>>, DatabaseError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT to_jsonb(c) FROM \"ConfigurationChange\" c WHERE machine_id = $1 AND \"ChangeId\" = $2",
                &[&machine_id, &change_id],
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        let Json::Object(mut values) = row.get::<_, Json>(0) else {
            return Ok(None);
        };
        Ok(Some(
            columns::CONFIGURATION_CHANGE
                .iter()
                .filter_map(|(name, _)| match values.remove(*name) {
                    None | Some(Json::Null) => None,
                    Some(value) => Some((name.to_string(), value)),
                })
                .collect(),
        ))
    }

    /// A captured content by its SHA-256.
    pub async fn content(&self, sha256: &[u8]) -> Result<Option<Vec<u8>>, DatabaseError> {
        let client = self.client().await?;
        let row = client
            .query_opt("SELECT content FROM file_content WHERE sha256 = $1", &[&sha256])
            .await?;
        Ok(row.map(|row| row.get(0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_match_wildcards_literally() {
        assert_eq!(like_escaped(r"50%_off\x"), r"50\%\_off\\x");
    }

    #[test]
    fn trigrams_need_three_letters_or_digits_in_a_row() {
        assert!(has_trigram("pkg1"));
        assert!(has_trigram("/etc/ssh"));
        assert!(!has_trigram("ab"));
        assert!(!has_trigram("a.b.c/d"));
    }

    #[test]
    fn cursors_read_back_and_nonsense_is_none() {
        let cursor = Cursor {
            time: 1_764_000_000_123_456,
            machine_id: 7,
            change_id: 42,
        };
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        for bad in ["", "1.2", "1.2.3.4", "a.b.c", "1..3"] {
            assert_eq!(Cursor::decode(bad), None, "{bad}");
        }
    }
}
