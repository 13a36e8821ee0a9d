//! The `s3` publisher: S3-compatible multipart upload of each output, requests signed with
//! AWS Signature V4 (the `aws-sigv4` crate), a Content-MD5 on every part so the server
//! rejects a part damaged on the way.
//!
//! Resumable: the upload id of each file is checkpointed before the first part goes; after
//! a restart the parts the server already holds are listed (ListParts) and only the missing
//! or damaged ones are sent again. Completing checks the server's multipart ETag against
//! the MD5s of our own parts, so a completed object is known to be exactly our file.
//!
//! Parts go three at a time: one request in flight leaves the link idle while each part's
//! answer comes back, and on a path with latency that is most of the time.
//!
//! This file holds the configuration, request signing and sending, and the publish flow;
//! the multipart upload of one file lives beside it.

mod multipart;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use base64::Engine;
use md5::{Digest, Md5};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use url::Url;

use super::job::{Delivered, Failure, Job, PackageFile, error_chain};
use multipart::multipart;

pub(crate) const ID: &str = "s3";
pub(crate) const NAME: &str = "S3-compatible object storage";
pub(crate) const SECRETS: &[&str] = &["secretKey"];
pub(crate) const SERVICES: &[(&str, &str)] = &[(
    "listObjects",
    "Objects under the configured prefix (or `prefix` in args): key, size, ETag.",
)];

/// S3's minimum part size (every part but the last).
pub(crate) const MIN_PART: u64 = 5 * 1024 * 1024;
const DEFAULT_PART: u64 = 8 * 1024 * 1024;
const MAX_PART: u64 = 512 * 1024 * 1024;
/// S3 allows at most this many parts per upload.
const MAX_PARTS: u64 = 10_000;
/// Parts in flight at once per file (each holds one part in memory).
const PARALLEL_PARTS: usize = 3;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Config {
    pub endpoint: Url,
    #[serde(default = "default_region")]
    pub region: String,
    pub bucket: String,
    #[serde(default)]
    pub prefix: String,
    pub access_key: String,
    pub secret_key: String,
    #[serde(default = "default_part")]
    pub part_size: u64,
    /// Bucket in the path (`endpoint/bucket/key`) rather than the host name; what most
    /// self-hosted S3 servers need.
    #[serde(default = "default_true")]
    pub path_style: bool,
}

fn default_region() -> String {
    "us-east-1".into()
}
fn default_part() -> u64 {
    DEFAULT_PART
}
fn default_true() -> bool {
    true
}

pub(crate) fn parse(config: &Value) -> Result<Config, String> {
    let mut config = config.clone();
    if let Value::Object(map) = &mut config {
        map.remove("enabled");
    }
    let parsed: Config =
        serde_json::from_value(config).map_err(|e| format!("s3 publisher config: {e}"))?;
    if !matches!(parsed.endpoint.scheme(), "http" | "https") || parsed.endpoint.host().is_none() {
        return Err("endpoint: must be an http:// or https:// URL".into());
    }
    let bucket_ok = (3..=63).contains(&parsed.bucket.len())
        && parsed
            .bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
    if !bucket_ok {
        return Err("bucket: 3 to 63 lower-case letters, digits, `-` or `.`".into());
    }
    if parsed.prefix.starts_with('/') || parsed.prefix.split('/').any(|p| p == "..") {
        return Err("prefix: must not start with `/` or contain `..`".into());
    }
    if parsed.access_key.is_empty() || parsed.secret_key.is_empty() {
        return Err("accessKey, secretKey: both are required".into());
    }
    if !(MIN_PART..=MAX_PART).contains(&parsed.part_size) {
        return Err(format!("partSize: between {MIN_PART} and {MAX_PART} bytes"));
    }
    Ok(parsed)
}

/// The object key of a package file.
fn key(config: &Config, package_id: &str, name: &str) -> String {
    let prefix = config.prefix.trim_matches('/');
    let name = name.replace('/', "_");
    if prefix.is_empty() {
        format!("{package_id}/{name}")
    } else {
        format!("{prefix}/{package_id}/{name}")
    }
}

