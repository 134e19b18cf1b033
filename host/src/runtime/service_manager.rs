//! The `service-manager` host import (contract 0.1.2): live states of
//! Windows services, from the Service Control Manager.

use super::bindings::service_manager::ServiceStatus;

/// Where `service-manager` calls go for this runtime.
#[derive(Debug, Clone)]
pub enum ServiceManager {
    Available,
    Unavailable(String),
}

impl ServiceManager {
    pub fn for_machine(live: bool) -> ServiceManager {
        if !live {
            ServiceManager::Unavailable("collecting from an offline image: no service is running there".into())
        } else if cfg!(windows) {
            ServiceManager::Available
        } else {
            ServiceManager::Unavailable("there is no Windows Service Control Manager on this system".into())
        }
    }

    pub fn statuses(&self) -> Result<Vec<ServiceStatus>, String> {
        match self {
            ServiceManager::Unavailable(why) => Err(why.clone()),
            #[cfg(windows)]
            ServiceManager::Available => scm::statuses(),
            #[cfg(not(windows))]
            ServiceManager::Available => Err("there is no Windows Service Control Manager on this system".into()),
        }
    }
}

#[cfg(windows)]
mod scm {
    use std::ptr::null;

    use windows_sys::Win32::Foundation::{ERROR_MORE_DATA, GetLastError};
    use windows_sys::Win32::System::Services::{
        CloseServiceHandle, ENUM_SERVICE_STATUS_PROCESSW, EnumServicesStatusExW, OpenSCManagerW, SC_ENUM_PROCESS_INFO,
        SC_HANDLE, SC_MANAGER_ENUMERATE_SERVICE, SERVICE_CONTINUE_PENDING, SERVICE_PAUSE_PENDING, SERVICE_PAUSED,
        SERVICE_RUNNING, SERVICE_START_PENDING, SERVICE_STATE_ALL, SERVICE_STOP_PENDING, SERVICE_WIN32,
    };

    use crate::runtime::bindings::service_manager::{ServiceStatus, State};

    struct Manager(SC_HANDLE);

    impl Drop for Manager {
        fn drop(&mut self) {
            // SAFETY: the handle came from OpenSCManagerW and is closed once.
            unsafe { CloseServiceHandle(self.0) };
        }
    }

    pub fn statuses() -> Result<Vec<ServiceStatus>, String> {
        // SAFETY: null machine and database names mean this machine's active database.
        let handle = unsafe { OpenSCManagerW(null(), null(), SC_MANAGER_ENUMERATE_SERVICE) };
        if handle.is_null() {
            // SAFETY: reads the calling thread's last error.
            return Err(format!(
                "cannot open the Service Control Manager (Windows error {})",
                unsafe { GetLastError() }
            ));
        }
        let manager = Manager(handle);
        let mut out = Vec::new();
        // u64 elements keep the buffer aligned for the structures written into it.
        let mut buffer = vec![0u64; 8 << 10];
        let mut resume = 0u32;
        loop {
            let (mut needed, mut returned) = (0u32, 0u32);
            let bytes = (buffer.len() * 8) as u32;
            // SAFETY: the buffer holds `bytes` bytes; the outputs are live locals.
            let ok = unsafe {
                EnumServicesStatusExW(
                    manager.0,
                    SC_ENUM_PROCESS_INFO,
                    SERVICE_WIN32,
                    SERVICE_STATE_ALL,
                    buffer.as_mut_ptr().cast(),
                    bytes,
                    &mut needed,
                    &mut returned,
                    &mut resume,
                    null(),
                )
            };
            // SAFETY: reads the calling thread's last error.
            let more = ok == 0 && unsafe { GetLastError() } == ERROR_MORE_DATA;
            if ok == 0 && !more {
                // SAFETY: as above.
                return Err(format!("cannot list services (Windows error {})", unsafe {
                    GetLastError()
                }));
            }
            let entries = buffer.as_ptr().cast::<ENUM_SERVICE_STATUS_PROCESSW>();
            for i in 0..returned as usize {
                // SAFETY: the call wrote `returned` entries at the start of the buffer, and
                // their name pointers into the rest of it.
                let entry = unsafe { &*entries.add(i) };
                out.push(ServiceStatus {
                    name: unsafe { wide_to_string(entry.lpServiceName) },
                    state: match entry.ServiceStatusProcess.dwCurrentState {
                        SERVICE_RUNNING => State::Running,
                        SERVICE_START_PENDING => State::StartPending,
                        SERVICE_STOP_PENDING => State::StopPending,
                        SERVICE_CONTINUE_PENDING => State::ContinuePending,
                        SERVICE_PAUSE_PENDING => State::PausePending,
                        SERVICE_PAUSED => State::Paused,
                        _ => State::Stopped,
                    },
                });
            }
            if !more {
                return Ok(out);
            }
            if returned == 0 {
                buffer.resize((needed as usize).div_ceil(8).max(buffer.len() * 2), 0);
            }
        }
    }

    /// # Safety
    /// `text` is null or points to a NUL-terminated UTF-16 string.
    unsafe fn wide_to_string(text: *const u16) -> String {
        if text.is_null() {
            return String::new();
        }
        let mut len = 0;
        // SAFETY: the string is NUL-terminated, per the contract above.
        while unsafe { *text.add(len) } != 0 {
            len += 1;
        }
        // SAFETY: `len` units were just read.
        String::from_utf16_lossy(unsafe { std::slice::from_raw_parts(text, len) })
    }
}
