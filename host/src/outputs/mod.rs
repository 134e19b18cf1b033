//! Outputs: the change and inventory records, sent on to the pipelines
//! people already run — a JSON-lines file, a syslog collector, Azure
//! Monitor — each from its own position in the store.
//!
//! | module | job |
//! |---|---|
//! | `record` | a record as JSON with Azure's column names, and in a line of prose |
//! | `jsonl` | appends to a file, rotated by size |
//! | `syslog` | RFC 5424 over UDP, TCP or TLS |
//! | `azure_monitor` | the Logs Ingestion API |
//!
//! Once per record per output: an output's position (the last `ChangeId`
//! and inventory revision sent) moves only after what it names was sent,
//! in the same step as the file's committed length for a file. A record is
//! sent again only where the receiver cannot say it got it (a TCP or TLS
//! connection that breaks before the collector closed it; UDP is sent
//! once and never known to arrive). One process sends for an output at a
//! time: each holds `<state>/outputs/NAME.lock` while it sends.

mod azure_monitor;
mod jsonl;
mod record;
mod syslog;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::manifest::outputs::{Output, Sink};
use crate::store::{OutputMark, OutputRecord, Store, StoreError};
use crate::timefmt;

/// Records read from the store at a time.
const BATCH: usize = 2000;

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("{0}")]
    Io(String),
    #[error("{0}")]
    Refused(String),
}

impl SinkError {
    fn io(context: impl std::fmt::Display, error: impl std::fmt::Display) -> SinkError {
        SinkError::Io(format!("{context}: {error}"))
    }
}

/// What one `send` achieved: the position reached (when anything was
/// sent), and the error that stopped it short.
pub struct Sent {
    pub reached: Option<OutputMark>,
    pub error: Option<SinkError>,
}

impl Sent {
    fn all(to: OutputMark) -> Sent {
        Sent {
            reached: Some(to),
            error: None,
        }
    }

    fn failed(error: SinkError) -> Sent {
        Sent {
            reached: None,
            error: Some(error),
        }
    }
}

/// A destination: sends records that follow `mark`, in order.
trait Deliver: Send {
    /// Where the output starts, recorded before its first send: for a
    /// file, the length of what is there already (someone else's).
    fn start(&mut self) -> Result<u64, SinkError> {
        Ok(0)
    }

    fn send(&mut self, mark: &OutputMark, records: &[OutputRecord], stop: &AtomicBool) -> Sent;
}

/// What one output did in [`Outputs::send_pending`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputReport {
    pub name: String,
    pub destination: String,
    pub sent: u64,
    pub error: Option<String>,
    /// Another process held the output's lock: it sends instead.
    pub busy: bool,
}

/// The manifest's outputs, each with its sender (which keeps what lasts
/// between sends, e.g. an access token).
pub struct Outputs {
    outputs: Vec<(Output, Box<dyn Deliver>)>,
    lock_dir: PathBuf,
}

impl Outputs {
    pub fn new(outputs: &[Output], state_dir: &Path) -> Outputs {
        let outputs = outputs
            .iter()
            .map(|output| {
                let deliver: Box<dyn Deliver> = match &output.sink {
                    Sink::Jsonl(settings) => Box::new(jsonl::JsonlFile::new(settings.clone())),
                    Sink::Syslog(settings) => Box::new(syslog::Syslog::new(settings.clone())),
                    Sink::AzureMonitor(settings) => Box::new(azure_monitor::AzureMonitor::new(settings.clone())),
                };
                (output.clone(), deliver)
            })
            .collect();
        Outputs {
            outputs,
            lock_dir: state_dir.join("outputs"),
        }
    }

    /// Sends each output what it has not been sent, until it is caught up,
    /// fails, or `stop` is set. One output's failure leaves the others be.
    pub fn send_pending(&mut self, store: &Mutex<Store>, stop: &AtomicBool) -> Result<Vec<OutputReport>, StoreError> {
        let mut reports = Vec::new();
        for (output, deliver) in &mut self.outputs {
            let mut report = OutputReport {
                name: output.name.clone(),
                destination: output.sink.describe(),
                sent: 0,
                error: None,
                busy: false,
            };
            let _lock = match lock(&self.lock_dir, &output.name) {
                Ok(Some(lock)) => lock,
                Ok(None) => {
                    report.busy = true;
                    reports.push(report);
                    continue;
                }
                Err(error) => {
                    report.error = Some(error);
                    reports.push(report);
                    continue;
                }
            };
            // Only the lock holder moves the position: read once, then carried.
            let known = store
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .output_mark(&output.name)?;
            let mut mark = match known {
                Some(mark) => mark,
                None => match deliver.start() {
                    Ok(offset) => store
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .start_output(&output.name, offset)?,
                    Err(error) => {
                        let text = error.to_string();
                        tracing::warn!(output = %output.name, "cannot start: {text}");
                        report.error = Some(text);
                        reports.push(report);
                        continue;
                    }
                },
            };
            while !stop.load(Ordering::Relaxed) {
                let records = {
                    let mut store = store.lock().unwrap_or_else(|p| p.into_inner());
                    store.output_records(mark.position, output.records, BATCH)?
                };
                if records.is_empty() {
                    break;
                }
                let sent = deliver.send(&mark, &records, stop);
                let mut store = store.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(reached) = sent.reached {
                    if !store.advance_output(&output.name, &mark, &reached, &timefmt::now())? {
                        report.error = Some("its position was moved by someone else".into());
                        break;
                    }
                    let to = reached.position;
                    report.sent += records
                        .iter()
                        .take_while(|r| r.after.change_id <= to.change_id && r.after.revision <= to.revision)
                        .count() as u64;
                    mark = reached;
                }
                if let Some(error) = sent.error {
                    let text = error.to_string();
                    store.note_output_error(&output.name, &text)?;
                    tracing::warn!(output = %output.name, "not sent: {text}; kept for the next attempt");
                    report.error = Some(text);
                    break;
                }
            }
            if report.sent > 0 {
                tracing::info!(output = %output.name, records = report.sent, "sent to {}", report.destination);
            }
            reports.push(report);
        }
        Ok(reports)
    }
}

/// The output's lock, or `None` when another process holds it.
fn lock(dir: &Path, name: &str) -> Result<Option<File>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let path = dir.join(format!("{name}.lock"));
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(format!("cannot lock {}: {e}", path.display())),
    }
}
