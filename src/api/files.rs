//! Sending files with HTTP Range support (players seek, downloads resume).

use std::path::Path;

use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use tower::ServiceExt as _;
use tower_http::services::ServeFile;

use super::error::ApiError;

/// A file name safe to put in a header: anything outside `[A-Za-z0-9._-]` becomes `_`.
fn header_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Answers `request` with the file at `path` (200, 206 for ranges, 416 for bad ranges),
/// as `mime` when given.
pub(crate) async fn serve(
    path: &Path,
    request: Request,
    mime: Option<&str>,
) -> Result<Response, ApiError> {
    let name = path
        .file_name()
        .map(|n| header_safe(&n.to_string_lossy()))
        .unwrap_or_else(|| "file".into());
    let service = match mime.and_then(|m| m.parse::<mime::Mime>().ok()) {
        Some(m) => ServeFile::new_with_mime(path, &m),
        None => ServeFile::new(path),
    };
    let mut response = service
        .oneshot(request)
        .await
        .map_err(ApiError::internal)?
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("inline; filename=\"{name}\"")) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    #[test]
    fn header_names_cannot_inject() {
        assert_eq!(super::header_safe("a\"b\r\nX: y.mp4"), "a_b__X__y.mp4");
    }
}
