//! The `azure-monitor` output: records into a Log Analytics workspace
//! through the Logs Ingestion API, as Azure's own agents write them.
//!
//! - A token for the scope `https://monitor.azure.com//.default` from the app's client
//!   secret (`{authority}/{tenant}/oauth2/v2.0/token`), kept until shortly
//!   before it expires.
//! - `POST {endpoint}/dataCollectionRules/{dcr}/streams/{stream}?api-version=2023-01-01`:
//!   a JSON array of records (their columns; Azure reserves `Type`), gzipped, at most `max_bytes` (1 MB) of JSON a
//!   call; changes to one stream, inventory rows to another (the DCR sends
//!   them to their tables, see `packaging/azure-monitor/`).
//! - 204 moves the position past the call's records. 429 and 503 are
//!   retried after their `Retry-After` (seconds or a date; at most 5 min);
//!   413 halves the call and tries again;
//!   401 and 403 fetch a new token once. Anything else stops the send, to be
//!   tried again later from the last records accepted.

use std::io::Write;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use serde_json::Value as Json;

use super::{Deliver, Sent, SinkError};
use crate::manifest::outputs::{AzureMonitorSettings, Secret};
use crate::store::{OutputMark, OutputRecord, RecordTable};

const API_VERSION: &str = "2023-01-01";
const SCOPE: &str = "https://monitor.azure.com//.default";
/// Throttled calls retried within one send before leaving it for later.
const MAX_RETRIES: u32 = 8;
/// A token is renewed this long before it expires.
const TOKEN_MARGIN: Duration = Duration::from_secs(300);

pub struct AzureMonitor {
    settings: AzureMonitorSettings,
    agent: Option<ureq::Agent>,
    token: Option<(String, Instant)>,
}

/// What became of one call.
enum Answer {
    Accepted,
    TooLarge,
    RetryAfter(Duration),
    Unauthorized(String),
}

impl AzureMonitor {
    pub fn new(settings: AzureMonitorSettings) -> AzureMonitor {
        AzureMonitor {
            settings,
            agent: None,
            token: None,
        }
    }

    fn agent(&mut self) -> Result<ureq::Agent, SinkError> {
        if let Some(agent) = &self.agent {
            return Ok(agent.clone());
        }
        let roots = self.settings.ca.as_deref().map(crate::tls::ca_file).transpose();
        let roots = roots.map_err(SinkError::Refused)?;
        let agent = crate::tls::http_client(self.settings.timeout, roots.as_deref());
        Ok(self.agent.insert(agent).clone())
    }

    fn secret(&self) -> Result<String, SinkError> {
        match &self.settings.client_secret {
            Secret::Inline(secret) => Ok(secret.clone()),
            Secret::File(path) => std::fs::read_to_string(path)
                .map(|s| s.trim().to_string())
                .map_err(|e| SinkError::Refused(format!("cannot read the client secret {}: {e}", path.display()))),
        }
    }

    fn token(&mut self) -> Result<String, SinkError> {
        if let Some((token, until)) = &self.token
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let url = format!(
            "{}/{}/oauth2/v2.0/token",
            self.settings.authority, self.settings.tenant_id
        );
        let secret = self.secret()?;
        let response = self
            .agent()?
            .post(&url)
            .send_form([
                ("client_id", self.settings.client_id.as_str()),
                ("client_secret", secret.as_str()),
                ("scope", SCOPE),
                ("grant_type", "client_credentials"),
            ])
            .map_err(|e| SinkError::io(format!("token from {url}"), e))?;
        let status = response.status().as_u16();
        let body = read_body(response);
        if status != 200 {
            return Err(SinkError::Refused(format!(
                "token from {url}: {status} {}",
                brief(&body)
            )));
        }
        let answer: Json =
            serde_json::from_str(&body).map_err(|e| SinkError::Refused(format!("token from {url}: not JSON ({e})")))?;
        let token = answer["access_token"]
            .as_str()
            .ok_or_else(|| SinkError::Refused(format!("token from {url}: no access_token")))?
            .to_string();
        // `expires_in` is a number of seconds (some endpoints send it as text).
        let lifetime = answer["expires_in"]
            .as_u64()
            .or_else(|| answer["expires_in"].as_str().and_then(|s| s.parse().ok()))
            .unwrap_or(3600);
        // Clamped: the answer comes from outside.
        let lifetime = Duration::from_secs(lifetime.min(24 * 3600));
        let until = Instant::now() + lifetime.saturating_sub(TOKEN_MARGIN);
        self.token = Some((token.clone(), until));
        Ok(token)
    }

