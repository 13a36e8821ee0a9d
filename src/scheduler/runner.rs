//! The timer loop: sleeps until the next instant something is due (a wall-clock timer, not
//! a polling loop), wakes early when the schedule or a capture changes or the clock is set,
//! and then starts events, settles their outcome, or marks them missed or failed.
//!
//! The clock and the capture engine come in through two small traits, so the loop is
//! tested with a clock the test moves and captures it records, as well as for real.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;

use tokio::sync::Notify;

use super::due::{Step, due};
use super::timer::WallTimer;
use crate::engine::CaptureError;
use crate::model::{Event, Outcome};
use crate::store::{self, Store, StoreError};
use crate::sys::tasks::Tasks;

/// A start this much after `startTime` (or later) makes the recording partial.
pub(crate) const LATE_MS: i64 = 1000;
/// The next event's template is kept hot from this long before it starts.
pub(crate) const PREPARE_AHEAD_MS: i64 = 2 * 3600 * 1000;
/// A start that failed (a device error, say) is tried again after this long.
pub(crate) const RETRY_MS: i64 = 5000;
/// While captures of events run, their state is looked at at least this often (the bus
/// wakes the loop sooner; this covers a missed message).
const RECHECK_MS: i64 = 5000;
/// With nothing scheduled, the loop still looks once an hour.
const IDLE_MS: i64 = 3_600_000;

/// Wall-clock time, ms since the epoch.
pub(crate) trait Clock: Send + Sync + 'static {
    fn now(&self) -> i64;
    /// Returns at `at_ms` (never before), or earlier when the clock was set.
    fn sleep_until(&self, at_ms: i64) -> impl Future<Output = ()> + Send;
}

/// The system clock, waited on with a timerfd.
pub(crate) struct SystemClock {
    timer: WallTimer,
}

impl SystemClock {
    pub(crate) fn new() -> std::io::Result<SystemClock> {
        Ok(SystemClock {
            timer: WallTimer::new()?,
        })
    }
}

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        crate::sys::time::now_ms()
    }

    async fn sleep_until(&self, at_ms: i64) {
        if let Err(e) = self.timer.wait_until(at_ms).await {
            // Without the timer, fall back to a monotonic sleep: late by any clock jump.
            log::error!("scheduler timer: {e}");
            let left = (at_ms - crate::sys::time::now_ms()).max(0) as u64;
            tokio::time::sleep(std::time::Duration::from_millis(left)).await;
        }
    }
}

/// A capture session as the loop sees it.
#[derive(Debug, Clone)]
pub(crate) struct SessionState {
    /// Still recording (starting, capturing, paused or stopping).
    pub active: bool,
    pub error: Option<String>,
}

/// What the loop asks of the capture engine.
pub(crate) trait Captures: Send + Sync + 'static {
    /// Starts the event's capture, to stop by itself at `stopTime`; the session id.
    fn start(&self, event: &Event) -> impl Future<Output = Result<String, CaptureError>> + Send;
    /// Stops a session (its event was deleted).
    fn stop(&self, session: &str) -> impl Future<Output = ()> + Send;
    fn session(&self, id: &str) -> Option<SessionState>;
    /// A capture runs and concurrent captures are off.
    fn busy(&self) -> bool;
    /// The template the next event needs, to keep its inputs hot.
    fn prefer(&self, template: Option<String>);
}

/// Why a due event has not started.
struct Blocked {
    reason: String,
    /// Try again at (0: when a capture ends).
    retry_at: i64,
}

pub(crate) struct Runner<C: Clock, K: Captures> {
    pub store: Store,
    pub clock: C,
    pub captures: K,
    /// Notified when the schedule or a capture's state changed.
    pub changed: Arc<Notify>,
}

impl<C: Clock, K: Captures> Runner<C, K> {
    /// Runs until `stop` is told to stop; a step under way is finished first.
    pub(crate) async fn run(self, stop: Tasks) {
        let mut ours: HashMap<String, String> = HashMap::new();
        let mut blocked: HashMap<String, Blocked> = HashMap::new();
        loop {
            let now = self.clock.now();
            let wake = match self.step(now, &mut ours, &mut blocked).await {
                Ok(wake) => wake.unwrap_or(now + IDLE_MS),
                Err(e) => {
                    log::error!("scheduler: {e}; looking again in {} s", RETRY_MS / 1000);
                    now + RETRY_MS
                }
            };
            tokio::select! {
                () = self.clock.sleep_until(wake) => {}
                () = self.changed.notified() => {}
                () = stop.stopped() => return,
            }
            if stop.is_stopped() {
                return;
            }
        }
    }

