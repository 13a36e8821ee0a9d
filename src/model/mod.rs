//! Request and response types of the API, with serde names exactly as `API.md` spells them
//! (camelCase, `ID` upper-case). Types only: no I/O, no HTTP, no SQL.

pub mod alarm;
pub mod audit;
pub mod capture;
pub mod device;
pub mod ids;
pub mod opencast_link;
pub mod publish;
pub mod schedule;
pub mod selector;
pub mod setting;
pub mod speaker;
pub mod speaker_ref;
pub mod status;
pub mod template;
pub mod text;
pub mod user;

pub use alarm::AlarmCode;
pub use audit::{AuditEntry, AuditFilter};
pub use capture::{
    AudioLevels, CaptureRequest, Check, CheckLevel, MANIFEST, Marker, MediaPackage, NodeStatus,
    Output, PackageSource, PackageState, Preflight, StreamStats, TestReport,
};
pub use device::{
    AudioCaps, DetectedTiming, Device, DeviceRole, DeviceType, Signal, VideoFormat, VideoInput,
};
pub use ids::{EventId, GroupId, PackageId, SpeakerId, TemplateId};
pub use opencast_link::{LinkFailure, LinkStatus, RejectedEvent};
pub use publish::{
    JobState, Progress, PublishJob, PublishPlatformConfiguration, PublishRequest, PublishTestResult,
};
pub use schedule::{Event, EventGroup, ImportReport, OpencastEvent, Outcome, Skipped};
pub use selector::{Selector, SelectorError};
pub use setting::Setting;
pub use speaker::Speaker;
pub use speaker_ref::SpeakerRef;
pub use status::{
    Alarm, AlarmLevel, CaptureState, CaptureStatus, DiskSpace, NetworkInterface, NetworkStatus,
    UnitInfo, UnitStatus,
};
pub use template::{Graph, Node, NodeType, Template, TemplateDefaults};
pub use text::{Metadata, RuleBroken, Tags, Title};
pub use user::{Role, User, UserInput};
