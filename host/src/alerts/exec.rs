//! The `exec` action: a command, given the alert document on stdin. The
//! program runs directly with its arguments unless the rule asked for a shell.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::deliver::AttemptError;
use crate::manifest::alerts::{AlertRule, Exec};

/// How much of the command's output is kept for the log and errors.
const OUTPUT_KEPT: u64 = 4096;

pub fn run(exec: &Exec, document: &str, rule: &AlertRule) -> Result<(), AttemptError> {
    let Some((program, args)) = exec.argv.split_first() else {
        return Err(AttemptError {
            message: "empty command".into(),
            retry: false,
        });
    };
    let mut child = Command::new(program)
        .args(args)
        .env("DRIFTWATCH_ALERT", &rule.name)
        .env("DRIFTWATCH_SEVERITY", rule.severity.as_str())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| AttemptError {
            message: format!("cannot start {program}: {error}"),
            retry: false,
        })?;
    // Writing and reading happen on their own threads: a command that
    // ignores its input, or fills its output pipe, must not stall us.
    let input = child.stdin.take().map(|mut stdin| {
        let document = document.to_string();
        std::thread::spawn(move || {
            let _ = stdin.write_all(document.as_bytes());
        })
    });
    let stdout = child.stdout.take().map(|s| std::thread::spawn(move || keep(s)));
    let stderr = child.stderr.take().map(|s| std::thread::spawn(move || keep(s)));
    let status = wait(&mut child, exec.timeout);
    if let Some(writer) = input {
        let _ = writer.join();
    }
    let collect =
        |reader: Option<std::thread::JoinHandle<String>>| reader.and_then(|r| r.join().ok()).unwrap_or_default();
    let (stdout, stderr) = (collect(stdout), collect(stderr));
    if !stdout.trim().is_empty() {
        tracing::debug!(alert = %rule.name, "{program} printed: {}", stdout.trim());
    }
    match status {
        Some(status) if status.success() => Ok(()),
        Some(status) => Err(AttemptError {
            message: format!(
                "{program} exited with {status}{}{}",
                if stderr.trim().is_empty() { "" } else { ": " },
                stderr.trim()
            ),
            retry: true,
        }),
        None => Err(AttemptError {
            message: format!(
                "{program} did not finish within {}; stopped",
                crate::runtime::humanize(exec.timeout)
            ),
            retry: true,
        }),
    }
}

/// Waits for the child up to `timeout`; kills it and returns `None` past that.
fn wait(child: &mut std::process::Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}

/// Reads a stream to its end, keeping the first [`OUTPUT_KEPT`] bytes.
fn keep(stream: impl Read) -> String {
    let mut kept = Vec::new();
    let mut stream = stream;
    let _ = (&mut stream).take(OUTPUT_KEPT).read_to_end(&mut kept);
    let _ = std::io::copy(&mut stream, &mut std::io::sink());
    String::from_utf8_lossy(&kept).into_owned()
}
