//! The fault control API (never faulted, weighs nothing):
//! - `POST /_sim/faults` with a [`FaultSpec`](super::FaultSpec) → `{"id": N}`;
//! - `GET /_sim/faults` → the active faults, `[{"id","fault","params","remaining_ms"}]`;
//! - `DELETE /_sim/faults/{id}` → `{"id": N}` (404 if not active);
//! - `DELETE /_sim/faults` → `{"cleared": n}`.
//!
//! Bad JSON, unknown names or parameters and bad ids are 400 with a venue-style error body.

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{delete, get};
use serde_json::json;

use super::{FaultId, FaultSpec};
use crate::errors::ApiError;
use crate::rest::{reply, to_json};
use crate::server::AppState;

/// The `/_sim/faults` routes (state is supplied by the caller).
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/_sim/faults", get(list).post(inject).delete(clear_all))
        .route("/_sim/faults/{id}", delete(clear_one))
}

fn bad_request(detail: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        -1100,
        format!("Invalid fault request: {detail}"),
    )
}

async fn inject(State(state): State<AppState>, body: Result<Bytes, BytesRejection>) -> Response {
    let result = body
        .map_err(bad_request)
        .and_then(|body| serde_json::from_slice::<FaultSpec>(&body).map_err(bad_request))
        .and_then(|spec| state.faults.inject(spec).map_err(bad_request))
        .map(|id| json!({ "id": id }).to_string());
    reply(0, result)
}

async fn list(State(state): State<AppState>) -> Response {
    reply(0, to_json(&state.faults.active()))
}

async fn clear_one(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Response {
    let result = id
        .map_err(bad_request)
        .and_then(|Path(id)| {
            id.parse::<u64>()
                .map_err(|_| bad_request("id must be a number"))
        })
        .and_then(|id| {
            if state.faults.clear(FaultId(id)) {
                Ok(json!({ "id": id }).to_string())
            } else {
                Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    -2013,
                    "Fault does not exist.",
                ))
            }
        });
    reply(0, result)
}

async fn clear_all(State(state): State<AppState>) -> Response {
    let cleared = state.faults.clear_all();
    reply(0, Ok(json!({ "cleared": cleared }).to_string()))
}
