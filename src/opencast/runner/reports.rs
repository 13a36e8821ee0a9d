//! What the agent tells Opencast: its state, its configuration, and the recording states
//! of Opencast's events, the last from the durable outbox, oldest first.
//!
//! The outbox is sent strictly in order: a state that cannot be sent (Opencast down) holds
//! back every later one, so Opencast never sees `upload_finished` before `capturing`. A
//! state Opencast refuses for good (404: the event is no longer scheduled there; 400: a
//! state it does not know) is dropped and logged, since sending it again cannot succeed.

use url::Url;

use crate::opencast::agent::RecordingState;
use crate::opencast::client::{Client, Error};
use crate::store::{self, Store};

/// States sent per round; the rest go in the next.
const OUTBOX_BATCH: usize = 50;

/// Sends the waiting recording states in order; how many were sent (or dropped). Stops at
/// the first that cannot be sent for now, with its error.
pub(super) async fn drain_outbox(
    client: &Client,
    capture_admin: &Url,
    store: &Store,
) -> Result<usize, Error> {
    let mut done = 0;
    loop {
        let batch = store
            .read(|c| store::opencast::outbox(c, OUTBOX_BATCH))
            .await
            .map_err(|e| Error::Invalid(format!("cannot read the outbox: {e}")))?;
        if batch.is_empty() {
            return Ok(done);
        }
        for item in batch {
            let result = match parse(&item.state) {
                Some(state) => {
                    client
                        .set_recording_state(capture_admin, &item.uid, state)
                        .await
                }
                None => Err(Error::Invalid(format!("unknown state {:?}", item.state))),
            };
            match result {
                Ok(()) => {}
                Err(e @ (Error::NotScheduled(_) | Error::Invalid(_))) => {
                    log::warn!(
                        "dropping recording state {} of {}: {e}",
                        item.state,
                        item.uid
                    );
                }
                Err(Error::Status(400, text)) => {
                    log::warn!(
                        "Opencast refused recording state {} of {}: {text}",
                        item.state,
                        item.uid
                    );
                }
                Err(e) => return Err(e),
            }
            let seq = item.seq;
            store
                .write(move |tx| store::opencast::sent(tx, seq))
                .await
                .map_err(|e| Error::Invalid(format!("cannot update the outbox: {e}")))?;
            done += 1;
        }
    }
}

fn parse(state: &str) -> Option<RecordingState> {
    RecordingState::ALL
        .into_iter()
        .find(|s| s.as_str() == state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_recording_state_reads_back_from_its_name() {
        for state in RecordingState::ALL {
            assert_eq!(parse(state.as_str()), Some(state));
        }
        assert_eq!(parse("manifest"), None);
    }
}
