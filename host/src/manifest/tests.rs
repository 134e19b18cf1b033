use super::*;

fn parse(text: &str) -> Result<Manifest, ManifestError> {
    Manifest::parse(text, "test.toml", Path::new("/nonexistent"))
}

fn error_at(text: &str) -> (usize, usize, String) {
    match parse(text) {
        Err(ManifestError::Invalid {
            file,
            line,
            column,
            message,
        }) => {
            assert_eq!(file, "test.toml");
            (line, column, message)
        }
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn a_full_collector_entry() {
    let m = parse(
        r#"
[defaults]
timeout = "90s"

[[collector]]
name = "debs"
kind = "packages"
plugin = "packages-dpkg"
os = ["linux"]
interval = "10m"
grants = ["/var/lib/dpkg"]
memory = "64MiB"
options = { admindir = "/var/lib/dpkg", verbose = true, depth = 3 }
"#,
    )
    .unwrap();
    let c = &m.collectors[0];
    assert_eq!(c.name, "debs");
    assert_eq!(c.kind, Kind::Packages);
    assert_eq!(c.plugin, PluginRef::Bundled("packages-dpkg"));
    assert_eq!(c.os, [Os::Linux]);
    assert_eq!(c.interval, Some(Duration::from_secs(600)));
    assert_eq!(c.grants, ["/var/lib/dpkg"]);
    assert_eq!(c.limits.memory, 64 << 20);
    assert_eq!(c.limits.timeout, Duration::from_secs(90));
    assert_eq!(c.limits.max_items, Limits::default().max_items);
    assert_eq!(
        c.options,
        [
            ("admindir".into(), "/var/lib/dpkg".into()),
            ("depth".into(), "3".into()),
            ("verbose".into(), "true".into())
        ]
    );
    assert!(c.enabled && c.runs_on(Os::Linux) && !c.runs_on(Os::Windows));
}

#[test]
fn unknown_key_names_line_and_column() {
    let (line, column, message) =
        error_at("[[collector]]\nkind = \"packages\"\nplugin = \"packages-dpkg\"\ncolour = \"red\"\n");
    assert_eq!((line, column), (4, 1), "{message}");
    assert!(message.contains("unknown field `colour`"), "{message}");
}

#[test]
fn wrong_type_names_line_and_column() {
    let (line, column, message) =
        error_at("[[collector]]\nkind = \"packages\"\nplugin = \"packages-dpkg\"\nenabled = \"yes\"\n");
    assert_eq!((line, column), (4, 11), "{message}");
    assert!(message.contains("invalid type"), "{message}");
    let (line, column, message) =
        error_at("[[collector]]\nkind = \"packages\"\nplugin = \"packages-dpkg\"\ninterval = \"5 fortnights\"\n");
    assert_eq!((line, column), (4, 12), "{message}");
    assert!(message.contains("unknown duration unit"), "{message}");
    let (line, _, message) = error_at("[[collector]]\nkind = \"sandwiches\"\nplugin = \"packages-dpkg\"\n");
    assert_eq!(line, 2);
    assert!(message.contains("unknown variant `sandwiches`"), "{message}");
}

#[test]
fn missing_plugin_names_line_and_column() {
    let (line, column, message) = error_at("[[collector]]\nkind = \"packages\"\n  plugin = \"packages-nope\"\n");
    assert_eq!((line, column), (3, 12));
    assert!(
        message.starts_with("unknown plugin `packages-nope`: not a bundled plugin (packages-dpkg"),
        "{message}"
    );
    let (line, column, message) = error_at("[[collector]]\nkind = \"packages\"\nplugin = \"./mine.wasm\"\n");
    assert_eq!((line, column), (3, 10));
    let expected = Path::new("/nonexistent").join("./mine.wasm");
    assert_eq!(message, format!("plugin file {} not found", expected.display()));
    let (line, _, message) = error_at("[[collector]]\nkind = \"packages\"\n");
    assert_eq!(line, 1);
    assert!(message.contains("missing field `plugin`"), "{message}");
}

#[test]
fn plugin_paths_are_relative_to_the_manifest() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("mine.wasm"), b"\0asm").unwrap();
    let m = Manifest::parse(
        "[[collector]]\nkind = \"files\"\nplugin = \"mine.wasm\"\n",
        "m.toml",
        dir.path(),
    )
    .unwrap();
    assert_eq!(m.collectors[0].plugin, PluginRef::File(dir.path().join("mine.wasm")));
    assert_eq!(m.collectors[0].name, "mine");
}

#[test]
fn duplicate_names_point_at_the_second() {
    let text = "[[collector]]\nkind = \"packages\"\nplugin = \"packages-dpkg\"\n\n[[collector]]\nkind = \"packages\"\nplugin = \"packages-dpkg\"\n";
    let (line, column, message) = error_at(text);
    assert_eq!((line, column), (7, 10));
    assert!(
        message.contains("`packages-dpkg` is already used at line 3"),
        "{message}"
    );
}

#[test]
fn grants_must_be_absolute_and_normal() {
    let (line, column, message) =
        error_at("[[collector]]\nkind = \"packages\"\nplugin = \"packages-dpkg\"\ngrants = [\"/var\", \"var/lib\"]\n");
    assert_eq!((line, column), (4, 19));
    assert!(message.contains("not an absolute path"), "{message}");
    let (_, _, message) =
        error_at("[[collector]]\nkind = \"packages\"\nplugin = \"packages-dpkg\"\ngrants = [\"/var/../etc\"]\n");
    assert!(message.contains("`.` or `..`"), "{message}");
}

