//! The counters of a running job that the queue reads and changes from outside it: bytes
//! done and due, and the cancel flag. Plain atomics, shared by the job, its paced bodies and
//! the queue; nothing here does I/O.

use std::sync::atomic::{AtomicBool, AtomicU64};

/// Shared state of a running job that the queue can see and change from outside.
#[derive(Debug, Default)]
pub(crate) struct Live {
    pub done: AtomicU64,
    pub total: AtomicU64,
    pub cancelled: AtomicBool,
}