#[expect(clippy::expect_used, reason = "invariant: http URLs have paths")]
fn object_url(config: &Config, key: &str) -> Url {
    let mut url = config.endpoint.clone();
    if !config.path_style
        && let Some(host) = config.endpoint.host_str()
    {
        let _ = url.set_host(Some(&format!("{}.{host}", config.bucket)));
    }
    {
        let mut segments = url.path_segments_mut().expect("http URLs have paths");
        segments.pop_if_empty();
        if config.path_style {
            segments.push(&config.bucket);
        }
        for part in key.split('/') {
            segments.push(part);
        }
    }
    url
}

#[expect(clippy::expect_used, reason = "invariant: http URLs have paths")]
fn bucket_url(config: &Config) -> Url {
    let mut url = object_url(config, "");
    if config.path_style {
        // `endpoint/bucket/` → `endpoint/bucket`
        url.path_segments_mut().expect("http URLs have paths").pop();
    }
    url
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A signed request, ready to send.
struct Signed {
    method: Method,
    url: Url,
    headers: Vec<(String, String)>,
}

fn signed(
    config: &Config,
    method: Method,
    url: Url,
    extra: &[(&str, String)],
    payload: &[u8],
) -> Result<Signed, Failure> {
    let payload_hash = hex(&sha2::Sha256::digest(payload));
    let identity =
        Credentials::new(&config.access_key, &config.secret_key, None, None, "castd").into();
    let mut settings = SigningSettings::default();
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    // S3 signs the path as sent: encoded once, never normalised.
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(&config.region)
        .name("s3")
        .time(SystemTime::now())
        .settings(settings)
        .build()
        .map_err(|e| Failure::invalid_config(format!("cannot sign: {e}")))?
        .into();
    let request = SignableRequest::new(
        method.as_str(),
        url.as_str(),
        extra.iter().map(|(k, v)| (*k, v.as_str())),
        SignableBody::Precomputed(payload_hash),
    )
    .map_err(|e| Failure::invalid_config(format!("cannot sign: {e}")))?;
    let (instructions, _) = sign(request, &params)
        .map_err(|e| Failure::invalid_config(format!("cannot sign: {e}")))?
        .into_parts();
    let mut headers: Vec<(String, String)> = extra
        .iter()
        .map(|(k, v)| ((*k).to_string(), v.clone()))
        .collect();
    headers.extend(
        instructions
            .headers()
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    Ok(Signed {
        method,
        url,
        headers,
    })
}

/// Sends a signed request; the body is given separately so media can stream (paced).
async fn send(
    http: &reqwest::Client,
    what: &str,
    request: Signed,
    body: Option<(reqwest::Body, usize)>,
) -> Result<(reqwest::header::HeaderMap, String), Failure> {
    let mut builder = http
        .request(request.method, request.url)
        .timeout(REQUEST_TIMEOUT);
    for (k, v) in &request.headers {
        builder = builder.header(k, v);
    }
    if let Some((body, len)) = body {
        // A paced body is a stream; S3 refuses uploads without a length (no chunked PUT).
        builder = builder
            .header(reqwest::header::CONTENT_LENGTH, len)
            .body(body);
    }
    let response = builder
        .send()
        .await
        .map_err(|e| Failure::from_http(what, &e))?;
    let status = response.status();
    let headers = response.headers().clone();
    let text = response
        .text()
        .await
        .map_err(|e| Failure::unreachable(format!("{what}: {}", error_chain(&e))))?;
    if !status.is_success() {
        let code = xml_texts(&text, "Code").into_iter().next();
        let failure = Failure::from_status(what, status, &text);
        return Err(match code.as_deref() {
            Some("NoSuchBucket") => {
                Failure::invalid_config(format!("{what}: the bucket does not exist"))
            }
            Some("InvalidAccessKeyId" | "SignatureDoesNotMatch" | "AccessDenied") => {
                Failure::auth(failure.message)
            }
            _ => failure,
        });
    }
    // CompleteMultipartUpload may answer 200 with an error document.
    if text.contains("<Error>") {
        return Err(Failure::rejected(format!(
            "{what}: {}",
            text.chars().take(300).collect::<String>()
        )));
    }
    Ok((headers, text))
}

/// The texts of every element named `tag` (namespaces ignored), in document order.
fn xml_texts(xml: &str, tag: &str) -> Vec<String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut out = Vec::new();
    let mut inside = false;
    let mut current = String::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) if e.local_name().as_ref() == tag => {
                inside = true;
                current.clear();
            }
            Ok(Event::Text(t)) if inside => current.push_str(&t.xml10_content()),
            Ok(Event::GeneralRef(r)) if inside => {
                if let Ok(Some(c)) = r.resolve_char_ref() {
                    current.push(c);
                } else {
                    current.push_str(match r.xml10_content().as_ref() {
                        "quot" => "\"",
                        "amp" => "&",
                        "lt" => "<",
                        "gt" => ">",
                        "apos" => "'",
                        _ => "",
                    });
                }
            }
            Ok(Event::End(e)) if inside && e.local_name().as_ref() == tag => {
                inside = false;
                out.push(std::mem::take(&mut current));
            }
            Ok(Event::Eof) | Err(_) => break,
            _ => {}
        }
    }
    out
}

