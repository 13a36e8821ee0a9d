//! What a Flow Capture job remembers across attempts and restarts: per file the S3 upload
//! and its confirmed parts, then the asset; then whether ingest was triggered, which assets
//! are described and how many markers became comments.
//!
//! It owns the shape of that checkpoint and how a saved one is lined up with the package's
//! files today. It never forgets an asset a previous attempt created, so no file is sent
//! twice.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::parts::part_range;
use crate::publish::job::{Failure, PackageFile};

/// Saved after every confirmed step (see `Job::checkpoint`).
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct State {
    pub(super) files: Vec<FileState>,
    /// `/complete/upload` accepted every key.
    pub(super) ingested: bool,
    /// Markers already created as comments on the main asset, in package order.
    pub(super) comments: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct FileState {
    /// The package's name of the file; identifies it across attempts.
    pub(super) name: String,
    pub(super) size: u64,
    pub(super) upload: Option<Upload>,
    /// Confirmed parts: part number → ETag as the PUT answered it.
    pub(super) etags: BTreeMap<u32, String>,
    pub(super) asset_id: Option<String>,
    /// `/update/asset` took the metadata.
    pub(super) described: bool,
}

impl FileState {
    pub(super) fn new(file: &PackageFile) -> FileState {
        FileState {
            name: file.name.clone(),
            size: file.size,
            upload: None,
            etags: BTreeMap::new(),
            asset_id: None,
            described: false,
        }
    }

    /// Bytes already on the target.
    pub(super) fn confirmed(&self) -> u64 {
        if self.asset_id.is_some() {
            return self.size;
        }
        self.etags
            .keys()
            .map(|&part| part_range(self.size, part).1)
            .sum()
    }
}

/// The S3 multipart upload Flow Capture opened for one file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Upload {
    pub(super) upload_id: String,
    pub(super) key: String,
}

/// The saved state lined up with today's files. A file that changed size since an upload
/// began starts over (its parts would not fit); a file with an asset keeps it whatever
/// happened, so it is never sent twice. A file new to the state (an output attached since)
/// needs ingest to be triggered again.
pub(super) fn resume(saved: State, files: &[&PackageFile]) -> State {
    let mut old: BTreeMap<String, FileState> = saved
        .files
        .into_iter()
        .map(|f| (f.name.clone(), f))
        .collect();
    let mut all_known = true;
    let states = files
        .iter()
        .map(|file| match old.remove(&file.name) {
            Some(s) if s.asset_id.is_some() || s.size == file.size => s,
            _ => {
                all_known = false;
                FileState::new(file)
            }
        })
        .collect();
    State {
        files: states,
        ingested: saved.ingested && all_known,
        comments: saved.comments,
    }
}

/// The asset of file `index`, which its upload has created by now.
pub(super) fn asset_of(state: &State, index: usize) -> Result<String, Failure> {
    state.files[index]
        .asset_id
        .clone()
        .ok_or_else(|| Failure::rejected("an upload finished without an asset"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resumed_file_keeps_its_asset_and_a_changed_one_starts_over() {
        let file = |name: &str, size| PackageFile {
            entry: name.into(),
            mime: "video/mp4".into(),
            path: name.into(),
            name: name.into(),
            size,
            md5: None,
        };
        let (a, b, c) = (file("a.mp4", 10), file("b.mp4", 20), file("c.mp4", 30));
        let mut done = FileState::new(&a);
        done.asset_id = Some("7".into());
        done.size = 11;
        let mut changed = FileState::new(&b);
        changed.size = 21;
        changed.etags.insert(1, "\"e\"".into());
        let saved = State {
            files: vec![changed, done.clone()],
            ingested: true,
            comments: 1,
        };
        let state = resume(saved, &[&a, &b, &c]);
        assert_eq!(state.files[0].asset_id.as_deref(), Some("7"));
        assert!(state.files[1].etags.is_empty());
        assert_eq!(state.files[2].name, "c.mp4");
        assert!(!state.ingested, "new files need ingest");
        assert_eq!(state.comments, 1);
        let again = State {
            files: vec![done],
            ingested: true,
            comments: 2,
        };
        assert!(resume(again, &[&a]).ingested);
    }
}
