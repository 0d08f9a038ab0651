//! The one error type of the HTTP layer.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error answered to an HTTP client. 4xx errors carry a message for the user; 5xx errors
/// answer a generic body and log the real cause once, here.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("authentication required: send `Authorization: Bearer TOKEN`")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// A `Host` the server does not answer to.
    #[error("{0}")]
    MisdirectedHost(String),
    #[error("the request body did not arrive within {0} seconds")]
    BodyTimeout(u64),
    #[error("{0}")]
    Conflict(String),
    #[error("request body is larger than {0} bytes")]
    TooLarge(usize),
    #[error("{0}")]
    Unavailable(String),
    /// A stored record that cannot be read: named (it names a build or job, never a secret),
    /// so the damaged build is known; the rest of the store is served.
    #[error("stored record `{0}` is damaged; the server's log has the details")]
    Damaged(String),
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    pub fn internal(err: impl std::error::Error + Send + Sync + 'static) -> ApiError {
        ApiError::Internal(Box::new(err))
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MisdirectedHost(_) => StatusCode::MISDIRECTED_REQUEST,
            ApiError::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Damaged(_) | ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<kiln_store::StoreError> for ApiError {
    fn from(err: kiln_store::StoreError) -> ApiError {
        match err {
            kiln_store::StoreError::NoSuchBuild(b) => {
                ApiError::NotFound(format!("build {b} does not exist"))
            }
            kiln_store::StoreError::InvalidJobName(_) => ApiError::BadRequest(err.to_string()),
            kiln_store::StoreError::Corrupt { ref key, .. } => {
                tracing::error!(error = %ErrorChain(&err), "a stored record is damaged");
                ApiError::Damaged(key.clone())
            }
            other => ApiError::internal(other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let ApiError::Internal(err) = &self {
            tracing::error!(error = %ErrorChain(err.as_ref()), "request failed");
        }
        let body = json!({ "error": self.to_string() });
        let mut response = (status, axum::Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"kiln\""),
            );
        }
        response
    }
}

/// Displays an error with its sources, `a: b: c`.
pub(crate) struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(s) = source {
            write!(f, ": {s}")?;
            source = s.source();
        }
        Ok(())
    }
}

impl From<kiln_scheduler::TriggerError> for ApiError {
    fn from(err: kiln_scheduler::TriggerError) -> ApiError {
        use kiln_scheduler::TriggerError as E;
        match err {
            E::UnknownJob(job) => ApiError::NotFound(format!("no job named `{job}`")),
            E::InvalidParams(_)
            | E::BranchRequired { .. }
            | E::BranchNotMatched { .. }
            | E::NotDiscovered { .. } => ApiError::BadRequest(err.to_string()),
            E::Source(_) | E::NoJenkinsfile { .. } | E::Multibranch(_) | E::AlreadyBuilt(_) => {
                ApiError::Conflict(err.to_string())
            }
            E::Child { .. } => ApiError::internal(err),
            E::ShuttingDown => ApiError::Unavailable(err.to_string()),
            E::Store(_) => ApiError::internal(err),
        }
    }
}

impl From<kiln_scheduler::ControlError> for ApiError {
    fn from(err: kiln_scheduler::ControlError) -> ApiError {
        use kiln_scheduler::ControlError as E;
        match err {
            E::NotFound(_) => ApiError::NotFound(err.to_string()),
            E::Finished(_) | E::NoPendingInput(_) => ApiError::Conflict(err.to_string()),
            E::UnknownInputParameter { .. } | E::BadInputValue { .. } => {
                ApiError::BadRequest(err.to_string())
            }
            E::ShuttingDown | E::NoAnswer { .. } => ApiError::Unavailable(err.to_string()),
            E::Owner { .. } => ApiError::Conflict(err.to_string()),
            E::Store(_) => ApiError::internal(err),
        }
    }
}