    /// One call with `body` (a JSON array) to `stream`.
    fn post(&mut self, stream: &str, body: &[u8]) -> Result<Answer, SinkError> {
        let url = format!(
            "{}/dataCollectionRules/{}/streams/{stream}?api-version={API_VERSION}",
            self.settings.endpoint, self.settings.dcr_immutable_id
        );
        let token = self.token()?;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        let gzipped = encoder
            .write_all(body)
            .and_then(|()| encoder.finish())
            .map_err(|e| SinkError::io("gzip", e))?;
        let response = self
            .agent()?
            .post(&url)
            .header("Authorization", format!("Bearer {token}"))
            .header("Content-Type", "application/json")
            .header("Content-Encoding", "gzip")
            .send(&gzipped[..])
            .map_err(|e| SinkError::io(format!("POST {url}"), e))?;
        let status = response.status().as_u16();
        let retry_after = retry_after(
            response.headers().get("retry-after").and_then(|v| v.to_str().ok()),
            jiff::Timestamp::now(),
        );
        let body = read_body(response);
        match status {
            200..=299 => Ok(Answer::Accepted),
            413 => Ok(Answer::TooLarge),
            429 | 503 => Ok(Answer::RetryAfter(retry_after)),
            401 | 403 => Ok(Answer::Unauthorized(format!("POST {url}: {status} {}", brief(&body)))),
            _ => Err(SinkError::Refused(format!("POST {url}: {status} {}", brief(&body)))),
        }
    }

    fn stream(&self, table: RecordTable) -> String {
        match table {
            RecordTable::ConfigurationChange => self.settings.change_stream.clone(),
            RecordTable::ConfigurationData => self.settings.data_stream.clone(),
        }
    }
}

impl Deliver for AzureMonitor {
    fn send(&mut self, _mark: &OutputMark, records: &[OutputRecord], stop: &AtomicBool) -> Sent {
        let lines: Vec<Vec<u8>> = records
            .iter()
            .map(|r| Json::Object(r.columns.clone()).to_string().into_bytes())
            .collect();
        let mut reached = None;
        let mut start = 0;
        // Records per call: lowered by a 413 for the rest of this send.
        let mut most = usize::MAX;
        let (mut retries, mut reauthorized) = (0, false);
        let outcome = |reached: Option<driftwatch_protocol::Position>, error| Sent {
            reached: reached.map(|position| OutputMark { position, offset: 0 }),
            error,
        };
        while start < records.len() {
            if stop.load(std::sync::atomic::Ordering::Relaxed) {
                return outcome(reached, None);
            }
            let table = records[start].table;
            // The records of one table that fit in one call.
            let mut end = start;
            let mut size = 2;
            while end < records.len() && records[end].table == table && end - start < most {
                let grown = size + lines[end].len() + 1;
                if grown as u64 > self.settings.max_bytes && end > start {
                    break;
                }
                size = grown;
                end += 1;
            }
            let mut body = Vec::with_capacity(size);
            body.push(b'[');
            for (i, line) in lines[start..end].iter().enumerate() {
                if i > 0 {
                    body.push(b',');
                }
                body.extend_from_slice(line);
            }
            body.push(b']');
            if body.len() as u64 > self.settings.max_bytes {
                let error = SinkError::Refused(format!(
                    "one record is {} bytes of JSON, more than the {} a call may carry",
                    body.len(),
                    self.settings.max_bytes
                ));
                return outcome(reached, Some(error));
            }
            let stream = self.stream(table);
            match self.post(&stream, &body) {
                Ok(Answer::Accepted) => {
                    reached = Some(records[end - 1].after);
                    start = end;
                    retries = 0;
                }
                Ok(Answer::TooLarge) if end - start > 1 => {
                    most = (end - start) / 2;
                    tracing::debug!("azure-monitor: call too large, trying {most} records");
                }
                Ok(Answer::TooLarge) => {
                    let error = SinkError::Refused("the endpoint refuses even one record as too large (413)".into());
                    return outcome(reached, Some(error));
                }
                Ok(Answer::RetryAfter(after)) => {
                    retries += 1;
                    if retries > MAX_RETRIES {
                        let error = SinkError::Io(format!("still throttled after {MAX_RETRIES} retries"));
                        return outcome(reached, Some(error));
                    }
                    tracing::debug!("azure-monitor: throttled, retrying in {after:?}");
                    if !crate::stopping::sleep_unless_stopped(after.min(Duration::from_secs(300)), stop) {
                        return outcome(reached, None);
                    }
                }
                Ok(Answer::Unauthorized(reason)) if !reauthorized => {
                    tracing::debug!("azure-monitor: {reason}; fetching a new token");
                    self.token = None;
                    reauthorized = true;
                }
                Ok(Answer::Unauthorized(reason)) => return outcome(reached, Some(SinkError::Refused(reason))),
                Err(error) => return outcome(reached, Some(error)),
            }
        }
        outcome(reached, None)
    }
}

