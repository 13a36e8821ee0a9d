//! Serving one accepted connection with hyper's HTTP/1.1: the router answers its requests,
//! each carrying the peer's address as `ConnectInfo` (login throttling and the audit trail
//! use it).
//!
//! A connection is closed when a request head is not complete within the header timeout
//! (counted from the connection's start, then from the first byte of each later head),
//! when nothing is read or written for the idle timeout while no handler is working (a
//! kept-alive connection nobody uses, a client that stopped reading its answer), when the
//! book of connections gives its place to a newer one, and, once its current answer is
//! complete, when the server stops. It serves any byte stream, so TLS streams can be handed
//! to it as they are.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use hyper::body::{Body as _, Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::watch;
use tower::ServiceExt as _;

use super::limits::{Conn, InRequest, Slot};

/// Largest request head (request line and headers) a connection may make castd buffer;
/// beyond it hyper answers 431. hyper's default (about 400 KiB) times the connection cap
/// would let unauthenticated clients pin hundreds of megabytes.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// How long a connection may take over its request head, and stay quiet.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub header_read: Duration,
    pub idle: Duration,
}

/// hyper's own header timer starts whenever a connection waits for a request, so it would
/// also cut kept-alive connections after the header timeout; the watcher below applies the
/// header and idle timeouts exactly, and hyper's timer is only a backstop behind both.
fn builder(timeouts: Timeouts) -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(timeouts.header_read + timeouts.idle)
        .max_buf_size(MAX_HEAD_BYTES);
    builder
}

/// Serves `io` until the client or a limit closes it, or `stop` turns true and the answer
/// under way (an event stream ends by itself when the daemon stops) is complete.
pub(super) async fn serve<I>(
    io: I,
    peer: SocketAddr,
    app: Router,
    slot: Slot,
    timeouts: Timeouts,
    mut stop: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let conn = slot.conn().clone();
    let io = TokioIo::new(Metered {
        inner: io,
        conn: conn.clone(),
    });
    let service = {
        let conn = conn.clone();
        hyper::service::service_fn(move |req| respond(&app, &conn, peer, req))
    };
    let connection = builder(timeouts).serve_connection(io, service);
    tokio::pin!(connection);
    let mut stopping = false;
    loop {
        tokio::select! {
            served = connection.as_mut() => {
                if let Err(e) = served {
                    log::debug!("connection from {peer} ended: {e}");
                }
                break;
            }
            _ = stop.wait_for(|stop| *stop), if !stopping => {
                stopping = true;
                connection.as_mut().graceful_shutdown();
            }
            () = conn.evicted() => {
                log::debug!("closed the connection from {peer} waiting longest for a request: the connection cap was reached");
                break;
            }
            () = head_overdue(&conn, timeouts.header_read) => {
                log::debug!(
                    "closed the connection from {peer}: its request head took longer than {} s",
                    timeouts.header_read.as_secs()
                );
                break;
            }
            () = quiet_for(&conn, timeouts.idle) => {
                log::debug!(
                    "closed the connection from {peer}: nothing sent or received for {} s",
                    timeouts.idle.as_secs()
                );
                break;
            }
        }
    }
    drop(slot);
}

/// Answers one request of the connection through the router, with the peer's address as
/// `ConnectInfo`; the answer's body keeps the request in the book until it is sent.
fn respond(
    app: &Router,
    conn: &Arc<Conn>,
    peer: SocketAddr,
    req: hyper::Request<Incoming>,
) -> impl Future<Output = Result<Response<Answer>, Infallible>> + use<> {
    let mut request = conn.request_started();
    let read_all = Arc::new(AtomicBool::new(req.body().is_end_stream()));
    let mut req = req.map(|body| Received {
        body,
        read_all: read_all.clone(),
    });
    req.extensions_mut().insert(ConnectInfo(peer));
    let answer = app.clone().oneshot(req);
    async move {
        let mut response = match answer.await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        request.handled();
        // An answer given without reading the whole body (401, 403, 413 …) ends the
        // connection: the rest of the body is still on its way and hyper closes the
        // connection rather than wait for it. Saying so lets the client open a new
        // one instead of sending its next request into a closing one.
        if !read_all.load(Ordering::Relaxed) {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        Ok(response.map(|body| Answer {
            body,
            _request: request,
        }))
    }
}

/// Answers the one request on `io` with what `answer` makes and closes, within `deadline`
/// in all. For connections beyond the caps: the client learns why instead of seeing a reset.
pub(super) async fn answer_once<I>(
    io: I,
    answer: impl Fn() -> Response + Send + 'static,
    timeouts: Timeouts,
    deadline: Duration,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |_req: hyper::Request<Incoming>| {
        let response = answer();
        async move { Ok::<_, Infallible>(response) }
    });
    let mut builder = builder(timeouts);
    builder.keep_alive(false);
    let connection = builder.serve_connection(TokioIo::new(io), service);
    let _ = tokio::time::timeout(deadline, connection).await;
}

/// Resolves once a request head has been under way for `limit`.
async fn head_overdue(conn: &Conn, limit: Duration) {
    loop {
        match conn.head_deadline(limit) {
            Some(at) if at <= std::time::Instant::now() => return,
            Some(at) => tokio::time::sleep_until(at.into()).await,
            // No head under way: a head that starts meanwhile is due no earlier than this.
            None => tokio::time::sleep(limit).await,
        }
    }
}

/// Resolves once the connection has been quiet for `limit` while no handler was working.
async fn quiet_for(conn: &Conn, limit: Duration) {
    loop {
        match conn.quiet_deadline(limit) {
            Some(at) if at <= std::time::Instant::now() => return,
            Some(at) => tokio::time::sleep_until(at.into()).await,
            // A handler is working: look again later (its own timeout bounds it).
            None => tokio::time::sleep(limit).await,
        }
    }
}

/// A request's body, noting whether it was read to its end.
struct Received {
    body: Incoming,
    read_all: Arc<AtomicBool>,
}

impl hyper::body::Body for Received {
    type Data = bytes::Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.body).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) || this.body.is_end_stream() {
            this.read_all.store(true, Ordering::Relaxed);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// An answer's body, holding its request open in the book until the last byte is sent or
/// the body is dropped.
struct Answer {
    body: Body,
    _request: InRequest,
}

impl hyper::body::Body for Answer {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A byte stream that notes in the book every time bytes move.
struct Metered<I> {
    inner: I,
    conn: Arc<Conn>,
}

impl<I: AsyncRead + Unpin> AsyncRead for Metered<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.conn.received();
        }
        polled
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Metered<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.conn.progressed();
        }
        polled
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.conn.progressed();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
