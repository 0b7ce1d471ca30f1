//! The user-data stream over the WebSocket API (reference §9, §10): connect, subscribe with
//! `userDataStream.subscribe.signature`, then forward order updates and balances until shutdown.
//!
//! Every (re)subscription is announced with [`UserEvent::Connected`] (events may have been
//! missed: the consumer reconciles); every loss with [`UserEvent::Disconnected`], followed by a
//! reconnect after a capped, jittered backoff, forever. An order update that arrives but cannot
//! be read is announced with [`UserEvent::Gap`] (the consumer reconciles; the stream stays up).

use std::sync::Arc;

use exchange_core::UserEvent;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{
    Backoff, Heartbeat, Session, WsError, connect_within_budget, deliver, sleep_or_shutdown,
    stream_backoff,
};
use crate::Shared;
use crate::auth;
use crate::limits;
use crate::model::{
    BinanceAccountPosition, BinanceExecutionReport, BinanceUserEventFrame, BinanceWsApiResponse,
};
use crate::parse;

const SUBSCRIBE_METHOD: &str = "userDataStream.subscribe.signature";

/// Runs the user stream until `shutdown` fires or the receiver is dropped.
pub(crate) async fn run(
    shared: Arc<Shared>,
    events_tx: mpsc::Sender<UserEvent>,
    shutdown: CancellationToken,
) {
    let mut backoff = stream_backoff(&shared.config);
    let mut request_id: u64 = 0;
    loop {
        let err = match session(
            &shared,
            &events_tx,
            &shutdown,
            &mut backoff,
            &mut request_id,
        )
        .await
        {
            Err(WsError::Shutdown | WsError::ReceiverGone) => {
                shared.counters.user.set_connected(false);
                return;
            }
            Err(err) => err,
            Ok(never) => match never {},
        };
        let counters = &shared.counters;
        counters.reconnect(&counters.user, err.reason(), &err);
        // A planned rotation reconnects at once; anything else backs off.
        let delay = match err {
            WsError::MaxAge => {
                backoff.connection_ended();
                std::time::Duration::ZERO
            }
            _ => backoff.next_delay(),
        };
        let lost = UserEvent::Disconnected {
            reason: err.to_string(),
        };
        if deliver(&events_tx, lost, &shutdown).await.is_err()
            || !sleep_or_shutdown(delay, &shutdown).await
        {
            return;
        }
    }
}

/// One connection: connect, subscribe, forward. Only returns with the reason it ended.
async fn session(
    shared: &Shared,
    events_tx: &mpsc::Sender<UserEvent>,
    shutdown: &CancellationToken,
    backoff: &mut Backoff,
    request_id: &mut u64,
) -> Result<std::convert::Infallible, WsError> {
    // The user stream may be quiet for hours: only unanswered pings make it stale.
    let heartbeat = Heartbeat::from_config(&shared.config, None);
    let connect = &limits::WS_API_CONNECT;
    let mut session = connect_within_budget(
        shared,
        &shared.config.ws_api_url,
        heartbeat,
        (connect.lane, &connect.costs()),
        shutdown,
    )
    .await?;
    *request_id += 1;
    let result = subscribe(shared, &mut session, shutdown, *request_id).await;
    let result = match result {
        Ok(()) => forward(shared, &mut session, events_tx, shutdown, backoff).await,
        Err(err) => Err(err),
    };
    session.close().await;
    result
}

async fn forward(
    shared: &Shared,
    session: &mut Session,
    events_tx: &mpsc::Sender<UserEvent>,
    shutdown: &CancellationToken,
    backoff: &mut Backoff,
) -> Result<std::convert::Infallible, WsError> {
    backoff.healthy();
    shared.counters.user.set_connected(true);
    tracing::info!("binance user stream subscribed");
    deliver(events_tx, UserEvent::Connected, shutdown).await?;
    loop {
        let text = session
            .next_text(shutdown)
            .await?
            .ok_or(WsError::Shutdown)?;
        shared.counters.user.message();
        if let Some(event) = handle_frame(shared, &text)? {
            deliver(events_tx, event, shutdown).await?;
        }
    }
}

