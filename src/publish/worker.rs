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

    /// Runs one attempt of a due job and records its outcome.
    pub(super) async fn run(&self, job: PublishJob, config: String) {
        let id = job.id.clone();
        if !self.mark_running(&id).await {
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
        let verdict = Verdict::of(&result, attempts, self.stopped());
        let done = if verdict.state == JobState::Done {
            total.max(done)
        } else {
            done
        };
        self.record(&id, &result, &verdict, done, total).await;
        self.report(&job, &result, verdict.state, done).await;
        if let Ok(now) = self.job(&id).await {
            self.inner.bus.publish(Event::PublishJob { job: now });
        }
    }

    /// Marks the job running; false (after a pause, so a failing store is not hammered)
    /// when that could not be recorded.
    async fn mark_running(&self, id: &str) -> bool {
        let marked = self
            .inner
            .store
            .write({
                let id = id.to_string();
                move |tx| store::publish::mark_running(tx, &id)
            })
            .await;
        if let Err(e) = marked {
            log::error!("publish job {id}: {e}");
            tokio::time::sleep(Duration::from_secs(5)).await;
            return false;
        }
        true
    }

    /// Stores the attempt's outcome on the job.
    async fn record(
        &self,
        id: &str,
        result: &Result<job::Delivered, Failure>,
        verdict: &Verdict,
        done: u64,
        total: u64,
    ) {
        let (url, remote_id) = match result {
            Ok(d) => (d.url.clone(), d.remote_id.clone()),
            Err(_) => (None, None),
        };
        let Verdict {
            state,
            error,
            next_attempt_at,
        } = verdict.clone();
        let stored = {
            let id = id.to_string();
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
    }

    /// Tells of the attempt: a publication is noted on the package, a job failed for good
    /// raises an alarm, one to be retried is logged.
    async fn report(
        &self,
        job: &PublishJob,
        result: &Result<job::Delivered, Failure>,
        state: JobState,
        done: u64,
    ) {
        match (result, state) {
            (Ok(_), _) => {
                log::info!(
                    "published {} to {} ({done} bytes)",
                    job.media_package_id,
                    job.publisher_id
                );
                self.note_on_package(&job.media_package_id, &job.publisher_id, &job.id)
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

/// What an attempt's result makes of its job.
#[derive(Debug, Clone, PartialEq)]
struct Verdict {
    state: JobState,
    /// The failure's code and message, kept on the job for clients to see.
    error: Option<(&'static str, String)>,
    /// When a queued job is tried again (0: as soon as the worker is free).
    next_attempt_at: i64,
}

impl Verdict {
    /// `attempts` counts this one; `stopping` is the daemon shutting down.
    fn of(result: &Result<job::Delivered, Failure>, attempts: u32, stopping: bool) -> Verdict {
        let failed = |state, f: &Failure, next_attempt_at| Verdict {
            state,
            error: Some((f.code.as_str(), f.message.clone())),
            next_attempt_at,
        };
        match result {
            Ok(_) => Verdict {
                state: JobState::Done,
                error: None,
                next_attempt_at: 0,
            },
            // Stopped by the daemon shutting down: it continues at the next start.
            Err(_) if stopping => Verdict {
                state: JobState::Queued,
                error: None,
                next_attempt_at: 0,
            },
            Err(f) if f.code == FailureCode::Cancelled => failed(JobState::Cancelled, f, 0),
            Err(f) if f.permanent || attempts >= MAX_ATTEMPTS => failed(JobState::Failed, f, 0),
            Err(f) => failed(JobState::Queued, f, now_ms() + backoff_ms(attempts)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_attempt_makes_its_job_done_queued_cancelled_or_failed() {
        let delivered = Ok(job::Delivered::default());
        assert_eq!(Verdict::of(&delivered, 1, false).state, JobState::Done);
        let refused = Err(Failure::rejected("no"));
        let stopped = Verdict::of(&refused, 1, true);
        assert_eq!((stopped.state, stopped.error), (JobState::Queued, None));
        let before = now_ms();
        let retried = Verdict::of(&refused, 1, false);
        assert_eq!(retried.state, JobState::Queued);
        assert_eq!(retried.error, Some(("publish.rejected", "no".to_string())));
        assert!(retried.next_attempt_at >= before + backoff_ms(1));
        let last = Verdict::of(&refused, MAX_ATTEMPTS, false);
        assert_eq!((last.state, last.next_attempt_at), (JobState::Failed, 0));
        let permanent = Err(Failure {
            permanent: true,
            ..Failure::rejected("never")
        });
        assert_eq!(Verdict::of(&permanent, 1, false).state, JobState::Failed);
        let cancelled = Verdict::of(&Err(Failure::cancelled()), 1, false);
        assert_eq!(cancelled.state, JobState::Cancelled);
        assert_eq!(
            cancelled.error.map(|(code, _)| code),
            Some("publish.cancelled")
        );
    }
}
