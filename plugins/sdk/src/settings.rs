//! Helpers for the settings the manifest passes to `collect`.

use crate::Setting;

/// The value of a plugin-specific option from the manifest's `options` table.
pub fn option<'a>(options: &'a [Setting], key: &str) -> Option<&'a str> {
    options
        .iter()
        .find(|setting| setting.key == key)
        .map(|setting| setting.value.as_str())
}
