//! A reader for apk's installed database (`/lib/apk/db/installed`): one
//! stanza per package, `K:value` lines with single-letter keys, stanzas
//! separated by blank lines. `P` is the name, `V` the version, `A` the
//! architecture, `T` the description, `m` the maintainer.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApkPackage {
    pub name: String,
    pub version: String,
    pub architecture: String,
    pub description: String,
    pub maintainer: String,
}

/// A stanza that was skipped, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub subject: String,
    pub reason: String,
}

#[derive(Debug, Default)]
pub struct Installed {
    pub packages: Vec<ApkPackage>,
    pub skipped: Vec<Skipped>,
}

/// The file is not an apk database at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotADatabase {
    pub line: usize,
    pub reason: String,
}

/// Parses the database text; stanzas missing a name or version, or holding a
/// line that is not `K:value`, are skipped and listed.
pub fn parse(text: &str) -> Result<Installed, NotADatabase> {
    let mut out = Installed::default();
    let mut readable_stanzas = 0;
    let mut first_error = None;
    let mut lines = text.lines().enumerate().peekable();
    loop {
        while lines.next_if(|(_, l)| l.trim().is_empty()).is_some() {}
        let Some(&(start, _)) = lines.peek() else { break };
        let mut fields: Vec<(char, &str)> = Vec::new();
        let mut broken = None;
        while let Some((number, line)) = lines.next_if(|(_, l)| !l.trim().is_empty()) {
            match field(line) {
                Some(f) => fields.push(f),
                None => {
                    broken.get_or_insert((
                        number + 1,
                        format!("line {} is not `K:value`: {:?}", number + 1, clip(line)),
                    ));
                }
            }
        }
        let get = |key: char| fields.iter().find(|(k, _)| *k == key).map(|(_, v)| v.trim());
        let subject = match get('P') {
            Some(name) if !name.is_empty() => format!("package {name} (line {})", start + 1),
            _ => format!("stanza at line {}", start + 1),
        };
        if let Some((line, reason)) = broken {
            first_error.get_or_insert(NotADatabase {
                line,
                reason: reason.clone(),
            });
            out.skipped.push(Skipped { subject, reason });
            continue;
        }
        readable_stanzas += 1;
        match (get('P'), get('V')) {
            (Some(name), Some(version)) if !name.is_empty() && !version.is_empty() => out.packages.push(ApkPackage {
                name: name.to_string(),
                version: version.to_string(),
                architecture: get('A').unwrap_or_default().to_string(),
                description: get('T').unwrap_or_default().to_string(),
                maintainer: get('m').unwrap_or_default().to_string(),
            }),
            (Some(name), _) if !name.is_empty() => out.skipped.push(Skipped {
                subject,
                reason: "no version (V:)".into(),
            }),
            _ => out.skipped.push(Skipped {
                subject,
                reason: "no package name (P:)".into(),
            }),
        }
    }
    match first_error {
        Some(error) if readable_stanzas == 0 => Err(error),
        _ => Ok(out),
    }
}

/// `K:value` with a single ASCII letter or digit as key.
fn field(line: &str) -> Option<(char, &str)> {
    let mut chars = line.chars();
    let key = chars.next()?;
    (key.is_ascii_alphanumeric() && chars.next() == Some(':')).then(|| (key, &line[2..]))
}

fn clip(line: &str) -> String {
    line.chars().take(60).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: &str = "C:Q1zwvKMnYs1b6ZdPTBJ0Z7D5P3jyA=\nP:musl\nV:1.2.4-r1\nA:x86_64\nS:383152\nT:the musl c library (libc) implementation\nm:Timo Teräs <timo.teras@iki.fi>\nF:lib\nR:libc.musl-x86_64.so.1\na:0:0:777\nZ:Q1bNr4g1bBK+ufZUmnaLakbp5ryJE=\n\nP:busybox\nV:1.36.1-r2\nA:x86_64\nT:Size optimized toolbox\n";

    #[test]
    fn reads_packages_and_their_fields() {
        let db = parse(TWO).unwrap();
        assert_eq!(db.packages.len(), 2);
        let musl = &db.packages[0];
        assert_eq!(
            (musl.name.as_str(), musl.version.as_str(), musl.architecture.as_str()),
            ("musl", "1.2.4-r1", "x86_64")
        );
        assert_eq!(musl.maintainer, "Timo Teräs <timo.teras@iki.fi>");
        assert_eq!(musl.description, "the musl c library (libc) implementation");
        assert_eq!(db.packages[1].maintainer, "");
    }

    #[test]
    fn a_stanza_without_a_version_is_skipped_with_a_reason() {
        let db = parse("P:nover\n\nP:ok\nV:1\n\n\n").unwrap();
        assert_eq!(db.packages.len(), 1);
        assert_eq!(
            db.skipped,
            [Skipped {
                subject: "package nover (line 1)".into(),
                reason: "no version (V:)".into()
            }]
        );
        let db = parse("V:1\nA:x86_64\n").unwrap();
        assert_eq!(db.skipped[0].reason, "no package name (P:)");
    }

    #[test]
    fn broken_lines_skip_their_stanza_only() {
        let db = parse("P:a\nV:1\nthis is junk\n\nP:b\nV:2\n").unwrap();
        assert_eq!(db.packages.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["b"]);
        assert!(
            db.skipped[0].reason.starts_with("line 3 is not `K:value`"),
            "{:?}",
            db.skipped
        );
    }

    #[test]
    fn garbage_is_a_clear_error_and_empty_is_empty() {
        let err = parse("\u{0}\u{1}binary junk\nmore\n").unwrap_err();
        assert_eq!(err.line, 1);
        assert!(parse("").unwrap().packages.is_empty());
        assert!(parse("\n\n").unwrap().skipped.is_empty());
    }

    #[test]
    fn truncation_never_panics() {
        for end in 0..TWO.len() {
            if TWO.is_char_boundary(end) {
                let _ = parse(&TWO[..end]);
            }
        }
    }
}
