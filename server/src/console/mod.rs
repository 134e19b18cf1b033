//! The web console, served by the same process and port as the API:
//! server-rendered pages for people signed in with a console account
//! (`driftwatch-server user add`). Templates escape everything they show;
//! styles are embedded in the binary; every answer carries a strict
//! Content-Security-Policy. Pages take only session cookies, never an
//! agent's credential or an API token, and the API takes no session.
//!
//! Viewers look; admins may also change things (rules, revocations).
//!
//! | module | job |
//! |---|---|
//! | `session` | login, logout, the session cookie, CSRF tokens, roles |
//! | `password` | argon2id password hashes |
//! | `pages` | what every page shares: frame, rendering, assets |
//! | `chart` | the timeline chart, as SVG |
//! | `diff` | line diffs of file contents |
//! | `overview`, `machines`, `changes`, `software`, `query`, `alerts` | the pages |

mod alerts;
mod changes;
mod chart;
mod diff;
mod machines;
mod overview;
mod pages;
pub mod password;
mod query;
mod query_chart;
mod session;
mod software;

use axum::Router;
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};

use crate::http::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(overview::overview))
        .route("/login", get(session::login_form).post(session::login))
        .route("/logout", post(session::logout))
        .route("/machines", get(machines::list))
        .route("/machines/{id}", get(machines::machine))
        .route("/machines/{id}/revoke", post(machines::revoke))
        .route("/changes", get(changes::list))
        .route("/changes/{machine}/{change}", get(changes::change))
        .route("/software", get(software::names))
        .route("/software/versions", get(software::versions))
        .route("/query", get(query::page))
        .route("/query/download", get(query::download))
        .route("/alerts", get(alerts::page))
        .route("/alerts/rules", post(alerts::switch_rule))
        .route("/assets/console.css", get(pages::stylesheet))
        .route("/assets/console.js", get(pages::script))
        .layer(middleware::from_fn(security_headers))
}

/// No scripts or styles but our own, no framing, no referrers, no caching
/// of pages that show a fleet's data.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}
