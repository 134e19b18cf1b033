//! `[[output]]` sections: where the agent sends its change and inventory
//! records besides its own store, each at its own position in them.
//!
//! ```toml
//! [[output]]
//! name = "siem-file"                # default: the type; names the output's position
//! type = "jsonl"                    # one JSON object per line
//! path = "/var/log/driftwatch/records.jsonl"
//! max_size = "100MiB"               # rotated to .1, .2, ... past this size
//! keep = 5                          # rotated files kept
//! records = ["changes", "inventory"]  # the default: both
//!
//! [[output]]
//! type = "syslog"                   # RFC 5424, with the record as structured data
//! address = "logs.example.com:6514"
//! transport = "tls"                 # udp | tcp (default) | tls
//! ca = "/etc/driftwatch/logs-ca.pem"  # tls: trust this CA (default: the public roots)
//! facility = "local0"               # default: user
//!
//! [[output]]
//! type = "azure-monitor"            # the Logs Ingestion API
//! endpoint = "https://my-dce.westeurope-1.ingest.monitor.azure.com"
//! dcr_immutable_id = "dcr-0123456789abcdef0123456789abcdef"
//! tenant_id = "00000000-0000-0000-0000-000000000000"
//! client_id = "00000000-0000-0000-0000-000000000000"
//! client_secret_file = "/etc/driftwatch/azure-secret"   # or client_secret = "..."
//! ```

use std::collections::HashSet;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::units::{ByteSize, DurationSetting};

#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    pub name: String,
    pub records: Records,
    pub sink: Sink,
}

/// Which records an output is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Records {
    pub changes: bool,
    pub inventory: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Sink {
    Jsonl(JsonlSettings),
    Syslog(SyslogSettings),
    AzureMonitor(AzureMonitorSettings),
}

#[derive(Debug, Clone, PartialEq)]
pub struct JsonlSettings {
    pub path: PathBuf,
    /// The file is rotated before a write would take it past this size.
    pub max_size: u64,
    /// Rotated files kept (`path.1` is the newest).
    pub keep: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SyslogSettings {
    /// `host:port`.
    pub address: String,
    pub transport: Transport,
    /// TLS: the CA certificates (PEM) to trust instead of the public roots.
    pub ca: Option<PathBuf>,
    /// RFC 5424 facility number (0–23).
    pub facility: u8,
    pub app_name: String,
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AzureMonitorSettings {
    /// The data collection endpoint (or the DCR's own ingestion endpoint).
    pub endpoint: String,
    pub dcr_immutable_id: String,
    pub change_stream: String,
    pub data_stream: String,
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: Secret,
    /// Where tokens come from: `{authority}/{tenant}/oauth2/v2.0/token`.
    pub authority: String,
    pub ca: Option<PathBuf>,
    /// Most bytes of JSON in one call (the API takes at most 1 MB).
    pub max_bytes: u64,
    pub timeout: Duration,
}

/// A client secret: given in the manifest, or read from a file when used
/// (so that it can be kept out of the manifest and rotated).
#[derive(Clone, PartialEq)]
pub enum Secret {
    Inline(String),
    File(PathBuf),
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Secret::Inline(_) => f.write_str("Secret::Inline(..)"),
            Secret::File(path) => write!(f, "Secret::File({})", path.display()),
        }
    }
}

impl Sink {
    pub fn type_name(&self) -> &'static str {
        match self {
            Sink::Jsonl(_) => "jsonl",
            Sink::Syslog(_) => "syslog",
            Sink::AzureMonitor(_) => "azure-monitor",
        }
    }

    /// Where it sends, for messages: a file, an address, an endpoint.
    pub fn describe(&self) -> String {
        match self {
            Sink::Jsonl(s) => format!("jsonl {}", s.path.display()),
            Sink::Syslog(s) => format!("syslog {} ({})", s.address, s.transport.as_str()),
            Sink::AzureMonitor(s) => format!("azure-monitor {}", s.endpoint),
        }
    }
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
        }
    }
}

