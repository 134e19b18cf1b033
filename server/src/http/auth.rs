//! Which machine is calling: from its bearer credential, checked against
//! the database on every request (a revoked machine is cut off at once).

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::{ApiError, AppState};
use crate::database::machines::MachineId;
use crate::tokens;

/// A request from an enrolled machine.
pub struct AuthenticatedMachine(pub MachineId);

impl<S> FromRequestParts<S> for AuthenticatedMachine
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let state = AppState::from_ref(state);
        let credential = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .ok_or(ApiError::Unauthorized)?;
        let machine = state
            .database
            .authenticate(&tokens::digest(credential.trim()))
            .await?
            .ok_or(ApiError::Unauthorized)?;
        Ok(AuthenticatedMachine(machine))
    }
}
