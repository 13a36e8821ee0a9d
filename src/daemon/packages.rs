//! Changing a media package from the API: its fields (with the speaker settled into the
//! whole speaker as it is now) and its attached outputs (measured below the HTTP layer).

use super::{Daemon, OperationError};
use crate::model::{MediaPackage, Output};
use crate::packages::{self, PackageChanges};

impl Daemon {
    /// Changes a package's title, tags, metadata or speaker; refused while it is being
    /// recorded or processed.
    pub async fn update_package(
        &self,
        id: &str,
        mut changes: PackageChanges,
    ) -> Result<MediaPackage, OperationError> {
        let mut package = self.0.packages.get(id).await?;
        packages::settled(&package)?;
        packages::apply_fields(&mut package, &mut changes)?;
        if changes.speaker.is_some() || changes.speaker_info.is_some() {
            (package.speaker, package.speaker_info) = self
                .0
                .speakers
                .settle(changes.speaker.as_ref(), changes.speaker_info.as_ref())
                .await?;
        }
        self.0.packages.save(&package).await?;
        Ok(package)
    }

    /// Attaches a file of the package directory as an output, with its size, checksum
    /// and duration.
    pub async fn attach_output(
        &self,
        id: &str,
        mut output: Output,
    ) -> Result<MediaPackage, OperationError> {
        let mut package = self.0.packages.get(id).await?;
        packages::settled(&package)?;
        packages::check_output(&output)?;
        self.0.packages.measure(&package.id, &mut output).await?;
        package.outputs.insert(output.entry.clone(), output);
        self.0.packages.save(&package).await?;
        Ok(package)
    }
}