/// The largest call the Logs Ingestion API accepts.
pub const AZURE_MAX_BYTES: u64 = 1_000_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputEntry {
    name: Option<Spanned<String>>,
    #[serde(rename = "type")]
    kind: Spanned<String>,
    records: Option<Spanned<Vec<String>>>,
    timeout: Option<DurationSetting>,
    ca: Option<String>,
    // jsonl
    path: Option<Spanned<String>>,
    max_size: Option<Spanned<ByteSize>>,
    keep: Option<u32>,
    // syslog
    address: Option<Spanned<String>>,
    transport: Option<Spanned<String>>,
    facility: Option<Spanned<String>>,
    app_name: Option<Spanned<String>>,
    // azure-monitor
    endpoint: Option<Spanned<String>>,
    dcr_immutable_id: Option<String>,
    change_stream: Option<String>,
    data_stream: Option<String>,
    tenant_id: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    client_secret_file: Option<String>,
    authority: Option<Spanned<String>>,
    max_bytes: Option<Spanned<ByteSize>>,
}

type Located = (Range<usize>, String);

/// The `[[output]]` entries, checked; relative paths are taken from `base_dir`.
pub fn outputs(entries: Vec<OutputEntry>, base_dir: &Path) -> Result<Vec<Output>, Located> {
    let mut names = HashSet::new();
    let mut files = HashSet::new();
    let mut outputs = Vec::new();
    for entry in entries {
        let span = entry.name.as_ref().map_or(entry.kind.span(), Spanned::span);
        let name = entry
            .name
            .as_ref()
            .map_or_else(|| entry.kind.get_ref().clone(), |n| n.get_ref().clone());
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
            return Err((
                span,
                format!("output name {name:?} may only hold letters, digits, `-`, `_` and `.`"),
            ));
        }
        if !names.insert(name.clone()) {
            return Err((
                span,
                format!("two outputs are named `{name}` (give each its own `name`: it keeps the output's position)"),
            ));
        }
        let records = records(entry.records.as_ref())?;
        let sink = sink(entry, base_dir)?;
        if let Sink::Jsonl(jsonl) = &sink
            && !files.insert(jsonl.path.clone())
        {
            return Err((span, format!("two outputs write {}", jsonl.path.display())));
        }
        outputs.push(Output { name, records, sink });
    }
    Ok(outputs)
}

fn records(list: Option<&Spanned<Vec<String>>>) -> Result<Records, Located> {
    let Some(list) = list else {
        return Ok(Records {
            changes: true,
            inventory: true,
        });
    };
    let mut records = Records {
        changes: false,
        inventory: false,
    };
    for item in list.get_ref() {
        match item.as_str() {
            "changes" => records.changes = true,
            "inventory" => records.inventory = true,
            other => {
                return Err((
                    list.span(),
                    format!("unknown records {other:?}: use \"changes\" and/or \"inventory\""),
                ));
            }
        }
    }
    if !records.changes && !records.inventory {
        return Err((
            list.span(),
            "`records` is empty: name \"changes\", \"inventory\" or both".into(),
        ));
    }
    Ok(records)
}

