//! One behaviour suite for every store backend: each case runs against an SQLite file, an
//! in-memory SQLite database and PostgreSQL, through `&dyn Store` only. The cases on batches
//! are in `batch`, those on the processor's other state in `state`, market data in `market`; `upgrade` migrates a
//! database made by the first schema and `durability` checks the commit settings.
//!
//! The PostgreSQL runs need a server: `OMSD_TEST_DATABASE_URL` (e.g. from
//! `scripts/pg-test-cluster.sh start`); each test creates and drops its own database. Without
//! the variable they are skipped with a note, except under `CI`, where they fail.

mod batch;
mod durability;
mod events;
mod market;
mod report;
mod state;
mod support;
mod timescale;
mod upgrade;

use std::sync::Arc;

use exchange_core::OrderStatus;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::json;

use super::{
    CreateOutcome, FillRecord, NewOrderRecord, OrderChange, OrderFilter, OrderRecord, Store,
    StoreError,
};
use batch::{
    a_failing_batch_writes_nothing, a_thousand_order_batch,
    batch_with_conflicting_new_orders_writes_the_free_ones,
    own_orders_trading_with_each_other_keep_both_fills, replayed_fills_are_stored_once,
    two_changes_to_one_order_in_one_batch,
};
use events::batches_answer_their_event_sequences_and_events_page_after_one;
use market::{
    a_large_trade_flush_is_written_whole, book_snapshots_are_stored_and_read_newest_first,
    candles_fold_exactly_from_stored_trades, plain_tables_take_no_market_policies,
    trades_are_stored_once_and_paged_newest_first,
};
use report::report_inputs_are_the_days_orders_and_every_fill_until_its_end;
use state::{
    balances_and_watermarks_are_upserted, live_orders_include_inferred_terminal_orders,
    ping_answers_until_closed, settings_are_upserted, unmatched_fills_are_kept_until_claimed,
};
use support::{T0, apply, change, create, fill, filter, keys, new_order};

macro_rules! for_backend {
    ($backend:ident: $($case:ident),+) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::support::run(super::support::TestDb::$backend, super::$case).await;
                }
            )+
        }
    };
}

macro_rules! suite {
    ($($case:ident),+ $(,)?) => {
        for_backend!(sqlite: $($case),+);
        for_backend!(sqlite_memory: $($case),+);
        for_backend!(postgres: $($case),+);
    };
}

suite!(
    create_then_find,
    same_key_twice_returns_the_same_order,
    concurrent_creates_with_one_key_write_one_order,
    apply_change_updates_state_appends_events_and_stores_fills_once,
    apply_change_to_a_missing_order_fails,
    decimals_round_trip_exactly,
    list_orders_filters_newest_first,
    open_orders_excludes_terminal,
    migrate_twice_is_a_no_op,
    venue_order_id_and_last_fill_lookups,
    batch_with_conflicting_new_orders_writes_the_free_ones,
    two_changes_to_one_order_in_one_batch,
    replayed_fills_are_stored_once,
    own_orders_trading_with_each_other_keep_both_fills,
    a_failing_batch_writes_nothing,
    a_thousand_order_batch,
    live_orders_include_inferred_terminal_orders,
    unmatched_fills_are_kept_until_claimed,
    balances_and_watermarks_are_upserted,
    settings_are_upserted,
    ping_answers_until_closed,
    trades_are_stored_once_and_paged_newest_first,
    candles_fold_exactly_from_stored_trades,
    book_snapshots_are_stored_and_read_newest_first,
    a_large_trade_flush_is_written_whole,
    plain_tables_take_no_market_policies,
    report_inputs_are_the_days_orders_and_every_fill_until_its_end,
    batches_answer_their_event_sequences_and_events_page_after_one,
);

