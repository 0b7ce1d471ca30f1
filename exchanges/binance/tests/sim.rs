//! The adapter against the real simulator (`exchange-sim`) over loopback: REST orders, the
//! WebSocket API user stream and the market-stream book sync, end to end.

use std::time::Duration;

mod common;

use common::sim::{DEADLINE, SYMBOL, Venue, btc, client_id, limit, ok, top_of_book, venue};
use exchange_binance::{ApiSecret, BinanceExchange};
use exchange_core::{
    BookUpdate, Exchange, ExchangeError, ExecutionKind, MarketEvent, NewOrder, OrderBook,
    OrderStatus, Side, UserEvent,
};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A BUY priced a few ticks through the best ask: fills on arrival.
async fn crossing_buy(venue: &Venue, id: &str) -> NewOrder {
    let tick = btc(&venue.exchange).await.filters.tick_size;
    let (_, ask) = top_of_book(&venue.exchange).await;
    limit(id, Side::Buy, ask + tick * dec!(5), dec!(0.001))
}

async fn recv<T>(rx: &mut mpsc::Receiver<T>) -> T {
    match tokio::time::timeout(DEADLINE, rx.recv()).await {
        Ok(Some(v)) => v,
        Ok(None) => panic!("stream ended"),
        Err(_) => panic!("no event within {DEADLINE:?}"),
    }
}

#[tokio::test]
async fn instruments_load() {
    let venue = venue().await;
    let btc = btc(&venue.exchange).await;
    assert_eq!(
        (btc.name.as_str(), btc.base.as_str(), btc.quote.as_str()),
        ("BTC-USDT", "BTC", "USDT")
    );
    assert!(btc.trading);
    assert!(btc.filters.tick_size > Decimal::ZERO && btc.filters.step_size > Decimal::ZERO);
    assert!(btc.filters.min_notional > Decimal::ZERO);
    let all = ok(venue.exchange.instruments().await, "instruments");
    assert!(all.iter().any(|i| i.name == "ETH-USDT"), "{all:?}");
    venue.sim.shutdown().await;
}

#[tokio::test]
async fn crossing_order_fills_and_fills_can_be_backfilled() {
    let venue = venue().await;
    let id = client_id("cross");
    let order = crossing_buy(&venue, &id).await;
    let placed = ok(venue.exchange.place_order(&order).await, "place");
    assert_eq!(placed.status, OrderStatus::Filled, "{placed:?}");
    assert_eq!(placed.client_order_id, id);
    assert_eq!(placed.filled_quantity, dec!(0.001));
    assert!(!placed.fills.is_empty());
    let filled: Decimal = placed.fills.iter().map(|f| f.quantity).sum();
    assert_eq!(filled, dec!(0.001));
    assert!(
        placed
            .fills
            .iter()
            .all(|f| f.price <= order.price.unwrap_or_default())
    );

    let backfilled = ok(
        venue
            .exchange
            .order_fills(SYMBOL, &placed.venue_order_id)
            .await,
        "fills",
    );
    let mut want: Vec<&str> = placed.fills.iter().map(|f| f.trade_id.as_str()).collect();
    let mut got: Vec<&str> = backfilled.iter().map(|f| f.trade_id.as_str()).collect();
    want.sort_unstable();
    got.sort_unstable();
    assert_eq!(got, want);
    assert!(
        backfilled
            .iter()
            .all(|f| f.client_order_id == id && f.side == Side::Buy)
    );

    let queried = ok(venue.exchange.query_order(SYMBOL, &id).await, "query");
    assert_eq!(
        (queried.status, queried.filled_quantity),
        (OrderStatus::Filled, dec!(0.001))
    );
    let balances = ok(venue.exchange.balances().await, "balances");
    assert!(
        balances
            .iter()
            .any(|b| b.asset == "BTC" && b.free > Decimal::ZERO),
        "{balances:?}"
    );
    venue.sim.shutdown().await;
}

