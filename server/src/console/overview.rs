//! The overview: machines by OS, the last day's changes by type, silent
//! machines, failing collectors, and the fleet's timeline.

use std::time::SystemTime;

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;

use super::chart::{self, Chart};
use super::pages::{self, Page, query_string, render, unavailable};
use super::session::SignedIn;
use crate::database::views::timeline::Range;
use crate::http::AppState;

#[derive(Deserialize)]
pub struct RangeQuery {
    #[serde(default)]
    range: String,
}

impl RangeQuery {
    /// The range asked for; the last day when none (or nonsense) is.
    pub fn range(&self) -> Range {
        Range::parse(&self.range).unwrap_or(Range::Day)
    }
}

pub struct FailingRow {
    machine_id: i64,
    machine: String,
    collector: String,
    last_run: String,
    error: String,
}

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage<'a> {
    page: Page<'a>,
    machines: i64,
    machines_by_os: &'a [(String, i64)],
    silent: Vec<(i64, &'a str, String)>,
    failing: Vec<FailingRow>,
    day_start: String,
    day_total: i64,
    /// (type's label, changes, link to them).
    day_by_type: Vec<(&'static str, i64, String)>,
    chart: Chart,
}

pub async fn overview(State(state): State<AppState>, signed_in: SignedIn, Query(query): Query<RangeQuery>) -> Response {
    let database = &state.database;
    let now = SystemTime::now();
    let range = query.range();
    // The card's last 24 hours; the chart's range, unless it is the same.
    let other_range = async {
        match range {
            Range::Day => Ok(None),
            range => database.timeline(range, now, None).await.map(Some),
        }
    };
    let (overview, day, timeline) = match tokio::try_join!(
        database.overview(),
        database.timeline(Range::Day, now, None),
        other_range,
    ) {
        Ok(found) => found,
        Err(error) => return unavailable(&error),
    };
    let timeline = timeline.as_ref().unwrap_or(&day);
    let day_chart = chart::chart(&day, "/", None);
    let page = OverviewPage {
        page: Page::of("Overview", "/", &signed_in),
        machines: overview.machines_by_os.iter().map(|(_, n)| n).sum(),
        machines_by_os: &overview.machines_by_os,
        silent: overview
            .silent
            .iter()
            .map(|(id, name, seen)| (*id, name.as_str(), pages::maybe_time(*seen)))
            .collect(),
        failing: overview
            .failing
            .iter()
            .map(|failure| FailingRow {
                machine_id: failure.machine_id,
                machine: failure.machine.clone(),
                collector: failure.collector.clone(),
                last_run: pages::time(failure.last_run),
                error: failure.error.clone().unwrap_or_default(),
            })
            .collect(),
        day_start: pages::time(day.start),
        day_total: day_chart.total,
        day_by_type: day_chart
            .legend
            .iter()
            .map(|&(kind, label, count)| {
                let since = jiff::Timestamp::try_from(day.start).map_or_else(|_| String::new(), |t| t.to_string());
                let link = format!("/changes?{}", query_string(&[("type", kind), ("since", &since)]));
                (label, count, link)
            })
            .collect(),
        chart: chart::chart(timeline, "/", None),
    };
    render(&page)
}
