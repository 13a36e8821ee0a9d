//! Publishing: the persistent publish queue and the publishers behind it.
//!
//! A job is one media package × one publisher; the pair is the idempotency key, so asking
//! again never uploads twice. Jobs live in SQLite and survive restarts (a job that was
//! running is queued again and its publisher resumes from its checkpoint). Transient
//! failures back off exponentially; permanent ones (credentials, configuration) fail the
//! job at once so a person can fix and retry it. A finished capture is enqueued by itself
//! when its request and template want publishing. Local media is deleted only after every
//! job of its package is done and `mediaRetentionDays` have passed.
//!
//! The configuration of a publisher is its plugin settings; secrets are write-only.
//!
//! This module holds the queue's handle and its job-level calls (list, cancel, retry);
//! the handle's other work lives beside it: `configure` (configurations, tests, plugin
//! services), `enqueue` (what goes where), `worker` (running jobs), `auto` (the
//! auto-publisher) and `retention` (the media janitor).

mod auto;
pub(crate) mod config;
mod configure;
mod enqueue;
pub(crate) mod failure;
pub(crate) mod flowcapture;
pub(crate) mod job;
pub(crate) mod live;
pub(crate) mod local;
pub(crate) mod manifest;
pub(crate) mod opencast;
pub(crate) mod overrides;
pub(crate) mod publishers;
mod retention;
pub(crate) mod s3;
pub(crate) mod throttle;
mod worker;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use crate::events::Bus;
use crate::model::{JobState, PublishJob};
use crate::packages::{PackageError, Packages};
use crate::settings::Settings;
use crate::store::{self, Store, StoreError};
use crate::sys::tasks::Tasks;
use crate::templates::Templates;
pub(crate) use failure::FailureCode;
use job::{CaptureGate, Live};
use throttle::Throttle;

