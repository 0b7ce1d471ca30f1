//! Suite cases for [`Store::write_batch`] on orders and fills: conflicting new orders, several
//! changes to one order, fill replays, own-order cross trades, atomicity and a large batch.

use std::sync::Arc;

use exchange_core::{OrderStatus, Side};
use rust_decimal_macros::dec;
use serde_json::json;

use super::support::{T0, apply, change, create, fill, keys, new_order, write};
use crate::store::{
    FillRecord, IdempotencyKeyRecord, NewOrderRecord, OrderChange, OrderFilter, Store, StoreError,
    WriteBatch,
};

pub(super) async fn batch_with_conflicting_new_orders_writes_the_free_ones(store: Arc<dyn Store>) {
    let stored = create(&*store, &new_order("k1")).await;
    let at = |key: &str| NewOrderRecord {
        created_at_ms: T0 + 1,
        ..new_order(key)
    };
    let batch = WriteBatch {
        new_orders: vec![
            at("k2"),
            // The key is stored.
            NewOrderRecord {
                client_order_id: "omsd-other".into(),
                ..at("k1")
            },
            // The client order id is taken by the entry before it, in this batch.
            NewOrderRecord {
                client_order_id: "omsd-k2".into(),
                ..at("k3")
            },
            at("k4"),
        ],
        // Changes in the same batch still apply.
        changes: vec![change(stored.id, OrderStatus::New, T0 + 1)],
        ..WriteBatch::default()
    };
    let outcome = write(&*store, &batch).await;
    let created: Vec<_> = outcome
        .created
        .iter()
        .map(|o| o.as_ref().map(|o| o.idempotency_key.as_str()))
        .collect();
    assert_eq!(created, [Some("k2"), None, None, Some("k4")]);
    assert_eq!(outcome.fills_inserted, 0);
    for record in outcome.created.iter().flatten() {
        assert_eq!(
            store.get_order(record.id).await.unwrap().as_ref(),
            Some(record)
        );
        let events = store.events_for_order(record.id).await.unwrap();
        assert_eq!(events.len(), 1, "one created event");
        assert_eq!(
            (events[0].kind.as_str(), events[0].time_ms),
            ("created", T0 + 1)
        );
        let by_key = store
            .find_order_by_idempotency_key(&record.idempotency_key)
            .await;
        assert_eq!(by_key.unwrap().as_ref(), Some(record));
    }
    assert_eq!(
        keys(&*store, OrderFilter::default()).await,
        ["k4", "k2", "k1"]
    );
    let k1 = store.get_order(stored.id).await.unwrap().unwrap();
    assert_eq!(
        (k1.status, k1.client_order_id.as_str()),
        (OrderStatus::New, "omsd-k1")
    );
    assert_eq!(
        store.find_order_by_idempotency_key("k3").await.unwrap(),
        None
    );

    // Keys of one batch share a time: the later order comes first.
    let recent = store.recent_idempotency_keys(10).await.unwrap();
    let ids = |key: &str| {
        let order = outcome
            .created
            .iter()
            .flatten()
            .find(|o| o.idempotency_key == key);
        order.map_or(stored.id, |o| o.id)
    };
    let want: Vec<_> = ["k4", "k2", "k1"]
        .into_iter()
        .map(|key| IdempotencyKeyRecord {
            key: key.into(),
            order_id: ids(key),
            request_hash: format!("hash-{key}"),
        })
        .collect();
    assert_eq!(recent, want);
    assert_eq!(store.recent_idempotency_keys(2).await.unwrap(), want[..2]);
    assert_eq!(store.recent_idempotency_keys(0).await.unwrap(), vec![]);
}

