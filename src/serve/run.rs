//! Serving a daemon: the API on a listener the caller bound (so tests and tools can use
//! port 0) until a shutdown is asked for, then the daemon's stop; and the service
//! manager's watchdog, petted while the database answers.
//!
//! The shutdown runs in this order: serving ends (endless answers end, no new
//! connections), open connections get [`SHUTDOWN_GRACE`] to finish their answer, then the
//! daemon stops its parts in their order. This module decides when; the daemon decides
//! how.

use std::future::Future;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::api;
use crate::daemon::Daemon;
use crate::sys;

/// Connections still open this long after a shutdown request are dropped, so the daemon
/// always exits within systemd's stop timeout (and the 5 s the CLI contract promises).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// Serves the API on `listener` (with the connection limits of `[http]`, see
/// [`super::serve`]) until `shutdown` resolves or a restart asks castd to exit, then
/// stops within a few seconds.
pub async fn run(
    daemon: Daemon,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let exit_requested = daemon.exit_requested();
    let stopping = daemon.clone();
    daemon.spawn_serving(async move {
        // A restart asked for over the API stops the daemon like a signal does.
        tokio::select! {
            () = shutdown => {}
            () = exit_requested => {}
        }
        stopping.stop_serving();
    });

    let app = api::router(daemon.clone());
    let graceful = daemon.serving_stopped();
    let serve = super::serve(
        listener,
        app,
        super::ServeConfig::from(daemon.http_config()),
        async move {
            graceful.await;
            log::info!("shutting down");
            sys::notify::notify("STOPPING=1");
        },
    );
    let deadline = daemon.serving_stopped();
    tokio::select! {
        () = serve => {}
        // Petted for as long as castd serves.
        () = pet_watchdog(daemon.clone()) => {}
        () = async move {
            deadline.await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => {
            log::warn!("connections still open {} s after shutdown; closing them", SHUTDOWN_GRACE.as_secs());
        }
    }
    daemon.stop().await;
    Ok(())
}

/// Tells systemd the daemon is alive, as long as the database still answers. Never ends.
async fn pet_watchdog(daemon: Daemon) {
    let Some(interval) = sys::notify::watchdog_interval() else {
        return std::future::pending().await;
    };
    let mut ticker = tokio::time::interval(interval);
    loop {
        ticker.tick().await;
        match tokio::time::timeout(interval, daemon.database_answers()).await {
            Ok(Ok(())) => {
                sys::notify::notify("WATCHDOG=1");
            }
            Ok(Err(e)) => log::error!("watchdog: database check failed: {e}"),
            Err(_) => log::error!("watchdog: database check timed out"),
        }
    }
}
