//! Captured file contents: which the server lacks, and sending one. A
//! content is stored under its SHA-256 only if it has that digest.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use driftwatch_protocol::{ContentHashes, MAX_CONTENT_HASHES};
use sha2::{Digest, Sha256};

use super::body::inflate;
use super::{ApiError, AppState, AuthenticatedMachine};

pub async fn missing(
    State(state): State<AppState>,
    AuthenticatedMachine(_): AuthenticatedMachine,
    Json(asked): Json<ContentHashes>,
) -> Result<Json<ContentHashes>, ApiError> {
    if asked.hashes.len() > MAX_CONTENT_HASHES {
        return Err(ApiError::BadRequest(format!(
            "at most {MAX_CONTENT_HASHES} hashes at once"
        )));
    }
    let digests = asked
        .hashes
        .iter()
        .map(|h| digest_of(h))
        .collect::<Result<Vec<_>, _>>()?;
    let missing = state.database.missing_contents(&digests).await?;
    Ok(Json(ContentHashes {
        hashes: missing.iter().map(|d| hex(d)).collect(),
    }))
}

pub async fn put(
    State(state): State<AppState>,
    AuthenticatedMachine(machine): AuthenticatedMachine,
    Path(hash): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let digest = digest_of(&hash)?;
    let content = inflate(&headers, &body)?;
    if Sha256::digest(&content).as_slice() != digest.as_slice() {
        return Err(ApiError::BadRequest(format!(
            "the content sent as {hash} has another SHA-256"
        )));
    }
    state.database.store_content(&digest, &content).await?;
    tracing::debug!(
        machine = machine.name,
        "content {hash} stored ({} bytes)",
        content.len()
    );
    Ok(StatusCode::NO_CONTENT)
}

/// A SHA-256 from 64 hex digits (as change rows and agents name contents).
pub fn sha256_from_hex(hash: &str) -> Option<Vec<u8>> {
    if hash.len() != 64 {
        return None;
    }
    (0..32)
        .map(|i| u8::from_str_radix(hash.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}

fn digest_of(hash: &str) -> Result<Vec<u8>, ApiError> {
    sha256_from_hex(hash).ok_or_else(|| ApiError::BadRequest(format!("{hash:?} is not a SHA-256 in hex")))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_64_hex_digits() {
        let hash = "00ff".repeat(16);
        assert_eq!(hex(&digest_of(&hash).unwrap()), hash);
        assert!(digest_of("00ff").is_err());
        assert!(digest_of(&"zz".repeat(32)).is_err());
        assert!(digest_of(&"é".repeat(32)).is_err());
    }
}
