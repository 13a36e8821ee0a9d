//! Where each output goes in an Opencast media package: a track (audio or video, which
//! workflows process) or an attachment, and its flavor: the main recording is the
//! `presenter/source` track, the first other video `presentation/source`, every other
//! output `<entry>/source`, made distinct.
//!
//! It owns that mapping only; it never reads the files or talks to Opencast.

use std::collections::BTreeSet;

use crate::publish::job::PackageFile;

/// How an output goes into the media package.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// Audio or video, which workflows process.
    Track,
    /// Anything else (a thumbnail, slides), kept with the package.
    Attachment,
}

impl Kind {
    pub(super) fn of(file: &PackageFile) -> Kind {
        if file.mime.starts_with("video/") || file.mime.starts_with("audio/") {
            Kind::Track
        } else {
            Kind::Attachment
        }
    }

    pub(super) fn endpoint(self) -> &'static str {
        match self {
            Kind::Track => "addTrack",
            Kind::Attachment => "addAttachment",
        }
    }

    /// The element name in media package XML.
    pub(super) fn element(self) -> &'static str {
        match self {
            Kind::Track => "track",
            Kind::Attachment => "attachment",
        }
    }
}

/// The files in upload order with their kind and flavor: the main output (the graph's
/// root recorder) first as the `presenter/source` track, the first other video as
/// `presentation/source`, every other output as `<entry>/source`.
pub(super) fn flavors<'a>(
    root: &str,
    files: &'a [PackageFile],
) -> Vec<(&'a PackageFile, Kind, String)> {
    let main = files
        .iter()
        .position(|f| f.entry == root && Kind::of(f) == Kind::Track)
        .or_else(|| files.iter().position(|f| Kind::of(f) == Kind::Track));
    let mut order: Vec<&PackageFile> = main.and_then(|m| files.get(m)).into_iter().collect();
    order.extend(
        files
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != main)
            .map(|(_, f)| f),
    );
    let mut taken = BTreeSet::new();
    let mut out = Vec::new();
    for file in order {
        let kind = Kind::of(file);
        let wanted = if out.is_empty() && kind == Kind::Track {
            "presenter".to_string()
        } else if file.mime.starts_with("video/") && !taken.contains("presentation") {
            "presentation".to_string()
        } else {
            flavor_type(&file.entry)
        };
        let mut flavor = wanted.clone();
        let mut n = 2;
        while taken.contains(&flavor) {
            flavor = format!("{wanted}-{n}");
            n += 1;
        }
        taken.insert(flavor.clone());
        out.push((file, kind, format!("{flavor}/source")));
    }
    out
}

/// An entry name as a flavor type: letters, digits, `+` and `-`.
fn flavor_type(entry: &str) -> String {
    let kind: String = entry
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '+' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if kind
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
    {
        kind
    } else {
        format!("track{kind}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(entry: &str, mime: &str) -> PackageFile {
        PackageFile {
            entry: entry.into(),
            mime: mime.into(),
            path: format!("/tmp/{entry}.mp4").into(),
            name: format!("{entry}.mp4"),
            size: 1,
            md5: None,
        }
    }

    #[test]
    fn the_main_output_is_the_presenter_and_flavors_are_distinct() {
        let files = [
            file("thumbnail", "image/jpeg"),
            file("audio", "audio/mp4"),
            file("recording", "video/mp4"),
            file("screen", "video/mp4"),
            file("presenter", "video/mp4"),
            file("cam 2", "video/mp4"),
        ];
        let plan: Vec<(&str, Kind, String)> = flavors("recording", &files)
            .into_iter()
            .map(|(f, kind, flavor)| (f.entry.as_str(), kind, flavor))
            .collect();
        let expected = [
            ("recording", Kind::Track, "presenter/source"),
            ("thumbnail", Kind::Attachment, "thumbnail/source"),
            ("audio", Kind::Track, "audio/source"),
            ("screen", Kind::Track, "presentation/source"),
            ("presenter", Kind::Track, "presenter-2/source"),
            ("cam 2", Kind::Track, "cam-2/source"),
        ];
        assert_eq!(plan, expected.map(|(e, k, f)| (e, k, f.to_string())));
        // Without a recorder of that name the first audio or video is the presenter.
        let plan = flavors("gone", &files[..2]);
        assert_eq!(
            (plan[0].0.entry.as_str(), plan[0].2.as_str()),
            ("audio", "presenter/source")
        );
    }
}
