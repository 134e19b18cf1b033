//! The Linux packages: built by `packaging/linux/build-packages.sh` from the
//! binary under test, checked (listing, lintian, the unit), installed into
//! scratch roots with the real dpkg and rpm, upgraded to a rebuilt newer
//! release, removed and purged.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::*;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn run(command: &mut Command) -> Output {
    let output = command.output().unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}{}",
        stdout(&output),
        stderr(&output)
    );
    output
}

fn tool(name: &str, package: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .unwrap();
    assert!(
        found.status.success(),
        "{name} is needed (Debian: apt install {package})"
    );
}

/// Releases 1 and 2 of both packages, built once for the tests: (deb, rpm).
fn built(release: u32) -> (PathBuf, PathBuf) {
    static BUILT: std::sync::OnceLock<[(PathBuf, PathBuf); 2]> = std::sync::OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("packages");
        let _ = std::fs::remove_dir_all(&out);
        [build(&out.join("1"), 1), build(&out.join("2"), 2)]
    });
    built[release as usize - 1].clone()
}

/// Builds release `release` of both packages into `out`: (deb, rpm).
fn build(out: &Path, release: u32) -> (PathBuf, PathBuf) {
    let output = run(Command::new("bash")
        .arg(repo().join("packaging/linux/build-packages.sh"))
        .args(["--binary", env!("CARGO_BIN_EXE_driftwatch"), "--version", "0.1.0"])
        .args(["--release", &release.to_string()])
        .arg("--out")
        .arg(out));
    let files: Vec<PathBuf> = stdout(&output).lines().map(PathBuf::from).collect();
    assert_eq!(files.len(), 2, "{}", stdout(&output));
    (files[0].clone(), files[1].clone())
}

/// What every package must hold (paths without the leading `/` or `./`).
fn expect_listed(listing: &str, unit_dir: &str, zsh_dir: &str) {
    for path in [
        "usr/bin/driftwatch",
        "etc/driftwatch/manifest.toml",
        &format!("{unit_dir}/driftwatch.service"),
        "usr/share/man/man1/driftwatch.1.gz",
        "usr/share/man/man1/driftwatch-scan.1.gz",
        "usr/share/man/man1/driftwatch-plugin-new.1.gz",
        "usr/share/bash-completion/completions/driftwatch",
        &format!("{zsh_dir}/_driftwatch"),
        "usr/share/fish/vendor_completions.d/driftwatch.fish",
    ] {
        assert!(
            listing.lines().any(|line| line.trim_end().ends_with(path)),
            "{path} is not in the package:\n{listing}"
        );
    }
}

