//! Changes: the table across machines with its filters and keyset paging
//! (newest first), and a change's page with every changed field's
//! previous and current values and, for files whose contents were
//! captured, the diff inline or side by side.

use std::time::SystemTime;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use driftwatch_protocol::columns;
use serde::Deserialize;
use serde_json::Value as Json;

use super::diff::{self, Hunk};
use super::pages::{self, Page, not_found, query_string, render, unavailable};
use super::session::SignedIn;
use crate::database::views::PAGE_ROWS;
use crate::database::views::changes::{ChangeFilter, Cursor};
use crate::database::views::timeline::CHANGE_TYPES;
use crate::http::AppState;

pub const CATEGORIES: [&str; 3] = ["Added", "Modified", "Removed"];

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    machine: String,
    #[serde(default, rename = "type")]
    change_type: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    before: String,
}

impl ListQuery {
    /// The link to this list with `before` set (or not).
    fn link(&self, before: &str) -> String {
        format!(
            "/changes?{}",
            query_string(&[
                ("machine", &self.machine),
                ("type", &self.change_type),
                ("category", &self.category),
                ("since", &self.since),
                ("until", &self.until),
                ("text", &self.text),
                ("before", before),
            ])
        )
    }
}

struct ChangeLine {
    link: String,
    machine: String,
    time: String,
    change_type: String,
    category: String,
    item: String,
    fields: String,
}

#[derive(Template)]
#[template(path = "changes.html")]
struct ChangesPage<'a> {
    page: Page<'a>,
    query: &'a ListQuery,
    types: &'static [&'static str],
    categories: &'static [&'static str],
    problems: Vec<String>,
    changes: Vec<ChangeLine>,
    older: Option<String>,
    newest: Option<String>,
}

/// A time as a filter takes it: RFC 3339, or a date and time (as a
/// browser's date-time field sends it) or a date alone, in UTC.
fn parse_time(text: &str) -> Result<SystemTime, String> {
    let text = text.trim();
    if let Ok(at) = crate::database::parse_time(text) {
        return Ok(at);
    }
    let civil = text
        .parse::<jiff::civil::DateTime>()
        .or_else(|_| {
            text.parse::<jiff::civil::Date>()
                .map(|date| date.to_datetime(jiff::civil::Time::midnight()))
        })
        .map_err(|_| format!("{text:?} is not a time (2026-12-02, 2026-12-02T14:30 or RFC 3339; UTC)"))?;
    let at = jiff::tz::Offset::UTC
        .to_timestamp(civil)
        .map_err(|e| format!("{text:?}: {e}"))?;
    crate::database::parse_time(&at.to_string())
}

/// The database's filter for a query, or what is wrong with it.
async fn filter_of(state: &AppState, query: &ListQuery) -> Result<Result<ChangeFilter, Vec<String>>, Response> {
    let mut problems = Vec::new();
    let mut filter = ChangeFilter::default();
    let machine = query.machine.trim();
    if !machine.is_empty() {
        match state.database.machine_ids_named(machine).await {
            Ok(ids) => filter.machines = Some(ids),
            Err(error) => return Err(unavailable(&error)),
        }
    }
    if !query.change_type.is_empty() {
        match CHANGE_TYPES.iter().find(|t| **t == query.change_type) {
            Some(kind) => filter.change_type = Some(kind.to_string()),
            None => problems.push(format!("{:?} is not a change type", query.change_type)),
        }
    }
    if !query.category.is_empty() {
        match CATEGORIES.iter().find(|c| **c == query.category) {
            Some(category) => filter.category = Some(category.to_string()),
            None => problems.push(format!("{:?} is not a category", query.category)),
        }
    }
    for (text, slot) in [(&query.since, &mut filter.since), (&query.until, &mut filter.until)] {
        if !text.trim().is_empty() {
            match parse_time(text) {
                Ok(at) => *slot = Some(at),
                Err(problem) => problems.push(problem),
            }
        }
    }
    if !query.text.trim().is_empty() {
        filter.text = Some(query.text.trim().to_string());
    }
    if !query.before.is_empty() {
        match Cursor::decode(&query.before) {
            Some(cursor) => filter.before = Some(cursor),
            None => problems.push("the page link is damaged: start from the newest".to_string()),
        }
    }
    Ok(if problems.is_empty() { Ok(filter) } else { Err(problems) })
}

