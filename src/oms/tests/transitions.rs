//! Transitions that depend on timing and on what the venue says: a late send failure, a
//! duplicate, an inference and its revision, an unreadable report, an incomplete fill set,
//! restarts and replays.

use exchange_core::{
    ExecutionKind, ExecutionReport, Fill, OrderSnapshot, OrderStatus, Side, UserEvent,
};
use rust_decimal_macros::dec;

use super::{Harness, Send, cid, fills_sum, report};
use crate::oms::{KillSwitchRequest, OmsError, Submitted};
use crate::store::NewOrderRecord;

fn venue_report(s: &OrderSnapshot, fill: Option<Fill>) -> ExecutionReport {
    ExecutionReport {
        venue_symbol: s.venue_symbol.clone(),
        client_order_id: s.client_order_id.clone(),
        venue_order_id: s.venue_order_id.clone(),
        kind: if fill.is_some() {
            ExecutionKind::Trade
        } else {
            ExecutionKind::New
        },
        status: s.status,
        side: s.side,
        quantity: s.quantity,
        filled_quantity: s.filled_quantity,
        cumulative_quote: s.cumulative_quote,
        fill,
        reject_reason: None,
        event_time_ms: 1,
    }
}

/// The order omsd sends for `key` (1 BTC at 100), as the venue would hold it.
fn venue_order(key: &str) -> exchange_core::NewOrder {
    exchange_core::NewOrder {
        client_order_id: cid(key),
        venue_symbol: "BTCUSDT".into(),
        side: Side::Buy,
        order_type: exchange_core::OrderType::Limit,
        time_in_force: exchange_core::TimeInForce::Gtc,
        quantity: dec!(1),
        price: Some(dec!(100)),
    }
}

