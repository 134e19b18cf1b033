//! `driftwatch completions SHELL` and `driftwatch man DIR`: the shell
//! completions and man pages, made from the command line's own definition
//! (the packages run both when they are built).

use std::path::Path;

use anyhow::Context as _;
use clap::CommandFactory;

use super::Cli;

/// The completion script for `shell`, on stdout.
pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<()> {
    let mut command = Cli::command();
    clap_complete::generate(shell, &mut command, "driftwatch", &mut std::io::stdout().lock());
    Ok(())
}

/// `driftwatch.1`, and `driftwatch-SUB.1` for every subcommand (nested ones
/// as `driftwatch-plugin-new.1`), into `dir`; returns the files written.
pub fn man_pages(dir: &Path) -> anyhow::Result<Vec<String>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut command = Cli::command();
    // Gives every subcommand its full name (`driftwatch-plugin-new`).
    command.build();
    let mut written = Vec::new();
    write_pages(&command, dir, &mut written)?;
    Ok(written)
}

fn write_pages(command: &clap::Command, dir: &Path, written: &mut Vec<String>) -> anyhow::Result<()> {
    let name = command.get_display_name().unwrap_or(command.get_name()).to_string();
    let page = command.clone().name(name.clone());
    let mut text = Vec::new();
    clap_mangen::Man::new(page)
        .title(name.to_uppercase())
        .section("1")
        .source(concat!("driftwatch ", env!("CARGO_PKG_VERSION")))
        .manual("driftwatch manual")
        .render(&mut text)
        .with_context(|| format!("rendering the man page of {name}"))?;
    let file = format!("{name}.1");
    let path = dir.join(&file);
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    written.push(file);
    // clap's own `help` subcommands are left out: `--help` is in every page.
    for sub in command
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        write_pages(sub, dir, written)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_for_the_command_and_each_subcommand() {
        let dir = tempfile::tempdir().unwrap();
        let written = man_pages(dir.path()).unwrap();
        assert!(!written.iter().any(|w| w.contains("help")), "{written:?}");
        for page in [
            "driftwatch.1",
            "driftwatch-scan.1",
            "driftwatch-plugin-new.1",
            "driftwatch-alerts-test.1",
        ] {
            assert!(written.iter().any(|w| w == page), "{page} not in {written:?}");
        }
        let scan = std::fs::read_to_string(dir.path().join("driftwatch-scan.1")).unwrap();
        assert!(scan.starts_with(".ie \\n(.g .ds Aq"), "{}", &scan[..80]);
        assert!(scan.contains("driftwatch\\-scan"), "{scan}");
        assert!(scan.contains("\\-\\-full"), "{scan}");
    }
}
