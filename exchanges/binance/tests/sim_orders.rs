//! Order placement and order history against the real simulator (`exchange-sim`): a duplicate
//! client order id, `allOrders` paging across open and closed orders, and the signed timestamp
//! a placement reports.

use std::collections::HashSet;

mod common;

use common::sim::{SYMBOL, Venue, btc, client_id, limit, ok, top_of_book, venue};
use exchange_core::{Exchange, ExchangeError, NewOrder, OrderStatus, Side};
use exchange_sim::faults::{ClockSkew, FaultSpec};
use rust_decimal_macros::dec;

/// A BUY 5 % under the best bid: rests on the book.
async fn resting_buy(venue: &Venue, id: &str) -> NewOrder {
    let tick = btc(&venue.exchange).await.filters.tick_size;
    let (bid, _) = top_of_book(&venue.exchange).await;
    let price = (bid * dec!(0.95) / tick).floor() * tick;
    limit(id, Side::Buy, price, dec!(0.001))
}

/// A BUY a few ticks through the best ask: fills on arrival.
async fn crossing_buy(venue: &Venue, id: &str) -> NewOrder {
    let tick = btc(&venue.exchange).await.filters.tick_size;
    let (_, ask) = top_of_book(&venue.exchange).await;
    limit(id, Side::Buy, ask + tick * dec!(5), dec!(0.001))
}

#[tokio::test]
async fn duplicate_client_order_id_of_an_open_order_is_duplicate() {
    let venue = venue().await;
    let id = client_id("dup");
    let order = resting_buy(&venue, &id).await;
    let first = ok(venue.exchange.place_order(&order).await, "first place");
    assert_eq!(first.status, OrderStatus::New, "{first:?}");

    let again = venue.exchange.submit_order(&order).await;
    assert!(
        matches!(&again.result, Err(ExchangeError::Duplicate { message })
            if message.contains("Duplicate order sent.")),
        "{again:?}"
    );
    // The venue saw (and refused) a signed request.
    assert!(again.signed_timestamp_ms.is_some(), "{again:?}");
    let Err(err) = &again.result else {
        unreachable!()
    };
    assert_eq!((err.kind(), err.is_definitive()), ("duplicate", true));

    // The first order is untouched, and still the only one with this id.
    let queried = ok(venue.exchange.query_order(SYMBOL, &id).await, "query");
    assert_eq!(
        (queried.status, queried.venue_order_id.as_str()),
        (OrderStatus::New, first.venue_order_id.as_str())
    );
    let open = ok(venue.exchange.open_orders(Some(SYMBOL)).await, "open");
    assert_eq!(open.iter().filter(|o| o.client_order_id == id).count(), 1);
    // A venue that answers definitively keeps the order breaker closed.
    let health = venue.exchange.health();
    assert!(
        health.breakers.iter().all(|b| b.consecutive_failures == 0),
        "{health:?}"
    );
    venue.sim.shutdown().await;
}

#[tokio::test]
async fn orders_since_pages_open_and_closed_orders() {
    let venue = venue().await;
    // Resting, filled and canceled orders, in placement order.
    let mut placed: Vec<(String, String, OrderStatus)> = Vec::new();
    let start_ms = {
        let _ = btc(&venue.exchange).await; // measures the venue clock
        venue.exchange.venue_time_ms() - 1_000
    };
    for n in 0..7 {
        let id = client_id(&format!("page{n}"));
        let order = match n % 3 {
            1 => crossing_buy(&venue, &id).await,
            _ => resting_buy(&venue, &id).await,
        };
        let snapshot = ok(venue.exchange.place_order(&order).await, "place");
        let status = if n % 3 == 2 {
            ok(venue.exchange.cancel_order(SYMBOL, &id).await, "cancel").status
        } else {
            snapshot.status
        };
        placed.push((id, snapshot.venue_order_id, status));
    }
    let statuses: HashSet<OrderStatus> = placed.iter().map(|p| p.2).collect();
    assert_eq!(statuses.len(), 3, "open, filled and canceled: {placed:?}");

    // Page by three, from the start time, then from the last id + 1.
    let mut pages = Vec::new();
    let mut page = ok(
        venue
            .exchange
            .orders_since(SYMBOL, None, Some(start_ms), 3)
            .await,
        "first page",
    );
    loop {
        assert!(page.len() <= 3, "{page:?}");
        let full = page.len() == 3;
        let next = page
            .last()
            .and_then(|o| o.venue_order_id.parse::<u64>().ok())
            .map(|id| (id + 1).to_string());
        pages.push(page);
        let Some(next) = next.filter(|_| full) else {
            break;
        };
        page = ok(
            venue
                .exchange
                .orders_since(SYMBOL, Some(&next), None, 3)
                .await,
            "next page",
        );
    }
    assert_eq!(
        pages.iter().map(Vec::len).collect::<Vec<_>>(),
        [3, 3, 1],
        "{pages:?}"
    );
    let listed: Vec<(String, String, OrderStatus)> = pages
        .into_iter()
        .flatten()
        .map(|o| (o.client_order_id, o.venue_order_id, o.status))
        .collect();
    assert_eq!(listed, placed);

    // Without a start: the most recent ones, still ascending.
    let latest = ok(
        venue.exchange.orders_since(SYMBOL, None, None, 2).await,
        "latest",
    );
    let latest: Vec<&str> = latest.iter().map(|o| o.client_order_id.as_str()).collect();
    assert_eq!(latest, [placed[5].0.as_str(), placed[6].0.as_str()]);

    // Binance order ids are integers: anything else is refused before sending.
    let bad = venue
        .exchange
        .orders_since(SYMBOL, Some("abc"), None, 3)
        .await;
    assert!(
        matches!(bad, Err(ExchangeError::Rejected { code: None, .. })),
        "{bad:?}"
    );
    venue.sim.shutdown().await;
}

#[tokio::test]
async fn submit_order_reports_the_venue_clock_timestamp_it_signed() {
    let venue = venue().await;
    // The venue's clock runs 7 s ahead of ours: the timestamp must follow the venue's.
    let skew = ClockSkew {
        offset_ms: 7_000,
        duration_ms: None,
    };
    if let Err(e) = venue.sim.faults().inject(FaultSpec::ClockSkew(skew)) {
        panic!("clock skew: {e}");
    }
    let order = resting_buy(&venue, &client_id("stamp")).await;
    let before = venue.exchange.venue_time_ms();
    let placement = venue.exchange.submit_order(&order).await;
    let after = venue.exchange.venue_time_ms();
    let snapshot = ok(placement.result.clone(), "place");
    let Some(signed) = placement.signed_timestamp_ms else {
        panic!("no signed timestamp: {placement:?}")
    };
    assert!(
        (before - 1_000..=after + 1_000).contains(&signed),
        "{before} <= {signed} <= {after}"
    );
    // The venue stamped the order on its own clock within a second of our signature.
    assert!(
        (snapshot.update_time_ms - signed).abs() <= 1_000,
        "venue {} vs signed {signed}",
        snapshot.update_time_ms
    );
    let local = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default();
    assert!(signed - local > 5_000, "signed {signed}, local {local}");

    // Refused locally (invalid client order id): nothing was signed.
    let mut bad = order.clone();
    bad.client_order_id = "not valid!".into();
    let refused = venue.exchange.submit_order(&bad).await;
    assert!(
        matches!(
            refused.result,
            Err(ExchangeError::Rejected { code: None, .. })
        ),
        "{refused:?}"
    );
    assert_eq!(refused.signed_timestamp_ms, None);
    venue.sim.shutdown().await;
}
