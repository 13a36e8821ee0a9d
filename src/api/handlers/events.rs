//! `GET /events`: the daemon's event bus as Server-Sent Events.
//!
//! Each event is named by its `type` and carries its bus id, so a browser's `EventSource`
//! resumes by itself after a dropped connection (`Last-Event-ID`). A client that cannot
//! keep up is told so (`overflow`) and dropped: the bus never waits for anyone. A stream
//! lives no longer than the credentials that opened it: when its user is changed or
//! deleted it is told so (`revoked`) and ends.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::{FutureExt as _, Stream};
use serde::Deserialize;
use tokio::sync::broadcast::{self, error::RecvError};
use utoipa::IntoParams;

use crate::api::auth::{CheckedAt, CurrentUser};
use crate::api::error::{ApiError, ErrorCode};
use crate::api::params::Query;
use crate::daemon::Daemon;
use crate::events::{Bus, Envelope, Missed};

/// A comment line goes out this often, so proxies and clients see the connection alive.
const HEARTBEAT: Duration = Duration::from_secs(15);

/// Where to resume.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct EventsQuery {
    /// Resume after this event id, like the `Last-Event-ID` header (the header wins). For
    /// clients that cannot set headers.
    #[serde(rename = "lastEventId", default)]
    pub last_event_id: Option<u64>,
}

/// Live events (Server-Sent Events)
///
/// A `text/event-stream` that never ends by itself. Every event is named by its type and
/// carries `id:` (the bus id) and, as `data:`, a JSON object with `id`, `time` (ms since
/// the epoch), `type` and the event's fields:
///
/// - `captureState` (`sessionID`, `state`, `mediaPackageID`, `error`): a session changed
///   state.
/// - `nodeStats` (`sessionID`, `nodes`: the rows of getSessionStatus): once a second while
///   a session is capturing or paused.
/// - `levels` (`sessionID`, `levels`: node → `{peak, rms, silent}` in dB per channel):
///   once a second for sessions with metered audio.
/// - `opencastLink` (`link`: as getOpencastStatus answers): the Opencast capture agent's
///   state, last failure, outbox, ingest queue or calendar size changed.
/// - `nodeSignal`, `markerAdded`, `publishJob`, `alarm`, `deviceAdded`, `deviceRemoved`,
///   `deviceChanged`.
///
/// A comment line (`:heartbeat`) is sent every 15 s. To resume after a dropped connection
/// send `Last-Event-ID` (or `?lastEventId=`): the events published since then are replayed
/// first, from a history of the last 1000 events of at most 5 minutes (the per-second
/// `nodeStats` and `levels` are not replayed). When the history no longer covers the gap,
/// or the id is from before castd restarted, the stream starts with a `resync` event: read
/// the state afresh (`GET /status`). A client that falls more than 1024 events behind gets
/// an `overflow` event and the stream ends; reconnect with `Last-Event-ID`.
///
/// When the caller's user is changed (name, roles or password) or deleted, the stream
/// sends a `revoked` event (`reason`) and ends at once: reconnecting needs the credentials
/// as they are now.
#[utoipa::path(get, path = "/events", tag = "status", operation_id = "events",
    params(
        EventsQuery,
        ("Last-Event-ID" = Option<u64>, Header, description = "Resume after this event id"),
    ),
    responses((status = 200, description = "The event stream", content_type = "text/event-stream", body = String)))]
pub(crate) async fn events(
    State(daemon): State<Daemon>,
    CurrentUser(user): CurrentUser,
    Extension(CheckedAt(generation)): Extension<CheckedAt>,
    headers: HeaderMap,
    Query(query): Query<EventsQuery>,
) -> Result<Response, ApiError> {
    let resume = match headers.get("last-event-id") {
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| {
                    ApiError::new(ErrorCode::BadParam, "Last-Event-ID must be an event id")
                        .with("param", "Last-Event-ID")
                })?,
        ),
        None => query.last_event_id,
    };
    let revoked = daemon.auth().until_changed(user.id, generation);
    let feed = Feed::new(daemon.bus(), resume, daemon.serving_stopped()).until(revoked);
    let mut response = Sse::new(feed.into_stream())
        .keep_alive(KeepAlive::new().interval(HEARTBEAT).text("heartbeat"))
        .into_response();
    // Reverse proxies must pass events on as they come.
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

