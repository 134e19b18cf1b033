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
    let served = std::panic::catch_unwind(serve);
    match served {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::error!("the service failed: {error:#}"),
        Err(_) => tracing::error!("the service panicked (see the log line before)"),
    }
}

/// Reports the service's state to the SCM.
struct Status {
    handle: ServiceStatusHandle,
}

impl Status {
    fn set(&self, state: ServiceState, exit_code: ServiceExitCode, wait_hint: Duration) {
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
            checkpoint: u32::from(matches!(state, ServiceState::StartPending | ServiceState::StopPending)),
            wait_hint,
            process_id: None,
        };
        match self.handle.set_service_status(status) {
            Ok(()) => tracing::debug!("service status: {state:?}"),
            Err(error) => tracing::error!("cannot report the service status {state:?}: {error}"),
        }
    }
}

fn serve() -> anyhow::Result<()> {
    let stop = Arc::new(Notify::new());
    let status: Arc<OnceLock<Status>> = Arc::default();
    let handler = {
        let (stop, status) = (stop.clone(), status.clone());
        move |control| match control {
            ServiceControl::Stop | ServiceControl::Shutdown | ServiceControl::Preshutdown => {
                tracing::info!("the Service Control Manager asks to stop ({control:?})");
                if let Some(status) = status.get() {
                    status.set(ServiceState::StopPending, ServiceExitCode::NO_ERROR, STOP_HINT);
                }
                stop.notify_one();
                ServiceControlHandlerResult::NoError
            }
            ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
            _ => ServiceControlHandlerResult::NotImplemented,
        }
    };
    let handle = service_control_handler::register(SERVICE_NAME, handler)
        .context("cannot register with the Service Control Manager")?;
    let status = status.get_or_init(|| Status { handle });
    status.set(ServiceState::StartPending, ServiceExitCode::NO_ERROR, START_HINT);

    let launch = LAUNCH.lock().unwrap_or_else(|p| p.into_inner()).take();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let launch = launch.context("the service was started twice in one process")?;
        let setup = launch()?;
        status.set(ServiceState::Running, ServiceExitCode::NO_ERROR, Duration::ZERO);
        tracing::info!("the {SERVICE_NAME} service is running");
        agent::run(setup, Some(stop))
    }));
    let (exit_code, result) = match outcome {
        Ok(Ok(())) => (ServiceExitCode::NO_ERROR, Ok(())),
        Ok(Err(error)) => (FAILED, Err(error)),
        Err(_) => (FAILED, Err(anyhow::anyhow!("the agent panicked"))),
    };
    if let Err(error) = &result {
        tracing::error!("the {SERVICE_NAME} service stops on an error: {error:#}");
    }
    tracing::info!("the {SERVICE_NAME} service stopped");
    status.set(ServiceState::Stopped, exit_code, Duration::ZERO);
    result
}