/// How long a 429 or 503 asks to wait: its `Retry-After`, in seconds or
/// as an HTTP date (RFC 9110), else 5 s; at most 5 minutes, so that a
/// far-off date does not park the output.
fn retry_after(value: Option<&str>, now: jiff::Timestamp) -> Duration {
    const UNSAID: Duration = Duration::from_secs(5);
    const MOST: Duration = Duration::from_secs(5 * 60);
    let Some(value) = value.map(str::trim) else {
        return UNSAID;
    };
    let wait = if let Ok(seconds) = value.parse::<u64>() {
        Duration::from_secs(seconds)
    } else if let Ok(at) = jiff::fmt::rfc2822::DateTimeParser::new().parse_timestamp(value) {
        // A date already past: at once.
        Duration::try_from(at.duration_since(now)).unwrap_or(Duration::ZERO)
    } else {
        UNSAID
    };
    wait.min(MOST)
}

fn read_body(mut response: ureq::http::Response<ureq::Body>) -> String {
    response
        .body_mut()
        .with_config()
        .limit(64 * 1024)
        .read_to_string()
        .unwrap_or_default()
}

/// The start of an answer's body, for an error message.
fn brief(body: &str) -> String {
    let body = body.trim();
    if body.len() <= 300 {
        return body.to_string();
    }
    let mut end = 300;
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &body[..end])
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use driftwatch_protocol::columns::{self, Kind};
    use serde_json::Value as Json;

    use super::retry_after;

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let now: jiff::Timestamp = "2026-12-04T10:00:00Z".parse().unwrap();
        let cases = [
            (None, 5),
            (Some("120"), 120),
            (Some(" 7 "), 7),
            (Some("0"), 0),
            (Some("Fri, 04 Dec 2026 10:00:30 GMT"), 30),
            (Some("Fri, 04 Dec 2026 09:59:00 GMT"), 0),
            (Some("Sat, 05 Dec 2026 10:00:00 GMT"), 300),
            (Some("100000"), 300),
            (Some("-3"), 5),
            (Some("soon"), 5),
        ];
        for (value, seconds) in cases {
            assert_eq!(retry_after(value, now), Duration::from_secs(seconds), "{value:?}");
        }
    }

    /// The sample rule's streams and tables declare exactly the columns sent.
    #[test]
    fn the_sample_rule_and_tables_declare_the_columns_sent() {
        let dcr: Json = serde_json::from_str(include_str!("../../../packaging/azure-monitor/dcr.json")).unwrap();
        let tables = [
            (
                "Custom-ConfigurationChange",
                columns::CONFIGURATION_CHANGE,
                include_str!("../../../packaging/azure-monitor/ConfigurationChange_CL.json"),
            ),
            (
                "Custom-ConfigurationData",
                columns::CONFIGURATION_DATA,
                include_str!("../../../packaging/azure-monitor/ConfigurationData_CL.json"),
            ),
        ];
        for (stream, sent, table) in tables {
            let expected: Vec<(String, String)> = sent
                .iter()
                .map(|(name, kind)| {
                    let kind = match kind {
                        Kind::Text => "string",
                        Kind::Integer => "long",
                        Kind::Time => "datetime",
                    };
                    (name.to_string(), kind.to_string())
                })
                .collect();
            let declared = |columns: &Json| -> Vec<(String, String)> {
                columns
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| {
                        (
                            c["name"].as_str().unwrap().to_string(),
                            c["type"].as_str().unwrap().to_string(),
                        )
                    })
                    .collect()
            };
            let streamed = &dcr["properties"]["streamDeclarations"][stream]["columns"];
            assert_eq!(declared(streamed), expected, "{stream}");
            let table: Json = serde_json::from_str(table).unwrap();
            assert_eq!(
                declared(&table["properties"]["schema"]["columns"]),
                expected,
                "{stream}'s table"
            );
        }
    }
}