/// Attempts before a transiently failing job is given up (about a day of backoff).
const MAX_ATTEMPTS: u32 = 12;
const FIRST_BACKOFF_MS: i64 = 5_000;
const MAX_BACKOFF_MS: i64 = 3_600_000;
/// How often local media is checked against `mediaRetentionDays`.
const RETENTION_EVERY: Duration = Duration::from_secs(3600);
/// Connection tests must answer a person promptly.
const TEST_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("no publisher {0:?}")]
    UnknownPublisher(String),
    #[error("invalid configuration for {publisher}: {reason}")]
    InvalidConfig { publisher: String, reason: String },
    #[error("{publisher} is not configured; save its configuration first")]
    NotConfigured { publisher: String },
    #[error("no publish job {0:?}")]
    JobNotFound(String),
    #[error("media package {id} cannot be published while it is {state}")]
    PackageNotReady { id: String, state: String },
    #[error("no publisher is configured for media package {0}")]
    NothingToPublish(String),
    #[error("publish job {id} is {state}; only queued, failed or cancelled jobs can be retried")]
    NotRetryable { id: String, state: String },
    #[error("publishingOverrides: {0}")]
    InvalidOverrides(String),
    #[error(
        "only an Administrator may override {publisher} {key:?}; others may set {}",
        overrides::harmless_keys(publisher).join(", ")
    )]
    OverrideForbidden { publisher: String, key: String },
    #[error("{publisher} {key}: {reason}")]
    OutsideConfigured {
        publisher: String,
        key: String,
        reason: String,
    },
    #[error(
        "{publisher}: changing {} needs {} sent again (or an Administrator); stored secrets go only to the configured server",
        changed.join(", "),
        secrets.join(", ")
    )]
    SecretRequired {
        publisher: String,
        changed: Vec<String>,
        secrets: Vec<String>,
    },
    #[error(transparent)]
    Package(#[from] PackageError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Delay before attempt `attempts + 1` after a transient failure.
fn backoff_ms(attempts: u32) -> i64 {
    let exp = attempts.saturating_sub(1).min(20);
    (FIRST_BACKOFF_MS << exp).min(MAX_BACKOFF_MS)
}

fn new_job_id() -> String {
    let bytes: [u8; 6] = rand::random();
    format!(
        "job-{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

/// Cheap, cloneable handle to the publish queue.
#[derive(Clone)]
pub struct Publishing {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    packages: Packages,
    templates: Templates,
    settings: Settings,
    bus: Bus,
    http: reqwest::Client,
    throttle: Throttle,
    capturing: CaptureGate,
    wake: Notify,
    /// Jobs running now, for live progress and cancellation.
    running: Mutex<HashMap<String, Arc<Live>>>,
    /// Serialises configuration updates (read-merge-write).
    config_lock: tokio::sync::Mutex<()>,
    /// The queue's background tasks and their stop.
    tasks: Tasks,
}

impl Publishing {
    /// Recovers interrupted jobs and starts the queue worker, the auto-publisher and the
    /// retention janitor.
    #[expect(clippy::expect_used, reason = "invariant: the HTTP client builds")]
    pub async fn start(
        store: Store,
        packages: Packages,
        templates: Templates,
        settings: Settings,
        bus: Bus,
        capture_running: CaptureGate,
        tasks: Tasks,
    ) -> Result<Publishing, StoreError> {
        let recovered = store
            .write(|tx| store::publish::requeue_interrupted(tx))
            .await?;
        if recovered > 0 {
            log::info!("{recovered} interrupted publish jobs queued again");
        }
        let limit_setting = settings.clone();
        let throttle = Throttle::new(Arc::new(move || limit_setting.upload_limit_kbps()));
        let pause_setting = settings.clone();
        let gate: CaptureGate =
            Arc::new(move || pause_setting.pause_uploads_while_capturing() && capture_running());
        let http = crate::http_client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .expect("the HTTP client builds");
        let publishing = Publishing {
            inner: Arc::new(Inner {
                store,
                packages,
                templates,
                settings,
                bus,
                http,
                throttle,
                capturing: gate,
                wake: Notify::new(),
                running: Mutex::default(),
                config_lock: tokio::sync::Mutex::new(()),
                tasks,
            }),
        };
        let tasks = &publishing.inner.tasks;
        tasks.spawn_finishing(publishing.clone().worker());
        tasks.spawn_finishing(publishing.clone().auto_publisher());
        tasks.spawn_finishing(publishing.clone().janitor());
        Ok(publishing)
    }

    /// Stops the background tasks; a running upload stops where it is and resumes from
    /// its checkpoint at the next start.
    pub fn shutdown(&self) {
        self.inner.tasks.stop();
        for live in self.running().values() {
            live.cancelled.store(true, Ordering::Relaxed);
        }
    }

    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Live>>> {
        self.inner
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn stopped(&self) -> bool {
        self.inner.tasks.is_stopped()
    }

    fn with_live(&self, mut job: PublishJob) -> PublishJob {
        if let Some(live) = self.running().get(&job.id) {
            job.progress.done = live.done.load(Ordering::Relaxed);
            job.progress.total = live.total.load(Ordering::Relaxed);
        }
        job
    }

    pub async fn jobs(
        &self,
        package_id: Option<String>,
        state: Option<JobState>,
        limit: i64,
    ) -> Result<Vec<PublishJob>, PublishError> {
        let jobs = self
            .inner
            .store
            .read(move |c| store::publish::list(c, package_id.as_deref(), state, limit))
            .await?;
        Ok(jobs.into_iter().map(|j| self.with_live(j)).collect())
    }

    pub async fn job(&self, id: &str) -> Result<PublishJob, PublishError> {
        let key = id.to_string();
        let job = self
            .inner
            .store
            .read(move |c| store::publish::get(c, &key))
            .await?
            .ok_or_else(|| PublishError::JobNotFound(id.to_string()))?;
        Ok(self.with_live(job))
    }

    /// Cancels a job: a queued one at once, a running one at its next step.
    pub async fn cancel(&self, id: &str) -> Result<PublishJob, PublishError> {
        let job = self.job(id).await?;
        if let Some(live) = self.running().get(id) {
            live.cancelled.store(true, Ordering::Relaxed);
        }
        if job.state == JobState::Queued {
            let key = id.to_string();
            self.inner
                .store
                .write(move |tx| store::publish::cancel_queued(tx, &key))
                .await?;
        }
        // A running job reports `cancelled` once its worker has stopped it.
        for _ in 0..50 {
            let now = self.job(id).await?;
            if now.state != JobState::Running {
                return Ok(now);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.job(id).await
    }

    /// Runs a waiting, failed or cancelled job again now.
    pub async fn retry(&self, id: &str) -> Result<PublishJob, PublishError> {
        let job = self.job(id).await?;
        if !matches!(
            job.state,
            JobState::Queued | JobState::Failed | JobState::Cancelled
        ) {
            return Err(PublishError::NotRetryable {
                id: id.to_string(),
                state: job.state.as_str().to_string(),
            });
        }
        let key = id.to_string();
        self.inner
            .store
            .write(move |tx| store::publish::retry_now(tx, &key))
            .await?;
        self.inner.wake.notify_one();
        self.job(id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff_ms(1), 5_000);
        assert_eq!(backoff_ms(2), 10_000);
        assert_eq!(backoff_ms(4), 40_000);
        assert_eq!(backoff_ms(30), MAX_BACKOFF_MS);
    }
}
