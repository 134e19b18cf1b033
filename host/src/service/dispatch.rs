//! The service process: `driftwatch.exe … service run`, started by the
//! Service Control Manager.
//!
//! The main thread hands itself to the SCM's dispatcher, which calls
//! `service_main` on a thread of its own; the process lives as long as that
//! call. So `service_main` connects to the SCM before anything that may
//! fail, blocks in the agent until a stop, shutdown or preshutdown control
//! comes, and always reports `Stopped` with an exit code before it returns.
//! A panic there would unwind into the dispatcher and abort the process
//! with nothing said: it is caught and logged. Everything goes to the
//! service's log file (see `logging`): a service has no console.

use std::ffi::OsString;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::Notify;
use windows_service::service::{
    ServiceControl, ServiceControlAccept, ServiceExitCode, ServiceState, ServiceStatus, ServiceType,
};
use windows_service::service_control_handler::{self, ServiceControlHandlerResult, ServiceStatusHandle};
use windows_service::{define_windows_service, service_dispatcher};

use super::SERVICE_NAME;
use crate::agent;

/// Makes what the agent needs (machine, manifest, plugin runtime); called
/// once the SCM knows the service is starting, so that its errors are
/// reported as the service's.
pub type Launch = Box<dyn FnOnce() -> anyhow::Result<agent::Setup> + Send>;

/// The launch, for `service_main` (the dispatcher calls it without context).
static LAUNCH: Mutex<Option<Launch>> = Mutex::new(None);

/// How long starting may take before the SCM gives up on it.
const START_HINT: Duration = Duration::from_secs(60);
/// How long stopping may take: in-flight runs get `agent::STOP_GRACE`.
const STOP_HINT: Duration = Duration::from_secs(agent::STOP_GRACE.as_secs() + 10);
/// The exit code of a service that failed (the SCM then applies its recovery actions).
const FAILED: ServiceExitCode = ServiceExitCode::ServiceSpecific(1);

define_windows_service!(ffi_service_main, service_main);

/// Runs as the service until the SCM stops it.
pub fn run(launch: Launch) -> anyhow::Result<()> {
    *LAUNCH.lock().unwrap_or_else(|p| p.into_inner()) = Some(launch);
    service_dispatcher::start(SERVICE_NAME, ffi_service_main).context(
        "`service run` is what the Service Control Manager starts; \
         use `driftwatch service start`, or `driftwatch run` in a console",
    )?;
    tracing::info!("the service dispatcher returned: exiting");
    Ok(())
}

fn service_main(_arguments: Vec<OsString>) {
    // `serve` logs its own errors; a panic has been logged by the hook.
    if std::panic::catch_unwind(serve).is_err() {
        tracing::error!("the service panicked");
    }
}

/// Reports the service's state to the SCM, never anything after `Stopped`,
/// and while stopping, a new checkpoint every few seconds (the SCM takes a
/// stop pending without progress past its wait hint for a hung service).
struct Status {
    handle: ServiceStatusHandle,
    progress: Mutex<Progress>,
}

#[derive(Default)]
struct Progress {
    checkpoint: u32,
    stopped: bool,
}

/// How often a stop pending reports progress.
const STOP_PROGRESS: Duration = Duration::from_secs(3);

impl Status {
    fn set(&self, state: ServiceState, exit_code: ServiceExitCode, wait_hint: Duration) {
        let mut progress = self.progress.lock().unwrap_or_else(|p| p.into_inner());
        if progress.stopped {
            return;
        }
        let pending = matches!(state, ServiceState::StartPending | ServiceState::StopPending);
        progress.checkpoint = if pending { progress.checkpoint + 1 } else { 0 };
        progress.stopped = state == ServiceState::Stopped;
        let controls_accepted = if state == ServiceState::Running {
            ServiceControlAccept::STOP | ServiceControlAccept::SHUTDOWN | ServiceControlAccept::PRESHUTDOWN
        } else {
            ServiceControlAccept::empty()
        };
        let status = ServiceStatus {
            service_type: ServiceType::OWN_PROCESS,
            current_state: state,
            controls_accepted,
            exit_code,
            checkpoint: progress.checkpoint,
            wait_hint,
            process_id: None,
        };
        match self.handle.set_service_status(status) {
            Ok(()) => tracing::debug!("service status: {state:?}"),
            Err(error) => tracing::error!("cannot report the service status {state:?}: {error}"),
        }
    }

    /// Stop pending, then again every `STOP_PROGRESS` until stopped.
    fn stopping(self: &Arc<Self>) {
        self.set(ServiceState::StopPending, ServiceExitCode::NO_ERROR, STOP_HINT);
        let status = self.clone();
        std::thread::spawn(move || {
            loop {
                std::thread::sleep(STOP_PROGRESS);
                if status.progress.lock().unwrap_or_else(|p| p.into_inner()).stopped {
                    return;
                }
                status.set(ServiceState::StopPending, ServiceExitCode::NO_ERROR, STOP_HINT);
            }
        });
    }
}

fn serve() {
    let stop = Arc::new(Notify::new());
    let status: Arc<OnceLock<Arc<Status>>> = Arc::default();
    let handler = {
        let (stop, status) = (stop.clone(), status.clone());
        move |control| match control {
            ServiceControl::Stop | ServiceControl::Shutdown | ServiceControl::Preshutdown => {
                tracing::info!("the Service Control Manager asks to stop ({control:?})");
                if let Some(status) = status.get() {
                    status.stopping();
                }
                stop.notify_one();
                ServiceControlHandlerResult::NoError
            }
            ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
            _ => ServiceControlHandlerResult::NotImplemented,
        }
    };
    let handle = match service_control_handler::register(SERVICE_NAME, handler) {
        Ok(handle) => handle,
        Err(error) => {
            tracing::error!("cannot register with the Service Control Manager: {error}");
            return;
        }
    };
    let status = status.get_or_init(|| {
        Arc::new(Status {
            handle,
            progress: Mutex::default(),
        })
    });
    status.set(ServiceState::StartPending, ServiceExitCode::NO_ERROR, START_HINT);

    let launch = LAUNCH.lock().unwrap_or_else(|p| p.into_inner()).take();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let launch = launch.context("the service was started twice in one process")?;
        // Running is reported once what can fail at start has been tried:
        // the manifest loaded, the store opened, the state directory ours.
        let agent = agent::Prepared::new(launch()?)?;
        status.set(ServiceState::Running, ServiceExitCode::NO_ERROR, Duration::ZERO);
        tracing::info!("the {SERVICE_NAME} service is running");
        agent.run(Some(stop))
    }));
    let exit_code = match outcome {
        Ok(Ok(())) => ServiceExitCode::NO_ERROR,
        Ok(Err(error)) => {
            tracing::error!("the {SERVICE_NAME} service stops on an error: {error:#}");
            FAILED
        }
        Err(_) => {
            tracing::error!("the {SERVICE_NAME} service stops: the agent panicked");
            FAILED
        }
    };
    tracing::info!("the {SERVICE_NAME} service stopped");
    status.set(ServiceState::Stopped, exit_code, Duration::ZERO);
}
