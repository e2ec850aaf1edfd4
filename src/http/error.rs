//! [`ApiError`]: the one error type of the API and its JSON bodies.
//!
//! | status | body |
//! |---|---|
//! | 400 | `{"error":"bad_request","field":…,"message":…}` (malformed JSON or a wrong type) |
//! | 401 | `{"error":"unauthorized","message":…}` |
//! | 403 | `{"error":"csrf","message":…}` |
//! | 404 | `{"error":"not_found","kind":…,"id":…}` or `{"error":"no_route"}` |
//! | 409 | `{"error":"exists",…}` or `{"error":"in_use","used_by":[…]}` naming every user |
//! | 422 | `{"error":"invalid","errors":[{"field","rule","message"}]}` |
//! | 429 | `{"error":"locked","retry_after_s":…}` with `Retry-After` |

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse, ResponseError};
use serde_json::json;
use vpbx_store::integrity::UsedBy;
use vpbx_store::{Rejection, StoreError, ValidationError};

/// Everything an API call can answer besides success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request breaks validation rules (422).
    #[error("invalid: {}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<ValidationError>),
    /// The request body or query cannot be read (400).
    #[error("bad request: {message}")]
    BadRequest {
        /// The offending field, when known (`phones[0].lines`).
        field: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// No such entity (404).
    #[error("{kind} {id} does not exist")]
    NotFound {
        /// Kind.
        kind: &'static str,
        /// Id.
        id: String,
    },
    /// No such route (404).
    #[error("no such route")]
    NoRoute,
    /// Already exists (409).
    #[error("{kind} {id} already exists")]
    Exists {
        /// Kind.
        kind: &'static str,
        /// Id.
        id: String,
    },
    /// Used elsewhere (409).
    #[error("{kind} {id} is in use")]
    InUse {
        /// Kind.
        kind: &'static str,
        /// Id.
        id: String,
        /// Every user.
        users: Vec<UsedBy>,
    },
    /// Not authenticated (401).
    #[error("authentication required")]
    Unauthorized(&'static str),
    /// Cookie session without a valid CSRF token on an unsafe method (403).
    #[error("CSRF token missing or wrong")]
    Csrf,
    /// Too many failed logins (429).
    #[error("too many failed logins; retry in {retry_after_s} s")]
    Locked {
        /// Seconds until the lockout ends.
        retry_after_s: u64,
    },
    /// A part of the switch is not available (503).
    #[error("{0} unavailable")]
    Unavailable(String),
    /// The store failed (500).
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// Anything else that is our fault (500).
    #[error("internal: {0}")]
    Internal(String),
}

impl From<Rejection> for ApiError {
    fn from(r: Rejection) -> Self {
        match r {
            Rejection::Invalid(errors) => ApiError::Invalid(errors),
            Rejection::NotFound { kind, id } => ApiError::NotFound { kind, id },
            Rejection::Exists { kind, id } => ApiError::Exists { kind, id },
            Rejection::InUse { kind, id, users } => ApiError::InUse { kind, id, users },
        }
    }
}

impl ApiError {
    /// A 400 for a body that does not deserialize, naming the field.
    ///
    /// serde names an unknown field in the path (`nick`), except inside an internally tagged
    /// enum (a scenario operation, a phone), whose content it buffers: there the path stops at
    /// the enum, and the unknown name from the message is added, so every typo is located the
    /// same way (`operations.a.action.max_sec`, `phones[0].line`).
    pub fn body<E: std::fmt::Display>(e: serde_path_to_error::Error<E>) -> ApiError {
        let path = e.path().to_string();
        let message = e.inner().to_string();
        let mut field = (path != ".").then_some(path);
        if let Some(name) = message
            .strip_prefix("unknown field `")
            .and_then(|rest| rest.split_once('`'))
            .map(|(name, _)| name)
        {
            field = Some(match field {
                Some(p) if p.rsplit('.').next() == Some(name) => p,
                Some(p) => format!("{p}.{name}"),
                None => name.to_owned(),
            });
        }
        ApiError::BadRequest { field, message }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::NotFound { .. } | ApiError::NoRoute => StatusCode::NOT_FOUND,
            ApiError::Exists { .. } | ApiError::InUse { .. } => StatusCode::CONFLICT,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Csrf => StatusCode::FORBIDDEN,
            ApiError::Locked { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Store(e) if e.is_full() => StatusCode::INSUFFICIENT_STORAGE,
            ApiError::Store(_) | ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let message = self.to_string();
        let body = match self {
            ApiError::Invalid(errors) => json!({"error": "invalid", "errors": errors}),
            ApiError::BadRequest { field, message } => {
                json!({"error": "bad_request", "field": field, "message": message})
            }
            ApiError::NotFound { kind, id } => {
                json!({"error": "not_found", "kind": kind, "id": id, "message": message})
            }
            ApiError::NoRoute => json!({"error": "no_route", "message": message}),
            ApiError::Exists { kind, id } => {
                json!({"error": "exists", "kind": kind, "id": id, "message": message})
            }
            ApiError::InUse { kind, id, users } => json!({
                "error": "in_use",
                "kind": kind,
                "id": id,
                "message": format!("{message}: {}", users.iter().map(|u| u.to_string()).collect::<Vec<_>>().join("; ")),
                "used_by": users,
            }),
            ApiError::Unauthorized(why) => json!({"error": "unauthorized", "message": why}),
            ApiError::Csrf => json!({"error": "csrf", "message": message}),
            ApiError::Locked { retry_after_s } => {
                json!({"error": "locked", "retry_after_s": retry_after_s, "message": message})
            }
            ApiError::Unavailable(_) => json!({"error": "unavailable", "message": message}),
            ApiError::Store(e) if e.is_full() => {
                tracing::error!(error = %message, "API write refused: the disk is full");
                json!({"error": "storage_full", "message": e.to_string()})
            }
            ApiError::Store(_) | ApiError::Internal(_) => {
                tracing::error!(error = %message, "API request failed");
                json!({"error": "internal", "message": message})
            }
        };
        let mut resp = HttpResponse::build(self.status_code());
        match self {
            ApiError::Locked { retry_after_s } => {
                resp.insert_header(("Retry-After", retry_after_s.to_string()));
            }
            ApiError::Unauthorized(_) => {
                resp.insert_header(("WWW-Authenticate", "Bearer realm=\"vpbx\""));
            }
            _ => {}
        }
        resp.json(body)
    }
}

/// JSON extractor settings: malformed bodies answer 400 with JSON naming the field.
pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(|err, _req| {
            use actix_web::error::JsonPayloadError;
            let (field, message) = match &err {
                JsonPayloadError::Deserialize(e) => (None, format!("malformed JSON: {e}")),
                other => (None, other.to_string()),
            };
            ApiError::BadRequest { field, message }.into()
        })
}

/// Flattens a store write result.
pub fn written<T>(r: Result<Result<T, Rejection>, StoreError>) -> Result<T, ApiError> {
    Ok(r??)
}