pub(super) async fn two_changes_to_one_order_in_one_batch(store: Arc<dyn Store>) {
    let id = create(&*store, &new_order("k1")).await.id;
    let other = create(&*store, &new_order("k2")).await.id;
    let ack = OrderChange {
        venue_order_id: Some("V-1".into()),
        ..change(id, OrderStatus::New, T0 + 1)
    };
    let trade = fill(id, "T-1", dec!(30000.10), dec!(0.2));
    let partial = OrderChange {
        filled_quantity: dec!(0.2),
        cumulative_quote: dec!(6000.02),
        event_kind: "execution".into(),
        event_detail: json!({"trade_id": "T-1"}),
        fills: vec![trade.clone()],
        ..change(id, OrderStatus::PartiallyFilled, T0 + 2)
    };
    let reject = OrderChange {
        reject_reason: Some("no".into()),
        ..change(other, OrderStatus::Rejected, T0 + 3)
    };
    let batch = WriteBatch {
        changes: vec![ack, reject, partial],
        ..WriteBatch::default()
    };
    assert_eq!(write(&*store, &batch).await.fills_inserted, 1);

    let stored = store.get_order(id).await.unwrap().unwrap();
    let state = (
        stored.status,
        stored.filled_quantity,
        stored.cumulative_quote,
    );
    assert_eq!(
        state,
        (OrderStatus::PartiallyFilled, dec!(0.2), dec!(6000.02))
    );
    assert_eq!(
        stored.venue_order_id.as_deref(),
        Some("V-1"),
        "kept from the ack"
    );
    assert_eq!(stored.updated_at_ms, T0 + 2);
    let events = store.events_for_order(id).await.unwrap();
    let summary: Vec<_> = events.iter().map(|e| (e.kind.as_str(), e.status)).collect();
    let want = [
        ("created", OrderStatus::PendingNew),
        ("ack", OrderStatus::New),
        ("execution", OrderStatus::PartiallyFilled),
    ];
    assert_eq!(summary, want);
    assert_eq!(events[2].detail, json!({"trade_id": "T-1"}));
    assert_eq!(store.fills_for_order(id).await.unwrap(), vec![trade]);
    let rejected = store.get_order(other).await.unwrap().unwrap();
    assert_eq!(
        (rejected.status, rejected.reject_reason.as_deref()),
        (OrderStatus::Rejected, Some("no"))
    );
}

pub(super) async fn replayed_fills_are_stored_once(store: Arc<dyn Store>) {
    let id = create(&*store, &new_order("k1")).await.id;
    let (t1, t2) = (
        fill(id, "1", dec!(1), dec!(0.1)),
        fill(id, "2", dec!(1), dec!(0.1)),
    );
    let with = |fills: Vec<FillRecord>, at| OrderChange {
        fills,
        event_kind: "execution".into(),
        ..change(id, OrderStatus::PartiallyFilled, at)
    };
    // The same fill twice in one batch, then again with a new one in the next batch.
    let first = WriteBatch {
        changes: vec![
            with(vec![t1.clone()], T0 + 1),
            with(vec![t1.clone()], T0 + 2),
        ],
        ..WriteBatch::default()
    };
    assert_eq!(write(&*store, &first).await.fills_inserted, 1);
    let second = WriteBatch {
        changes: vec![with(vec![t1.clone(), t2.clone()], T0 + 3)],
        ..WriteBatch::default()
    };
    assert_eq!(write(&*store, &second).await.fills_inserted, 1);
    assert_eq!(store.fills_for_order(id).await.unwrap(), vec![t1, t2]);
    assert_eq!(store.events_for_order(id).await.unwrap().len(), 4);
}

pub(super) async fn own_orders_trading_with_each_other_keep_both_fills(store: Arc<dyn Store>) {
    let buy = create(&*store, &new_order("k1")).await.id;
    let sell = create(&*store, &new_order("k2")).await.id;
    let buy_fill = fill(buy, "77", dec!(30000), dec!(0.5));
    let sell_fill = FillRecord {
        side: Side::Sell,
        is_maker: false,
        ..fill(sell, "77", dec!(30000), dec!(0.5))
    };
    let filled = |id, f: &FillRecord| OrderChange {
        filled_quantity: dec!(0.5),
        cumulative_quote: dec!(15000),
        fills: vec![f.clone()],
        ..change(id, OrderStatus::Filled, T0 + 1)
    };
    let batch = WriteBatch {
        changes: vec![filled(sell, &sell_fill), filled(buy, &buy_fill)],
        ..WriteBatch::default()
    };
    assert_eq!(write(&*store, &batch).await.fills_inserted, 2);
    // A replay of either side stays a duplicate.
    assert_eq!(apply(&*store, &filled(sell, &sell_fill)).await, 0);

    let both = store.fills_for_orders(&[sell, buy, sell]).await.unwrap();
    assert_eq!(both, vec![buy_fill, sell_fill], "by order, then time");
    assert_eq!(store.fills_for_orders(&[]).await.unwrap(), vec![]);
    assert_eq!(store.fills_for_orders(&[sell + 100]).await.unwrap(), vec![]);
}

