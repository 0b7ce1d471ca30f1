//! Legacy user data stream endpoints (retired by the venue in 2026, served for older clients
//! such as binance-connector): `POST`, `PUT` and `DELETE /api/v3/userDataStream`, API key
//! only (no signature), weight 2; an unknown key is `-1125`.

use axum::extract::State;
use axum::response::Response;
use serde_json::json;

use super::{ApiRequest, weighed};
use crate::errors::ApiError;
use crate::server::AppState;

/// `POST /api/v3/userDataStream` → `{"listenKey":"<64 characters>"}`.
pub(crate) async fn create(State(state): State<AppState>, req: ApiRequest) -> Response {
    let result = async {
        let account = req.api_key_account(&state)?;
        req.params.check_all_read()?;
        let key = state.listen_keys.create(account, state.clock.now_ms());
        Ok(json!({ "listenKey": key }).to_string())
    };
    weighed(&state, &req, 2, result).await
}

/// `PUT /api/v3/userDataStream?listenKey=...` → `{}`.
pub(crate) async fn keepalive(State(state): State<AppState>, req: ApiRequest) -> Response {
    let result = async {
        let account = req.api_key_account(&state)?;
        let key = req.params.required("listenKey")?;
        req.params.check_all_read()?;
        if state
            .listen_keys
            .keepalive(account, key, state.clock.now_ms())
        {
            Ok("{}".to_owned())
        } else {
            Err(ApiError::unknown_listen_key())
        }
    };
    weighed(&state, &req, 2, result).await
}

/// `DELETE /api/v3/userDataStream?listenKey=...` → `{}`.
pub(crate) async fn close(State(state): State<AppState>, req: ApiRequest) -> Response {
    let result = async {
        let account = req.api_key_account(&state)?;
        let key = req.params.required("listenKey")?;
        req.params.check_all_read()?;
        if state.listen_keys.close(account, key, state.clock.now_ms()) {
            Ok("{}".to_owned())
        } else {
            Err(ApiError::unknown_listen_key())
        }
    };
    weighed(&state, &req, 2, result).await
}