async fn create_then_find(store: Arc<dyn Store>) {
    let order = new_order("k1");
    let created = create(&*store, &order).await;
    assert!(created.id > 0);
    let want = OrderRecord {
        id: created.id,
        venue: order.venue,
        account: order.account,
        symbol: order.symbol,
        venue_symbol: order.venue_symbol,
        client_order_id: order.client_order_id,
        venue_order_id: None,
        side: order.side,
        order_type: order.order_type,
        time_in_force: order.time_in_force,
        quantity: order.quantity,
        price: order.price,
        status: OrderStatus::PendingNew,
        filled_quantity: Decimal::ZERO,
        cumulative_quote: Decimal::ZERO,
        reject_reason: None,
        idempotency_key: "k1".into(),
        request_hash: "hash-k1".into(),
        created_at_ms: T0,
        updated_at_ms: T0,
        status_inferred: false,
    };
    assert_eq!(created, want);
    let found = [
        store.get_order(want.id).await,
        store
            .find_order_by_client_id("sim", "main", "omsd-k1")
            .await,
        store.find_order_by_idempotency_key("k1").await,
    ];
    for found in found {
        assert_eq!(found.unwrap().as_ref(), Some(&want));
    }
    let missing = [
        store.get_order(want.id + 1000).await,
        store
            .find_order_by_client_id("sim", "other", "omsd-k1")
            .await,
        store.find_order_by_idempotency_key("k2").await,
    ];
    for missing in missing {
        assert_eq!(missing.unwrap(), None);
    }

    let events = store.events_for_order(want.id).await.unwrap();
    let summary: Vec<_> = events
        .iter()
        .map(|e| (e.kind.as_str(), e.status, e.time_ms))
        .collect();
    assert_eq!(summary, [("created", OrderStatus::PendingNew, T0)]);
}

async fn same_key_twice_returns_the_same_order(store: Arc<dyn Store>) {
    let first = create(&*store, &new_order("k1")).await;
    let existing = CreateOutcome::Existing(first.clone());
    assert_eq!(
        store.create_order(&new_order("k1")).await.unwrap(),
        existing
    );

    // A reused key with another body still answers with the first order (the caller compares
    // request hashes); so does a new key whose client order id is already in use.
    let other_body = NewOrderRecord {
        quantity: dec!(9),
        request_hash: "x".into(),
        ..new_order("k1")
    };
    assert_eq!(store.create_order(&other_body).await.unwrap(), existing);
    let same_client_id = NewOrderRecord {
        client_order_id: "omsd-k1".into(),
        ..new_order("k2")
    };
    assert_eq!(store.create_order(&same_client_id).await.unwrap(), existing);
    assert_eq!(
        store.find_order_by_idempotency_key("k2").await.unwrap(),
        None
    );

    let second = create(&*store, &new_order("k3")).await;
    assert_ne!(second.id, first.id);
    assert_eq!(keys(&*store, OrderFilter::default()).await, ["k3", "k1"]);
    assert_eq!(store.events_for_order(first.id).await.unwrap().len(), 1);
}

async fn concurrent_creates_with_one_key_write_one_order(store: Arc<dyn Store>) {
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.create_order(&new_order("k1")).await })
        })
        .collect();
    let (mut created, mut ids) = (0, Vec::new());
    for task in tasks {
        match task.await.unwrap().unwrap() {
            CreateOutcome::Created(record) => {
                created += 1;
                ids.push(record.id);
            }
            CreateOutcome::Existing(record) => ids.push(record.id),
        }
    }
    assert_eq!(created, 1, "exactly one call creates the order");
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");

    let k2 = new_order("k2");
    let (a, b) = tokio::join!(store.create_order(&k2), store.create_order(&k2));
    match (a.unwrap(), b.unwrap()) {
        (CreateOutcome::Created(x), CreateOutcome::Existing(y))
        | (CreateOutcome::Existing(y), CreateOutcome::Created(x)) => assert_eq!(x, y),
        other => panic!("expected one created and one existing, got {other:?}"),
    }

    assert_eq!(keys(&*store, OrderFilter::default()).await, ["k2", "k1"]);
    assert_eq!(store.events_for_order(ids[0]).await.unwrap().len(), 1);
}

