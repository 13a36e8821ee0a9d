//! Why a publish job failed, in one vocabulary: each [`FailureCode`] is a stable string
//! that clients see as a job's `lastCode` and in a publisher test's `code`, listed beside
//! the API error catalog in the OpenAPI document. A failure also says whether trying again
//! can help. Classification only: retrying and recording belong to the queue.

use serde::Serialize;
use utoipa::ToSchema;

macro_rules! failure_codes {
    ($($variant:ident = $code:literal, $doc:literal;)*) => {
        /// Stable machine code of a publish failure (or of a passed publisher test).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
        pub enum FailureCode { $(#[doc = $doc] #[serde(rename = $code)] $variant),* }

        impl FailureCode {
            pub const ALL: &'static [FailureCode] = &[$(FailureCode::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $(FailureCode::$variant => $code),* }
            }

            /// When a job or test reports this code, and what it means.
            pub fn description(self) -> &'static str {
                match self { $(FailureCode::$variant => $doc),* }
            }
        }
    };
}

failure_codes! {
    Ok = "publish.ok",
        "A publisher test reached the target and was accepted (tests only; never a job's `lastCode`).";
    Unreachable = "publish.unreachable",
        "The target did not answer (network, DNS, TLS, timeout); the job is retried.";
    AuthFailed = "publish.auth_failed",
        "The target refused the credentials (HTTP 401/403); not retried until the configuration changes.";
    Rejected = "publish.rejected",
        "The target answered but refused or misbehaved; retried unless the package can never be accepted.";
    InvalidConfig = "publish.invalid_config",
        "The publisher's configuration is incomplete or invalid; not retried.";
    UnsafeTarget = "publish.unsafe_target",
        "The destination holds a link, or a file where a folder belongs, that could send the write elsewhere; not followed, not retried.";
    Io = "publish.io",
        "Reading the recording or writing the destination failed on this unit; retried.";
    MissingMedia = "publish.missing_media",
        "The package or one of its outputs is no longer on the unit; not retried.";
    Cancelled = "publish.cancelled",
        "Someone cancelled the job.";
}

impl std::fmt::Display for FailureCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a job step failed. `permanent` failures are not retried (bad credentials, a
/// configuration the target refuses); the others back off and try again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: FailureCode,
    pub message: String,
    pub permanent: bool,
}

impl Failure {
    pub fn unreachable(message: impl Into<String>) -> Failure {
        Failure {
            code: FailureCode::Unreachable,
            message: message.into(),
            permanent: false,
        }
    }
    pub fn auth(message: impl Into<String>) -> Failure {
        Failure {
            code: FailureCode::AuthFailed,
            message: message.into(),
            permanent: true,
        }
    }
    /// The target answered but refused or misbehaved; worth another try later.
    pub fn rejected(message: impl Into<String>) -> Failure {
        Failure {
            code: FailureCode::Rejected,
            message: message.into(),
            permanent: false,
        }
    }
    pub fn invalid_config(message: impl Into<String>) -> Failure {
        Failure {
            code: FailureCode::InvalidConfig,
            message: message.into(),
            permanent: true,
        }
    }
    /// The destination holds something that could send the write elsewhere (a link, or a
    /// file where a folder belongs): not followed, not retried until someone looks.
    pub fn unsafe_target(message: impl Into<String>) -> Failure {
        Failure {
            code: FailureCode::UnsafeTarget,
            message: message.into(),
            permanent: true,
        }
    }
    pub fn io(message: impl Into<String>) -> Failure {
        Failure {
            code: FailureCode::Io,
            message: message.into(),
            permanent: false,
        }
    }
    pub fn cancelled() -> Failure {
        Failure {
            code: FailureCode::Cancelled,
            message: "cancelled".into(),
            permanent: true,
        }
    }

    /// Classifies a transport error from reqwest.
    pub fn from_http(what: &str, e: &reqwest::Error) -> Failure {
        Failure::unreachable(format!("{what}: {}", error_chain(e)))
    }

    /// Classifies an HTTP status answer: 401/403 are credentials, the rest are refusals.
    pub fn from_status(what: &str, status: reqwest::StatusCode, body: &str) -> Failure {
        let body: String = body.chars().take(300).collect();
        let message = format!("{what}: HTTP {status}: {}", body.trim());
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            Failure::auth(message)
        } else {
            Failure::rejected(message)
        }
    }
}

/// The whole cause chain of an error, since reqwest's top-level text hides the reason
/// ("error sending request") that an operator needs ("connection refused").
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_serialise_as_their_string() {
        let mut seen = std::collections::BTreeSet::new();
        for code in FailureCode::ALL {
            assert!(seen.insert(code.as_str()), "duplicate {code}");
            assert!(code.as_str().starts_with("publish."), "{code}");
            assert!(!code.description().is_empty());
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        }
    }

    #[test]
    fn credentials_refused_are_permanent_and_other_statuses_are_retried() {
        let denied = Failure::from_status("upload", reqwest::StatusCode::FORBIDDEN, "no");
        assert_eq!(
            (denied.code, denied.permanent),
            (FailureCode::AuthFailed, true)
        );
        let busy = Failure::from_status("upload", reqwest::StatusCode::BAD_GATEWAY, "later");
        assert_eq!((busy.code, busy.permanent), (FailureCode::Rejected, false));
        assert_eq!(Failure::cancelled().code.as_str(), "publish.cancelled");
    }
}
