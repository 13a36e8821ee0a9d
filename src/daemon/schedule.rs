//! Writing the schedule from the API: events and recurring groups have their speaker
//! settled (the whole speaker as it is now) before the scheduler checks and stores them,
//! and template names are read as ids when listing.

use serde_json::{Map, Value};

use super::{Daemon, OperationError};
use crate::model::{Event, EventGroup};
use crate::scheduler::EventFilter;

impl Daemon {
    pub async fn schedule_capture(&self, mut event: Event) -> Result<Event, OperationError> {
        (event.speaker, event.speaker_info) = self
            .0
            .speakers
            .settle(Some(&event.speaker), event.speaker_info.as_ref())
            .await?;
        Ok(self.0.scheduler.create_event(event).await?)
    }

    pub async fn update_event(
        &self,
        id: &str,
        mut changes: Map<String, Value>,
    ) -> Result<Event, OperationError> {
        self.settle_speaker_fields(&mut changes).await?;
        Ok(self.0.scheduler.update_event(id, changes).await?)
    }

    pub async fn schedule_group(
        &self,
        mut group: EventGroup,
    ) -> Result<EventGroup, OperationError> {
        (group.speaker, group.speaker_info) = self
            .0
            .speakers
            .settle(Some(&group.speaker), group.speaker_info.as_ref())
            .await?;
        Ok(self.0.scheduler.create_group(group).await?)
    }

    pub async fn update_group(
        &self,
        id: &str,
        mut changes: Map<String, Value>,
    ) -> Result<EventGroup, OperationError> {
        self.settle_speaker_fields(&mut changes).await?;
        Ok(self.0.scheduler.update_group(id, changes).await?)
    }

    /// Events matching `filter`, whose template may be named by id or name (events store
    /// the id), and the total matching.
    pub async fn list_events(
        &self,
        mut filter: EventFilter,
    ) -> Result<(Vec<Event>, i64), OperationError> {
        if let Some(key) = filter.template.take() {
            filter.template = Some(self.0.templates.get(&key).await.map_or(key, |t| t.id));
        }
        Ok(self.0.scheduler.list_events(filter).await?)
    }

    /// Settles the `speaker` and `speakerInfo` of a partial update in place, when it names
    /// either: both are then replaced (an absent `speakerInfo` is none).
    async fn settle_speaker_fields(
        &self,
        changes: &mut Map<String, Value>,
    ) -> Result<(), OperationError> {
        if changes.contains_key("speaker") || changes.contains_key("speakerInfo") {
            let (speaker, info) = self
                .0
                .speakers
                .settle(changes.get("speaker"), changes.get("speakerInfo"))
                .await?;
            changes.insert("speaker".into(), speaker);
            changes.insert("speakerInfo".into(), info.unwrap_or(Value::Null));
        }
        Ok(())
    }
}
