//! `ApiError`: every failure the fake's API returns, rendered as a `metav1.Status` body.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// One field-level cause of an `Invalid` status, as the apiserver lists them in `details.causes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldCause {
    /// `FieldValueInvalid`, `FieldValueRequired`, `FieldValueDuplicate`, ...
    pub reason: &'static str,
    /// The field path, e.g. `spec.containers[1].name`.
    pub field: String,
    /// The message without the field path, e.g. `Duplicate value: "a"`.
    pub message: String,
}

impl FieldCause {
    /// `Invalid value: "<value>": <detail>`.
    pub fn invalid(field: impl Into<String>, value: &str, detail: &str) -> Self {
        Self {
            reason: "FieldValueInvalid",
            field: field.into(),
            message: format!("Invalid value: {}: {detail}", quote(value)),
        }
    }

    /// `Required value`.
    pub fn required(field: impl Into<String>) -> Self {
        Self {
            reason: "FieldValueRequired",
            field: field.into(),
            message: "Required value".to_owned(),
        }
    }

    /// `Duplicate value: "<value>"`.
    pub fn duplicate(field: impl Into<String>, value: &str) -> Self {
        Self {
            reason: "FieldValueDuplicate",
            field: field.into(),
            message: format!("Duplicate value: {}", quote(value)),
        }
    }

    /// `Not found: "<value>"`.
    pub fn not_found(field: impl Into<String>, value: &str) -> Self {
        Self {
            reason: "FieldValueNotFound",
            field: field.into(),
            message: format!("Not found: {}", quote(value)),
        }
    }

    /// `Unsupported value: "<value>": supported values: "a", "b"`.
    pub fn not_supported(field: impl Into<String>, value: &str, supported: &[&str]) -> Self {
        let list: Vec<String> = supported.iter().map(|s| quote(s)).collect();
        Self {
            reason: "FieldValueNotSupported",
            field: field.into(),
            message: format!(
                "Unsupported value: {}: supported values: {}",
                quote(value),
                list.join(", ")
            ),
        }
    }

    /// `Forbidden: <detail>`.
    pub fn forbidden(field: impl Into<String>, detail: &str) -> Self {
        Self {
            reason: "FieldValueForbidden",
            field: field.into(),
            message: format!("Forbidden: {detail}"),
        }
    }

    fn full(&self) -> String {
        format!("{}: {}", self.field, self.message)
    }
}

fn quote(value: &str) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| format!("\"{value}\""))
}

/// An API failure: the HTTP code, the Status `reason`, a message and optional details.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code} {reason}: {message}")]
pub struct ApiError {
    /// HTTP status code, also written to `code` in the body.
    pub code: u16,
    /// Status reason, e.g. `NotFound`, `AlreadyExists`, `Invalid`.
    pub reason: &'static str,
    /// Human readable message, formatted like the apiserver's.
    pub message: String,
    /// The `details` object, if any.
    pub details: Option<Value>,
}

impl ApiError {
    /// `404 NotFound`: `pods "x" not found`.
    pub fn not_found(resource: &str, name: &str) -> Self {
        Self {
            code: 404,
            reason: "NotFound",
            message: format!("{resource} \"{name}\" not found"),
            details: Some(json!({"name": name, "kind": resource})),
        }
    }

    /// `403 Forbidden`: `pods "x" is forbidden: <why>` (admission and authorization).
    pub fn forbidden(resource: &str, name: &str, why: &str) -> Self {
        let subject = if name.is_empty() {
            resource.to_owned()
        } else {
            format!("{resource} \"{name}\"")
        };
        Self {
            code: 403,
            reason: "Forbidden",
            message: format!("{subject} is forbidden: {why}"),
            details: Some(json!({"name": name, "kind": resource})),
        }
    }

    /// `401 Unauthorized` for a missing or unknown bearer token.
    pub fn unauthorized() -> Self {
        Self {
            code: 401,
            reason: "Unauthorized",
            message: "Unauthorized".to_owned(),
            details: None,
        }
    }

    /// `404 NotFound` for a path the fake does not serve.
    pub fn no_route() -> Self {
        Self {
            code: 404,
            reason: "NotFound",
            message: "the server could not find the requested resource".to_owned(),
            details: Some(json!({})),
        }
    }

    /// `409 AlreadyExists`: `pods "x" already exists`.
    pub fn already_exists(resource: &str, name: &str) -> Self {
        Self {
            code: 409,
            reason: "AlreadyExists",
            message: format!("{resource} \"{name}\" already exists"),
            details: Some(json!({"name": name, "kind": resource})),
        }
    }

