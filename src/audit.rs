//! The audit trail: who did what when, one entry per state-changing API call.
//!
//! Requests hand entries to a bounded channel and go on; one background task writes them in
//! batches. A slow or stuck disk therefore never delays a request: when the channel is full
//! the entry is dropped, counted, and the loss logged.
//!
//! What the trail may cost is bounded whoever calls: every text field is cut to a fixed
//! length ([`AuditEntry::bounded`]), calls without valid credentials beyond a small budget a
//! minute are counted in summary rows instead of one row each ([`anonymous`]), and the
//! table keeps at most [`MAX_ROWS`] rows, [`MAX_ANONYMOUS_ROWS`] of them unauthenticated,
//! and [`MAX_BYTES`] of text, the oldest going first.

mod anonymous;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::store::{self, Store, StoreError};
use crate::sys::tasks::Tasks;
use crate::sys::time::now_ms;

/// The entry and filter are plain model types; the trail re-exports them so callers name
/// one module.
pub use crate::model::audit::{AuditEntry, AuditFilter, MAX_FIELD_BYTES, MAX_PATH_BYTES};

/// Entries kept; older ones are pruned.
pub const MAX_ROWS: i64 = 100_000;
/// Entries without a user kept (inside [`MAX_ROWS`]), so a flood of refused calls cannot
/// push the record of what users did out of the trail.
pub const MAX_ANONYMOUS_ROWS: i64 = 10_000;
/// Text the trail keeps at most, counted as `store::audit` counts it (the strings of each
/// row plus a fixed allowance per row): the trail's bound in bytes, whatever the rows hold.
pub const MAX_BYTES: i64 = 32 * 1024 * 1024;
/// Unauthenticated calls a minute recorded one by one; see [`anonymous`].
pub use anonymous::PER_MINUTE as ANONYMOUS_PER_MINUTE;
/// Entries waiting for the writer before new ones are dropped.
const QUEUE: usize = 4096;
/// Entries written in one transaction at most.
const BATCH: usize = 512;
/// Rows appended between two prunes (pruning is one indexed DELETE, but not free).
const PRUNE_EVERY: usize = 1000;

enum Message {
    Entry(AuditEntry),
    /// Answered once every entry sent before it is written.
    Flush(oneshot::Sender<()>),
}

/// Cheap, cloneable handle to the audit trail.
#[derive(Clone)]
pub struct Audit {
    tx: mpsc::Sender<Message>,
    dropped: Arc<AtomicU64>,
    anonymous: Arc<Mutex<anonymous::Budget>>,
    store: Store,
}

impl Audit {
    /// Starts the writer task among `tasks`. The stop sequence flushes the trail before it
    /// stops them.
    pub fn start(store: Store, tasks: &Tasks) -> Audit {
        let (tx, rx) = mpsc::channel(QUEUE);
        tasks.spawn(write_entries(store.clone(), rx));
        let audit = Audit {
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
            anonymous: Arc::new(Mutex::new(anonymous::Budget::default())),
            store,
        };
        // A minute's summaries are written once it has passed, even if no call follows.
        let summaries = audit.clone();
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(15));
            loop {
                tick.tick().await;
                let finished = summaries.budget().take_finished(now_ms());
                summaries.queue(finished);
            }
        });
        audit
    }

    fn budget(&self) -> std::sync::MutexGuard<'_, anonymous::Budget> {
        self.anonymous
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Records a call without waiting: cut to its bounds, and, without a user, within the
    /// budget or counted in a summary. When the queue is full the entry is dropped and
    /// counted.
    pub fn record(&self, entry: AuditEntry) {
        let entry = entry.bounded();
        if entry.user.is_some() {
            self.queue([entry]);
            return;
        }
        let mut finished = Vec::new();
        let own_row = self.budget().admit(entry, &mut finished);
        self.queue(finished.into_iter().chain(own_row));
    }

    fn queue(&self, entries: impl IntoIterator<Item = AuditEntry>) {
        for entry in entries {
            self.send(entry);
        }
    }

    fn send(&self, entry: AuditEntry) {
        if self.tx.try_send(Message::Entry(entry)).is_err() {
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            // The first loss and then every thousandth, so a flood cannot flood the log too.
            if dropped == 1 || dropped.is_multiple_of(1000) {
                log::warn!("audit queue full: {dropped} entries dropped so far");
            }
        }
    }

    /// Entries dropped because the writer fell behind, since the daemon started.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Waits (at most a few seconds) until every entry queued so far is written, so a
    /// listing shows the calls that came before it.
    pub async fn flush(&self) {
        let summaries = self.budget().take_all();
        self.queue(summaries);
        let (done, written) = oneshot::channel();
        let wait = async {
            if self.tx.send(Message::Flush(done)).await.is_ok() {
                let _ = written.await;
            }
        };
        if tokio::time::timeout(Duration::from_secs(3), wait)
            .await
            .is_err()
        {
            log::warn!("audit writer is behind; listing without waiting for it");
        }
    }

    /// A page of entries, newest first, and the total matching.
    pub async fn list(&self, filter: AuditFilter) -> Result<(Vec<AuditEntry>, i64), StoreError> {
        self.flush().await;
        self.store
            .read(move |c| store::audit::list(c, &filter))
            .await
    }
}