pub(super) async fn a_failing_batch_writes_nothing(store: Arc<dyn Store>) {
    let id = create(&*store, &new_order("k1")).await.id;
    let missing = id + 1000;
    let batch = WriteBatch {
        new_orders: vec![new_order("k2")],
        changes: vec![
            change(id, OrderStatus::New, T0 + 1),
            OrderChange {
                fills: vec![fill(missing, "5", dec!(1), dec!(1))],
                ..change(missing, OrderStatus::New, T0 + 1)
            },
        ],
        settings: vec![("kill_switch".into(), json!(true))],
        ..WriteBatch::default()
    };
    match store.write_batch(&batch).await {
        Err(StoreError::OrderNotFound(order_id)) => assert_eq!(order_id, missing),
        other => panic!("expected OrderNotFound, got {other:?}"),
    }
    assert_eq!(
        store.find_order_by_idempotency_key("k2").await.unwrap(),
        None
    );
    let untouched = store.get_order(id).await.unwrap().unwrap();
    assert_eq!(untouched.status, OrderStatus::PendingNew);
    assert_eq!(store.events_for_order(id).await.unwrap().len(), 1);
    assert_eq!(store.setting("kill_switch").await.unwrap(), None);

    let empty = write(&*store, &WriteBatch::default()).await;
    assert_eq!((empty.created, empty.fills_inserted), (vec![], 0));
}

/// Large enough that every statement is split at the bind limit on both backends (6000 fills
/// of 11 values each exceed 65535 parameters).
pub(super) async fn a_thousand_order_batch(store: Arc<dyn Store>) {
    const ORDERS: usize = 1000;
    const FILLS_PER_ORDER: usize = 6;
    let orders: Vec<_> = (0..ORDERS)
        .map(|i| NewOrderRecord {
            created_at_ms: T0 + i as i64,
            ..new_order(&format!("k{i}"))
        })
        .collect();
    let batch = WriteBatch {
        new_orders: orders.clone(),
        ..WriteBatch::default()
    };
    let outcome = write(&*store, &batch).await;
    let created: Vec<_> = outcome.created.into_iter().flatten().collect();
    assert_eq!(created.len(), ORDERS);
    for (order, record) in orders.iter().zip(&created) {
        assert_eq!(record.idempotency_key, order.idempotency_key);
    }

    let changes: Vec<_> = created
        .iter()
        .map(|order| {
            let fills = (0..FILLS_PER_ORDER)
                .map(|n| fill(order.id, &format!("{}-{n}", order.id), dec!(1), dec!(0.01)))
                .collect();
            OrderChange {
                fills,
                ..change(order.id, OrderStatus::Filled, T0 + 5000)
            }
        })
        .collect();
    let batch = WriteBatch {
        changes,
        ..WriteBatch::default()
    };
    assert_eq!(
        write(&*store, &batch).await.fills_inserted,
        ORDERS * FILLS_PER_ORDER
    );
    let ids: Vec<i64> = created.iter().map(|o| o.id).collect();
    let fills = store.fills_for_orders(&ids).await.unwrap();
    assert_eq!(fills.len(), ORDERS * FILLS_PER_ORDER);
    assert!(fills.windows(2).all(|w| w[0].order_id <= w[1].order_id));
    assert!(store.live_orders().await.unwrap().is_empty());
    let recent = store.recent_idempotency_keys(ORDERS as i64).await.unwrap();
    assert_eq!(recent.len(), ORDERS);
    assert_eq!(recent[0].key, format!("k{}", ORDERS - 1));
}
