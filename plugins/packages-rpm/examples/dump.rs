//! Lists the packages in an rpm database the way the corpus oracles do:
//! `name\tepoch\tversion\trelease\tarch`, sorted, `(none)` for absent
//! values. Problems go to stderr. `--long` adds summary, vendor or
//! packager, and install time.
//!
//!     cargo run --example dump -- /var/lib/rpm/rpmdb.sqlite
//!     cargo run --example dump -- [--long] --root /mnt/image

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use packages_rpm::{db, header};

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let long = args.first().is_some_and(|a| a == "--long");
    if long {
        args.remove(0);
    }
    let path = match args.as_slice() {
        [flag, root] if flag == "--root" => {
            let dirs = ["var/lib/rpm", "usr/lib/sysimage/rpm"].map(|d| Path::new(root).join(d));
            match db::find(&dirs.each_ref().map(PathBuf::as_path)) {
                Some((path, _)) => path,
                None => {
                    eprintln!("no rpm database under {root}");
                    return ExitCode::FAILURE;
                }
            }
        }
        [file] => PathBuf::from(file),
        _ => {
            eprintln!("usage: dump [--long] DATABASE-FILE | dump [--long] --root DIR");
            return ExitCode::from(2);
        }
    };
    let database = match db::open(&path) {
        Ok(database) => database,
        Err(e) => {
            eprintln!("{}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    };
    eprintln!("{}: {} database", path.display(), database.format.name());
    for note in &database.notes {
        eprintln!("note: {note}");
    }
    let (mut lines, mut failures) = (Vec::new(), 0);
    for entry in database.entries {
        match entry
            .map_err(|e| e.to_string())
            .and_then(|blob| header::parse(&blob.data).map_err(|e| format!("header {}: {e}", blob.key)))
        {
            Ok(h) => {
                let none = || "(none)".to_string();
                let mut line = format!(
                    "{}\t{}\t{}\t{}\t{}",
                    h.name,
                    h.epoch.map_or_else(none, |e| e.to_string()),
                    h.version,
                    h.release.clone().unwrap_or_else(none),
                    h.arch.clone().unwrap_or_else(none),
                );
                if long {
                    let publisher = h.vendor.clone().or(h.packager.clone()).unwrap_or_else(none);
                    let summary = h.summary.clone().unwrap_or_else(none);
                    let installed = h.install_time.map_or_else(none, |t| t.to_string());
                    line.push_str(&format!("\t{summary}\t{publisher}\t{installed}"));
                }
                lines.push(line);
            }
            Err(e) => {
                failures += 1;
                eprintln!("skipped: {e}");
            }
        }
    }
    lines.sort();
    for line in &lines {
        println!("{line}");
    }
    eprintln!("{} packages, {failures} skipped", lines.len());
    ExitCode::SUCCESS
}
