//! Request parameters: form-encoded or JSON bodies plus the query string, read tolerantly
//! into typed structs, and path segments. Every failure is an [`ApiError`] in the common
//! error format, never axum's plain-text rejections.

mod form;
mod lenient;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use http_body_util::BodyExt as _;
use serde::de::DeserializeOwned;
use serde_path_to_error::Segment;

use super::error::{ApiError, ErrorCode};
#[cfg(feature = "fuzzing")]
pub(crate) use form::FormError;
pub(crate) use lenient::Lenient;
use lenient::{ErrorKind, ParamsDeserializer};

/// The raw form splitter without the parameter cap, for the fuzz targets (see
/// `crate::fuzzing`).
#[cfg(feature = "fuzzing")]
pub(crate) fn form_pairs(input: &[u8]) -> Result<Vec<(String, String)>, FormError> {
    form::parse(input, usize::MAX)
}

/// The body size limit in force for a request (set by the router from the configuration).
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyLimit(pub usize);

/// The most parameters one request may carry, query string and body together (repeated
/// names count each time). No route takes more than a dozen; the bound keeps a body of a
/// hundred thousand tiny parameters from costing more than a normal request.
pub(crate) const MAX_PARAMS: usize = 256;

/// The parameters of one request, later sources overriding earlier ones.
#[derive(Debug, Default, Clone)]
pub(crate) struct Params(Vec<(String, Lenient)>);

fn too_many_params() -> ApiError {
    ApiError::new(
        ErrorCode::TooManyParams,
        format!("the request has more than {MAX_PARAMS} parameters"),
    )
    .with("limit", MAX_PARAMS)
}

/// Form text (query string or body) as parameters; `what` names it in the error.
fn form_params(input: &[u8], what: &str) -> Result<Params, ApiError> {
    match form::parse(input, MAX_PARAMS) {
        Ok(pairs) => Ok(Params(
            pairs
                .into_iter()
                .map(|(k, v)| (k, Lenient::Text(v)))
                .collect(),
        )),
        Err(form::FormError::TooManyPairs) => Err(too_many_params()),
        Err(form::FormError::Malformed) => Err(ApiError::new(
            ErrorCode::MalformedForm,
            format!(
                "the {what} is not valid form encoding (UTF-8, %XX escapes; JSON values that are not url-encoded must end)"
            ),
        )),
    }
}

impl Params {
    pub(crate) fn from_query(query: Option<&str>) -> Result<Params, ApiError> {
        form_params(query.unwrap_or_default().as_bytes(), "query string")
    }

    pub(crate) fn from_form(body: &[u8]) -> Result<Params, ApiError> {
        form_params(body, "body")
    }

    pub(crate) fn from_json(body: &[u8]) -> Result<Params, ApiError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Params::default());
        }
        match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(serde_json::Value::Object(map)) if map.len() > MAX_PARAMS => Err(too_many_params()),
            Ok(serde_json::Value::Object(map)) => Ok(Params(
                map.into_iter()
                    .map(|(k, v)| (k, Lenient::Json(v)))
                    .collect(),
            )),
            Ok(_) => Err(ApiError::new(
                ErrorCode::MalformedJson,
                "a JSON body must be an object whose keys are the parameters",
            )),
            Err(e) => Err(ApiError::new(
                ErrorCode::MalformedJson,
                format!("the JSON body does not parse: {e}"),
            )),
        }
    }

    /// Adds `other`'s parameters after these; a name given again, here or there, keeps its
    /// last value when read (see [`Params::deserialize`]). Linear: nothing is searched here.
    pub(crate) fn extend(&mut self, other: Params) -> Result<(), ApiError> {
        if self.0.len() + other.0.len() > MAX_PARAMS {
            return Err(too_many_params());
        }
        self.0.extend(other.0);
        Ok(())
    }

    /// Reads the parameters into `T`.
    pub(crate) fn deserialize<T: DeserializeOwned>(self) -> Result<T, ApiError> {
        let mut unique = self;
        unique.dedupe();
        serde_path_to_error::deserialize(ParamsDeserializer(unique.0)).map_err(classify)
    }

    /// Keeps the last value of each name, at the place of that last value. One pass with a
    /// set, so a request's cost stays linear in its parameters.
    fn dedupe(&mut self) {
        let mut seen = std::collections::HashSet::new();
        let mut kept: Vec<(String, Lenient)> = Vec::with_capacity(self.0.len());
        for (key, value) in self.0.drain(..).rev() {
            if seen.insert(key.clone()) {
                kept.push((key, value));
            }
        }
        kept.reverse();
        self.0 = kept;
    }
}

