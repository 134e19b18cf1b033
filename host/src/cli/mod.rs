//! The `driftwatch` command line.

mod alerts;
mod changes;
mod diff;
mod enroll;
mod inventory;
mod plugins;
mod query;
mod runs;
mod scan;
mod ship;
mod status;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, CommandFactory, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use crate::change_engine::Category;
use crate::inventory::DataType;
use crate::machine::Machine;
use crate::manifest::Manifest;
use crate::runtime::Runtime;
use crate::store::Store;

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  error (bad manifest, unreadable state, invalid plugin, ...)
  2  wrong usage (a query that cannot be run included: the error points at it)
  3  the scan ran, but one or more collectors failed (see the table or --json)

Logs go to stderr; RUST_LOG controls them (e.g. RUST_LOG=debug, RUST_LOG=driftwatch=debug).";

/// Change tracking and inventory: installed software, files, services and
/// daemons, registry values. Collectors are sandboxed WebAssembly plugins.
#[derive(Debug, Parser)]
#[command(name = "driftwatch", version, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Args)]
struct Global {
    /// Manifest (TOML) of the collectors to run [default: the built-in one, every bundled collector]
    #[arg(long, global = true, value_name = "FILE")]
    manifest: Option<PathBuf>,
    /// Inventory the offline image or mounted disk at DIR instead of this machine (a Linux root, or a Windows system drive)
    #[arg(long, global = true, value_name = "DIR")]
    root: Option<PathBuf>,
    /// Directory of the state database and plugin cache [default: $XDG_STATE_HOME/driftwatch]
    #[arg(long, global = true, value_name = "DIR", env = "DRIFTWATCH_STATE")]
    state: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run every collector that applies here once, and store the inventory
    Scan {
        /// One JSON object per collector instead of a table
        #[arg(long)]
        json: bool,
        /// Collect everything again, even files whose stat shows no change
        /// (scans are incremental for files otherwise, with a full one daily)
        #[arg(long)]
        full: bool,
    },
    /// Run as an agent: every collector on its interval and, between intervals,
    /// as soon as what it reads changes (file watches), until SIGTERM or SIGINT
    /// (SIGHUP or an edit of the manifest file reloads it)
    Run,
    /// The agent as a Windows service (automatic start, LocalSystem, restarted
    /// on failure), run with --state (default %ProgramData%\driftwatch) and
    /// --manifest (default: the built-in one); it logs to the state
    /// directory's logs folder and its errors to the Application event log
    #[cfg(windows)]
    Service {
        #[command(subcommand)]
        action: ServiceCommand,
    },
    /// Show the stored inventory
    Inventory {
        /// Only this type: Software, Files, Daemons, WindowsServices or Registry
        #[arg(long = "type", value_name = "TYPE", value_parser = parse_data_type)]
        data_type: Option<DataType>,
        /// One JSON object per item, keyed by Azure's column names
        #[arg(long)]
        json: bool,
    },
    /// Show recorded changes, oldest first
    Changes {
        /// Only changes since a time (2026-11-25, 2026-11-25T08:00:00Z) or for a
        /// duration back from now (30m, 2h, 7d)
        #[arg(long, value_name = "TIME|DURATION", value_parser = parse_since)]
        since: Option<String>,
        /// Only this type: Software, Files, Daemons, WindowsServices or Registry
        #[arg(long = "type", value_name = "TYPE", value_parser = parse_data_type)]
        data_type: Option<DataType>,
        /// Only Added, Removed or Modified
        #[arg(long, value_name = "CATEGORY", value_parser = parse_category)]
        category: Option<Category>,
        /// One JSON object per change, keyed by Azure's column names
        #[arg(long)]
        json: bool,
    },
    /// Show what changed inside a tracked file: its captured content before and
    /// after its latest change (or the one asked for), as a unified diff
    Diff {
        /// The file, as recorded (`FileSystemPath`; a name that is not UTF-8
        /// as it is, or escaped as listings show it)
        path: std::ffi::OsString,
        /// The latest change at or before a time (2026-11-25T08:00:00Z) or a
        /// duration ago (2h)
        #[arg(long, value_name = "TIME|DURATION", value_parser = parse_since, conflicts_with = "change")]
        at: Option<String>,
        /// The change with this id (see `driftwatch changes`)
        #[arg(long, value_name = "ID")]
        change: Option<i64>,
        /// Before and after in two columns fitted to the terminal
        #[arg(long)]
        side_by_side: bool,
        /// Both versions and the diff as one JSON object
        #[arg(long)]
        json: bool,
    },
    /// Ask the stored history in KQL, Azure Monitor's query language: the tables
    /// ConfigurationChange, ConfigurationData and Heartbeat, with let, where,
    /// project, project-away, project-rename, extend, summarize (count,
    /// countif, dcount, min, max, sum, avg, arg_max, arg_min) ... by,
    /// order/sort by, top, take/limit, distinct, count, join, lookup, union,
    /// search, mv-expand, parse, evaluate narrow(), render
    #[command(after_help = QUERY_EXAMPLES)]
    Query {
        /// The query, e.g. 'ConfigurationChange | where ConfigChangeType == "Files" | take 10'
        query: String,
        /// One JSON object per row
        #[arg(long)]
        json: bool,
    },
    /// Alert rules ([[alert]] in the manifest): the alerts raised, or a dry run of one
    Alerts {
        #[command(subcommand)]
        command: AlertsCommand,
    },
    /// Per collector: last run, what it looked at (full, incremental, targeted),
    /// its outcome, items, changes, and when it runs next
    Status {
        /// One JSON object per collector
        #[arg(long)]
        json: bool,
    },
    /// The recorded runs of collectors, newest first: when, what each looked
    /// at (full, incremental, or targeted at the paths file events named),
    /// how it ended, items and changes
    Runs {
        /// Only the runs of this collector
        #[arg(long, value_name = "NAME")]
        collector: Option<String>,
        /// How many runs to show
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// One JSON object per run
        #[arg(long)]
        json: bool,
    },
    /// List every known plugin and whether it is active on this machine, and
    /// why; for each collector, what it is granted (by its manifest entry or
    /// by its plugin's defaults)
    Plugins {
        /// One JSON object per plugin and collector
        #[arg(long)]
        json: bool,
    },
    /// Work with one plugin file
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
    /// Join a fleet: enroll this machine with a driftwatch-server, using an
    /// enrollment secret from `driftwatch-server secret new`. The credential
    /// it gets is kept in the state directory (fleet.json, owner-only)
    Enroll {
        /// The server, e.g. https://fleet.example.com:8443
        server: String,
        /// The enrollment secret
        #[arg(long, env = "DRIFTWATCH_ENROLL_SECRET", hide_env_values = true)]
        secret: String,
        /// CA certificate (PEM) to check the server's certificate against,
        /// when the system does not trust it
        #[arg(long, value_name = "FILE")]
        ca: Option<PathBuf>,
        /// The name to enroll under [default: this machine's name]
        #[arg(long)]
        name: Option<String>,
    },
    /// Send the fleet server the changes and inventory it has not
    /// acknowledged (the agent and `scan` do this after each run)
    Ship {
        /// Compare the inventory with the server's copy now (done daily
        /// anyway); if they differ, send it whole again
        #[arg(long)]
        verify: bool,
        /// One JSON object
        #[arg(long)]
        json: bool,
    },
    #[command(flatten)]
    Docs(driftwatch_cli_docs::DocsCommand),
}

