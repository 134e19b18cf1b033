//! CA certificates from a PEM file, for the outputs that speak TLS.

use std::path::Path;

/// The certificates (DER) in the PEM file at `path`; an error when it
/// cannot be read or holds none.
pub fn certificates(path: &Path) -> Result<Vec<Vec<u8>>, String> {
    let text = std::fs::read(path).map_err(|e| format!("cannot read the CA file {}: {e}", path.display()))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&text) {
        match item {
            Ok(ureq::tls::PemItem::Certificate(cert)) => certs.push(cert.der().to_vec()),
            Ok(_) => {}
            Err(error) => return Err(format!("the CA file {}: {error}", path.display())),
        }
    }
    if certs.is_empty() {
        return Err(format!("the CA file {} holds no certificate", path.display()));
    }
    Ok(certs)
}
