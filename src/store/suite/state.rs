//! Suite cases for the state the order processor keeps besides orders: the live working set,
//! unmatched fills, balances, watermarks, settings, and reachability.

use std::sync::Arc;

use exchange_core::OrderStatus;
use rust_decimal_macros::dec;
use serde_json::json;

use super::support::{T0, apply, balance, change, create, new_order, unmatched, watermark, write};
use crate::store::{
    NewOrderRecord, OrderChange, Store, StoreError, UnmatchedFillRecord, WriteBatch,
};

pub(super) async fn live_orders_include_inferred_terminal_orders(store: Arc<dyn Store>) {
    let mut want = Vec::new();
    for (i, status) in OrderStatus::ALL.into_iter().enumerate() {
        for (venue, inferred) in [("sim", false), ("binance", true)] {
            let order = NewOrderRecord {
                venue: venue.into(),
                created_at_ms: T0 + i as i64,
                ..new_order(&format!("{venue}-{}", status.as_str()))
            };
            let id = create(&*store, &order).await.id;
            let inferred = inferred && status != OrderStatus::PendingNew;
            if status != OrderStatus::PendingNew {
                let change = OrderChange {
                    status_inferred: inferred,
                    ..change(id, status, T0 + 100)
                };
                apply(&*store, &change).await;
            }
            if inferred || !status.is_terminal() {
                want.push((id, status, inferred));
            }
        }
    }
    let live = store.live_orders().await.unwrap();
    let got: Vec<_> = live
        .iter()
        .map(|o| (o.id, o.status, o.status_inferred))
        .collect();
    assert_eq!(
        got, want,
        "non-terminal or inferred, all venues, oldest first"
    );
    assert!(
        got.iter()
            .any(|(_, status, inferred)| status.is_terminal() && *inferred)
    );

    // The venue confirms an inferred terminal state: the order leaves the working set.
    let (id, status, _) = *want.iter().find(|(_, s, i)| s.is_terminal() && *i).unwrap();
    apply(&*store, &change(id, status, T0 + 200)).await;
    let stored = store.get_order(id).await.unwrap().unwrap();
    assert!(!stored.status_inferred);
    let live = store.live_orders().await.unwrap();
    assert!(live.iter().all(|o| o.id != id));
    assert_eq!(live.len(), want.len() - 1);
}

pub(super) async fn unmatched_fills_are_kept_until_claimed(store: Arc<dyn Store>) {
    let named = UnmatchedFillRecord {
        client_order_id: "omsd-x".into(),
        fee_asset: Some("BNB".into()),
        is_maker: true,
        ..unmatched("V-9", "2", T0 + 2)
    };
    let elsewhere = UnmatchedFillRecord {
        venue: "binance".into(),
        ..unmatched("V-9", "1", T0)
    };
    let first = WriteBatch {
        unmatched_fills: vec![
            named.clone(),
            unmatched("V-9", "1", T0 + 1),
            unmatched("V-10", "1", T0),
            elsewhere.clone(),
        ],
        ..WriteBatch::default()
    };
    write(&*store, &first).await;
    // A replay (the same venue order and trade) is not stored twice.
    let replay = WriteBatch {
        unmatched_fills: vec![unmatched("V-9", "1", T0 + 1)],
        ..WriteBatch::default()
    };
    write(&*store, &replay).await;

    let v9 = store
        .unmatched_fills("sim", "BTCUSDT", "V-9")
        .await
        .unwrap();
    assert_eq!(
        v9,
        vec![unmatched("V-9", "1", T0 + 1), named],
        "oldest first"
    );
    assert_eq!(store.unmatched_fill_count("sim").await.unwrap(), 3);
    assert_eq!(store.unmatched_fill_count("binance").await.unwrap(), 1);
    assert_eq!(store.unmatched_fill_count("nowhere").await.unwrap(), 0);
    let other_symbol = store.unmatched_fills("sim", "ETHUSDT", "V-9").await;
    assert_eq!(other_symbol.unwrap(), vec![]);

    // An order adopts V-9: its fills move to the order and the unmatched rows go.
    let adopted = create(&*store, &new_order("k1")).await.id;
    let fills = v9
        .iter()
        .map(|u| super::support::fill(adopted, &u.trade_id, u.price, u.quantity))
        .collect();
    let claim = WriteBatch {
        changes: vec![OrderChange {
            venue_order_id: Some("V-9".into()),
            fills,
            ..change(adopted, OrderStatus::PartiallyFilled, T0 + 3)
        }],
        claimed_unmatched: vec![
            ("sim".into(), "BTCUSDT".into(), "V-9".into()),
            ("sim".into(), "BTCUSDT".into(), "V-404".into()),
        ],
        ..WriteBatch::default()
    };
    assert_eq!(write(&*store, &claim).await.fills_inserted, 2);
    let v9 = store.unmatched_fills("sim", "BTCUSDT", "V-9").await;
    assert_eq!(v9.unwrap(), vec![]);
    assert_eq!(store.unmatched_fill_count("sim").await.unwrap(), 1);
    let kept = store.unmatched_fills("binance", "BTCUSDT", "V-9").await;
    assert_eq!(kept.unwrap(), vec![elsewhere]);
}

