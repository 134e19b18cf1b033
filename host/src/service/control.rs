//! `driftwatch service install | uninstall | start | stop`: the agent's
//! entry in the Service Control Manager, and waiting for it to get where it
//! was asked to go.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use windows_service::service::{
    ServiceAccess, ServiceAction, ServiceActionType, ServiceErrorControl, ServiceExitCode, ServiceFailureActions,
    ServiceFailureResetPeriod, ServiceInfo, ServiceStartType, ServiceState, ServiceStatus, ServiceType,
};
use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};

use super::{SERVICE_NAME, logging};

const DISPLAY_NAME: &str = "driftwatch";
const DESCRIPTION: &str = "Change tracking and inventory: records installed software, tracked files, \
     registry values and services, and every change to them.";
/// How long `start` and `stop` wait for the service to get there.
const WAIT: Duration = Duration::from_secs(60);
/// How long the service may take to stop before the machine shuts down.
const PRESHUTDOWN: Duration = Duration::from_secs(30);

// Win32 error codes the SCM answers with.
const ERROR_SERVICE_EXISTS: i32 = 1073;
const ERROR_SERVICE_DOES_NOT_EXIST: i32 = 1060;
const ERROR_SERVICE_NOT_ACTIVE: i32 = 1062;
const ERROR_SERVICE_ALREADY_RUNNING: i32 = 1056;
const ERROR_SERVICE_MARKED_FOR_DELETE: i32 = 1072;

/// What the installed service runs with.
#[derive(Debug, Clone)]
pub struct Installation {
    pub state_dir: PathBuf,
    /// `None`: the built-in manifest.
    pub manifest: Option<PathBuf>,
}

impl Installation {
    /// The arguments the SCM starts `driftwatch.exe` with.
    fn arguments(&self) -> Vec<OsString> {
        let mut arguments = vec!["--state".into(), self.state_dir.clone().into_os_string()];
        if let Some(manifest) = &self.manifest {
            arguments.push("--manifest".into());
            arguments.push(manifest.clone().into_os_string());
        }
        arguments.push("service".into());
        arguments.push("run".into());
        arguments
    }
}

fn os_error(error: &windows_service::Error) -> Option<i32> {
    match error {
        windows_service::Error::Winapi(error) => error.raw_os_error(),
        _ => None,
    }
}

fn manager(access: ServiceManagerAccess) -> anyhow::Result<ServiceManager> {
    ServiceManager::local_computer(None::<&str>, ServiceManagerAccess::CONNECT | access)
        .context("cannot reach the Service Control Manager (run this as an administrator)")
}