async fn apply_change_updates_state_appends_events_and_stores_fills_once(store: Arc<dyn Store>) {
    let id = create(&*store, &new_order("k1")).await.id;
    let ack = OrderChange {
        venue_order_id: Some("V-1".into()),
        ..change(id, OrderStatus::New, T0 + 1)
    };
    assert_eq!(apply(&*store, &ack).await, 0);

    let trade = fill(id, "T-1", dec!(30000.10), dec!(0.2));
    let execution = OrderChange {
        filled_quantity: dec!(0.2),
        cumulative_quote: dec!(6000.02),
        event_kind: "execution".into(),
        event_detail: json!({"trade_id": "T-1", "nested": {"list": [1, 2.5, null]}}),
        fills: vec![trade.clone()],
        ..change(id, OrderStatus::PartiallyFilled, T0 + 2)
    };
    assert_eq!(apply(&*store, &execution).await, 1);
    // The same report again (a duplicate from the stream): the fill is not stored twice.
    let replay = OrderChange {
        time_ms: T0 + 3,
        ..execution.clone()
    };
    assert_eq!(apply(&*store, &replay).await, 0);

    let stored = store.get_order(id).await.unwrap().unwrap();
    assert_eq!(stored.status, OrderStatus::PartiallyFilled);
    assert_eq!(
        (stored.filled_quantity, stored.cumulative_quote),
        (dec!(0.2), dec!(6000.02))
    );
    assert_eq!(
        stored.venue_order_id.as_deref(),
        Some("V-1"),
        "None keeps the venue order id"
    );
    assert_eq!((stored.created_at_ms, stored.updated_at_ms), (T0, T0 + 3));

    let reason = Some("insufficient balance".to_owned());
    let rejected = OrderChange {
        reject_reason: reason.clone(),
        ..change(id, OrderStatus::Rejected, T0 + 4)
    };
    assert_eq!(apply(&*store, &rejected).await, 0);
    let stored = store.get_order(id).await.unwrap().unwrap();
    assert_eq!(
        (stored.reject_reason, stored.venue_order_id.as_deref()),
        (reason, Some("V-1"))
    );

    assert_eq!(store.fills_for_order(id).await.unwrap(), vec![trade]);
    let events = store.events_for_order(id).await.unwrap();
    let summary: Vec<_> = events
        .iter()
        .map(|e| (e.kind.as_str(), e.status, e.time_ms))
        .collect();
    let want = [
        ("created", OrderStatus::PendingNew, T0),
        ("ack", OrderStatus::New, T0 + 1),
        ("execution", OrderStatus::PartiallyFilled, T0 + 2),
        ("execution", OrderStatus::PartiallyFilled, T0 + 3),
        ("ack", OrderStatus::Rejected, T0 + 4),
    ];
    assert_eq!(summary, want);
    assert_eq!(events[2].detail, execution.event_detail);
    assert!(events.iter().all(|e| e.order_id == id));
}

async fn apply_change_to_a_missing_order_fails(store: Arc<dyn Store>) {
    let missing = create(&*store, &new_order("k1")).await.id + 1000;
    let fills = vec![fill(missing, "T-9", dec!(1), dec!(1))];
    let stray = OrderChange {
        fills,
        ..change(missing, OrderStatus::New, T0)
    };
    match store.apply_change(&stray).await {
        Err(StoreError::OrderNotFound(id)) => assert_eq!(id, missing),
        other => panic!("expected OrderNotFound, got {other:?}"),
    }
    assert_eq!(store.events_for_order(missing).await.unwrap(), vec![]);
    assert_eq!(store.fills_for_order(missing).await.unwrap(), vec![]);
}

async fn decimals_round_trip_exactly(store: Arc<dyn Store>) {
    let values = [
        dec!(0.00000001),
        dec!(123456789.12345678),
        dec!(30000.10),
        Decimal::MAX,
        dec!(0.0000000000000000000000000001),
    ];
    for (i, v) in values.into_iter().enumerate() {
        let order = NewOrderRecord {
            quantity: v,
            price: Some(v),
            ..new_order(&format!("k{i}"))
        };
        let id = create(&*store, &order).await.id;
        let trade = FillRecord {
            fee: v,
            ..fill(id, &format!("T-{i}"), v, v)
        };
        let filled = OrderChange {
            filled_quantity: v,
            cumulative_quote: v,
            fills: vec![trade],
            ..change(id, OrderStatus::Filled, T0)
        };
        assert_eq!(apply(&*store, &filled).await, 1);

        let o = store.get_order(id).await.unwrap().unwrap();
        let f = &store.fills_for_order(id).await.unwrap()[0];
        // Compare the text: the scale (trailing zeros) must survive as well as the value.
        let stored = [
            o.quantity,
            o.price.unwrap(),
            o.filled_quantity,
            o.cumulative_quote,
        ];
        for got in stored.into_iter().chain([f.price, f.quantity, f.fee]) {
            assert_eq!(got.to_string(), v.to_string());
        }
    }
}