/// An empty dpkg database under `root`.
fn dpkg_root(root: &Path) {
    for dir in ["var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    std::fs::write(root.join("var/lib/dpkg/status"), "").unwrap();
    std::fs::write(root.join("var/lib/dpkg/available"), "").unwrap();
}

fn dpkg(root: &Path, args: &[&str]) -> Output {
    // Maintainer scripts run outside a chroot, with DPKG_ROOT set (they honour it).
    run(Command::new("dpkg")
        .arg(format!("--root={}", root.display()))
        .args([
            "--force-script-chrootless",
            "--force-depends",
            "--force-not-root",
            "--log=/dev/null",
        ])
        .args(args))
}

const EDIT: &str = "\n# edited on this machine\n";

#[test]
fn the_deb_installs_upgrades_keeping_the_manifest_and_state_and_purges() {
    for (name, package) in [
        ("dpkg-deb", "dpkg"),
        ("lintian", "lintian"),
        ("rpmbuild", "rpm"),
        ("systemd-analyze", "systemd"),
    ] {
        tool(name, package);
    }
    let env = Env::new();
    let (deb, _) = built(1);
    let listing = stdout(&run(Command::new("dpkg").arg("-c").arg(&deb)));
    expect_listed(&listing, "lib/systemd/system", "usr/share/zsh/vendor-completions");
    eprintln!("dpkg -c {}:\n{listing}", deb.display());

    let lintian = Command::new("lintian")
        .args(["--tag-display-limit", "0"])
        .arg(&deb)
        .output()
        .unwrap();
    let report = format!("{}{}", stdout(&lintian), stderr(&lintian));
    eprintln!("lintian {}:\n{report}", deb.display());
    let errors: Vec<&str> = report.lines().filter(|l| l.starts_with("E:")).collect();
    assert!(errors.is_empty(), "lintian errors:\n{report}");

    let root = env.path("root");
    dpkg_root(&root);
    dpkg(&root, &["-i", deb.to_str().unwrap()]);
    let binary = root.join("usr/bin/driftwatch");
    assert!(binary.is_file());
    let unit = root.join("lib/systemd/system/driftwatch.service");
    let unit_text = std::fs::read_to_string(&unit).unwrap();
    assert!(unit_text.contains(
        "ExecStart=/usr/bin/driftwatch --manifest /etc/driftwatch/manifest.toml --state /var/lib/driftwatch run"
    ));
    // Enabled, not started.
    let wants = root.join("etc/systemd/system/multi-user.target.wants/driftwatch.service");
    assert_eq!(
        std::fs::read_link(&wants).unwrap(),
        Path::new("/lib/systemd/system/driftwatch.service")
    );
    let state = root.join("var/lib/driftwatch");
    assert_eq!(std::fs::metadata(&state).unwrap().permissions().mode() & 0o777, 0o700);

    // The unit as installed, checked by systemd: its binary is the one in
    // the scratch root, its man page (Documentation=) found there too.
    let checked = env.write(
        "unit/driftwatch.service",
        unit_text.replace("/usr/bin/driftwatch", binary.to_str().unwrap()),
    );
    let verify = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&checked)
        .env("MANPATH", root.join("usr/share/man"))
        .output()
        .unwrap();
    let said = format!("{}{}", stdout(&verify), stderr(&verify));
    assert!(
        verify.status.success() && said.trim().is_empty(),
        "systemd-analyze verify:\n{said}"
    );

    // The installed binary scans this machine, with the packaged manifest.
    let scan = run(Command::new(&binary)
        .arg("--manifest")
        .arg(root.join("etc/driftwatch/manifest.toml"))
        .arg("--state")
        .arg(&state)
        .arg("scan"));
    assert!(stdout(&scan).contains("collected"), "{}", stdout(&scan));

    // A local edit and the state survive an upgrade to a rebuilt newer release.
    let manifest = root.join("etc/driftwatch/manifest.toml");
    let edited = format!("{}{EDIT}", std::fs::read_to_string(&manifest).unwrap());
    std::fs::write(&manifest, &edited).unwrap();
    let (deb2, _) = built(2);
    dpkg(&root, &["-i", deb2.to_str().unwrap()]);
    let status = stdout(&run(Command::new("dpkg-query")
        .arg(format!("--admindir={}", root.join("var/lib/dpkg").display()))
        .args(["-W", "-f", "${Version} ${Status}", "driftwatch"])));
    assert_eq!(status, "0.1.0-2 install ok installed");
    assert_eq!(std::fs::read_to_string(&manifest).unwrap(), edited);
    assert!(state.join("driftwatch.db").is_file());

    // Removed: binary and unit go, the manifest and the state stay.
    dpkg(&root, &["-r", "driftwatch"]);
    assert!(!binary.exists() && !unit.exists() && !wants.exists());
    assert_eq!(std::fs::read_to_string(&manifest).unwrap(), edited);
    assert!(state.join("driftwatch.db").is_file());
    // Purged: they go too.
    dpkg(&root, &["-P", "driftwatch"]);
    assert!(!manifest.exists() && !state.exists() && !root.join("etc/driftwatch").exists());
}

/// A `/bin/sh` and `/dev/null` for the rpm root, where scriptlets run
/// chrooted; false when this process may not make them.
fn shell_into(root: &Path) -> bool {
    std::fs::create_dir_all(root.join("dev")).unwrap();
    let null = Command::new("mknod")
        .args(["-m", "666"])
        .arg(root.join("dev/null"))
        .args(["c", "1", "3"])
        .status();
    if !null.is_ok_and(|s| s.success()) {
        return false;
    }
    let ldd = stdout(&run(Command::new("ldd").arg("/bin/sh")));
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::copy(std::fs::canonicalize("/bin/sh").unwrap(), root.join("bin/sh")).unwrap();
    for library in ldd.split_whitespace().filter(|w| w.starts_with('/')) {
        let target = root.join(library.trim_start_matches('/'));
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(library, &target).unwrap();
    }
    true
}

