//! What the agent's outgoing connections share: the CA certificates it is
//! told to trust (PEM), and the HTTP client its webhooks, fleet calls and
//! Azure Monitor output use.

use std::time::Duration;

use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};

/// The certificates in PEM text; an error when it is not PEM or holds none.
pub fn ca_certificates(pem: &[u8]) -> Result<Vec<Certificate<'static>>, String> {
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(pem) {
        if let PemItem::Certificate(cert) = item.map_err(|e| e.to_string())? {
            certs.push(cert);
        }
    }
    if certs.is_empty() {
        return Err("no certificate in it".into());
    }
    Ok(certs)
}

/// The certificates of the PEM file at `path`, errors naming it.
pub fn ca_file(path: &std::path::Path) -> Result<Vec<Certificate<'static>>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read the CA file {}: {e}", path.display()))?;
    ca_certificates(&pem).map_err(|e| format!("the CA file {}: {e}", path.display()))
}

/// An HTTP client: `timeout` per call, answers of any status returned (not
/// errors), trusting `roots` when given and the public roots otherwise.
pub fn http_client(timeout: Duration, roots: Option<&[Certificate<'static>]>) -> ureq::Agent {
    let mut tls = TlsConfig::builder();
    if let Some(roots) = roots {
        tls = tls.root_certs(RootCerts::new_with_certs(roots));
    }
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .user_agent(concat!("driftwatch/", env!("CARGO_PKG_VERSION")))
        .tls_config(tls.build())
        .build()
        .into()
}
