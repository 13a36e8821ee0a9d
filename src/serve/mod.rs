//! Serving HTTP on a listener: the accept loop, the caps on open connections, and graceful
//! shutdown.
//!
//! Everything a client can make castd hold before it is authenticated is bounded here: the
//! connections open in all and from one address ([`limits`]), how long a request head may
//! take, how long a connection may stay quiet, and how large a head may be
//! ([`connection`]). A connection beyond the caps is answered `503 http.too_many_connections`
//! and closed; when even that would cost too much (a flood), it is closed at once.
//! [`connection`] serves one accepted byte stream and knows nothing of sockets, so HTTPS
//! can hand it TLS streams. [`run`] serves a daemon's API and runs its shutdown: this
//! module sits above both `api` and `daemon`.

mod connection;
mod limits;
mod run;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::HeaderValue;
use axum::http::header;
use axum::response::{IntoResponse as _, Response};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use crate::api::error::{ApiError, ErrorCode};
use crate::config::HttpConfig;
pub use connection::Timeouts;
pub use limits::{Limits, Refusal};
pub use run::run;

/// Connections beyond the caps that are being told so; beyond this many they are closed
/// without an answer, so refusing costs a bounded number of descriptors too.
const MAX_REFUSALS_IN_FLIGHT: usize = 64;

/// How long telling a refused connection why may take in all.
const REFUSAL_DEADLINE: Duration = Duration::from_secs(5);

/// What a refused client is asked to wait before it tries again.
const REFUSAL_RETRY_AFTER_SECS: u64 = 5;

/// File descriptors left for everything but connections: the database, devices, capture
/// pipelines, recordings, uploads to publishers.
const RESERVED_FDS: u64 = 256;

/// Refusals are logged at most this often: a flood must not flood the journal too.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// The limits the server applies.
#[derive(Debug, Clone, Copy)]
pub struct ServeConfig {
    pub timeouts: Timeouts,
    pub max_connections: usize,
    pub max_connections_per_address: usize,
}

impl From<&HttpConfig> for ServeConfig {
    fn from(http: &HttpConfig) -> Self {
        ServeConfig {
            timeouts: Timeouts {
                header_read: Duration::from_secs(http.header_read_timeout_secs),
                idle: Duration::from_secs(http.idle_timeout_secs),
            },
            max_connections: http.max_connections,
            max_connections_per_address: http.max_connections_per_address,
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting, lets every
/// connection finish its answer under way, and returns when all are closed.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    config: ServeConfig,
    shutdown: impl Future<Output = ()> + Send,
) {
    let limits = Limits::new(
        fit_to_open_file_limit(config.max_connections),
        config.max_connections_per_address,
    );
    let refusals = Arc::new(Semaphore::new(MAX_REFUSALS_IN_FLIGHT));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut last_warning: Option<Instant> = None;
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            // The client gave up before we took the connection: nothing to do.
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                // Out of descriptors or memory: taking more connections fails the same way
                // until some close, so wait instead of spinning.
                log::error!("cannot accept connections: {e}; trying again in 1 s");
                tokio::select! {
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            }
        };
        // Small answers and event-stream lines go out at once, not after a delayed ACK.
        let _ = stream.set_nodelay(true);
        match limits.admit(peer.ip()) {
            Ok(slot) => {
                tokio::spawn(connection::serve(
                    stream,
                    peer,
                    app.clone(),
                    slot,
                    config.timeouts,
                    stop_rx.clone(),
                ));
            }
            Err(refusal) => {
                if last_warning.is_none_or(|at| at.elapsed() >= WARN_EVERY) {
                    last_warning = Some(Instant::now());
                    log::warn!(
                        "refusing connections (first: {}): {} (logged at most once a minute)",
                        peer.ip(),
                        describe(refusal)
                    );
                }
                if let Ok(permit) = refusals.clone().try_acquire_owned() {
                    let timeouts = config.timeouts;
                    tokio::spawn(async move {
                        connection::answer_once(
                            stream,
                            move || refused(refusal),
                            timeouts,
                            REFUSAL_DEADLINE,
                        )
                        .await;
                        drop(permit);
                    });
                }
            }
        }
    }
    // New connections are refused by the kernel from here on.
    drop(listener);
    drop(stop_rx);
    let _ = stop_tx.send(true);
    // Every connection holds a receiver until it closes.
    stop_tx.closed().await;
}

fn is_connection_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionReset
    )
}

fn describe(refusal: Refusal) -> String {
    match refusal {
        Refusal::Address { limit } => {
            format!("the address holds {limit} connections, the most one address may")
        }
        Refusal::Total { limit } => {
            format!("{limit} connections are open, the most castd serves, all busy with requests")
        }
    }
}

/// The answer to a connection beyond the caps.
fn refused(refusal: Refusal) -> Response {
    let (scope, limit) = match refusal {
        Refusal::Address { limit } => ("address", limit),
        Refusal::Total { limit } => ("total", limit),
    };
    let mut response = ApiError::new(ErrorCode::TooManyConnections, describe(refusal))
        .with("scope", scope)
        .with("limit", limit)
        .retry_after(REFUSAL_RETRY_AFTER_SECS)
        .into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    crate::api::web::forbid_framing(response.headers_mut());
    response
}

/// The total cap, lowered if the process may not open enough files for it (every
/// connection is a descriptor): running out of descriptors would refuse clients far less
/// clearly, and could fail a recording's files.
fn fit_to_open_file_limit(max_connections: usize) -> usize {
    let Some(limit) = open_file_limit() else {
        return max_connections;
    };
    let room = limit.saturating_sub(RESERVED_FDS + MAX_REFUSALS_IN_FLIGHT as u64);
    let room = usize::try_from(room).unwrap_or(usize::MAX).max(16);
    if room < max_connections {
        log::warn!(
            "the open-file limit ({limit}) leaves room for {room} connections, not the configured max_connections = {max_connections}; serving at most {room} (raise LimitNOFILE)"
        );
        return room;
    }
    max_connections
}

/// The soft limit on open files, if there is one.
fn open_file_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct it is given.
    let read = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    (read == 0 && limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur)
}