    /// `409 Conflict` for a stale resourceVersion on update.
    pub fn conflict(resource: &str, name: &str) -> Self {
        Self {
            code: 409,
            reason: "Conflict",
            message: format!(
                "Operation cannot be fulfilled on {resource} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
            ),
            details: Some(json!({"name": name, "kind": resource})),
        }
    }

    /// `400 BadRequest` with a message.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self {
            code: 400,
            reason: "BadRequest",
            message: message.into(),
            details: None,
        }
    }

    /// `405 MethodNotAllowed`.
    pub fn method_not_allowed() -> Self {
        Self {
            code: 405,
            reason: "MethodNotAllowed",
            message: "the server does not allow this method on the requested resource".to_owned(),
            details: None,
        }
    }

    /// `415 UnsupportedMediaType` for a patch type the fake does not know.
    pub fn unsupported_media_type(content_type: &str) -> Self {
        Self {
            code: 415,
            reason: "UnsupportedMediaType",
            message: format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml (got {content_type})"
            ),
            details: None,
        }
    }

    /// `410 Expired` for a list at an exact resourceVersion that has been compacted.
    pub fn list_expired() -> Self {
        Self {
            code: 410,
            reason: "Expired",
            message: "The resourceVersion for the provided list is too old.".to_owned(),
            details: None,
        }
    }

    /// `504 Timeout` for a list at a resourceVersion the server has not reached.
    pub fn too_large_resource_version(requested: u64, current: u64) -> Self {
        Self {
            code: 504,
            reason: "Timeout",
            message: format!(
                "Timeout: Too large resource version: {requested}, current: {current}"
            ),
            details: Some(json!({"causes": [{"reason": "ResourceVersionTooLarge",
                "message": "Too large resource version"}], "retryAfterSeconds": 1})),
        }
    }

    /// `415 UnsupportedMediaType` for a body in a format the fake does not decode (protobuf).
    pub fn unsupported_body(content_type: &str) -> Self {
        Self {
            code: 415,
            reason: "UnsupportedMediaType",
            message: format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (got {content_type})"
            ),
            details: None,
        }
    }

    /// `410 Expired` for a watch or list from a compacted resourceVersion.
    pub fn expired(requested: u64, oldest: u64) -> Self {
        Self {
            code: 410,
            reason: "Expired",
            message: format!("too old resource version: {requested} ({oldest})"),
            details: None,
        }
    }

    /// The answer to a request that was performed but whose answer a fault lost: `504
    /// Timeout` as an API server says it when a request outlives its timeout (or another
    /// status, as a load balancer in front of it might answer).
    pub fn timed_out(code: u16) -> Self {
        Self {
            code,
            reason: if code == 504 {
                "Timeout"
            } else {
                "InternalError"
            },
            message: "Timeout: request did not complete within the allotted timeout \
                      (injected fault: the request was performed, its answer lost)"
                .to_owned(),
            details: Some(
                json!({"causes": [{"message": "injected fault after the request was performed"}]}),
            ),
        }
    }

    /// `500 InternalError` (or another 5xx) injected by a fault.
    pub fn injected(code: u16) -> Self {
        let reason = match code {
            503 => "ServiceUnavailable",
            504 => "Timeout",
            _ => "InternalError",
        };
        Self {
            code,
            reason,
            message: format!("Internal error occurred: injected fault (HTTP {code})"),
            details: Some(json!({"causes": [{"message": "injected fault"}]})),
        }
    }

    /// `422 Invalid` with field causes, formatted like `Pod "x" is invalid: [a, b]`.
    pub fn invalid(kind: &str, name: &str, causes: &[FieldCause]) -> Self {
        let joined = if let [one] = causes {
            one.full()
        } else {
            let all: Vec<String> = causes.iter().map(FieldCause::full).collect();
            format!("[{}]", all.join(", "))
        };
        let causes_json: Vec<Value> = causes
            .iter()
            .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
            .collect();
        Self {
            code: 422,
            reason: "Invalid",
            message: format!("{kind} \"{name}\" is invalid: {joined}"),
            details: Some(json!({"name": name, "kind": kind, "causes": causes_json})),
        }
    }

    /// The `metav1.Status` body.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let (Some(details), Some(obj)) = (&self.details, status.as_object_mut()) {
            obj.insert("details".to_owned(), details.clone());
        }
        status
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (code, axum::Json(self.to_status())).into_response()
    }
}
