//! The service's log: a file under `<state>\logs` (`driftwatch.<date>.log`,
//! a new one each day, the last 14 kept), at `info` unless `RUST_LOG` says
//! otherwise, and every error also in the Windows event log (Application,
//! source `driftwatch`), where administrators look first.

use std::path::Path;

use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use windows_sys::Win32::Foundation::{ERROR_SUCCESS, HANDLE};
use windows_sys::Win32::System::EventLog::{
    DeregisterEventSource, EVENTLOG_ERROR_TYPE, EVENTLOG_INFORMATION_TYPE, EVENTLOG_WARNING_TYPE, RegisterEventSourceW,
    ReportEventW,
};
use windows_sys::Win32::System::Registry::{
    HKEY, HKEY_LOCAL_MACHINE, KEY_SET_VALUE, REG_DWORD, REG_OPTION_NON_VOLATILE, RegCloseKey, RegCreateKeyExW,
    RegDeleteTreeW, RegSetValueExW,
};

use super::SERVICE_NAME;
use crate::runtime::registry_import::wide;

/// Log files kept.
const KEPT_FILES: usize = 14;
/// Where an event source is registered.
const EVENT_SOURCE_KEY: &str = r"SYSTEM\CurrentControlSet\Services\EventLog\Application\driftwatch";

/// Sends the process's log to the service's file and its errors to the
/// event log; panics are logged there too. Without a log file (its folder
/// cannot be made, say) the errors still reach the event log, that one
/// first.
pub fn init(state_dir: &Path) {
    let dir = state_dir.join("logs");
    let file = RollingFileAppender::builder()
        .rotation(Rotation::DAILY)
        .filename_prefix("driftwatch")
        .filename_suffix("log")
        .max_log_files(KEPT_FILES)
        .build(&dir);
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let (file, problem) = match file {
        Ok(file) => (Some(file), None),
        Err(error) => (
            None,
            Some(format!("cannot write the service's log in {}: {error}", dir.display())),
        ),
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(file.map(|file| {
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_target(false)
                .with_writer(file)
        }))
        .with(EventLog::open())
        .init();
    if let Some(problem) = problem {
        tracing::error!("{problem}");
    }
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |panic| {
        tracing::error!("panic: {panic}");
        default_hook(panic);
    }));
}

/// A tracing layer writing errors to the event log.
struct EventLog {
    source: HANDLE,
}

// SAFETY: an event source handle may be used from any thread.
unsafe impl Send for EventLog {}
unsafe impl Sync for EventLog {}

impl EventLog {
    fn open() -> Option<EventLog> {
        let name = wide(SERVICE_NAME);
        // SAFETY: a null server name is this machine; `name` is NUL-terminated.
        let source = unsafe { RegisterEventSourceW(std::ptr::null(), name.as_ptr()) };
        (!source.is_null()).then_some(EventLog { source })
    }

    fn report(&self, kind: u16, text: &str) {
        let text = wide(text);
        let strings = [text.as_ptr()];
        // SAFETY: one NUL-terminated string, no SID, no raw data.
        unsafe {
            ReportEventW(
                self.source,
                kind,
                0,
                1,
                std::ptr::null_mut(),
                1,
                0,
                strings.as_ptr(),
                std::ptr::null(),
            )
        };
    }
}

impl Drop for EventLog {
    fn drop(&mut self) {
        // SAFETY: the handle came from RegisterEventSourceW and is closed once.
        unsafe { DeregisterEventSource(self.source) };
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for EventLog {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if *event.metadata().level() != tracing::Level::ERROR {
            return;
        }
        let mut text = Text(String::new());
        event.record(&mut text);
        self.report(EVENTLOG_ERROR_TYPE, &text.0);
    }
}

/// An event's message, then its other fields as `name=value`.
struct Text(String);

impl tracing::field::Visit for Text {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write as _;
        if field.name() == "message" {
            let fields = std::mem::take(&mut self.0);
            let _ = write!(self.0, "{value:?}{fields}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            self.0.insert_str(0, value);
        } else {
            self.record_debug(field, &value);
        }
    }
}

/// Registers `driftwatch` as an event source of the Application log. It has
/// no message file: Event Viewer says it cannot find the event's
/// description, then shows the event's text.
pub fn register_event_source() -> anyhow::Result<()> {
    let key = wide(EVENT_SOURCE_KEY);
    let mut handle: HKEY = std::ptr::null_mut();
    // SAFETY: NUL-terminated names; `handle` receives the opened key.
    let status = unsafe {
        RegCreateKeyExW(
            HKEY_LOCAL_MACHINE,
            key.as_ptr(),
            0,
            std::ptr::null(),
            REG_OPTION_NON_VOLATILE,
            KEY_SET_VALUE,
            std::ptr::null(),
            &mut handle,
            std::ptr::null_mut(),
        )
    };
    if status != ERROR_SUCCESS {
        anyhow::bail!("cannot register the event source (Windows error {status})");
    }
    let types = (EVENTLOG_ERROR_TYPE | EVENTLOG_WARNING_TYPE | EVENTLOG_INFORMATION_TYPE) as u32;
    let name = wide("TypesSupported");
    let data = types.to_le_bytes();
    // SAFETY: `handle` is open for setting values; `data` is a DWORD's bytes.
    let status = unsafe { RegSetValueExW(handle, name.as_ptr(), 0, REG_DWORD, data.as_ptr(), data.len() as u32) };
    // SAFETY: the key was opened above and is closed once.
    unsafe { RegCloseKey(handle) };
    if status != ERROR_SUCCESS {
        anyhow::bail!("cannot register the event source (Windows error {status})");
    }
    Ok(())
}

/// Removes the event source's registration (its events stay in the log).
pub fn deregister_event_source() -> anyhow::Result<()> {
    let key = wide(EVENT_SOURCE_KEY);
    // SAFETY: a NUL-terminated key name under HKLM.
    let status = unsafe { RegDeleteTreeW(HKEY_LOCAL_MACHINE, key.as_ptr()) };
    match status {
        ERROR_SUCCESS | windows_sys::Win32::Foundation::ERROR_FILE_NOT_FOUND => Ok(()),
        status => anyhow::bail!("cannot remove the event source (Windows error {status})"),
    }
}
