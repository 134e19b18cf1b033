//! Tracked paths as Azure writes them: a folder and, in the last segment only,
//! an optional wildcard pattern (`/etc/*.conf`).

/// Splits a tracked path into what to walk and the name pattern, if any.
pub fn split(path: &str) -> (String, Option<String>) {
    match path.rfind('/') {
        Some(i) if path[i + 1..].contains(['*', '?']) => {
            let dir = if i == 0 { "/" } else { &path[..i] };
            (dir.to_string(), Some(path[i + 1..].to_string()))
        }
        _ => (path.to_string(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_are_split_off_the_last_segment() {
        assert_eq!(split("/etc/*.conf"), ("/etc".into(), Some("*.conf".into())));
        assert_eq!(split("/*"), ("/".into(), Some("*".into())));
        assert_eq!(split("/etc/hosts"), ("/etc/hosts".into(), None));
        assert_eq!(split("/var/log/"), ("/var/log/".into(), None));
        assert_eq!(
            split("/etc/ssh/ssh?_config"),
            ("/etc/ssh".into(), Some("ssh?_config".into()))
        );
    }
}
