//! What every page shares: its frame (title, navigation, who is signed
//! in), rendering, the answers for failures, how times read, and the
//! embedded assets. Each page is a handler in its own module and an
//! askama template (`server/templates/`) that escapes all it shows.

use std::time::SystemTime;

use askama::Template;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use super::session::SignedIn;
use crate::database::console::UserRole;

/// The sections in the navigation bar: (path, label).
pub const SECTIONS: [(&str, &str); 6] = [
    ("/", "Overview"),
    ("/machines", "Machines"),
    ("/changes", "Changes"),
    ("/software", "Software"),
    ("/query", "Query"),
    ("/alerts", "Alerts"),
];

/// What every page's frame shows.
pub struct Page<'a> {
    pub title: &'a str,
    /// The navigation section the page is in.
    pub section: &'a str,
    /// The signed-in user and the session's CSRF token (for the forms).
    pub user: Option<(&'a str, &'a str)>,
    pub admin: bool,
}

impl<'a> Page<'a> {
    pub fn anonymous(title: &'a str) -> Page<'a> {
        Page {
            title,
            section: "",
            user: None,
            admin: false,
        }
    }

    pub fn of(title: &'a str, section: &'a str, signed_in: &'a SignedIn) -> Page<'a> {
        Page {
            title,
            section,
            user: Some((&signed_in.session.user, &signed_in.session.csrf)),
            admin: signed_in.session.role == UserRole::Admin,
        }
    }

    /// The navigation: (path, label, whether this page is in it).
    pub fn nav(&self) -> Vec<(&'static str, &'static str, bool)> {
        SECTIONS
            .iter()
            .map(|&(path, label)| (path, label, path == self.section))
            .collect()
    }

    pub fn csrf(&self) -> &str {
        self.user.map_or("", |(_, csrf)| csrf)
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

pub fn not_found(what: &str) -> Response {
    (StatusCode::NOT_FOUND, format!("{what} does not exist")).into_response()
}

/// A form that did not carry the session's CSRF token back.
pub fn forged() -> Response {
    (StatusCode::FORBIDDEN, "this form does not come from this session").into_response()
}

/// `2026-12-02 22:15:04 UTC`.
pub fn time(at: SystemTime) -> String {
    jiff::Timestamp::try_from(at).map_or_else(|_| "?".into(), |t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
}

pub fn maybe_time(at: Option<SystemTime>) -> String {
    at.map_or_else(|| "never".to_string(), time)
}

/// A query string's value, percent-encoded for a link.
pub fn encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => encoded.push(byte as char),
            _ => encoded.push_str(&format!("%{byte:02X}")),
        }
    }
    encoded
}

/// `name=value&...` of the pairs whose value is not empty.
pub fn query_string(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, value)| format!("{name}={}", encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

pub async fn stylesheet() -> impl IntoResponse {
    asset("text/css; charset=utf-8", include_str!("../../assets/console.css"))
}

pub async fn script() -> impl IntoResponse {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("../../assets/console.js"),
    )
}

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_carry_values_percent_encoded_and_skip_empty_ones() {
        assert_eq!(
            query_string(&[("q", "a b&c=<d>"), ("type", ""), ("machine", "web-1")]),
            "q=a%20b%26c%3D%3Cd%3E&machine=web-1"
        );
        assert_eq!(encode("é"), "%C3%A9");
    }
}
