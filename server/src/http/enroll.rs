//! Enrollment: a secret in, a machine credential out.

use axum::Json;
use axum::extract::State;
use driftwatch_protocol::{EnrollRequest, Enrolled, Identity, tokens::MACHINE_CREDENTIAL};

use super::{ApiError, AppState, AuthenticatedMachine};
use crate::database::machines::Enrollment;
use crate::tokens;

/// Longest machine name accepted (DNS names are at most 253 characters).
const MAX_NAME: usize = 253;

pub async fn enroll(
    State(state): State<AppState>,
    Json(request): Json<EnrollRequest>,
) -> Result<Json<Enrolled>, ApiError> {
    let name = request.name.trim();
    if name.is_empty() || name.len() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(ApiError::BadRequest(format!(
            "a machine name is 1 to {MAX_NAME} characters without control characters; got {:?}",
            request.name
        )));
    }
    let credential =
        tokens::new_token(MACHINE_CREDENTIAL).map_err(|e| ApiError::Internal(format!("no random numbers: {e}")))?;
    let groups = state
        .database
        .enroll(&Enrollment {
            secret_hash: &tokens::digest(request.secret.trim()),
            name,
            os: &request.os,
            agent_version: &request.agent_version,
            credential_hash: &tokens::digest(&credential),
        })
        .await?;
    tracing::info!(machine = name, "enrolled (groups: {groups:?})");
    Ok(Json(Enrolled {
        machine: name.to_string(),
        credential,
        groups,
    }))
}

pub async fn identity(
    State(state): State<AppState>,
    AuthenticatedMachine(machine): AuthenticatedMachine,
) -> Result<Json<Identity>, ApiError> {
    let groups = state.database.groups(machine.id).await?;
    Ok(Json(Identity {
        machine: machine.name,
        groups,
    }))
}
