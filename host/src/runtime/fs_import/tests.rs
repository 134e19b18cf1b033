use super::*;
use crate::runtime::bindings::fs::EntryType;

fn grant(host: &Path, guest: &str) -> Preopen {
    Preopen {
        host: host.to_path_buf(),
        guest: guest.to_string(),
        is_dir: host.is_dir(),
        present: host.exists(),
        fold_case: false,
    }
}

fn request(path: &str) -> WalkRequest {
    WalkRequest {
        path: path.to_string(),
        pattern: None,
        recurse: false,
        links: LinkMode::Follow,
        digest: Some(DigestAlgorithm::Md5),
        max_digest_size: 0,
        include_directories: false,
    }
}

fn walk(grants: &[Preopen], request: WalkRequest) -> Vec<Entry> {
    let mut walker = Walker::start(grants, request, None, None).expect("walk starts");
    let mut entries = Vec::new();
    let mut observed = Observed::default();
    while let Some(batch) = walker.next_batch(&mut observed) {
        entries.extend(batch);
    }
    entries
}

fn paths(entries: &[Entry]) -> Vec<&str> {
    entries.iter().map(|e| e.path.as_str()).collect()
}

fn tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    std::fs::create_dir_all(r.join("etc/ssh")).unwrap();
    std::fs::write(r.join("etc/hosts"), "127.0.0.1 localhost\n").unwrap();
    std::fs::write(r.join("etc/a.conf"), "a").unwrap();
    std::fs::write(r.join("etc/b.conf"), "b").unwrap();
    std::fs::write(r.join("etc/ssh/sshd_config"), "Port 22\n").unwrap();
    std::fs::write(r.join("etc/ssh/x.conf"), "x").unwrap();
    std::fs::write(r.join("secret"), "outside").unwrap();
    dir
}

#[test]
fn paths_map_through_grants_only() {
    let dir = tree();
    let grants = [grant(&dir.path().join("etc"), "/etc")];
    assert_eq!(
        locate(&grants, "/etc/hosts").unwrap().host,
        dir.path().join("etc/hosts")
    );
    assert_eq!(locate(&grants, "/etc").unwrap().host, dir.path().join("etc"));
    assert!(locate(&grants, "/etcetera/x").is_none());
    assert!(locate(&grants, "/etc/../secret").is_none());
    assert!(locate(&grants, "/secret").is_none());
    let denied = Walker::start(&grants, request("/"), None, None).err().unwrap();
    assert!(matches!(denied, FsError::Denied(m) if m == "/ is outside the plugin's grants"));
}

#[test]
fn a_directory_lists_its_files_and_recursion_goes_deeper() {
    let dir = tree();
    let grants = [grant(&dir.path().join("etc"), "/etc")];
    let flat = walk(&grants, request("/etc"));
    assert_eq!(paths(&flat), ["/etc/a.conf", "/etc/b.conf", "/etc/hosts"]);
    let deep = walk(
        &grants,
        WalkRequest {
            recurse: true,
            ..request("/etc")
        },
    );
    assert_eq!(
        paths(&deep),
        [
            "/etc/a.conf",
            "/etc/b.conf",
            "/etc/hosts",
            "/etc/ssh/sshd_config",
            "/etc/ssh/x.conf"
        ]
    );
    let with_dirs = walk(
        &grants,
        WalkRequest {
            recurse: true,
            include_directories: true,
            ..request("/etc")
        },
    );
    assert!(paths(&with_dirs).contains(&"/etc/ssh"));
}

#[test]
fn patterns_select_names_at_every_level() {
    let dir = tree();
    let grants = [grant(&dir.path().join("etc"), "/etc")];
    let conf = walk(
        &grants,
        WalkRequest {
            pattern: Some("*.conf".into()),
            ..request("/etc")
        },
    );
    assert_eq!(paths(&conf), ["/etc/a.conf", "/etc/b.conf"]);
    let deep = walk(
        &grants,
        WalkRequest {
            pattern: Some("*.conf".into()),
            recurse: true,
            ..request("/etc")
        },
    );
    assert_eq!(paths(&deep), ["/etc/a.conf", "/etc/b.conf", "/etc/ssh/x.conf"]);
    assert!(wildcard_match("?.conf", "a.conf", false));
    assert!(!wildcard_match("?.conf", "ab.conf", false));
    assert!(wildcard_match("*ss*d*", "sshd_config", false));
    assert!(wildcard_match("HOSTS", "hosts", true));
    assert!(!wildcard_match("HOSTS", "hosts", false));
}

#[test]
fn files_are_hashed_with_the_asked_algorithm() {
    let dir = tree();
    let grants = [grant(&dir.path().join("etc/hosts"), "/etc/hosts")];
    let md5 = walk(&grants, request("/etc/hosts"));
    assert_eq!(md5.len(), 1);
    assert_eq!(md5[0].digest.as_deref(), Some("0eea71665fb6890c06421fd13aa3f849"));
    assert_eq!(md5[0].size, 20);
    assert_eq!(md5[0].entry_type, EntryType::File);
    let sha = stat(&grants, "/etc/hosts", false, Some(DigestAlgorithm::Sha256)).unwrap();
    assert_eq!(
        sha.digest.as_deref(),
        Some("081ef9d5367595d16e30b4b4549d9f43537320508b4ce0788963e10e4f808857")
    );
    let capped = walk(
        &grants,
        WalkRequest {
            max_digest_size: 10,
            ..request("/etc/hosts")
        },
    );
    assert_eq!(capped[0].digest, None);
}

