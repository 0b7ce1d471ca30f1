//! The live event feed over real HTTP against the simulator: a subscriber that disconnects
//! during order flow and reconnects with its last sequence receives every stored event
//! exactly once, in order; a stopping daemon ends the stream with a final `end` event; an idle
//! stream carries keep-alive comments; a malformed resume point is refused. (The cut-off of a
//! slow or lagging subscriber is tested on real channels in `src/control/events.rs`.)

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::sse::{SseFrame, SseStream};
use common::workload::{Ledger, Rng, client};
use common::{Backend, Stack};
use omsd::store::{SequencedEvent, Store};

const CLIENTS: usize = 3;
const WAIT: Duration = Duration::from_secs(30);

/// What a test compares of one event: sequence, order, kind, status, SSE event name.
type Seen = (i64, i64, String, String, String);

fn seen(frame: &SseFrame) -> Seen {
    let data = frame.json();
    let seq = data["seq"].as_i64().expect("seq");
    assert_eq!(
        frame.id.as_deref(),
        Some(seq.to_string().as_str()),
        "id is the sequence"
    );
    (
        seq,
        data["order_id"].as_i64().expect("order_id"),
        data["kind"].as_str().expect("kind").to_string(),
        data["status"].as_str().expect("status").to_string(),
        frame.event.clone().expect("event name"),
    )
}

fn expected(e: &SequencedEvent) -> Seen {
    let fills = e.event.detail["new_fills"]
        .as_array()
        .is_some_and(|f| !f.is_empty());
    (
        e.seq,
        e.event.order_id,
        e.event.kind.clone(),
        e.event.status.as_str().to_string(),
        if fills { "fill" } else { "order" }.to_string(),
    )
}

/// Every stored event with a sequence up to `last`, in sequence order.
async fn stored_up_to(store: &dyn Store, last: i64) -> Vec<SequencedEvent> {
    let mut all = Vec::new();
    let mut cursor = 0;
    for _ in 0..10_000 {
        let page = store.events_after(cursor, 500).await.expect("events_after");
        let Some(tail) = page.last() else { break };
        cursor = tail.seq;
        all.extend(page.into_iter().filter(|e| e.seq <= last));
        if cursor >= last {
            break;
        }
    }
    all
}

/// Reads events until `want` more arrived (or the wait ran out), checking each is later than
/// the one before.
async fn read(stream: &mut SseStream, want: usize, into: &mut Vec<Seen>) {
    let end = Instant::now() + WAIT;
    let mut got = 0;
    while got < want && Instant::now() < end {
        let Some(frame) = stream.next(WAIT).await else {
            break;
        };
        assert_ne!(
            frame.event.as_deref(),
            Some("end"),
            "cut off: {}",
            frame.data
        );
        let event = seen(&frame);
        if let Some(prev) = into.last() {
            assert!(event.0 > prev.0, "sequence {} after {}", event.0, prev.0);
        }
        into.push(event);
        got += 1;
    }
    assert_eq!(got, want, "events received within {WAIT:?}");
}

