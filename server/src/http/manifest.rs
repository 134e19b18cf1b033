//! `GET /v1/manifest`: the manifest of the calling machine's group.
//! Agents ask every minute or so with `If-None-Match`; an unchanged
//! manifest is answered 304 without reading its text, and texts are kept in
//! memory by version, so polling costs one small indexed query.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::header::{CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use driftwatch_protocol::MANIFEST_GROUP_HEADER;

use super::{ApiError, AppState, AuthenticatedMachine};

/// A manifest's version tag and text.
type Versioned = (String, Arc<str>);

/// Manifest texts by group, with their version tag.
#[derive(Clone, Default)]
pub struct ManifestCache(Arc<Mutex<HashMap<String, Versioned>>>);

impl ManifestCache {
    fn get(&self, group: &str, etag: &str) -> Option<Arc<str>> {
        let cache = self.0.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .get(group)
            .filter(|(tag, _)| tag == etag)
            .map(|(_, text)| text.clone())
    }

    fn put(&self, group: &str, etag: &str, text: Arc<str>) {
        let mut cache = self.0.lock().unwrap_or_else(|p| p.into_inner());
        cache.insert(group.to_string(), (etag.to_string(), text));
    }
}

pub async fn manifest(
    State(state): State<AppState>,
    AuthenticatedMachine(machine): AuthenticatedMachine,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Some(version) = state.database.manifest_of_machine(machine.id).await? else {
        // None of its groups has a manifest: the agent runs its own.
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let quoted = format!("\"{}\"", version.etag);
    let group_header = HeaderValue::from_str(&version.group).map_err(|e| ApiError::Internal(e.to_string()))?;
    let unchanged = headers
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| tag.trim() == quoted || tag.trim() == "*");
    if unchanged {
        return Ok((StatusCode::NOT_MODIFIED, [(ETAG, tag_header(&version.etag)?)]).into_response());
    }
    let (text, etag) = match state.manifests.get(&version.group, &version.etag) {
        Some(text) => (text, version.etag),
        None => {
            let Some((text, current)) = state.database.manifest(&version.group).await? else {
                // Removed since the lookup a moment ago.
                return Ok(StatusCode::NO_CONTENT.into_response());
            };
            // The text read now, under its own version (it may have
            // changed since the lookup).
            let text: Arc<str> = text.into();
            state.manifests.put(&version.group, &current, text.clone());
            (text, current)
        }
    };
    let headers = [
        (ETAG, tag_header(&etag)?),
        (CONTENT_TYPE, HeaderValue::from_static("application/toml")),
        (axum::http::HeaderName::from_static(MANIFEST_GROUP_HEADER), group_header),
    ];
    Ok((StatusCode::OK, headers, text.to_string()).into_response())
}

fn tag_header(etag: &str) -> Result<HeaderValue, ApiError> {
    HeaderValue::from_str(&format!("\"{etag}\"")).map_err(|e| ApiError::Internal(e.to_string()))
}