fn sink(entry: OutputEntry, base_dir: &Path) -> Result<Sink, Located> {
    let span = entry.kind.span();
    let kind = entry.kind.get_ref().clone();
    let resolve = |path: &str| base_dir.join(path);
    // Fields of the other types are refused, so that a typo in `type` or a
    // misplaced setting does not pass unnoticed.
    let present: [(&str, bool); 18] = [
        ("timeout", entry.timeout.is_some()),
        ("ca", entry.ca.is_some()),
        ("path", entry.path.is_some()),
        ("max_size", entry.max_size.is_some()),
        ("keep", entry.keep.is_some()),
        ("address", entry.address.is_some()),
        ("transport", entry.transport.is_some()),
        ("facility", entry.facility.is_some()),
        ("app_name", entry.app_name.is_some()),
        ("endpoint", entry.endpoint.is_some()),
        ("dcr_immutable_id", entry.dcr_immutable_id.is_some()),
        ("change_stream", entry.change_stream.is_some()),
        ("data_stream", entry.data_stream.is_some()),
        ("tenant_id", entry.tenant_id.is_some()),
        ("client_id", entry.client_id.is_some()),
        (
            "client_secret",
            entry.client_secret.is_some() || entry.client_secret_file.is_some(),
        ),
        ("authority", entry.authority.is_some()),
        ("max_bytes", entry.max_bytes.is_some()),
    ];
    let allowed: &[&str] = match kind.as_str() {
        "jsonl" => &["path", "max_size", "keep"],
        "syslog" => &["address", "transport", "facility", "app_name", "timeout", "ca"],
        "azure-monitor" => &[
            "timeout",
            "ca",
            "endpoint",
            "dcr_immutable_id",
            "change_stream",
            "data_stream",
            "tenant_id",
            "client_id",
            "client_secret",
            "authority",
            "max_bytes",
        ],
        other => {
            return Err((
                span,
                format!("unknown output type {other:?}; use jsonl, syslog or azure-monitor"),
            ));
        }
    };
    if let Some((field, _)) = present.iter().find(|(field, set)| *set && !allowed.contains(field)) {
        return Err((span, format!("`{field}` does not apply to a {kind} output")));
    }
    let missing = |field: &str| (span.clone(), format!("a {kind} output needs `{field}`"));
    let timeout = |default: u64| entry.timeout.map_or(Duration::from_secs(default), |t| t.0);
    if let Some(t) = entry.timeout
        && !(Duration::from_secs(1)..=Duration::from_secs(3600)).contains(&t.0)
    {
        return Err((span, "`timeout` is between 1s and 1h".into()));
    }
    match kind.as_str() {
        "jsonl" => {
            let path = entry.path.ok_or_else(|| missing("path"))?;
            if path.get_ref().is_empty() {
                return Err((path.span(), "`path` is empty".into()));
            }
            let max_size = match entry.max_size {
                Some(size) if size.get_ref().0 < 4096 => {
                    return Err((size.span(), "`max_size` is at least 4KiB".into()));
                }
                Some(size) => size.get_ref().0,
                None => 100 << 20,
            };
            Ok(Sink::Jsonl(JsonlSettings {
                path: resolve(path.get_ref()),
                max_size,
                keep: entry.keep.unwrap_or(5),
            }))
        }
        "syslog" => {
            let address = entry.address.ok_or_else(|| missing("address"))?;
            if address
                .get_ref()
                .rsplit_once(':')
                .is_none_or(|(_, port)| port.parse::<u16>().is_err())
            {
                return Err((
                    address.span(),
                    format!("address {:?} is not host:port", address.get_ref()),
                ));
            }
            let transport = match entry.transport.as_ref().map(|t| t.get_ref().as_str()) {
                None | Some("tcp") => Transport::Tcp,
                Some("udp") => Transport::Udp,
                Some("tls") => Transport::Tls,
                Some(other) => {
                    let span = entry.transport.as_ref().map_or(span.clone(), Spanned::span);
                    return Err((span, format!("unknown transport {other:?}; use udp, tcp or tls")));
                }
            };
            if entry.ca.is_some() && transport != Transport::Tls {
                return Err((span, "`ca` applies to transport = \"tls\" only".into()));
            }
            let facility = match &entry.facility {
                None => 1,
                Some(name) => facility(name.get_ref()).ok_or_else(|| {
                    (
                        name.span(),
                        format!(
                            "unknown facility {:?} (use kern, user, daemon, auth, local0 … local7)",
                            name.get_ref()
                        ),
                    )
                })?,
            };
            let app_name = match entry.app_name {
                None => "driftwatch".to_string(),
                Some(name) => {
                    let text = name.get_ref();
                    if text.is_empty() || text.len() > 48 || !text.bytes().all(|b| (33..=126).contains(&b)) {
                        return Err((
                            name.span(),
                            "`app_name` is 1 to 48 printable ASCII characters, no spaces".into(),
                        ));
                    }
                    text.clone()
                }
            };
            Ok(Sink::Syslog(SyslogSettings {
                address: address.get_ref().clone(),
                transport,
                ca: entry.ca.as_deref().map(resolve),
                facility,
                app_name,
                timeout: timeout(10),
            }))
        }
        _ => {
            let endpoint = entry.endpoint.ok_or_else(|| missing("endpoint"))?;
            let https = |url: &Spanned<String>, field: &str| -> Result<String, Located> {
                let text = url.get_ref().trim_end_matches('/');
                if text.starts_with("https://") {
                    Ok(text.to_string())
                } else {
                    Err((
                        url.span(),
                        format!("`{field}` {:?} must start with https://", url.get_ref()),
                    ))
                }
            };
            let client_secret = match (entry.client_secret, entry.client_secret_file) {
                (Some(secret), None) => Secret::Inline(secret),
                (None, Some(file)) => Secret::File(resolve(&file)),
                (Some(_), Some(_)) => {
                    return Err((span, "give `client_secret` or `client_secret_file`, not both".into()));
                }
                (None, None) => return Err(missing("client_secret_file` or `client_secret")),
            };
            let max_bytes = match entry.max_bytes {
                Some(size) if size.get_ref().0 > AZURE_MAX_BYTES || size.get_ref().0 < 64_000 => {
                    return Err((
                        size.span(),
                        "`max_bytes` is between 64KB and 1MB (the API's limit)".into(),
                    ));
                }
                Some(size) => size.get_ref().0,
                None => AZURE_MAX_BYTES,
            };
            Ok(Sink::AzureMonitor(AzureMonitorSettings {
                endpoint: https(&endpoint, "endpoint")?,
                dcr_immutable_id: entry.dcr_immutable_id.ok_or_else(|| missing("dcr_immutable_id"))?,
                change_stream: entry
                    .change_stream
                    .unwrap_or_else(|| "Custom-ConfigurationChange".into()),
                data_stream: entry.data_stream.unwrap_or_else(|| "Custom-ConfigurationData".into()),
                tenant_id: entry.tenant_id.ok_or_else(|| missing("tenant_id"))?,
                client_id: entry.client_id.ok_or_else(|| missing("client_id"))?,
                client_secret,
                authority: match &entry.authority {
                    Some(url) => https(url, "authority")?,
                    None => "https://login.microsoftonline.com".into(),
                },
                ca: entry.ca.as_deref().map(resolve),
                max_bytes,
                timeout: timeout(30),
            }))
        }
    }
}