/// Turns a deserialisation failure into 400 (the request's shape is wrong) or 422 (a JSON
/// value's content is wrong), naming the parameter and field.
fn classify(err: serde_path_to_error::Error<lenient::Error>) -> ApiError {
    let mut segments: Vec<String> = err
        .path()
        .iter()
        .filter_map(|s| match s {
            Segment::Map { key } => Some(key.clone()),
            Segment::Seq { index } => Some(format!("[{index}]")),
            Segment::Enum { variant } => Some(variant.clone()),
            Segment::Unknown => None,
        })
        .collect();
    let kind = err.into_inner().0;
    if let ErrorKind::Missing(field) = &kind {
        segments.push(field.clone());
    }
    let param = segments.first().cloned().unwrap_or_default();
    let field = segments[1.min(segments.len())..]
        .join(".")
        .replace(".[", "[");
    let nested = segments.len() > 1;
    match kind {
        ErrorKind::Missing(_) if !nested => ApiError::new(
            ErrorCode::MissingParam,
            format!("parameter {param} is required"),
        )
        .with("param", param),
        ErrorKind::Malformed(msg) => ApiError::new(
            ErrorCode::MalformedJson,
            format!("parameter {param}: {msg}"),
        )
        .with("param", param),
        ErrorKind::Invalid(msg) if !nested => {
            ApiError::new(ErrorCode::BadParam, format!("parameter {param}: {msg}"))
                .with("param", param)
        }
        ErrorKind::Missing(_) => ApiError::new(
            ErrorCode::ValidationFailed,
            format!("{param}: field {field} is required"),
        )
        .with("param", param)
        .with("field", field),
        ErrorKind::Invalid(msg) => ApiError::new(
            ErrorCode::ValidationFailed,
            format!("{param}.{field}: {msg}"),
        )
        .with("param", param)
        .with("field", field),
    }
}

const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

enum BodyKind {
    Form,
    Json,
}

fn body_kind(headers: &HeaderMap) -> Result<BodyKind, ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        // curl -d and many scripts send forms without saying so.
        return Ok(BodyKind::Form);
    };
    let mime = value
        .to_str()
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        // Not text/plain: it is what a page on another site can send without asking
        // (a "simple" cross-origin request), and no client of castd sends forms as text.
        "application/x-www-form-urlencoded" | "" => Ok(BodyKind::Form),
        "application/json" => Ok(BodyKind::Json),
        m if m.starts_with("application/") && m.ends_with("+json") => Ok(BodyKind::Json),
        other => Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            format!("unsupported Content-Type {other}; send application/x-www-form-urlencoded or application/json"),
        )
        .with("contentType", other.to_string())),
    }
}

/// Reads a request body, refusing more than `limit` bytes with 413.
pub(crate) async fn read_body(req: Request, limit: usize) -> Result<bytes::Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            ErrorCode::BodyTooLarge,
            format!("the request body exceeds {limit} bytes"),
        )
        .with("limit", limit)
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    match http_body_util::Limited::new(req.into_body(), limit)
        .collect()
        .await
    {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(e) => Err(ApiError::new(
            ErrorCode::MalformedForm,
            format!("cannot read the request body: {e}"),
        )),
    }
}

/// All parameters of a request: query string, then the body (form or JSON) over it.
pub(crate) async fn request_params(req: Request) -> Result<Params, ApiError> {
    let limit = req
        .extensions()
        .get::<BodyLimit>()
        .map_or(DEFAULT_BODY_LIMIT, |l| l.0);
    let mut params = Params::from_query(req.uri().query())?;
    let kind = body_kind(req.headers());
    let body = read_body(req, limit).await?;
    if !body.is_empty() {
        params.extend(match kind? {
            BodyKind::Form => Params::from_form(&body)?,
            BodyKind::Json => Params::from_json(&body)?,
        })?;
    }
    Ok(params)
}

/// Extractor: the request's parameters (query + form or JSON body) read into `T`.
pub(crate) struct Form<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Form<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        request_params(req).await?.deserialize().map(Form)
    }
}

/// Extractor: only the query string read into `T` (for GET routes).
pub(crate) struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        Params::from_query(parts.uri.query())?
            .deserialize()
            .map(Query)
    }
}

