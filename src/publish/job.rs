//! What a publisher gets to do one job: the package and its files, an HTTP client, a
//! checkpoint that survives restarts, progress reporting, the bandwidth limit, the
//! "not while capturing" gate and cancellation. A publisher owns the protocol; this owns
//! everything around it, so every publisher resumes, throttles and stops the same way.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub(crate) use super::failure::{Failure, FailureCode, error_chain};
pub(crate) use super::live::Live;
use super::throttle::Throttle;
use crate::model::MediaPackage;
use crate::store::{self, Store};

/// One output of the package, ready to send.
#[derive(Debug, Clone)]
pub(crate) struct PackageFile {
    /// The output's entry name (`main`, `cam`, …).
    pub entry: String,
    pub mime: String,
    /// Absolute path of the file on this unit.
    pub path: PathBuf,
    /// File name as the package names it (relative to the package root).
    pub name: String,
    pub size: u64,
    /// Hex MD5 of the whole file, when the package recorded one.
    pub md5: Option<String>,
}

/// What a finished job reports back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Delivered {
    /// Where people find the published media, when the target has such a place.
    pub url: Option<String>,
    /// The target's own id of what was created (asset id, media package id, object key).
    pub remote_id: Option<String>,
}

/// Waits while a capture runs, when the unit is set to keep uploads out of the way.
pub(crate) type CaptureGate = Arc<dyn Fn() -> bool + Send + Sync>;

/// A job as a publisher sees it.
pub(crate) struct Job {
    pub id: String,
    pub package: MediaPackage,
    pub files: Vec<PackageFile>,
    /// The package's manifest as it is sent: secrets given in its request's overrides
    /// are left out (made by the queue, so publishers never handle them).
    pub manifest: Vec<u8>,
    pub http: reqwest::Client,
    pub(super) store: Store,
    pub(super) live: Arc<Live>,
    pub(super) throttle: Throttle,
    pub(super) capturing: CaptureGate,
}

impl Job {
    /// The checkpoint a previous attempt saved, if any (and if it still decodes).
    pub(crate) async fn checkpoint<T: DeserializeOwned + Send + 'static>(&self) -> Option<T> {
        let id = self.id.clone();
        let text = self
            .store
            .read(move |c| store::publish::checkpoint(c, &id))
            .await
            .ok()
            .flatten()?;
        serde_json::from_str(&text).ok()
    }

    /// Saves resume state durably before the step it describes is relied upon.
    #[expect(clippy::expect_used, reason = "invariant: checkpoints serialise")]
    pub(crate) async fn save_checkpoint<T: Serialize>(&self, value: &T) -> Result<(), Failure> {
        let text = serde_json::to_string(value).expect("checkpoints serialise");
        let id = self.id.clone();
        let done = self.live.done.load(Ordering::Relaxed);
        self.store
            .write(move |tx| store::publish::save_checkpoint(tx, &id, &text, done))
            .await
            .map_err(|e| Failure::io(format!("cannot save the upload checkpoint: {e}")))
    }

    /// Total bytes this job moves (set once the publisher knows).
    pub(crate) fn set_total(&self, bytes: u64) {
        self.live.total.store(bytes, Ordering::Relaxed);
    }

    pub(crate) fn set_done(&self, bytes: u64) {
        self.live.done.store(bytes, Ordering::Relaxed);
    }

    pub(crate) fn add_done(&self, bytes: u64) {
        self.live.done.fetch_add(bytes, Ordering::Relaxed);
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.live.cancelled.load(Ordering::Relaxed)
    }

    /// Call before each piece of work: fails when cancelled, waits while a capture runs
    /// (if uploads must stay out of its way).
    pub(crate) async fn proceed(&self) -> Result<(), Failure> {
        loop {
            if self.is_cancelled() {
                return Err(Failure::cancelled());
            }
            if !(self.capturing)() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// A request body for `bytes` that respects the upload bandwidth limit and stops
    /// when the job is cancelled. It is a stream: set `Content-Length` on the request
    /// yourself (most upload targets refuse chunked uploads).
    pub(crate) fn body(&self, bytes: Bytes) -> reqwest::Body {
        self.throttle.body(bytes, self.live.clone())
    }

    /// Reads a whole file (or a range of it) off the async threads.
    pub(crate) async fn read_range(
        &self,
        file: &PackageFile,
        offset: u64,
        len: u64,
    ) -> Result<Bytes, Failure> {
        let path = file.path.clone();
        tokio::task::spawn_blocking(move || -> std::io::Result<Bytes> {
            use std::io::{Read, Seek, SeekFrom};
            let mut f = std::fs::File::open(&path)?;
            f.seek(SeekFrom::Start(offset))?;
            let mut buf = Vec::with_capacity(len as usize);
            f.take(len).read_to_end(&mut buf)?;
            Ok(Bytes::from(buf))
        })
        .await
        .map_err(|e| Failure::io(e.to_string()))?
        .map_err(|e| Failure::io(format!("cannot read {}: {e}", file.path.display())))
    }
}

impl Job {
    /// Waits until `bytes` may be sent under the bandwidth limit (for publishers that
    /// write through something other than an HTTP body, such as a mounted folder).
    pub(crate) async fn admit(&self, bytes: usize) {
        self.throttle.admit(bytes).await;
    }
}
