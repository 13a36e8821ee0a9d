//! The retention janitor: deletes a package's local media once every publisher confirmed
//! it and `mediaRetentionDays` have passed since the last confirmation. It never deletes
//! media that a job still needs.

use super::{Publishing, RETENTION_EVERY};
use crate::store;
use crate::sys::time::now_ms;

impl Publishing {
    /// Deletes local media of packages every publisher confirmed, `mediaRetentionDays`
    /// after the last confirmation.
    pub(super) async fn janitor(self) {
        let stop = self.inner.tasks.stopped();
        tokio::pin!(stop);
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
                () = &mut stop => return,
                () = tokio::time::sleep(RETENTION_EVERY) => {}
            }
        }
    }
}
