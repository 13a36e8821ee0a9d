//! The API describing itself: the OpenAPI document and the human-readable docs page.

use std::sync::Arc;

use axum::Extension;
use axum::http::header;
use axum::response::{Html, IntoResponse};

use crate::api::openapi::ApiDocs;

/// The OpenAPI 3.1 document of this API
///
/// Generated from the same route table that serves the API; lists every route with its
/// permission (`x-permission`) and the catalog of error codes (`x-error-codes`).
#[utoipa::path(get, path = "/openapi.json", tag = "docs", operation_id = "openapi",
    responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json")))]
pub(crate) async fn openapi(Extension(docs): Extension<Arc<ApiDocs>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        docs.json.clone(),
    )
}

/// Human-readable API documentation
#[utoipa::path(get, path = "/docs", tag = "docs", operation_id = "docs",
    responses((status = 200, description = "HTML page", content_type = "text/html")))]
pub(crate) async fn docs(Extension(docs): Extension<Arc<ApiDocs>>) -> Html<bytes::Bytes> {
    Html(docs.html.clone())
}
