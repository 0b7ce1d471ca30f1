//! `GET /v1/events`: the live order and fill events as Server-Sent Events, with resume.
//!
//! Each SSE event is `id: <seq>` (the stored `order_events` id), `event: order` or `fill`,
//! and the [`OrderEvent`] as JSON. A client that reconnects with `Last-Event-ID: <seq>` (or
//! `?after=<seq>`) first gets every stored event after it, then the live ones, with no gap and
//! no duplicate: the stream subscribes to the broadcast *before* it reads the store, and skips
//! live events it already sent from the store.
//!
//! Every subscriber has its own bounded queue, fed by a pump task that never waits on the
//! broadcast side: when the queue is full (the client reads too slowly) or the broadcast
//! overtook the pump, the subscriber is cut off with a final `event: end` that says why and
//! which `Last-Event-ID` resumes it. The order processor never waits for a subscriber.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::{ApiError, AppState};
use crate::oms::OrderEvent;
use crate::store::{SequencedEvent, Store, StoreError};
use crate::telemetry;

/// Events read from the store per replay query.
const REPLAY_PAGE: i64 = 500;

/// The event feed's settings, shared by every subscriber.
#[derive(Clone)]
pub struct EventFeed {
    /// Events queued per subscriber before it is cut off.
    pub queue: usize,
    /// Interval of keep-alive comments on an idle stream.
    pub keep_alive: Duration,
    /// Fires when the control port stops: every stream ends with `reason: shutting_down`.
    pub closing: CancellationToken,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct EventsParams {
    /// Resume after this event sequence (the `Last-Event-ID` header wins when both are given).
    after: Option<i64>,
}

/// Why omsd ended a stream, sent as the final `event: end`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Ending {
    /// `slow_subscriber`, `lagged`, `shutting_down` or `store_unavailable`.
    pub reason: &'static str,
    pub message: String,
    /// The last event this stream delivered (`null`: none).
    pub last_event_id: Option<i64>,
    /// How to carry on without missing an event.
    pub resume: String,
}

impl Ending {
    fn new(reason: &'static str, message: &str, last: Option<i64>) -> Ending {
        let resume = match last {
            Some(seq) => {
                format!("reconnect with the header 'Last-Event-ID: {seq}' (or ?after={seq})")
            }
            None => "reconnect; no event was delivered on this stream".to_string(),
        };
        Ending {
            reason,
            message: message.to_string(),
            last_event_id: last,
            resume,
        }
    }
}

/// What a subscriber's stream yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Event(OrderEvent),
    End(Ending),
}

/// `GET /v1/events`: Server-Sent Events. Each event is `id: <seq>` (the stored event
/// sequence), `event: order` or `fill` and `data:` one [`OrderEvent`] as JSON; a stream omsd
/// ends carries a last `event: end` with an [`Ending`]. Reconnect with `Last-Event-ID` (or
/// `?after=`) to get everything after it, then live events.
#[utoipa::path(get, path = "/v1/events", tag = "orders", security(("bearer" = ["read"])),
    params(
        EventsParams,
        ("Last-Event-ID" = Option<i64>, Header, description = "Resume after this sequence"),
    ),
    responses(
        (status = 200, description = "An endless `text/event-stream` of `order`, `fill` and a \
            final `end` event; `data` is an OrderEvent (or an Ending for `end`)",
            content_type = "text/event-stream", body = OrderEvent),
        super::openapi::ReadErrors,
    ))]
pub(super) async fn stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Result<Query<EventsParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) =
        params.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let header = match headers.get("last-event-id") {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse::<i64>().ok())
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid_last_event_id",
                        "Last-Event-ID must be an event sequence (an integer)",
                    )
                })?,
        ),
    };
    // The header wins: a browser's EventSource sends it on its own reconnects.
    let after = header.or(params.after);
    if after.is_some_and(|seq| seq < 0) {
        return Err(ApiError::bad_request(
            "invalid_after",
            "the event sequence to resume after must not be negative",
        ));
    }
    let feed = state.events.clone();
    let frames = subscribe(
        state.oms.subscribe(),
        state.store.clone(),
        after,
        feed.queue,
        feed.closing.clone(),
    );
    let body = futures_util::StreamExt::map(frames, |frame| Ok::<_, Infallible>(sse(frame)));
    Ok(Sse::new(body)
        .keep_alive(KeepAlive::new().interval(feed.keep_alive))
        .into_response())
}

