//! Alerts: the fleet's rules (admins may turn one on or off), the alerts
//! they raised and how each alert's deliveries went.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::pages::{self, Page, not_found, render, unavailable};
use super::session::SignedIn;
use crate::http::AppState;

/// Raised alerts the page lists, newest first.
const RAISED_LISTED: i64 = 200;

struct RuleLine {
    name: String,
    severity: String,
    enabled: bool,
    query: String,
    actions: String,
}

struct AlertLine {
    id: i64,
    machine: String,
    rule: String,
    severity: String,
    raised_at: String,
    changes: String,
    rows: i32,
    /// (action, state, attempts, last error).
    deliveries: Vec<(String, String, i32, String)>,
}

#[derive(Template)]
#[template(path = "alerts.html")]
struct AlertsPage<'a> {
    page: Page<'a>,
    rules: Vec<RuleLine>,
    alerts: Vec<AlertLine>,
}

pub async fn page(State(state): State<AppState>, signed_in: SignedIn) -> Response {
    let database = &state.database;
    let (rules, raised) = match tokio::try_join!(database.alert_rules(), database.raised_alerts(RAISED_LISTED)) {
        Ok(found) => found,
        Err(error) => return unavailable(&error),
    };
    render(&AlertsPage {
        page: Page::of("Alerts", "/alerts", &signed_in),
        rules: rules
            .into_iter()
            .map(|(name, severity, enabled, query, actions)| RuleLine {
                name,
                severity,
                enabled,
                query,
                actions: actions.join("; "),
            })
            .collect(),
        alerts: raised
            .into_iter()
            .map(|alert| AlertLine {
                id: alert.alert_id,
                machine: alert.machine,
                rule: alert.rule,
                severity: alert.severity,
                raised_at: pages::time(alert.raised_at),
                changes: if alert.changes.0 == alert.changes.1 {
                    alert.changes.0.to_string()
                } else {
                    format!("{}–{}", alert.changes.0, alert.changes.1)
                },
                rows: alert.rows,
                deliveries: alert
                    .deliveries
                    .into_iter()
                    .map(|(action, state, attempts, error)| (action, state, attempts, error.unwrap_or_default()))
                    .collect(),
            })
            .collect(),
    })
}

#[derive(Deserialize)]
pub struct RuleSwitch {
    /// Missing is refused as forged, like a wrong one.
    #[serde(default)]
    csrf: String,
    rule: String,
    /// `on` or `off`.
    enabled: String,
}

/// `POST /alerts/rules` (admins): turns a rule on or off.
pub async fn switch_rule(State(state): State<AppState>, signed_in: SignedIn, Form(form): Form<RuleSwitch>) -> Response {
    if let Some(refused) = signed_in.refuses_change(&form.csrf) {
        return refused;
    }
    let enabled = form.enabled == "on";
    match state.database.set_rule_enabled(&form.rule, enabled).await {
        Ok(true) => {
            tracing::info!(
                user = signed_in.session.user,
                rule = form.rule,
                enabled,
                "alert rule switched from the console"
            );
            Redirect::to("/alerts").into_response()
        }
        Ok(false) => not_found("this rule"),
        Err(error) => unavailable(&error),
    }
}
