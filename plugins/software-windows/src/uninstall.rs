//! One `Uninstall` entry as a `Software` record.

use driftwatch_sdk::registry::{Key, RegistryError, Value};
use driftwatch_sdk::{Package, SoftwareType, Timestamp};

/// Where an entry was found: that decides its architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The machine's native view: x64 on 64-bit Windows, x86 on 32-bit.
    Machine { x64: bool },
    /// `WOW6432Node`: 32-bit programs on 64-bit Windows.
    Wow64,
    /// A user's hive: no view tells the architecture.
    User,
}

/// `ReleaseType`s of updates rather than programs.
const UPDATE_RELEASE_TYPES: &[&str] = &["Update", "Hotfix", "Security Update", "Service Pack", "Update Rollup"];

/// The program an entry describes, as "Programs and Features" would show it;
/// `None` for what it hides: entries without a `DisplayName` and system
/// components. Updates (`ParentKeyName`, or an update `ReleaseType`) are kept
/// as `SoftwareType = Update`.
pub fn program(entry: &Key, source: Source) -> Result<Option<Package>, RegistryError> {
    let values = entry.values()?;
    let get = |name: &str| values.iter().find(|v| v.name.eq_ignore_ascii_case(name));
    let text = |name: &str| {
        get(name)
            .and_then(Value::as_string)
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    let name = text("DisplayName");
    if name.is_empty() || get("SystemComponent").and_then(Value::as_number) == Some(1) {
        return Ok(None);
    }
    let release_type = text("ReleaseType");
    let is_update = !text("ParentKeyName").is_empty()
        || UPDATE_RELEASE_TYPES
            .iter()
            .any(|t| t.eq_ignore_ascii_case(&release_type));
    Ok(Some(Package {
        architecture: match source {
            Source::Machine { x64: true } => "x64",
            Source::Machine { x64: false } | Source::Wow64 => "x86",
            Source::User => "",
        }
        .into(),
        publisher: text("Publisher"),
        description: text("Comments"),
        software_type: if is_update {
            SoftwareType::Update
        } else {
            SoftwareType::Application
        },
        install_date: install_date(&text("InstallDate")),
        ..Package::new(name, text("DisplayVersion"))
    }))
}

/// `InstallDate` as installers write it, `YYYYMMDD` (midnight UTC); other
/// forms are left out rather than guessed.
pub fn install_date(text: &str) -> Option<Timestamp> {
    if text.len() != 8 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (year, month, day) = (
        text[..4].parse::<i64>().ok()?,
        text[4..6].parse::<i64>().ok()?,
        text[6..].parse::<i64>().ok()?,
    );
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || year < 1980 {
        return None;
    }
    Some(Timestamp {
        seconds: days_from_civil(year, month, day) * 86_400,
        nanoseconds: 0,
    })
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}
