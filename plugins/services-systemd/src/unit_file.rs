//! systemd's unit file syntax: `[Section]` headers, `Key=Value` lines,
//! `#`/`;` comments, a trailing backslash continuing a line. Later
//! assignments add to earlier ones; an empty assignment resets a list.

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct UnitFile {
    /// `(section, key, value)` in file order.
    entries: Vec<(String, String, String)>,
}

impl UnitFile {
    pub fn parse(text: &str) -> UnitFile {
        let mut entries = Vec::new();
        let mut section = String::new();
        let mut pending: Option<String> = None;
        for raw in text.lines() {
            let line = match pending.take() {
                Some(mut joined) => {
                    joined.push(' ');
                    joined.push_str(raw.trim());
                    joined
                }
                None => raw.trim().to_string(),
            };
            if let Some(stripped) = line.strip_suffix('\\') {
                pending = Some(stripped.trim_end().to_string());
                continue;
            }
            if line.is_empty() || line.starts_with(['#', ';']) {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = name.trim().to_string();
                continue;
            }
            if let Some((key, value)) = line.split_once('=') {
                entries.push((section.clone(), key.trim().to_string(), value.trim().to_string()));
            }
        }
        UnitFile { entries }
    }

    /// Appends another file's entries (a drop-in), which come after.
    pub fn extend(&mut self, other: UnitFile) {
        self.entries.extend(other.entries);
    }

    /// The last value of a single-valued key.
    pub fn value(&self, section: &str, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .rev()
            .find(|(s, k, _)| s == section && k == key)
            .map(|(_, _, v)| v.as_str())
    }

    /// The assignments of a repeatable key, as they stand after resets.
    pub fn values(&self, section: &str, key: &str) -> Vec<&str> {
        let mut values = Vec::new();
        for (_, _, v) in self.entries.iter().filter(|(s, k, _)| s == section && k == key) {
            if v.is_empty() {
                values.clear();
            } else {
                values.push(v.as_str());
            }
        }
        values
    }

    /// The space-separated words of a list key (`WantedBy=a b`).
    pub fn words(&self, section: &str, key: &str) -> Vec<String> {
        self.values(section, key)
            .into_iter()
            .flat_map(|v| v.split_whitespace())
            .map(str::to_string)
            .collect()
    }
}

/// The command of the first `ExecStart=`, without systemd's prefix flags
/// (`-`, `@`, `+`, `!`, `:`).
pub fn exec_start(unit: &UnitFile) -> String {
    unit.values("Service", "ExecStart")
        .first()
        .map(|v| v.trim_start_matches(['-', '@', '+', '!', ':']).trim().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SSH: &str = "\
# comment
[Unit]
Description=OpenBSD Secure Shell server
After=network.target auditd.service

[Service]
EnvironmentFile=-/etc/default/ssh
ExecStartPre=/usr/sbin/sshd -t
ExecStart=/usr/sbin/sshd -D $SSHD_OPTS
ExecReload=/bin/kill -HUP $MAINPID

[Install]
WantedBy=multi-user.target
Alias=sshd.service
";

    #[test]
    fn sections_keys_and_lists() {
        let unit = UnitFile::parse(SSH);
        assert_eq!(unit.value("Unit", "Description"), Some("OpenBSD Secure Shell server"));
        assert_eq!(unit.words("Install", "WantedBy"), ["multi-user.target"]);
        assert_eq!(unit.words("Install", "Alias"), ["sshd.service"]);
        assert_eq!(exec_start(&unit), "/usr/sbin/sshd -D $SSHD_OPTS");
        assert_eq!(unit.value("Service", "Description"), None);
    }

    #[test]
    fn continuations_comments_and_resets() {
        let unit = UnitFile::parse(
            "[Service]\n; note\nExecStart=-/bin/a \\\n  --flag\nExecStart=\nExecStart=@/bin/b x\n[Install]\nWantedBy=a.target\nWantedBy=b.target c.target\n",
        );
        assert_eq!(exec_start(&unit), "/bin/b x");
        assert_eq!(unit.words("Install", "WantedBy"), ["a.target", "b.target", "c.target"]);
        let joined = UnitFile::parse("[Service]\nExecStart=/bin/a \\\n --flag\n");
        assert_eq!(exec_start(&joined), "/bin/a --flag");
    }

    #[test]
    fn drop_ins_come_after() {
        let mut unit = UnitFile::parse(SSH);
        unit.extend(UnitFile::parse(
            "[Unit]\nDescription=Patched\n[Service]\nExecStart=\nExecStart=/opt/sshd\n",
        ));
        assert_eq!(unit.value("Unit", "Description"), Some("Patched"));
        assert_eq!(exec_start(&unit), "/opt/sshd");
    }

    #[test]
    fn garbage_does_not_panic() {
        let unit = UnitFile::parse("\u{0}\u{1}[[[\n=\n==x\n[Install\nWantedBy\\");
        assert!(unit.words("Install", "WantedBy").is_empty());
    }
}