/// Extractor: path segments read into `T`, with errors in the common format.
pub(crate) struct PathParam<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for PathParam<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(PathParam(value)),
            Err(rejection) => Err(ApiError::new(
                ErrorCode::BadPathParam,
                rejection.body_text(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Create {
        user: crate::model::UserInput,
        password: String,
    }

    fn code(err: ApiError) -> (StatusCode, &'static str, serde_json::Value) {
        (
            err.status(),
            err.code.as_str(),
            serde_json::Value::Object(err.params),
        )
    }

    #[test]
    fn missing_and_malformed_parameters_are_400() {
        let (status, c, params) = code(
            Params::from_form(b"user={}")
                .unwrap()
                .deserialize::<Create>()
                .unwrap_err(),
        );
        assert_eq!(
            (status, c),
            (StatusCode::BAD_REQUEST, "request.missing_param")
        );
        assert_eq!(params["param"], "password");

        let (status, c, params) = code(
            Params::from_form(b"user=%7B%22roles%22%3A&password=x")
                .unwrap()
                .deserialize::<Create>()
                .unwrap_err(),
        );
        assert_eq!(
            (status, c),
            (StatusCode::BAD_REQUEST, "request.malformed_json")
        );
        assert_eq!(params["param"], "user");
    }

    #[test]
    fn bad_content_inside_json_is_422_with_the_field() {
        let err = Params::from_form(br#"user={"roles":["Janitor"]}&password=x"#)
            .unwrap()
            .deserialize::<Create>()
            .unwrap_err();
        let (status, c, params) = code(err);
        assert_eq!(
            (status, c),
            (StatusCode::UNPROCESSABLE_ENTITY, "validation.invalid_field")
        );
        assert_eq!(params["param"], "user");
        assert_eq!(params["field"], "roles[0]");
    }

    #[test]
    fn json_bodies_must_be_objects() {
        assert_eq!(
            Params::from_json(b"[1]").unwrap_err().code,
            ErrorCode::MalformedJson
        );
        assert_eq!(
            Params::from_json(b"{").unwrap_err().code,
            ErrorCode::MalformedJson
        );
        assert!(Params::from_json(b"  ").unwrap().0.is_empty());
    }

    #[test]
    fn later_values_win() {
        let mut p = Params::from_query(Some("limit=1&limit=2")).unwrap();
        p.extend(Params::from_form(b"limit=3").unwrap()).unwrap();
        #[derive(Deserialize)]
        struct L {
            limit: u32,
        }
        assert_eq!(p.deserialize::<L>().unwrap().limit, 3);
    }

    /// What each name reads as after merging, in the order the names are read.
    fn merged(query: &str, body: &[u8]) -> Vec<(String, Lenient)> {
        let mut p = Params::from_query(Some(query)).unwrap();
        p.extend(Params::from_form(body).unwrap()).unwrap();
        p.dedupe();
        p.0
    }

    fn text(k: &str, v: &str) -> (String, Lenient) {
        (k.to_string(), Lenient::Text(v.to_string()))
    }

    #[test]
    fn merging_keeps_the_last_value_of_each_name_where_it_was_given() {
        // The body overrides the query; within one source the last repetition wins; names
        // given once keep their place.
        assert_eq!(
            merged("a=1&b=2&a=3&c=4", b"b=5&d=6&b=7"),
            vec![
                text("a", "3"),
                text("c", "4"),
                text("d", "6"),
                text("b", "7")
            ]
        );
        assert_eq!(merged("", b"x=1"), vec![text("x", "1")]);
        assert_eq!(merged("x=1", b""), vec![text("x", "1")]);
        // A JSON body overrides the query the same way.
        let mut p = Params::from_query(Some("limit=1&title=q")).unwrap();
        p.extend(Params::from_json(br#"{"limit":2}"#).unwrap())
            .unwrap();
        p.dedupe();
        assert_eq!(
            p.0,
            vec![
                text("title", "q"),
                ("limit".to_string(), Lenient::Json(serde_json::json!(2)))
            ]
        );
    }

    #[test]
    fn more_parameters_than_the_cap_are_refused_with_their_own_code() {
        // The body of the reported attack: 138,888 empty keys in about 1 MB.
        let body: Vec<u8> = (0..138_888)
            .map(|i| format!("k{i}"))
            .collect::<Vec<_>>()
            .join("&")
            .into_bytes();
        assert_eq!(body.len(), 999_993);
        let err = Params::from_form(&body).unwrap_err();
        assert_eq!(err.code, ErrorCode::TooManyParams);
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
        assert_eq!(err.params["limit"], MAX_PARAMS);

        let json = format!(
            "{{{}}}",
            (0..=MAX_PARAMS)
                .map(|i| format!("\"k{i}\":1"))
                .collect::<Vec<_>>()
                .join(",")
        );
        assert_eq!(
            Params::from_json(json.as_bytes()).unwrap_err().code,
            ErrorCode::TooManyParams
        );

        // Exactly the cap is fine; the cap counts query and body together.
        let at_cap = (0..MAX_PARAMS)
            .map(|i| format!("k{i}"))
            .collect::<Vec<_>>()
            .join("&");
        let mut p = Params::from_form(at_cap.as_bytes()).unwrap();
        assert_eq!(p.0.len(), MAX_PARAMS);
        assert_eq!(
            p.extend(Params::from_form(b"one=more").unwrap())
                .unwrap_err()
                .code,
            ErrorCode::TooManyParams
        );
        let mut q = Params::from_query(Some("q=1")).unwrap();
        assert_eq!(
            q.extend(Params::from_form(at_cap.as_bytes()).unwrap())
                .unwrap_err()
                .code,
            ErrorCode::TooManyParams
        );
    }
}
