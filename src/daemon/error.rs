//! Why an operation of the façade was refused: the typed error of whichever part refused
//! it, unchanged, so the HTTP layer maps each exactly as when it called that part itself.

use crate::backup::BackupError;
use crate::engine::CaptureError;
use crate::graph_builder::GraphBookError;
use crate::packages::PackageError;
use crate::plugins::PluginError;
use crate::publish::PublishError;
use crate::scheduler::ScheduleError;
use crate::speakers::SpeakerError;
use crate::templates::TemplateError;

use super::maintenance::MaintenanceError;

#[derive(Debug, thiserror::Error)]
pub enum OperationError {
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error(transparent)]
    Speaker(#[from] SpeakerError),
    #[error(transparent)]
    Publish(#[from] PublishError),
    #[error(transparent)]
    Package(#[from] PackageError),
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
    #[error(transparent)]
    Plugin(#[from] PluginError),
    #[error(transparent)]
    Graph(#[from] GraphBookError),
    #[error(transparent)]
    Backup(#[from] BackupError),
    #[error(transparent)]
    Maintenance(#[from] MaintenanceError),
    /// A restore while a capture runs: castd would have to restart under it.
    #[error("a capture is running ({}); stop it before restoring", sessions.join(", "))]
    RestoreWhileCapturing { sessions: Vec<String> },
}