#[test]
fn the_rpm_installs_into_a_scratch_root_and_keeps_the_edited_config_across_an_upgrade() {
    tool("rpmbuild", "rpm");
    let env = Env::new();
    let (_, rpm) = built(1);
    let listing = stdout(&run(Command::new("rpm").arg("-qlp").arg(&rpm)));
    expect_listed(&listing, "usr/lib/systemd/system", "usr/share/zsh/site-functions");
    eprintln!("rpm -qlp {}:\n{listing}", rpm.display());
    let config = stdout(&run(Command::new("rpm").arg("-qcp").arg(&rpm)));
    assert_eq!(config.trim(), "/etc/driftwatch/manifest.toml");

    let root = env.path("root");
    // Scriptlets need a shell inside the root, and root to chroot there.
    let scripts = if unsafe { libc::geteuid() } == 0 && shell_into(&root) {
        None
    } else {
        eprintln!("not root: the rpm is installed without its scriptlets");
        Some("--noscripts")
    };
    let rpm_in = |args: &[&str]| {
        let output = run(Command::new("rpm")
            .arg("--root")
            .arg(&root)
            .args(["--dbpath", "/var/lib/rpm"])
            .args(args)
            .args(scripts));
        // A scriptlet that fails is only a warning to rpm: not to this test.
        let said = stderr(&output);
        assert!(
            !said.contains("scriptlet") && !said.contains("rpm-tmp"),
            "rpm {args:?}:\n{said}"
        );
        output
    };
    std::fs::create_dir_all(root.join("var/lib/rpm")).unwrap();
    run(Command::new("rpm")
        .arg("--root")
        .arg(&root)
        .args(["--dbpath", "/var/lib/rpm", "--initdb"]));
    rpm_in(&["-i", "--nodeps", rpm.to_str().unwrap()]);
    let binary = root.join("usr/bin/driftwatch");
    assert!(binary.is_file() && root.join("usr/lib/systemd/system/driftwatch.service").is_file());
    assert_eq!(
        std::fs::metadata(root.join("var/lib/driftwatch"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o700
    );
    let version = |root: &Path| {
        stdout(&run(Command::new("rpm").arg("--root").arg(root).args([
            "--dbpath",
            "/var/lib/rpm",
            "-q",
            "--qf",
            "%{VERSION}-%{RELEASE}",
            "driftwatch",
        ])))
    };
    assert_eq!(version(&root), "0.1.0-1");
    let help = run(Command::new(&binary).arg("--version"));
    assert!(stdout(&help).starts_with("driftwatch 0.1.0"));

    let manifest = root.join("etc/driftwatch/manifest.toml");
    let edited = format!("{}{EDIT}", std::fs::read_to_string(&manifest).unwrap());
    std::fs::write(&manifest, &edited).unwrap();
    std::fs::write(root.join("var/lib/driftwatch/driftwatch.db"), "state").unwrap();
    let (_, rpm2) = built(2);
    rpm_in(&["-U", "--nodeps", rpm2.to_str().unwrap()]);
    assert_eq!(version(&root), "0.1.0-2");
    assert_eq!(std::fs::read_to_string(&manifest).unwrap(), edited);
    assert!(!root.join("etc/driftwatch/manifest.toml.rpmnew").exists());
    assert!(root.join("var/lib/driftwatch/driftwatch.db").is_file());

    // Erased: the edited manifest is kept aside, the state stays.
    rpm_in(&["-e", "--nodeps", "driftwatch"]);
    assert!(!binary.exists());
    assert_eq!(
        std::fs::read_to_string(root.join("etc/driftwatch/manifest.toml.rpmsave")).unwrap(),
        edited
    );
    assert!(root.join("var/lib/driftwatch/driftwatch.db").is_file());
}
