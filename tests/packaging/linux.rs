//! A Linux package of the project, checked as an administrator's machine
//! takes it: built by `packaging/linux/build-packages.sh` from the binary
//! under test (releases 1 and 2), listed, checked by lintian and its unit by
//! systemd, installed into scratch roots with the real dpkg and rpm,
//! upgraded to the rebuilt newer release keeping a locally edited
//! configuration file, removed and purged. Shared by the agent's end-to-end
//! tests and the fleet server's.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// One package and what it must hold.
pub struct Package {
    /// The package's name, which is its binary's.
    pub name: &'static str,
    /// The binary under test.
    pub binary: &'static str,
    /// Its configuration file in /etc/driftwatch (a conffile), and its mode.
    pub config: &'static str,
    pub config_mode: u32,
    /// Man pages it must have, without `.1.gz`.
    pub pages: &'static [&'static str],
    /// The state folder made on install (mode 0700), purged only on purge.
    pub state: Option<&'static str>,
    /// Whether the service is enabled on install (never started).
    pub enabled_on_install: bool,
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn run(command: &mut Command) -> Output {
    let output = command.output().unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}{}",
        text(&output.stdout),
        text(&output.stderr)
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

/// Releases 1 and 2 of `package`, built once per test binary: (deb, rpm).
fn built(package: &Package, release: u32) -> (PathBuf, PathBuf) {
    static BUILT: OnceLock<(&'static str, [(PathBuf, PathBuf); 2])> = OnceLock::new();
    let (name, built) = BUILT.get_or_init(|| {
        let out = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("packages")
            .join(package.name);
        let _ = std::fs::remove_dir_all(&out);
        (
            package.name,
            [build(package, &out.join("1"), 1), build(package, &out.join("2"), 2)],
        )
    });
    assert_eq!(*name, package.name, "one package per test binary");
    built[release as usize - 1].clone()
}

fn build(package: &Package, out: &Path, release: u32) -> (PathBuf, PathBuf) {
    let output = run(Command::new("bash")
        .arg(repo().join("packaging/linux/build-packages.sh"))
        .args([
            "--package",
            package.name,
            "--binary",
            package.binary,
            "--version",
            "0.1.0",
        ])
        .args(["--release", &release.to_string()])
        .arg("--out")
        .arg(out));
    let files: Vec<PathBuf> = text(&output.stdout).lines().map(PathBuf::from).collect();
    assert_eq!(files.len(), 2, "{}", text(&output.stdout));
    (files[0].clone(), files[1].clone())
}

/// What every package must hold (paths without the leading `/` or `./`).
fn expect_listed(package: &Package, listing: &str, unit_dir: &str, zsh_dir: &str) {
    let name = package.name;
    let mut paths = vec![
        format!("usr/bin/{name}"),
        format!("etc/driftwatch/{}", package.config),
        format!("{unit_dir}/{name}.service"),
        format!("usr/share/bash-completion/completions/{name}"),
        format!("{zsh_dir}/_{name}"),
        format!("usr/share/fish/vendor_completions.d/{name}.fish"),
    ];
    paths.extend(
        package
            .pages
            .iter()
            .map(|page| format!("usr/share/man/man1/{page}.1.gz")),
    );
    for path in paths {
        assert!(
            listing.lines().any(|line| line.trim_end().ends_with(&path)),
            "{path} is not in the package:\n{listing}"
        );
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
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

/// Appends a local edit to the configuration file; returns its new text.
fn edit(config: &Path) -> String {
    let edited = format!("{}{EDIT}", std::fs::read_to_string(config).unwrap());
    std::fs::write(config, &edited).unwrap();
    edited
}

/// A file put in the state folder, which must outlive upgrades and removal.
const KEPT: &str = "kept-by-upgrades";

/// The .deb: listing, lintian, install, the unit, `installed(root, binary)`
/// (the package's own checks of its installed binary), an upgrade keeping
/// the edited configuration and the state, removal, purge.
pub fn check_deb(package: &Package, installed: impl FnOnce(&Path, &Path)) {
    for (name, from) in [
        ("dpkg-deb", "dpkg"),
        ("lintian", "lintian"),
        ("rpmbuild", "rpm"),
        ("systemd-analyze", "systemd"),
        ("objdump", "binutils"),
    ] {
        tool(name, from);
    }
    let name = package.name;
    let scratch = tempfile::tempdir().unwrap();
    let (deb, _) = built(package, 1);
    let listing = text(&run(Command::new("dpkg").arg("-c").arg(&deb)).stdout);
    expect_listed(
        package,
        &listing,
        "lib/systemd/system",
        "usr/share/zsh/vendor-completions",
    );
    eprintln!("dpkg -c {}:\n{listing}", deb.display());
    let depends = text(&run(Command::new("dpkg-deb").arg("-f").arg(&deb).arg("Depends")).stdout);
    let depends: Vec<&str> = depends.trim().split(", ").collect();
    assert!(
        depends.len() == 3
            && depends[0].starts_with("libc6 (>= 2.")
            && depends[1] == "libgcc-s1 (>= 3.0)"
            && depends[2] == "init-system-helpers (>= 1.50)",
        "Depends: {depends:?}"
    );

    let lintian = Command::new("lintian")
        .args(["--tag-display-limit", "0"])
        .arg(&deb)
        .output()
        .unwrap();
    let report = format!("{}{}", text(&lintian.stdout), text(&lintian.stderr));
    eprintln!("lintian {}:\n{report}", deb.display());
    let errors: Vec<&str> = report.lines().filter(|l| l.starts_with("E:")).collect();
    assert!(errors.is_empty(), "lintian errors:\n{report}");

    let root = scratch.path().join("root");
    dpkg_root(&root);
    dpkg(&root, &["-i", deb.to_str().unwrap()]);
    let binary = root.join("usr/bin").join(name);
    assert!(binary.is_file());
    let config = root.join("etc/driftwatch").join(package.config);
    assert_eq!(mode(&config), package.config_mode, "{}", config.display());
    let unit = root.join(format!("lib/systemd/system/{name}.service"));
    let unit_text = std::fs::read_to_string(&unit).unwrap();
    assert!(
        unit_text.contains(&format!("ExecStart=/usr/bin/{name} ")),
        "{unit_text}"
    );
    let wants = root.join(format!("etc/systemd/system/multi-user.target.wants/{name}.service"));
    if package.enabled_on_install {
        assert_eq!(
            std::fs::read_link(&wants).unwrap(),
            Path::new("/lib/systemd/system").join(format!("{name}.service"))
        );
    } else {
        assert!(!wants.exists() && !wants.is_symlink(), "{name} enabled on install");
    }
    let state = package.state.map(|state| root.join(state));
    if let Some(state) = &state {
        assert_eq!(mode(state), 0o700, "{}", state.display());
    }

    // The unit as installed, checked by systemd: its binary is the one in
    // the scratch root, its man page (Documentation=) found there too.
    let checked = scratch.path().join(format!("unit/{name}.service"));
    std::fs::create_dir_all(checked.parent().unwrap()).unwrap();
    let binary_path = format!("/usr/bin/{name}");
    std::fs::write(&checked, unit_text.replace(&binary_path, binary.to_str().unwrap())).unwrap();
    let verify = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&checked)
        .env("MANPATH", root.join("usr/share/man"))
        .output()
        .unwrap();
    let said = format!("{}{}", text(&verify.stdout), text(&verify.stderr));
    assert!(
        verify.status.success() && said.trim().is_empty(),
        "systemd-analyze verify:\n{said}"
    );

    installed(&root, &binary);
    if let Some(state) = &state {
        std::fs::write(state.join(KEPT), "state").unwrap();
    }

    // A local edit and the state survive an upgrade to a rebuilt newer release.
    let edited = edit(&config);
    let (deb2, _) = built(package, 2);
    dpkg(&root, &["-i", deb2.to_str().unwrap()]);
    let status = text(
        &run(Command::new("dpkg-query")
            .arg(format!("--admindir={}", root.join("var/lib/dpkg").display()))
            .args(["-W", "-f", "${Version} ${Status}", name]))
        .stdout,
    );
    assert_eq!(status, "0.1.0-2 install ok installed");
    assert_eq!(std::fs::read_to_string(&config).unwrap(), edited);
    if let Some(state) = &state {
        assert!(state.join(KEPT).is_file());
    }

    // Removed: binary, unit and enablement go; the configuration and the state stay.
    dpkg(&root, &["-r", name]);
    assert!(!binary.exists() && !unit.exists() && !wants.is_symlink());
    assert_eq!(std::fs::read_to_string(&config).unwrap(), edited);
    if let Some(state) = &state {
        assert!(state.join(KEPT).is_file());
    }
    // Purged: they go too.
    dpkg(&root, &["-P", name]);
    assert!(!config.exists() && !root.join("etc/driftwatch").exists());
    if let Some(state) = &state {
        assert!(!state.exists());
    }
}

/// Whether this process runs as root (rpm's scriptlets need a chroot).
fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
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
    let ldd = text(&run(Command::new("ldd").arg("/bin/sh")).stdout);
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::copy(std::fs::canonicalize("/bin/sh").unwrap(), root.join("bin/sh")).unwrap();
    for library in ldd.split_whitespace().filter(|w| w.starts_with('/')) {
        let target = root.join(library.trim_start_matches('/'));
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(library, &target).unwrap();
    }
    true
}

/// The .rpm: listing, install into a temporary `--root`/`--dbpath`, the
/// installed binary's version, an upgrade keeping the edited configuration
/// and the state, erasure (the edited configuration saved aside).
pub fn check_rpm(package: &Package) {
    tool("rpmbuild", "rpm");
    let name = package.name;
    let scratch = tempfile::tempdir().unwrap();
    let (_, rpm) = built(package, 1);
    let listing = text(&run(Command::new("rpm").arg("-qlp").arg(&rpm)).stdout);
    expect_listed(
        package,
        &listing,
        "usr/lib/systemd/system",
        "usr/share/zsh/site-functions",
    );
    eprintln!("rpm -qlp {}:\n{listing}", rpm.display());
    let configs = text(&run(Command::new("rpm").arg("-qcp").arg(&rpm)).stdout);
    assert_eq!(configs.trim(), format!("/etc/driftwatch/{}", package.config));

    let root = scratch.path().join("root");
    // Scriptlets need a shell inside the root, and root to chroot there.
    let scripts = if is_root() && shell_into(&root) {
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
        let said = text(&output.stderr);
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
    let binary = root.join("usr/bin").join(name);
    assert!(binary.is_file());
    assert!(root.join(format!("usr/lib/systemd/system/{name}.service")).is_file());
    let config = root.join("etc/driftwatch").join(package.config);
    assert_eq!(mode(&config), package.config_mode, "{}", config.display());
    let state = package.state.map(|state| root.join(state));
    if let Some(state) = &state {
        assert_eq!(mode(state), 0o700, "{}", state.display());
    }
    let version = || {
        text(
            &run(Command::new("rpm").arg("--root").arg(&root).args([
                "--dbpath",
                "/var/lib/rpm",
                "-q",
                "--qf",
                "%{VERSION}-%{RELEASE}",
                name,
            ]))
            .stdout,
        )
    };
    assert_eq!(version(), "0.1.0-1");
    let said = text(&run(Command::new(&binary).arg("--version")).stdout);
    assert!(said.starts_with(&format!("{name} 0.1.0")), "{said}");

    let edited = edit(&config);
    if let Some(state) = &state {
        std::fs::write(state.join(KEPT), "state").unwrap();
    }
    let (_, rpm2) = built(package, 2);
    rpm_in(&["-U", "--nodeps", rpm2.to_str().unwrap()]);
    assert_eq!(version(), "0.1.0-2");
    assert_eq!(std::fs::read_to_string(&config).unwrap(), edited);
    let aside = |suffix: &str| root.join("etc/driftwatch").join(format!("{}.{suffix}", package.config));
    assert!(!aside("rpmnew").exists());
    if let Some(state) = &state {
        assert!(state.join(KEPT).is_file());
    }

    // Erased: the edited configuration is kept aside, the state stays.
    rpm_in(&["-e", "--nodeps", name]);
    assert!(!binary.exists());
    assert_eq!(std::fs::read_to_string(aside("rpmsave")).unwrap(), edited);
    if let Some(state) = &state {
        assert!(state.join(KEPT).is_file());
    }
}
