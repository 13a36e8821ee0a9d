//! What the unit reports about itself: the status answers a panel polls and the metrics
//! scrape, each read from several parts at one instant.

use super::Daemon;
use super::metrics::Scrape;
use super::status::{self, Sources};
use crate::model::{CaptureStatus, DiskSpace, UnitInfo, UnitStatus};

impl Daemon {
    fn status_sources(&self) -> Sources<'_> {
        Sources {
            settings: &self.0.settings,
            engine: &self.0.engine,
            devices: &self.0.devices,
            media_dir: &self.0.config.media_dir,
            serial: &self.0.serial,
            started: self.0.started,
        }
    }

    /// Unit, capture, disk and alarms in one answer.
    pub fn status(&self) -> std::io::Result<UnitStatus> {
        status::unit_status(&self.status_sources())
    }

    pub fn unit_info(&self) -> UnitInfo {
        status::unit_info(&self.status_sources())
    }

    pub fn disk_space(&self) -> std::io::Result<DiskSpace> {
        status::disk_space(&self.status_sources())
    }

    /// The capture state a panel shows.
    pub fn capture_status(&self) -> CaptureStatus {
        status::capture(&self.status_sources())
    }

    /// The Prometheus exposition of this instant.
    pub async fn scrape_metrics(&self) -> Result<String, String> {
        let disk = self.disk_space().map_err(|e| e.to_string())?;
        self.0
            .metrics
            .render(Scrape {
                store: &self.0.store,
                engine: &self.0.engine,
                disk,
                password_verifications: self.0.auth.verifications(),
                uptime: self.0.started.elapsed(),
                opencast: self.0.agent.status(),
            })
            .await
    }
}
