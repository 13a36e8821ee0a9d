//! One file's S3 multipart upload: begun (or found again on the server after a restart,
//! with the parts it already holds), its parts sent three at a time each with its
//! Content-MD5, and completed with a check of the assembled object's ETag against the MD5s
//! of our own parts.
//!
//! It owns the multipart requests and the upload id in the checkpoint; signing, sending
//! and reading answers belong to the publisher, and it never sends a part the server
//! already holds intact.

use std::collections::BTreeMap;

use base64::Engine;
use futures_util::StreamExt as _;
use md5::{Digest, Md5};
use reqwest::Method;

use super::{
    Checkpoint, Config, FileState, MAX_PARTS, PARALLEL_PARTS, check_etag, hex, object_url, send,
    signed, xml_texts,
};
use crate::publish::job::{Failure, Job, PackageFile};

/// Sends a file as a multipart upload, going on with the upload the checkpoint names
/// while the server still holds it, and checks the assembled object's ETag.
pub(super) async fn multipart(
    job: &Job,
    config: &Config,
    file: &PackageFile,
    object: &str,
    checkpoint: &mut Checkpoint,
) -> Result<(), Failure> {
    // Larger parts when the file would otherwise need more than S3 allows.
    let part_size = config.part_size.max(file.size.div_ceil(MAX_PARTS));
    let count = file.size.div_ceil(part_size);
    let (upload_id, held) = open_upload(job, config, file, object, checkpoint, count).await?;
    let upload = Upload {
        job,
        config,
        file,
        object,
        upload_id: &upload_id,
        part_size,
    };
    let md5s = upload.put_parts(count, &held, checkpoint).await?;
    upload.complete(&md5s).await
}

/// The upload to send the file with and the parts the server already holds: the
/// checkpoint's upload when the server still has it, a new one otherwise. Its id is saved
/// before any part goes, so a restart finds its parts.
async fn open_upload(
    job: &Job,
    config: &Config,
    file: &PackageFile,
    object: &str,
    checkpoint: &mut Checkpoint,
    count: u64,
) -> Result<(String, BTreeMap<u64, (String, u64)>), Failure> {
    let state = checkpoint
        .files
        .get(&file.name)
        .cloned()
        .unwrap_or_default();
    let mut held = BTreeMap::new();
    let upload_id = match state.upload_id {
        Some(id) => match list_parts(job, config, object, &id).await? {
            Some(parts) => {
                log::info!(
                    "resuming the upload of {}: {} of {count} parts already on the server",
                    file.name,
                    parts.len()
                );
                held = parts;
                id
            }
            None => create_upload(job, config, file, object).await?,
        },
        None => create_upload(job, config, file, object).await?,
    };
    checkpoint.files.insert(
        file.name.clone(),
        FileState {
            upload_id: Some(upload_id.clone()),
            complete: false,
        },
    );
    job.save_checkpoint(checkpoint).await?;
    Ok((upload_id, held))
}

/// Parts the server holds for an upload: number → (ETag without quotes, size).
async fn list_parts(
    job: &Job,
    config: &Config,
    object: &str,
    upload_id: &str,
) -> Result<Option<BTreeMap<u64, (String, u64)>>, Failure> {
    let mut parts = BTreeMap::new();
    let mut marker: Option<String> = None;
    loop {
        let mut url = object_url(config, object);
        url.query_pairs_mut().append_pair("uploadId", upload_id);
        if let Some(m) = &marker {
            url.query_pairs_mut().append_pair("part-number-marker", m);
        }
        let request = signed(config, Method::GET, url, &[], b"")?;
        let text = match send(&job.http, "list uploaded parts", request, None).await {
            Ok((_, text)) => text,
            // The upload is gone (aborted or expired on the server): start a new one.
            Err(f) if f.message.contains("NoSuchUpload") => return Ok(None),
            Err(f) => return Err(f),
        };
        let numbers = xml_texts(&text, "PartNumber");
        let etags = xml_texts(&text, "ETag");
        let sizes = xml_texts(&text, "Size");
        for ((n, e), s) in numbers.iter().zip(&etags).zip(&sizes) {
            if let (Ok(n), Ok(s)) = (n.parse::<u64>(), s.parse::<u64>()) {
                parts.insert(n, (e.trim_matches('"').to_string(), s));
            }
        }
        let truncated = xml_texts(&text, "IsTruncated")
            .first()
            .is_some_and(|t| t == "true");
        let next = xml_texts(&text, "NextPartNumberMarker").into_iter().next();
        match (truncated, next) {
            (true, Some(n)) if Some(&n) != marker.as_ref() => marker = Some(n),
            _ => return Ok(Some(parts)),
        }
    }
}

