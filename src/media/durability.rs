//! Keeps a recording on the disk while it is written, so that a power cut loses about a
//! second of it rather than whatever the kernel still held in memory.
//!
//! The recorder writes each fragment through to the kernel at once, which is enough for a
//! crash of castd; after a power cut, though, only what reached the disk is left, and the
//! kernel writes dirty pages back on its own schedule (up to 30 s later by default). A
//! thread per session therefore calls `fdatasync` on every file the session records, once
//! a second, and syncs the file's directory once so the file's name survives too. It runs
//! beside the pipeline, never in its streaming threads, so a slow disk delays the sync and
//! not the capture.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often recordings are synced: the bound on what a power cut loses, on top of the
/// fragment the muxer has not finished yet.
pub const SYNC_EVERY: Duration = Duration::from_secs(1);

/// Syncs a session's files until stopped.
pub struct Syncer {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
    synced: Arc<AtomicU64>,
}

/// One file being kept on the disk.
struct Kept {
    path: PathBuf,
    /// Opened once the recorder has created the file.
    file: Option<File>,
    /// A failure is logged once, not every second.
    failed: bool,
}

impl Syncer {
    /// Starts syncing `paths` every `every`; files that do not exist yet are picked up when
    /// they appear.
    pub fn start(paths: Vec<PathBuf>, every: Duration) -> Syncer {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let flag = stop.clone();
        let synced = Arc::new(AtomicU64::new(0));
        let count = synced.clone();
        let mut kept: Vec<Kept> = paths
            .into_iter()
            .map(|path| Kept {
                path,
                file: None,
                failed: false,
            })
            .collect();
        let thread = std::thread::Builder::new()
            .name("castd-sync".into())
            .spawn(move || {
                let (stopped, cond) = &*flag;
                let mut next = Instant::now() + every;
                loop {
                    let guard = stopped.lock().unwrap_or_else(|e| e.into_inner());
                    let left = next.saturating_duration_since(Instant::now());
                    let (guard, _) = cond
                        .wait_timeout_while(guard, left, |s| !*s)
                        .unwrap_or_else(|e| e.into_inner());
                    let last = *guard;
                    drop(guard);
                    let done = kept
                        .iter_mut()
                        .map(Kept::sync)
                        .filter(|synced| *synced)
                        .count();
                    count.fetch_add(done as u64, Ordering::Relaxed);
                    if last {
                        return;
                    }
                    next += every;
                    if next < Instant::now() {
                        // A sync took longer than the period: start counting again from now
                        // instead of syncing back to back to catch up.
                        next = Instant::now() + every;
                    }
                }
            })
            .ok();
        if thread.is_none() {
            log::warn!("cannot start the sync thread: recordings rely on the kernel's writeback");
        }
        Syncer {
            stop,
            thread,
            synced,
        }
    }

    /// How many file syncs have succeeded so far.
    pub fn syncs(&self) -> u64 {
        self.synced.load(Ordering::Relaxed)
    }

    /// Syncs once more and ends the thread.
    pub fn stop(&mut self) {
        let (stopped, cond) = &*self.stop;
        *stopped.lock().unwrap_or_else(|e| e.into_inner()) = true;
        cond.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Kept {
    /// Syncs the file if it exists; true when it is on the disk.
    fn sync(&mut self) -> bool {
        if self.file.is_none() {
            // fsync works on a descriptor opened for reading; the recorder keeps its own.
            let Ok(file) = File::open(&self.path) else {
                return false;
            };
            if let Err(e) = sync_directory_of(&self.path) {
                self.warn_once(&e);
            }
            self.file = Some(file);
        }
        let result = self.file.as_ref().map(File::sync_data);
        match result {
            Some(Ok(())) => true,
            Some(Err(e)) => {
                self.warn_once(&e);
                false
            }
            None => false,
        }
    }

    fn warn_once(&mut self, e: &std::io::Error) {
        if !self.failed {
            self.failed = true;
            log::warn!("cannot sync {} to the disk: {e}", self.path.display());
        }
    }
}

fn sync_directory_of(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(dir) => File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_file_created_after_the_start_is_picked_up_and_synced_until_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("recording.mp4");
        let mut syncer = Syncer::start(vec![path.clone()], Duration::from_millis(20));
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(syncer.syncs(), 0, "nothing to sync before the file exists");
        let mut file = File::create(&path).unwrap();
        file.write_all(b"fragment").unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while syncer.syncs() < 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(syncer.syncs() >= 2, "synced {} times", syncer.syncs());
        syncer.stop();
        assert!(syncer.thread.is_none());
        let after = syncer.syncs();
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(syncer.syncs(), after, "no syncs after stop");
    }

    #[test]
    fn a_missing_directory_is_not_an_error_worth_a_panic() {
        let mut kept = Kept {
            path: PathBuf::from("/nonexistent/castd/recording.mp4"),
            file: None,
            failed: false,
        };
        assert!(!kept.sync());
        assert!(kept.file.is_none() && !kept.failed);
    }
}
