//! `POST /v1/collectors`: how the calling machine's collectors last ran.

use std::time::SystemTime;

use axum::extract::{ConnectInfo, State};
use axum::{Extension, Json};
use driftwatch_protocol::{
    CollectorHealth, CollectorHealthNoted, CollectorHealthReport, MAX_COLLECTORS_REPORTED, MAX_HEARTBEAT_TEXT,
};

use super::{ApiError, AppState, AuthenticatedMachine, PeerAddress};
use crate::database::collectors::CollectorTimes;

/// The longest name, outcome or error text kept (errors are cut, the rest refused).
const MAX_NAME: usize = 256;
const MAX_ERROR: usize = 4096;

pub async fn report(
    State(state): State<AppState>,
    AuthenticatedMachine(machine): AuthenticatedMachine,
    peer: Option<Extension<ConnectInfo<PeerAddress>>>,
    Json(mut report): Json<CollectorHealthReport>,
) -> Result<Json<CollectorHealthNoted>, ApiError> {
    if report.collectors.len() > MAX_COLLECTORS_REPORTED {
        return Err(ApiError::BadRequest(format!(
            "a report names at most {MAX_COLLECTORS_REPORTED} collectors"
        )));
    }
    let times = report
        .collectors
        .iter_mut()
        .map(checked)
        .collect::<Result<Vec<_>, _>>()
        .map_err(ApiError::BadRequest)?;
    if let Some(beat) = &report.heartbeat {
        let texts = [
            &beat.os_type,
            &beat.os_name,
            &beat.os_major_version,
            &beat.os_minor_version,
            &beat.version,
        ];
        if texts.iter().any(|t| t.len() > MAX_HEARTBEAT_TEXT || t.contains('\0')) {
            return Err(ApiError::BadRequest(format!(
                "a heartbeat's texts are at most {MAX_HEARTBEAT_TEXT} bytes, without NUL"
            )));
        }
    }
    state
        .database
        .note_collector_health(&machine, &report.collectors, &times)
        .await?;
    let address = peer.map(|Extension(ConnectInfo(PeerAddress(address)))| address.ip().to_string());
    state
        .database
        .record_heartbeat(&machine, report.heartbeat.as_ref(), address)
        .await?;
    Ok(Json(CollectorHealthNoted {
        collectors: report.collectors.len(),
    }))
}

/// Refuses what no agent sends; cuts long error texts; parses the times.
fn checked(health: &mut CollectorHealth) -> Result<CollectorTimes, String> {
    for (what, text) in [
        ("collector", &health.collector),
        ("plugin", &health.plugin),
        ("outcome", &health.outcome),
    ] {
        if text.is_empty() || text.len() > MAX_NAME || text.contains('\0') {
            return Err(format!(
                "a collector's {what} must be 1 to {MAX_NAME} bytes, without NUL"
            ));
        }
    }
    for text in [
        &mut health.error,
        &mut health.last_failure_error,
        &mut health.plugin_version,
    ]
    .into_iter()
    .flatten()
    {
        text.retain(|c| c != '\0');
        if text.len() > MAX_ERROR {
            let mut end = MAX_ERROR;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
        }
    }
    let time = |text: &str| -> Result<SystemTime, String> {
        crate::database::parse_time(text).map_err(|e| format!("collector {:?}: {e}", health.collector))
    };
    let optional = |text: &Option<String>| text.as_deref().map(time).transpose();
    Ok(CollectorTimes {
        last_run: time(&health.last_run)?,
        last_success: optional(&health.last_success)?,
        last_failure: optional(&health.last_failure)?,
    })
}
