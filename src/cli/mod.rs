//! `castctl`, the technician's command-line client: talks to a castd over its HTTP API and
//! prints tables for people or the API's JSON unchanged for scripts.
//!
//! It owns nothing of the daemon and never touches its database or files: everything goes
//! through the API, with the same credentials and permissions as any other client. Exit
//! codes tell scripts what went wrong (see [`Failure::exit_code`]).

mod client;
mod commands;
mod credentials;
mod events;
mod output;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Command line of `castctl`.
#[derive(Debug, Parser)]
#[command(
    name = "castctl",
    version,
    about = "Command-line client for castd, the lecture capture daemon",
    after_help = "Credentials: flags, else CASTD_URL, CASTD_USER, CASTD_PASSWORD, else \
                  ~/.config/castd/castctl.toml (keys url, user, password; mode 0600).\n\
                  Exit codes: 0 ok, 1 the operation failed, 2 usage or configuration error, \
                  3 castd not reachable, 4 castd answered with an error."
)]
pub struct Cli {
    /// castd's address, e.g. http://lecture-hall-3:8080 [default: http://127.0.0.1:8080]
    #[arg(long, global = true, env = "CASTD_URL")]
    pub url: Option<String>,
    /// User name [default: admin]
    #[arg(long, global = true, env = "CASTD_USER")]
    pub user: Option<String>,
    /// Password
    #[arg(long, global = true, env = "CASTD_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// Print the API's JSON answer unchanged instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The unit at a glance: name, capture state, disk, devices, alarms.
    Status,
    /// Capture devices with their signal.
    Devices,
    /// Scan for capture devices now.
    Redetect,
    /// Start a capture.
    Start {
        /// Template id or name.
        #[arg(long)]
        template: String,
        /// Title of the recording.
        #[arg(long)]
        title: String,
        /// Stop by itself after this many minutes.
        #[arg(long, value_name = "MINUTES")]
        duration: Option<u32>,
    },
    /// Stop the capture (the recording is finalised).
    Stop,
    /// Pause the capture (the paused span is left out of the recording).
    Pause,
    /// Resume a paused capture.
    Resume,
    /// The schedule.
    #[command(subcommand)]
    Schedule(ScheduleCommand),
    /// Recorded media packages.
    #[command(subcommand)]
    Packages(PackagesCommand),
    /// Publish a media package and follow the upload until it is done or failed.
    Publish {
        /// Media package id.
        #[arg(value_name = "PACKAGE_ID")]
        package: String,
        /// Publisher to use (repeatable); default: the package's or every configured one.
        #[arg(long = "publisher", value_name = "ID")]
        publishers: Vec<String>,
    },
    /// Download a backup of the unit's database (users, settings, templates, schedule).
    Backup {
        /// Where to write it ("-" for stdout) [default: the name castd suggests].
        #[arg(short, long, value_name = "FILE")]
        output: Option<String>,
    },
    /// Follow the live event stream, one line per event, until interrupted.
    #[command(alias = "logs")]
    Events {
        /// Also show the once-a-second `nodeStats` and `levels` events.
        #[arg(long)]
        stats: bool,
    },
    /// The Opencast capture-agent link.
    #[command(subcommand)]
    Opencast(OpencastCommand),
    /// Reboot the unit once recordings are finalised.
    Reboot {
        /// Stop and finalise a running capture instead of refusing.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ScheduleCommand {
    /// Events that have not ended yet (with --all, every event).
    List {
        /// Include events that have ended.
        #[arg(long)]
        all: bool,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
}

#[derive(Debug, Subcommand)]
pub enum OpencastCommand {
    /// The link: agent state, last contact and failure, calendar, outbox, ingests.
    Status,
    /// Sign in to Opencast, check the user's roles and discover its services.
    Test,
    /// Fetch the whole calendar, report the state and send waiting states now.
    Sync,
}

#[derive(Debug, Subcommand)]
pub enum PackagesCommand {
    /// Media packages, newest first.
    List {
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
}

/// Why a command did not succeed; each kind has its own exit code.
#[derive(Debug)]
pub enum Failure {
    /// Bad arguments, missing or unsafe configuration.
    Usage(String),
    /// castd could not be reached (refused, timed out, not HTTP).
    Connection(String),
    /// castd answered with an API error.
    Api {
        status: u16,
        code: String,
        message: String,
        /// The answer's body as it came.
        body: String,
    },
    /// The request was taken but what it started failed (a publish job, writing a file).
    Failed(String),
}

impl Failure {
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Failed(_) => 1,
            Failure::Usage(_) => 2,
            Failure::Connection(_) => 3,
            Failure::Api { .. } => 4,
        }
    }
}

/// Runs `castctl` with its arguments and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("castctl: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            report(&failure, json);
            ExitCode::from(failure.exit_code())
        }
    }
}

fn report(failure: &Failure, json: bool) {
    match failure {
        Failure::Usage(m) | Failure::Connection(m) | Failure::Failed(m) => {
            eprintln!("castctl: {m}")
        }
        Failure::Api {
            status,
            code,
            message,
            body,
        } => {
            if json && !body.is_empty() {
                println!("{body}");
            }
            eprintln!("castctl: error {code} ({status}): {message}");
        }
    }
}