pub async fn list(State(state): State<AppState>, signed_in: SignedIn, Query(query): Query<ListQuery>) -> Response {
    let (mut rows, problems) = match filter_of(&state, &query).await {
        Err(response) => return response,
        Ok(Err(problems)) => (Vec::new(), problems),
        Ok(Ok(filter)) => match state.database.change_list(&filter).await {
            Ok(rows) => (rows, Vec::new()),
            Err(error) => return unavailable(&error),
        },
    };
    let older = (rows.len() as i64 > PAGE_ROWS).then(|| {
        rows.truncate(PAGE_ROWS as usize);
        let last = rows.last().map(|row| row.cursor.encode()).unwrap_or_default();
        query.link(&last)
    });
    let newest = (!query.before.is_empty()).then(|| query.link(""));
    let changes = rows
        .iter()
        .map(|row| ChangeLine {
            link: format!("/changes/{}/{}", row.machine_id, row.change_id),
            machine: row.computer.clone(),
            time: pages::time(row.time),
            change_type: row.change_type.clone(),
            category: row.category.clone(),
            item: row.item.clone(),
            fields: row.fields_changed.clone().unwrap_or_default(),
        })
        .collect();
    render(&ChangesPage {
        page: Page::of("Changes", "/changes", &signed_in),
        query: &query,
        types: &CHANGE_TYPES,
        categories: &CATEGORIES,
        problems,
        changes,
        older,
        newest,
    })
}

/// A field of a change, with its previous value when the table has one.
struct Field {
    name: String,
    previous: Option<String>,
    current: String,
    changed: bool,
}

/// One side of a file's content: text, or why there is none.
enum Side {
    Text(String),
    Absent(String),
}

#[derive(Template)]
#[template(path = "change.html")]
struct ChangePage<'a> {
    page: Page<'a>,
    machine_id: i64,
    computer: String,
    summary: Vec<(&'static str, String)>,
    fields: Vec<Field>,
    /// The content diff, when the change is a file's with captured contents.
    content: Option<ContentView>,
}

struct ContentView {
    split: bool,
    inline_link: String,
    split_link: String,
    hunks: Vec<Hunk>,
    /// Why there is no diff to show (a side missing or not text).
    notes: Vec<String>,
}

#[derive(Deserialize)]
pub struct ChangeQuery {
    #[serde(default)]
    view: String,
}

pub async fn change(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path((machine_id, change_id)): Path<(i64, i64)>,
    Query(query): Query<ChangeQuery>,
) -> Response {
    let database = &state.database;
    let values = match database.change(machine_id, change_id).await {
        Ok(Some(values)) => values,
        Ok(None) => return not_found("this change"),
        Err(error) => return unavailable(&error),
    };
    let text = |name: &str| values.iter().find(|(n, _)| n == name).map(|(_, v)| display(v));
    let computer = text("Computer").unwrap_or_default();
    let summary: Vec<(&'static str, String)> = [
        "TimeGenerated",
        "ConfigChangeType",
        "ChangeCategory",
        "FieldsChanged",
        "Collector",
    ]
    .into_iter()
    .map(|name| (name, text(name).unwrap_or_default()))
    .collect();
    let fields = fields(&values);
    let content = if text("ConfigChangeType").as_deref() == Some("Files")
        && (text("ContentHash").is_some() || text("PreviousContentHash").is_some())
    {
        let old = side(&state, text("PreviousContentHash"), text("PreviousContentState")).await;
        let new = side(&state, text("ContentHash"), text("ContentState")).await;
        let (old, new) = match (old, new) {
            (Ok(old), Ok(new)) => (old, new),
            (Err(response), _) | (_, Err(response)) => return response,
        };
        let link = |view: &str| {
            let base = format!("/changes/{machine_id}/{change_id}");
            if view.is_empty() {
                base
            } else {
                format!("{base}?view={view}")
            }
        };
        let mut notes = Vec::new();
        let (old, new) = match (old, new) {
            (Side::Text(old), Side::Text(new)) => (old, new),
            (Side::Absent(why), Side::Text(new)) => {
                notes.push(format!("Before: {why}"));
                (String::new(), new)
            }
            (Side::Text(old), Side::Absent(why)) => {
                notes.push(format!("After: {why}"));
                (old, String::new())
            }
            (Side::Absent(before), Side::Absent(after)) => {
                notes.push(format!("Before: {before}"));
                notes.push(format!("After: {after}"));
                (String::new(), String::new())
            }
        };
        let (hunks, cut) = tokio::task::spawn_blocking(move || diff::hunks(&old, &new))
            .await
            .unwrap_or_default();
        if cut {
            notes.push(format!(
                "The diff is longer than {} lines: the first ones are shown (`driftwatch diff` on the machine shows it all).",
                diff::MAX_LINES
            ));
        }
        Some(ContentView {
            split: query.view == "split",
            inline_link: link(""),
            split_link: link("split"),
            hunks,
            notes,
        })
    } else {
        None
    };
    let title = format!("Change {change_id} on {computer}");
    render(&ChangePage {
        page: Page::of(&title, "/changes", &signed_in),
        machine_id,
        computer,
        summary,
        fields,
        content,
    })
}

