//! End-to-end: omsd against omsd-sim while every WebSocket connection is replaced, for both
//! causes of a planned replacement: a short maximum connection age, and the venue's
//! `serverShutdown` notice (`/_sim/maintenance`, connections closed 1 s later). Orders keep
//! being accepted throughout (never refused for reconciliation), every sampled book is in
//! sync, the user stream stays up, and the daemon's own counters show no book resync and no
//! reconciliation: the replacements happened, and nobody had to recover from them.

mod common;

use std::time::{Duration, Instant};

use common::venue_state::{Seen, seen, venues};
use common::{Backend, Stack};
use rust_decimal::Decimal;
use serde_json::json;

/// How long orders are submitted while connections are replaced.
const WINDOW: Duration = Duration::from_secs(5);
/// Time between submissions (well inside the venue's ORDERS limit).
const ORDER_EVERY: Duration = Duration::from_millis(250);

enum Cause {
    MaxAge,
    /// `serverShutdown` notices at these offsets into the window.
    ServerShutdown(&'static [Duration]),
}

async fn steady(stack: &Stack) -> Seen {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now = seen(&venues(&stack.http, &stack.url("")).await);
        if now.all_books_in_sync && now.user_up_and_reconciled {
            return now;
        }
        assert!(Instant::now() < deadline, "never steady: {now:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn replacements_are_invisible_to_traders(cause: Cause, min_rotations: u64) {
    let max_age = matches!(cause, Cause::MaxAge).then_some(1_500);
    let tweak = move |config: &mut omsd::config::Config| {
        for venue in &mut config.venues {
            venue.tuning.max_connection_age_ms = max_age;
        }
    };
    let Some(stack) =
        Stack::start_with(Backend::Sqlite, exchange_sim::SimConfig::demo(), tweak).await
    else {
        return;
    };
    let resting = (stack.best_ask().await * Decimal::new(90, 2)).round_dp(2);
    let before = steady(&stack).await;
    let mut notices = match cause {
        Cause::ServerShutdown(at) => at.to_vec(),
        Cause::MaxAge => Vec::new(),
    };
    let notice = format!(
        "{}/_sim/maintenance?target=all&grace_ms=1000",
        stack.sim.rest_url()
    );
    let start = Instant::now();
    let mut next_order = start;
    let (mut orders, mut samples) = (0, 0);
    while start.elapsed() < WINDOW {
        if notices
            .first()
            .is_some_and(|at| start + *at <= Instant::now())
        {
            notices.remove(0);
            let answer = stack.http.post(&notice).send().await.expect("simulator");
            assert!(answer.status().is_success(), "{answer:?}");
        }
        if Instant::now() >= next_order {
            let body = json!({
                "venue": "binance", "symbol": "BTC-USDT", "side": "buy", "type": "limit",
                "quantity": "0.001", "price": resting.to_string(), "time_in_force": "gtc",
            });
            let key = format!("rotation-{orders}");
            let (status, order) = stack.post_order(Some(&key), &body).await;
            assert_eq!(status, 201, "refused during a rotation: {order}");
            assert_eq!(order["status"], json!("new"), "{order}");
            orders += 1;
            next_order += ORDER_EVERY;
        }
        let now = seen(&venues(&stack.http, &stack.url("")).await);
        assert!(now.all_books_in_sync, "a book out of sync: {now:?}");
        assert!(
            now.user_up_and_reconciled,
            "user stream down or reconciling: {now:?}"
        );
        samples += 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Let the last replacement finish (a notice's connection closes 1 s after it).
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let after = steady(&stack).await;
    assert!(
        after.rotations >= before.rotations + min_rotations,
        "rotations: {before:?} -> {after:?}"
    );
    assert_eq!(after.resyncs, before.resyncs, "no book had to resync");
    assert_eq!(
        after.reconciliations, before.reconciliations,
        "no reconciliation was needed"
    );
    assert!(
        orders >= 10 && samples >= 100,
        "{orders} orders, {samples} samples"
    );
    stack.assert_orders_match_venue().await;
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_maximum_connection_age_is_invisible_to_traders() {
    // Both streams rotate every 1.5 s: at least two rounds in the window.
    replacements_are_invisible_to_traders(Cause::MaxAge, 4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_shutdown_notices_are_invisible_to_traders() {
    const NOTICES: &[Duration] = &[Duration::from_millis(500), Duration::from_secs(3)];
    replacements_are_invisible_to_traders(Cause::ServerShutdown(NOTICES), 4).await;
}
