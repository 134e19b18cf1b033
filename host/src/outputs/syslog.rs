//! The `syslog` output: each record an RFC 5424 message, its columns as
//! structured data (`[driftwatch@32473 Type="ConfigurationChange" …]`), to
//! a collector such as rsyslog or syslog-ng.
//!
//! Over TCP and TLS, messages are framed by octet counting (RFC 6587) on a
//! connection per batch, which the agent then half-closes and reads until
//! the collector closes its side: that close says the collector has read
//! every message, and only then is the batch recorded as sent. A batch
//! whose connection fails is sent again whole. (A collector that keeps the
//! connection open past the timeout is taken to have the batch.) UDP sends each message as
//! one datagram and cannot know it arrived.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use serde_json::Value as Json;

use super::{Deliver, Sent, SinkError, record};
use crate::manifest::outputs::{SyslogSettings, Transport};
use crate::store::{OutputMark, OutputRecord, RecordTable};

/// The structured data's ID. 32473 is the enterprise number IANA keeps for
/// examples (RFC 5612): a private SD-ID needs one, and this project has
/// none of its own.
pub const SD_ID: &str = "driftwatch@32473";

/// RFC 5424 severities.
const NOTICE: u8 = 5;
const INFORMATIONAL: u8 = 6;

pub struct Syslog {
    settings: SyslogSettings,
    tls: Option<Arc<rustls::ClientConfig>>,
    pid: u32,
}

impl Syslog {
    pub fn new(settings: SyslogSettings) -> Syslog {
        Syslog {
            settings,
            tls: None,
            pid: std::process::id(),
        }
    }

    fn messages(&self, records: &[OutputRecord]) -> Vec<Vec<u8>> {
        records
            .iter()
            .map(|r| message(r, self.settings.facility, &self.settings.app_name, self.pid))
            .collect()
    }

    /// The collector's addresses (at least one).
    fn resolve(&self) -> Result<Vec<SocketAddr>, SinkError> {
        let address = &self.settings.address;
        let addresses: Vec<SocketAddr> = address
            .to_socket_addrs()
            .map_err(|e| SinkError::io(format!("cannot resolve {address}"), e))?
            .collect();
        if addresses.is_empty() {
            return Err(SinkError::Io(format!("{address} resolves to no address")));
        }
        Ok(addresses)
    }

    /// A connection to the first address that answers.
    fn connect(&self) -> Result<TcpStream, SinkError> {
        let mut last = None;
        for socket in self.resolve()? {
            match TcpStream::connect_timeout(&socket, self.settings.timeout) {
                Ok(stream) => {
                    let timeout = Some(self.settings.timeout);
                    let _ = stream
                        .set_read_timeout(timeout)
                        .and_then(|()| stream.set_write_timeout(timeout));
                    return Ok(stream);
                }
                Err(error) => last = Some(error),
            }
        }
        let error = last.map_or_else(|| "no address".to_string(), |e| e.to_string());
        Err(SinkError::Io(format!(
            "cannot connect to {}: {error}",
            self.settings.address
        )))
    }

    fn send_udp(&self, messages: &[Vec<u8>]) -> Result<(), SinkError> {
        let address = &self.settings.address;
        let target = self.resolve()?[0];
        let local = if target.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
        let socket = UdpSocket::bind(local).map_err(|e| SinkError::io("cannot open a UDP socket", e))?;
        // Whole messages: a record's structured data runs past the 480 or 2048
        // octets every receiver takes (RFC 5426), and a cut one is not valid
        // RFC 5424; IP fragments what is longer, and the collector's own
        // size limit (rsyslog's: 8 KiB) applies.
        for message in messages {
            socket
                .send_to(message, target)
                .map_err(|e| SinkError::io(format!("cannot send to {address}"), e))?;
        }
        Ok(())
    }

    fn send_tcp(&self, messages: &[Vec<u8>]) -> Result<(), SinkError> {
        let mut stream = self.connect()?;
        let address = &self.settings.address;
        let broken = |e| SinkError::io(format!("connection to {address}"), e);
        stream.write_all(&framed(messages)).map_err(broken)?;
        stream.shutdown(Shutdown::Write).map_err(broken)?;
        until_closed(&mut stream, self.settings.timeout).map_err(broken)
    }

    fn send_tls(&mut self, messages: &[Vec<u8>]) -> Result<(), SinkError> {
        let config = match &self.tls {
            Some(config) => config.clone(),
            None => self.tls.insert(tls_config(self.settings.ca.as_deref())?).clone(),
        };
        let address = &self.settings.address;
        let host = address.rsplit_once(':').map_or(address.as_str(), |(host, _)| host);
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let name = rustls::pki_types::ServerName::try_from(host.to_string())
            .map_err(|e| SinkError::Refused(format!("{host} cannot be checked against a certificate: {e}")))?;
        let connection = rustls::ClientConnection::new(config, name)
            .map_err(|e| SinkError::Refused(format!("TLS to {address}: {e}")))?;
        let mut tls = rustls::StreamOwned::new(connection, self.connect()?);
        let broken = |e| SinkError::io(format!("TLS connection to {address}"), e);
        tls.write_all(&framed(messages)).map_err(broken)?;
        tls.conn.send_close_notify();
        tls.flush().map_err(broken)?;
        tls.sock.shutdown(Shutdown::Write).map_err(broken)?;
        until_closed(&mut tls, self.settings.timeout).map_err(broken)
    }
}

