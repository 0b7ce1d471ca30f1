//! User-stream liveness judged by event flow, against the real simulator: while the venue
//! keeps answering pings but delivers no user events (`silence_streams` on the WebSocket API),
//! a quiet account is left alone, an order the venue accepted without its update arriving
//! reconnects the stream once, and the reconnect does not repeat while nothing more is owed.

mod common;

use std::time::Duration;

use common::sim::{DEADLINE, SYMBOL, btc, client_id, limit, ok, top_of_book};
use exchange_core::{Exchange, Side, UserEvent};
use exchange_sim::FaultSpec;
use exchange_sim::faults::{SilenceStreams, Target};
use rust_decimal_macros::dec;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const TIMEOUT: Duration = Duration::from_secs(1);

/// The next event that is not an order or balance update.
async fn next_connection_event(
    rx: &mut mpsc::Receiver<UserEvent>,
    within: Duration,
) -> Option<UserEvent> {
    let give_up = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(give_up, rx.recv()).await {
            Ok(Some(UserEvent::Execution(_) | UserEvent::Balances(_))) => {}
            Ok(event) => return event,
            Err(_) => return None,
        }
    }
}

#[tokio::test]
async fn a_silent_user_stream_is_reconnected_only_when_an_update_is_owed() {
    let sim = match exchange_sim::start(exchange_sim::SimConfig::demo()).await {
        Ok(sim) => sim,
        Err(e) => panic!("simulator did not start: {e}"),
    };
    let mut config = common::sim_config(&sim);
    config.user_event_timeout = TIMEOUT;
    let exchange = common::adapter_with(config);
    let (tx, mut rx) = mpsc::channel(1_000);
    let shutdown = CancellationToken::new();
    let _user = exchange.spawn_user_stream(tx, shutdown.clone());
    assert_eq!(
        next_connection_event(&mut rx, DEADLINE).await,
        Some(UserEvent::Connected)
    );
    let silence = FaultSpec::SilenceStreams(SilenceStreams {
        target: Target::WsApi,
        symbols: Vec::new(),
        duration_ms: Some(8_000),
    });
    if let Err(e) = sim.faults().inject(silence) {
        panic!("inject: {e}");
    }
    // A quiet account: nothing is owed, so the silence is not judged.
    assert_eq!(next_connection_event(&mut rx, TIMEOUT * 2).await, None);

    let tick = btc(&exchange).await.filters.tick_size;
    let (_, ask) = top_of_book(&exchange).await;
    let id = client_id("silent");
    let order = limit(&id, Side::Buy, ask + tick * dec!(20), dec!(0.001));
    let _ = ok(exchange.place_order(&order).await, "place");
    let Some(UserEvent::Disconnected { reason }) = next_connection_event(&mut rx, DEADLINE).await
    else {
        panic!("the silent stream was not reconnected");
    };
    assert!(reason.contains(&id), "{reason}");
    assert_eq!(
        next_connection_event(&mut rx, DEADLINE).await,
        Some(UserEvent::Connected)
    );
    // Still silent, but nothing is owed since the new subscription: no reconnect loop.
    assert_eq!(next_connection_event(&mut rx, TIMEOUT * 3).await, None);
    let user = &exchange.health().streams[0];
    assert_eq!(user.reconnects_total.get("stale"), Some(&1), "{user:?}");
    let _ = exchange.cancel_order(SYMBOL, &id).await;
    shutdown.cancel();
    sim.shutdown().await;
}
