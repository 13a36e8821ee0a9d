//! Finishing recordings: the files of a stopped session made final (fast-start MP4, facts,
//! a thumbnail), and packages a crash, power cut or kill left unfinished recovered at the
//! next start.
//!
//! This runs off the engine thread (a thread of its own per stopped session, a task at
//! start-up); it reads and rewrites files and never touches a running pipeline.

use std::collections::BTreeMap;
use std::path::Path;

use crate::events::{Bus, Event};
use crate::graph::plan::RecorderPlan;
use crate::media::finalize;
use crate::model::{CaptureState, Output, PackageState};

/// Finishes packages a crash, power cut or kill left in `capturing`/`processing`: their
/// fragmented files are rewritten when possible, and they are marked `partial`.
/// Each recovered package's session is announced as ended (`Idle` with the reason), so
/// whatever waits for finished recordings (automatic publishing) sees it now rather than
/// after the next capture.
pub(super) async fn recover(packages: &crate::packages::Packages, bus: &Bus) -> usize {
    let Ok(unfinished) = packages.unfinished().await else {
        return 0;
    };
    let count = unfinished.len();
    for mut package in unfinished {
        let dir = packages.dir(&package.id);
        let recorders: Vec<RecorderPlan> = package
            .processing
            .nodes
            .iter()
            .filter(|n| n.kind == crate::model::NodeType::FileRecorder)
            .map(|n| {
                let mkv = n.options.get("container").and_then(|v| v.as_str()) == Some("mkv");
                RecorderPlan {
                    node: n.id.clone(),
                    file: format!("{}.{}", n.id, if mkv { "mkv" } else { "mp4" }),
                    mime: if mkv { "video/x-matroska" } else { "video/mp4" },
                    sink: String::new(),
                }
            })
            .collect();
        let root = package.processing.root.clone();
        let (outputs, problems) =
            tokio::task::spawn_blocking(move || finalize_outputs(&dir, &recorders, &root))
                .await
                .unwrap_or_default();
        package.duration = outputs
            .get(&package.processing.root)
            .and_then(|o| o.duration)
            .unwrap_or(package.duration);
        package.outputs = outputs;
        package.state = PackageState::Partial;
        let mut reason =
            "the recording was interrupted (crash, power cut or shutdown) and recovered"
                .to_string();
        if !problems.is_empty() {
            reason.push_str(&format!("; {}", problems.join("; ")));
        }
        package.error = Some(reason.clone());
        if let Err(e) = packages.save(&package).await {
            log::error!("cannot save recovered package {}: {e}", package.id);
            continue;
        }
        bus.publish(Event::CaptureState {
            session_id: package.id.clone(),
            state: CaptureState::Idle,
            media_package_id: package.id.clone(),
            error: Some(reason),
        });
    }
    count
}

/// Makes every recorder's file final (fast-start MP4), with facts and a thumbnail.
pub(super) fn finalize_outputs(
    dir: &Path,
    recorders: &[RecorderPlan],
    root: &str,
) -> (BTreeMap<String, Output>, Vec<String>) {
    let mut outputs = BTreeMap::new();
    let mut problems = Vec::new();
    for rec in recorders {
        let path = dir.join(&rec.file);
        if std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0) == 0 {
            problems.push(format!("{} recorded nothing", rec.node));
            continue;
        }
        if rec.file.ends_with(".mp4")
            && let Err(e) = finalize::faststart(&path)
        {
            log::warn!("{e}; keeping the fragmented file");
            problems.push(format!("{} kept as recorded: {e}", rec.node));
        }
        match finalize::facts(&path) {
            Ok(facts) => {
                outputs.insert(
                    rec.node.clone(),
                    Output {
                        entry: rec.node.clone(),
                        mime: rec.mime.to_string(),
                        file: rec.file.clone(),
                        size: Some(facts.size),
                        duration: facts.duration_ms,
                        node_id: Some(rec.node.clone()),
                        md5: Some(facts.md5),
                    },
                );
            }
            Err(e) => problems.push(format!("{}: {e}", rec.node)),
        }
    }
    if let Some(main) = outputs.get(root).filter(|o| o.mime.starts_with("video/")) {
        let thumb = dir.join("thumbnail.jpg");
        match finalize::thumbnail(&dir.join(&main.file), &thumb, 320)
            .and_then(|()| finalize::facts(&thumb))
        {
            Ok(facts) => {
                outputs.insert(
                    "thumbnail".into(),
                    Output {
                        entry: "thumbnail".into(),
                        mime: "image/jpeg".into(),
                        file: "thumbnail.jpg".into(),
                        size: Some(facts.size),
                        duration: None,
                        node_id: Some(root.to_string()),
                        md5: Some(facts.md5),
                    },
                );
            }
            Err(e) => problems.push(format!("thumbnail: {e}")),
        }
    }
    (outputs, problems)
}