#[cfg(unix)]
#[test]
fn links_are_ignored_followed_or_managed_and_never_leave_the_grant() {
    let dir = tree();
    let r = dir.path();
    std::os::unix::fs::symlink(r.join("etc/hosts"), r.join("etc/hosts-link")).unwrap();
    std::os::unix::fs::symlink(r, r.join("etc/up")).unwrap();
    std::os::unix::fs::symlink(r.join("secret"), r.join("etc/secret-link")).unwrap();
    let grants = [grant(&r.join("etc"), "/etc")];
    let base = WalkRequest {
        recurse: true,
        ..request("/etc")
    };

    let ignored = walk(
        &grants,
        WalkRequest {
            links: LinkMode::Ignore,
            ..base.clone()
        },
    );
    assert!(!paths(&ignored).iter().any(|p| p.contains("link") || p.contains("/up")));

    let managed = walk(
        &grants,
        WalkRequest {
            links: LinkMode::Manage,
            ..base.clone()
        },
    );
    let link = managed.iter().find(|e| e.path == "/etc/hosts-link").unwrap();
    assert_eq!(link.entry_type, EntryType::Symlink);
    assert_eq!(link.link_target.as_deref(), Some(r.join("etc/hosts").to_str().unwrap()));
    assert_eq!(link.digest, None);

    let followed = walk(&grants, base);
    let link = followed.iter().find(|e| e.path == "/etc/hosts-link").unwrap();
    assert_eq!(link.entry_type, EntryType::File);
    assert_eq!(link.digest.as_deref(), Some("0eea71665fb6890c06421fd13aa3f849"));
    assert!(
        !paths(&followed).iter().any(|p| p.starts_with("/etc/up/")),
        "followed a link out of the grant: {:?}",
        paths(&followed)
    );
}

#[test]
fn a_missing_path_is_not_found() {
    let dir = tree();
    let grants = [grant(&dir.path().join("etc"), "/etc")];
    let err = Walker::start(&grants, request("/etc/nope"), None, None).err().unwrap();
    assert!(matches!(err, FsError::NotFound(_)));
}

#[test]
fn big_walks_come_in_batches() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..2500 {
        std::fs::write(dir.path().join(format!("f{i:05}")), "x").unwrap();
    }
    let grants = [grant(dir.path(), "/data")];
    let mut walker = Walker::start(&grants, request("/data"), None, None).unwrap();
    let mut observed = Observed::default();
    let sizes: Vec<usize> = std::iter::from_fn(|| walker.next_batch(&mut observed).map(|b| b.len())).collect();
    assert_eq!(sizes, [1024, 1024, 452]);
    assert_eq!(observed.keys.len(), 2500);
}

#[test]
fn an_incremental_walk_withholds_unchanged_files() {
    let dir = tree();
    let grants = [grant(&dir.path().join("etc"), "/etc")];
    let full = {
        let mut walker = Walker::start(
            &grants,
            WalkRequest {
                recurse: true,
                ..request("/etc")
            },
            None,
            None,
        )
        .unwrap();
        let mut observed = Observed::default();
        while walker.next_batch(&mut observed).is_some() {}
        observed.keys
    };
    assert_eq!(full.len(), 5);
    let full_paths: Vec<String> = full.keys().cloned().collect();
    // Change one file's content and size.
    std::fs::write(dir.path().join("etc/hosts"), "10.0.0.1 other\n").unwrap();
    let index = Arc::new(StatIndex::new(full));
    let mut walker = Walker::start(
        &grants,
        WalkRequest {
            recurse: true,
            ..request("/etc")
        },
        Some(index.clone()),
        None,
    )
    .unwrap();
    let mut observed = Observed::default();
    let mut handed = Vec::new();
    while let Some(batch) = walker.next_batch(&mut observed) {
        handed.extend(batch);
    }
    assert_eq!(paths(&handed), ["/etc/hosts"]);
    assert!(handed[0].digest.is_some(), "a changed file is hashed again");
    assert_eq!(index.unchanged_count(), 4);
    assert!(!index.found_unchanged("/etc/hosts"));
    let withheld: Vec<&String> = full_paths.iter().filter(|p| index.found_unchanged(p)).collect();
    assert_eq!(withheld.len(), 4, "{withheld:?}");
    assert!(observed.keys.contains_key("/etc/hosts"));
}

#[test]
fn paths_under_a_grant_missing_here_are_not_found_not_denied() {
    let dir = tree();
    let grants = [grant(&dir.path().join("var/log"), "/var/log")];
    assert!(!grants[0].present);
    let err = Walker::start(&grants, request("/var/log/syslog"), None, None)
        .err()
        .unwrap();
    assert!(matches!(err, FsError::NotFound(_)), "{err:?}");
}