/// Registers the service (or updates its registration): automatic start,
/// LocalSystem, restarted on failure. Does not start it.
pub fn install(installation: &Installation) -> anyhow::Result<()> {
    let executable = std::env::current_exe().context("cannot tell where driftwatch.exe is")?;
    let info = ServiceInfo {
        name: SERVICE_NAME.into(),
        display_name: DISPLAY_NAME.into(),
        service_type: ServiceType::OWN_PROCESS,
        start_type: ServiceStartType::AutoStart,
        error_control: ServiceErrorControl::Normal,
        executable_path: executable.clone(),
        launch_arguments: installation.arguments(),
        dependencies: Vec::new(),
        account_name: None, // LocalSystem
        account_password: None,
    };
    let manager = manager(ServiceManagerAccess::CREATE_SERVICE)?;
    // Restart as a recovery action needs the right to start it, too.
    let access =
        ServiceAccess::CHANGE_CONFIG | ServiceAccess::QUERY_CONFIG | ServiceAccess::QUERY_STATUS | ServiceAccess::START;
    let service = match manager.create_service(&info, access) {
        Ok(service) => service,
        Err(error) if os_error(&error) == Some(ERROR_SERVICE_EXISTS) => {
            let service = manager
                .open_service(SERVICE_NAME, access)
                .context("opening the installed service")?;
            service.change_config(&info).context("updating the installed service")?;
            println!("the {SERVICE_NAME} service was installed already: its settings are updated");
            service
        }
        Err(error) => return Err(error).context("cannot install the service"),
    };
    service
        .set_description(DESCRIPTION)
        .context("setting the service's description")?;
    // Restarted 5 s after a failure, then after 30 s and a minute; the count
    // starts again after a day without failures. An exit with an error
    // counts as a failure too, not only a crash.
    let restart = |seconds| ServiceAction {
        action_type: ServiceActionType::Restart,
        delay: Duration::from_secs(seconds),
    };
    let recovery = service
        .update_failure_actions(ServiceFailureActions {
            reset_period: ServiceFailureResetPeriod::After(Duration::from_secs(86_400)),
            reboot_msg: None,
            command: None,
            actions: Some(vec![restart(5), restart(30), restart(60)]),
        })
        .and_then(|()| service.set_failure_actions_on_non_crash_failures(true));
    if let Err(error) = recovery {
        tracing::warn!(
            "the service is installed, but without recovery actions: {:#}",
            anyhow::Error::new(error)
        );
    }
    if let Err(error) = service.set_preshutdown_timeout(PRESHUTDOWN) {
        tracing::warn!(
            "the service is installed, but without a preshutdown timeout: {:#}",
            anyhow::Error::new(error)
        );
    }
    if let Err(error) = logging::register_event_source() {
        tracing::warn!("errors will not reach the event log: {error:#}");
    }
    println!(
        "installed the {SERVICE_NAME} service: {} {}",
        executable.display(),
        installation
            .arguments()
            .iter()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    );
    Ok(())
}

/// Stops the service if it runs, then removes it, and its event source.
pub fn uninstall() -> anyhow::Result<()> {
    let removed = remove_service();
    if let Err(error) = logging::deregister_event_source() {
        tracing::warn!("the event log source stays registered: {error:#}");
    }
    removed
}

fn remove_service() -> anyhow::Result<()> {
    let manager = manager(ServiceManagerAccess::empty())?;
    let access = ServiceAccess::QUERY_STATUS | ServiceAccess::STOP | ServiceAccess::DELETE;
    let service = match manager.open_service(SERVICE_NAME, access) {
        Ok(service) => service,
        Err(error) if os_error(&error) == Some(ERROR_SERVICE_DOES_NOT_EXIST) => {
            println!("the {SERVICE_NAME} service is not installed: nothing to remove");
            return Ok(());
        }
        Err(error) => return Err(error).context("opening the service"),
    };
    if service.query_status()?.current_state != ServiceState::Stopped {
        stop_and_wait(&service)?;
    }
    match service.delete() {
        Ok(()) => {}
        Err(error) if os_error(&error) == Some(ERROR_SERVICE_MARKED_FOR_DELETE) => {}
        Err(error) => return Err(error).context("removing the service"),
    }
    drop(service);
    // The SCM removes it once no handle to it is left open.
    let started = Instant::now();
    while started.elapsed() < WAIT {
        match manager.open_service(SERVICE_NAME, ServiceAccess::QUERY_STATUS) {
            Err(error) if os_error(&error) == Some(ERROR_SERVICE_DOES_NOT_EXIST) => break,
            _ => std::thread::sleep(Duration::from_millis(200)),
        }
    }
    println!("removed the {SERVICE_NAME} service (its state directory is kept)");
    Ok(())
}

fn open(access: ServiceAccess) -> anyhow::Result<windows_service::service::Service> {
    let manager = manager(ServiceManagerAccess::empty())?;
    manager.open_service(SERVICE_NAME, access).map_err(|error| {
        if os_error(&error) == Some(ERROR_SERVICE_DOES_NOT_EXIST) {
            anyhow::anyhow!("the {SERVICE_NAME} service is not installed (driftwatch service install)")
        } else {
            anyhow::Error::new(error).context("opening the service")
        }
    })
}