pub(crate) async fn test(http: &reqwest::Client, config: &Config) -> Result<String, Failure> {
    // HEAD answers without a body, so ask for a one-key listing: it needs the same right
    // (list) and its error document says what is wrong.
    let mut url = bucket_url(config);
    url.query_pairs_mut()
        .append_pair("list-type", "2")
        .append_pair("max-keys", "1");
    let request = signed(config, Method::GET, url, &[], b"")?;
    send(http, "list the bucket", request, None).await?;
    Ok(format!(
        "bucket {} at {} is reachable and the credentials are accepted",
        config.bucket, config.endpoint
    ))
}

pub(crate) async fn service(
    http: &reqwest::Client,
    config: &Config,
    name: &str,
    args: &Value,
) -> Result<Value, Failure> {
    if name != "listObjects" {
        return Err(Failure::invalid_config(format!(
            "the s3 publisher has no service {name:?}"
        )));
    }
    let prefix = args
        .get("prefix")
        .and_then(Value::as_str)
        .unwrap_or(&config.prefix)
        .to_string();
    let mut url = bucket_url(config);
    url.query_pairs_mut()
        .append_pair("list-type", "2")
        .append_pair("prefix", &prefix)
        .append_pair("max-keys", "1000");
    let request = signed(config, Method::GET, url, &[], b"")?;
    let (_, text) = send(http, "list objects", request, None).await?;
    let keys = xml_texts(&text, "Key");
    let sizes = xml_texts(&text, "Size");
    let etags = xml_texts(&text, "ETag");
    Ok(json!(
        keys.iter()
            .zip(sizes.iter())
            .zip(etags.iter())
            .map(|((k, s), e)| json!({"key": k, "size": s.parse::<u64>().unwrap_or(0), "etag": e.trim_matches('"')}))
            .collect::<Vec<_>>()
    ))
}

/// Resume state of a job: per file name, its multipart upload (if one was begun) and
/// whether it is complete.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Checkpoint {
    files: BTreeMap<String, FileState>,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FileState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    upload_id: Option<String>,
    #[serde(default)]
    complete: bool,
}

pub(crate) async fn publish(job: &Job, config: &Config) -> Result<Delivered, Failure> {
    let mut checkpoint: Checkpoint = job.checkpoint().await.unwrap_or_default();
    job.set_total(job.files.iter().map(|f| f.size).sum());
    for file in &job.files {
        job.proceed().await?;
        let state = checkpoint
            .files
            .get(&file.name)
            .cloned()
            .unwrap_or_default();
        if state.complete {
            job.add_done(file.size);
            continue;
        }
        let object = key(config, &job.package.id, &file.name);
        if file.size < config.part_size {
            put_whole(job, config, file, &object).await?;
        } else {
            multipart(job, config, file, &object, &mut checkpoint).await?;
        }
        checkpoint.files.insert(
            file.name.clone(),
            FileState {
                upload_id: None,
                complete: true,
            },
        );
        job.save_checkpoint(&checkpoint).await?;
    }
    // The manifest last: a reader that finds it finds every file it lists.
    let manifest = job.manifest.clone();
    let object = key(config, &job.package.id, crate::model::MANIFEST);
    put_bytes(job, config, &object, "application/json", manifest.into()).await?;
    let folder = key(config, &job.package.id, "");
    Ok(Delivered {
        url: Some(format!("s3://{}/{folder}", config.bucket)),
        remote_id: Some(folder),
    })
}

fn content_md5(bytes: &[u8]) -> (String, String) {
    let digest = Md5::digest(bytes);
    (
        base64::engine::general_purpose::STANDARD.encode(digest),
        hex(&digest),
    )
}