async fn resume_during_order_flow(backend: Backend) {
    let Some(stack) = Stack::start(backend).await else {
        return;
    };
    let store = omsd::store::open(&stack.store_url)
        .await
        .expect("open the store");
    let events_url = stack.url("/v1/events");
    let stop = Arc::new(AtomicBool::new(false));
    let ledger = Arc::new(Ledger::default());
    let base = stack.url("");
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            tokio::spawn(client(
                stack.http.clone(),
                base.clone(),
                Rng::new(0xE7E7 + c as u64),
                format!("events-{backend:?}-{c}"),
                1,
                Arc::clone(&ledger),
                Arc::clone(&stop),
            ))
        })
        .collect();

    // From the very first event: the replay of everything stored, then live.
    let mut received = Vec::new();
    let mut first = SseStream::connect(&format!("{events_url}?after=0"), None).await;
    read(&mut first, 40, &mut received).await;
    drop(first);
    let last = received.last().expect("events").0;

    // Order flow goes on while nobody listens.
    let missed = common::poll(WAIT, || {
        let store = store.clone();
        async move {
            let after = store.events_after(last, 100).await.ok()?;
            (after.len() >= 25).then_some(after.len())
        }
    })
    .await;
    assert!(
        missed.is_some(),
        "order flow produced events while disconnected"
    );

    // Resume from the last sequence seen: the missed events, then live ones.
    let mut second = SseStream::connect(&events_url, Some(last)).await;
    read(&mut second, 60, &mut received).await;
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        let _ = c.await;
    }
    drop(second);

    let newest = received.last().expect("events").0;
    let stored: Vec<Seen> = stored_up_to(&*store, newest)
        .await
        .iter()
        .map(expected)
        .collect();
    assert_eq!(
        received.len(),
        stored.len(),
        "every stored event up to {newest} exactly once"
    );
    assert_eq!(received, stored);
    let fills = received.iter().filter(|e| e.4 == "fill").count();
    println!(
        "{backend:?}: {} events received across a reconnect at {last}, {fills} with fills; answers [{}]",
        received.len(),
        ledger.take_counts()
    );

    // A stopping daemon ends a live stream with its reason and the resume point.
    let mut third = SseStream::connect(&events_url, Some(newest)).await;
    let stopping = tokio::spawn(stack.stop());
    let mut end = None;
    for _ in 0..10_000 {
        match third.next(WAIT).await {
            Some(frame) if frame.event.as_deref() == Some("end") => {
                end = Some(frame.json());
                break;
            }
            Some(_) => {}
            None => break,
        }
    }
    stopping.await.expect("stop");
    let end = end.expect("a final end event");
    assert_eq!(end["reason"], "shutting_down", "{end}");
    assert!(
        end["resume"]
            .as_str()
            .is_some_and(|r| r.contains("Last-Event-ID"))
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnecting_subscriber_gets_every_event_once_in_order_sqlite() {
    resume_during_order_flow(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnecting_subscriber_gets_every_event_once_in_order_postgres() {
    resume_during_order_flow(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_resume_point_is_refused() {
    let Some(stack) = Stack::start(Backend::Sqlite).await else {
        return;
    };
    for (path, header) in [
        ("/v1/events?after=-1", None),
        ("/v1/events?after=x", None),
        ("/v1/events", Some("seven")),
    ] {
        let mut req = stack.http.get(stack.url(path));
        if let Some(h) = header {
            req = req.header("Last-Event-ID", h);
        }
        let resp = req.send().await.expect("answers");
        assert_eq!(resp.status().as_u16(), 400, "{path} {header:?}");
        let body: serde_json::Value = resp.json().await.expect("json");
        assert!(body["error"]["code"].is_string(), "{body}");
    }
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_stream_carries_keep_alive_comments() {
    let Some(stack) = Stack::start_with(Backend::Sqlite, exchange_sim::SimConfig::demo(), |c| {
        c.events.keep_alive_ms = 100;
    })
    .await
    else {
        return;
    };
    let mut resp = reqwest::Client::new()
        .get(stack.url("/v1/events"))
        .send()
        .await
        .expect("events endpoint answers");
    let mut text = String::new();
    for _ in 0..1000 {
        let chunk = tokio::time::timeout(WAIT, resp.chunk()).await;
        let Ok(Ok(Some(bytes))) = chunk else { break };
        text.push_str(&String::from_utf8_lossy(&bytes));
        if text.lines().filter(|l| l.starts_with(':')).count() >= 2 {
            break;
        }
    }
    assert!(
        text.lines().filter(|l| l.starts_with(':')).count() >= 2,
        "keep-alive comments on an idle stream: {text:?}"
    );
    drop(resp);
    stack.stop().await;
}
