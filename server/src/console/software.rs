//! Software across the fleet: names (with how many versions and machines
//! have them), a name's versions, and the machines with each.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;

use super::pages::{Page, query_string, render, unavailable};
use super::session::SignedIn;
use crate::database::views::PAGE_ROWS;
use crate::database::views::software::{NAMES_PAGE_ROWS, SoftwareName};
use crate::http::AppState;

#[derive(Deserialize)]
pub struct NamesQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    after: String,
}

#[derive(Template)]
#[template(path = "software.html")]
struct NamesPage<'a> {
    page: Page<'a>,
    search: &'a str,
    /// (name, its link, versions, machines).
    names: Vec<(String, String, i64, i64)>,
    next: Option<String>,
}

pub async fn names(State(state): State<AppState>, signed_in: SignedIn, Query(query): Query<NamesQuery>) -> Response {
    let mut found: Vec<SoftwareName> = match state.database.software_names(&query.q, &query.after).await {
        Ok(found) => found,
        Err(error) => return unavailable(&error),
    };
    let next = (found.len() as i64 > NAMES_PAGE_ROWS).then(|| {
        found.truncate(NAMES_PAGE_ROWS as usize);
        let last = found.last().map_or("", |s| s.name.as_str());
        format!("/software?{}", query_string(&[("q", &query.q), ("after", last)]))
    });
    render(&NamesPage {
        page: Page::of("Software", "/software", &signed_in),
        search: &query.q,
        names: found
            .into_iter()
            .map(|s| {
                let link = format!("/software/versions?{}", query_string(&[("name", &s.name)]));
                (s.name, link, s.versions, s.machines)
            })
            .collect(),
        next,
    })
}

#[derive(Deserialize)]
pub struct VersionsQuery {
    #[serde(default)]
    name: String,
    version: Option<String>,
    #[serde(default)]
    after: String,
}

#[derive(Template)]
#[template(path = "software_versions.html")]
struct VersionsPage<'a> {
    page: Page<'a>,
    /// (version, machines, link to its machines, chosen).
    versions: Vec<(String, i64, String, bool)>,
    chosen: Option<&'a str>,
    /// (machine id, machine, its versions).
    machines: Vec<(i64, String, String)>,
    next: Option<String>,
}

pub async fn versions(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Query(query): Query<VersionsQuery>,
) -> Response {
    let database = &state.database;
    let version = query.version.as_deref();
    let found = tokio::try_join!(
        database.software_versions(&query.name),
        database.software_machines(&query.name, version, &query.after),
    );
    let (versions, mut machines) = match found {
        Ok(found) => found,
        Err(error) => return unavailable(&error),
    };
    let next = (machines.len() as i64 > PAGE_ROWS).then(|| {
        machines.truncate(PAGE_ROWS as usize);
        let last = machines.last().map_or("", |(_, name, _)| name.as_str());
        versions_link(&query.name, version, last)
    });
    let title = format!("Software {}", query.name);
    render(&VersionsPage {
        page: Page::of(&title, "/software", &signed_in),
        versions: versions
            .into_iter()
            .map(|(v, count)| {
                let v = v.unwrap_or_default();
                let link = versions_link(&query.name, Some(&v), "");
                let chosen = version == Some(v.as_str());
                (v, count, link, chosen)
            })
            .collect(),
        chosen: version,
        machines,
        next,
    })
}

/// The versions page of `name`: its machines with `version` (an empty one
/// is none), from after `after`.
fn versions_link(name: &str, version: Option<&str>, after: &str) -> String {
    let mut link = format!(
        "/software/versions?{}",
        query_string(&[("name", name), ("after", after)])
    );
    if let Some(version) = version {
        // Kept even when empty: then it asks for the machines without one.
        link.push_str(&format!("&version={}", super::pages::encode(version)));
    }
    link
}
