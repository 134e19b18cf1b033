//! A reader for dpkg's status database (`status`, and the one-stanza-per-file
//! `status.d/` that minimal images use).
//!
//! The format is deb822: stanzas of `Field: value` lines separated by blank
//! lines; a line starting with a space or tab continues the previous field.
//! Field names are case-insensitive. `Status` holds three words: what is
//! wanted, an error flag, and the package's state.

/// One package as the status database records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpkgPackage {
    pub name: String,
    pub version: String,
    pub architecture: String,
    pub maintainer: String,
    /// The first line of `Description`.
    pub synopsis: String,
    /// dpkg's state word: `installed`, `half-installed`, `unpacked`, ...
    pub state: String,
    /// The `reinstreq` error flag: dpkg wants the package reinstalled.
    pub reinstall_required: bool,
}

/// A stanza that was skipped, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Where: `status, stanza 12 (line 340)`, with the package name when known.
    pub subject: String,
    pub reason: String,
}

/// Everything read from one status file.
#[derive(Debug, Default)]
pub struct StatusFile {
    /// Packages present on the system, fully or partly installed.
    pub packages: Vec<DpkgPackage>,
    /// Stanzas for packages that are not installed (`not-installed`,
    /// `config-files`): known to dpkg, absent from the inventory.
    pub not_installed: usize,
    pub skipped: Vec<Skipped>,
}

/// The file is not a status database at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAStatusFile {
    pub line: usize,
    pub reason: String,
}

/// States in which a package's files are (at least partly) on the system.
const PRESENT_STATES: [&str; 6] = [
    "installed",
    "half-installed",
    "unpacked",
    "half-configured",
    "triggers-awaited",
    "triggers-pending",
];
/// States in which only dpkg's record (or the package's config files) remain.
const ABSENT_STATES: [&str; 2] = ["not-installed", "config-files"];

/// How to treat a stanza without a `Status` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingStatus {
    /// In `status`, every stanza must have one: skip it with a warning.
    Skip,
    /// In `status.d/`, a stanza is an installed package's control file.
    Installed,
}

/// Parses the text of a status file. `source` names it in warnings.
///
/// Fails only when no line of the input looks like deb822; otherwise damaged
/// stanzas are skipped and listed, and the rest is read.
pub fn parse(text: &str, source: &str, missing_status: MissingStatus) -> Result<StatusFile, NotAStatusFile> {
    let mut out = StatusFile::default();
    let mut any_stanza_readable = false;
    let mut first_error = None;
    for (index, stanza) in stanzas(text).enumerate() {
        let location = format!("{source}, stanza {} (line {})", index + 1, stanza.first_line);
        let fields = match stanza.fields() {
            Ok(fields) => fields,
            Err((line, reason)) => {
                first_error.get_or_insert_with(|| NotAStatusFile {
                    line,
                    reason: reason.clone(),
                });
                out.skipped.push(Skipped {
                    subject: location,
                    reason,
                });
                continue;
            }
        };
        any_stanza_readable = true;
        match package_from(&fields, missing_status) {
            Ok(Some(package)) => out.packages.push(package),
            Ok(None) => out.not_installed += 1,
            Err(reason) => {
                let subject = match field(&fields, "Package") {
                    Some(name) => format!("{location}, package {name}"),
                    None => location,
                };
                out.skipped.push(Skipped { subject, reason });
            }
        }
    }
    match first_error {
        Some(error) if !any_stanza_readable => Err(error),
        _ => Ok(out),
    }
}

fn package_from(fields: &[(&str, String)], missing_status: MissingStatus) -> Result<Option<DpkgPackage>, String> {
    let name = field(fields, "Package").ok_or("no Package field")?;
    if name.is_empty() || name.contains(char::is_whitespace) {
        return Err(format!("invalid package name {name:?}"));
    }
    let (state, reinstall_required) = match field(fields, "Status") {
        Some(status) => parse_status(status)?,
        None if missing_status == MissingStatus::Installed => ("installed".to_string(), false),
        None => return Err("no Status field".into()),
    };
    if ABSENT_STATES.contains(&state.as_str()) {
        return Ok(None);
    }
    let version = field(fields, "Version").unwrap_or_default();
    if version.is_empty() {
        return Err(format!("package {name} is {state} but has no Version"));
    }
    Ok(Some(DpkgPackage {
        name: name.to_string(),
        version: version.to_string(),
        architecture: field(fields, "Architecture").unwrap_or_default().to_string(),
        maintainer: field(fields, "Maintainer").unwrap_or_default().to_string(),
        synopsis: field(fields, "Description")
            .and_then(|d| d.lines().next())
            .unwrap_or_default()
            .trim()
            .to_string(),
        state,
        reinstall_required,
    }))
}