async fn write_entries(store: Store, mut rx: mpsc::Receiver<Message>) {
    // Prune once at start: the bounds may have shrunk since the rows were written.
    let mut since_prune = PRUNE_EVERY;
    while let Some(first) = rx.recv().await {
        let mut entries = Vec::new();
        let mut flushes = Vec::new();
        let mut next = Some(first);
        while let Some(message) = next {
            match message {
                Message::Entry(e) => entries.push(e),
                Message::Flush(done) => flushes.push(done),
            }
            next = if entries.len() < BATCH {
                rx.try_recv().ok()
            } else {
                None
            };
        }
        if !entries.is_empty() {
            since_prune += entries.len();
            let prune = since_prune >= PRUNE_EVERY;
            let count = entries.len();
            let written = store
                .write(move |tx| {
                    store::audit::append(tx, &entries)?;
                    if prune {
                        store::audit::prune(tx, MAX_ROWS, MAX_ANONYMOUS_ROWS, MAX_BYTES)?;
                    }
                    Ok::<_, StoreError>(())
                })
                .await;
            match written {
                Ok(()) if prune => since_prune = 0,
                Ok(()) => {}
                Err(e) => log::error!("audit: {count} entries lost: {e}"),
            }
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: i64) -> AuditEntry {
        AuditEntry {
            id: 0,
            time: n,
            user: None,
            address: "::1".into(),
            method: "DELETE".into(),
            route: None,
            path: format!("/api/1/speakers/{n}"),
            status: 404,
            code: Some("speakers.not_found".into()),
            duration_ms: 0,
            count: 1,
        }
    }

    #[tokio::test]
    async fn entries_are_written_in_order_and_listed_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let audit = Audit::start(
            Store::open(&dir.path().join("a.db")).unwrap(),
            &Tasks::default(),
        );
        for n in 0..20 {
            audit.record(entry(n));
        }
        let (page, total) = audit
            .list(AuditFilter {
                limit: 5,
                ..AuditFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(total, 20);
        assert_eq!(page[0].time, 19);
        assert_eq!(page[0].code.as_deref(), Some("speakers.not_found"));
        assert_eq!(audit.dropped(), 0);
    }

    #[test]
    fn every_text_field_is_cut_to_its_bound_on_a_character_boundary() {
        let long = |c: &str| c.repeat(100_000);
        let cut = AuditEntry {
            user: Some(long("u")),
            address: long("1"),
            method: long("P"),
            route: Some(long("/r")),
            path: format!("/api/1/{}", long("é")),
            code: Some(long("c")),
            ..entry(1)
        }
        .bounded();
        assert!(cut.path.len() <= MAX_PATH_BYTES && cut.path.ends_with('…'));
        assert!(cut.path.starts_with("/api/1/é"));
        for field in [&cut.address, &cut.method]
            .into_iter()
            .chain([&cut.user, &cut.route, &cut.code].into_iter().flatten())
        {
            assert!(field.len() <= MAX_FIELD_BYTES, "{field}");
        }
        let short = entry(2).bounded();
        assert_eq!(short, entry(2));
    }

    #[tokio::test]
    async fn unauthenticated_calls_beyond_the_budget_become_one_counted_row() {
        let dir = tempfile::tempdir().unwrap();
        let audit = Audit::start(
            Store::open(&dir.path().join("a.db")).unwrap(),
            &Tasks::default(),
        );
        let now = now_ms();
        for n in 0..500 {
            audit.record(AuditEntry {
                time: now,
                path: format!("/api/1/{}", "A".repeat(60_000 + n)),
                ..entry(0)
            });
        }
        let (page, total) = audit
            .list(AuditFilter {
                limit: 1000,
                ..AuditFilter::default()
            })
            .await
            .unwrap();
        assert!(total <= i64::from(ANONYMOUS_PER_MINUTE) + 1, "{total}");
        assert_eq!(page.iter().map(|e| e.count).sum::<i64>(), 500);
        assert!(page.iter().all(|e| e.path.len() <= MAX_PATH_BYTES));
    }
}
