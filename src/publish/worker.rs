//! The queue worker: takes due jobs one at a time, runs the publisher with its files,
//! checkpoint, bandwidth limit and cancel flag, and records the outcome (done, retried
//! with backoff, or failed for good with an alarm). Publishers own the protocols.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{Value, json};

use super::job::{Failure, Job, Live, PackageFile};
use super::publishers::Publisher;
use super::{FailureCode, MAX_ATTEMPTS, Publishing, backoff_ms, job};
use crate::events::Event;
use crate::model::{AlarmCode, AlarmLevel, JobState, MediaPackage, PublishJob};
use crate::store;
use crate::store::publish::Outcome;
use crate::sys::time::now_ms;

impl Publishing {
    pub(super) async fn worker(self) {
        let stop = self.inner.tasks.stopped();
        tokio::pin!(stop);
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
                        () = &mut stop => {}
                    }
                }
                Err(e) => {
                    log::error!("publish queue: {e}");
                    tokio::time::sleep(Duration::from_secs(5)).await;
                }
            }
        }
    }

    pub(super) fn files_of(&self, package: &MediaPackage) -> Result<Vec<PackageFile>, Failure> {
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

    pub(super) async fn run(&self, job: PublishJob, config: String) {
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

    pub(super) async fn attempt(
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
            manifest: super::manifest::manifest(&package),
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
    pub(super) async fn note_on_package(&self, package_id: &str, publisher: &str, job_id: &str) {
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
}
