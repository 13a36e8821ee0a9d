//! Waiting for a device's picture or levels on behalf of a preview request.
//!
//! The engine answers a preview request with the pipeline that holds the device now: a
//! session's, the armed one, or a preview of its own. That pipeline may be shut down while
//! the request waits for its first picture — the hot pipeline is rebuilt after a capture,
//! a capture takes the device over — and a stopped pipeline never delivers. The request
//! then follows the device to the pipeline that holds it next instead of waiting out its
//! time on the old one and answering that the device delivered nothing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::CaptureError;
use crate::media::session::SessionPipeline;

/// How long a request waits for the first value of one pipeline.
const FIRST_VALUE: Duration = Duration::from_secs(3);
/// How many pipelines a request follows its device through before it asks the client to
/// come back (`preview.restarting`): the engine is then replacing them faster than they
/// start.
const MAX_PIPELINES: usize = 3;
const POLL: Duration = Duration::from_millis(50);

/// What became of the wait on one pipeline.
enum Waited<T> {
    Value(T),
    /// The pipeline ran for the whole wait and delivered nothing.
    Nothing,
    /// The pipeline was shut down before it delivered.
    Replaced,
}

/// The first value `get` reads from the pipeline `locate` names for the device, following
/// the device when its pipeline is replaced.
pub(super) async fn first_value<T, L>(
    mut locate: impl FnMut() -> L,
    get: impl Fn(&SessionPipeline, &str) -> Option<T>,
) -> Result<T, CaptureError>
where
    L: Future<Output = Result<(Arc<SessionPipeline>, String), CaptureError>>,
{
    for _ in 0..MAX_PIPELINES {
        let (pipeline, node) = locate().await?;
        match wait(&pipeline, &node, &get).await {
            Waited::Value(v) => return Ok(v),
            Waited::Nothing => {
                return Err(CaptureError::NoPreview(format!(
                    "the device delivered nothing within {} s",
                    FIRST_VALUE.as_secs()
                )));
            }
            Waited::Replaced => {}
        }
    }
    Err(CaptureError::PreviewRestarting)
}

async fn wait<T>(
    pipeline: &SessionPipeline,
    node: &str,
    get: &impl Fn(&SessionPipeline, &str) -> Option<T>,
) -> Waited<T> {
    let deadline = Instant::now() + FIRST_VALUE;
    loop {
        if let Some(v) = get(pipeline, node) {
            return Waited::Value(v);
        }
        if pipeline.is_shut_down() {
            return Waited::Replaced;
        }
        if Instant::now() > deadline {
            return Waited::Nothing;
        }
        tokio::time::sleep(POLL).await;
    }
}