#[tokio::test]
async fn a_late_send_failure_never_overwrites_what_the_venue_reported() {
    let h = Harness::start("").await;
    h.venue.script(&[Send::AcceptLost]);
    h.venue.hold_answers(true);
    let Submitted::Created { order_id, answered } = h
        .submit("late-1", Side::Buy, dec!(1), dec!(100))
        .await
        .expect("submit")
    else {
        panic!("a new key creates an order");
    };
    // The stream reports the fill before the send's (failed) answer comes back.
    let fill = loop {
        if h.venue.order(&cid("late-1")).is_some() {
            break h.venue.trade(&cid("late-1"), dec!(1)).expect("trade");
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    };
    let snapshot = h.venue.order(&cid("late-1")).expect("on venue");
    h.user(UserEvent::Execution(venue_report(&snapshot, Some(fill))))
        .await;
    h.until(order_id, |d| d.order.status == OrderStatus::Filled)
        .await;
    h.venue.release();
    let answered = answered.await.expect("answered");
    assert_eq!(answered.order.status, OrderStatus::Filled);
    let stored = h
        .until_stored(order_id, |d| {
            d.order.status == OrderStatus::Filled && d.fills.len() == 1
        })
        .await;
    assert_eq!(stored.order.filled_quantity, dec!(1));
    // The failed answer was applied (the order's waiter is gone) and moved nothing back.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let events = h.store.events_for_order(order_id).await.expect("events");
    assert!(
        events.iter().all(|e| e.status != OrderStatus::Unknown),
        "a late failure moved the order back: {events:#?}"
    );
    h.stop().await;
}

#[tokio::test]
async fn a_duplicate_order_answer_is_resolved_never_rejected() {
    let h = Harness::start("").await;
    h.venue.script(&[Send::Duplicate]);
    let detail = h.placed("dup-1", dec!(1)).await;
    // The venue has no such order yet; it shows up (another send got through).
    assert_ne!(detail.order.status, OrderStatus::Rejected, "{detail:#?}");
    h.venue.insert(&venue_order("dup-1"), OrderStatus::New);
    let resolved = h
        .until(detail.order.id, |d| d.order.status == OrderStatus::New)
        .await;
    assert!(resolved.order.reject_reason.is_none());
    h.stop().await;
}

#[tokio::test]
async fn an_inferred_rejection_is_revised_when_the_venue_shows_the_order() {
    let h = Harness::start("").await;
    h.venue.script(&[Send::Lost]);
    let detail = h.placed("lost-1", dec!(1)).await;
    let id = detail.order.id;
    assert_eq!(detail.order.status, OrderStatus::Unknown);
    let inferred = h
        .until_stored(id, |d| d.order.status == OrderStatus::Rejected)
        .await;
    assert!(inferred.order.status_inferred, "{inferred:#?}");
    assert_eq!(
        inferred.order.reject_reason.as_deref(),
        Some("not_accepted_by_venue")
    );
    // The venue later shows the order, filled: venue truth wins.
    h.venue.insert(&venue_order("lost-1"), OrderStatus::New);
    let fill = h.venue.trade(&cid("lost-1"), dec!(1)).expect("trade");
    let snapshot = h.venue.order(&cid("lost-1")).expect("on venue");
    h.user(UserEvent::Execution(venue_report(&snapshot, Some(fill))))
        .await;
    let revived = h
        .until_stored(id, |d| {
            d.order.status == OrderStatus::Filled && d.fills.len() == 1
        })
        .await;
    assert!(!revived.order.status_inferred);
    let events = h.store.events_for_order(id).await.expect("events");
    assert!(events.iter().any(|e| e.kind == "revised"), "{events:#?}");
    h.stop().await;
}

#[tokio::test]
async fn reconciliation_revives_an_inferred_order_from_the_venue_history() {
    let h = Harness::start("").await;
    h.venue.script(&[Send::Lost]);
    let id = h.placed("lost-2", dec!(1)).await.order.id;
    h.until_stored(id, |d| d.order.status_inferred).await;
    h.venue.insert(&venue_order("lost-2"), OrderStatus::New);
    h.venue.trade(&cid("lost-2"), dec!(0.4)).expect("trade");
    h.oms.reconcile("fake").await.expect("reconcile");
    let revived = h
        .until_stored(id, |d| {
            d.order.status == OrderStatus::PartiallyFilled && fills_sum(d) == dec!(0.4)
        })
        .await;
    assert!(!revived.order.status_inferred);
    h.stop().await;
}

#[tokio::test]
async fn an_unreadable_report_triggers_reconciliation_that_recovers_the_fill() {
    let h = Harness::start("").await;
    let detail = h.placed("gap-1", dec!(1)).await;
    assert_eq!(detail.order.status, OrderStatus::New);
    // The venue fills it; the report carrying the fill could not be read.
    h.venue.trade(&cid("gap-1"), dec!(1)).expect("trade");
    h.user(UserEvent::Gap {
        reason: "executionReport: missing field `z`".into(),
    })
    .await;
    let stored = h
        .until_stored(detail.order.id, |d| {
            d.order.status == OrderStatus::Filled && fills_sum(d) == dec!(1)
        })
        .await;
    assert_eq!(stored.fills.len(), 1);
    h.stop().await;
}

#[tokio::test]
async fn cancelling_a_partly_filled_order_leaves_complete_fills() {
    let h = Harness::start("").await;
    let detail = h.placed("part-1", dec!(1)).await;
    // A partial fill whose report was lost; the cancel answer carries no fills.
    h.venue.trade(&cid("part-1"), dec!(0.3)).expect("trade");
    let done = h.oms.cancel(detail.order.id).await.expect("cancel");
    let answered = done.await.expect("cancel answered");
    assert_eq!(answered.order.status, OrderStatus::Canceled);
    assert_eq!(answered.order.filled_quantity, dec!(0.3));
    let stored = h
        .until_stored(detail.order.id, |d| fills_sum(d) == dec!(0.3))
        .await;
    assert_eq!(stored.order.status, OrderStatus::Canceled);
    h.stop().await;
}

#[tokio::test]
async fn a_stream_fill_report_is_stored_with_its_fill() {
    let h = Harness::start("").await;
    let detail = h.placed("fill-1", dec!(1)).await;
    let fill = h.venue.trade(&cid("fill-1"), dec!(0.5)).expect("trade");
    h.user(UserEvent::Execution(report(
        &detail,
        OrderStatus::PartiallyFilled,
        dec!(0.5),
        Some(fill.clone()),
    )))
    .await;
    // The same report again (a duplicate) changes nothing.
    h.user(UserEvent::Execution(report(
        &detail,
        OrderStatus::PartiallyFilled,
        dec!(0.5),
        Some(fill),
    )))
    .await;
    let stored = h
        .until_stored(detail.order.id, |d| {
            d.order.status == OrderStatus::PartiallyFilled
        })
        .await;
    assert_eq!(stored.fills.len(), 1);
    h.stop().await;
}

#[tokio::test]
async fn after_a_restart_every_waiting_order_is_resolved() {
    let h = Harness::start("").await;
    // Two intents made durable just before a crash: one reached the venue, one did not.
    for (key, on_venue) in [("crash-sent", true), ("crash-unsent", false)] {
        let record = NewOrderRecord {
            venue: "fake".into(),
            account: "main".into(),
            symbol: "BTC-USDT".into(),
            venue_symbol: "BTCUSDT".into(),
            client_order_id: cid(key),
            side: Side::Buy,
            order_type: exchange_core::OrderType::Limit,
            time_in_force: exchange_core::TimeInForce::Gtc,
            quantity: dec!(1),
            price: Some(dec!(100)),
            idempotency_key: key.into(),
            request_hash: "h".into(),
            created_at_ms: 1,
        };
        h.store.create_order(&record).await.expect("intent");
        if on_venue {
            h.venue.insert(&venue_order(key), OrderStatus::New);
        }
    }
    let h = h.restart().await;
    let sent = h
        .store
        .find_order_by_idempotency_key("crash-sent")
        .await
        .unwrap()
        .unwrap();
    let unsent = h
        .store
        .find_order_by_idempotency_key("crash-unsent")
        .await
        .unwrap()
        .unwrap();
    h.until_stored(sent.id, |d| d.order.status == OrderStatus::New)
        .await;
    let inferred = h
        .until_stored(unsent.id, |d| d.order.status == OrderStatus::Rejected)
        .await;
    assert!(inferred.order.status_inferred);
    h.stop().await;
}

#[tokio::test]
async fn a_replay_is_answered_after_a_restart_and_under_a_risk_refusal() {
    let h = Harness::start("").await;
    let first = h.placed("replay-1", dec!(1)).await.order.id;
    let h = h.restart().await;
    let outcome = h
        .oms
        .set_kill_switch(KillSwitchRequest {
            engaged: true,
            reason: Some("test".into()),
            cancel_open_orders: false,
        })
        .await
        .expect("kill switch");
    assert!(outcome.state.engaged);
    match h.submit("replay-1", Side::Buy, dec!(1), dec!(100)).await {
        Ok(Submitted::Existing(id)) => assert_eq!(id, first),
        other => panic!("a replay must return the order: {other:?}"),
    }
    match h.submit("replay-2", Side::Buy, dec!(1), dec!(100)).await {
        Err(OmsError::Risk { code, .. }) => assert_eq!(code, "kill_switch_engaged"),
        other => panic!("a new order must be refused: {other:?}"),
    }
    // The kill switch survives a restart too.
    let h = h.restart().await;
    assert!(h.oms.kill_switch().await.expect("state").engaged);
    assert_eq!(h.venue.sends(), 1);
    h.stop().await;
}

#[tokio::test]
async fn the_kill_switch_can_cancel_every_open_order() {
    let h = Harness::start("").await;
    let a = h.placed("ks-a", dec!(1)).await.order.id;
    let b = h.placed("ks-b", dec!(1)).await.order.id;
    let outcome = h
        .oms
        .set_kill_switch(KillSwitchRequest {
            engaged: true,
            reason: None,
            cancel_open_orders: true,
        })
        .await
        .expect("kill switch");
    assert_eq!(outcome.cancels_requested, 2);
    for id in [a, b] {
        h.until_stored(id, |d| d.order.status == OrderStatus::Canceled)
            .await;
    }
    h.stop().await;
}

#[tokio::test]
async fn concurrent_submits_each_get_their_own_order() {
    let h = Harness::start("").await;
    let mut joins = Vec::new();
    for i in 0..200 {
        let oms = h.oms.clone();
        joins.push(tokio::spawn(async move {
            let key = format!("burst-{i}");
            oms.submit(super::request(&key, Side::Buy, dec!(1), dec!(100)))
                .await
        }));
    }
    let mut ids = std::collections::HashSet::new();
    for join in joins {
        match join.await.expect("join") {
            Ok(Submitted::Created { order_id, .. }) => assert!(ids.insert(order_id)),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(ids.len(), 200);
    h.stop().await;
}

#[tokio::test]
async fn venue_rejections_and_filled_acks_are_venue_truth() {
    let h = Harness::start("").await;
    h.venue.script(&[Send::Reject, Send::Fill]);
    let rejected = h.placed("rej-1", dec!(1)).await;
    assert_eq!(rejected.order.status, OrderStatus::Rejected);
    assert!(!rejected.order.status_inferred);
    assert!(
        rejected
            .order
            .reject_reason
            .as_deref()
            .unwrap_or_default()
            .contains("insufficient")
    );
    let filled = h.placed("ack-fill-1", dec!(1)).await;
    assert_eq!(filled.order.status, OrderStatus::Filled);
    let stored = h
        .until_stored(filled.order.id, |d| {
            d.order.status == OrderStatus::Filled && d.fills.len() == 1
        })
        .await;
    assert_eq!(fills_sum(&stored), dec!(1));
    h.stop().await;
}

#[tokio::test]
async fn a_lagging_venue_read_is_inferred_only_after_the_window_and_then_revised() {
    let h = Harness::start("").await;
    h.venue.script(&[Send::AcceptLost]);
    h.venue.hide(&cid("lag-1"));
    let started = tokio::time::Instant::now();
    let id = h.placed("lag-1", dec!(1)).await.order.id;
    h.until_stored(id, |d| d.order.status_inferred).await;
    // recv_window (1 s) + margin (1 s) + two answers 1 s apart: never sooner.
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    h.venue.unhide_all();
    h.oms.reconcile("fake").await.expect("reconcile");
    let revived = h
        .until_stored(id, |d| d.order.status == OrderStatus::New)
        .await;
    assert!(!revived.order.status_inferred);
    h.stop().await;
}

#[tokio::test]
async fn fills_that_match_no_order_are_kept_and_ours_are_adopted_with_theirs() {
    let h = Harness::start("").await;
    // An order of ours the store does not know (another omsd on the account), and a foreign
    // one; both trade on the venue.
    let ours = exchange_core::NewOrder {
        client_order_id: cid("elsewhere-1"),
        ..venue_order("elsewhere-1")
    };
    let foreign = exchange_core::NewOrder {
        client_order_id: "manual-1".into(),
        ..venue_order("elsewhere-1")
    };
    h.venue.insert(&ours, OrderStatus::New);
    h.venue.insert(&foreign, OrderStatus::New);
    h.venue
        .trade(&ours.client_order_id, dec!(0.2))
        .expect("trade");
    h.venue.trade("manual-1", dec!(0.3)).expect("trade");
    h.oms.reconcile("fake").await.expect("reconcile");
    let adopted = h
        .store
        .find_order_by_client_id("fake", "main", &ours.client_order_id)
        .await
        .expect("read")
        .expect("adopted");
    let stored = h
        .until_stored(adopted.id, |d| fills_sum(d) == dec!(0.2))
        .await;
    assert_eq!(stored.order.status, OrderStatus::PartiallyFilled);
    assert_eq!(
        h.store.unmatched_fill_count("fake").await.expect("count"),
        1
    );
    h.stop().await;
}
