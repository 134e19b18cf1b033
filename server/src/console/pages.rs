//! The console's pages: each a handler that reads what it shows and an
//! askama template (`server/templates/`) that escapes all of it.

use askama::Template;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use super::session::SignedIn;
use crate::http::AppState;

/// What every page's frame shows: its title and who is signed in.
pub struct Page<'a> {
    pub title: &'a str,
    /// The signed-in user and the session's CSRF token (for the logout form).
    pub user: Option<(&'a str, &'a str)>,
}

impl<'a> Page<'a> {
    pub fn anonymous(title: &'a str) -> Page<'a> {
        Page { title, user: None }
    }

    pub fn of(title: &'a str, signed_in: &'a SignedIn) -> Page<'a> {
        Page {
            title,
            user: Some((&signed_in.session.user, &signed_in.session.csrf)),
        }
    }
}

/// A template as an HTML answer (a template that fails is a 500).
pub fn render(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(error) => {
            tracing::error!("console: a page failed to render: {error}");
            (StatusCode::INTERNAL_SERVER_ERROR, "the page failed to render").into_response()
        }
    }
}

/// The answer when the database fails a page.
pub fn unavailable(error: &crate::database::DatabaseError) -> Response {
    tracing::error!("console: {error}");
    (StatusCode::SERVICE_UNAVAILABLE, "the database cannot be reached").into_response()
}

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage<'a> {
    page: Page<'a>,
    machines: i64,
    machines_by_os: &'a [(String, i64)],
    silent: Vec<(&'a str, String)>,
    changes: i64,
    changes_by_type: &'a [(String, i64)],
}

pub async fn overview(State(state): State<AppState>, signed_in: SignedIn) -> Response {
    let overview = match state.database.overview().await {
        Ok(overview) => overview,
        Err(error) => return unavailable(&error),
    };
    let page = OverviewPage {
        page: Page::of("Overview", &signed_in),
        machines: overview.machines_by_os.iter().map(|(_, n)| n).sum(),
        machines_by_os: &overview.machines_by_os,
        silent: overview
            .silent
            .iter()
            .map(|(name, seen)| (name.as_str(), seen.map_or_else(|| "never".to_string(), seen_at)))
            .collect(),
        changes: overview.changes_by_type.iter().map(|(_, n)| n).sum(),
        changes_by_type: &overview.changes_by_type,
    };
    render(&page)
}

fn seen_at(time: std::time::SystemTime) -> String {
    jiff::Timestamp::try_from(time).map_or_else(|_| "?".into(), |t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
}

pub async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../assets/console.css"),
    )
}