async fn put_whole(
    job: &Job,
    config: &Config,
    file: &PackageFile,
    object: &str,
) -> Result<(), Failure> {
    let bytes = job.read_range(file, 0, file.size).await?;
    put_bytes(job, config, object, &file.mime, bytes).await?;
    job.add_done(file.size);
    Ok(())
}

async fn put_bytes(
    job: &Job,
    config: &Config,
    object: &str,
    mime: &str,
    bytes: bytes::Bytes,
) -> Result<(), Failure> {
    let (md5_b64, md5_hex) = content_md5(&bytes);
    let request = signed(
        config,
        Method::PUT,
        object_url(config, object),
        &[("content-md5", md5_b64), ("content-type", mime.to_string())],
        &bytes,
    )?;
    let len = bytes.len();
    let (headers, _) = send(&job.http, "upload", request, Some((job.body(bytes), len))).await?;
    check_etag(&headers, &md5_hex, object)
}

fn check_etag(
    headers: &reqwest::header::HeaderMap,
    expected: &str,
    what: &str,
) -> Result<(), Failure> {
    let etag = headers
        .get(reqwest::header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim_matches('"').to_string());
    match etag {
        Some(e) if e == expected => Ok(()),
        Some(e) => Err(Failure::rejected(format!(
            "{what}: the server stored ETag {e}, expected {expected}"
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::multipart::multipart_etag;
    use super::*;

    fn config() -> Config {
        parse(&json!({
            "endpoint": "http://127.0.0.1:9000", "bucket": "lectures", "prefix": "room-101/",
            "accessKey": "AK", "secretKey": "SK"
        }))
        .unwrap()
    }

    #[test]
    fn keys_and_urls_are_path_style_and_encoded() {
        let c = config();
        let k = key(&c, "20261123-101500-abc123", "main.mp4");
        assert_eq!(k, "room-101/20261123-101500-abc123/main.mp4");
        assert_eq!(
            object_url(&c, &k).as_str(),
            "http://127.0.0.1:9000/lectures/room-101/20261123-101500-abc123/main.mp4"
        );
        assert_eq!(bucket_url(&c).as_str(), "http://127.0.0.1:9000/lectures");
    }

    #[test]
    fn invalid_configs_name_the_field() {
        let bad = |v: Value| parse(&v).unwrap_err();
        assert!(
            bad(
                json!({"endpoint": "ftp://x", "bucket": "abc", "accessKey": "a", "secretKey": "b"})
            )
            .starts_with("endpoint")
        );
        assert!(
            bad(
                json!({"endpoint": "http://x", "bucket": "A B", "accessKey": "a", "secretKey": "b"})
            )
            .starts_with("bucket")
        );
        assert!(bad(json!({"endpoint": "http://x", "bucket": "abc", "accessKey": "a", "secretKey": "b", "partSize": 1024})).starts_with("partSize"));
    }

    #[test]
    fn signed_requests_carry_the_payload_hash_and_an_authorization() {
        let c = config();
        let s = signed(
            &c,
            Method::PUT,
            object_url(&c, "a/b.mp4"),
            &[("content-md5", "x".into())],
            b"hello",
        )
        .unwrap();
        let names: Vec<&str> = s.headers.iter().map(|(k, _)| k.as_str()).collect();
        assert!(names.contains(&"authorization"), "{names:?}");
        let auth = &s
            .headers
            .iter()
            .find(|(k, _)| k == "authorization")
            .unwrap()
            .1;
        assert!(
            auth.contains("content-md5"),
            "Content-MD5 is signed: {auth}"
        );
        let sha = &s
            .headers
            .iter()
            .find(|(k, _)| k == "x-amz-content-sha256")
            .unwrap()
            .1;
        assert_eq!(
            sha,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
    }

    #[test]
    fn xml_answers_are_read_by_element() {
        let xml = r#"<ListPartsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Part><PartNumber>1</PartNumber><ETag>&quot;abc&quot;</ETag><Size>5</Size></Part><Part><PartNumber>2</PartNumber><ETag>"def"</ETag><Size>3</Size></Part></ListPartsResult>"#;
        assert_eq!(xml_texts(xml, "PartNumber"), ["1", "2"]);
        assert_eq!(xml_texts(xml, "ETag"), ["\"abc\"", "\"def\""]);
        let a: [u8; 16] = Md5::digest(b"a").into();
        assert!(multipart_etag(&[a, a]).ends_with("-2"));
    }
}
