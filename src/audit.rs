//! The audit trail: who did what when, one entry per state-changing API call.
//!
//! Requests hand entries to a bounded channel and go on; one background task writes them in
//! batches. A slow or stuck disk therefore never delays a request: when the channel is full
//! the entry is dropped, counted, and the loss logged. The table keeps the newest
//! [`MAX_ROWS`] entries.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use utoipa::ToSchema;

use crate::store::{self, Store, StoreError};

/// Entries kept; older ones are pruned.
pub const MAX_ROWS: i64 = 100_000;
/// Entries waiting for the writer before new ones are dropped.
const QUEUE: usize = 4096;
/// Entries written in one transaction at most.
const BATCH: usize = 512;
/// Rows appended between two prunes (pruning is one indexed DELETE, but not free).
const PRUNE_EVERY: usize = 1000;

/// One recorded call.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    pub id: i64,
    /// When the request arrived, ms since the epoch.
    pub time: i64,
    /// The authenticated user; `null` when the call carried no valid credentials.
    pub user: Option<String>,
    /// The client's IP address.
    pub address: String,
    pub method: String,
    /// The route pattern that matched, e.g. `/api/1/capture/mediaPackages/{id}`; `null`
    /// when no route matched.
    pub route: Option<String>,
    /// The concrete path requested.
    pub path: String,
    /// The HTTP status answered.
    pub status: u16,
    /// The error `code` when the answer was an error.
    pub code: Option<String>,
    /// Time until the answer's headers, in ms.
    pub duration_ms: i64,
}

/// Which entries to list.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub limit: i64,
    pub offset: i64,
    /// Only entries at or after this time (ms since the epoch).
    pub since: Option<i64>,
    /// Only entries of this user.
    pub user: Option<String>,
}

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
    store: Store,
}

impl Audit {
    /// Starts the writer task on the current runtime.
    pub fn start(store: Store) -> Audit {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(write_entries(store.clone(), rx, MAX_ROWS));
        Audit {
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
            store,
        }
    }

    /// Queues an entry without waiting; when the queue is full the entry is dropped and
    /// counted.
    pub fn record(&self, entry: AuditEntry) {
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

async fn write_entries(store: Store, mut rx: mpsc::Receiver<Message>, keep: i64) {
    // Prune once at start: MAX_ROWS may have shrunk since the rows were written.
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
                        store::audit::prune(tx, keep)?;
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
        }
    }

    #[tokio::test]
    async fn entries_are_written_in_order_and_listed_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let audit = Audit::start(Store::open(&dir.path().join("a.db")).unwrap());
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
}
