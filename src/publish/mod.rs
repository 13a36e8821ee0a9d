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

pub mod config;
pub mod failure;
pub mod flowcapture;
pub mod job;
pub mod live;
pub mod local;
pub mod opencast;
pub mod overrides;
pub mod publishers;
pub mod s3;
pub mod throttle;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::sync::Notify;

use crate::events::{Bus, Event};
use crate::model::{
    AlarmCode, AlarmLevel, CaptureRequest, CaptureState, JobState, MediaPackage, PackageState,
    PublishJob, PublishPlatformConfiguration, PublishRequest, PublishTestResult,
};
use crate::packages::{PackageError, Packages};
use crate::settings::Settings;
use crate::store::publish::{Enqueued, Outcome};
use crate::store::{self, Store, StoreError};
use crate::sys::time::now_ms;
use crate::templates::Templates;
pub use failure::FailureCode;
use job::{CaptureGate, Failure, Job, Live, PackageFile};
use publishers::Publisher;
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
    stop: tokio::sync::watch::Sender<bool>,
}

impl Publishing {
    /// Recovers interrupted jobs and starts the queue worker, the auto-publisher and the
    /// retention janitor.
    pub async fn start(
        store: Store,
        packages: Packages,
        templates: Templates,
        settings: Settings,
        bus: Bus,
        capture_running: CaptureGate,
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
        let (stop, _) = tokio::sync::watch::channel(false);
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
                stop,
            }),
        };
        tokio::spawn(publishing.clone().worker());
        tokio::spawn(publishing.clone().auto_publisher());
        tokio::spawn(publishing.clone().janitor());
        Ok(publishing)
    }

    /// Stops the background tasks; a running upload stops where it is and resumes from
    /// its checkpoint at the next start.
    pub fn shutdown(&self) {
        let _ = self.inner.stop.send(true);
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
        *self.inner.stop.borrow()
    }

    // ----- configurations -----

    async fn stored_config(&self, publisher: &str) -> Result<Map<String, Value>, PublishError> {
        let all = self.inner.store.read(store::plugins::all).await?;
        Ok(all
            .get(publisher)
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default())
    }

    fn known(publisher: &str) -> Result<(), PublishError> {
        if publishers::is_publisher(publisher) {
            Ok(())
        } else {
            Err(PublishError::UnknownPublisher(publisher.to_string()))
        }
    }

    /// Every publisher with its stored configuration, secrets masked.
    pub async fn configurations(&self) -> Result<Vec<PublishPlatformConfiguration>, PublishError> {
        let all = self.inner.store.read(store::plugins::all).await?;
        Ok(publishers::IDS
            .iter()
            .map(|id| {
                let stored = all
                    .get(*id)
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                PublishPlatformConfiguration {
                    publisher_id: (*id).to_string(),
                    config: config::masked(id, &stored),
                    ingests: None,
                }
            })
            .collect())
    }

    pub async fn configuration(
        &self,
        publisher: &str,
    ) -> Result<PublishPlatformConfiguration, PublishError> {
        Self::known(publisher)?;
        let stored = self.stored_config(publisher).await?;
        Ok(PublishPlatformConfiguration {
            publisher_id: publisher.to_string(),
            config: config::masked(publisher, &stored),
            ingests: None,
        })
    }

    /// Validates a configuration laid over the stored one (secrets not sent are kept).
    async fn merged_valid(
        &self,
        publisher: &str,
        changes: &Map<String, Value>,
    ) -> Result<Map<String, Value>, PublishError> {
        Self::known(publisher)?;
        let stored = self.stored_config(publisher).await?;
        let merged = config::merge(publisher, &stored, changes);
        Publisher::parse(publisher, &Value::Object(merged.clone())).map_err(|reason| {
            PublishError::InvalidConfig {
                publisher: publisher.to_string(),
                reason,
            }
        })?;
        Ok(merged)
    }

    /// Saves publisher configurations, all or nothing.
    pub async fn update_configurations(
        &self,
        configs: Vec<PublishPlatformConfiguration>,
    ) -> Result<Vec<PublishPlatformConfiguration>, PublishError> {
        let _guard = self.inner.config_lock.lock().await;
        let mut validated = Vec::new();
        for c in &configs {
            validated.push((
                c.publisher_id.clone(),
                self.merged_valid(&c.publisher_id, &c.config).await?,
            ));
        }
        let saved = validated.clone();
        self.inner
            .store
            .write(move |tx| {
                for (id, config) in &saved {
                    store::plugins::put(tx, id, &Value::Object(config.clone()))?;
                }
                Ok::<_, StoreError>(())
            })
            .await?;
        Ok(validated
            .into_iter()
            .map(|(id, config)| PublishPlatformConfiguration {
                config: config::masked(&id, &config),
                publisher_id: id,
                ingests: None,
            })
            .collect())
    }

    pub async fn update_configuration(
        &self,
        publisher: &str,
        config: Map<String, Value>,
    ) -> Result<PublishPlatformConfiguration, PublishError> {
        let mut saved = self
            .update_configurations(vec![PublishPlatformConfiguration {
                publisher_id: publisher.to_string(),
                config,
                ingests: None,
            }])
            .await?;
        Ok(saved.remove(0))
    }

    /// The publishers as plugins; enabled means configured and not switched off.
    pub async fn plugins(&self) -> Result<Vec<crate::plugins::Plugin>, PublishError> {
        let all = self.inner.store.read(store::plugins::all).await?;
        Ok(publishers::IDS
            .iter()
            .map(|id| {
                let stored = all.get(*id).and_then(Value::as_object);
                crate::plugins::Plugin {
                    id: (*id).to_string(),
                    name: publishers::name(id).to_string(),
                    version: env!("CARGO_PKG_VERSION").to_string(),
                    kind: crate::plugins::PluginKind::Publisher,
                    enabled: stored.is_some_and(|s| !s.is_empty() && !config::disabled(s)),
                    services: publishers::services(id)
                        .iter()
                        .map(|(name, description)| crate::plugins::PluginService {
                            name: (*name).to_string(),
                            description: (*description).to_string(),
                        })
                        .collect(),
                }
            })
            .collect())
    }

    // ----- tests and services -----

    /// Lays a configuration a client sent over the stored one: as it is for an
    /// Administrator; for anyone else only harmless keys keep the stored secrets
    /// (`overrides::lay_over_for_lower_role`).
    async fn laid_over_stored(
        &self,
        publisher: &str,
        changes: &Map<String, Value>,
        by_administrator: bool,
    ) -> Result<Map<String, Value>, PublishError> {
        Self::known(publisher)?;
        let stored = self.stored_config(publisher).await?;
        if by_administrator {
            Ok(config::merge(publisher, &stored, changes))
        } else {
            overrides::lay_over_for_lower_role(publisher, &stored, changes)
        }
    }

    /// Checks a configuration (laid over the stored one) without uploading media, and
    /// records the result. A failed check is an answer, not an error; a configuration a
    /// caller below Administrator may not use is an error.
    pub async fn test(
        &self,
        request: PublishPlatformConfiguration,
        by_administrator: bool,
    ) -> Result<PublishTestResult, PublishError> {
        let publisher = request.publisher_id.clone();
        let merged = self
            .laid_over_stored(&publisher, &request.config, by_administrator)
            .await?;
        let outcome = match Publisher::parse(&publisher, &Value::Object(merged)) {
            Err(reason) => Err(Failure::invalid_config(reason)),
            Ok(p) => match tokio::time::timeout(TEST_TIMEOUT, p.test(&self.inner.http)).await {
                Ok(result) => result,
                Err(_) => Err(Failure::unreachable(format!(
                    "no answer within {} s",
                    TEST_TIMEOUT.as_secs()
                ))),
            },
        };
        let result = match outcome {
            Ok(message) => PublishTestResult {
                publisher_id: publisher,
                ok: true,
                code: FailureCode::Ok.as_str().into(),
                message,
                tested_at: now_ms(),
            },
            Err(f) => PublishTestResult {
                publisher_id: publisher,
                ok: false,
                code: f.code.as_str().into(),
                message: f.message,
                tested_at: now_ms(),
            },
        };
        let stored = result.clone();
        self.inner
            .store
            .write(move |tx| store::publish::put_test(tx, &stored))
            .await?;
        Ok(result)
    }

    pub async fn tested(&self) -> Result<Vec<PublishTestResult>, PublishError> {
        Ok(self.inner.store.read(store::publish::tests).await?)
    }

    /// Runs a publisher's plugin service with its stored configuration.
    pub async fn service(
        &self,
        publisher: &str,
        name: &str,
        args: Value,
    ) -> Result<Result<Value, Failure>, PublishError> {
        let config = self.merged_valid(publisher, &Map::new()).await?;
        let p = Publisher::parse(publisher, &Value::Object(config)).map_err(|reason| {
            PublishError::InvalidConfig {
                publisher: publisher.to_string(),
                reason,
            }
        })?;
        Ok(
            match tokio::time::timeout(TEST_TIMEOUT, p.service(&self.inner.http, name, &args)).await
            {
                Ok(result) => result,
                Err(_) => Err(Failure::unreachable("no answer in time")),
            },
        )
    }

    // ----- jobs -----

    /// Queues a package for the requested publishers (or its defaults). Idempotent: a
    /// package already queued, running or published for a publisher keeps that job.
    /// `configs` from a caller below Administrator are held to the same rules as a
    /// connection test of theirs.
    pub async fn publish(
        &self,
        package_id: &str,
        request: PublishRequest,
        by_administrator: bool,
    ) -> Result<Vec<PublishJob>, PublishError> {
        let package = self.inner.packages.get(package_id).await?;
        if !matches!(
            package.state,
            PackageState::Complete | PackageState::Partial
        ) {
            return Err(PublishError::PackageNotReady {
                id: package.id.clone(),
                state: format!("{:?}", package.state).to_lowercase(),
            });
        }
        let mut planned = Vec::new();
        if request.configs.is_empty() {
            // Administrators' layers, and overrides already held to the package's rules.
            for target in self.default_targets(&package).await? {
                let config = self
                    .merged_valid(&target.publisher_id, &target.config)
                    .await?;
                planned.push((target.publisher_id, config));
            }
        } else {
            for target in &request.configs {
                let config = self
                    .laid_over_stored(&target.publisher_id, &target.config, by_administrator)
                    .await?;
                Publisher::parse(&target.publisher_id, &Value::Object(config.clone())).map_err(
                    |reason| PublishError::InvalidConfig {
                        publisher: target.publisher_id.clone(),
                        reason,
                    },
                )?;
                planned.push((target.publisher_id.clone(), config));
            }
        }
        if planned.is_empty() {
            return Err(PublishError::NothingToPublish(package.id));
        }
        self.enqueue(&package.id, planned).await
    }

    async fn enqueue(
        &self,
        package_id: &str,
        planned: Vec<(String, Map<String, Value>)>,
    ) -> Result<Vec<PublishJob>, PublishError> {
        let package_id = package_id.to_string();
        let results = self
            .inner
            .store
            .write(move |tx| {
                let mut out = Vec::new();
                for (publisher, config) in &planned {
                    let text = Value::Object(config.clone()).to_string();
                    out.push(store::publish::enqueue(
                        tx,
                        &new_job_id(),
                        &package_id,
                        publisher,
                        &text,
                    )?);
                }
                store::publish::mark_decided(tx, &package_id)?;
                Ok::<_, StoreError>(out)
            })
            .await?;
        self.inner.wake.notify_one();
        Ok(results
            .into_iter()
            .map(|e| match e {
                Enqueued::Created(job) | Enqueued::Requeued(job) | Enqueued::Existing(job) => {
                    self.with_live(job)
                }
            })
            .collect())
    }

    /// A template's `publishing` list (empty when the template is gone).
    async fn template_targets(&self, template_id: &str) -> Vec<PublishPlatformConfiguration> {
        match self.inner.templates.get(template_id).await {
            Ok(t) => t
                .publishing
                .iter()
                .filter_map(|v| serde_json::from_value(v.clone()).ok())
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// The configuration of `publisher` a recording with these template targets is
    /// published with before any override: stored ← template.
    fn base_config(
        stored: &BTreeMap<String, Value>,
        publisher: &str,
        from_template: &[PublishPlatformConfiguration],
    ) -> Map<String, Value> {
        let stored_one = stored
            .get(publisher)
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        match from_template.iter().find(|t| t.publisher_id == publisher) {
            Some(t) => config::merge(publisher, &stored_one, &t.config),
            None => stored_one,
        }
    }

    /// Checks a capture request's `publishingOverrides` before the capture starts: their
    /// shape and values for everyone (422 `publish.invalid_overrides`), and for a caller below
    /// Administrator that they change only harmless keys of the configuration the
    /// recording would be published with (403 `publish.override_forbidden` /
    /// `publish.outside_configured`).
    pub async fn check_overrides(
        &self,
        request: &CaptureRequest,
        by_administrator: bool,
    ) -> Result<(), PublishError> {
        let overrides = overrides::parse(request.publishing_overrides.as_ref())?;
        if overrides.is_empty() {
            return Ok(());
        }
        let from_template = match request
            .template_id
            .clone()
            .or_else(|| self.inner.settings.default_template())
        {
            Some(id) => self.template_targets(&id).await,
            None => Vec::new(),
        };
        let stored = self.inner.store.read(store::plugins::all).await?;
        for (publisher, over) in &overrides {
            let base = Self::base_config(&stored, publisher, &from_template);
            if !by_administrator {
                overrides::check(publisher, &base, over)?;
            }
            // A value the publisher would refuse is named now, not when the job fails.
            let merged = config::merge(publisher, &base, over);
            if Publisher::parse(publisher, &Value::Object(base)).is_ok()
                && let Err(reason) = Publisher::parse(publisher, &Value::Object(merged))
            {
                return Err(PublishError::InvalidOverrides(format!(
                    "{publisher}: {reason}"
                )));
            }
        }
        Ok(())
    }

    /// The publishers a package goes to when nobody names them: its template's list,
    /// else every publisher with a stored configuration that is not switched off. The
    /// capture request's `publishingOverrides` are laid over either; unless an
    /// Administrator gave them, only their harmless keys (checked again here, so overrides
    /// stored before the rules or by any other way cannot redirect an upload).
    async fn default_targets(
        &self,
        package: &MediaPackage,
    ) -> Result<Vec<PublishPlatformConfiguration>, PublishError> {
        let from_template = self.template_targets(&package.template_id).await;
        let stored = self.inner.store.read(store::plugins::all).await?;
        let mut targets = if from_template.is_empty() {
            publishers::IDS
                .iter()
                .filter_map(|id| {
                    let stored = stored.get(*id)?.as_object()?;
                    (!stored.is_empty() && !config::disabled(stored)).then(|| {
                        PublishPlatformConfiguration {
                            publisher_id: (*id).to_string(),
                            ..Default::default()
                        }
                    })
                })
                .collect()
        } else {
            from_template.clone()
        };
        let trusted = package.publishing_overrides_by_administrator;
        let overrides = overrides::read(package.request.publishing_overrides.as_ref());
        for target in &mut targets {
            let publisher = target.publisher_id.clone();
            let Some(over) = overrides.get(&publisher) else {
                continue;
            };
            let over = if trusted {
                over.clone()
            } else {
                let base = Self::base_config(&stored, &publisher, &from_template);
                let (kept, dropped) = overrides::harmless_part(&publisher, &base, over);
                if !dropped.is_empty() {
                    log::warn!(
                        "media package {}: publishingOverrides for {publisher} not applied \
                         (only an Administrator may set them): {}",
                        package.id,
                        dropped.join(", ")
                    );
                }
                kept
            };
            target.config = config::merge(&publisher, &target.config, &over);
        }
        Ok(targets)
    }

    /// Decides the automatic publishing of a finished package, once.
    async fn auto_publish(&self, package_id: &str) -> Result<(), PublishError> {
        let package = self.inner.packages.get(package_id).await?;
        let wanted = matches!(
            package.state,
            PackageState::Complete | PackageState::Partial
        ) && package.request.publishing;
        let mut planned = Vec::new();
        if wanted {
            for target in self.default_targets(&package).await? {
                let stored = self.stored_config(&target.publisher_id).await?;
                // Invalid configurations are queued anyway: the job fails visibly with the
                // reason instead of the recording silently not being published.
                planned.push((
                    target.publisher_id.clone(),
                    config::merge(&target.publisher_id, &stored, &target.config),
                ));
            }
        }
        if planned.is_empty() {
            let id = package.id.clone();
            self.inner
                .store
                .write(move |tx| store::publish::mark_decided(tx, &id))
                .await?;
            return Ok(());
        }
        let jobs = self.enqueue(&package.id, planned).await?;
        log::info!(
            "media package {} queued for publishing to {}",
            package.id,
            jobs.iter()
                .map(|j| j.publisher_id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        Ok(())
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

    // ----- background tasks -----

    async fn worker(self) {
        let mut stop = self.inner.stop.subscribe();
        loop {
            if self.stopped() {
                return;
            }
            let due = self
                .inner
                .store
                .read(|c| store::publish::next_due(c, now_ms()))
                .await;
            match due {
                Ok(Some((job, config))) => self.run(job, config).await,
                Ok(None) => {
                    let next = self
                        .inner
                        .store
                        .read(store::publish::earliest_due)
                        .await
                        .ok()
                        .flatten();
                    let wait = next.map_or(Duration::from_secs(3600), |at| {
                        Duration::from_millis((at - now_ms()).clamp(0, 3_600_000) as u64)
                    });
                    tokio::select! {
                        () = self.inner.wake.notified() => {}
                        () = tokio::time::sleep(wait) => {}
                        _ = stop.changed() => {}
                    }
                }
                Err(e) => {
                    log::error!("publish queue: {e}");
                    tokio::time::sleep(Duration::from_secs(5)).await;
                }
            }
        }
    }

    fn files_of(&self, package: &MediaPackage) -> Result<Vec<PackageFile>, Failure> {
        let mut files = Vec::new();
        // The main recording first: with several files it is the one people wait for.
        let mut entries: Vec<(&String, &crate::model::Output)> = package.outputs.iter().collect();
        entries.sort_by_key(|(entry, o)| {
            (
                o.node_id.as_deref() != Some(package.processing.root.as_str()),
                (*entry).clone(),
            )
        });
        for (entry, output) in entries {
            let path = self
                .inner
                .packages
                .output_path(package, entry)
                .map_err(|e| Failure {
                    code: FailureCode::MissingMedia,
                    message: format!("output {entry}: {e}"),
                    permanent: true,
                })?;
            let size = std::fs::metadata(&path)
                .map_err(|e| Failure::io(format!("{}: {e}", path.display())))?
                .len();
            files.push(PackageFile {
                entry: entry.clone(),
                mime: output.mime.clone(),
                path,
                name: output.file.clone(),
                size,
                md5: output.md5.clone(),
            });
        }
        Ok(files)
    }

    async fn run(&self, job: PublishJob, config: String) {
        let id = job.id.clone();
        if let Err(e) = self
            .inner
            .store
            .write({
                let id = id.clone();
                move |tx| store::publish::mark_running(tx, &id)
            })
            .await
        {
            log::error!("publish job {id}: {e}");
            tokio::time::sleep(Duration::from_secs(5)).await;
            return;
        }
        let attempts = job.attempts + 1;
        let live = Arc::new(Live::default());
        self.running().insert(id.clone(), live.clone());
        log::info!(
            "publishing {} to {} (attempt {attempts})",
            job.media_package_id,
            job.publisher_id
        );
        let result = self.attempt(&job, &config, live.clone()).await;
        self.running().remove(&id);
        let (done, total) = (
            live.done.load(Ordering::Relaxed),
            live.total.load(Ordering::Relaxed),
        );
        let stopping = self.stopped();
        let (state, error, next_attempt_at) = match &result {
            Ok(_) => (JobState::Done, None, 0),
            // Stopped by the daemon shutting down: it continues at the next start.
            Err(_) if stopping => (JobState::Queued, None, 0),
            Err(f) if f.code == FailureCode::Cancelled => (
                JobState::Cancelled,
                Some((f.code.as_str(), f.message.clone())),
                0,
            ),
            Err(f) if f.permanent || attempts >= MAX_ATTEMPTS => (
                JobState::Failed,
                Some((f.code.as_str(), f.message.clone())),
                0,
            ),
            Err(f) => (
                JobState::Queued,
                Some((f.code.as_str(), f.message.clone())),
                now_ms() + backoff_ms(attempts),
            ),
        };
        let (url, remote_id) = match &result {
            Ok(d) => (d.url.clone(), d.remote_id.clone()),
            Err(_) => (None, None),
        };
        let done = if state == JobState::Done {
            total.max(done)
        } else {
            done
        };
        let stored = {
            let id = id.clone();
            self.inner
                .store
                .write(move |tx| {
                    store::publish::finish_attempt(
                        tx,
                        &id,
                        &Outcome {
                            state,
                            done,
                            total,
                            error: error.as_ref().map(|(c, m)| (*c, m.as_str())),
                            url: url.as_deref(),
                            remote_id: remote_id.as_deref(),
                            next_attempt_at,
                        },
                    )
                })
                .await
        };
        if let Err(e) = stored {
            log::error!("publish job {id}: cannot record the outcome: {e}");
        }
        match (&result, state) {
            (Ok(_), _) => {
                log::info!(
                    "published {} to {} ({done} bytes)",
                    job.media_package_id,
                    job.publisher_id
                );
                self.note_on_package(&job.media_package_id, &job.publisher_id, &id)
                    .await;
            }
            (Err(f), JobState::Failed) => {
                log::error!(
                    "publishing {} to {} failed: {} ({})",
                    job.media_package_id,
                    job.publisher_id,
                    f.message,
                    f.code
                );
                self.inner.bus.publish(Event::Alarm {
                    code: AlarmCode::PublishFailed,
                    level: AlarmLevel::Warning,
                    message: format!(
                        "publishing {} to {} failed: {}",
                        job.media_package_id, job.publisher_id, f.message
                    ),
                });
            }
            (Err(f), _) => log::warn!(
                "publishing {} to {}: {} ({}); will retry",
                job.media_package_id,
                job.publisher_id,
                f.message,
                f.code
            ),
        }
        if let Ok(now) = self.job(&id).await {
            self.inner.bus.publish(Event::PublishJob { job: now });
        }
    }

    async fn attempt(
        &self,
        job: &PublishJob,
        config: &str,
        live: Arc<Live>,
    ) -> Result<job::Delivered, Failure> {
        let config: Value = serde_json::from_str(config)
            .map_err(|e| Failure::invalid_config(format!("stored configuration: {e}")))?;
        let publisher =
            Publisher::parse(&job.publisher_id, &config).map_err(Failure::invalid_config)?;
        let package = self
            .inner
            .packages
            .get(&job.media_package_id)
            .await
            .map_err(|e| Failure {
                code: FailureCode::MissingMedia,
                message: e.to_string(),
                permanent: true,
            })?;
        let files = self.files_of(&package)?;
        let work = Job {
            id: job.id.clone(),
            package,
            files,
            http: self.inner.http.clone(),
            store: self.inner.store.clone(),
            live,
            throttle: self.inner.throttle.clone(),
            capturing: self.inner.capturing.clone(),
        };
        publisher.publish(&work).await
    }

    /// Records the destination on the package (`publishing {publisherID → Destination}`).
    async fn note_on_package(&self, package_id: &str, publisher: &str, job_id: &str) {
        let Ok(job) = self.job(job_id).await else {
            return;
        };
        let Ok(mut package) = self.inner.packages.get(package_id).await else {
            return;
        };
        package.publishing.insert(
            publisher.to_string(),
            json!({
                "state": "done",
                "jobID": job.id,
                "url": job.url,
                "remoteID": job.remote_id,
                "publishedAt": job.finished_at,
            }),
        );
        if let Err(e) = self.inner.packages.save(&package).await {
            log::warn!("cannot note the publication on {package_id}: {e}");
        }
    }

    /// Enqueues finished captures: every package that finished and was not decided yet
    /// (at start, then whenever a capture ends).
    async fn auto_publisher(self) {
        let mut events = self.inner.bus.subscribe();
        let mut stop = self.inner.stop.subscribe();
        loop {
            match self.inner.store.read(store::publish::undecided).await {
                Ok(ids) => {
                    for id in ids {
                        if let Err(e) = self.auto_publish(&id).await {
                            log::warn!("automatic publishing of {id}: {e}");
                        }
                    }
                }
                Err(e) => log::error!("publish queue: {e}"),
            }
            // Wait for a capture to end (or lost events: then look anyway).
            loop {
                tokio::select! {
                    _ = stop.changed() => return,
                    received = events.recv() => match received {
                        Ok(envelope) => {
                            if let Event::CaptureState { state: CaptureState::Idle, .. } = envelope.event {
                                break;
                            }
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => break,
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                    }
                }
            }
        }
    }

    /// Deletes local media of packages every publisher confirmed, `mediaRetentionDays`
    /// after the last confirmation.
    async fn janitor(self) {
        let mut stop = self.inner.stop.subscribe();
        loop {
            let days = self.inner.settings.media_retention_days();
            if days > 0 {
                let cutoff = now_ms() - days * 86_400_000;
                match self
                    .inner
                    .store
                    .read(move |c| store::publish::confirmed_before(c, cutoff))
                    .await
                {
                    Ok(ids) => {
                        for id in ids {
                            match self.inner.packages.delete(&id).await {
                                Ok(()) => log::info!(
                                    "media package {id} deleted: published and older than {days} days"
                                ),
                                Err(e) => log::warn!("retention of {id}: {e}"),
                            }
                        }
                    }
                    Err(e) => log::error!("retention: {e}"),
                }
            }
            tokio::select! {
                _ = stop.changed() => return,
                () = tokio::time::sleep(RETENTION_EVERY) => {}
            }
        }
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
