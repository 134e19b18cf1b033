//! Facts about the machine or offline image being collected.

pub use crate::bindings::machine::MachineFacts;

/// Asks the host which system this collection is for.
pub fn machine() -> MachineFacts {
    #[cfg(target_arch = "wasm32")]
    {
        crate::bindings::machine::facts()
    }
    // Natively (unit tests) there is no host: describe the test machine.
    #[cfg(not(target_arch = "wasm32"))]
    {
        use crate::OsFamily;
        MachineFacts {
            os: if cfg!(windows) {
                OsFamily::Windows
            } else {
                OsFamily::Linux
            },
            hostname: "localhost".into(),
            live: true,
            architecture: std::env::consts::ARCH.into(),
        }
    }
}
