//! A throwaway PostgreSQL cluster: `initdb` in a temporary directory,
//! `pg_ctl start` on a free port on 127.0.0.1, stopped and removed on drop.
//! PostgreSQL refuses to run as root: then the cluster belongs to the
//! `postgres` user and its commands run as that user.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    run_as: Option<String>,
    pub port: u16,
}

impl Postgres {
    pub fn start() -> Postgres {
        let bin = binaries()
            .unwrap_or_else(|| panic!("PostgreSQL's initdb is not installed (Debian: apt-get install postgresql)"));
        let dir = tempfile::tempdir().expect("temp dir");
        let run_as = is_root().then(|| "postgres".to_string());
        if let Some(user) = &run_as {
            let status = Command::new("chown")
                .args(["-R", user, dir.path().to_str().unwrap()])
                .status()
                .expect("chown");
            assert!(status.success(), "chown the cluster directory to {user}");
        }
        let port = free_port();
        let mut postgres = Postgres { dir, bin, run_as, port };
        let data = postgres.data().display().to_string();
        postgres.run(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "driftwatch",
                "--auth=trust",
                "-E",
                "UTF8",
                // A collation that is not byte order, as most installations
                // have: the server's queries must sort as KQL does anyway.
                "--locale-provider=icu",
                "--icu-locale=en-US",
                "--no-sync",
                "--no-instructions",
            ],
        );
        let log = postgres.dir.path().join("postgres.log").display().to_string();
        // Another test may take the port between free_port and the start:
        // try again on another one.
        for attempt in 0..5 {
            let options = postgres.options();
            if postgres.try_run(
                "pg_ctl",
                &["-D", &data, "-o", &options, "-w", "-t", "60", "-l", &log, "start"],
            ) {
                return postgres;
            }
            assert!(attempt < 4, "PostgreSQL did not start: {}", postgres.log());
            postgres.port = free_port();
        }
        postgres
    }

    /// Stops the server (fast: open connections are cut) and starts it again.
    pub fn restart(&self) {
        let data = self.data().display().to_string();
        let options = self.options();
        let log = self.dir.path().join("postgres.log").display().to_string();
        self.run(
            "pg_ctl",
            &[
                "-D", &data, "-o", &options, "-m", "fast", "-w", "-t", "60", "-l", &log, "restart",
            ],
        );
    }

    fn options(&self) -> String {
        format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off",
            self.port,
            self.dir.path().display()
        )
    }

    /// The address of a new, empty database in this cluster.
    pub fn new_database(&self, name: &str) -> String {
        let port = self.port.to_string();
        self.run("createdb", &["-h", "127.0.0.1", "-p", &port, "-U", "driftwatch", name]);
        self.url(name)
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://driftwatch@127.0.0.1:{}/{database}", self.port)
    }

    /// Runs `psql -c SQL` on `database`; its output, unaligned.
    pub fn psql(&self, database: &str, sql: &str) -> String {
        let output = self
            .command("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "driftwatch",
                "-d",
                database,
            ])
            .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .output()
            .expect("run psql");
        assert!(
            output.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default()
    }

    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        match &self.run_as {
            Some(user) => {
                let mut command = Command::new("runuser");
                command.args(["-u", user, "--"]).arg(program);
                command
            }
            None => Command::new(program),
        }
    }

    fn try_run(&self, program: &str, args: &[&str]) -> bool {
        let output = self.command(program).args(args).output().expect(program);
        if !output.status.success() {
            eprintln!("{program}: {}", String::from_utf8_lossy(&output.stderr));
        }
        output.status.success()
    }

    fn run(&self, program: &str, args: &[&str]) {
        assert!(self.try_run(program, args), "{program} {args:?} failed");
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.data().display().to_string();
        let _ = self
            .command("pg_ctl")
            .args(["-D", &data, "-m", "immediate", "-w", "stop"])
            .output();
    }
}

/// The directory of `initdb`: on PATH, or Debian's newest.
fn binaries() -> Option<PathBuf> {
    if let Ok(output) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        if dir.join("initdb").exists() {
            return Some(dir);
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).or_else(|| {
        std::env::var_os("PATH")
            .and_then(|path| std::env::split_paths(&path).find(|dir| Path::new(dir).join("initdb").exists()))
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port")
}