#[cfg(windows)]
#[derive(Debug, Subcommand)]
enum ServiceCommand {
    /// Register the agent with the Service Control Manager as `driftwatch`
    /// (again: update its settings); does not start it. A --manifest that
    /// does not exist yet is written with the built-in manifest's text
    Install,
    /// Stop the service if it runs and remove it (its state directory stays)
    Uninstall {
        /// Also delete the state directory (--state, default
        /// %ProgramData%\driftwatch): inventory, history, logs, and the
        /// manifest if it is there
        #[arg(long)]
        purge: bool,
    },
    /// Start the service and wait until it runs
    Start,
    /// Stop the service and wait until it has stopped
    Stop,
    /// What the Service Control Manager starts (not for a console)
    #[command(hide = true)]
    Run,
}

#[derive(Debug, Subcommand)]
enum AlertsCommand {
    /// The alerts raised, newest first, with each action's delivery
    List {
        /// How many alerts to show
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// One JSON object per alert
        #[arg(long)]
        json: bool,
    },
    /// Run the rule NAME over all stored changes and show what it matches;
    /// nothing is sent and nothing is recorded
    Test {
        /// The alert's `name` in the manifest
        name: String,
        /// The JSON document its actions would get
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum PluginCommand {
    /// Check that FILE is a collector plugin this host can run: a component
    /// implementing one collector world of a supported contract version;
    /// prints what it is, and the grants it declares by default
    Check {
        /// The plugin's .wasm file
        file: PathBuf,
        /// Print the result as one JSON object
        #[arg(long)]
        json: bool,
    },
    /// Write the WIT files of the contract this host speaks into DIR: what
    /// componentize-py, componentize-js and other bindings generators build
    /// a plugin against (the Rust SDK carries its own copy)
    Wit {
        /// The folder to write them into (created if missing)
        dir: PathBuf,
    },
    /// Start a plugin of your own: a project folder NAME (or --dir) with a
    /// complete collector of the kind, a unit test, an example manifest and
    /// a README; it builds with one command (Rust: `cargo build --release
    /// --target wasm32-wasip2`; Python: `sh build.sh`; JavaScript: `npm
    /// install && npm run build`) and passes `plugin check` as generated.
    /// Python and JavaScript projects are packages or services collectors
    New {
        /// The plugin's name: lowercase letters, digits and `-`
        name: String,
        /// What it collects: packages, services, files or registry
        #[arg(long, value_parser = parse_kind)]
        kind: crate::kind::Kind,
        /// The project's language: rust (the SDK), python (componentize-py)
        /// or javascript (componentize-js)
        #[arg(long, value_enum, default_value = "rust")]
        lang: crate::scaffold::Lang,
        /// The folder to create [default: NAME]
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Rust: a driftwatch checkout's `plugins/sdk` to build against
        /// [default: a git dependency on driftwatch's repository]
        #[arg(long, value_name = "PATH")]
        sdk: Option<PathBuf>,
    },
}

const QUERY_EXAMPLES: &str = r#"Examples:
  driftwatch query 'ConfigurationChange | where ConfigChangeType == "Daemons" and SvcName contains "ssh"'
  driftwatch query 'ConfigurationChange | where TimeGenerated > ago(1d) | summarize count() by bin(TimeGenerated, 1h), ConfigChangeType'
  driftwatch query 'ConfigurationData | where ConfigDataType == "Software" | summarize count() by Publisher | top 10 by count_'
  driftwatch query 'let since = ago(7d); ConfigurationChange | where TimeGenerated > since | join kind=leftouter (Heartbeat | summarize arg_max(TimeGenerated, *) by Computer) on Computer'

Operators: == != (case-sensitive), =~ !~ (not), contains has startswith endswith
(case-insensitive; ! negates, _cs makes them case-sensitive), in !in in~ !in~,
< <= > >= on numbers and datetimes, and or not(), + - * / % (datetimes too).
Joins: kind=innerunique (default) inner leftouter rightouter fullouter leftanti
rightanti leftsemi rightsemi, on X or on $left.X == $right.Y; lookup; union.
Functions: ago(1d) now() datetime(2026-11-25 08:00) tostring isempty isnotempty
isnull isnotnull strlen tolower toupper iff iif case strcat coalesce replace_string
toscalar bin floor startofday startofweek startofmonth startofyear endofday
endofweek hourofday dayofweek dayofmonth getmonth getyear datetime_diff
format_datetime round tolong toint todouble toreal parse_version; between;
regular expressions: matches regex, extract, replace_regex, replace; dynamic:
dynamic([..]) pack pack_array parse_json d[0] d.key split strcat_array
array_length array_slice has_any, in over an array or a table (in (T | project X));
make_set make_list any.
Operators also: mv-expand, parse, search, evaluate narrow(), render (noted;
drawn by the console).
Strings: "..." '...' and verbatim @"c:\path"."#;

fn parse_kind(text: &str) -> Result<crate::kind::Kind, String> {
    crate::kind::Kind::from_interface(text)
        .ok_or_else(|| format!("unknown kind {text:?}; use packages, services, files or registry"))
}

fn parse_category(text: &str) -> Result<Category, String> {
    Category::parse(text).ok_or_else(|| format!("unknown category {text:?}; use Added, Removed or Modified"))
}

/// A point in time as stored text: an RFC 3339 time, a date (midnight UTC), or
/// a duration back from now.
fn parse_since(text: &str) -> Result<String, String> {
    if let Ok(ts) = text.parse::<jiff::Timestamp>() {
        return Ok(crate::timefmt::format(ts));
    }
    if let Ok(date) = text.parse::<jiff::civil::Date>() {
        let ts = date
            .to_zoned_datetime(jiff::tz::TimeZone::UTC)
            .map_err(|e| e.to_string())?
            .timestamp();
        return Ok(crate::timefmt::format(ts));
    }
    let back = crate::manifest::units::parse_duration(text).map_err(|_| {
        format!("{text:?} is neither a time (2026-11-25T08:00:00Z), a date (2026-11-25) nor a duration (2h)")
    })?;
    let back = jiff::SignedDuration::try_from(back).map_err(|e| e.to_string())?;
    let ts = jiff::Timestamp::now().checked_sub(back).map_err(|e| e.to_string())?;
    Ok(crate::timefmt::format(ts))
}

fn parse_data_type(text: &str) -> Result<DataType, String> {
    DataType::parse(text).ok_or_else(|| {
        let names: Vec<_> = DataType::ALL.iter().map(|t| t.as_str()).collect();
        format!("unknown type {text:?}; use one of {}", names.join(", "))
    })
}

/// Runs the command line and returns the process's exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    #[cfg(windows)]
    if let Command::Service {
        action: ServiceCommand::Run,
    } = &cli.command
    {
        // A service has no console: its log goes to a file.
        let state_dir = cli
            .global
            .state
            .clone()
            .unwrap_or_else(crate::service::default_state_dir);
        crate::service::init_logging(&state_dir);
        return match service(&cli.global, ServiceCommand::Run) {
            Ok(code) => code,
            Err(error) => {
                tracing::error!("{error:#}");
                ExitCode::from(1)
            }
        };
    }
    init_logging();
    match run(cli) {
        Ok(code) => code,
        // Output piped into `head` and the like: stop quietly.
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("driftwatch: {error:#}");
            ExitCode::from(1)
        }
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error
        .chain()
        .filter_map(|e| e.downcast_ref::<std::io::Error>())
        .any(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}

fn init_logging() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let context = || Context::new(&cli.global);
    match cli.command {
        Command::Scan { json, full } => {
            let mut ctx = context()?;
            ctx.refresh_server_manifest();
            scan::run(&ctx, json, full)
        }
        Command::Run => {
            crate::agent::run(agent_setup(&cli.global)?, None)?;
            Ok(ExitCode::SUCCESS)
        }
        #[cfg(windows)]
        Command::Service { action } => service(&cli.global, action),
        Command::Inventory { data_type, json } => inventory::run(&context()?, data_type, json),
        Command::Changes {
            since,
            data_type,
            category,
            json,
        } => {
            let filter = crate::store::ChangeFilter {
                since,
                data_type,
                category,
                ..Default::default()
            };
            changes::run(&context()?, &filter, json)
        }
        Command::Diff {
            path,
            at,
            change,
            side_by_side,
            json,
        } => {
            let which = match (at, change) {
                (_, Some(id)) => diff::Which::Change(id),
                (Some(time), None) => diff::Which::At(time),
                (None, None) => diff::Which::Latest,
            };
            diff::run(&context()?, &path, which, side_by_side, json)
        }
        Command::Alerts {
            command: AlertsCommand::List { limit, json },
        } => alerts::list(&context()?, limit, json),
        Command::Alerts {
            command: AlertsCommand::Test { name, json },
        } => alerts::test(&context()?, &name, json),
        Command::Query { query, json } => query::run(&context()?, &query, json),
        Command::Status { json } => status::run(&context()?, json),
        Command::Runs { collector, limit, json } => runs::run(&context()?, collector.as_deref(), limit, json),
        Command::Plugins { json } => plugins::list(&context()?, json),
        Command::Ship { json, verify } => ship::run(&context()?, json, verify),
        Command::Docs(docs) => {
            docs.run(Cli::command())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Enroll {
            server,
            secret,
            ca,
            name,
        } => enroll::run(
            &context()?,
            &enroll::EnrollArgs {
                server: &server,
                secret: &secret,
                ca: ca.as_deref(),
                name: name.as_deref(),
            },
        ),
        Command::Plugin {
            command: PluginCommand::Check { file, json },
        } => plugins::check(&file, json),
        Command::Plugin {
            command: PluginCommand::Wit { dir },
        } => plugins::wit(&dir),
        Command::Plugin {
            command:
                PluginCommand::New {
                    name,
                    kind,
                    lang,
                    dir,
                    sdk,
                },
        } => plugins::new(name, kind, lang, dir, sdk),
    }
}

/// What the commands share: the machine, the manifest and the state directory.
/// What `driftwatch run` (or the service) runs the agent with.
fn agent_setup(global: &Global) -> anyhow::Result<crate::agent::Setup> {
    let ctx = Context::new(global)?;
    let source = match &global.manifest {
        Some(path) => crate::agent::ManifestSource::File(path.clone()),
        None => crate::agent::ManifestSource::BuiltIn,
    };
    Ok(crate::agent::Setup {
        source,
        runtime: ctx.runtime()?,
        machine: ctx.machine,
        state_dir: ctx.state_dir,
    })
}

#[cfg(windows)]
fn service(global: &Global, action: ServiceCommand) -> anyhow::Result<ExitCode> {
    use crate::service;
    let state_dir = std::path::absolute(global.state.clone().unwrap_or_else(service::default_state_dir))?;
    let mut global = global.clone();
    global.state = Some(state_dir.clone());
    match action {
        ServiceCommand::Install => {
            if global.root.is_some() {
                anyhow::bail!("a service tracks this machine: --root does not apply");
            }
            let manifest = global.manifest.as_deref().map(std::path::absolute).transpose()?;
            if let Some(path) = &manifest {
                // A manifest to start from, where there is none yet.
                if !path.exists() {
                    if let Some(dir) = path.parent() {
                        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
                    }
                    std::fs::write(path, Manifest::BUILTIN_TEXT)
                        .with_context(|| format!("writing the default manifest to {}", path.display()))?;
                    println!(
                        "wrote the default manifest to {}: edit it to choose what is tracked",
                        path.display()
                    );
                }
                // One that does not load is refused now, not at the service's start.
                Manifest::load(path)?;
            }
            service::install(&service::Installation { state_dir, manifest })?
        }
        ServiceCommand::Uninstall { purge } => {
            // The state goes when asked, whether or not there was a service.
            let removed = service::uninstall();
            if purge {
                match std::fs::remove_dir_all(&state_dir) {
                    Ok(()) => println!("removed {}", state_dir.display()),
                    Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                    Err(error) => return Err(error).with_context(|| format!("removing {}", state_dir.display())),
                }
            }
            removed?
        }
        ServiceCommand::Start => service::start()?,
        ServiceCommand::Stop => service::stop()?,
        ServiceCommand::Run => service::run(Box::new(move || agent_setup(&global)))?,
    }
    Ok(ExitCode::SUCCESS)
}

pub struct Context {
    pub machine: Machine,
    /// The manifest that runs: the fleet server's when it gave one, else
    /// the machine's own.
    pub manifest: Manifest,
    /// The machine's own manifest (`--manifest`, or the built-in one).
    pub local_manifest: Manifest,
    pub state_dir: PathBuf,
}

impl Context {
    fn new(global: &Global) -> anyhow::Result<Context> {
        let mut machine = Machine::detect(global.root.as_deref())?;
        let local_manifest = match &global.manifest {
            Some(path) => Manifest::load(path)?,
            None => Manifest::builtin()?,
        };
        let state_dir = global.state.clone().unwrap_or_else(default_state_dir);
        if let Some(name) = crate::collectors::image_name::windows_image_name(&machine, &state_dir) {
            machine.hostname = name;
        }
        Ok(Context {
            machine,
            manifest: crate::fleet::manifest::effective(&state_dir, local_manifest.clone()),
            local_manifest,
            state_dir,
        })
    }

    /// In a fleet: asks the server for the group's manifest first, so that
    /// a scan runs what the agent would. An unreachable server leaves what
    /// was kept.
    fn refresh_server_manifest(&mut self) {
        let membership = match crate::fleet::Membership::load(&self.state_dir) {
            Ok(Some(membership)) => membership,
            Ok(None) => return,
            Err(error) => {
                tracing::warn!("{error}");
                return;
            }
        };
        use crate::fleet::manifest::{Outcome, fetch};
        match fetch(&self.state_dir, &membership, &self.local_manifest) {
            Ok(Outcome::Applied { group, etag }) => {
                eprintln!("Running the manifest of group {group} from the fleet server (version {etag})")
            }
            Ok(Outcome::Withdrawn) => eprintln!("The fleet server has no manifest for this machine any more"),
            // Logged as an error where it is decided.
            Ok(Outcome::Refused { .. } | Outcome::Unchanged | Outcome::NoneSet) => {}
            Err(error) => tracing::warn!("cannot ask the fleet server for the manifest: {error}"),
        }
        self.manifest = crate::fleet::manifest::effective(&self.state_dir, self.local_manifest.clone());
    }

    pub fn open_store(&self) -> anyhow::Result<Store> {
        Ok(Store::open(&self.state_dir)?)
    }

    /// How many collectors may run at once.
    pub fn parallel(&self) -> usize {
        self.manifest
            .agent
            .parallel
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()).min(4))
    }

    /// The runtime, caching compiled plugins in the state directory.
    pub fn runtime(&self) -> anyhow::Result<Runtime> {
        Runtime::new(self.machine.facts(), Some(self.state_dir.join("plugin-cache")))
            .context("starting the plugin runtime")
    }
}

fn default_state_dir() -> PathBuf {
    dirs::state_dir()
        .or_else(dirs::data_local_dir)
        .map(|dir| dir.join("driftwatch"))
        .unwrap_or_else(|| PathBuf::from(".driftwatch"))
}