pub(super) async fn balances_and_watermarks_are_upserted(store: Arc<dyn Store>) {
    let first = WriteBatch {
        balances: vec![
            balance("sim", "USDT", dec!(1000.00), T0),
            balance("sim", "BTC", dec!(1), T0),
            balance("binance", "BTC", dec!(2), T0),
        ],
        watermarks: vec![
            watermark("sim", "ETHUSDT", "trades", "10"),
            watermark("sim", "BTCUSDT", "trades", "5"),
            watermark("sim", "BTCUSDT", "orders", "7"),
            watermark("binance", "BTCUSDT", "trades", "1"),
        ],
        ..WriteBatch::default()
    };
    write(&*store, &first).await;
    // Later values replace stored ones; within a batch the last entry wins.
    let second = WriteBatch {
        balances: vec![
            balance("sim", "BTC", dec!(0.9), T0 + 1),
            balance("sim", "BTC", dec!(0.75), T0 + 2),
        ],
        watermarks: vec![
            watermark("sim", "BTCUSDT", "trades", "6"),
            watermark("sim", "BTCUSDT", "trades", "8"),
        ],
        ..WriteBatch::default()
    };
    write(&*store, &second).await;

    let want_sim = vec![
        balance("sim", "BTC", dec!(0.75), T0 + 2),
        balance("sim", "USDT", dec!(1000.00), T0),
    ];
    assert_eq!(store.balances(Some("sim")).await.unwrap(), want_sim);
    let mut want_all = vec![balance("binance", "BTC", dec!(2), T0)];
    want_all.extend(want_sim);
    assert_eq!(store.balances(None).await.unwrap(), want_all);
    assert_eq!(store.balances(Some("nowhere")).await.unwrap(), vec![]);
    let usdt = &store.balances(Some("sim")).await.unwrap()[1];
    assert_eq!(usdt.free.to_string(), "1000.00", "the scale survives");

    let want = vec![
        watermark("sim", "BTCUSDT", "orders", "7"),
        watermark("sim", "BTCUSDT", "trades", "8"),
        watermark("sim", "ETHUSDT", "trades", "10"),
    ];
    assert_eq!(store.watermarks("sim").await.unwrap(), want);
    assert_eq!(store.watermarks("binance").await.unwrap().len(), 1);
    assert_eq!(store.watermarks("nowhere").await.unwrap(), vec![]);

    // A kind the schema does not know fails the whole batch.
    let bad = WriteBatch {
        balances: vec![balance("sim", "ETH", dec!(3), T0 + 3)],
        watermarks: vec![watermark("sim", "BTCUSDT", "candles", "1")],
        ..WriteBatch::default()
    };
    assert!(matches!(
        store.write_batch(&bad).await,
        Err(StoreError::Database(_))
    ));
    assert_eq!(store.balances(Some("sim")).await.unwrap().len(), 2);
}

pub(super) async fn settings_are_upserted(store: Arc<dyn Store>) {
    assert_eq!(store.setting("kill_switch").await.unwrap(), None);
    let engaged = json!({"engaged": true, "reason": "operator", "since_ms": T0, "n": [1, 2.5]});
    let batch = WriteBatch {
        settings: vec![
            ("kill_switch".into(), json!({"engaged": false})),
            ("kill_switch".into(), engaged.clone()),
            ("other".into(), json!("text")),
        ],
        ..WriteBatch::default()
    };
    write(&*store, &batch).await;
    assert_eq!(store.setting("kill_switch").await.unwrap(), Some(engaged));
    assert_eq!(store.setting("other").await.unwrap(), Some(json!("text")));

    let released = WriteBatch {
        settings: vec![("kill_switch".into(), json!({"engaged": false}))],
        ..WriteBatch::default()
    };
    write(&*store, &released).await;
    let stored = store.setting("kill_switch").await.unwrap();
    assert_eq!(stored, Some(json!({"engaged": false})));
    assert_eq!(store.setting("missing").await.unwrap(), None);
}

pub(super) async fn ping_answers_until_closed(store: Arc<dyn Store>) {
    store.ping().await.expect("ping an open store");
    store.close().await;
    assert!(store.ping().await.is_err(), "a closed store is unreachable");
}
