//! The delivery task of `serve`: takes due deliveries (those of any server
//! process sharing the database) and makes them: a webhook POSTs the
//! alert's JSON document, a log action writes it to this server's log.

use std::time::Duration;

use tokio::sync::watch;

use super::rules::ActionSpec;
use crate::database::Database;
use crate::database::alerts::{Attempt, Due};

/// How often the task looks for due deliveries when it found none.
const IDLE: Duration = Duration::from_secs(2);
/// The wait after the database failed.
const AFTER_ERROR: Duration = Duration::from_secs(10);

/// Delivers until `stopped` says so.
pub async fn delivery_loop(database: Database, mut stopped: watch::Receiver<bool>) {
    loop {
        let wait = match database.deliver_due(attempt).await {
            Ok(0) => IDLE,
            Ok(_) => Duration::ZERO,
            Err(error) => {
                tracing::warn!("alert deliveries: {error}");
                AFTER_ERROR
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stopped.changed() => return,
        }
    }
}

async fn attempt(due: Due) -> (Due, Attempt) {
    let outcome = match &due.action {
        ActionSpec::Log => {
            tracing::warn!(alert = %due.rule, "alert: {}", due.document);
            Attempt::Delivered
        }
        ActionSpec::Webhook {
            url,
            headers,
            timeout_ms,
            ..
        } => {
            let (url, headers, body) = (url.clone(), headers.clone(), due.document.clone());
            let timeout = Duration::from_millis(*timeout_ms);
            match tokio::task::spawn_blocking(move || post(&url, &headers, &body, timeout)).await {
                Ok(Ok(())) => Attempt::Delivered,
                Ok(Err(error)) => Attempt::Failed(error),
                Err(error) => Attempt::Failed(error.to_string()),
            }
        }
    };
    (due, outcome)
}

/// POSTs `body` as JSON; a 2xx answer is a delivery.
fn post(
    url: &str,
    headers: &std::collections::BTreeMap<String, String>,
    body: &str,
    timeout: Duration,
) -> Result<(), String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .user_agent(concat!("driftwatch-server/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let mut request = agent.post(url).header("Content-Type", "application/json");
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = request.send(body).map_err(|e| e.to_string())?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("the webhook answered {status}"))
    }
}
