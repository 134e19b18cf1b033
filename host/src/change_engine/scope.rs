//! How much of a collector's inventory one run looks at. Decided once, before
//! the run (see `pipeline::scope`), carried to the change engine, and kept in
//! the run's record (`CollectorRun.Scope`).

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Everything is collected and compared.
    Full,
    /// Files collectors: files whose stat is what the last run saw are
    /// withheld and kept as stored; everything else is compared.
    Incremental,
    /// After file events: only these paths and what lies under them are
    /// looked at; the rest of the inventory stands as stored.
    Targeted(Vec<String>),
    /// After registry events: only the values these tracked-key rules read
    /// are looked at (the plugin is given just these rules); the rest of
    /// the inventory stands as stored.
    Keys(Vec<KeyScope>),
}

/// What one registry rule reads, as the contract defines a `key-rule`: the
/// values of its key, of one name or all, and of its subkeys down to a depth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyScope {
    /// The manifest rule's name.
    pub rule: String,
    /// The key, normalized (`HKEY_LOCAL_MACHINE\…`).
    pub key: String,
    /// Levels of subkeys read below the key (0: the key alone).
    pub depth: u32,
    /// The one value name read, when the rule names one.
    pub value: Option<String>,
}

impl KeyScope {
    /// Whether the rule reads the value `value_name` of `registry_key`
    /// (normalized). Registry names compare without regard to case.
    pub fn covers(&self, registry_key: &str, value_name: &str) -> bool {
        if self.value.as_ref().is_some_and(|v| !v.eq_ignore_ascii_case(value_name)) {
            return false;
        }
        let mut names = registry_key.split('\\');
        let same = |a: &str, b: &str| a == b || a.to_lowercase() == b.to_lowercase();
        if !self
            .key
            .split('\\')
            .all(|mine| names.next().is_some_and(|name| same(name, mine)))
        {
            return false;
        }
        names.count() as u64 <= u64::from(self.depth)
    }
}

impl Scope {
    /// The name runs are recorded and listed with.
    pub fn as_str(&self) -> &'static str {
        match self {
            Scope::Full => "full",
            Scope::Incremental => "incremental",
            Scope::Targeted(_) | Scope::Keys(_) => "targeted",
        }
    }

    /// The places a targeted run looks at (paths, or registry keys); none
    /// otherwise.
    pub fn places(&self) -> Vec<&str> {
        match self {
            Scope::Targeted(paths) => paths.iter().map(String::as_str).collect(),
            Scope::Keys(keys) => keys.iter().map(|k| k.key.as_str()).collect(),
            Scope::Full | Scope::Incremental => Vec::new(),
        }
    }

    pub fn is_full(&self) -> bool {
        matches!(self, Scope::Full)
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(key: &str, depth: u32, value: Option<&str>) -> KeyScope {
        KeyScope {
            rule: "r".into(),
            key: key.into(),
            depth,
            value: value.map(Into::into),
        }
    }

    #[test]
    fn a_key_rule_covers_its_key_and_subkeys_to_its_depth() {
        let run = rule(r"HKEY_LOCAL_MACHINE\SOFTWARE\Run", 1, None);
        assert!(run.covers(r"HKEY_LOCAL_MACHINE\SOFTWARE\Run", "x"));
        assert!(run.covers(r"hkey_local_machine\software\run", "x"));
        assert!(run.covers(r"HKEY_LOCAL_MACHINE\SOFTWARE\Run\A", ""));
        assert!(!run.covers(r"HKEY_LOCAL_MACHINE\SOFTWARE\Run\A\B", ""));
        assert!(!run.covers(r"HKEY_LOCAL_MACHINE\SOFTWARE\RunOnce", "x"));
        assert!(!run.covers(r"HKEY_LOCAL_MACHINE\SOFTWARE", "x"));
        let alone = rule(r"HKEY_LOCAL_MACHINE\SOFTWARE\Run", 0, None);
        assert!(!alone.covers(r"HKEY_LOCAL_MACHINE\SOFTWARE\Run\A", "x"));
    }

    #[test]
    fn a_rule_naming_a_value_covers_that_value_alone() {
        let one = rule(r"HKEY_LOCAL_MACHINE\SYSTEM\Select", 0, Some("Current"));
        assert!(one.covers(r"HKEY_LOCAL_MACHINE\SYSTEM\Select", "current"));
        assert!(!one.covers(r"HKEY_LOCAL_MACHINE\SYSTEM\Select", "Default"));
    }
}