/// Starts the service and waits until it runs.
pub fn start() -> anyhow::Result<()> {
    let service = open(ServiceAccess::START | ServiceAccess::QUERY_STATUS)?;
    match service.start::<&str>(&[]) {
        Ok(()) => {}
        Err(error) if os_error(&error) == Some(ERROR_SERVICE_ALREADY_RUNNING) => {
            println!("the {SERVICE_NAME} service is running already");
            return Ok(());
        }
        Err(error) => return Err(error).context("cannot start the service"),
    }
    let status = wait_while(&service, ServiceState::StartPending)?;
    match status.current_state {
        ServiceState::Running => {
            println!("the {SERVICE_NAME} service is running");
            Ok(())
        }
        state => bail!(
            "the service did not start ({state:?}, exit code {}): see its log in the state directory's logs folder \
             and the Application event log",
            exit_code(&status)
        ),
    }
}

/// Stops the service and waits until it has.
pub fn stop() -> anyhow::Result<()> {
    let service = open(ServiceAccess::STOP | ServiceAccess::QUERY_STATUS)?;
    stop_and_wait(&service)
}

/// Stops the service and waits until it has stopped and its process has
/// ended: until then its program file is in use (an installer about to
/// replace or remove it would have to leave that to a reboot). A service
/// still starting is let start first; one stopping already is waited for.
fn stop_and_wait(service: &windows_service::service::Service) -> anyhow::Result<()> {
    let status = wait_while(service, ServiceState::StartPending)?;
    // Opened before the stop, so that the id cannot be another's by then.
    let process = status.process_id.and_then(Process::open);
    if status.current_state != ServiceState::StopPending {
        match service.stop() {
            Ok(_) => {}
            Err(error) if os_error(&error) == Some(ERROR_SERVICE_NOT_ACTIVE) => {
                println!("the {SERVICE_NAME} service is not running");
                return Ok(());
            }
            Err(error) => return Err(error).context("cannot stop the service"),
        }
    }
    let status = wait_while(service, ServiceState::StopPending)?;
    if status.current_state != ServiceState::Stopped {
        bail!(
            "the service did not stop within {} s ({:?})",
            WAIT.as_secs(),
            status.current_state
        );
    }
    if let Some(process) = process
        && !process.wait(WAIT)
    {
        bail!(
            "the service stopped, but its process did not end within {} s",
            WAIT.as_secs()
        );
    }
    println!("the {SERVICE_NAME} service stopped (exit code {})", exit_code(&status));
    Ok(())
}

/// A process to wait for.
struct Process(windows_sys::Win32::Foundation::HANDLE);

impl Process {
    /// `None` when it has ended already (or cannot be waited on).
    fn open(id: u32) -> Option<Process> {
        use windows_sys::Win32::System::Threading::{OpenProcess, PROCESS_SYNCHRONIZE};
        // SAFETY: asks for a handle that can only be waited on.
        let handle = unsafe { OpenProcess(PROCESS_SYNCHRONIZE, 0, id) };
        (!handle.is_null()).then_some(Process(handle))
    }

    /// Whether it ended within `limit`.
    fn wait(&self, limit: Duration) -> bool {
        use windows_sys::Win32::Foundation::WAIT_OBJECT_0;
        use windows_sys::Win32::System::Threading::WaitForSingleObject;
        // SAFETY: a valid process handle, open until drop.
        unsafe { WaitForSingleObject(self.0, limit.as_millis() as u32) == WAIT_OBJECT_0 }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // SAFETY: the handle came from OpenProcess and is closed once.
        unsafe { windows_sys::Win32::Foundation::CloseHandle(self.0) };
    }
}

/// Polls the service's status while it is `pending`, up to `WAIT`.
fn wait_while(service: &windows_service::service::Service, pending: ServiceState) -> anyhow::Result<ServiceStatus> {
    let started = Instant::now();
    loop {
        let status = service.query_status().context("asking the service's status")?;
        if status.current_state != pending || started.elapsed() >= WAIT {
            return Ok(status);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn exit_code(status: &ServiceStatus) -> String {
    match status.exit_code {
        ServiceExitCode::Win32(code) => code.to_string(),
        ServiceExitCode::ServiceSpecific(code) => format!("{code} (driftwatch)"),
    }
}
