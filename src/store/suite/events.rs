//! Suite cases for the event sequence: the ids a batch answers, and paging events after a
//! sequence with their orders' names (the live event feed's replay).

use std::sync::Arc;

use exchange_core::OrderStatus;
use rust_decimal_macros::dec;

use super::support::{T0, change, create, fill, new_order, write};
use crate::store::{OrderChange, Store, WriteBatch};

pub(super) async fn batches_answer_their_event_sequences_and_events_page_after_one(
    store: Arc<dyn Store>,
) {
    let first = create(&*store, &new_order("k1")).await;
    let batch = WriteBatch {
        new_orders: vec![new_order("k2"), new_order("k1"), new_order("k3")],
        changes: vec![
            change(first.id, OrderStatus::New, T0 + 1),
            OrderChange {
                filled_quantity: dec!(0.5),
                fills: vec![fill(first.id, "t1", dec!(100), dec!(0.5))],
                event_kind: "execution_report".into(),
                ..change(first.id, OrderStatus::PartiallyFilled, T0 + 2)
            },
        ],
        ..WriteBatch::default()
    };
    let outcome = write(&*store, &batch).await;
    // Two orders created (k1 is taken) and two changes: four events, ascending.
    assert_eq!(outcome.event_seqs.len(), 4, "{outcome:?}");
    assert!(outcome.event_seqs.windows(2).all(|w| w[0] < w[1]));
    let created: Vec<i64> = outcome.created.iter().flatten().map(|o| o.id).collect();

    let all = store.events_after(0, 100).await.expect("events_after");
    let seqs: Vec<i64> = all.iter().map(|e| e.seq).collect();
    assert_eq!(
        seqs.len(),
        5,
        "the first order's created event, then the batch's"
    );
    assert_eq!(seqs[1..], outcome.event_seqs[..]);
    let described: Vec<(i64, &str, &str)> = all
        .iter()
        .map(|e| {
            let order = e.event.order_id;
            (order, e.event.kind.as_str(), e.client_order_id.as_str())
        })
        .collect();
    assert_eq!(
        described,
        [
            (first.id, "created", "omsd-k1"),
            (created[0], "created", "omsd-k2"),
            (created[1], "created", "omsd-k3"),
            (first.id, "ack", "omsd-k1"),
            (first.id, "execution_report", "omsd-k1"),
        ]
    );
    assert!(
        all.iter()
            .all(|e| e.venue == "sim" && e.symbol == "BTC-USDT")
    );
    assert_eq!(all[4].event.status, OrderStatus::PartiallyFilled);

    // Paging: after a sequence, bounded.
    let page = store.events_after(seqs[1], 2).await.expect("page");
    let page: Vec<i64> = page.iter().map(|e| e.seq).collect();
    assert_eq!(page, seqs[2..4]);
    let rest = store.events_after(seqs[4], 10).await.expect("rest");
    assert!(rest.is_empty());
    assert!(store.events_after(0, 0).await.expect("none").is_empty());
}
