//! Item keys never merge two things: file names that are not UTF-8, or that
//! differ only by a trailing space, are items of their own, stored exactly,
//! shown escaped (as `ls -b` does).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::support::*;

const MANIFEST: &str = r#"
[[collector]]
name = "data"
kind = "files"
plugin = "files-posix"
  [[collector.paths]]
  path = "/data"
  recurse = true
  capture_content = true
"#;

struct Fixture {
    env: Env,
    args: Vec<String>,
}

impl Fixture {
    fn run(&self, more: &[&str]) -> std::process::Output {
        let mut all: Vec<&str> = self.args.iter().map(String::as_str).collect();
        all.extend(more);
        self.env.run(&all)
    }

    fn scan(&self) -> Value {
        let out = self.run(&["scan", "--json"]);
        assert_eq!(exit_code(&out), 0, "{}", stderr(&out));
        json_lines(&out).remove(0)
    }

    /// Checksums of the inventory's files, by path as shown.
    fn inventory(&self) -> BTreeMap<String, String> {
        json_lines(&self.env.run(&["inventory", "--json"]))
            .iter()
            .map(|r| {
                (
                    r["FileSystemPath"].as_str().unwrap().to_string(),
                    r["FileContentChecksum"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }
}

#[cfg(target_os = "linux")]
#[test]
fn names_that_are_not_utf8_are_items_of_their_own() {
    use std::os::unix::ffi::OsStrExt;

    let env = Env::new();
    let data = env.path("root/data");
    std::fs::create_dir_all(&data).unwrap();
    let write = |name: &[u8], content: &str| {
        std::fs::write(data.join(std::ffi::OsStr::from_bytes(name)), content).unwrap();
    };
    write(b"bad\xffname", "one\n");
    write(b"bad\xfename", "two\n");
    write(b"trail", "three\n");
    write(b"trail ", "four\n");
    let manifest = env.write("m.toml", MANIFEST).display().to_string();
    let f = Fixture {
        args: vec![
            "--root".into(),
            env.path("root").display().to_string(),
            "--manifest".into(),
            manifest,
        ],
        env,
    };
    assert_eq!(f.scan()["Items"], 4);
    let inventory = f.inventory();
    assert_eq!(
        inventory,
        BTreeMap::from([
            (r"/data/bad\xfename".to_string(), md5_hex(b"two\n")),
            (r"/data/bad\xffname".to_string(), md5_hex(b"one\n")),
            ("/data/trail".to_string(), md5_hex(b"three\n")),
            ("/data/trail ".to_string(), md5_hex(b"four\n")),
        ])
    );

    // Each change lands on its own file.
    write(b"bad\xffname", "one, changed\n");
    std::fs::remove_file(data.join(std::ffi::OsStr::from_bytes(b"bad\xfename"))).unwrap();
    write(b"trail ", "four, changed\n");
    let second = f.scan();
    assert_eq!(second["Changes"], 3, "{second}");
    let mut changes: Vec<String> = json_lines(&f.env.run(&["changes", "--json"]))
        .iter()
        .map(|c| {
            format!(
                "{} {:?}",
                c["ChangeCategory"].as_str().unwrap(),
                c["FileSystemPath"].as_str().unwrap()
            )
        })
        .collect();
    changes.sort();
    assert_eq!(
        changes,
        [
            r#"Modified "/data/bad\\xffname""#,
            r#"Modified "/data/trail ""#,
            r#"Removed "/data/bad\\xfename""#,
        ]
    );
    assert_eq!(f.scan()["Changes"], 0, "nothing changed since");
    let table = stdout(&f.env.run(&["changes"]));
    assert!(
        table.contains(r"/data/bad\xfename") && table.contains(r"/data/bad\xffname"),
        "{table}"
    );

    // `diff` finds the file by its escaped name, as listings show it, and by
    // its real bytes.
    for name in [
        std::ffi::OsStr::new(r"/data/bad\xffname"),
        std::ffi::OsStr::from_bytes(b"/data/bad\xffname"),
    ] {
        let out = f
            .env
            .driftwatch()
            .arg("diff")
            .arg(name)
            .output()
            .expect("run driftwatch");
        assert_eq!(exit_code(&out), 0, "{}", stderr(&out));
        let text = stdout(&out);
        assert!(text.contains("-one\n") && text.contains("+one, changed\n"), "{text}");
        assert!(text.contains(r"/data/bad\xffname"), "{text}");
    }
}