async fn create_upload(
    job: &Job,
    config: &Config,
    file: &PackageFile,
    object: &str,
) -> Result<String, Failure> {
    let mut url = object_url(config, object);
    url.query_pairs_mut().append_key_only("uploads");
    let request = signed(
        config,
        Method::POST,
        url,
        &[("content-type", file.mime.clone())],
        b"",
    )?;
    let (_, text) = send(&job.http, "begin the multipart upload", request, None).await?;
    xml_texts(&text, "UploadId")
        .into_iter()
        .next()
        .filter(|id| !id.is_empty())
        .ok_or_else(|| Failure::rejected("the server gave no UploadId"))
}

/// One file's multipart upload, shared by the parts in flight.
struct Upload<'a> {
    job: &'a Job,
    config: &'a Config,
    file: &'a PackageFile,
    object: &'a str,
    upload_id: &'a str,
    part_size: u64,
}

impl Upload<'_> {
    /// Sends every part a few at a time (those the server holds intact are skipped); each
    /// part's MD5, in part order.
    async fn put_parts(
        &self,
        count: u64,
        held: &BTreeMap<u64, (String, u64)>,
        checkpoint: &Checkpoint,
    ) -> Result<Vec<[u8; 16]>, Failure> {
        let mut parts = futures_util::stream::iter(1..=count)
            .map(|number| self.put_part(number, held.get(&number)))
            .buffer_unordered(PARALLEL_PARTS);
        let mut md5s = BTreeMap::new();
        while let Some(done) = parts.next().await {
            let (number, digest, len) = done?;
            md5s.insert(number, digest);
            self.job.add_done(len);
            // Progress is durable per part, so a restart reports where it really stands.
            self.job.save_checkpoint(checkpoint).await?;
        }
        Ok(md5s.into_values().collect())
    }

    /// Assembles the parts into the object and checks the server's ETag against the one
    /// the parts' MD5s give.
    async fn complete(&self, md5s: &[[u8; 16]]) -> Result<(), Failure> {
        let Upload {
            job,
            config,
            object,
            upload_id,
            ..
        } = *self;
        let mut body = String::from("<CompleteMultipartUpload>");
        for (i, digest) in md5s.iter().enumerate() {
            body.push_str(&format!(
                "<Part><PartNumber>{}</PartNumber><ETag>\"{}\"</ETag></Part>",
                i + 1,
                hex(digest)
            ));
        }
        body.push_str("</CompleteMultipartUpload>");
        let mut url = object_url(config, object);
        url.query_pairs_mut().append_pair("uploadId", upload_id);
        let request = signed(
            config,
            Method::POST,
            url,
            &[("content-type", "application/xml".to_string())],
            body.as_bytes(),
        )?;
        let (_, text) = send(
            &job.http,
            "complete the multipart upload",
            request,
            Some((reqwest::Body::from(body.clone()), body.len())),
        )
        .await?;
        let expected = multipart_etag(md5s);
        if let Some(etag) = xml_texts(&text, "ETag").into_iter().next() {
            let etag = etag.trim_matches('"');
            if etag != expected {
                return Err(Failure::rejected(format!(
                    "{object}: the server assembled ETag {etag}, expected {expected}"
                )));
            }
        }
        Ok(())
    }

    /// Sends part `number` (from 1) unless the server already `held` it intact; returns its
    /// number, MD5 and length.
    async fn put_part(
        &self,
        number: u64,
        held: Option<&(String, u64)>,
    ) -> Result<(u64, [u8; 16], u64), Failure> {
        let Upload {
            job, config, file, ..
        } = *self;
        job.proceed().await?;
        let offset = (number - 1) * self.part_size;
        let len = self.part_size.min(file.size - offset);
        let bytes = job.read_range(file, offset, len).await?;
        let digest: [u8; 16] = Md5::digest(&bytes).into();
        let md5_hex = hex(&digest);
        // A part the server already holds intact is not sent again.
        if held.is_some_and(|(etag, size)| *etag == md5_hex && *size == len) {
            return Ok((number, digest, len));
        }
        let count = file.size.div_ceil(self.part_size);
        let mut url = object_url(config, self.object);
        url.query_pairs_mut()
            .append_pair("partNumber", &number.to_string())
            .append_pair("uploadId", self.upload_id);
        let md5_b64 = base64::engine::general_purpose::STANDARD.encode(digest);
        let request = signed(
            config,
            Method::PUT,
            url,
            &[("content-md5", md5_b64)],
            &bytes,
        )?;
        let (headers, _) = send(
            &job.http,
            &format!("upload part {number}/{count}"),
            request,
            Some((job.body(bytes), len as usize)),
        )
        .await?;
        check_etag(&headers, &md5_hex, &format!("part {number}"))?;
        Ok((number, digest, len))
    }
}

/// S3's ETag of a multipart object: MD5 of the parts' MD5s, a dash, the part count.
pub(super) fn multipart_etag(part_md5s: &[[u8; 16]]) -> String {
    let mut hasher = Md5::new();
    for digest in part_md5s {
        hasher.update(digest);
    }
    format!("{}-{}", hex(&hasher.finalize()), part_md5s.len())
}