#[test]
fn kind_specific_sections_belong_to_their_kind() {
    let text =
        "[[collector]]\nkind = \"packages\"\nplugin = \"packages-dpkg\"\n[[collector.paths]]\npath = \"/etc/hosts\"\n";
    let (line, _, message) = error_at(text);
    assert_eq!(line, 4);
    assert!(
        message.contains("`paths` belongs to collectors of kind \"files\""),
        "{message}"
    );
}

#[test]
fn options_must_be_scalars() {
    let (line, _, message) =
        error_at("[[collector]]\nkind = \"packages\"\nplugin = \"packages-dpkg\"\noptions = { list = [1, 2] }\n");
    assert_eq!(line, 4);
    assert!(message.contains("not array"), "{message}");
}

#[test]
fn syntax_errors_have_positions_too() {
    let (line, column, _) = error_at("[[collector]\nkind = 1\n");
    assert_eq!((line, column), (1, 13));
}

#[test]
fn built_in_manifests_parse() {
    let builtin = Manifest::builtin().unwrap();
    let plugins: Vec<_> = builtin.collectors.iter().map(|c| c.plugin.to_string()).collect();
    for bundled in crate::catalog::bundled_names() {
        assert!(plugins.iter().any(|p| p == bundled), "{bundled} has no collector");
    }
    let registry = builtin.collectors.iter().find(|c| c.kind == Kind::Registry).unwrap();
    assert_eq!(registry.keys.len(), 17);
    assert!(
        registry
            .keys
            .iter()
            .all(|k| !k.enabled && k.key.starts_with("HKEY_LOCAL_MACHINE\\"))
    );
    // The bundled plugins declare what they read: entries grant only what
    // their tracked paths or options need beyond that.
    let granting: Vec<&str> = builtin
        .collectors
        .iter()
        .filter(|c| !c.grants.is_empty() || !c.registry_grants.is_empty())
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(granting, ["etc-files"]);
}

#[test]
fn default_intervals_follow_azure() {
    assert_eq!(default_interval(Kind::Packages, Os::Linux), Duration::from_secs(300));
    assert_eq!(default_interval(Kind::Files, Os::Linux), Duration::from_secs(900));
    assert_eq!(default_interval(Kind::Files, Os::Windows), Duration::from_secs(1800));
    assert_eq!(default_interval(Kind::Registry, Os::Windows), Duration::from_secs(3000));
}

#[test]
fn alert_rules_with_each_action() {
    let m = parse(
        r#"
[[alert]]
name = "hosts"
query = 'ConfigurationChange | where FileSystemPath == "/etc/hosts"'
severity = "critical"
  [[alert.action]]
  type = "webhook"
  url = "https://hooks.example.com/x"
  headers = { Authorization = "Bearer t" }
  timeout = "5s"
  retries = 7
  backoff = "250ms"
  [[alert.action]]
  type = "exec"
  command = ["/usr/bin/logger", "-t", "driftwatch"]
  [[alert.action]]
  type = "exec"
  shell = true
  command = "cat | mail ops"
  [[alert.action]]
  type = "log"
"#,
    )
    .unwrap();
    let rule = &m.alerts[0];
    assert_eq!(rule.severity, alerts::Severity::Critical);
    assert!(rule.enabled);
    use alerts::Action;
    let Action::Webhook(hook) = &rule.actions[0] else {
        panic!("{:?}", rule.actions[0])
    };
    assert_eq!(hook.headers, [("Authorization".to_string(), "Bearer t".to_string())]);
    assert_eq!((hook.timeout, hook.retries), (Duration::from_secs(5), 7));
    assert_eq!(rule.actions[0].attempts_and_backoff(), (8, Duration::from_millis(250)));
    let Action::Exec(exec) = &rule.actions[1] else { panic!() };
    assert_eq!(exec.argv, ["/usr/bin/logger", "-t", "driftwatch"]);
    let Action::Exec(shell) = &rule.actions[2] else {
        panic!()
    };
    assert_eq!(shell.argv.last().unwrap(), "cat | mail ops");
    assert_eq!(rule.actions[3], Action::Log);
}

#[test]
fn alert_mistakes_are_pointed_at() {
    let rule = |body: &str| format!("[[alert]]\nname = \"a\"\nquery = 'ConfigurationChange'\n{body}");
    let (line, _, message) = error_at(&rule("[[alert.action]]\ntype = \"webhook\"\n"));
    assert_eq!(line, 5);
    assert!(message.contains("needs a `url`"), "{message}");
    let (_, _, message) = error_at(&rule(
        "[[alert.action]]\ntype = \"exec\"\ncommand = \"rm -rf /tmp/x\"\n",
    ));
    assert!(message.contains("set `shell = true`"), "{message}");
    let (_, _, message) = error_at(&rule("[[alert.action]]\ntype = \"mail\"\n"));
    assert!(message.contains("use webhook, exec or log"), "{message}");
    let (_, _, message) = error_at(&rule("[[alert.action]]\ntype = \"webhook\"\nurl = \"ftp://x\"\n"));
    assert!(message.contains("http:// or https://"), "{message}");
    let (line, _, message) = error_at(&rule(""));
    assert_eq!(line, 2);
    assert!(message.contains("no [[alert.action]]"), "{message}");
    let (_, _, message) = error_at(&rule("severity = \"urgent\"\n[[alert.action]]\ntype = \"log\"\n"));
    assert!(message.contains("unknown variant `urgent`"), "{message}");
    let (line, column, message) = error_at(
        &rule("[[alert.action]]\ntype = \"log\"\n").replace("'ConfigurationChange'", "'ConfigurationData | take 1'"),
    );
    assert_eq!((line, column), (3, 9));
    assert!(message.contains("alert rules query ConfigurationChange"), "{message}");
}
