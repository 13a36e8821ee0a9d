//! The `castd` daemon binary: parse the command line, start the daemon, serve until
//! SIGTERM or SIGINT, exit 0.

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use castd::config::{Cli, Config};
use castd::daemon::Daemon;
use castd::sys;
use clap::Parser as _;

fn main() -> ExitCode {
    let cli = Cli::parse();
    sys::logging::init();
    let config = match Config::resolve(cli) {
        Ok(config) => config,
        Err(e) => {
            log::error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            log::error!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(serve(config));
    // Blocking work still queued (a slow disk) must not hold the exit hostage.
    runtime.shutdown_timeout(Duration::from_secs(1));
    code
}

async fn serve(config: Config) -> ExitCode {
    let listen = config.listen;
    let daemon = match Daemon::start(config).await {
        Ok(d) => d,
        Err(e) => {
            log::error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(l) => l,
        Err(e) => {
            log::error!("cannot listen on {listen}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let addr = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => {
            log::error!("cannot read the listening address: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The one line on stdout that scripts and tests wait for.
    println!("castd listening on http://{addr}");
    let _ = std::io::stdout().flush();
    log::info!(
        "control page http://{addr}/ — API http://{addr}/api/1/ — docs http://{addr}/api/1/docs — data in {}",
        daemon.data_dir().display()
    );
    sys::notify::notify("READY=1");

    match castd::serve::run(daemon, listener, termination()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("server failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Resolves on the first SIGTERM or SIGINT.
async fn termination() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        log::error!("cannot install signal handlers; stop with SIGKILL");
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
