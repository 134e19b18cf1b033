//! The sandbox holds: hostile plugins fail cleanly, one by one, while a normal
//! collector in the same scan still succeeds.

use serde_json::Value;

use crate::support::*;

/// One hostile collector: name, behaviour, extra options, grant under the root.
struct Case {
    name: &'static str,
    behaviour: &'static str,
    option: Option<(&'static str, String)>,
    /// What the failure message must say.
    error: &'static str,
}

fn manifest(env: &Env, cases: &[Case]) -> String {
    let plugin = hostile_plugin().display().to_string();
    let mut text = String::from(
        "[defaults]\ntimeout = \"2s\"\nmemory = \"64MiB\"\n\n[[collector]]\nname = \"dpkg\"\nkind = \"packages\"\nplugin = \"packages-dpkg\"\ngrants = [\"/var/lib/dpkg\"]\n",
    );
    for case in cases {
        let extra = case
            .option
            .as_ref()
            .map(|(k, v)| format!(", {k} = {v:?}"))
            .unwrap_or_default();
        text.push_str(&format!(
            "\n[[collector]]\nname = {:?}\nkind = \"packages\"\nplugin = {plugin:?}\ngrants = [\"/data\"]\nmax_items = 1000\noptions = {{ behaviour = {:?}{extra} }}\n",
            case.name, case.behaviour
        ));
    }
    env.write("manifest.toml", text).display().to_string()
}

#[cfg(unix)]
#[test]
fn hostile_plugins_fail_cleanly_and_the_healthy_collector_succeeds() {
    let env = Env::new();
    env.write(
        "root/var/lib/dpkg/status",
        stanza("bash", "install ok installed", "5.2", "amd64"),
    );
    env.write("root/data/inside.txt", "fine");
    let secret = env.write("outside/secret.txt", "do not read");
    std::os::unix::fs::symlink(&secret, env.path("root/data/link-out")).unwrap();
    std::os::unix::fs::symlink("../../outside", env.path("root/data/dir-out")).unwrap();
    let s = |p: &str| Some(("path", p.to_string()));

    let cases = [
        Case {
            name: "loop",
            behaviour: "loop",
            option: None,
            error: "exceeded its time limit of 2 s",
        },
        Case {
            name: "memory-bomb",
            behaviour: "memory-bomb",
            option: None,
            error: "exceeded its memory limit of 64 MiB",
        },
        Case {
            name: "panic",
            behaviour: "panic",
            option: None,
            error: "plugin panicked: ",
        },
        Case {
            name: "stack-overflow",
            behaviour: "stack-overflow",
            option: None,
            error: "call stack exhausted",
        },
        Case {
            name: "absolute-path",
            behaviour: "read",
            option: s("/etc/hostname"),
            error: "denied: cannot read /etc/hostname",
        },
        Case {
            name: "dotdot",
            behaviour: "read",
            option: s("/data/../outside/secret.txt"),
            error: "denied: cannot read /data/../outside/secret.txt",
        },
        Case {
            name: "symlink-out",
            behaviour: "read",
            option: s("/data/link-out"),
            error: "denied: cannot read /data/link-out",
        },
        Case {
            name: "symlink-dir-out",
            behaviour: "read",
            option: s("/data/dir-out/secret.txt"),
            error: "denied: cannot read /data/dir-out/secret.txt",
        },
        Case {
            name: "list-root",
            behaviour: "list",
            option: s("/"),
            error: "denied: cannot list /",
        },
        Case {
            name: "write",
            behaviour: "write",
            option: s("/data/new.txt"),
            error: "denied: cannot write /data/new.txt",
        },
        Case {
            name: "oversized-batch",
            behaviour: "oversized-batch",
            option: Some(("count", "20000".into())),
            error: "oversized result: a batch of 20000 records (at most 10000 per batch)",
        },
        Case {
            name: "too-many",
            behaviour: "many-batches",
            option: Some(("count", "1001".into())),
            error: "oversized result: more than 1000 records",
        },
        Case {
            name: "huge-field",
            behaviour: "huge-field",
            option: Some(("count", "2000000".into())),
            error: "oversized result: SoftwareDescription is 2000000 bytes long",
        },
        Case {
            name: "empty-name",
            behaviour: "empty-name",
            option: None,
            error: "malformed result: a record has an empty SoftwareName",
        },
    ];
    let manifest = manifest(&env, &cases);
    let root = env.path("root").display().to_string();
    let scan = env.run(&["--manifest", &manifest, "--root", &root, "scan", "--json"]);
    assert_eq!(exit_code(&scan), 3, "{}", stderr(&scan));
    let reports = json_lines(&scan);
    let report = |name: &str| -> &Value {
        reports
            .iter()
            .find(|r| r["Collector"] == name)
            .unwrap_or_else(|| panic!("no report for {name}"))
    };

    let dpkg = report("dpkg");
    assert_eq!(dpkg["Outcome"], "collected", "{dpkg}");
    assert_eq!(dpkg["Items"], 1);
    for case in &cases {
        let r = report(case.name);
        assert_eq!(r["Outcome"], "failed", "{}: {r}", case.name);
        let error = r["Error"].as_str().unwrap();
        assert!(
            error.contains(case.error),
            "{}: expected {:?} in {error:?}",
            case.name,
            case.error
        );
    }

    let inventory = json_lines(&env.run(&["inventory", "--json"]));
    assert_eq!(inventory.len(), 1, "{inventory:?}");
    assert_eq!(inventory[0]["SoftwareName"], "bash");
    assert!(!env.path("root/data/new.txt").exists(), "the write went through");
}

/// Scans a root holding an empty `/data` with the dpkg collector and one
/// hostile collector, with extra environment variables for the agent.
fn scan_one(env: &Env, case: Case, vars: &[(&str, &str)]) -> std::process::Output {
    std::fs::create_dir_all(env.path("root/data")).unwrap();
    let manifest = manifest(env, &[case]);
    let root = env.path("root").display().to_string();
    let mut cmd = env.driftwatch();
    cmd.args(["--manifest", &manifest, "--root", &root, "scan"]);
    cmd.envs(vars.iter().copied());
    cmd.output().unwrap()
}

#[test]
fn plugins_get_no_environment_and_no_arguments() {
    let env = Env::new();
    let case = Case {
        name: "env",
        behaviour: "env",
        option: None,
        error: "",
    };
    let scan = scan_one(&env, case, &[("SECRET_TOKEN", "hunter2")]);
    assert_eq!(exit_code(&scan), 0, "{}", stderr(&scan));
    let names: Vec<_> = json_lines(&env.run(&["inventory", "--json"]))
        .iter()
        .map(|r| r["SoftwareName"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["no-environment"]);
}

#[test]
fn plugin_output_is_captured_into_the_log_with_the_plugin_name() {
    let env = Env::new();
    let case = Case {
        name: "chatty",
        behaviour: "chatty",
        option: Some(("count", "3".into())),
        error: "",
    };
    let scan = scan_one(&env, case, &[("RUST_LOG", "info"), ("NO_COLOR", "1")]);
    assert_eq!(exit_code(&scan), 0, "{}", stderr(&scan));
    let log = stderr(&scan);
    let line = log
        .lines()
        .find(|l| l.contains("stderr line 2"))
        .unwrap_or_else(|| panic!("not logged:\n{log}"));
    assert!(
        line.contains("plugin=test-plugin-hostile") && line.contains("stream=\"stderr\""),
        "{line}"
    );
    assert!(log.contains("stdout line 0"), "{log}");
    assert!(
        !stdout(&scan).contains("stdout line"),
        "plugin output leaked onto stdout"
    );
}

/// Fault injection mid-scan: the same hostile collector, healthy at first,
/// then trapping, looping, exhausting memory, sleeping past its deadline,
/// returning malformed or enormous results, or opening a socket. Each time
/// the host survives, the healthy collector's new results are stored, the
/// faulty collector's inventory stays as it was, and `status` shows why.
#[cfg(unix)]
#[test]
fn a_faulty_collector_keeps_its_inventory_and_shows_in_status() {
    let env = Env::new();
    let plugin = hostile_plugin().display().to_string();
    let manifest = env
        .write(
            "manifest.toml",
            format!(
                "[defaults]\ntimeout = \"2s\"\nmemory = \"64MiB\"\n\n\
                 [[collector]]\nname = \"dpkg\"\nkind = \"packages\"\nplugin = \"packages-dpkg\"\ngrants = [\"/var/lib/dpkg\"]\n\n\
                 [[collector]]\nname = \"faulty\"\nkind = \"packages\"\nplugin = {plugin:?}\ngrants = [\"/data\"]\n\
                 max_items = 1000\noptions = {{ behaviour = \"from-file\", path = \"/data/mode\" }}\n"
            ),
        )
        .display()
        .to_string();
    let root = env.path("root").display().to_string();
    let mut status = stanza("bash", "install ok installed", "5.2", "amd64");
    env.write("root/var/lib/dpkg/status", &status);
    env.write("root/data/mode", "ok");
    let scan = |env: &Env| env.run(&["--manifest", &manifest, "--root", &root, "scan", "--json"]);
    assert_eq!(exit_code(&scan(&env)), 0);

    let faults = [
        ("trap", "wasm trap: wasm `unreachable` instruction executed"),
        ("loop", "exceeded its time limit of 2 s"),
        ("memory-bomb", "exceeded its memory limit of 64 MiB"),
        ("sleep 30", "abandoned"),
        ("empty-name", "malformed result"),
        ("huge-field 2000000", "oversized result"),
        ("many-batches 1001", "oversized result: more than 1000 records"),
        ("socket", "denied: cannot connect"),
        ("panic", "plugin panicked"),
    ];
    for (round, (fault, expected)) in faults.iter().enumerate() {
        env.write("root/data/mode", fault);
        // The healthy collector has something new to record each round.
        status.push_str(&format!(
            "\n{}",
            stanza(&format!("pkg{round}"), "install ok installed", "1.0", "amd64")
        ));
        env.write("root/var/lib/dpkg/status", &status);
        let out = scan(&env);
        assert_eq!(exit_code(&out), 3, "{fault}: {}", stderr(&out));
        let reports = json_lines(&out);
        let report = |name: &str| reports.iter().find(|r| r["Collector"] == name).cloned().unwrap();
        assert_eq!(report("dpkg")["Changes"], 1, "{fault}: the healthy result is stored");
        let faulty = report("faulty");
        assert_eq!(faulty["Outcome"], "failed", "{fault}");
        assert!(
            faulty["Error"].as_str().unwrap().contains(expected),
            "{fault}: {faulty}"
        );

        let inventory = json_lines(&env.run(&["inventory", "--json"]));
        let names: Vec<&str> = inventory.iter().filter_map(|i| i["SoftwareName"].as_str()).collect();
        assert!(
            names.contains(&"hostile-ok"),
            "{fault}: the faulty collector's inventory stays: {names:?}"
        );
        assert_eq!(names.len(), round + 3, "{fault}: {names:?}");
        let status_out = json_lines(&env.run(&["--manifest", &manifest, "--root", &root, "status", "--json"]));
        let faulty = status_out.iter().find(|s| s["Collector"] == "faulty").unwrap();
        assert_eq!(faulty["Outcome"], "Failed", "{fault}: {faulty}");
        assert!(
            faulty["Error"].as_str().unwrap().contains(expected),
            "{fault}: {faulty}"
        );
    }
    // No Removed rows came of the failures.
    let changes = json_lines(&env.run(&["changes", "--json"]));
    assert!(changes.iter().all(|c| c["ChangeCategory"] == "Added"), "{changes:?}");
    assert_eq!(changes.len(), faults.len());
}

/// A plugin cannot tell a path it was not granted from one that does not
/// exist; the host can, and says so when an entry's own grants leave out
/// what its plugin reads by default.
#[test]
fn grants_that_leave_out_what_the_plugin_reads_are_named_when_it_finds_nothing() {
    let env = Env::new();
    env.write(
        "root/var/lib/dpkg/status",
        stanza("bash", "install ok installed", "5.2", "amd64"),
    );
    let root = env.path("root").display().to_string();
    let scan = |grants: &str| {
        let manifest = env.write(
            "manifest.toml",
            format!("[[collector]]\nname = \"dpkg\"\nkind = \"packages\"\nplugin = \"packages-dpkg\"\n{grants}\n"),
        );
        let scan = env.run(&[
            "--manifest",
            manifest.to_str().unwrap(),
            "--root",
            &root,
            "scan",
            "--json",
        ]);
        json_lines(&scan).remove(0)
    };
    let narrowed = scan("grants = [\"/opt\"]");
    assert_eq!(narrowed["Outcome"], "skipped", "{narrowed}");
    let reason = narrowed["Reason"].as_str().unwrap();
    assert!(
        reason.contains("(its grants leave out /var/lib/dpkg, which its plugin reads by default"),
        "{reason}"
    );
    let defaults = scan("");
    assert_eq!(defaults["Outcome"], "collected", "{defaults}");
    let widened = scan("grants = [\"/var/lib\", \"/opt\"]");
    assert_eq!(widened["Outcome"], "collected", "{widened}");
}
