//! WebSocket API methods. Signed ones carry `apiKey`, `timestamp`, `signature` (HMAC over the
//! sorted params) and optionally `recvWindow` inside `params`; the order methods run the same
//! operations as their REST endpoints, so parameters, errors and effects are identical.
//!
//! `ping`, `time`, `exchangeInfo`, `depth`, `order.place`, `order.test`, `order.cancel`,
//! `order.cancelReplace`, `order.amend.keepPriority`,
//! `order.status`, `openOrders.status`, `openOrders.cancelAll`, `allOrders`, `myTrades`,
//! `account.status`,
//! `userDataStream.subscribe.signature`, `userDataStream.unsubscribe`, `session.subscriptions`,
//! and (in `session`) `session.logon`, `session.status`, `session.logout`,
//! `userDataStream.subscribe`.

use axum::extract::ws::Message;
use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use super::{Outcome, WsApiSession};
use crate::auth::{SignedParams, check_signed, ws_payload};
use crate::engine::AccountId;
use crate::errors::ApiError;
use crate::rest::{Params, account, amend, cancel_replace, market_data, orders};
use crate::wire;

impl WsApiSession {
    /// Runs one method.
    pub(super) async fn dispatch(&mut self, method: &str, params: &Map<String, Value>) -> Outcome {
        let state = self.state.clone();
        let p = Params::from_json(params);
        let signed = |weight: u32| {
            let auth = self
                .reserve(weight)
                .and_then(|()| self.authenticate(params, &p));
            (weight, auth)
        };
        match method {
            "ping" => Outcome::new(1, Ok(json!({}))),
            "time" => Outcome::new(1, Ok(json!({ "serverTime": state.clock.now_ms() }))),
            "exchangeInfo" => {
                let result = self.reserve(20);
                Outcome::new(
                    20,
                    parsed(result.and_then(|()| market_data::exchange_info_op(&state, &p))),
                )
            }
            "depth" => {
                let weight = market_data::depth_weight(&p);
                let result = match self.reserve(weight) {
                    Ok(()) => market_data::depth_result(&state, &p).await,
                    Err(error) => Err(error),
                };
                Outcome::new(weight, parsed(result))
            }
            "order.place" => {
                placement(signed(1), |a| async move {
                    let result = orders::place_op(&state, &p, a).await;
                    (if result.is_ok() { 0 } else { 1 }, result)
                })
                .await
            }
            "order.test" => run(signed(1), |a| orders::test_op(&state, &p, a)).await,
            // Successful cancels weigh 0, failed ones 1 (as REST).
            "order.cancel" => {
                zero_if_ok(run(signed(1), |a| orders::cancel_op(&state, &p, a)).await)
            }
            "order.cancelReplace" => {
                placement(signed(1), |a| {
                    cancel_replace::cancel_replace_op(&state, &p, a)
                })
                .await
            }
            "order.amend.keepPriority" => {
                run(signed(amend::AMEND_WEIGHT), |a| {
                    amend::amend_op(&state, &p, a)
                })
                .await
            }
            "order.status" => run(signed(4), |a| orders::query_op(&state, &p, a)).await,
            "openOrders.status" => {
                let weight = if params.contains_key("symbol") { 6 } else { 80 };
                run(signed(weight), |a| orders::open_orders_op(&state, &p, a)).await
            }
            "openOrders.cancelAll" => {
                zero_if_ok(run(signed(1), |a| orders::cancel_all_op(&state, &p, a)).await)
            }
            "allOrders" => run(signed(20), |a| orders::all_orders_op(&state, &p, a)).await,
            "myTrades" => {
                let weight = if params.contains_key("orderId") {
                    5
                } else {
                    20
                };
                run(signed(weight), |a| account::my_trades_op(&state, &p, a)).await
            }
            "account.status" => run(signed(20), |a| account::account_op(&state, &p, a)).await,
            "userDataStream.subscribe.signature" => {
                let (weight, auth) = signed(2);
                Outcome::new(weight, auth.and_then(|account| self.subscribe(account)))
            }
            "userDataStream.unsubscribe" => {
                let mut events = Vec::new();
                let result = self.unsubscribe(params, &mut events);
                let mut outcome = Outcome::new(2, result);
                outcome.events = events;
                outcome
            }
            "session.logon" => Outcome::new(2, self.session_logon(params, &p)),
            "session.status" => Outcome::new(2, Ok(self.session_status())),
            "session.logout" => {
                let mut events = Vec::new();
                let result = Ok(self.session_logout(&mut events));
                let mut outcome = Outcome::new(2, result);
                outcome.events = events;
                outcome
            }
            "userDataStream.subscribe" => {
                let result = self.logged_on().and_then(|account| {
                    let result = self.subscribe(account)?;
                    if let Some(id) = result["subscriptionId"].as_u64() {
                        self.logon_subs.push(u32::try_from(id).unwrap_or(u32::MAX));
                    }
                    Ok(result)
                });
                Outcome::new(2, result)
            }
            "session.subscriptions" => {
                let list: Vec<Value> = self
                    .subs
                    .iter()
                    .map(|(id, _)| json!({ "subscriptionId": id }))
                    .collect();
                Outcome::new(2, Ok(json!(list)))
            }
            _ => Outcome::new(
                1,
                Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    -1020,
                    "This operation is not supported.",
                )),
            ),
        }
    }

    /// Checks `apiKey`, the signature over the sorted params and the timestamp window; a
    /// request without `signature` on a logged-on connection acts for the logged-on account.
    fn authenticate(&self, params: &Map<String, Value>, p: &Params) -> Result<AccountId, ApiError> {
        if let Some(logon) = &self.logon
            && !params.contains_key("signature")
        {
            // The session's logon already proved the key; these are read, not re-checked.
            let _ = (p.get("timestamp"), p.get("recvWindow"), p.get("apiKey"));
            return Ok(logon.account);
        }
        self.verify_signed(params, p).map(|(account, _)| account)
    }

    /// Verifies a signed request; returns the account and whether the key is Ed25519.
    pub(super) fn verify_signed(
        &self,
        params: &Map<String, Value>,
        p: &Params,
    ) -> Result<(AccountId, bool), ApiError> {
        let api_key = p
            .required("apiKey")
            .map_err(|_| ApiError::mandatory("apiKey"))?;
        let credential = self.state.keys.lookup(Some(api_key))?;
        let signed = SignedParams {
            timestamp: p.get("timestamp"),
            signature: p.get("signature"),
            recv_window: p.get("recvWindow"),
        };
        let payload = ws_payload(params);
        check_signed(
            credential,
            &signed,
            payload.as_bytes(),
            self.state.clock.now_ms(),
        )?;
        Ok((credential.account, credential.is_ed25519()))
    }

    /// `userDataStream.subscribe.signature` → `{"subscriptionId":N}`.
    fn subscribe(&mut self, account: AccountId) -> Result<Value, ApiError> {
        if self.subs.iter().any(|(_, a)| *a == account) {
            return Err(ApiError::subscription_active());
        }
        if self.user_rx.is_none() {
            self.user_rx = Some(self.state.bus.user_tx.subscribe());
        }
        let id = self.next_sub;
        self.next_sub = self.next_sub.saturating_add(1);
        self.subs.push((id, account));
        Ok(json!({ "subscriptionId": id }))
    }

    /// `userDataStream.unsubscribe` with an optional `subscriptionId` (else all).
    fn unsubscribe(
        &mut self,
        params: &Map<String, Value>,
        events: &mut Vec<Message>,
    ) -> Result<Value, ApiError> {
        let removed: Vec<u32> = match params.get("subscriptionId") {
            None => self.subs.drain(..).map(|(id, _)| id).collect(),
            Some(value) => {
                let wanted = value
                    .as_u64()
                    .ok_or_else(|| ApiError::mandatory("subscriptionId"))?;
                let position = self
                    .subs
                    .iter()
                    .position(|(id, _)| u64::from(*id) == wanted);
                let position = position.ok_or_else(ApiError::subscription_not_active)?;
                vec![self.subs.remove(position).0]
            }
        };
        self.logon_subs.retain(|id| !removed.contains(id));
        self.terminate(&removed, events);
        Ok(json!({}))
    }

    /// Ends the subscriptions `removed` (already taken out of `subs`): `eventStreamTerminated`
    /// on each.
    pub(super) fn terminate(&mut self, removed: &[u32], events: &mut Vec<Message>) {
        if self.subs.is_empty() {
            self.user_rx = None;
        }
        let terminated =
            serde_json::to_string(&wire::events::stream_terminated(self.state.clock.now_ms()))
                .unwrap_or_default();
        events.extend(
            removed.iter().map(|id| {
                Message::text(format!(r#"{{"subscriptionId":{id},"event":{terminated}}}"#))
            }),
        );
    }
}

/// Runs a signed operation once authenticated.
async fn run<F, Fut>((weight, auth): (u32, Result<AccountId, ApiError>), op: F) -> Outcome
where
    F: FnOnce(AccountId) -> Fut,
    Fut: Future<Output = Result<String, ApiError>>,
{
    let result = match auth {
        Ok(account) => op(account).await,
        Err(error) => Err(error),
    };
    Outcome::new(weight, parsed(result))
}

/// A method that places orders: `op` gives its weight and result; it counts as an order
/// request (ORDERS usage in `rateLimits`) for the account.
async fn placement<F, Fut>((_, auth): (u32, Result<AccountId, ApiError>), op: F) -> Outcome
where
    F: FnOnce(AccountId) -> Fut,
    Fut: Future<Output = (u32, Result<String, ApiError>)>,
{
    let account = auth.as_ref().ok().copied();
    let (weight, result) = match auth {
        Ok(account) => op(account).await,
        Err(error) => (1, Err(error)),
    };
    let mut outcome = Outcome::new(weight, parsed(result));
    outcome.order = account;
    outcome
}

/// Successful order placements and cancels weigh nothing; failed ones keep their weight.
fn zero_if_ok(mut outcome: Outcome) -> Outcome {
    if outcome.result.is_ok() {
        outcome.weight = 0;
    }
    outcome
}

/// An operation's JSON text as a value for the `result` field.
fn parsed(result: Result<String, ApiError>) -> Result<Value, ApiError> {
    result.and_then(|text| serde_json::from_str(&text).map_err(|_| ApiError::unknown()))
}
