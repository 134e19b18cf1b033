//! The `webhook` action: an HTTP POST of the alert document.

use std::io::Read;

use super::deliver::AttemptError;
use crate::manifest::alerts::Webhook;

/// How much of a refusing server's answer is kept in the error.
const ERROR_BODY: u64 = 512;

/// Posts `document`; 2xx is delivered. Connection failures, timeouts, 429
/// and 5xx answers may pass, so they are retried; other answers are not.
pub fn post(hook: &Webhook, document: &str) -> Result<(), AttemptError> {
    let agent = crate::tls::http_client(hook.timeout, None);
    let mut request = agent.post(&hook.url).header("Content-Type", "application/json");
    for (name, value) in &hook.headers {
        request = request.header(name, value);
    }
    let mut response = request.send(document).map_err(|error| AttemptError {
        message: format!("POST {}: {error}", hook.url),
        retry: true,
    })?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let mut answer = String::new();
    let _ = response
        .body_mut()
        .as_reader()
        .take(ERROR_BODY)
        .read_to_string(&mut answer);
    let answer = answer.trim();
    Err(AttemptError {
        message: format!(
            "POST {}: the server answered {status}{}{answer}",
            hook.url,
            if answer.is_empty() { "" } else { ": " }
        ),
        retry: status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408,
    })
}