fn sse(frame: Frame) -> Event {
    match frame {
        Frame::Event(event) => Event::default()
            .id(event.seq.to_string())
            .event(event.name())
            .json_data(&event)
            .unwrap_or_else(|_| Event::default().comment("unserialisable event")),
        Frame::End(ending) => Event::default()
            .event("end")
            .json_data(&ending)
            .unwrap_or_else(|_| Event::default().comment("stream ended")),
    }
}

/// Starts a subscriber: `live` must be subscribed before this is called (so nothing committed
/// after the replay's read is missed). Yields the stored events after `after` (none when
/// `None`), then live ones, then one [`Frame::End`] if omsd ends the stream.
pub fn subscribe(
    live: broadcast::Receiver<OrderEvent>,
    store: Arc<dyn Store>,
    after: Option<i64>,
    queue: usize,
    closing: CancellationToken,
) -> impl Stream<Item = Frame> + Send + 'static {
    let (tx, rx) = mpsc::channel(queue.max(1));
    let (end_tx, end_rx) = oneshot::channel();
    tokio::spawn(async move {
        telemetry::events_subscribers(1.0);
        let ending = pump(live, &*store, after, &tx, &closing).await;
        if let Some(ending) = ending {
            telemetry::events_cut_off(ending.reason, ending.last_event_id);
            let _ = end_tx.send(ending);
        }
        telemetry::events_subscribers(-1.0);
    });
    futures_util::stream::unfold((rx, Some(end_rx)), |(mut rx, mut end_rx)| async move {
        if let Some(event) = rx.recv().await {
            return Some((Frame::Event(event), (rx, end_rx)));
        }
        // The pump has ended: its final word, if it had one, comes after every event.
        let ending = end_rx.take()?.await.ok()?;
        Some((Frame::End(ending), (rx, None)))
    })
}

/// Feeds one subscriber's queue until the client leaves (`None`) or omsd ends the stream.
async fn pump(
    mut live: broadcast::Receiver<OrderEvent>,
    store: &dyn Store,
    after: Option<i64>,
    tx: &mpsc::Sender<OrderEvent>,
    closing: &CancellationToken,
) -> Option<Ending> {
    let shutting_down = |last| Ending::new("shutting_down", "omsd is stopping", last);
    let mut last = after;
    if let Some(mut cursor) = after {
        loop {
            let page = tokio::select! {
                () = closing.cancelled() => return Some(shutting_down(last)),
                page = replay_page(store, cursor) => page,
            };
            let page = match page {
                Ok(page) => page,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot replay events from the store");
                    let message = "the store could not be read to replay events";
                    return Some(Ending::new("store_unavailable", message, last));
                }
            };
            let full = page.len() as i64 == REPLAY_PAGE;
            for event in page {
                let seq = event.seq;
                tokio::select! {
                    () = closing.cancelled() => return Some(shutting_down(last)),
                    sent = tx.send(event) => sent.ok()?,
                }
                last = Some(seq);
                cursor = seq;
            }
            if !full {
                break;
            }
        }
    }
    loop {
        tokio::select! {
            () = closing.cancelled() => return Some(shutting_down(last)),
            () = tx.closed() => return None,
            received = live.recv() => match received {
                Ok(event) if last.is_some_and(|seq| event.seq <= seq) => {}
                Ok(event) => {
                    let seq = event.seq;
                    match tx.try_send(event) {
                        Ok(()) => last = Some(seq),
                        Err(mpsc::error::TrySendError::Full(_)) => {
                            let message = "the client read events too slowly: its queue is full";
                            return Some(Ending::new("slow_subscriber", message, last));
                        }
                        Err(mpsc::error::TrySendError::Closed(_)) => return None,
                    }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    let message = format!("the stream fell {missed} events behind the order processor");
                    return Some(Ending::new("lagged", &message, last));
                }
                Err(broadcast::error::RecvError::Closed) => return Some(shutting_down(last)),
            },
        }
    }
}

