//! Refusals and failures as HTTP answers: a status and a `Problem` body.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use driftwatch_protocol::{Position, Problem};

use crate::database::DatabaseError;
use crate::database::machines::EnrollError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("no valid credential: enroll the machine (again), or give an API token that is not revoked")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Conflict(String),
    #[error("the batch starts after what the server has (changes up to {}, inventory up to {}): send from there", .0.change_id, .0.revision)]
    Gap(Position),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    Internal(String),
    #[error(transparent)]
    Database(#[from] DatabaseError),
}

impl From<EnrollError> for ApiError {
    fn from(error: EnrollError) -> ApiError {
        match error {
            EnrollError::BadSecret => ApiError::Forbidden(error.to_string()),
            EnrollError::NameTaken(_) => ApiError::Conflict(error.to_string()),
            EnrollError::Database(error) => ApiError::Database(error),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::Conflict(_) | ApiError::Gap(_) => StatusCode::CONFLICT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Database(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        let error = match &self {
            // What went wrong inside goes to the log, not to the caller.
            ApiError::Database(error) => {
                tracing::error!("request failed: {error}");
                "the server's database is not available; try again later".to_string()
            }
            ApiError::Internal(error) => {
                tracing::error!("request failed: {error}");
                "the server failed; see its log".to_string()
            }
            other => other.to_string(),
        };
        let position = match &self {
            ApiError::Gap(position) => Some(*position),
            _ => None,
        };
        (status, Json(Problem { error, position })).into_response()
    }
}
