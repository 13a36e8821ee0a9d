//! Sending one file to Opencast as a track or attachment: the multipart form streamed
//! piece by piece through the bandwidth limit, with the file's MD5 taken as it goes.
//! The requests themselves and what Opencast answers belong to the publisher.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::BodyExt as _;
use md5::{Digest as _, Md5};
use tokio::sync::mpsc;

use crate::publish::job::{Failure, Job, PackageFile, error_chain};

use super::PIECE;

/// The fixed parts of an `addTrack` or `addAttachment` form: the fields before the file (Opencast reads the
/// form as a stream, so the media package and flavor must come first), and the end.
pub(super) struct Multipart {
    boundary: String,
    head: Bytes,
    tail: Bytes,
}

impl Multipart {
    pub(super) fn new(package: &str, flavor: &str, file: &PackageFile) -> Multipart {
        // A random boundary that the fields do not contain; the file bytes are not
        // searched: 128 random bits appearing there by chance is not a real risk.
        let boundary = loop {
            let candidate = format!("castd-{:032x}", rand::random::<u128>());
            if !package.contains(&candidate) {
                break candidate;
            }
        };
        let file_name = file
            .name
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                    c
                } else {
                    '_'
                }
            })
            .collect::<String>();
        let mime = if file.mime.parse::<mime::Mime>().is_ok() {
            file.mime.as_str()
        } else {
            "application/octet-stream"
        };
        let head = format!(
            "--{boundary}\r\n\
             Content-Disposition: form-data; name=\"mediaPackage\"\r\n\
             Content-Type: text/xml; charset=utf-8\r\n\r\n\
             {package}\r\n\
             --{boundary}\r\n\
             Content-Disposition: form-data; name=\"flavor\"\r\n\r\n\
             {flavor}\r\n\
             --{boundary}\r\n\
             Content-Disposition: form-data; name=\"BODY\"; filename=\"{file_name}\"\r\n\
             Content-Type: {mime}\r\n\r\n"
        );
        let tail = format!("\r\n--{boundary}--\r\n");
        Multipart {
            boundary,
            head: Bytes::from(head),
            tail: Bytes::from(tail),
        }
    }

    /// The whole body's length for a file of `size` bytes.
    pub(super) fn length(&self, size: u64) -> u64 {
        self.head.len() as u64 + size + self.tail.len() as u64
    }

    pub(super) fn content_type(&self) -> String {
        format!("multipart/form-data; boundary={}", self.boundary)
    }
}

/// Why feeding a request body stopped.
pub(super) enum Feed {
    Failed(Failure),
    /// The request is over (answered or broken); its outcome says why.
    Closed,
}

pub(super) type Piece = Result<Bytes, std::io::Error>;

/// Sends the form through `sender`: the fields, the file piece by piece through the
/// bandwidth limit, the end. Returns the MD5 (hex) of the file as sent.
pub(super) async fn feed(
    job: &Job,
    file: &PackageFile,
    size: u64,
    form: &Multipart,
    sender: mpsc::Sender<Piece>,
) -> Result<String, Feed> {
    let result = feed_pieces(job, file, size, form, &sender).await;
    if let Err(Feed::Failed(failure)) = &result {
        // Breaks the request off instead of letting it end short.
        let _ = sender
            .send(Err(std::io::Error::other(failure.message.clone())))
            .await;
    }
    result
}

pub(super) async fn feed_pieces(
    job: &Job,
    file: &PackageFile,
    size: u64,
    form: &Multipart,
    sender: &mpsc::Sender<Piece>,
) -> Result<String, Feed> {
    let send = |bytes: Bytes| async move { sender.send(Ok(bytes)).await.map_err(|_| Feed::Closed) };
    send(form.head.clone()).await?;
    let mut md5 = Md5::new();
    let mut offset = 0;
    while offset < size {
        let len = PIECE.min(size - offset);
        let piece = job
            .read_range(file, offset, len)
            .await
            .map_err(Feed::Failed)?;
        if piece.len() as u64 != len {
            return Err(Feed::Failed(Failure::io(format!(
                "{} got shorter while it was being sent",
                file.name
            ))));
        }
        md5.update(&piece);
        let mut paced = job.body(piece);
        while let Some(frame) = paced.frame().await {
            let frame = frame.map_err(|e| {
                Feed::Failed(if job.is_cancelled() {
                    Failure::cancelled()
                } else {
                    Failure::io(format!("sending {}: {}", file.name, error_chain(&e)))
                })
            })?;
            if let Ok(data) = frame.into_data() {
                send(data).await?;
            }
        }
        offset += len;
    }
    send(form.tail.clone()).await?;
    Ok(md5.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// A request body fed through a channel, so that the feeding can borrow the job (its
/// reads and its paced bodies) while the request runs next to it.
pub(super) struct Channel {
    pub(super) receiver: mpsc::Receiver<Piece>,
    pub(super) length: u64,
}

impl hyper::body::Body for Channel {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, std::io::Error>>> {
        self.receiver
            .poll_recv(cx)
            .map(|piece| piece.map(|p| p.map(hyper::body::Frame::data)))
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        hyper::body::SizeHint::with_exact(self.length)
    }
}