#[tokio::test]
async fn resting_order_is_listed_then_canceled() {
    let venue = venue().await;
    let tick = btc(&venue.exchange).await.filters.tick_size;
    let (bid, _) = top_of_book(&venue.exchange).await;
    let price = (bid * dec!(0.95) / tick).floor() * tick;
    let id = client_id("rest");
    let placed = ok(
        venue
            .exchange
            .place_order(&limit(&id, Side::Buy, price, dec!(0.001)))
            .await,
        "place",
    );
    assert_eq!(placed.status, OrderStatus::New, "{placed:?}");
    assert!(placed.fills.is_empty());

    let open = ok(
        venue.exchange.open_orders(Some(SYMBOL)).await,
        "open orders",
    );
    let listed = open.iter().find(|o| o.client_order_id == id);
    assert!(
        listed.is_some_and(|o| o.price == Some(price) && o.status == OrderStatus::New),
        "{open:?}"
    );
    let all_open = ok(venue.exchange.open_orders(None).await, "all open orders");
    assert!(all_open.iter().any(|o| o.client_order_id == id));

    let canceled = ok(venue.exchange.cancel_order(SYMBOL, &id).await, "cancel");
    assert_eq!(
        (canceled.status, canceled.client_order_id.as_str()),
        (OrderStatus::Canceled, id.as_str())
    );
    let queried = ok(venue.exchange.query_order(SYMBOL, &id).await, "query");
    assert_eq!(queried.status, OrderStatus::Canceled);
    let open = ok(
        venue.exchange.open_orders(Some(SYMBOL)).await,
        "open orders",
    );
    assert!(open.iter().all(|o| o.client_order_id != id));

    // Cancelling again is a definite rejection (-2011), not an unknown outcome.
    let again = venue.exchange.cancel_order(SYMBOL, &id).await;
    assert!(
        matches!(
            again,
            Err(ExchangeError::Rejected {
                code: Some(-2011),
                ..
            })
        ),
        "{again:?}"
    );
    venue.sim.shutdown().await;
}

#[tokio::test]
async fn unknown_order_is_not_found() {
    let venue = venue().await;
    let result = venue
        .exchange
        .query_order(SYMBOL, &client_id("nobody"))
        .await;
    assert!(
        matches!(
            result,
            Err(ExchangeError::NotFound {
                code: Some(-2013),
                ..
            })
        ),
        "{result:?}"
    );
    venue.sim.shutdown().await;
}

#[tokio::test]
async fn bad_secret_is_an_auth_error() {
    let venue = venue().await;
    let mut config = venue.exchange.config().clone();
    config.api_secret = ApiSecret::new("wrong-secret");
    let exchange = match BinanceExchange::new(config) {
        Ok(ex) => ex,
        Err(e) => panic!("adapter: {e}"),
    };
    let result = exchange.balances().await;
    assert!(
        matches!(result, Err(ExchangeError::Auth { .. })),
        "{result:?}"
    );
    venue.sim.shutdown().await;
}

