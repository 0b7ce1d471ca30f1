//! Session authentication of the WebSocket API: `session.logon` (Ed25519 keys only, signed
//! like any request), after which requests may omit `apiKey` and `signature`;
//! `session.status`; `session.logout`, which ends the subscriptions `userDataStream.subscribe`
//! opened (each gets `eventStreamTerminated`). Every answer has the venue's session shape:
//! `{"apiKey","authorizedSince","connectedSince","returnRateLimits","serverTime","userDataStream"}`.

use axum::extract::ws::Message;
use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use super::WsApiSession;
use crate::engine::AccountId;
use crate::errors::ApiError;
use crate::rest::Params;

/// The key a connection is logged on with.
#[derive(Clone, Debug)]
pub(super) struct Logon {
    pub api_key: String,
    pub account: AccountId,
    pub since: i64,
}

impl WsApiSession {
    /// `session.logon`: a signed request with an Ed25519 key.
    pub(super) fn session_logon(
        &mut self,
        params: &Map<String, Value>,
        p: &Params,
    ) -> Result<Value, ApiError> {
        let (account, ed25519) = self.verify_signed(params, p)?;
        if !ed25519 {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                -4056,
                "HMAC_SHA256 API key is not supported.",
            ));
        }
        self.logon = Some(Logon {
            api_key: p.get("apiKey").unwrap_or_default().to_owned(),
            account,
            since: self.state.clock.now_ms(),
        });
        Ok(self.session_status())
    }

    /// `session.status`: the session's key (null when not logged on) and times.
    pub(super) fn session_status(&self) -> Value {
        json!({
            "apiKey": self.logon.as_ref().map(|l| l.api_key.clone()),
            "authorizedSince": self.logon.as_ref().map(|l| l.since),
            "connectedSince": self.connected_since,
            "returnRateLimits": self.return_rate_limits,
            "serverTime": self.state.clock.now_ms(),
            "userDataStream": !self.subs.is_empty(),
        })
    }

    /// `session.logout`: forgets the key and ends the logon's subscriptions.
    pub(super) fn session_logout(&mut self, events: &mut Vec<Message>) -> Value {
        self.logon = None;
        let removed = std::mem::take(&mut self.logon_subs);
        self.subs.retain(|(id, _)| !removed.contains(id));
        self.terminate(&removed, events);
        self.session_status()
    }

    /// The logged-on account, for `userDataStream.subscribe`.
    pub(super) fn logged_on(&self) -> Result<AccountId, ApiError> {
        self.logon.as_ref().map(|l| l.account).ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                -1002,
                "You are not authorized to execute this request.",
            )
        })
    }
}
