//! `POST /v1/ship`: a machine's batch of changes and inventory, gzip'd
//! JSON. The machine is the credential's; nothing in the batch can name
//! another one.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use driftwatch_protocol::{InventoryDigest, Position, ShipBatch};

use super::body::inflate;
use super::{ApiError, AppState, AuthenticatedMachine};
use crate::database::shipping::{self, Applied};

pub async fn ship(
    State(state): State<AppState>,
    AuthenticatedMachine(machine): AuthenticatedMachine,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Position>, ApiError> {
    let json = inflate(&headers, &body)?;
    let batch: ShipBatch =
        serde_json::from_slice(&json).map_err(|e| ApiError::BadRequest(format!("the batch is not valid: {e}")))?;
    let prepared = shipping::validate(&batch).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    match state.database.apply_batch(&machine, &prepared).await? {
        Applied::Acknowledged(position) => {
            tracing::debug!(
                machine = machine.name,
                "batch of {} changes and {} inventory entries: now at {position:?}",
                prepared.changes(),
                prepared.inventory_entries()
            );
            Ok(Json(position))
        }
        Applied::Gap(position) => Err(ApiError::Gap(position)),
    }
}

/// How far the server has the calling machine's records.
pub async fn position(
    State(state): State<AppState>,
    AuthenticatedMachine(machine): AuthenticatedMachine,
) -> Result<Json<Position>, ApiError> {
    Ok(Json(state.database.position(&machine).await?))
}

/// What the server holds of the calling machine's inventory.
pub async fn digest(
    State(state): State<AppState>,
    AuthenticatedMachine(machine): AuthenticatedMachine,
) -> Result<Json<InventoryDigest>, ApiError> {
    Ok(Json(state.database.inventory_digest(&machine).await?))
}
