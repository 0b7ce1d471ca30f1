//! The control port's error body, `{"error": {"code", "message"}}`, and how every failure maps
//! to an HTTP status.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::oms::OmsError;

/// An error answered to a control-port client.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// For a risk refusal: the configured limit the order hit.
    pub limit: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            limit: None,
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }
}

/// The body of every error answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong: a stable machine-readable `code` and a message for people.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
    /// For a pre-trade risk refusal: the configured limit the order hit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
                limit: self.limit,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<OmsError> for ApiError {
    fn from(e: OmsError) -> Self {
        match e {
            OmsError::Invalid { code, message } => ApiError::bad_request(code, message),
            OmsError::Conflict { code, message } => {
                ApiError::new(StatusCode::CONFLICT, code, message)
            }
            OmsError::Risk {
                code,
                message,
                limit,
            } => {
                let mut error = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message);
                error.limit = Some(limit);
                error
            }
            OmsError::NotFound(id) => ApiError::not_found(format!("order {id} not found")),
            OmsError::Unavailable { code, message } => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
            }
            OmsError::Store(e) => {
                tracing::error!(error = %e, "storage failure answering a request");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "storage_error",
                    "storage failure; see the daemon log",
                )
            }
        }
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        ApiError::from(OmsError::Store(e))
    }
}