/// A captured content as one side of a diff.
async fn side(state: &AppState, hash: Option<String>, content_state: Option<String>) -> Result<Side, Response> {
    let Some(hash) = hash else {
        return Ok(Side::Absent(match content_state {
            Some(content_state) => format!("no content captured ({content_state})"),
            None => "no content captured".to_string(),
        }));
    };
    let Some(digest) = crate::http::contents::sha256_from_hex(&hash) else {
        return Ok(Side::Absent(format!("{hash:?} is not a SHA-256")));
    };
    match state.database.content(&digest).await {
        Ok(Some(content)) => Ok(match diff::as_text(&content) {
            Some(text) => Side::Text(text.to_string()),
            None => Side::Absent(format!("{} bytes of binary content", content.len())),
        }),
        Ok(None) => Ok(Side::Absent("its content has not reached the server".to_string())),
        Err(error) => Err(unavailable(&error)),
    }
}

fn display(value: &Json) -> String {
    match value {
        Json::String(text) => text.clone(),
        Json::Null => String::new(),
        other => other.to_string(),
    }
}

/// The column that keeps a field's previous value, by the table's naming.
fn previous_of(name: &str) -> String {
    match name {
        "Current" => "Previous".to_string(),
        svc if svc.starts_with("Svc") => format!("SvcPrevious{}", &svc[3..]),
        other => format!("Previous{other}"),
    }
}

/// Every value of the change but the summary's, fields with a previous
/// column paired with it; changed fields first.
fn fields(values: &[(String, Json)]) -> Vec<Field> {
    const SHOWN_ABOVE: [&str; 7] = [
        "ChangeId",
        "Computer",
        "TimeGenerated",
        "ConfigChangeType",
        "ChangeCategory",
        "Collector",
        "FieldsChanged",
    ];
    let known: Vec<&str> = columns::CONFIGURATION_CHANGE.iter().map(|(n, _)| *n).collect();
    let value = |name: &str| values.iter().find(|(n, _)| n == name).map(|(_, v)| display(v));
    let changed_names: Vec<String> = value("FieldsChanged")
        .map(|list| {
            list.split([',', ' '])
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let previous_columns: Vec<String> = known
        .iter()
        .map(|name| previous_of(name))
        .filter(|previous| known.contains(&previous.as_str()))
        .collect();
    let mut fields: Vec<Field> = known
        .iter()
        .filter(|name| !SHOWN_ABOVE.contains(name) && !previous_columns.iter().any(|p| p == *name))
        .filter_map(|name| {
            let previous_column = previous_of(name);
            let paired = known.contains(&previous_column.as_str());
            let previous = if paired { value(&previous_column) } else { None };
            let current = value(name);
            if current.is_none() && previous.is_none() {
                return None;
            }
            let changed = changed_names
                .iter()
                .any(|c| c == name || (*name == "Current" && c == "CurrentVersion"))
                || (paired && previous.is_some() && previous != current);
            Some(Field {
                name: name.to_string(),
                previous: if paired {
                    Some(previous.unwrap_or_default())
                } else {
                    None
                },
                current: current.unwrap_or_default(),
                changed,
            })
        })
        .collect();
    fields.sort_by_key(|field| !field.changed);
    fields
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_pair_with_their_previous_values_and_changed_ones_come_first() {
        let values: Vec<(String, Json)> = [
            ("ChangeId", json!(4)),
            ("ConfigChangeType", json!("Software")),
            ("FieldsChanged", json!("CurrentVersion")),
            ("SoftwareName", json!("openssl")),
            ("Current", json!("3.0.2")),
            ("Previous", json!("1.1.1")),
            ("SvcState", json!("Running")),
            ("SvcPreviousState", json!("Stopped")),
        ]
        .into_iter()
        .map(|(n, v)| (n.to_string(), v))
        .collect();
        let fields = fields(&values);
        let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["Current", "SvcState", "SoftwareName"]);
        assert_eq!(fields[0].previous.as_deref(), Some("1.1.1"));
        assert!(fields[0].changed && fields[1].changed && !fields[2].changed);
        assert_eq!(fields[2].previous, None);
    }

    #[test]
    fn filter_times_take_dates_date_times_and_rfc3339() {
        let at = |text| parse_time(text).map(|t| jiff::Timestamp::try_from(t).unwrap().to_string());
        assert_eq!(at("2026-12-02").as_deref(), Ok("2026-12-02T00:00:00Z"));
        assert_eq!(at("2026-12-02T14:30").as_deref(), Ok("2026-12-02T14:30:00Z"));
        assert_eq!(at("2026-12-02T14:30:00+01:00").as_deref(), Ok("2026-12-02T13:30:00Z"));
        assert!(parse_time("yesterday").is_err());
    }
}
