//! Backup and restore of the unit's database.
//!
//! A restore is checked whole, then accepted like a restart (refused while a capture
//! runs), staged next to the live database, and carried out (castd restarts) once its
//! answer has gone out; the restored database replaces the live one at the next start.

use std::future::Future;
use std::path::{Path, PathBuf};

use super::maintenance::{Action, MaintenanceError};
use super::{Daemon, OperationError};
use crate::backup::{self, Archive, BackupError, Manifest};

/// An uploaded archive in the data directory, removed when dropped.
pub struct Upload(PathBuf);

impl Upload {
    /// Where the archive being uploaded is written.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A restore accepted: what it restores. castd restarts once the answer is out.
pub struct Restoring {
    pub manifest: Manifest,
}

impl Daemon {
    /// A consistent snapshot of the database as an archive, streamed from a file in the
    /// data directory.
    pub async fn backup(&self) -> Result<Archive, BackupError> {
        backup::create(
            &self.0.store,
            self.0.settings.unit_name(),
            &self.0.config.data_dir,
        )
        .await
    }

    /// A fresh file in the data directory for an archive to restore.
    pub fn new_upload(&self) -> Upload {
        Upload(self.0.config.data_dir.join(format!(
            ".upload-{}-{:016x}.tmp",
            std::process::id(),
            rand::random::<u64>()
        )))
    }

    /// Checks the uploaded archive, stages it and restarts castd once `answered`
    /// resolves (the answer was handed to the connection). Refused, changing nothing,
    /// when the archive does not pass or a capture runs.
    pub async fn restore(
        &self,
        upload: Upload,
        answered: impl Future<Output = ()> + Send + 'static,
    ) -> Result<Restoring, OperationError> {
        let database = self.0.config.database_path();
        let archive = upload.path().to_path_buf();
        let checked = tokio::task::spawn_blocking(move || backup::check(&archive, &database))
            .await
            .map_err(|e| BackupError::Io(std::io::Error::other(e.to_string())))??;
        drop(upload);

        let ticket = match self.0.maintenance.accept(Action::Restart, false) {
            Ok(ticket) => ticket,
            Err(MaintenanceError::Capturing { sessions }) => {
                return Err(OperationError::RestoreWhileCapturing { sessions });
            }
            Err(e) => return Err(e.into()),
        };
        let manifest = tokio::task::spawn_blocking(move || checked.stage())
            .await
            .map_err(|e| BackupError::Io(std::io::Error::other(e.to_string())))??;
        log::warn!(
            "restore: staged a backup of {:?} made {} (schema {}); castd restarts to use it",
            manifest.unit_name,
            manifest.created,
            manifest.schema_version
        );
        let maintenance = self.0.maintenance.clone();
        self.0
            .tasks
            .spawn(async move { maintenance.carry_out(ticket, answered).await });
        Ok(Restoring { manifest })
    }
}