#[test]
fn windows_paths_match_in_any_case_and_join_with_backslashes() {
    let dir = tempfile::tempdir().unwrap();
    let etc = dir.path().join("WINDOWS/System32/drivers/etc");
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::write(etc.join("hosts"), "127.0.0.1 localhost\r\n").unwrap();
    std::fs::write(etc.join("services"), "echo 7/tcp\r\n").unwrap();
    let grants = [Preopen {
        fold_case: true,
        ..grant(dir.path(), "C:\\")
    }];
    // The same file, whatever the letter case the file system keeps.
    let found = locate(&grants, "c:\\windows\\SYSTEM32\\drivers\\etc\\HOSTS")
        .unwrap()
        .host;
    assert_eq!(
        std::fs::canonicalize(found).unwrap(),
        std::fs::canonicalize(etc.join("hosts")).unwrap()
    );
    let mut walk_etc = request("C:\\windows\\system32\\drivers\\etc");
    walk_etc.pattern = Some("HOST*".into());
    let entries = walk(&grants, walk_etc);
    assert_eq!(paths(&entries), ["C:\\windows\\system32\\drivers\\etc\\hosts"]);
    assert!(entries[0].digest.is_some());
    let all = walk(&grants, request("C:/Windows/System32/drivers/etc"));
    assert_eq!(all.len(), 2);
    assert!(locate(&grants, "D:\\x").is_none());
}

#[test]
fn a_capturing_walk_keeps_text_contents_read_with_the_digest() {
    let dir = tree();
    std::fs::write(dir.path().join("etc/blob.conf"), b"a\0b").unwrap();
    let grants = [grant(&dir.path().join("etc"), "/etc")];
    let state = tempfile::tempdir().unwrap();
    let store = crate::content_store::ContentStore::in_state_dir(state.path());
    let rule = CaptureRule {
        max_size: 1 << 20,
        binary: false,
    };
    let mut walk = request("/etc");
    walk.pattern = Some("*.conf".into());
    walk.digest = None;
    let mut walker = Walker::start(&grants, walk, None, Some((rule, store.clone()))).unwrap();
    let mut observed = Observed::default();
    while walker.next_batch(&mut observed).is_some() {}
    assert_eq!(observed.captured.len(), 3);
    let a = observed.captured["/etc/a.conf"].hash().unwrap();
    assert_eq!(store.get(a).unwrap(), b"a");
    assert_eq!(observed.captured["/etc/blob.conf"], Captured::Binary);
}

#[test]
fn a_focus_covers_paths_and_leads_to_them() {
    let focus = Focus::new(["/etc/ssh/".to_string(), "/etc/hosts".to_string()]);
    assert!(focus.covers("/etc/hosts"));
    assert!(focus.covers("/etc/ssh"));
    assert!(focus.covers("/etc/ssh/sshd_config"));
    assert!(!focus.covers("/etc/hosts.allow"));
    assert!(!focus.covers("/etc"));
    assert!(focus.leads_to("/etc"));
    assert!(focus.leads_to("/"));
    assert!(!focus.leads_to("/etc/ssh/sshd_config"));
    assert!(!focus.leads_to("/var"));
    let root = Focus::new(["/".to_string()]);
    assert!(root.covers("/anything/at/all"));
    let windows = Focus::new([r"C:\Windows\System32\drivers\etc\hosts".to_string()]);
    assert!(windows.leads_to(r"C:\Windows"));
    assert!(windows.covers(r"C:\Windows\System32\drivers\etc\hosts"));
}

#[test]
fn a_targeted_walk_looks_only_at_its_focus() {
    let dir = tree();
    let grants = [grant(&dir.path().join("etc"), "/etc")];
    let focus = Focus::new([
        "/etc/ssh".to_string(),
        "/etc/b.conf".to_string(),
        "/etc/vanished".to_string(),
    ]);
    let index = Arc::new(StatIndex::new(Vec::new()).focused(focus));
    let walk = |request: WalkRequest| {
        let mut walker = Walker::start(&grants, request, Some(index.clone()), None).unwrap();
        let mut observed = Observed::default();
        let mut handed = Vec::new();
        while let Some(batch) = walker.next_batch(&mut observed) {
            handed.extend(batch);
        }
        handed
    };
    let recursive = walk(WalkRequest {
        recurse: true,
        ..request("/etc")
    });
    let mut found = paths(&recursive);
    found.sort();
    assert_eq!(found, ["/etc/b.conf", "/etc/ssh/sshd_config", "/etc/ssh/x.conf"]);
    // The rule's own limits still hold: not recursive, only *.conf.
    let flat = walk(WalkRequest {
        pattern: Some("*.conf".into()),
        ..request("/etc")
    });
    assert_eq!(paths(&flat), ["/etc/b.conf"]);
    // A single-file rule outside the focus yields nothing.
    assert!(walk(request("/etc/hosts")).is_empty());
}
