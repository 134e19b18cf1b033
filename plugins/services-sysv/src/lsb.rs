//! LSB headers of init scripts: the `### BEGIN INIT INFO` block.

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LsbHeader {
    pub provides: Vec<String>,
    pub short_description: String,
    pub description: String,
    /// `Default-Start`: the runlevels the script says it should start in.
    pub default_start: Vec<String>,
}

/// The header of a script, if it has one. Lines are `# Key: value`;
/// a line starting with `#` and a tab or two spaces continues the previous
/// key (used by `Description`).
pub fn parse(script: &str) -> Option<LsbHeader> {
    let mut in_block = false;
    let mut header = LsbHeader::default();
    let mut last_key = String::new();
    for line in script.lines() {
        let trimmed = line.trim();
        if trimmed == "### BEGIN INIT INFO" {
            in_block = true;
            continue;
        }
        if trimmed == "### END INIT INFO" {
            return in_block.then_some(header);
        }
        if !in_block {
            continue;
        }
        let Some(body) = line.strip_prefix('#') else { continue };
        if (body.starts_with('\t') || body.starts_with("  ")) && last_key == "Description" {
            if !header.description.is_empty() {
                header.description.push(' ');
            }
            header.description.push_str(body.trim());
            continue;
        }
        let Some((key, value)) = body.split_once(':') else {
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        last_key = key.to_string();
        match key {
            "Provides" => header.provides = words(value),
            "Short-Description" => header.short_description = value.to_string(),
            "Description" => header.description = value.to_string(),
            "Default-Start" => header.default_start = words(value),
            _ => {}
        }
    }
    None
}

fn words(value: &str) -> Vec<String> {
    value.split_whitespace().map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SSHD: &str = "#! /bin/sh\n### BEGIN INIT INFO\n# Provides:             sshd\n# Required-Start:       $remote_fs $syslog $networking\n# Default-Start:        2 3 4 5\n# Default-Stop:         1\n# Short-Description:    OpenBSD Secure Shell server\n# Description:          The secure shell daemon.\n#\tIt listens on port 22.\n### END INIT INFO\nset -e\n";

    #[test]
    fn reads_the_block() {
        let h = parse(SSHD).unwrap();
        assert_eq!(h.provides, ["sshd"]);
        assert_eq!(h.default_start, ["2", "3", "4", "5"]);
        assert_eq!(h.short_description, "OpenBSD Secure Shell server");
        assert_eq!(h.description, "The secure shell daemon. It listens on port 22.");
    }

    #[test]
    fn no_block_or_an_unclosed_one_is_none() {
        assert_eq!(parse("#!/bin/sh\necho hi\n"), None);
        assert_eq!(parse("### BEGIN INIT INFO\n# Provides: x\n"), None);
        for end in 0..SSHD.len() {
            let _ = parse(&SSHD[..end]);
        }
    }
}
