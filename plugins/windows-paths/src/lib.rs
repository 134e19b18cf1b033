//! Windows path syntax that both sides of the sandbox need, written once:
//! registry key paths (`HKLM\Software\X` → `HKEY_LOCAL_MACHINE\Software\X`)
//! and `%VAR%` expansion. No dependencies, so that the host and the
//! WebAssembly plugins link the same code.

pub mod env_vars;
pub mod registry_key;
