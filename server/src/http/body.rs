//! Request bodies as sent: plain, or gzip'd within a limit.

use std::io::Read;

use axum::http::HeaderMap;
use axum::http::header::CONTENT_ENCODING;
use driftwatch_protocol::MAX_BATCH_INFLATED;

use super::ApiError;

/// The body as sent, or inflated from gzip: at most `MAX_BATCH_INFLATED`
/// bytes either way (a small body that inflates without end is refused).
pub fn inflate(headers: &HeaderMap, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let too_large = || {
        ApiError::TooLarge(format!(
            "a request body may hold at most {MAX_BATCH_INFLATED} bytes, once inflated"
        ))
    };
    match headers.get(CONTENT_ENCODING).map(|v| v.to_str().unwrap_or("?")) {
        None | Some("identity") => {
            if body.len() > MAX_BATCH_INFLATED {
                return Err(too_large());
            }
            Ok(body.to_vec())
        }
        Some("gzip") => {
            let mut inflated = Vec::new();
            flate2::read::GzDecoder::new(body)
                .take(MAX_BATCH_INFLATED as u64 + 1)
                .read_to_end(&mut inflated)
                .map_err(|e| ApiError::BadRequest(format!("the gzip body is damaged: {e}")))?;
            if inflated.len() > MAX_BATCH_INFLATED {
                return Err(too_large());
            }
            Ok(inflated)
        }
        Some(other) => Err(ApiError::BadRequest(format!(
            "content encoding {other:?} is not supported (gzip is)"
        ))),
    }
}
