//! A reader for pacman's `desc` files (`/var/lib/pacman/local/<pkg>/desc`):
//! sections headed `%NAME%`, one value per line, sections separated by blank
//! lines.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacmanPackage {
    pub name: String,
    pub version: String,
    pub architecture: String,
    pub description: String,
    pub packager: String,
    /// `%INSTALLDATE%`, seconds since the epoch.
    pub install_date: Option<i64>,
}

/// Why a `desc` file was not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected(pub String);

/// Parses one `desc` file.
pub fn parse(text: &str) -> Result<PacmanPackage, Rejected> {
    let sections = sections(text)?;
    let get = |name: &str| {
        sections
            .iter()
            .find(|(header, _)| *header == name)
            .and_then(|(_, values)| values.first())
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let name = get("NAME").ok_or_else(|| Rejected("no %NAME%".into()))?;
    let version = get("VERSION").ok_or_else(|| Rejected(format!("package {name} has no %VERSION%")))?;
    Ok(PacmanPackage {
        name,
        version,
        architecture: get("ARCH").unwrap_or_default(),
        description: get("DESC").unwrap_or_default(),
        packager: get("PACKAGER").unwrap_or_default(),
        install_date: get("INSTALLDATE").and_then(|d| d.parse().ok()),
    })
}

/// `(header, values)` pairs. A section must start with a well-formed
/// `%HEADER%` line; anything else where a header belongs is a broken file.
fn sections(text: &str) -> Result<Vec<(&str, Vec<&str>)>, Rejected> {
    let mut sections: Vec<(&str, Vec<&str>)> = Vec::new();
    let mut in_section = false;
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            in_section = false;
            continue;
        }
        if in_section {
            if let Some((_, values)) = sections.last_mut() {
                values.push(line);
            }
            continue;
        }
        let header = line
            .strip_prefix('%')
            .and_then(|rest| rest.strip_suffix('%'))
            .filter(|h| {
                !h.is_empty()
                    && h.chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            })
            .ok_or_else(|| {
                Rejected(format!(
                    "broken section header at line {}: {:?}",
                    number + 1,
                    clip(line)
                ))
            })?;
        sections.push((header, Vec::new()));
        in_section = true;
    }
    Ok(sections)
}

fn clip(line: &str) -> String {
    line.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMACS: &str = "%NAME%\nemacs\n\n%VERSION%\n29.3-3\n\n%BASE%\nemacs\n\n%DESC%\nThe extensible editor\n\n%ARCH%\nx86_64\n\n%INSTALLDATE%\n1715026363\n\n%PACKAGER%\nFrederik Schwan <freswa@archlinux.org>\n\n%DEPENDS%\ngmp\ngnutls\n\n";

    #[test]
    fn reads_a_desc_file() {
        let p = parse(EMACS).unwrap();
        assert_eq!(
            (p.name.as_str(), p.version.as_str(), p.architecture.as_str()),
            ("emacs", "29.3-3", "x86_64")
        );
        assert_eq!(p.packager, "Frederik Schwan <freswa@archlinux.org>");
        assert_eq!(p.description, "The extensible editor");
        assert_eq!(p.install_date, Some(1715026363));
    }

    #[test]
    fn missing_base_or_arch_is_fine() {
        let p = parse("%NAME%\nfuzzy\n\n%VERSION%\n1.2-3\n\n%DEPENDS%\ntree-sitter\n").unwrap();
        assert_eq!((p.name.as_str(), p.architecture.as_str()), ("fuzzy", ""));
    }

    #[test]
    fn broken_headers_and_missing_fields_are_rejected() {
        let broken = parse("%NME%\ntree-sitter\n\n%VER.6-1\n\n%DESC%\nx\n").unwrap_err();
        assert_eq!(broken, Rejected("broken section header at line 4: \"%VER.6-1\"".into()));
        assert_eq!(parse("%VERSION%\n1\n").unwrap_err(), Rejected("no %NAME%".into()));
        assert_eq!(
            parse("%NAME%\nx\n").unwrap_err(),
            Rejected("package x has no %VERSION%".into())
        );
        assert!(parse("").is_err());
        assert!(parse("\u{0}garbage").is_err());
    }

    #[test]
    fn truncation_never_panics() {
        for end in 0..EMACS.len() {
            let _ = parse(&EMACS[..end]);
        }
    }
}
