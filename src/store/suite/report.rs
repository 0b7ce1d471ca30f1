//! The end-of-day report's reads.

use std::sync::Arc;

use exchange_core::OrderStatus;
use rust_decimal_macros::dec;

use super::support::{T0, apply, change, create, fill, new_order};
use crate::report::{DAY_MS, Day};
use crate::store::{NewOrderRecord, OrderChange, Store, SymbolFill};

pub(super) async fn report_inputs_are_the_days_orders_and_every_fill_until_its_end(
    store: Arc<dyn Store>,
) {
    let day = Day::containing(T0);
    let at = |key: &str, created_at_ms| NewOrderRecord {
        created_at_ms,
        ..new_order(key)
    };
    let before = create(&*store, &at("before", day.start_ms() - 1)).await;
    let first = create(&*store, &at("first", day.start_ms())).await;
    let last = create(&*store, &at("last", day.end_ms() - 1)).await;
    let after = create(&*store, &at("after", day.end_ms())).await;
    let filled = |id, trade: &str, time_ms| {
        let f = crate::store::FillRecord {
            time_ms,
            ..fill(id, trade, dec!(30000), dec!(0.1))
        };
        (
            OrderChange {
                fills: vec![f.clone()],
                event_kind: "execution".into(),
                ..change(id, OrderStatus::PartiallyFilled, time_ms)
            },
            f,
        )
    };
    let (c1, f1) = filled(before.id, "1", day.start_ms() - DAY_MS);
    let (c2, f2) = filled(first.id, "2", day.start_ms() + 5);
    let (c3, _) = filled(after.id, "3", day.end_ms());
    for c in [&c1, &c2, &c3] {
        assert_eq!(apply(&*store, c).await, 1);
    }
    let inputs = store
        .report_inputs(Some("sim"), day.start_ms(), day.end_ms())
        .await
        .unwrap();
    let ids: Vec<i64> = inputs.orders.iter().map(|o| o.id).collect();
    assert_eq!(ids, vec![first.id, last.id]);
    let with_symbol = |fill| SymbolFill {
        symbol: "BTC-USDT".into(),
        fill,
    };
    assert_eq!(inputs.fills, vec![with_symbol(f1), with_symbol(f2)]);
    let all = store
        .report_inputs(None, day.start_ms(), day.end_ms())
        .await
        .unwrap();
    assert_eq!(all, inputs);
    let other = store
        .report_inputs(Some("other"), day.start_ms(), day.end_ms())
        .await
        .unwrap();
    assert!(other.orders.is_empty() && other.fills.is_empty());
}