/// One client's position in the event history and the live bus.
struct Feed {
    live: broadcast::Receiver<Arc<Envelope>>,
    backlog: VecDeque<Arc<Envelope>>,
    /// Events up to this id were sent (or were before the client's `Last-Event-ID`).
    last_sent: u64,
    preface: Option<SseEvent>,
    ended: bool,
    stopping: Pin<Box<dyn Future<Output = ()> + Send>>,
    /// Resolves when the credentials that opened the stream are no longer valid.
    revoked: Pin<Box<dyn Future<Output = ()> + Send>>,
}

impl Feed {
    /// Follows `bus` from now on, after the history since `resume`; ends when `stopping`
    /// resolves.
    fn new(
        bus: &Bus,
        resume: Option<u64>,
        stopping: impl Future<Output = ()> + Send + 'static,
    ) -> Feed {
        // Subscribe before reading the history, so nothing falls between the two.
        let mut feed = Feed {
            live: bus.subscribe(),
            backlog: VecDeque::new(),
            last_sent: resume.unwrap_or(0),
            preface: None,
            ended: false,
            stopping: Box::pin(stopping),
            revoked: Box::pin(std::future::pending()),
        };
        if let Some(last) = resume {
            match bus.since(last) {
                Missed::Events(events) => feed.backlog = events.into(),
                Missed::Unknown => {
                    feed.preface = Some(SseEvent::default().event("resync").data(
                        r#"{"reason":"the events since Last-Event-ID are no longer known; read the state afresh"}"#,
                    ));
                }
            }
        }
        feed
    }

    /// Ends the feed, with a `revoked` event, when `revoked` resolves.
    fn until(mut self, revoked: impl Future<Output = ()> + Send + 'static) -> Feed {
        self.revoked = Box::pin(revoked);
        self
    }

    /// The last event of a feed whose credentials are no longer valid.
    fn revoke(&mut self) -> SseEvent {
        self.ended = true;
        SseEvent::default().event("revoked").data(
            r#"{"reason":"the user was changed or deleted; log in again with its current credentials"}"#,
        )
    }

    fn into_stream(self) -> impl Stream<Item = Result<SseEvent, Infallible>> {
        futures_util::stream::unfold(self, |mut feed| async move {
            let next = feed.next().await?;
            Some((Ok(next), feed))
        })
    }