    /// Reads, changes and writes one event in a transaction; `None` when it was deleted.
    async fn update(
        &self,
        id: &str,
        change: impl FnOnce(&mut Event) + Send + 'static,
    ) -> Result<Option<Event>, StoreError> {
        let id = id.to_string();
        self.store
            .write(move |tx| {
                let Some(mut e) = store::schedule::get_event(tx, &id)? else {
                    return Ok(None);
                };
                let before = e.outcome;
                change(&mut e);
                store::schedule::put_event(tx, &e)?;
                super::opencast::queue_recording_state(tx, before, &e)?;
                Ok(Some(e))
            })
            .await
    }

    /// Does what is due at `now`; the next instant to look again.
    async fn step(
        &self,
        now: i64,
        ours: &mut HashMap<String, String>,
        blocked: &mut HashMap<String, Blocked>,
    ) -> Result<Option<i64>, StoreError> {
        self.settle_ended(now, ours).await?;
        let open = self.store.read(store::schedule::open_events).await?;
        let running: HashSet<String> = ours.keys().cloned().collect();
        let busy = self.captures.busy();
        blocked.retain(|id, _| open.iter().any(|e| &e.id == id));
        if busy {
            block_due_while_busy(&open, now, &running, blocked);
        }
        let waited: HashSet<String> = blocked.keys().cloned().collect();
        let plan = due(&open, now, &running, busy, &waited);
        let mut wake = Wake(plan.wake_at);
        for step in plan.steps {
            match step {
                Step::Start(id) => {
                    let Some(event) = open.iter().find(|e| e.id == id) else {
                        continue;
                    };
                    self.start(event, now, ours, blocked, &mut wake).await?;
                }
                Step::Miss(id) => self.mark_missed(&id).await?,
                Step::FailBusy(id) => self.fail_blocked(&id, blocked).await?,
                Step::Settle(id) => self.settle_interrupted(&id).await?,
            }
        }
        self.keep_next_hot(&open, now, &mut wake);
        if !ours.is_empty() {
            wake.no_later_than(now + RECHECK_MS);
        }
        Ok(wake.0)
    }

    /// Settles the events whose captures of ours have ended.
    async fn settle_ended(
        &self,
        now: i64,
        ours: &mut HashMap<String, String>,
    ) -> Result<(), StoreError> {
        for (event_id, session_id) in ours.clone() {
            let state = self.captures.session(&session_id);
            if state.as_ref().is_some_and(|s| s.active) {
                continue;
            }
            ours.remove(&event_id);
            let error = state.and_then(|s| s.error);
            if let Some(e) = self
                .update(&event_id, move |e| settle(e, now, error))
                .await?
            {
                log::info!(
                    "scheduled event {} ended: {:?}{}",
                    e.id,
                    e.outcome,
                    e.outcome_reason
                        .as_deref()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                );
            }
        }
        Ok(())
    }

    /// Starts a due event's capture, unless a failed start is still waiting for its retry;
    /// a refusal blocks the event until a capture ends or the retry is due.
    async fn start(
        &self,
        event: &Event,
        now: i64,
        ours: &mut HashMap<String, String>,
        blocked: &mut HashMap<String, Blocked>,
        wake: &mut Wake,
    ) -> Result<(), StoreError> {
        let id = event.id.clone();
        if let Some(b) = blocked.get(&id)
            && b.retry_at > now
        {
            wake.no_later_than(b.retry_at.min(event.stop_time));
            return Ok(());
        }
        match self.captures.start(event).await {
            Ok(session) => {
                let waited_for = blocked.remove(&id).map(|b| b.reason);
                self.note_started(event, session, waited_for, ours).await?;
            }
            Err(CaptureError::AlreadyRunning) => {
                blocked.insert(
                    id,
                    Blocked {
                        reason: "busy".into(),
                        retry_at: 0,
                    },
                );
                wake.no_later_than(event.stop_time);
            }
            Err(e) => {
                log::error!(
                    "scheduled event {id} cannot start: {e}; retrying in {} s",
                    RETRY_MS / 1000
                );
                blocked.insert(
                    id,
                    Blocked {
                        reason: e.to_string(),
                        retry_at: now + RETRY_MS,
                    },
                );
                wake.no_later_than((now + RETRY_MS).min(event.stop_time));
            }
        }
        Ok(())
    }

