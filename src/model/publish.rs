//! Publishing: platform configurations, publish requests, jobs of the publish queue and
//! connection test results.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// A publisher and its configuration (`config` keys per publisher in the API document).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublishPlatformConfiguration {
    #[serde(rename = "publisherID")]
    pub publisher_id: String,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub config: Map<String, Value>,
    /// CaptureCast ingest descriptions; kept and returned, castd publishes every output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub ingests: Option<Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublishRequest {
    #[serde(
        rename = "mediaPackageID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub media_package_id: Option<String>,
    /// Publishers to use, each with config keys merged over the stored configuration. Empty:
    /// the package's template publishers, or every configured publisher.
    #[serde(default)]
    pub configs: Vec<PublishPlatformConfiguration>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub options: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publishing_redundant_copies: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publishing_speaker_files: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publishing_speaker_information: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publishing_table_of_contents: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Queued,
    Running,
    Done,
    Failed,
    Cancelled,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<JobState> {
        [
            JobState::Queued,
            JobState::Running,
            JobState::Done,
            JobState::Failed,
            JobState::Cancelled,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }

    /// Whether the job will not move again unless someone asks.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            JobState::Done | JobState::Failed | JobState::Cancelled
        )
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Progress {
    pub done: u64,
    pub total: u64,
}

/// One package × publisher in the publish queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublishJob {
    pub id: String,
    #[serde(rename = "mediaPackageID")]
    pub media_package_id: String,
    #[serde(rename = "publisherID")]
    pub publisher_id: String,
    pub state: JobState,
    pub progress: Progress,
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Stable code of the last error (`publish.unreachable`, `publish.auth_failed`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The target's id of what was created.
    #[serde(rename = "remoteID", default, skip_serializing_if = "Option::is_none")]
    pub remote_id: Option<String>,
    /// When the next attempt is due (ms since the epoch), while waiting to retry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublishTestResult {
    #[serde(rename = "publisherID")]
    pub publisher_id: String,
    pub ok: bool,
    pub code: String,
    pub message: String,
    pub tested_at: i64,
}