    async fn next(&mut self) -> Option<SseEvent> {
        if self.ended {
            return None;
        }
        // Checked first, so a revoked client gets none of the history either. The future
        // is polled again only while it has not resolved (a resolved one ends the feed).
        if self.revoked.as_mut().now_or_never().is_some() {
            return Some(self.revoke());
        }
        if let Some(preface) = self.preface.take() {
            return Some(preface);
        }
        if let Some(envelope) = self.backlog.pop_front() {
            self.last_sent = envelope.id;
            return Some(sse_event(&envelope));
        }
        loop {
            let received = tokio::select! {
                received = self.live.recv() => received,
                () = &mut self.stopping => return None,
                () = &mut self.revoked => return Some(self.revoke()),
            };
            match received {
                // Already replayed from the history.
                Ok(envelope) if envelope.id <= self.last_sent => {}
                Ok(envelope) => {
                    self.last_sent = envelope.id;
                    return Some(sse_event(&envelope));
                }
                Err(RecvError::Lagged(missed)) => {
                    self.ended = true;
                    return Some(SseEvent::default().event("overflow").data(format!(
                        r#"{{"missed":{missed},"lastEventID":{}}}"#,
                        self.last_sent
                    )));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }
}

#[expect(clippy::expect_used, reason = "invariant: events serialise")]
fn sse_event(envelope: &Envelope) -> SseEvent {
    let data = serde_json::to_string(envelope).expect("events serialise");
    SseEvent::default()
        .event(envelope.event.name())
        .id(envelope.id.to_string())
        .data(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Event;
    use crate::model::{AlarmCode, AlarmLevel};
    use http_body_util::BodyExt as _;

    fn alarm(n: usize) -> Event {
        Event::Alarm {
            code: AlarmCode::SourceLost,
            level: AlarmLevel::Warning,
            message: format!("test.{n}"),
        }
    }

    /// Everything a feed sends until it ends by itself.
    async fn text_of(feed: Feed) -> String {
        let body = Sse::new(feed.into_stream()).into_response().into_body();
        let bytes = tokio::time::timeout(Duration::from_secs(5), body.collect())
            .await
            .expect("the stream ended")
            .unwrap()
            .to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn a_client_that_falls_behind_gets_overflow_and_is_dropped() {
        let bus = Bus::new(4);
        let feed = Feed::new(&bus, None, std::future::pending());
        // Published while the client reads nothing: more than the channel holds.
        for n in 0..10 {
            bus.publish(alarm(n));
        }
        let text = text_of(feed).await;
        assert!(text.starts_with("event: overflow\n"), "{text}");
        assert!(text.contains("\"missed\":"), "{text}");
    }

    #[tokio::test]
    async fn resuming_replays_the_history_in_order_then_follows_live() {
        let bus = Bus::new(64);
        for n in 0..5 {
            bus.publish(alarm(n));
        }
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let feed = Feed::new(&bus, Some(2), async move {
            let _ = stopped.await;
        });
        bus.publish(alarm(5));
        let reader = tokio::spawn(text_of(feed));
        tokio::time::sleep(Duration::from_millis(50)).await;
        let _ = stop.send(());
        let text = reader.await.unwrap();
        let ids: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("id: "))
            .collect();
        assert_eq!(ids, ["3", "4", "5", "6"], "{text}");
        assert!(text.contains("event: alarm\n"), "{text}");
    }

    #[tokio::test]
    async fn a_revoked_feed_says_so_and_ends_even_during_its_history() {
        let bus = Bus::new(64);
        for n in 0..5 {
            bus.publish(alarm(n));
        }
        let (revoke, revoked) = tokio::sync::oneshot::channel::<()>();
        let mut feed = Feed::new(&bus, Some(0), std::future::pending()).until(async move {
            let _ = revoked.await;
        });
        assert!(feed.next().await.is_some(), "history while valid");
        revoke.send(()).unwrap();
        let text = text_of(feed).await;
        assert!(text.starts_with("event: revoked\n"), "{text}");
        assert_eq!(
            text.matches("event:").count(),
            1,
            "nothing after it: {text}"
        );

        // Waiting for live events when it comes.
        let (revoke, revoked) = tokio::sync::oneshot::channel::<()>();
        let feed = Feed::new(&bus, None, std::future::pending()).until(async move {
            let _ = revoked.await;
        });
        let reader = tokio::spawn(text_of(feed));
        tokio::time::sleep(Duration::from_millis(50)).await;
        revoke.send(()).unwrap();
        let text = reader.await.unwrap();
        assert_eq!(text.matches("event:").count(), 1, "{text}");
        assert!(text.starts_with("event: revoked\n"), "{text}");
    }

    #[tokio::test]
    async fn an_unknown_id_starts_with_resync() {
        let bus = Bus::new(64);
        bus.publish(alarm(0));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let feed = Feed::new(&bus, Some(999), async move {
            let _ = stopped.await;
        });
        let _ = stop.send(());
        let text = text_of(feed).await;
        assert!(text.starts_with("event: resync\n"), "{text}");
    }
}
