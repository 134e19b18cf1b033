use std::os::unix::fs::symlink;

use driftwatch_sdk::tree::Disk;

use super::*;

const SCRIPT: &str = "#!/bin/sh\n### BEGIN INIT INFO\n# Provides: x\n# Default-Start: 2 3 4 5\n# Short-Description: a service\n### END INIT INFO\ncase \"$1\" in start) ;; esac\n";

fn root() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("etc/init.d")).unwrap();
    dir
}

fn write(root: &tempfile::TempDir, path: &str, text: &str) {
    let p = root.path().join(path);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn link(root: &tempfile::TempDir, path: &str, target: &str) {
    let p = root.path().join(path);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    symlink(target, p).unwrap();
}

#[test]
fn runlevels_come_from_start_links_in_canonical_order() {
    let r = root();
    write(&r, "etc/init.d/sshd", SCRIPT);
    write(&r, "etc/init.d/udev", SCRIPT);
    for level in ["5", "3", "2", "4"] {
        link(&r, &format!("etc/rc{level}.d/S09sshd"), "../init.d/sshd");
    }
    link(&r, "etc/rc0.d/K09sshd", "../init.d/sshd");
    link(&r, "etc/rcS.d/S04udev", "/etc/init.d/udev");
    let scan = scan(&Disk::under(r.path()));
    let levels: Vec<_> = scan
        .scripts
        .iter()
        .map(|s| (s.name.as_str(), s.runlevels.join(",")))
        .collect();
    assert_eq!(levels, [("sshd", "2,3,4,5".to_string()), ("udev", "S".to_string())]);
    assert_eq!(scan.scripts[0].header.as_ref().unwrap().short_description, "a service");
    assert!(scan.oddities.is_empty(), "{:?}", scan.oddities);
}

#[test]
fn dangling_links_are_reported_and_do_not_stop_the_scan() {
    let r = root();
    write(&r, "etc/init.d/ok", SCRIPT);
    link(&r, "etc/init.d/gone", "/etc/init.d/nowhere");
    link(&r, "etc/rc2.d/S01ok", "../init.d/ok");
    link(&r, "etc/rc2.d/S02missing", "../init.d/missing");
    let scan = scan(&Disk::under(r.path()));
    assert_eq!(scan.scripts.len(), 1);
    let subjects: Vec<_> = scan.oddities.iter().map(|o| o.subject.as_str()).collect();
    assert_eq!(subjects, ["/etc/init.d/gone", "/etc/rc2.d/S02missing"]);
}

#[test]
fn links_stored_as_files_and_aliases_count() {
    let r = root();
    write(&r, "etc/init.d/syslog.busybox", SCRIPT);
    link(&r, "etc/init.d/syslog", "/etc/init.d/syslog.busybox");
    write(&r, "etc/rc2.d/S20syslog", "../init.d/syslog");
    link(&r, "etc/rc3.d/S20syslog", "../init.d/syslog");
    let scan = scan(&Disk::under(r.path()));
    let syslog = scan.scripts.iter().find(|s| s.name == "syslog").unwrap();
    assert_eq!(syslog.runlevels, ["2", "3"]);
}

#[test]
fn helpers_are_not_services() {
    let r = root();
    write(&r, "etc/init.d/functions", "# shell functions\nlog() { :; }\n");
    write(&r, "etc/init.d/README", "see the docs");
    write(&r, "etc/init.d/real", SCRIPT);
    let names: Vec<_> = scan(&Disk::under(r.path()))
        .scripts
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, ["real"]);
}

#[test]
fn link_names() {
    assert_eq!(link_name("S20ssh"), Some(('S', "ssh")));
    assert_eq!(link_name("K01x"), Some(('K', "x")));
    assert_eq!(link_name("README"), None);
    assert_eq!(link_name("S2"), None);
    assert_eq!(link_name("Sxyz"), None);
}
