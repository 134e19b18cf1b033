//! Calls to the fleet server: JSON over HTTPS, refusals read from the
//! server's `Problem` answers.

use std::io::Read;
use std::time::Duration;

use driftwatch_protocol::{
    CollectorHealthNoted, CollectorHealthReport, ContentHashes, EnrollRequest, Enrolled, Identity, InventoryDigest,
    Position, Problem, ShipBatch, paths,
};
use serde::de::DeserializeOwned;

/// Longest wait for one call.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Most of an answer read (inventories come in pages far below this).
const MAX_ANSWER: u64 = 16 << 20;

#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("the CA certificate is not PEM: {0}")]
    BadCa(String),
    #[error("{url}: {error}")]
    Unreachable { url: String, error: String },
    #[error("{url}: the server refused ({status}): {message}")]
    Refused {
        url: String,
        status: u16,
        message: String,
        /// Where the server stands, when it said so.
        position: Option<Position>,
    },
    #[error("{url}: the answer is not what was expected: {error}")]
    BadAnswer { url: String, error: String },
}

impl FleetError {
    /// The server said no (as opposed to: it could not be asked).
    pub fn status(&self) -> Option<u16> {
        match self {
            FleetError::Refused { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// What the server says of the manifest this machine should run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerManifest {
    /// The version asked about is still current.
    Unchanged,
    /// None of the machine's groups has a manifest.
    None,
    /// The group's manifest, at version `etag`.
    Current { group: String, etag: String, text: String },
}

pub struct FleetClient {
    base: String,
    agent: ureq::Agent,
    credential: Option<String>,
}

impl FleetClient {
    /// A client for the server at `base` (`https://host:port`), trusting
    /// `ca` (PEM) when given, the system's roots otherwise.
    pub fn new(base: &str, ca: Option<&str>, credential: Option<String>) -> Result<FleetClient, FleetError> {
        let roots = ca
            .map(|pem| crate::tls::ca_certificates(pem.as_bytes()))
            .transpose()
            .map_err(FleetError::BadCa)?;
        let agent = crate::tls::http_client(CALL_TIMEOUT, roots.as_deref());
        Ok(FleetClient {
            base: base.trim_end_matches('/').to_string(),
            agent,
            credential,
        })
    }

    pub fn enroll(&self, request: &EnrollRequest) -> Result<Enrolled, FleetError> {
        let body = serde_json::to_vec(request).map_err(|e| FleetError::BadAnswer {
            url: paths::ENROLL.to_string(),
            error: e.to_string(),
        })?;
        self.post(paths::ENROLL, body, None)
    }

    /// Sends a batch, gzip-compressed; the server's new position.
    pub fn ship(&self, batch: &ShipBatch) -> Result<Position, FleetError> {
        let json = serde_json::to_vec(batch).map_err(|e| FleetError::BadAnswer {
            url: paths::SHIP.to_string(),
            error: e.to_string(),
        })?;
        self.post(paths::SHIP, gzip(paths::SHIP, &json)?, Some("gzip"))
    }

    /// Tells the server how each collector last ran.
    pub fn report_collectors(&self, report: &CollectorHealthReport) -> Result<(), FleetError> {
        let body = serde_json::to_vec(report).map_err(|e| FleetError::BadAnswer {
            url: paths::COLLECTORS.to_string(),
            error: e.to_string(),
        })?;
        let _: CollectorHealthNoted = self.post(paths::COLLECTORS, body, None)?;
        Ok(())
    }

    /// Of these content hashes, those the server lacks.
    pub fn missing_contents(&self, hashes: Vec<String>) -> Result<Vec<String>, FleetError> {
        let body = serde_json::to_vec(&ContentHashes { hashes }).map_err(|e| FleetError::BadAnswer {
            url: paths::CONTENTS_MISSING.to_string(),
            error: e.to_string(),
        })?;
        let missing: ContentHashes = self.post(paths::CONTENTS_MISSING, body, None)?;
        Ok(missing.hashes)
    }

    /// Sends one captured content, gzip-compressed.
    pub fn put_content(&self, hash: &str, content: &[u8]) -> Result<(), FleetError> {
        let url = format!("{}{}/{hash}", self.base, paths::CONTENTS);
        let body = gzip(&url, content)?;
        let mut request = self
            .agent
            .put(&url)
            .header("Content-Type", "application/octet-stream")
            .header("Content-Encoding", "gzip");
        if let Some(credential) = &self.credential {
            request = request.header("Authorization", format!("Bearer {credential}"));
        }
        accepted(&url, request.send(&body[..])).map(|_| ())
    }

    /// Who the server takes this machine to be.
    pub fn identity(&self) -> Result<Identity, FleetError> {
        self.get(paths::IDENTITY)
    }

    /// How far the server has this machine's records.
    pub fn position(&self) -> Result<Position, FleetError> {
        self.get(paths::SHIP)
    }

    /// What the server holds of this machine's inventory.
    pub fn digest(&self) -> Result<InventoryDigest, FleetError> {
        self.get(paths::DIGEST)
    }

    /// The manifest of this machine's group, asked conditionally: `known`
    /// are the versions the agent has seen (the one it runs, the last it
    /// refused).
    pub fn manifest(&self, known: &[String]) -> Result<ServerManifest, FleetError> {
        let url = format!("{}{}", self.base, paths::MANIFEST);
        let mut request = self.agent.get(&url);
        if let Some(credential) = &self.credential {
            request = request.header("Authorization", format!("Bearer {credential}"));
        }
        if !known.is_empty() {
            let tags: Vec<String> = known.iter().map(|etag| format!("\"{etag}\"")).collect();
            request = request.header("If-None-Match", tags.join(", "));
        }
        let response = request.call();
        if let Ok(response) = &response {
            match response.status().as_u16() {
                304 => return Ok(ServerManifest::Unchanged),
                204 => return Ok(ServerManifest::None),
                _ => {}
            }
        }
        let header = |response: &ureq::http::Response<ureq::Body>, name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.trim().trim_matches('"').to_string())
        };
        let (etag, group) = match &response {
            Ok(r) => (header(r, "etag"), header(r, driftwatch_protocol::MANIFEST_GROUP_HEADER)),
            Err(_) => (None, None),
        };
        let text = accepted(&url, response)?;
        match (etag, group) {
            (Some(etag), Some(group)) if !etag.is_empty() => Ok(ServerManifest::Current { group, etag, text }),
            _ => Err(FleetError::BadAnswer {
                url,
                error: "a manifest without its version or group".into(),
            }),
        }
    }

    fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, FleetError> {
        let url = format!("{}{path}", self.base);
        let mut request = self.agent.get(&url);
        if let Some(credential) = &self.credential {
            request = request.header("Authorization", format!("Bearer {credential}"));
        }
        answer(&url, request.call())
    }

    fn post<T: DeserializeOwned>(&self, path: &str, body: Vec<u8>, encoding: Option<&str>) -> Result<T, FleetError> {
        let url = format!("{}{path}", self.base);
        let mut request = self.agent.post(&url).header("Content-Type", "application/json");
        if let Some(encoding) = encoding {
            request = request.header("Content-Encoding", encoding);
        }
        if let Some(credential) = &self.credential {
            request = request.header("Authorization", format!("Bearer {credential}"));
        }
        answer(&url, request.send(&body[..]))
    }
}

fn gzip(url: &str, bytes: &[u8]) -> Result<Vec<u8>, FleetError> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder
        .write_all(bytes)
        .and_then(|()| encoder.finish())
        .map_err(|e| FleetError::BadAnswer {
            url: url.to_string(),
            error: e.to_string(),
        })
}