impl Deliver for Syslog {
    fn send(&mut self, _mark: &OutputMark, records: &[OutputRecord], _stop: &AtomicBool) -> Sent {
        let messages = self.messages(records);
        let sent = match self.settings.transport {
            Transport::Udp => self.send_udp(&messages),
            Transport::Tcp => self.send_tcp(&messages),
            Transport::Tls => self.send_tls(&messages),
        };
        match (sent, records.last()) {
            (Ok(()), Some(last)) => Sent::all(OutputMark {
                position: last.after,
                offset: 0,
            }),
            (Ok(()), None) => Sent {
                reached: None,
                error: None,
            },
            (Err(error), _) => Sent::failed(error),
        }
    }
}

/// Reads until the peer closes: it has read all we sent. A collector that
/// sends nothing back is the norm; whatever it sends is dropped. Over TLS,
/// a close without close_notify counts too (many collectors do not send
/// one, and nothing is read from them); a reset does not. A collector that
/// keeps the connection open past the timeout is taken to have received
/// the batch (every byte was written and none refused): sending it again
/// would repeat every batch to such a collector.
fn until_closed(stream: &mut impl Read, timeout: Duration) -> std::io::Result<()> {
    let deadline = Instant::now() + timeout;
    let mut buffer = [0u8; 512];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return Ok(()),
            Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                tracing::debug!("the syslog collector kept the connection open: the batch counts as sent");
                return Ok(());
            }
            Err(error) => return Err(error),
        }
        if Instant::now() > deadline {
            return Ok(());
        }
    }
}

/// RFC 6587 octet counting: `LENGTH SP MESSAGE` for each.
fn framed(messages: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(messages.iter().map(|m| m.len() + 8).sum());
    for message in messages {
        out.extend_from_slice(format!("{} ", message.len()).as_bytes());
        out.extend_from_slice(message);
    }
    out
}