    /// Records a started capture on its event, or stops it when the event was deleted
    /// while it was starting.
    async fn note_started(
        &self,
        event: &Event,
        session: String,
        waited_for: Option<String>,
        ours: &mut HashMap<String, String>,
    ) -> Result<(), StoreError> {
        let id = event.id.clone();
        let started = self.clock.now();
        log::info!(
            "scheduled event {id} started {} ms after its start time",
            started - event.start_time
        );
        let sid = session.clone();
        let updated = self
            .update(&id, move |e| mark_started(e, &sid, started, waited_for))
            .await?;
        if updated.is_none() {
            // Deleted while it was starting.
            self.captures.stop(&session).await;
        } else {
            ours.insert(id, session);
        }
        Ok(())
    }

    async fn mark_missed(&self, id: &str) -> Result<(), StoreError> {
        log::warn!("scheduled event {id} was missed: castd was not running during its window");
        self.update(id, |e| {
            e.outcome = Outcome::Missed;
            e.outcome_reason = Some("castd was not running during the window".into());
        })
        .await?;
        Ok(())
    }

    /// An event that stayed blocked until its window closed failed, for what blocked it.
    async fn fail_blocked(
        &self,
        id: &str,
        blocked: &mut HashMap<String, Blocked>,
    ) -> Result<(), StoreError> {
        let reason = blocked
            .remove(id)
            .map_or_else(|| "busy".to_string(), |b| b.reason);
        log::error!("scheduled event {id} could not record: {reason}");
        self.update(id, move |e| {
            e.outcome = Outcome::Failed;
            e.outcome_reason = Some(reason);
        })
        .await?;
        Ok(())
    }

    /// An event that was recording when castd stopped, and whose window is over.
    async fn settle_interrupted(&self, id: &str) -> Result<(), StoreError> {
        self.update(id, |e| {
            e.completed = true;
            e.outcome = Outcome::Partial;
            e.outcome_reason = Some("castd stopped during the recording".into());
        })
        .await?;
        Ok(())
    }

    /// Keeps the next event's inputs hot from a while before it, and wakes when that
    /// while begins.
    fn keep_next_hot(&self, open: &[Event], now: i64, wake: &mut Wake) {
        let next = open
            .iter()
            .filter(|e| e.outcome == Outcome::Pending && e.start_time > now)
            .min_by_key(|e| e.start_time);
        match next {
            Some(e) if e.start_time - now <= PREPARE_AHEAD_MS => {
                self.captures.prefer(Some(e.template_id.clone()))
            }
            Some(e) => {
                self.captures.prefer(None);
                wake.no_later_than(e.start_time - PREPARE_AHEAD_MS);
            }
            None => self.captures.prefer(None),
        }
    }
}

/// The next instant the loop must look again, brought forward by each step that needs it.
struct Wake(Option<i64>);

impl Wake {
    fn no_later_than(&mut self, at: i64) {
        self.0 = Some(self.0.map_or(at, |w| w.min(at)));
    }
}

/// While a capture runs (and concurrent captures are off), every pending event inside its
/// window waits for that capture to end.
fn block_due_while_busy(
    open: &[Event],
    now: i64,
    running: &HashSet<String>,
    blocked: &mut HashMap<String, Blocked>,
) {
    for e in open.iter().filter(|e| {
        e.outcome == Outcome::Pending
            && e.start_time <= now
            && now < e.stop_time
            && !running.contains(&e.id)
    }) {
        blocked.entry(e.id.clone()).or_insert(Blocked {
            reason: "busy".into(),
            retry_at: 0,
        });
    }
}

