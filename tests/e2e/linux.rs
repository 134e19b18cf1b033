//! The Linux collectors on fixture roots, through the built-in manifest:
//! each root runs the collectors whose probe finds what they read.

use std::os::unix::fs::symlink;

use serde_json::Value;

use crate::fixtures::rpm::rpm_sqlite_database;
use crate::support::*;

/// Scans `root` with the built-in manifest; returns the scan reports.
fn scan(env: &Env) -> Vec<Value> {
    let out = env.run(&["--root", env.path("root").to_str().unwrap(), "scan", "--json"]);
    assert_eq!(exit_code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    json_lines(&out)
}

fn report<'a>(reports: &'a [Value], collector: &str) -> &'a Value {
    reports.iter().find(|r| r["Collector"] == collector).unwrap()
}

fn inventory(env: &Env, data_type: &str) -> Vec<Value> {
    json_lines(&env.run(&["inventory", "--type", data_type, "--json"]))
}

fn link(env: &Env, path: &str, target: &str) {
    let p = env.path(path);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    symlink(target, p).unwrap();
}

#[test]
fn an_alpine_root_runs_apk_only() {
    let env = Env::new();
    env.write(
        "root/lib/apk/db/installed",
        "C:Q1abc=\nP:musl\nV:1.2.4-r1\nA:x86_64\nT:the musl c library\nm:Timo <t@example.org>\n\nP:broken-no-version\nA:x86_64\n\nP:busybox\nV:1.36.1-r2\nA:x86_64\n",
    );
    let reports = scan(&env);
    let apk = report(&reports, "apk");
    assert_eq!(apk["Outcome"], "collected");
    assert_eq!(apk["Items"], 2);
    assert_eq!(apk["Warnings"][0]["Message"], "no version (V:)");
    for other in ["dpkg", "rpm", "pacman", "systemd", "sysv"] {
        assert_eq!(report(&reports, other)["Outcome"], "skipped", "{other}");
    }
    let names: Vec<_> = inventory(&env, "Software")
        .iter()
        .map(|r| r["SoftwareName"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["busybox", "musl"]);
}

#[test]
fn an_arch_root_runs_pacman_and_skips_broken_entries() {
    let env = Env::new();
    env.write(
        "root/var/lib/pacman/local/gmp-6.2.1-2/desc",
        "%NAME%\ngmp\n\n%VERSION%\n6.2.1-2\n\n%ARCH%\nx86_64\n\n%PACKAGER%\nAntonio <a@example.org>\n\n%INSTALLDATE%\n1665878640\n\n",
    );
    env.write(
        "root/var/lib/pacman/local/corrupt-1-1/desc",
        "%NME%\ncorrupt\n\n%VER.6-1\n\n",
    );
    let reports = scan(&env);
    let pacman = report(&reports, "pacman");
    assert_eq!(pacman["Items"], 1);
    assert!(
        pacman["Warnings"][0]["Message"]
            .as_str()
            .unwrap()
            .starts_with("broken section header"),
        "{pacman}"
    );
    let gmp = &inventory(&env, "Software")[0];
    assert_eq!(
        (gmp["SoftwareName"].as_str(), gmp["CurrentVersion"].as_str()),
        (Some("gmp"), Some("6.2.1-2"))
    );
    assert_eq!(gmp["InstallDate"], "2022-10-16T00:04:00.000000Z");
}

#[test]
fn an_rpm_root_with_an_sqlite_database_runs_rpm() {
    let env = Env::new();
    rpm_sqlite_database(
        &env.path("root"),
        &[("bash", "5.2.15"), ("kernel", "6.1.0"), ("kernel", "6.2.0")],
    );
    let reports = scan(&env);
    assert_eq!(report(&reports, "rpm")["Outcome"], "collected", "{reports:?}");
    let software = inventory(&env, "Software");
    let seen: Vec<_> = software
        .iter()
        .map(|r| {
            (
                r["SoftwareName"].as_str().unwrap(),
                r["CurrentVersion"].as_str().unwrap(),
                r["Publisher"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("bash", "5.2.15-1.fc40", "Test Vendor"),
            ("kernel", "6.1.0-1.fc40, 6.2.0-1.fc40", "Test Vendor")
        ]
    );
    assert_eq!(software[0]["InstallDate"], "2023-11-14T22:13:20.000000Z");
}

#[test]
fn a_systemd_root_reports_units_in_systemds_words() {
    let env = Env::new();
    let unit = |desc: &str, exec: &str, install: &str| {
        format!("[Unit]\nDescription={desc}\n[Service]\nExecStart={exec}\n{install}")
    };
    env.write(
        "root/lib/systemd/system/ssh.service",
        unit(
            "OpenSSH",
            "/usr/sbin/sshd -D",
            "[Install]\nWantedBy=multi-user.target\n",
        ),
    );
    env.write(
        "root/lib/systemd/system/cups.service",
        unit("CUPS", "/usr/sbin/cupsd -l", "[Install]\nWantedBy=multi-user.target\n"),
    );
    env.write(
        "root/lib/systemd/system/dbus.service",
        unit("D-Bus", "/usr/bin/dbus-daemon --system", ""),
    );
    env.write(
        "root/lib/systemd/system/hwclock.service",
        unit("clock", "/sbin/hwclock", "[Install]\nWantedBy=sysinit.target\n"),
    );
    // As a real system has them: absolute links, a mask to /dev/null, a relative alias.
    link(
        &env,
        "root/etc/systemd/system/multi-user.target.wants/ssh.service",
        "/lib/systemd/system/ssh.service",
    );
    link(&env, "root/etc/systemd/system/hwclock.service", "/dev/null");
    link(&env, "root/lib/systemd/system/sshd.service", "ssh.service");
    env.write(
        "root/etc/init.d/ssh",
        "#!/bin/sh\n### BEGIN INIT INFO\n# Provides: ssh\n### END INIT INFO\n",
    );
    let reports = scan(&env);
    assert_eq!(report(&reports, "systemd")["Items"], 5);
    assert!(
        report(&reports, "sysv")["Reason"]
            .as_str()
            .unwrap()
            .starts_with("systemd manages services here")
    );
    let daemons = inventory(&env, "Daemons");
    let seen: Vec<_> = daemons
        .iter()
        .map(|r| {
            (
                r["SvcName"].as_str().unwrap(),
                r["SvcStartupType"].as_str().unwrap(),
                r["SvcState"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("cups.service", "disabled", "Unknown"),
            ("dbus.service", "static", "Unknown"),
            ("hwclock.service", "masked", "Unknown"),
            ("ssh.service", "enabled", "Unknown"),
            ("sshd.service", "alias", "Unknown"),
        ]
    );
    let ssh = daemons.iter().find(|r| r["SvcName"] == "ssh.service").unwrap();
    assert_eq!(ssh["SvcPath"], "/usr/sbin/sshd -D");
    assert_eq!(ssh["SvcDescription"], "OpenSSH");

    // Disable ssh, mask cups: two changes, with their previous startup types.
    std::fs::remove_file(env.path("root/etc/systemd/system/multi-user.target.wants/ssh.service")).unwrap();
    link(&env, "root/etc/systemd/system/cups.service", "/dev/null");
    scan(&env);
    let changes = json_lines(&env.run(&["changes", "--json"]));
    let summary: Vec<_> = changes
        .iter()
        .map(|c| {
            (
                c["SvcName"].as_str().unwrap(),
                c["SvcPreviousStartupType"].as_str().unwrap(),
                c["SvcStartupType"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("cups.service", "disabled", "masked"),
            ("ssh.service", "enabled", "disabled")
        ]
    );
}

#[test]
fn a_sysv_root_reports_runlevels_and_dangling_links() {
    let env = Env::new();
    let script = "#!/bin/sh\n### BEGIN INIT INFO\n# Provides: x\n# Short-Description: does x\n### END INIT INFO\ncase \"$1\" in start) ;; esac\n";
    env.write("root/etc/init.d/sshd", script);
    env.write("root/etc/init.d/udev", script);
    env.write("root/etc/init.d/syslog.busybox", script);
    link(&env, "root/etc/init.d/syslog", "/etc/init.d/syslog.busybox");
    for level in ["2", "3", "4", "5"] {
        link(&env, &format!("root/etc/rc{level}.d/S09sshd"), "../init.d/sshd");
        link(&env, &format!("root/etc/rc{level}.d/S20syslog"), "/etc/init.d/syslog");
    }
    link(&env, "root/etc/rc0.d/K09sshd", "../init.d/sshd");
    link(&env, "root/etc/rcS.d/S04udev", "../init.d/udev");
    link(&env, "root/etc/rc2.d/S99gone", "../init.d/gone");
    let reports = scan(&env);
    let sysv = report(&reports, "sysv");
    assert_eq!(sysv["Items"], 4);
    assert_eq!(sysv["Warnings"][0]["Subject"], "/etc/rc2.d/S99gone");
    let levels: Vec<_> = inventory(&env, "Daemons")
        .iter()
        .map(|r| {
            (
                r["SvcName"].as_str().unwrap().to_string(),
                r["SvcRunlevels"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expect = |n: &str, l: &str| (n.to_string(), l.to_string());
    assert_eq!(
        levels,
        [
            expect("sshd", "2,3,4,5"),
            expect("syslog", "2,3,4,5"),
            expect("syslog.busybox", ""),
            expect("udev", "S")
        ]
    );
}

#[test]
fn plugins_explains_which_collectors_apply_to_a_root() {
    let env = Env::new();
    env.write(
        "root/var/lib/dpkg/status",
        stanza("bash", "install ok installed", "5.2", "amd64"),
    );
    env.write(
        "root/lib/systemd/system/ssh.service",
        "[Service]\nExecStart=/usr/sbin/sshd\n",
    );
    let rows = json_lines(&env.run(&["--root", env.path("root").to_str().unwrap(), "plugins", "--json"]));
    let mut active: Vec<_> = rows
        .iter()
        .filter(|r| r["Active"] == true)
        .map(|r| r["Collector"].as_str().unwrap())
        .collect();
    active.sort();
    assert_eq!(active, ["dpkg", "etc-files", "systemd"]);
    let rpm = rows.iter().find(|r| r["Collector"] == "rpm").unwrap();
    assert!(rpm["Reason"].as_str().unwrap().starts_with("no rpm database"), "{rpm}");
}