fn tls_config(ca: Option<&std::path::Path>) -> Result<Arc<rustls::ClientConfig>, SinkError> {
    let mut roots = rustls::RootCertStore::empty();
    match ca {
        Some(path) => {
            for cert in crate::tls::ca_file(path).map_err(SinkError::Refused)? {
                roots
                    .add(rustls::pki_types::CertificateDer::from(cert.der().to_vec()))
                    .map_err(|e| SinkError::Refused(format!("{}: {e}", path.display())))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| SinkError::Refused(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// One RFC 5424 message: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID
/// [SD] BOM MSG`.
pub fn message(record: &OutputRecord, facility: u8, app_name: &str, pid: u32) -> Vec<u8> {
    let severity = match record.table {
        RecordTable::ConfigurationChange => NOTICE,
        RecordTable::ConfigurationData => INFORMATIONAL,
    };
    let text = |name: &str| record.columns.get(name).and_then(Json::as_str);
    let time = text("TimeGenerated").filter(|t| t.ends_with('Z')).unwrap_or("-");
    let host = text("Computer")
        .map(header_field)
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "-".into());
    let host: String = host.chars().take(255).collect();
    let mut line = format!(
        "<{}>1 {time} {host} {app_name} {pid} {} [{SD_ID} Type=\"{}\"",
        u16::from(facility) * 8 + u16::from(severity),
        record.table.as_str(),
        record.table.as_str()
    );
    for (name, value) in &record.columns {
        let value = match value {
            Json::String(s) => s.clone(),
            Json::Null => continue,
            other => other.to_string(),
        };
        line.push(' ');
        line.push_str(name);
        line.push_str("=\"");
        for c in value.chars() {
            if matches!(c, '"' | '\\' | ']') {
                line.push('\\');
            }
            line.push(c);
        }
        line.push('"');
    }
    line.push_str("] ");
    let mut bytes = line.into_bytes();
    bytes.extend_from_slice("\u{feff}".as_bytes());
    bytes.extend_from_slice(record::summary(record).as_bytes());
    bytes
}

/// A header field: printable ASCII without spaces.
fn header_field(text: &str) -> String {
    text.chars().filter(|c| c.is_ascii_graphic()).collect()
}

#[cfg(test)]
mod tests {
    use driftwatch_protocol::Position;

    use super::*;

    #[test]
    fn a_change_as_rfc5424_with_its_columns_as_structured_data() {
        let record = OutputRecord {
            table: RecordTable::ConfigurationChange,
            columns: [
                ("ChangeId", Json::from(7)),
                ("Computer", Json::from("web 01")),
                ("TimeGenerated", Json::from("2026-12-03T10:00:00.000001Z")),
                ("ConfigChangeType", Json::from("Files")),
                ("ChangeCategory", Json::from("Modified")),
                ("FileSystemPath", Json::from(r#"/etc/a "b" [c]\d"#)),
                ("Size", Json::Null),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
            after: Position::default(),
        };
        let text = String::from_utf8(message(&record, 16, "driftwatch", 42)).unwrap();
        assert_eq!(
            text,
            "<133>1 2026-12-03T10:00:00.000001Z web01 driftwatch 42 ConfigurationChange \
             [driftwatch@32473 Type=\"ConfigurationChange\" ChangeId=\"7\" Computer=\"web 01\" \
             TimeGenerated=\"2026-12-03T10:00:00.000001Z\" ConfigChangeType=\"Files\" ChangeCategory=\"Modified\" \
             FileSystemPath=\"/etc/a \\\"b\\\" [c\\]\\\\d\"] \u{feff}Modified Files /etc/a \"b\" [c]\\d"
        );
        assert_eq!(framed(&[b"abc".to_vec(), b"de".to_vec()]), b"3 abc2 de");
    }

    fn records(n: i64) -> Vec<OutputRecord> {
        (1..=n)
            .map(|id| OutputRecord {
                table: RecordTable::ConfigurationChange,
                columns: [("ChangeId".to_string(), Json::from(id))].into_iter().collect(),
                after: Position {
                    change_id: id,
                    revision: 0,
                },
            })
            .collect()
    }

    fn settings(address: String, transport: Transport, ca: Option<std::path::PathBuf>) -> SyslogSettings {
        SyslogSettings {
            address,
            transport,
            ca,
            facility: 1,
            app_name: "driftwatch".into(),
            timeout: Duration::from_secs(10),
        }
    }

    /// The octet-counted frames in `bytes`.
    fn frames(mut bytes: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(space) = bytes.iter().position(|b| *b == b' ') {
            let length: usize = std::str::from_utf8(&bytes[..space]).unwrap().parse().unwrap();
            out.push(String::from_utf8(bytes[space + 1..space + 1 + length].to_vec()).unwrap());
            bytes = &bytes[space + 1 + length..];
        }
        out
    }

    #[test]
    fn tls_is_recorded_as_sent_once_the_collector_closed_and_refused_by_an_unknown_ca() {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca.pem()).unwrap();
        let server = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
            )
            .unwrap();
        let server = Arc::new(server);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = std::thread::spawn(move || {
            let mut got = Vec::new();
            for _ in 0..2 {
                let (stream, _) = listener.accept().unwrap();
                let mut tls = rustls::StreamOwned::new(rustls::ServerConnection::new(server.clone()).unwrap(), stream);
                let mut bytes = Vec::new();
                // The second client does not trust this server and sends nothing.
                let _ = tls.read_to_end(&mut bytes);
                got.push(bytes);
            }
            got
        });
        let stop = AtomicBool::new(false);
        let mut trusted = Syslog::new(settings(format!("localhost:{port}"), Transport::Tls, Some(ca_file)));
        let sent = trusted.send(&OutputMark::default(), &records(3), &stop);
        assert!(sent.error.is_none(), "{:?}", sent.error.map(|e| e.to_string()));
        assert_eq!(sent.reached.unwrap().position.change_id, 3);
        let mut untrusting = Syslog::new(settings(format!("localhost:{port}"), Transport::Tls, None));
        let refused = untrusting.send(&OutputMark::default(), &records(1), &stop);
        assert!(refused.reached.is_none());
        let error = refused.error.unwrap().to_string();
        assert!(error.contains("certificate"), "{error}");
        let got = received.join().unwrap();
        let frames = frames(&got[0]);
        assert_eq!(frames.len(), 3);
        assert!(frames[2].contains("ChangeId=\"3\""), "{}", frames[2]);
        assert!(got[1].is_empty());
    }

    #[test]
    fn udp_sends_a_datagram_per_record() {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let address = socket.local_addr().unwrap().to_string();
        let mut output = Syslog::new(settings(address, Transport::Udp, None));
        let sent = output.send(&OutputMark::default(), &records(2), &AtomicBool::new(false));
        assert_eq!(sent.reached.unwrap().position.change_id, 2);
        let mut buffer = [0u8; 4096];
        for id in 1..=2 {
            let n = socket.recv(&mut buffer).unwrap();
            let text = String::from_utf8_lossy(&buffer[..n]).into_owned();
            assert!(text.starts_with("<13>1 - - driftwatch "), "{text}");
            assert!(text.contains(&format!("ChangeId=\"{id}\"")), "{text}");
        }
    }
}
