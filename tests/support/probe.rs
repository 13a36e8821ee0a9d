//! Reading recordings back with a real demuxer (ffprobe), shared by every test binary.

#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// ffprobe's streams and format of `path`, or its complaint.
pub fn try_ffprobe(path: &Path) -> Result<Value, String> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_streams",
            "-show_format",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .map_err(|e| format!("ffprobe does not run: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())
}

/// ffprobe's streams and format of `path`; the test fails when the file does not probe.
pub fn ffprobe(path: &Path) -> Value {
    try_ffprobe(path).unwrap_or_else(|e| panic!("{e}"))
}
