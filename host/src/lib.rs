//! driftwatch: change tracking and inventory.
//!
//! | module | job |
//! |---|---|
//! | `cli` | the command line |
//! | `agent` | `driftwatch run`: the scheduler, signals, reloads |
//! | `service` | the agent as a Windows service (`driftwatch service …`) |
//! | `watch` | file-system watches that trigger the agent's runs |
//! | `alerts` | alert rules evaluated on new changes; webhook, exec and log actions |
//! | `outputs` | change and inventory records sent on: jsonl file, syslog, Azure Monitor |
//! | `fleet` | membership of a fleet (`driftwatch enroll`) and the client for its server |
//! | `manifest` | which collectors run where, with what grants, limits and settings |
//! | `machine` | the live machine or an offline image (`--root`) |
//! | `catalog` | bundled plugins and plugin files |
//! | `runtime` | the wasmtime sandbox plugins run in |
//! | `collectors` | manifest entries → runnable collectors on a machine |
//! | `pipeline` | running one collector: scope, sandboxed run, recording, run-completed hook |
//! | `scan` | one pass over every collector |
//! | `scaffold` | `driftwatch plugin new`: a plugin project of one's own |
//! | `change_engine` | each collected item vs its stored row: what to write, which changes to report |
//! | `inventory` | plugin records → normalised rows with Azure's columns |
//! | `heartbeat` | what this machine's `Heartbeat` rows say: its OS and the agent's version |
//! | `exact_path` | file names that are not UTF-8, kept byte for byte |
//! | `store` | the SQLite state database |
//! | `query` | KQL queries translated to SQL |
//! | `output` | tables and JSON lines |
//! | `tls` | trusted CA certificates and the HTTP client of webhooks, fleet calls and outputs |
//! | `stopping` | blocking waits a stop flag cuts short |

pub mod agent;
pub mod alerts;
pub mod catalog;
pub mod change_engine;
pub mod cli;
pub mod collectors;
pub mod content_store;
pub mod exact_path;
pub mod fleet;
pub mod heartbeat;
pub mod inventory;
pub mod kind;
pub mod machine;
pub mod manifest;
pub mod output;
pub mod outputs;
pub mod pipeline;
pub mod query;
pub mod runtime;
pub mod scaffold;
pub mod scan;
#[cfg(windows)]
pub mod service;
pub mod stopping;
pub mod store;
pub mod timefmt;
pub mod tls;
pub mod watch;