/// Sends the signed subscription and waits (within the request timeout) for its answer.
async fn subscribe(
    shared: &Shared,
    session: &mut Session,
    shutdown: &CancellationToken,
    id: u64,
) -> Result<(), WsError> {
    let timestamp = shared
        .rest
        .venue_now_ms()
        .await
        .map_err(|e| WsError::Venue(format!("cannot read the venue clock: {e}")))?;
    let endpoint = &limits::WS_API_SUBSCRIBE;
    shared
        .rest
        .limiter
        .acquire(endpoint.lane, &endpoint.costs())
        .await
        .map_err(|e| WsError::Venue(format!("user-data subscription held back: {e}")))?;
    let signed_after = tokio::time::Instant::now();
    let config = &shared.config;
    let params = [
        ("apiKey", config.api_key.clone()),
        ("recvWindow", config.recv_window_ms.to_string()),
        ("timestamp", timestamp.to_string()),
    ];
    let signature = auth::sign(&config.api_secret, &auth::ws_api_payload(&params));
    let request = json!({
        "id": id,
        "method": SUBSCRIBE_METHOD,
        "params": {
            "apiKey": config.api_key,
            "recvWindow": config.recv_window_ms,
            "timestamp": timestamp,
            "signature": signature,
        },
    });
    session.send_text(request.to_string()).await?;
    let answer = tokio::time::timeout(config.request_timeout, async {
        loop {
            let text = session
                .next_text(shutdown)
                .await?
                .ok_or(WsError::Shutdown)?;
            match serde_json::from_str::<BinanceWsApiResponse>(&text) {
                Ok(response) if response.id == json!(id) => return Ok(response),
                Ok(_) => {}
                Err(e) => shared.counters.malformed("user_stream", &e),
            }
        }
    })
    .await
    .map_err(|_| WsError::Venue("no answer to the user-data subscription".into()))??;
    observe_answer(shared, &answer);
    if answer.status == 200 {
        return Ok(());
    }
    let (code, msg) = answer
        .error
        .map(|e| (Some(e.code), e.msg))
        .unwrap_or((None, String::new()));
    if code == Some(-1021) {
        // Our clock drifted from the venue's: measure again before the next attempt.
        shared.rest.timestamp_refused(signed_after).await;
    }
    Err(WsError::Venue(format!(
        "user-data subscription refused: status {} code {code:?}: {msg}",
        answer.status
    )))
}

/// Maps one frame to an event. Unknown event types are ignored; unreadable frames are counted,
/// and those that are (or may be) an order update also become [`UserEvent::Gap`]: an update
/// may have been lost although the stream is up, so the consumer must reconcile.
fn handle_frame(shared: &Shared, text: &str) -> Result<Option<UserEvent>, WsError> {
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            shared.counters.malformed("user_stream", &e);
            return Ok(None);
        }
    };
    if value.get("event").is_none() {
        // An answer to a request: only an unsolicited error (key revoked) matters.
        let answer = serde_json::from_value::<BinanceWsApiResponse>(value);
        if let Ok(answer) = &answer {
            observe_answer(shared, answer);
        }
        return match answer {
            Ok(r) if r.status == 200 => Ok(None),
            Ok(r) => Err(WsError::Venue(format!(
                "venue error on the user stream: status {} {:?}",
                r.status,
                r.error.map(|e| (e.code, e.msg))
            ))),
            Err(e) => {
                shared.counters.malformed("user_stream", &e);
                Ok(None)
            }
        };
    }
    let event = match serde_json::from_value::<BinanceUserEventFrame>(value) {
        Ok(frame) => frame.event,
        Err(e) => return Ok(Some(gap(shared, format!("unreadable event frame: {e}")))),
    };
    let kind = event
        .get("e")
        .and_then(Value::as_str)
        .filter(|k| !k.is_empty());
    let Some(kind) = kind.map(str::to_owned) else {
        return Ok(Some(gap(shared, "event without a type".to_owned())));
    };
    match kind.as_str() {
        "executionReport" => {
            let report = serde_json::from_value::<BinanceExecutionReport>(event)
                .map_err(|e| e.to_string())
                .and_then(|raw| parse::execution_report(raw).map_err(|e| e.to_string()));
            Ok(Some(match report {
                Ok(report) => UserEvent::Execution(report),
                Err(e) => gap(shared, format!("unreadable execution report: {e}")),
            }))
        }
        "outboundAccountPosition" => {
            match serde_json::from_value::<BinanceAccountPosition>(event) {
                Ok(raw) => Ok(Some(UserEvent::Balances(parse::position_balances(raw)))),
                Err(e) => {
                    // Balances are refreshed by the next position event or account query.
                    shared.counters.malformed("user_stream", &e);
                    Ok(None)
                }
            }
        }
        "eventStreamTerminated" | "serverShutdown" => {
            Err(WsError::Closed(Some(format!("venue sent {kind}"))))
        }
        other => {
            tracing::debug!(event = other, "ignoring binance user event");
            Ok(None)
        }
    }
}

/// Feeds a WebSocket API answer back into the limiter exactly like a REST answer: its
/// `rateLimits` usage corrects the scopes, a 429 pauses and a 418 halts the venue until
/// `error.data.retryAfter`.
fn observe_answer(shared: &Shared, answer: &BinanceWsApiResponse) {
    let rest = &shared.rest;
    rest.observe_usage(limits::ws_api_usage(&answer.rate_limits));
    let retry_at = answer
        .error
        .as_ref()
        .and_then(|e| e.data.as_ref())
        .and_then(|d| d.retry_after);
    rest.observe_status(answer.status, rest.wait_until_venue_ms(retry_at));
}

/// An unreadable frame that may have been an order update: counted as malformed, and reported.
fn gap(shared: &Shared, reason: String) -> UserEvent {
    shared.counters.malformed("user_stream", &reason);
    UserEvent::Gap { reason }
}
