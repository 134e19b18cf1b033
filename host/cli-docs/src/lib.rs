//! Shell completions and man pages made from a command line's own clap
//! definition, so that they never fall behind it. The agent's and the
//! fleet server's `completions` and `man` subcommands call these, and the
//! Linux packages run those when they are built.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The shells completions are written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

/// The `completions` and `man` subcommands, flattened into a command
/// line's own (`#[command(flatten)] Docs(DocsCommand)`).
#[derive(Debug, clap::Subcommand)]
pub enum DocsCommand {
    /// Print the completion script for a shell (bash: save it under the
    /// command's name in /usr/share/bash-completion/completions; zsh: as
    /// _NAME in a folder of $fpath; fish: as ~/.config/fish/completions/NAME.fish)
    Completions {
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Write the man pages (NAME.1, and NAME-SUBCOMMAND.1 for each
    /// subcommand) into a folder
    Man {
        /// Where to write them (created if missing)
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
}

impl DocsCommand {
    /// Does it for `command`: the completion script on stdout, or the man
    /// pages written and a line saying how many.
    pub fn run(&self, command: clap::Command) -> Result<(), DocsError> {
        match self {
            DocsCommand::Completions { shell } => {
                let name = command.get_name().to_string();
                completions(command, &name, *shell, &mut std::io::stdout().lock());
            }
            DocsCommand::Man { dir } => {
                let written = man_pages(command, dir)?;
                println!("wrote {} man pages into {}", written.len(), dir.display());
            }
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DocsError {
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
    #[error("cannot render the man page of {page}: {source}")]
    Render { page: String, source: std::io::Error },
}

/// The completion script of `command` (run as `bin_name`) for `shell`.
pub fn completions(mut command: clap::Command, bin_name: &str, shell: Shell, out: &mut dyn Write) {
    let shell = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(shell, &mut command, bin_name, out);
}

/// `NAME.1` for `command`, and `NAME-SUB.1` for every subcommand (nested
/// ones as `NAME-SUB-SUBSUB.1`), into `dir` (created if missing); returns
/// the names of the files written.
pub fn man_pages(mut command: clap::Command, dir: &Path) -> Result<Vec<String>, DocsError> {
    std::fs::create_dir_all(dir).map_err(|source| DocsError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    // Gives every subcommand its full name (`driftwatch-plugin-new`).
    command.build();
    let source = match command.get_version() {
        Some(version) => format!("{} {version}", command.get_name()),
        None => command.get_name().to_string(),
    };
    let mut written = Vec::new();
    write_pages(&command, &source, dir, &mut written)?;
    Ok(written)
}

fn write_pages(command: &clap::Command, source: &str, dir: &Path, written: &mut Vec<String>) -> Result<(), DocsError> {
    let name = command.get_display_name().unwrap_or(command.get_name()).to_string();
    let mut text = Vec::new();
    clap_mangen::Man::new(command.clone().name(name.clone()))
        .title(name.to_uppercase())
        .section("1")
        .source(source.to_string())
        .manual("driftwatch manual")
        .render(&mut text)
        .map_err(|source| DocsError::Render {
            page: name.clone(),
            source,
        })?;
    let file = format!("{name}.1");
    let path = dir.join(&file);
    std::fs::write(&path, text).map_err(|source| DocsError::Write { path, source })?;
    written.push(file);
    // clap's own `help` subcommands are left out: `--help` is in every page.
    for sub in command
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        write_pages(sub, source, dir, written)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command() -> clap::Command {
        clap::Command::new("tool")
            .version("1.2.3")
            .arg(
                clap::Arg::new("verbose")
                    .long("verbose")
                    .action(clap::ArgAction::SetTrue),
            )
            .subcommand(
                clap::Command::new("scan")
                    .about("Scan things")
                    .arg(clap::Arg::new("full").long("full").action(clap::ArgAction::SetTrue)),
            )
            .subcommand(clap::Command::new("plugin").subcommand(clap::Command::new("new")))
            .subcommand(clap::Command::new("secret").hide(true))
    }

    #[test]
    fn a_page_for_the_command_and_each_visible_subcommand() {
        let dir = tempfile::tempdir().unwrap();
        let mut written = man_pages(command(), dir.path()).unwrap();
        written.sort();
        assert_eq!(written, ["tool-plugin-new.1", "tool-plugin.1", "tool-scan.1", "tool.1"]);
        let scan = std::fs::read_to_string(dir.path().join("tool-scan.1")).unwrap();
        assert!(scan.starts_with(".ie \\n(.g .ds Aq"), "{}", &scan[..80]);
        assert!(scan.contains(".TH TOOL-SCAN 1"), "{scan}");
        assert!(scan.contains("tool 1.2.3"), "{scan}");
        assert!(scan.contains("tool\\-scan"), "{scan}");
        assert!(scan.contains("\\-\\-full"), "{scan}");
    }

    #[test]
    fn completions_name_the_subcommands() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let mut out = Vec::new();
            completions(command(), "tool", shell, &mut out);
            let script = String::from_utf8(out).unwrap();
            assert!(
                script.contains("scan") && script.contains("verbose"),
                "{shell:?}:\n{script}"
            );
        }
    }

    #[test]
    fn an_unwritable_folder_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, "").unwrap();
        let error = man_pages(command(), &file.join("man")).unwrap_err();
        assert!(error.to_string().contains("file/man"), "{error}");
    }
}
