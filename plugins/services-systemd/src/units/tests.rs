use std::os::unix::fs::symlink;
use std::path::Path;

use super::*;
use driftwatch_sdk::tree::Disk;

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, p: &str) -> std::path::PathBuf {
        self.dir.path().join(p.trim_start_matches('/'))
    }

    fn file(&self, p: &str, text: &str) -> &Self {
        let path = self.path(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
        self
    }

    fn link(&self, p: &str, target: &str) -> &Self {
        let path = self.path(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        symlink(target, path).unwrap();
        self
    }

    fn states(&self) -> Vec<(String, &'static str)> {
        let tree = Disk::under(self.dir.path());
        units(&tree, ".service")
            .into_iter()
            .map(|u| (u.name, u.state))
            .collect()
    }

    fn state(&self, name: &str) -> &'static str {
        self.states()
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s)
            .unwrap_or("not listed")
    }
}

const WANTED: &str = "[Unit]\nDescription=x\n[Service]\nExecStart=/bin/x\n[Install]\nWantedBy=multi-user.target\n";
const STATIC: &str = "[Unit]\nDescription=x\n[Service]\nExecStart=/bin/x\n";

#[test]
fn enabled_disabled_and_static() {
    let f = Fixture::new();
    f.file("/lib/systemd/system/ssh.service", WANTED)
        .file("/lib/systemd/system/cups.service", WANTED)
        .file("/lib/systemd/system/dbus.service", STATIC)
        .link(
            "/etc/systemd/system/multi-user.target.wants/ssh.service",
            "/lib/systemd/system/ssh.service",
        );
    assert_eq!(
        f.states(),
        [
            ("cups.service".into(), "disabled"),
            ("dbus.service".into(), "static"),
            ("ssh.service".into(), "enabled")
        ]
    );
}

#[test]
fn masks_by_link_to_dev_null_or_empty_file() {
    let f = Fixture::new();
    f.file("/lib/systemd/system/hwclock.service", WANTED)
        .link("/etc/systemd/system/hwclock.service", "/dev/null")
        .file("/etc/systemd/system/empty.service", "")
        .link("/run/systemd/system/rt.service", "/dev/null");
    assert_eq!(f.state("hwclock.service"), "masked");
    assert_eq!(f.state("empty.service"), "masked");
    assert_eq!(f.state("rt.service"), "masked-runtime");
}

#[test]
fn aliases_and_the_units_they_enable() {
    let f = Fixture::new();
    f.file(
        "/lib/systemd/system/systemd-timesyncd.service",
        "[Service]\nExecStart=/x\n[Install]\nWantedBy=sysinit.target\nAlias=dbus-org.freedesktop.timesync1.service\n",
    )
    .link("/lib/systemd/system/autovt@.service", "getty@.service")
    .file(
        "/lib/systemd/system/getty@.service",
        "[Service]\nExecStart=/sbin/agetty\n[Install]\nWantedBy=getty.target\nDefaultInstance=tty1\n",
    )
    .link(
        "/etc/systemd/system/dbus-org.freedesktop.timesync1.service",
        "/lib/systemd/system/systemd-timesyncd.service",
    );
    assert_eq!(f.state("autovt@.service"), "alias");
    assert_eq!(f.state("dbus-org.freedesktop.timesync1.service"), "alias");
    assert_eq!(
        f.state("systemd-timesyncd.service"),
        "enabled",
        "its Alias= symlink exists in /etc"
    );
    assert_eq!(f.state("getty@.service"), "disabled");
}

#[test]
fn templates_are_enabled_through_their_default_instance() {
    let f = Fixture::new();
    f.file(
        "/lib/systemd/system/getty@.service",
        "[Service]\nExecStart=/sbin/agetty\n[Install]\nWantedBy=getty.target\nDefaultInstance=tty1\n",
    )
    .file(
        "/lib/systemd/system/serial-getty@.service",
        "[Service]\nExecStart=/sbin/agetty\n[Install]\nWantedBy=getty.target\n",
    )
    .link(
        "/etc/systemd/system/getty.target.wants/getty@tty1.service",
        "/lib/systemd/system/getty@.service",
    )
    .link(
        "/etc/systemd/system/getty.target.wants/serial-getty@ttyS0.service",
        "/lib/systemd/system/serial-getty@.service",
    );
    assert_eq!(f.state("getty@.service"), "enabled");
    assert_eq!(
        f.state("serial-getty@.service"),
        "indirect",
        "linked under an instance name it does not declare"
    );
}

#[test]
fn indirect_generated_transient_linked_runtime_and_bad() {
    let f = Fixture::new();
    f.file(
        "/lib/systemd/system/a.service",
        "[Service]\nExecStart=/x\n[Install]\nAlso=b.service\n",
    )
    .file("/run/systemd/generator/gen.service", STATIC)
    .file("/run/systemd/transient/run-u1.service", STATIC)
    .file("/opt/custom/custom.service", WANTED)
    .link("/etc/systemd/system/custom.service", "/opt/custom/custom.service")
    .file("/lib/systemd/system/rt.service", WANTED)
    .link(
        "/run/systemd/system/multi-user.target.wants/rt.service",
        "/lib/systemd/system/rt.service",
    )
    .link("/etc/systemd/system/dangling.service", "/nowhere/dangling.service");
    assert_eq!(f.state("a.service"), "indirect");
    assert_eq!(f.state("gen.service"), "generated");
    assert_eq!(f.state("run-u1.service"), "transient");
    assert_eq!(f.state("custom.service"), "linked");
    assert_eq!(f.state("rt.service"), "enabled-runtime");
    assert_eq!(f.state("dangling.service"), "bad");
}

#[test]
fn vendor_wants_links_do_not_enable() {
    let f = Fixture::new();
    f.file("/lib/systemd/system/x.service", WANTED)
        .link("/lib/systemd/system/multi-user.target.wants/x.service", "../x.service");
    assert_eq!(f.state("x.service"), "disabled");
}

#[test]
fn etc_overrides_lib_and_drop_ins_apply() {
    let f = Fixture::new();
    f.file(
        "/lib/systemd/system/app.service",
        "[Unit]\nDescription=vendor\n[Service]\nExecStart=/usr/bin/app\n",
    )
    .file(
        "/etc/systemd/system/app.service",
        "[Unit]\nDescription=local\n[Service]\nExecStart=/usr/local/bin/app\n",
    )
    .file(
        "/etc/systemd/system/app.service.d/10-override.conf",
        "[Service]\nExecStart=\nExecStart=/opt/app --debug\n",
    )
    .file(
        "/lib/systemd/system/app.service.d/10-override.conf",
        "[Service]\nExecStart=/ignored\n",
    );
    let tree = Disk::under(f.dir.path());
    let app = units(&tree, ".service")
        .into_iter()
        .find(|u| u.name == "app.service")
        .unwrap();
    let file = app.file.unwrap();
    assert_eq!(file.value("Unit", "Description"), Some("local"));
    assert_eq!(crate::unit_file::exec_start(&file), "/opt/app --debug");
    assert!(
        Path::new(&app.path).ends_with("etc/systemd/system/app.service")
            || app.path == "/etc/systemd/system/app.service"
    );
}

#[test]
fn names_and_templates() {
    assert!(is_instance("getty@tty1.service"));
    assert!(!is_instance("getty@.service"));
    assert_eq!(template_of("getty@tty1.service").as_deref(), Some("getty@.service"));
    assert_eq!(template_of("ssh.service"), None);
}
