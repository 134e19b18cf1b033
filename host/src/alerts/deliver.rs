//! Delivering raised alerts: every pending delivery is claimed, attempted,
//! retried with exponential backoff while the failure is one that may pass,
//! and each attempt recorded.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde_json::Value as Json;

use super::{exec, webhook, with_alert_id};
use crate::manifest::alerts::{Action, AlertRule};
use crate::store::{DeliveryState, PendingDelivery, Store, StoreError};
use crate::timefmt;

/// How long a deliverer holds a delivery it works on; after a crash, another
/// takes it over once this has passed.
const CLAIM: Duration = Duration::from_secs(15 * 60);

/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5 * 60);

/// Why an attempt failed, and whether trying again may help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptError {
    pub message: String,
    pub retry: bool,
}

/// What became of one delivery in [`deliver_pending`].
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryOutcome {
    pub rule: String,
    pub action: String,
    pub state: DeliveryState,
    pub attempts: u32,
    pub error: Option<String>,
}

/// Delivers every pending delivery, oldest first. Deliveries of rules or
/// actions no longer in the manifest fail. Returns when all are delivered or
/// given up, or soon after `stop` is set (the rest stay pending).
pub fn deliver_pending(
    store: &Mutex<Store>,
    rules: &[AlertRule],
    stop: &AtomicBool,
) -> Result<Vec<DeliveryOutcome>, StoreError> {
    let lock = || store.lock().unwrap_or_else(|p| p.into_inner());
    let pending = lock().pending_deliveries()?;
    let mut outcomes = Vec::new();
    for delivery in pending {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let now = Timestamp::now();
        let until = now.checked_add(SignedDuration::try_from(CLAIM).unwrap_or(SignedDuration::ZERO));
        let until = timefmt::format(until.unwrap_or(now));
        if !lock().claim_delivery(delivery.delivery_id, &timefmt::format(now), &until)? {
            continue;
        }
        let rule = rules.iter().find(|r| r.name == delivery.rule);
        let action = rule
            .and_then(|r| r.actions.get(delivery.action_index))
            .filter(|a| a.describe() == delivery.action);
        let (Some(rule), Some(action)) = (rule, action) else {
            let error = "the alert rule or this action is no longer in the manifest";
            lock().record_delivery_attempt(
                delivery.delivery_id,
                delivery.attempts,
                &timefmt::now(),
                DeliveryState::Failed,
                Some(error),
            )?;
            outcomes.push(outcome(
                &delivery,
                DeliveryState::Failed,
                delivery.attempts,
                Some(error.into()),
            ));
            continue;
        };
        outcomes.push(deliver_one(store, rule, action, &delivery, stop)?);
    }
    Ok(outcomes)
}

fn outcome(delivery: &PendingDelivery, state: DeliveryState, attempts: u32, error: Option<String>) -> DeliveryOutcome {
    DeliveryOutcome {
        rule: delivery.rule.clone(),
        action: delivery.action.clone(),
        state,
        attempts,
        error,
    }
}

fn deliver_one(
    store: &Mutex<Store>,
    rule: &AlertRule,
    action: &Action,
    delivery: &PendingDelivery,
    stop: &AtomicBool,
) -> Result<DeliveryOutcome, StoreError> {
    let lock = || store.lock().unwrap_or_else(|p| p.into_inner());
    let (max_attempts, backoff) = action.attempts_and_backoff();
    let document = with_alert_id(&delivery.document, delivery.alert_id);
    let mut attempts = delivery.attempts;
    loop {
        attempts += 1;
        let result = attempt(rule, action, &document);
        let time = timefmt::now();
        let (state, error) = match &result {
            Ok(()) => (DeliveryState::Delivered, None),
            Err(e) if e.retry && attempts < max_attempts => (DeliveryState::Pending, Some(e.message.as_str())),
            Err(e) => (DeliveryState::Failed, Some(e.message.as_str())),
        };
        lock().record_delivery_attempt(delivery.delivery_id, attempts, &time, state, error)?;
        match state {
            DeliveryState::Delivered => {
                tracing::info!(alert = %rule.name, action = %delivery.action, attempts, "alert delivered");
            }
            DeliveryState::Failed => {
                tracing::error!(alert = %rule.name, action = %delivery.action, attempts, "alert not delivered: {}", error.unwrap_or_default());
            }
            DeliveryState::Pending => {
                let wait = backoff.saturating_mul(1u32 << (attempts - 1).min(16)).min(MAX_BACKOFF);
                tracing::warn!(
                    alert = %rule.name, action = %delivery.action, attempts,
                    "alert delivery failed, trying again in {}: {}",
                    crate::runtime::humanize(wait),
                    error.unwrap_or_default()
                );
                if !crate::stopping::sleep_unless_stopped(wait, stop) {
                    lock().release_delivery(delivery.delivery_id)?;
                    return Ok(outcome(
                        delivery,
                        DeliveryState::Pending,
                        attempts,
                        error.map(Into::into),
                    ));
                }
                continue;
            }
        }
        return Ok(outcome(delivery, state, attempts, error.map(Into::into)));
    }
}

fn attempt(rule: &AlertRule, action: &Action, document: &str) -> Result<(), AttemptError> {
    match action {
        Action::Webhook(hook) => webhook::post(hook, document),
        Action::Exec(command) => exec::run(command, document, rule),
        Action::Log => {
            log(rule, document);
            Ok(())
        }
    }
}

/// The `log` action: one line naming the alert and what changed.
fn log(rule: &AlertRule, document: &str) {
    let parsed: Json = serde_json::from_str(document).unwrap_or_default();
    let changes = parsed["changes"].as_array().map(Vec::as_slice).unwrap_or_default();
    let mut items: Vec<String> = changes.iter().take(5).map(describe_row).collect();
    if changes.len() > items.len() {
        items.push(format!("and {} more", changes.len() - items.len()));
    }
    tracing::warn!(
        alert = %rule.name,
        severity = rule.severity.as_str(),
        rows = changes.len(),
        "alert: {}",
        items.join("; ")
    );
}

/// A change row in a few words: its category and the item it is about.
fn describe_row(row: &Json) -> String {
    let item = row
        .as_object()
        .and_then(crate::inventory::item_label)
        .unwrap_or_else(|| "(row)".into());
    match row["ChangeCategory"].as_str().filter(|s| !s.is_empty()) {
        Some(category) => format!("{category} {item}"),
        None => item,
    }
}