/// RFC 5424's facility numbers, by their usual names.
fn facility(name: &str) -> Option<u8> {
    const NAMES: [&str; 16] = [
        "kern",
        "user",
        "mail",
        "daemon",
        "auth",
        "syslog",
        "lpr",
        "news",
        "uucp",
        "cron",
        "authpriv",
        "ftp",
        "ntp",
        "security",
        "console",
        "solaris-cron",
    ];
    if let Some(n) = name.strip_prefix("local").and_then(|n| n.parse::<u8>().ok()) {
        return (n <= 7).then_some(16 + n);
    }
    NAMES.iter().position(|n| *n == name).map(|n| n as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<Output>, String> {
        #[derive(Deserialize)]
        struct File {
            output: Vec<OutputEntry>,
        }
        let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
        outputs(file.output, Path::new("/etc/driftwatch")).map_err(|(_, message)| message)
    }

    #[test]
    fn each_type_with_its_defaults() {
        let outputs = parse(
            r#"
            [[output]]
            type = "jsonl"
            path = "records.jsonl"
            records = ["changes"]

            [[output]]
            type = "syslog"
            address = "127.0.0.1:514"
            facility = "local3"

            [[output]]
            name = "azure"
            type = "azure-monitor"
            endpoint = "https://dce.example.ingest.monitor.azure.com/"
            dcr_immutable_id = "dcr-1"
            tenant_id = "t"
            client_id = "c"
            client_secret_file = "secret"
            "#,
        )
        .unwrap();
        assert_eq!(outputs[0].name, "jsonl");
        assert_eq!(
            outputs[0].records,
            Records {
                changes: true,
                inventory: false
            }
        );
        let Sink::Jsonl(jsonl) = &outputs[0].sink else { panic!() };
        assert_eq!(jsonl.path, Path::new("/etc/driftwatch/records.jsonl"));
        assert_eq!((jsonl.max_size, jsonl.keep), (100 << 20, 5));
        let Sink::Syslog(syslog) = &outputs[1].sink else {
            panic!()
        };
        assert_eq!((syslog.transport, syslog.facility), (Transport::Tcp, 19));
        let Sink::AzureMonitor(azure) = &outputs[2].sink else {
            panic!()
        };
        assert_eq!(azure.endpoint, "https://dce.example.ingest.monitor.azure.com");
        assert_eq!(azure.client_secret, Secret::File("/etc/driftwatch/secret".into()));
        assert_eq!(
            (azure.change_stream.as_str(), azure.max_bytes),
            ("Custom-ConfigurationChange", AZURE_MAX_BYTES)
        );
    }

    #[test]
    fn mistakes_are_named() {
        let cases = [
            ("type = \"kafka\"", "unknown output type \"kafka\""),
            ("type = \"jsonl\"", "a jsonl output needs `path`"),
            (
                "type = \"jsonl\"\npath = \"x\"\naddress = \"a:1\"",
                "`address` does not apply to a jsonl output",
            ),
            ("type = \"syslog\"\naddress = \"nowhere\"", "is not host:port"),
            (
                "type = \"jsonl\"\npath = \"x\"\ntimeout = \"5s\"",
                "`timeout` does not apply to a jsonl output",
            ),
            (
                "type = \"syslog\"\naddress = \"a:1\"\ntransport = \"quic\"",
                "unknown transport",
            ),
            (
                "type = \"syslog\"\naddress = \"a:1\"\nca = \"x.pem\"",
                "applies to transport = \"tls\" only",
            ),
            (
                "type = \"syslog\"\naddress = \"a:1\"\nfacility = \"local9\"",
                "unknown facility",
            ),
            (
                "type = \"jsonl\"\npath = \"x\"\nrecords = [\"alerts\"]",
                "unknown records \"alerts\"",
            ),
            (
                "type = \"azure-monitor\"\nendpoint = \"http://x\"\ndcr_immutable_id = \"d\"\ntenant_id = \"t\"\nclient_id = \"c\"\nclient_secret = \"s\"",
                "must start with https://",
            ),
            (
                "type = \"azure-monitor\"\nendpoint = \"https://x\"\ndcr_immutable_id = \"d\"\ntenant_id = \"t\"\nclient_id = \"c\"\nclient_secret = \"s\"\nmax_bytes = \"2MB\"",
                "between 64KB and 1MB",
            ),
        ];
        for (entry, expected) in cases {
            let error = parse(&format!("[[output]]\n{entry}")).unwrap_err();
            assert!(error.contains(expected), "{entry}: {error}");
        }
        let twice = parse("[[output]]\ntype = \"jsonl\"\npath = \"a\"\n[[output]]\ntype = \"jsonl\"\npath = \"b\"");
        assert!(twice.unwrap_err().contains("two outputs are named `jsonl`"));
        let one_file = parse(
            "[[output]]\ntype = \"jsonl\"\npath = \"a\"\n[[output]]\nname = \"b\"\ntype = \"jsonl\"\npath = \"a\"",
        );
        let expected = format!("two outputs write {}", Path::new("/etc/driftwatch").join("a").display());
        assert!(one_file.unwrap_err().contains(&expected));
        let slow = parse("[[output]]\ntype = \"syslog\"\naddress = \"a:1\"\ntimeout = \"0s\"");
        assert!(slow.unwrap_err().contains("between 1s and 1h"));
    }
}
