//! What can go wrong in the media layer, typed so a caller can tell a graph that does not
//! compile from a pipeline that would not build, one that failed while running, one that
//! timed out, or a file that could not be written.
//!
//! The messages are the ones operators read in answers, logs and package errors: short and
//! plain, each saying what failed. This module never logs; the caller decides where a cause
//! is told.

use std::sync::Arc;
use std::time::Duration;

use super::build::BuildError;
use crate::graph::plan::CompileError;

/// A media operation that failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// GStreamer itself does not start.
    #[error("GStreamer does not initialise: {0}")]
    Init(String),
    /// The gate element castd links in cannot be registered.
    #[error("togglerecord: {0}")]
    Register(String),
    /// An element castd always needs is not installed.
    #[error(
        "the GStreamer element {0} is missing: install the packages scripts/install-deps lists"
    )]
    MissingElement(&'static str),
    #[error("no AAC encoder (voaacenc or avenc_aac) is installed")]
    NoAacEncoder,
    /// The graph does not compile to a pipeline with the devices present.
    #[error(transparent)]
    Plan(#[from] CompileError),
    /// The pipeline could not be built from its plan.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// An element of a helper pipeline (finalising, a live stream) could not be made, or an
    /// element of a built pipeline is not what the plan says.
    #[error("{factory}: {message}")]
    Element { factory: String, message: String },
    /// An element posted an error on the pipeline's bus.
    #[error("{src}: {error}")]
    Bus {
        /// The element that posted it.
        src: String,
        /// What it said.
        error: String,
        /// Its debug details, for the log.
        debug: Option<String>,
    },
    /// A pipeline refused a state change, a link, a seek or a sample.
    #[error("{0}")]
    Refused(String),
    /// Something the media should have done did not happen in time.
    #[error("{what} within {} s", .after.as_secs())]
    Timeout {
        /// What did not happen, as the start of a sentence.
        what: &'static str,
        after: Duration,
    },
    /// A file or thread could not be had.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: Arc<std::io::Error>,
    },
}

impl Error {
    /// An I/O failure with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source: Arc::new(source),
        }
    }

    /// A refusal with its reason.
    pub fn refused(reason: impl Into<String>) -> Error {
        Error::Refused(reason.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_as_before() {
        let timeout = Error::Timeout {
            what: "no data reached the recorder",
            after: Duration::from_secs(10),
        };
        assert_eq!(
            timeout.to_string(),
            "no data reached the recorder within 10 s"
        );
        let bus = Error::Bus {
            src: "camera-src".into(),
            error: "Device is gone".into(),
            debug: Some("v4l2src.c(123)".into()),
        };
        assert_eq!(bus.to_string(), "camera-src: Device is gone");
        let io = Error::io(
            "cannot create /x",
            std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        );
        assert!(io.to_string().starts_with("cannot create /x: "), "{io}");
    }
}
