//! Signing in and out. A session is a random token in an `HttpOnly`,
//! `SameSite=Strict` cookie (`Secure` under TLS); the database keeps its
//! hash, the user and the session's CSRF token, which every form must send
//! back. Logging in always makes a new token (a cookie planted before is
//! worth nothing); logging out deletes it on the server. Failed logins are
//! counted per name in the database and throttled.

use std::sync::LazyLock;
use std::time::Duration;

use askama::Template;
use axum::Form;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::pages::{Page, forged, render, unavailable};
use crate::database::console::{LOGIN_FAILURES_ALLOWED, LOGIN_WINDOW, Session, UserRole};
use crate::http::AppState;
use crate::tokens;

const SESSION_COOKIE: &str = "driftwatch_session";
/// The login form's own CSRF token (double-submit: cookie and form field).
const LOGIN_COOKIE: &str = "driftwatch_login";
const SESSION_PREFIX: &str = "dws_";
const SESSION_LASTS: Duration = Duration::from_secs(12 * 3600);

/// A request from a signed-in person. Without a live session, pages
/// answer with a redirection to the login form.
pub struct SignedIn {
    pub session: Session,
    token_hash: Vec<u8>,
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(Redirect::to("/login").into_response());
        };
        let token_hash = tokens::digest(token);
        match state.database.session(&token_hash).await {
            Ok(Some(session)) => Ok(SignedIn { session, token_hash }),
            Ok(None) => Err(Redirect::to("/login").into_response()),
            Err(error) => Err(unavailable(&error)),
        }
    }
}

impl SignedIn {
    /// Whether a form carries this session's CSRF token.
    pub fn sent_back(&self, csrf: &str) -> bool {
        same(csrf, &self.session.csrf)
    }

    /// A form that changes something must come from this session, and the
    /// session must be an admin's: the answer refusing it when not.
    pub fn refuses_change(&self, csrf: &str) -> Option<Response> {
        if !self.sent_back(csrf) {
            return Some(forged());
        }
        if self.session.role != UserRole::Admin {
            tracing::info!(user = self.session.user, "a viewer tried to change something");
            return Some((StatusCode::FORBIDDEN, "viewers cannot change anything").into_response());
        }
        None
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    page: Page<'a>,
    login_csrf: &'a str,
    name: &'a str,
    error: Option<&'a str>,
}

pub async fn login_form(State(state): State<AppState>) -> Response {
    login_page(&state, StatusCode::OK, "", None)
}

fn login_page(state: &AppState, status: StatusCode, name: &str, error: Option<&str>) -> Response {
    let Ok(token) = tokens::new_token("") else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "no random numbers").into_response();
    };
    let page = LoginPage {
        page: Page::anonymous("Log in"),
        login_csrf: &token,
        name,
        error,
    };
    let cookie = set_cookie(state, LOGIN_COOKIE, &token, "/login", Some(600));
    (status, [(header::SET_COOKIE, cookie)], render(&page)).into_response()
}

#[derive(Deserialize)]
pub struct LoginForm {
    name: String,
    password: String,
    /// Missing is refused as forged, like a wrong one.
    #[serde(default)]
    csrf: String,
}

pub async fn login(State(state): State<AppState>, headers: HeaderMap, Form(form): Form<LoginForm>) -> Response {
    if !cookie(&headers, LOGIN_COOKIE).is_some_and(|expected| same(&form.csrf, expected)) {
        return login_page(
            &state,
            StatusCode::FORBIDDEN,
            &form.name,
            Some("the form had expired: try again"),
        );
    }
    let name = form.name.trim();
    let database = &state.database;
    match database.recent_login_failures(name).await {
        Ok(failures) if failures >= LOGIN_FAILURES_ALLOWED => {
            let minutes = LOGIN_WINDOW.as_secs() / 60;
            let error = format!("too many failed logins for this name: try again in {minutes} minutes");
            return login_page(&state, StatusCode::TOO_MANY_REQUESTS, name, Some(&error));
        }
        Ok(_) => {}
        Err(error) => return unavailable(&error),
    }
    let details = match database.login_details(name).await {
        Ok(details) => details,
        Err(error) => return unavailable(&error),
    };
    // Unknown names cost a hash check too, so that timing does not tell
    // which names exist.
    let stored = details
        .as_ref()
        .map_or(DECOY_HASH.as_str(), |(hash, _)| hash.as_str())
        .to_string();
    let password = form.password;
    let matches = tokio::task::spawn_blocking(move || super::password::verify(&password, &stored))
        .await
        .unwrap_or(false);
    if !matches || details.is_none() {
        if let Err(error) = database.note_login_failure(name).await {
            return unavailable(&error);
        }
        tracing::info!(user = name, "failed console login");
        return login_page(&state, StatusCode::UNAUTHORIZED, name, Some("wrong name or password"));
    }
    let (Ok(token), Ok(csrf)) = (tokens::new_token(SESSION_PREFIX), tokens::new_token("")) else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "no random numbers").into_response();
    };
    if let Err(error) = database
        .start_session(&tokens::digest(&token), name, &csrf, SESSION_LASTS)
        .await
    {
        return unavailable(&error);
    }
    tracing::info!(user = name, "console login");
    let session = set_cookie(&state, SESSION_COOKIE, &token, "/", Some(SESSION_LASTS.as_secs()));
    let spent = set_cookie(&state, LOGIN_COOKIE, "", "/login", Some(0));
    (
        AppendHeaders([(header::SET_COOKIE, session), (header::SET_COOKIE, spent)]),
        Redirect::to("/"),
    )
        .into_response()
}

/// A form that carries nothing but the session's CSRF token.
#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

pub async fn logout(State(state): State<AppState>, signed_in: SignedIn, Form(form): Form<CsrfForm>) -> Response {
    if !signed_in.sent_back(&form.csrf) {
        return forged();
    }
    if let Err(error) = state.database.end_session(&signed_in.token_hash).await {
        return unavailable(&error);
    }
    let cleared = set_cookie(&state, SESSION_COOKIE, "", "/", Some(0));
    ([(header::SET_COOKIE, cleared)], Redirect::to("/login")).into_response()
}

/// A hash of a random password nobody knows, checked for names that have
/// no account.
static DECOY_HASH: LazyLock<String> = LazyLock::new(|| {
    let unknowable = tokens::new_token("").unwrap_or_else(|_| "decoy".into());
    super::password::hash(&unknowable).unwrap_or_default()
});

/// A `Cookie` header's value for `name`.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| {
            let (key, value) = pair.trim().split_once('=')?;
            (key == name && !value.is_empty()).then_some(value)
        })
}

fn set_cookie(state: &AppState, name: &str, value: &str, path: &str, max_age: Option<u64>) -> HeaderValue {
    let mut text = format!("{name}={value}; Path={path}; HttpOnly; SameSite=Strict");
    if let Some(seconds) = max_age {
        text.push_str(&format!("; Max-Age={seconds}"));
    }
    if state.secure_cookies {
        text.push_str("; Secure");
    }
    // Names and values here are ours: hex tokens and fixed names.
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Compares without stopping at the first difference.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
