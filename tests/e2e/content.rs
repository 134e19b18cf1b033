//! File content capture and `driftwatch diff`, end to end: a fixture tree
//! edited between scans.

use crate::support::*;

const BEFORE: &str = "Port 22\nPermitRootLogin no\nPasswordAuthentication yes\nUsePAM yes\n";
const AFTER: &str = "Port 2222\nPermitRootLogin no\nPasswordAuthentication no\nUsePAM yes\nAllowUsers alice\n";

fn setup() -> (Env, Vec<String>) {
    let env = Env::new();
    env.write("root/etc/ssh/sshd_config", BEFORE);
    env.write("root/etc/ssh/moduli.bin", b"\x7fELF\x00\x01");
    env.write("root/etc/ssh/big.txt", "x".repeat(2000));
    let manifest = env.write(
        "manifest.toml",
        "[[collector]]\nname = \"ssh\"\nkind = \"files\"\nplugin = \"files-posix\"\n\
         [[collector.paths]]\npath = \"/etc/ssh\"\nrecurse = true\ncapture_content = true\nmax_content_size = \"1KiB\"\n",
    );
    let args = vec![
        "--root".to_string(),
        env.path("root").display().to_string(),
        "--manifest".to_string(),
        manifest.display().to_string(),
    ];
    (env, args)
}

fn run(env: &Env, args: &[String], more: &[&str]) -> std::process::Output {
    let mut all: Vec<&str> = args.iter().map(String::as_str).collect();
    all.extend(more);
    env.run(&all)
}

fn scan_and_edit() -> (Env, Vec<String>) {
    let (env, args) = setup();
    assert_eq!(exit_code(&run(&env, &args, &["scan"])), 0);
    env.write("root/etc/ssh/sshd_config", AFTER);
    env.write("root/etc/ssh/moduli.bin", b"\x7fELF\x00\x02\x03");
    env.write("root/etc/ssh/new.conf", "Include extra\n");
    let out = run(&env, &args, &["scan", "--json"]);
    assert_eq!(json_lines(&out)[0]["Changes"], 3, "{}", stdout(&out));
    (env, args)
}

#[test]
fn diff_shows_a_captured_change_inline() {
    let (env, args) = scan_and_edit();
    let out = run(&env, &args, &["diff", "/etc/ssh/sshd_config"]);
    assert_eq!(exit_code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("Modified change "), "{text}");
    for line in [
        "--- /etc/ssh/sshd_config (before)",
        "-Port 22\n",
        "+Port 2222\n",
        " PermitRootLogin no\n",
        "+AllowUsers alice\n",
    ] {
        assert!(text.contains(line), "{line:?} missing in:\n{text}");
    }
    assert!(!text.contains('\x1b'), "no colours when not on a terminal");
}

#[test]
fn diff_side_by_side_fits_the_width() {
    let (env, args) = scan_and_edit();
    let mut all: Vec<&str> = args.iter().map(String::as_str).collect();
    all.extend(["diff", "/etc/ssh/sshd_config", "--side-by-side"]);
    let out = env.driftwatch().args(&all).env("COLUMNS", "61").output().unwrap();
    let text = stdout(&out);
    let rows: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(rows[0], format!("{:<29} | Port 2222", "Port 22"), "{text}");
    assert_eq!(rows[1], format!("{:<29}   PermitRootLogin no", "PermitRootLogin no"));
    assert_eq!(rows[4], format!("{:<29} > AllowUsers alice", ""));
    assert!(rows.iter().all(|r| r.chars().count() <= 61), "{text}");
}

#[test]
fn diff_json_and_what_was_not_captured() {
    let (env, args) = scan_and_edit();
    let json = &json_lines(&run(&env, &args, &["diff", "/etc/ssh/sshd_config", "--json"]))[0];
    assert_eq!(json["Before"]["Text"], BEFORE);
    assert_eq!(json["After"]["Text"], AFTER);
    assert_eq!(json["After"]["ContentState"], "captured");
    assert!(json["Diff"].as_str().unwrap().contains("+AllowUsers alice"));

    let binary = stdout(&run(&env, &args, &["diff", "/etc/ssh/moduli.bin"]));
    assert!(binary.contains("before: binary content, not captured"), "{binary}");
    let added = stdout(&run(&env, &args, &["diff", "/etc/ssh/new.conf"]));
    assert!(
        added.contains("before: the file did not exist") && added.contains("  Include extra"),
        "{added}"
    );
    let missing = run(&env, &args, &["diff", "/etc/ssh/big.txt"]);
    assert_eq!(exit_code(&missing), 1);
    assert!(
        stderr(&missing).contains("no recorded change of the file /etc/ssh/big.txt"),
        "{}",
        stderr(&missing)
    );
    // The oversized file's state was recorded.
    let files = json_lines(&run(&env, &args, &["inventory", "--type", "Files", "--json"]));
    let big = files
        .iter()
        .find(|f| f["FileSystemPath"] == "/etc/ssh/big.txt")
        .unwrap();
    assert_eq!(big["ContentState"], "too large");
}

#[test]
fn each_distinct_content_is_stored_once() {
    let (env, args) = scan_and_edit();
    // Unchanged rescans and a full rescan store nothing new.
    run(&env, &args, &["scan"]);
    run(&env, &args, &["scan", "--full"]);
    let blobs = walkdir(&env.path("state/content"));
    // sshd_config before and after, new.conf.
    assert_eq!(blobs, 3, "{blobs}");
}

fn walkdir(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| if e.path().is_dir() { walkdir(&e.path()) } else { 1 })
        .sum()
}
