//! The alarm vocabulary: every condition that needs a person's attention has one stable
//! code here, seen by clients in the unit status (`alarms`) and in `alarm` events. Codes
//! never change meaning once released; the OpenAPI document lists them beside the error
//! catalog. Names only: raising an alarm belongs to whoever notices the condition.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

macro_rules! alarm_codes {
    ($($variant:ident = $code:literal, $doc:literal;)*) => {
        /// Stable machine code of an alarm.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
        pub enum AlarmCode { $(#[doc = $doc] #[serde(rename = $code)] $variant),* }

        impl AlarmCode {
            pub const ALL: &'static [AlarmCode] = &[$(AlarmCode::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $(AlarmCode::$variant => $code),* }
            }

            /// When the alarm is raised, and what it means.
            pub fn description(self) -> &'static str {
                match self { $(AlarmCode::$variant => $doc),* }
            }
        }
    };
}

alarm_codes! {
    CaptureFailed = "capture.failed",
        "A recording stopped because its pipeline failed; what was written so far is kept.";
    SourceLost = "source.lost",
        "A source of a running recording stopped delivering; it is replaced by a placeholder until it returns.";
    DiskFull = "disk.full",
        "No space is left for recordings (free space is below the reserve); a running recording was stopped.";
    DiskLow = "disk.low",
        "Only a few minutes of recording still fit on the disk.";
    ClockUnsynchronized = "clock.unsynchronized",
        "The system clock is not synchronised; scheduled recordings may start at the wrong time.";
    MaintenanceCommandFailed = "maintenance.command_failed",
        "The command of a maintenance action failed; castd restarts to resume its schedule.";
    PublishFailed = "publish.failed",
        "A publish job failed for good (a permanent failure, or its retries ran out); the job's `lastCode` says why.";
}

impl std::fmt::Display for AlarmCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_dotted_and_serialise_as_their_string() {
        let mut seen = std::collections::BTreeSet::new();
        for code in AlarmCode::ALL {
            assert!(seen.insert(code.as_str()), "duplicate {}", code.as_str());
            assert!(code.as_str().contains('.'), "{}", code.as_str());
            assert!(!code.description().is_empty());
            let wire = serde_json::to_value(code).unwrap();
            assert_eq!(wire, code.as_str());
            assert_eq!(serde_json::from_value::<AlarmCode>(wire).unwrap(), *code);
        }
    }
}
