//! Amending an order's quantity down: applied only when the venue states it, durable across a
//! restart, never undone by an older report; refused locally or by the venue without changing
//! anything; a lost answer settled by asking the venue.

use exchange_core::{OrderStatus, UserEvent};
use rust_decimal_macros::dec;

use super::{Amend, Harness, cid, report};
use crate::oms::OmsError;

async fn event_kinds(h: &Harness, id: i64) -> Vec<String> {
    let events = h.store.events_for_order(id).await.expect("events");
    events.into_iter().map(|e| e.kind).collect()
}

#[tokio::test]
async fn an_amend_lowers_the_quantity_the_venue_states_and_survives_a_restart() {
    let h = Harness::start("").await;
    let placed = h.placed("amend-1", dec!(1)).await;
    let id = placed.order.id;
    let answered = h.oms.amend(id, dec!(0.4)).await.expect("amend accepted");
    let detail = answered.await.expect("answered").expect("amended");
    assert_eq!(detail.order.quantity, dec!(0.4));
    assert_eq!(detail.order.status, OrderStatus::New);
    let venue = h.venue.order(&cid("amend-1")).expect("on the venue");
    assert_eq!(venue.quantity, dec!(0.4));
    assert_eq!(venue.client_order_id, cid("amend-1"));
    h.until_stored(id, |d| d.order.quantity == dec!(0.4)).await;
    let kinds = event_kinds(&h, id).await;
    assert!(
        kinds.contains(&"amend_requested".to_string()) && kinds.contains(&"amend_ack".to_string()),
        "{kinds:?}"
    );

    let h = h.restart().await;
    let detail = h.oms.get(id).await.expect("get").expect("order");
    assert_eq!(detail.order.quantity, dec!(0.4));
    // A report from before the amend, carrying the old quantity, does not undo it.
    h.user(UserEvent::Execution(report(
        &placed,
        OrderStatus::New,
        dec!(0),
        None,
    )))
    .await;
    let fill = h.venue.trade(&cid("amend-1"), dec!(0.1)).expect("trade");
    let mut later = report(&detail, OrderStatus::PartiallyFilled, dec!(0.1), Some(fill));
    later.quantity = dec!(0.4);
    h.user(UserEvent::Execution(later)).await;
    let detail = h.until(id, |d| d.order.filled_quantity == dec!(0.1)).await;
    assert_eq!(detail.order.quantity, dec!(0.4));
    h.stop().await;
}

#[tokio::test]
async fn amends_the_rules_forbid_change_nothing() {
    let h = Harness::start("").await;
    let id = h.placed("amend-2", dec!(1)).await.order.id;
    for (quantity, why) in [(dec!(1), "not lower"), (dec!(2), "higher")] {
        match h.oms.amend(id, quantity).await {
            Err(OmsError::Invalid { code, .. }) => assert_eq!(code, "invalid_quantity", "{why}"),
            other => panic!("{why}: expected invalid_quantity, got {other:?}"),
        }
    }
    // The venue executed more than omsd has heard of: the venue refuses, nothing changes.
    h.venue.trade(&cid("amend-2"), dec!(0.6)).expect("trade");
    let answered = h.oms.amend(id, dec!(0.5)).await.expect("amend accepted");
    match answered.await.expect("answered") {
        Err(OmsError::Conflict { code, message }) => {
            assert_eq!(code, "amend_rejected");
            assert!(message.contains("rejected"), "{message}");
        }
        other => panic!("expected the venue's refusal, got {other:?}"),
    }
    let detail = h.oms.get(id).await.expect("get").expect("order");
    assert_eq!(detail.order.quantity, dec!(1));
    assert!(
        event_kinds(&h, id)
            .await
            .contains(&"amend_rejected".to_string())
    );
    // Two amends at once: the second waits for nobody and is refused.
    let (first, second) = tokio::join!(h.oms.amend(id, dec!(0.9)), h.oms.amend(id, dec!(0.8)));
    assert!(first.is_ok(), "{first:?}");
    match second {
        Err(OmsError::Conflict { code, .. }) => assert_eq!(code, "amend_in_progress"),
        other => panic!("expected amend_in_progress, got {other:?}"),
    }
    let detail = first
        .expect("first")
        .await
        .expect("answered")
        .expect("amended");
    assert_eq!(detail.order.quantity, dec!(0.9));
    // A final order cannot be amended.
    h.venue.cancel_now(&cid("amend-2")).expect("cancel");
    let done = h.oms.cancel(id).await.expect("cancel");
    done.await.expect("cancel answered");
    match h.oms.amend(id, dec!(0.7)).await {
        Err(OmsError::Conflict { code, .. }) => assert_eq!(code, "order_not_amendable"),
        other => panic!("expected order_not_amendable, got {other:?}"),
    }
    match h.oms.amend(999_999, dec!(0.7)).await {
        Err(OmsError::NotFound(999_999)) => {}
        other => panic!("expected not found, got {other:?}"),
    }
    h.stop().await;
}

#[tokio::test]
async fn a_lost_amend_answer_is_settled_by_the_venue_view() {
    let h = Harness::start("").await;
    let id = h.placed("amend-3", dec!(1)).await.order.id;
    // Applied, but the answer is lost: the query shows the new quantity.
    h.venue.script_amends(&[Amend::ApplyLost]);
    let answered = h.oms.amend(id, dec!(0.6)).await.expect("amend accepted");
    match answered.await.expect("answered") {
        Err(OmsError::Unavailable { code, .. }) => assert_eq!(code, "amend_unconfirmed"),
        other => panic!("expected amend_unconfirmed, got {other:?}"),
    }
    h.until_stored(id, |d| d.order.quantity == dec!(0.6)).await;
    // Never received, answer lost: the query shows the quantity unchanged, and a later amend
    // starts from it.
    h.venue.script_amends(&[Amend::Lost]);
    let answered = h.oms.amend(id, dec!(0.3)).await.expect("amend accepted");
    assert!(answered.await.expect("answered").is_err());
    let detail = h.until(id, |_| true).await;
    assert_eq!(detail.order.quantity, dec!(0.6));
    let answered = loop {
        match h.oms.amend(id, dec!(0.5)).await {
            Err(OmsError::Conflict {
                code: "amend_in_progress",
                ..
            }) => {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            other => break other.expect("amend accepted"),
        }
    };
    let detail = answered.await.expect("answered").expect("amended");
    assert_eq!(detail.order.quantity, dec!(0.5));
    assert_eq!(
        h.venue.order(&cid("amend-3")).expect("order").quantity,
        dec!(0.5)
    );
    h.stop().await;
}