/// One page of stored events after `cursor`, with the fills they stored.
async fn replay_page(store: &dyn Store, cursor: i64) -> Result<Vec<OrderEvent>, StoreError> {
    let page: Vec<SequencedEvent> = store.events_after(cursor, REPLAY_PAGE).await?;
    let with_fills: Vec<i64> = page
        .iter()
        .filter(|e| {
            e.event.detail["new_fills"]
                .as_array()
                .is_some_and(|ids| !ids.is_empty())
        })
        .map(|e| e.event.order_id)
        .collect();
    let fills = if with_fills.is_empty() {
        Vec::new()
    } else {
        store.fills_for_orders(&with_fills).await?
    };
    Ok(page
        .iter()
        .map(|e| OrderEvent::from_stored(e, &fills))
        .collect())
}

#[cfg(test)]
mod tests {
    use exchange_core::OrderStatus;
    use futures_util::StreamExt;

    use super::*;

    fn event(seq: i64) -> OrderEvent {
        OrderEvent {
            seq,
            order_id: 1,
            venue: "sim".into(),
            symbol: "BTC-USDT".into(),
            client_order_id: "omsd-1".into(),
            kind: "ack".into(),
            status: OrderStatus::New,
            filled_quantity: Some(rust_decimal::Decimal::ZERO),
            time_ms: seq,
            fills: Vec::new(),
        }
    }

    async fn empty_store() -> Arc<dyn Store> {
        let store = crate::store::open("sqlite::memory:").await.expect("store");
        store.migrate().await.expect("migrate");
        store
    }

    fn seqs(frames: &[Frame]) -> Vec<Result<i64, (&'static str, Option<i64>)>> {
        frames
            .iter()
            .map(|f| match f {
                Frame::Event(e) => Ok(e.seq),
                Frame::End(end) => Err((end.reason, end.last_event_id)),
            })
            .collect()
    }

    /// Collects what a stream yields, bounded (a stream that never ends fails the test).
    async fn collect(stream: impl Stream<Item = Frame>, at_most: usize) -> Vec<Frame> {
        let frames = stream.take(at_most).collect::<Vec<_>>();
        tokio::time::timeout(Duration::from_secs(10), frames)
            .await
            .expect("the stream ends")
    }

    #[tokio::test]
    async fn a_subscriber_that_does_not_read_is_cut_off_once_its_queue_is_full() {
        let (tx, live) = broadcast::channel(64);
        let closing = CancellationToken::new();
        let stream = subscribe(live, empty_store().await, None, 3, closing);
        for seq in 1..=10 {
            tx.send(event(seq)).expect("a subscriber");
        }
        // Nothing is read until the pump gave up: the queue held 3 of the 10 events.
        let frames = collect(stream, 20).await;
        assert_eq!(
            seqs(&frames),
            [Ok(1), Ok(2), Ok(3), Err(("slow_subscriber", Some(3)))]
        );
        let Frame::End(end) = &frames[3] else {
            panic!("no end frame")
        };
        assert!(end.resume.contains("Last-Event-ID: 3"), "{}", end.resume);
    }

    #[tokio::test]
    async fn a_subscriber_the_broadcast_overtook_is_cut_off_as_lagged() {
        let (tx, live) = broadcast::channel(2);
        for seq in 1..=5 {
            tx.send(event(seq)).expect("a subscriber");
        }
        let stream = subscribe(
            live,
            empty_store().await,
            None,
            16,
            CancellationToken::new(),
        );
        let frames = collect(stream, 20).await;
        assert_eq!(seqs(&frames), [Err(("lagged", None))]);
    }

    #[tokio::test]
    async fn live_events_already_delivered_are_skipped_and_closing_ends_the_stream() {
        let (tx, live) = broadcast::channel(16);
        let closing = CancellationToken::new();
        // The store is empty, so the replay after 3 yields nothing; live 2 and 3 are not new.
        let stream = subscribe(live, empty_store().await, Some(3), 16, closing.clone());
        for seq in [2, 3, 4, 5] {
            tx.send(event(seq)).expect("a subscriber");
        }
        let mut stream = Box::pin(stream);
        let mut frames = Vec::new();
        for _ in 0..2 {
            let frame = tokio::time::timeout(Duration::from_secs(10), stream.next()).await;
            frames.push(frame.expect("an event").expect("a frame"));
        }
        closing.cancel();
        frames.extend(collect(stream, 5).await);
        assert_eq!(
            seqs(&frames),
            [Ok(4), Ok(5), Err(("shutting_down", Some(5)))]
        );
    }
}
