//! Machines: the list with search, and a machine's page (its timeline,
//! its collectors' last runs, its inventory by tab). Admins may revoke a
//! machine from its page.

use std::time::SystemTime;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::chart::{self, Chart};
use super::pages::{self, Page, not_found, query_string, render, unavailable};
use super::session::{CsrfForm, SignedIn};
use crate::database::views::PAGE_ROWS;
use crate::database::views::machines::{INVENTORY_TABS, MachineSummary};
use crate::database::views::timeline::Range;
use crate::http::AppState;

#[derive(Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    after: String,
}

struct MachineLine {
    id: i64,
    name: String,
    os: String,
    agent_version: String,
    groups: String,
    last_seen: String,
    last_change: String,
    failing: i64,
}

impl MachineLine {
    fn of(machine: &MachineSummary) -> MachineLine {
        MachineLine {
            id: machine.id,
            name: machine.name.clone(),
            os: machine.os.clone(),
            agent_version: machine.agent_version.clone(),
            groups: machine.groups.join(", "),
            last_seen: pages::maybe_time(machine.last_seen),
            last_change: pages::maybe_time(machine.last_change),
            failing: machine.failing,
        }
    }
}

#[derive(Template)]
#[template(path = "machines.html")]
struct MachinesPage<'a> {
    page: Page<'a>,
    search: &'a str,
    machines: Vec<MachineLine>,
    next: Option<String>,
}

pub async fn list(State(state): State<AppState>, signed_in: SignedIn, Query(query): Query<ListQuery>) -> Response {
    let mut found = match state.database.machine_list(&query.q, &query.after).await {
        Ok(found) => found,
        Err(error) => return unavailable(&error),
    };
    let next = (found.len() as i64 > PAGE_ROWS).then(|| {
        found.truncate(PAGE_ROWS as usize);
        let last = found.last().map_or("", |m| m.name.as_str());
        format!("/machines?{}", query_string(&[("q", &query.q), ("after", last)]))
    });
    render(&MachinesPage {
        page: Page::of("Machines", "/machines", &signed_in),
        search: &query.q,
        machines: found.iter().map(MachineLine::of).collect(),
        next,
    })
}

#[derive(Deserialize)]
pub struct MachineQuery {
    #[serde(default)]
    range: String,
    #[serde(default)]
    tab: String,
    #[serde(default)]
    q: String,
    /// Where the inventory page starts: the collector and item key after
    /// which it goes on.
    #[serde(default)]
    after_collector: String,
    #[serde(default)]
    after_key: String,
}

struct CollectorLine {
    collector: String,
    plugin: String,
    last_run: String,
    outcome: String,
    error: String,
    duration_ms: i64,
    items: String,
    last_success: String,
    last_failure: String,
    last_failure_error: String,
}

#[derive(Template)]
#[template(path = "machine.html")]
struct MachinePage<'a> {
    page: Page<'a>,
    machine: MachineLine,
    revoked: bool,
    changes_link: String,
    chart: Chart,
    collectors: Vec<CollectorLine>,
    /// (data type, label, items, link, chosen).
    tabs: Vec<(&'static str, &'static str, i64, String, bool)>,
    tab_type: &'static str,
    search: &'a str,
    headings: &'static [&'static str],
    rows: Vec<Vec<String>>,
    next: Option<String>,
}

pub async fn machine(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<i64>,
    Query(query): Query<MachineQuery>,
) -> Response {
    let database = &state.database;
    let summary = match database.machine_summary(id).await {
        Ok(Some(summary)) => summary,
        Ok(None) => return not_found("this machine"),
        Err(error) => return unavailable(&error),
    };
    let tab = INVENTORY_TABS
        .iter()
        .find(|tab| tab.data_type == query.tab)
        .unwrap_or(&INVENTORY_TABS[0]);
    let range = Range::parse(&query.range).unwrap_or(Range::Week);
    let after =
        (!query.after_collector.is_empty()).then_some((query.after_collector.as_str(), query.after_key.as_str()));
    let (timeline, collectors, counts, inventory) = match tokio::try_join!(
        database.timeline(range, SystemTime::now(), Some(id)),
        database.machine_collectors(id),
        database.inventory_counts(id),
        database.inventory_page(id, tab, &query.q, after),
    ) {
        Ok(found) => found,
        Err(error) => return unavailable(&error),
    };
    let path = format!("/machines/{id}");
    let tabs = INVENTORY_TABS
        .iter()
        .map(|t| {
            let items = counts
                .iter()
                .find(|(kind, _)| kind == t.data_type)
                .map_or(0, |(_, n)| *n);
            let link = format!(
                "{path}?{}",
                query_string(&[("range", range.as_str()), ("tab", t.data_type)])
            );
            (t.data_type, t.label, items, link, t.data_type == tab.data_type)
        })
        .collect();
    let next = inventory.next.as_ref().map(|(collector, key)| {
        format!(
            "{path}?{}",
            query_string(&[
                ("range", range.as_str()),
                ("tab", tab.data_type),
                ("q", &query.q),
                ("after_collector", collector),
                ("after_key", key),
            ])
        )
    });
    let title = format!("Machine {}", summary.name);
    let page = MachinePage {
        page: Page::of(&title, "/machines", &signed_in),
        machine: MachineLine::of(&summary),
        revoked: summary.revoked,
        changes_link: format!("/changes?{}", query_string(&[("machine", &summary.name)])),
        chart: chart::chart(&timeline, &path, Some(&summary.name)),
        collectors: collectors
            .iter()
            .map(|c| CollectorLine {
                collector: c.collector.clone(),
                plugin: match &c.plugin_version {
                    Some(version) => format!("{} {version}", c.plugin),
                    None => c.plugin.clone(),
                },
                last_run: pages::time(c.last_run),
                outcome: c.outcome.clone(),
                error: c.error.clone().unwrap_or_default(),
                duration_ms: c.duration_ms,
                items: c.items.map_or_else(String::new, |n| n.to_string()),
                last_success: pages::maybe_time(c.last_success),
                last_failure: pages::maybe_time(c.last_failure),
                last_failure_error: c.last_failure_error.clone().unwrap_or_default(),
            })
            .collect(),
        tabs,
        tab_type: tab.data_type,
        search: &query.q,
        headings: tab.columns,
        rows: inventory
            .rows
            .into_iter()
            .map(|row| row.into_iter().map(Option::unwrap_or_default).collect())
            .collect(),
        next,
    };
    render(&page)
}

/// `POST /machines/{id}/revoke` (admins): the machine's credential stops
/// working; its records stay.
pub async fn revoke(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<i64>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Some(refused) = signed_in.refuses_change(&form.csrf) {
        return refused;
    }
    let database = &state.database;
    let summary = match database.machine_summary(id).await {
        Ok(Some(summary)) if !summary.revoked => summary,
        Ok(_) => return not_found("this enrolled machine"),
        Err(error) => return unavailable(&error),
    };
    if let Err(error) = database.revoke(&summary.name).await {
        return unavailable(&error);
    }
    tracing::info!(
        user = signed_in.session.user,
        machine = summary.name,
        "machine revoked from the console"
    );
    Redirect::to(&format!("/machines/{id}")).into_response()
}