/// `install ok installed` → (`installed`, false). The state must be one dpkg knows.
fn parse_status(status: &str) -> Result<(String, bool), String> {
    let words: Vec<&str> = status.split_whitespace().collect();
    let [_want, flag, state] = words[..] else {
        return Err(format!("Status {status:?} does not have three words"));
    };
    if !PRESENT_STATES.contains(&state) && !ABSENT_STATES.contains(&state) {
        return Err(format!("unknown package state {state:?} in Status {status:?}"));
    }
    Ok((state.to_string(), flag == "reinstreq"))
}

/// The value of a field, matched case-insensitively.
fn field<'a>(fields: &'a [(&str, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

struct Stanza<'a> {
    first_line: usize,
    lines: Vec<&'a str>,
}

impl<'a> Stanza<'a> {
    /// `(name, value)` pairs; continuation lines are joined to their field with
    /// newlines. An error names the line and why it cannot be read.
    fn fields(&self) -> Result<Vec<(&'a str, String)>, (usize, String)> {
        let mut fields: Vec<(&str, String)> = Vec::new();
        for (offset, line) in self.lines.iter().enumerate() {
            let number = self.first_line + offset;
            if line.starts_with([' ', '\t']) {
                let Some((_, value)) = fields.last_mut() else {
                    return Err((number, "continuation line before any field".into()));
                };
                value.push('\n');
                value.push_str(line.trim());
                continue;
            }
            let Some((name, value)) = line.split_once(':') else {
                return Err((
                    number,
                    format!("line {number} is neither `Field: value` nor a continuation"),
                ));
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_graphic()) {
                return Err((number, format!("line {number} has an invalid field name {name:?}")));
            }
            fields.push((name, value.trim().to_string()));
        }
        Ok(fields)
    }
}

/// Splits text into stanzas at blank (or whitespace-only) lines.
fn stanzas(text: &str) -> impl Iterator<Item = Stanza<'_>> {
    let mut lines = text.lines().enumerate().peekable();
    std::iter::from_fn(move || {
        while lines.next_if(|(_, l)| l.trim().is_empty()).is_some() {}
        let (first, line) = lines.next()?;
        let mut stanza = Stanza {
            first_line: first + 1,
            lines: vec![line],
        };
        while let Some((_, line)) = lines.next_if(|(_, l)| !l.trim().is_empty()) {
            stanza.lines.push(line);
        }
        Some(stanza)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_status_file(text: &str) -> StatusFile {
        parse(text, "status", MissingStatus::Skip).expect("parses")
    }

    const TWO: &str = "\
Package: adduser
Status: install ok installed
Priority: important
Architecture: all
Maintainer: Debian Adduser Developers <adduser@packages.debian.org>
Version: 3.134
Description: add and remove users and groups
 This package includes the 'adduser' and 'deluser' commands for creating
 and removing users.
 .
 Second paragraph.

Package: libc6
Status: install ok installed
Architecture: amd64
Multi-Arch: same
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Version: 2.36-9+deb12u10
Conffiles:
 /etc/ld.so.conf.d/x86_64-linux-gnu.conf d4e7a7b88a71b5ffd9e2644e71a0cfab
Description: GNU C Library: Shared libraries
";

    #[test]
    fn reads_several_stanzas_with_continuations() {
        let f = parse_status_file(TWO);
        assert_eq!(f.packages.len(), 2);
        let adduser = &f.packages[0];
        assert_eq!(adduser.name, "adduser");
        assert_eq!(adduser.version, "3.134");
        assert_eq!(adduser.architecture, "all");
        assert_eq!(
            adduser.maintainer,
            "Debian Adduser Developers <adduser@packages.debian.org>"
        );
        assert_eq!(adduser.synopsis, "add and remove users and groups");
        assert_eq!(adduser.state, "installed");
        let libc = &f.packages[1];
        assert_eq!(
            (libc.name.as_str(), libc.version.as_str(), libc.architecture.as_str()),
            ("libc6", "2.36-9+deb12u10", "amd64")
        );
        assert_eq!(libc.synopsis, "GNU C Library: Shared libraries");
        assert!(f.skipped.is_empty());
    }

    #[test]
    fn field_names_are_case_insensitive_and_whitespace_lines_separate() {
        let text = "package: a\nstatus: install ok installed\nversion: 1\n   \n\nPACKAGE: b\nSTATUS: install ok installed\nVERSION: 2\n";
        let f = parse_status_file(text);
        let names: Vec<_> = f
            .packages
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str()))
            .collect();
        assert_eq!(names, [("a", "1"), ("b", "2")]);
    }

    #[test]
    fn config_files_and_not_installed_are_left_out() {
        let text = "\
Package: oldpkg
Status: deinstall ok config-files
Version: 1.0
Architecture: amd64

Package: gone
Status: purge ok not-installed
Architecture: amd64

Package: here
Status: install ok installed
Version: 2.0
";
        let f = parse_status_file(text);
        assert_eq!(f.packages.len(), 1);
        assert_eq!(f.packages[0].name, "here");
        assert_eq!(f.not_installed, 2);
        assert!(f.skipped.is_empty());
    }

    #[test]
    fn partial_states_are_reported_as_they_are() {
        let text = "\
Package: broken
Status: install reinstreq half-installed
Version: 1.2
Architecture: amd64

Package: pending
Status: install ok triggers-pending
Version: 3
Architecture: amd64

Package: unpacked-only
Status: install ok unpacked
Version: 4
";
        let f = parse_status_file(text);
        let states: Vec<_> = f
            .packages
            .iter()
            .map(|p| (p.name.as_str(), p.state.as_str(), p.reinstall_required))
            .collect();
        assert_eq!(
            states,
            [
                ("broken", "half-installed", true),
                ("pending", "triggers-pending", false),
                ("unpacked-only", "unpacked", false)
            ]
        );
    }

    #[test]
    fn stanzas_missing_fields_are_skipped_with_reasons() {
        let text = "\
Status: install ok installed
Version: 1

Package: noversion
Status: install ok installed

Package: nostatus
Version: 1

Package: weird
Status: install ok exploded
Version: 1

Package: fine
Status: install ok installed
Version: 1
";
        let f = parse_status_file(text);
        assert_eq!(f.packages.len(), 1);
        assert_eq!(f.packages[0].name, "fine");
        let reasons: Vec<_> = f.skipped.iter().map(|s| s.reason.as_str()).collect();
        assert_eq!(reasons[0], "no Package field");
        assert_eq!(reasons[1], "package noversion is installed but has no Version");
        assert_eq!(reasons[2], "no Status field");
        assert!(reasons[3].starts_with("unknown package state \"exploded\""));
        assert_eq!(f.skipped[1].subject, "status, stanza 2 (line 4), package noversion");
    }

    #[test]
    fn a_broken_stanza_does_not_stop_the_rest() {
        let text = "Package: a\nStatus: install ok installed\nVersion: 1\n\nPackage: b\nthis line is junk\n\nPackage: c\nStatus: install ok installed\nVersion: 3\n";
        let f = parse_status_file(text);
        let names: Vec<_> = f.packages.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["a", "c"]);
        assert_eq!(f.skipped.len(), 1);
        assert!(f.skipped[0].reason.contains("line 6 is neither"), "{:?}", f.skipped);
    }

    #[test]
    fn garbage_is_a_clear_error() {
        let err = parse(
            "\u{7f}ELF\u{2}\u{1}\u{1} binary junk\nmore junk\n",
            "status",
            MissingStatus::Skip,
        )
        .unwrap_err();
        assert_eq!(err.line, 1);
        assert!(
            err.reason.contains("neither `Field: value` nor a continuation"),
            "{err:?}"
        );
        let err = parse(" leading continuation\n", "status", MissingStatus::Skip).unwrap_err();
        assert_eq!(err.reason, "continuation line before any field");
    }

    #[test]
    fn empty_input_is_an_empty_database() {
        let f = parse_status_file("");
        assert!(f.packages.is_empty() && f.skipped.is_empty());
        let f = parse_status_file("\n\n  \n");
        assert!(f.packages.is_empty());
    }

    #[test]
    fn status_d_stanzas_without_status_are_installed() {
        let text = "Package: tzdata\nVersion: 2024a-0+deb12u1\nArchitecture: all\n";
        let f = parse(text, "status.d/tzdata", MissingStatus::Installed).unwrap();
        assert_eq!(f.packages.len(), 1);
        assert_eq!(f.packages[0].state, "installed");
    }

    #[test]
    fn crlf_line_endings_are_accepted() {
        let f = parse_status_file("Package: a\r\nStatus: install ok installed\r\nVersion: 1.0\r\n\r\n");
        assert_eq!(f.packages[0].version, "1.0");
    }
}
