//! The live registry through the Windows API (read-only: `KEY_READ`).

use std::ptr::null_mut;

use windows_sys::Win32::Foundation::{
    ERROR_ACCESS_DENIED, ERROR_FILE_NOT_FOUND, ERROR_MORE_DATA, ERROR_NO_MORE_ITEMS, ERROR_SUCCESS, FILETIME,
    WIN32_ERROR,
};
use windows_sys::Win32::System::Registry::{
    HKEY, HKEY_CLASSES_ROOT, HKEY_CURRENT_CONFIG, HKEY_CURRENT_USER, HKEY_LOCAL_MACHINE, HKEY_USERS, KEY_READ,
    KEY_WOW64_32KEY, KEY_WOW64_64KEY, RegCloseKey, RegEnumKeyExW, RegEnumValueW, RegOpenKeyExW, RegQueryInfoKeyW,
};

use super::{Backend, BackendError, RawKey, RawValue, View};

pub struct WindowsRegistry;

/// An open key, closed when dropped.
struct OpenKey(HKEY);

impl Drop for OpenKey {
    fn drop(&mut self) {
        // SAFETY: the handle came from RegOpenKeyExW and is closed once.
        unsafe { RegCloseKey(self.0) };
    }
}

impl Backend for WindowsRegistry {
    fn read(&self, path: &str, view: View) -> Result<RawKey, BackendError> {
        let (root, rest) = split_root(path).ok_or(BackendError::NotFound)?;
        let access = KEY_READ
            | match view {
                View::Native => KEY_WOW64_64KEY,
                View::Wow64 => KEY_WOW64_32KEY,
            };
        let subkey = wide(rest);
        let mut handle: HKEY = null_mut();
        // SAFETY: `subkey` is NUL-terminated and outlives the call; `handle` is written by it.
        check(unsafe { RegOpenKeyExW(root, subkey.as_ptr(), 0, access, &mut handle) })?;
        let key = OpenKey(handle);
        read_open(&key)
    }
}

/// A normalized key path's predefined root, and the rest.
pub(crate) fn split_root(path: &str) -> Option<(HKEY, &str)> {
    let (root, rest) = path.split_once('\\').unwrap_or((path, ""));
    let root = match root {
        "HKEY_LOCAL_MACHINE" => HKEY_LOCAL_MACHINE,
        "HKEY_USERS" => HKEY_USERS,
        "HKEY_CURRENT_USER" => HKEY_CURRENT_USER,
        "HKEY_CLASSES_ROOT" => HKEY_CLASSES_ROOT,
        "HKEY_CURRENT_CONFIG" => HKEY_CURRENT_CONFIG,
        _ => return None,
    };
    Some((root, rest))
}

fn read_open(key: &OpenKey) -> Result<RawKey, BackendError> {
    let (mut subkeys, mut max_subkey, mut values, mut max_name, mut max_data) = (0u32, 0u32, 0u32, 0u32, 0u32);
    let mut written = FILETIME {
        dwLowDateTime: 0,
        dwHighDateTime: 0,
    };
    // SAFETY: every out-pointer is a live local; unused ones are null, as the API allows.
    check(unsafe {
        RegQueryInfoKeyW(
            key.0,
            null_mut(),
            null_mut(),
            null_mut(),
            &mut subkeys,
            &mut max_subkey,
            null_mut(),
            &mut values,
            &mut max_name,
            &mut max_data,
            null_mut(),
            &mut written,
        )
    })?;
    let mut raw = RawKey {
        last_write: Some(u64::from(written.dwLowDateTime) | (u64::from(written.dwHighDateTime) << 32)),
        subkeys: Vec::with_capacity(subkeys as usize),
        values: Vec::with_capacity(values as usize),
    };
    let mut name = vec![0u16; max_subkey.max(max_name) as usize + 1];
    for index in 0.. {
        let mut len = name.len() as u32;
        // SAFETY: `name` holds `len` UTF-16 units; the optional outputs are null.
        let status = unsafe {
            RegEnumKeyExW(
                key.0,
                index,
                name.as_mut_ptr(),
                &mut len,
                null_mut(),
                null_mut(),
                null_mut(),
                null_mut(),
            )
        };
        match status {
            ERROR_NO_MORE_ITEMS => break,
            // A longer name appeared since the count: make room and ask again.
            ERROR_MORE_DATA => {
                name.resize(name.len() * 2 + 256, 0);
                continue;
            }
            status => check(status)?,
        }
        raw.subkeys.push(String::from_utf16_lossy(&name[..len as usize]));
    }
    let mut data = vec![0u8; max_data as usize];
    let mut index = 0;
    loop {
        let (mut name_len, mut data_len, mut value_type) = (name.len() as u32, data.len() as u32, 0u32);
        // SAFETY: the buffers hold the lengths passed with them.
        let status = unsafe {
            RegEnumValueW(
                key.0,
                index,
                name.as_mut_ptr(),
                &mut name_len,
                null_mut(),
                &mut value_type,
                data.as_mut_ptr(),
                &mut data_len,
            )
        };
        match status {
            ERROR_NO_MORE_ITEMS => break,
            ERROR_MORE_DATA => {
                // Either buffer may be short (values change while we read).
                name.resize(name.len() * 2 + 256, 0);
                data.resize((data_len as usize).max(data.len() * 2 + 256), 0);
                continue;
            }
            status => check(status)?,
        }
        raw.values.push(RawValue {
            name: String::from_utf16_lossy(&name[..name_len as usize]),
            value_type,
            data: data[..data_len as usize].to_vec(),
        });
        index += 1;
    }
    Ok(raw)
}

fn check(status: WIN32_ERROR) -> Result<(), BackendError> {
    match status {
        ERROR_SUCCESS => Ok(()),
        ERROR_FILE_NOT_FOUND => Err(BackendError::NotFound),
        ERROR_ACCESS_DENIED => Err(BackendError::Denied("access is denied".into())),
        other => Err(BackendError::Io(format!("Windows error {other}"))),
    }
}

/// NUL-terminated UTF-16.
pub(crate) fn wide(text: &str) -> Vec<u16> {
    text.encode_utf16().chain([0]).collect()
}