/// The JSON of a 2xx answer, or the server's reason for refusing.
fn answer<T: DeserializeOwned>(
    url: &str,
    response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<T, FleetError> {
    let text = accepted(url, response)?;
    serde_json::from_str(&text).map_err(|error| FleetError::BadAnswer {
        url: url.to_string(),
        error: error.to_string(),
    })
}

/// The body of a 2xx answer, or the server's reason for refusing.
fn accepted(url: &str, response: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Result<String, FleetError> {
    let mut response = response.map_err(|error| FleetError::Unreachable {
        url: url.to_string(),
        error: error.to_string(),
    })?;
    let status = response.status();
    let mut text = String::new();
    response
        .body_mut()
        .as_reader()
        .take(MAX_ANSWER)
        .read_to_string(&mut text)
        .map_err(|error| FleetError::Unreachable {
            url: url.to_string(),
            error: error.to_string(),
        })?;
    if !status.is_success() {
        let (message, position) = match serde_json::from_str::<Problem>(&text) {
            Ok(problem) => (problem.error, problem.position),
            Err(_) => (text.trim().chars().take(300).collect(), None),
        };
        return Err(FleetError::Refused {
            url: url.to_string(),
            status: status.as_u16(),
            message,
            position,
        });
    }
    Ok(text)
}