#[tokio::test]
async fn user_stream_reports_executions_and_balances() {
    let venue = venue().await;
    let (tx, mut rx) = mpsc::channel(256);
    let shutdown = CancellationToken::new();
    let task = venue.exchange.spawn_user_stream(tx, shutdown.clone());
    assert_eq!(recv(&mut rx).await, UserEvent::Connected);

    let id = client_id("user");
    let order = crossing_buy(&venue, &id).await;
    let placed = ok(venue.exchange.place_order(&order).await, "place");
    assert_eq!(placed.status, OrderStatus::Filled);

    let mut kinds = Vec::new();
    let mut fills = Vec::new();
    let mut balances_seen = false;
    while !(balances_seen && kinds.last() == Some(&OrderStatus::Filled)) {
        match recv(&mut rx).await {
            UserEvent::Execution(report) if report.client_order_id == id => {
                if let Some(fill) = &report.fill {
                    fills.push(fill.trade_id.clone());
                }
                assert_eq!(report.kind == ExecutionKind::Trade, report.fill.is_some());
                kinds.push(report.status);
            }
            UserEvent::Balances(balances) => balances_seen |= !balances.is_empty(),
            UserEvent::Disconnected { reason } => panic!("user stream dropped: {reason}"),
            _ => {}
        }
    }
    assert_eq!(kinds.first(), Some(&OrderStatus::New), "{kinds:?}");
    let mut want: Vec<String> = placed.fills.iter().map(|f| f.trade_id.clone()).collect();
    want.sort_unstable();
    fills.sort_unstable();
    assert_eq!(fills, want);
    assert_eq!(venue.exchange.health().malformed_messages_total, 0);
    shutdown.cancel();
    assert!(tokio::time::timeout(DEADLINE, task).await.is_ok());
    venue.sim.shutdown().await;
}

#[tokio::test]
async fn market_stream_book_matches_rest_depth() {
    let venue = venue().await;
    let (tx, mut rx) = mpsc::channel(100_000);
    let shutdown = CancellationToken::new();
    let _task = venue
        .exchange
        .spawn_market_stream(vec![SYMBOL.into()], tx, shutdown.clone());

    let mut book = OrderBook::new();
    let mut deltas = 0;
    let mut trades = 0;
    let mut matched = false;
    let give_up = tokio::time::Instant::now() + Duration::from_secs(60);
    while !matched {
        assert!(
            tokio::time::Instant::now() < give_up,
            "book never matched REST depth"
        );
        // Wait until the book is in sync and has moved a little.
        while !(book.in_sync() && deltas >= 3) {
            match recv(&mut rx).await {
                MarketEvent::Trade(_) => trades += 1,
                MarketEvent::Book(update) => {
                    check_order(&book, &update);
                    deltas += usize::from(matches!(update, BookUpdate::Delta(_)));
                    book.apply(&update);
                }
            }
        }
        let rest = ok(venue.exchange.depth_snapshot(SYMBOL, 1000).await, "depth");
        // Apply events until the local book reaches the snapshot's update id exactly.
        while book.in_sync() && book.last_update_id() < rest.last_update_id {
            if let MarketEvent::Book(update) = recv(&mut rx).await {
                check_order(&book, &update);
                book.apply(&update);
            }
        }
        if book.in_sync() && book.last_update_id() == rest.last_update_id {
            let (bids, asks) = book.top(20);
            let n_bids = bids.len().min(rest.bids.len());
            let n_asks = asks.len().min(rest.asks.len());
            assert!(n_bids > 0 && n_asks > 0, "empty book");
            assert_eq!(
                &bids[..n_bids],
                &rest.bids[..n_bids],
                "bids at {}",
                rest.last_update_id
            );
            assert_eq!(
                &asks[..n_asks],
                &rest.asks[..n_asks],
                "asks at {}",
                rest.last_update_id
            );
            assert!(bids[0].price < asks[0].price, "crossed book");
            matched = true;
        }
    }
    let _ = trades; // trades are optional in a quiet market; the book is what is checked
    let health = venue.exchange.health();
    assert_eq!(
        (health.malformed_messages_total, health.books.resyncs_total),
        (0, 0),
        "{health:?}"
    );
    shutdown.cancel();
    venue.sim.shutdown().await;
}

/// A delta only ever follows a snapshot or a contiguous delta.
fn check_order(book: &OrderBook, update: &BookUpdate) {
    if let BookUpdate::Delta(d) = update {
        assert!(book.in_sync(), "delta before any snapshot");
        assert!(
            d.last_update_id > book.last_update_id(),
            "stale delta {d:?}"
        );
        assert!(
            d.first_update_id <= book.last_update_id() + 1,
            "gap before {d:?}"
        );
    }
}
