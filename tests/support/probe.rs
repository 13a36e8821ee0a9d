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

/// (presentation time, duration) in seconds of every packet of `stream` (`v:0`, `a`, ...),
/// sorted by time; the test fails when the file does not probe.
pub fn packets(path: &Path, stream: &str) -> Vec<(f64, f64)> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            stream,
            "-show_entries",
            "packet=pts_time,duration_time",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .unwrap_or_else(|e| panic!("ffprobe does not run: {e}"));
    // An unreadable file must fail the caller, not read back as "no frames".
    assert!(
        out.status.success(),
        "{}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut list: Vec<(f64, f64)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut parts = l.trim().trim_end_matches(',').split(',');
            let pts = parts.next()?.parse().ok()?;
            let duration = parts.next().and_then(|d| d.parse().ok()).unwrap_or(0.0);
            Some((pts, duration))
        })
        .collect();
    list.sort_by(|a, b| a.0.total_cmp(&b.0));
    list
}

/// ffprobe's streams and format of `path`; the test fails when the file does not probe.
pub fn ffprobe(path: &Path) -> Value {
    try_ffprobe(path).unwrap_or_else(|e| panic!("{e}"))
}

/// The number of sample descriptions (`stsd` entries) of each track of an MP4, by handler
/// (`vide`, `soun`). One per track is what a recording of one stream should have; FFmpeg
/// refuses a track with more than 1,024.
pub fn sample_descriptions(path: &Path) -> Vec<(String, u32)> {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut found = Vec::new();
    walk_boxes(&data, &mut String::new(), &mut found);
    found
}

/// Walks the boxes in `data`, descending into the containers on the way to `stsd`.
fn walk_boxes(data: &[u8], handler: &mut String, found: &mut Vec<(String, u32)>) {
    let mut at = 0usize;
    while at + 8 <= data.len() {
        let size32 = u32::from_be_bytes(data[at..at + 4].try_into().unwrap()) as usize;
        let kind = &data[at + 4..at + 8];
        let (size, header) = match size32 {
            0 => (data.len() - at, 8),
            1 if at + 16 <= data.len() => (
                u64::from_be_bytes(data[at + 8..at + 16].try_into().unwrap()) as usize,
                16,
            ),
            n => (n, 8),
        };
        if size < header || at + size > data.len() {
            return;
        }
        let body = &data[at + header..at + size];
        match kind {
            b"moov" | b"trak" | b"mdia" | b"minf" | b"stbl" => walk_boxes(body, handler, found),
            // Full box: version and flags, pre_defined, then the handler type.
            b"hdlr" if body.len() >= 12 => {
                *handler = String::from_utf8_lossy(&body[8..12]).into_owned();
            }
            b"stsd" if body.len() >= 8 => found.push((
                handler.clone(),
                u32::from_be_bytes(body[4..8].try_into().unwrap()),
            )),
            _ => {}
        }
        at += size;
    }
}