/// The event's capture started (or started again after a restart).
fn mark_started(e: &mut Event, session: &str, now: i64, waited_for: Option<String>) {
    let resumed = e.outcome == Outcome::Recording;
    e.started = true;
    e.outcome = Outcome::Recording;
    e.media_package_id = Some(session.to_string());
    if !e.media_package_ids.iter().any(|p| p == session) {
        e.media_package_ids.push(session.to_string());
    }
    let late = now - e.start_time;
    e.outcome_reason = if resumed {
        Some("resumed after castd restarted".into())
    } else if late >= LATE_MS {
        let why = waited_for.map(|w| format!(" ({w})")).unwrap_or_default();
        Some(format!("started {} s late{why}", late / 1000))
    } else {
        None
    };
}

/// The event's capture ended at `now`: completed, or partial and why.
fn settle(e: &mut Event, now: i64, error: Option<String>) {
    e.completed = true;
    e.outcome = Outcome::Partial;
    if let Some(error) = error {
        e.outcome_reason = Some(format!("the capture failed: {error}"));
    } else if now + LATE_MS < e.stop_time {
        e.outcome_reason = Some(format!(
            "stopped {} s before the end",
            (e.stop_time - now) / 1000
        ));
    } else if e.outcome_reason.is_none() {
        e.outcome = Outcome::Completed;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicI64, Ordering};
    use std::time::Duration;

    /// A clock the test moves.
    #[derive(Clone, Default)]
    struct TestClock {
        now: Arc<AtomicI64>,
        moved: Arc<Notify>,
    }

    impl TestClock {
        fn set(&self, at: i64) {
            self.now.store(at, Ordering::SeqCst);
            self.moved.notify_waiters();
        }
    }

    impl Clock for TestClock {
        fn now(&self) -> i64 {
            self.now.load(Ordering::SeqCst)
        }

        async fn sleep_until(&self, at_ms: i64) {
            loop {
                let moved = self.moved.notified();
                if self.now() >= at_ms {
                    return;
                }
                moved.await;
            }
        }
    }

    /// Captures that start at once and end when the clock passes their stop time.
    #[derive(Clone)]
    struct TestCaptures {
        clock: TestClock,
        started: Arc<Mutex<Vec<(String, i64, i64)>>>,
        sessions: Arc<Mutex<HashMap<String, i64>>>,
        busy: Arc<Mutex<bool>>,
        tx: tokio::sync::mpsc::UnboundedSender<String>,
    }

    impl Captures for TestCaptures {
        async fn start(&self, event: &Event) -> Result<String, CaptureError> {
            if *self.busy.lock().unwrap() {
                return Err(CaptureError::AlreadyRunning);
            }
            let session = format!("s-{}", event.id);
            self.started.lock().unwrap().push((
                event.id.clone(),
                self.clock.now(),
                event.stop_time,
            ));
            self.sessions
                .lock()
                .unwrap()
                .insert(session.clone(), event.stop_time);
            let _ = self.tx.send(format!("start {}", event.id));
            Ok(session)
        }

        async fn stop(&self, session: &str) {
            self.sessions.lock().unwrap().remove(session);
        }

        fn session(&self, id: &str) -> Option<SessionState> {
            let stop_at = *self.sessions.lock().unwrap().get(id)?;
            Some(SessionState {
                active: self.clock.now() < stop_at,
                error: None,
            })
        }

        fn busy(&self) -> bool {
            *self.busy.lock().unwrap()
        }

        fn prefer(&self, _template: Option<String>) {}
    }

    fn event(id: &str, start: i64, stop: i64) -> Event {
        serde_json::from_value(serde_json::json!({
            "id": id, "title": id, "templateID": "lecture", "startTime": start, "stopTime": stop
        }))
        .unwrap()
    }

    struct Bench {
        store: Store,
        clock: TestClock,
        captures: TestCaptures,
        changed: Arc<Notify>,
        actions: tokio::sync::mpsc::UnboundedReceiver<String>,
        stop: Tasks,
        _dir: tempfile::TempDir,
    }

    async fn bench(now: i64, events: Vec<Event>) -> Bench {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("castd.db")).unwrap();
        store
            .write(move |tx| {
                for e in &events {
                    store::schedule::put_event(tx, e)?;
                }
                Ok::<_, StoreError>(())
            })
            .await
            .unwrap();
        let clock = TestClock::default();
        clock.set(now);
        let (tx, actions) = tokio::sync::mpsc::unbounded_channel();
        let captures = TestCaptures {
            clock: clock.clone(),
            started: Arc::default(),
            sessions: Arc::default(),
            busy: Arc::default(),
            tx,
        };
        let changed = Arc::new(Notify::new());
        let stop = Tasks::default();
        let runner = Runner {
            store: store.clone(),
            clock: clock.clone(),
            captures: captures.clone(),
            changed: changed.clone(),
        };
        tokio::spawn(runner.run(stop.clone()));
        Bench {
            store,
            clock,
            captures,
            changed,
            actions,
            stop,
            _dir: dir,
        }
    }

    impl Bench {
        async fn event(&self, id: &str) -> Event {
            let id = id.to_string();
            self.store
                .read(move |c| store::schedule::get_event(c, &id))
                .await
                .unwrap()
                .unwrap()
        }

        /// Waits (in real time) until the event's outcome is `outcome`.
        async fn outcome(&self, id: &str, outcome: Outcome) -> Event {
            for _ in 0..200 {
                let e = self.event(id).await;
                if e.outcome == outcome {
                    return e;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            panic!("{id} never became {outcome:?}: {:?}", self.event(id).await);
        }

        async fn no_action(&mut self) {
            let got = tokio::time::timeout(Duration::from_millis(100), self.actions.recv()).await;
            assert!(got.is_err(), "unexpected {got:?}");
        }
    }

    #[tokio::test]
    async fn captures_start_and_stop_exactly_at_the_scheduled_instants() {
        let mut b = bench(
            0,
            vec![event("a", 10_000, 70_000), event("b", 70_000, 130_000)],
        )
        .await;
        b.clock.set(9_999);
        b.no_action().await;
        b.clock.set(10_000);
        assert_eq!(b.actions.recv().await.unwrap(), "start a");
        let a = b.outcome("a", Outcome::Recording).await;
        assert!(a.started && !a.completed);
        assert_eq!(a.media_package_id.as_deref(), Some("s-a"));
        // The capture is asked to stop by itself at stopTime; the next starts right then.
        b.clock.set(70_000);
        assert_eq!(b.actions.recv().await.unwrap(), "start b");
        let a = b.outcome("a", Outcome::Completed).await;
        assert!(a.completed && a.outcome_reason.is_none());
        b.clock.set(130_000);
        b.outcome("b", Outcome::Completed).await;
        let started = b.captures.started.lock().unwrap().clone();
        assert_eq!(
            started,
            [
                ("a".to_string(), 10_000, 70_000),
                ("b".to_string(), 70_000, 130_000)
            ]
        );
        b.stop.stop();
    }

    #[tokio::test]
    async fn a_busy_unit_makes_the_event_wait_then_fail_and_a_restart_resumes_or_misses() {
        let mut b = bench(0, vec![event("a", 10_000, 70_000)]).await;
        *b.captures.busy.lock().unwrap() = true;
        b.clock.set(10_000);
        b.no_action().await;
        b.clock.set(70_000);
        let a = b.outcome("a", Outcome::Failed).await;
        assert_eq!(a.outcome_reason.as_deref(), Some("busy"));
        b.stop.stop();

        // The manual capture ends in the window: the event starts late, partial.
        let mut b = bench(0, vec![event("c", 10_000, 70_000)]).await;
        *b.captures.busy.lock().unwrap() = true;
        b.clock.set(12_000);
        b.no_action().await;
        *b.captures.busy.lock().unwrap() = false;
        b.changed.notify_one();
        assert_eq!(b.actions.recv().await.unwrap(), "start c");
        b.clock.set(70_000);
        let c = b.outcome("c", Outcome::Partial).await;
        assert_eq!(c.outcome_reason.as_deref(), Some("started 2 s late (busy)"));
        b.stop.stop();

        // castd (re)starts inside one window and after another.
        let mut recording = event("d", 10_000, 70_000);
        recording.outcome = Outcome::Recording;
        recording.started = true;
        let mut b = bench(30_000, vec![recording, event("e", 1_000, 5_000)]).await;
        assert_eq!(b.actions.recv().await.unwrap(), "start d");
        b.outcome("e", Outcome::Missed).await;
        b.clock.set(70_000);
        let d = b.outcome("d", Outcome::Partial).await;
        assert_eq!(
            d.outcome_reason.as_deref(),
            Some("resumed after castd restarted")
        );
        assert_eq!(b.captures.started.lock().unwrap().len(), 1, "started once");
        b.stop.stop();
    }
}