async fn list_orders_filters_newest_first(store: Arc<dyn Store>) {
    let specs = [
        ("a", "sim", "BTC-USDT", T0),
        ("b", "sim", "ETH-USDT", T0 + 10),
        ("c", "binance", "BTC-USDT", T0 + 20),
        ("d", "sim", "BTC-USDT", T0 + 30),
        ("e", "sim", "BTC-USDT", T0 + 30),
    ];
    for (key, venue, symbol, at) in specs {
        let (venue, symbol) = (venue.into(), symbol.into());
        let order = NewOrderRecord {
            venue,
            symbol,
            created_at_ms: at,
            ..new_order(key)
        };
        let id = create(&*store, &order).await.id;
        if key == "d" {
            apply(&*store, &change(id, OrderStatus::New, T0 + 40)).await;
        }
    }

    let (sim, btc) = (Some("sim"), Some("BTC-USDT"));
    let (new, pending) = (Some(OrderStatus::New), Some(OrderStatus::PendingNew));
    // Newest first; the same creation time puts the later insert first.
    let cases: &[(OrderFilter, &[&str])] = &[
        (filter(None, None, None, 0), &["e", "d", "c", "b", "a"]),
        (filter(sim, None, None, 0), &["e", "d", "b", "a"]),
        (filter(None, btc, None, 0), &["e", "d", "c", "a"]),
        (filter(None, None, new, 0), &["d"]),
        (filter(sim, btc, pending, 0), &["e", "a"]),
        (filter(None, None, None, 2), &["e", "d"]),
        (filter(None, None, None, -5), &["e", "d", "c", "b", "a"]),
        (filter(Some("nowhere"), None, None, 0), &[]),
    ];
    for (filter, want) in cases {
        assert_eq!(keys(&*store, filter.clone()).await, *want, "{filter:?}");
    }
}

async fn open_orders_excludes_terminal(store: Arc<dyn Store>) {
    let mut want_open = Vec::new();
    for (i, status) in OrderStatus::ALL.into_iter().enumerate() {
        let order = NewOrderRecord {
            created_at_ms: T0 + i as i64,
            ..new_order(status.as_str())
        };
        let id = create(&*store, &order).await.id;
        if status != OrderStatus::PendingNew {
            apply(&*store, &change(id, status, T0 + 100)).await;
        }
        if !status.is_terminal() {
            want_open.push(status);
        }
    }
    let elsewhere = NewOrderRecord {
        venue: "binance".into(),
        ..new_order("elsewhere")
    };
    create(&*store, &elsewhere).await;

    let open = store.open_orders("sim").await.unwrap();
    let statuses: Vec<_> = open.iter().map(|o| o.status).collect();
    assert_eq!(statuses, want_open, "oldest first, non-terminal only");
    assert_eq!(want_open.len(), 5);
    assert_eq!(store.open_orders("binance").await.unwrap().len(), 1);
    assert!(store.open_orders("nowhere").await.unwrap().is_empty());
}

async fn migrate_twice_is_a_no_op(store: Arc<dyn Store>) {
    let order = create(&*store, &new_order("k1")).await;
    store.migrate().await.expect("second migrate");
    store.migrate().await.expect("third migrate");
    assert_eq!(store.get_order(order.id).await.unwrap(), Some(order));
    create(&*store, &new_order("k2")).await;
}

async fn venue_order_id_and_last_fill_lookups(store: Arc<dyn Store>) {
    let id = create(&*store, &new_order("k1")).await.id;
    assert_eq!(store.last_fill("sim", "BTCUSDT").await.unwrap(), None);
    let fills: Vec<FillRecord> = ["9", "10", "2"]
        .iter()
        .map(|t| fill(id, t, dec!(1), dec!(0.1)))
        .collect();
    let ack = OrderChange {
        venue_order_id: Some("V-7".into()),
        fills,
        ..change(id, OrderStatus::PartiallyFilled, T0 + 1)
    };
    assert_eq!(apply(&*store, &ack).await, 3);

    let found = store
        .find_order_by_venue_order_id("sim", "BTCUSDT", "V-7")
        .await
        .unwrap();
    assert_eq!(found.map(|o| o.id), Some(id));
    for (venue, symbol, venue_order_id) in [
        ("sim", "BTCUSDT", "V-8"),
        ("sim", "ETHUSDT", "V-7"),
        ("x", "BTCUSDT", "V-7"),
    ] {
        let missing = store
            .find_order_by_venue_order_id(venue, symbol, venue_order_id)
            .await;
        assert_eq!(missing.unwrap(), None, "{venue} {symbol} {venue_order_id}");
    }
    // Trade ids compare as numbers: 10 is newer than 9 and 2.
    let last = store.last_fill("sim", "BTCUSDT").await.unwrap();
    assert_eq!(last.map(|f| f.trade_id), Some("10".to_string()));
    assert_eq!(store.last_fill("sim", "ETHUSDT").await.unwrap(), None);
}
