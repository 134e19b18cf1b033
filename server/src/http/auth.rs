//! Who is calling: a machine (its credential) or a person or script (an API
//! token), from the bearer token, checked against the database on every
//! request (a revoked machine or token is cut off at once). The two kinds
//! live in different tables: a machine credential cannot query the fleet,
//! an API token cannot ship.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::{ApiError, AppState};
use crate::database::api_tokens::Role;
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
        let credential = bearer(parts)?;
        let machine = state
            .database
            .authenticate(&tokens::digest(credential))
            .await?
            .ok_or(ApiError::Unauthorized)?;
        Ok(AuthenticatedMachine(machine))
    }
}

/// A request from the holder of an API token that may read.
pub struct AuthenticatedReader(pub Role);

impl<S> FromRequestParts<S> for AuthenticatedReader
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let state = AppState::from_ref(state);
        let token = bearer(parts)?;
        let role = state
            .database
            .api_token_role(&tokens::digest(token))
            .await?
            .ok_or(ApiError::Unauthorized)?;
        Ok(AuthenticatedReader(role))
    }
}

fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or(ApiError::Unauthorized)
}
