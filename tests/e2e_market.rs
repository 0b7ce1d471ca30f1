//! End-to-end market data: omsd against omsd-sim stores the venue's public trades, book
//! snapshots and one-minute candles, and serves them back over the control port.
//!
//! After the daemon has run for a while, the stored trades of each symbol equal the
//! simulator's own trade history from the first trade omsd stored to the last one the
//! simulator made before the check (by trade id: none missing, none twice), also when the
//! venue is unreachable for a while on the way; `/v1/candles` equals the candles folded from the
//! stored trades, and the simulator's klines for every minute the stored trades cover whole;
//! snapshots exist only while books were in sync.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{Backend, Stack, poll};
use rust_decimal::Decimal;
use serde_json::{Value, json};

/// How long the daemon records before the check (`OMSD_MARKET_SECONDS` for a longer run,
/// which also covers whole minutes for the kline comparison).
fn run_for() -> Duration {
    let seconds = std::env::var("OMSD_MARKET_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6);
    Duration::from_secs(seconds)
}

/// One trade as compared: id, price, quantity, time, taker side.
type Trade = (u64, Decimal, Decimal, i64, String);

fn decimal(v: &Value) -> Decimal {
    v.as_str()
        .expect("decimal string")
        .parse()
        .expect("decimal")
}

/// The simulator's trades of `symbol` from id `from` up to id `to`, paged.
async fn venue_trades(stack: &Stack, symbol: &str, from: u64, to: u64) -> Vec<Trade> {
    let mut trades = Vec::new();
    let mut next = from;
    for _ in 0..100 {
        if next > to {
            break;
        }
        let path = format!("/api/v3/historicalTrades?symbol={symbol}&fromId={next}&limit=1000");
        let page = sim_list(stack, &path).await;
        if page.is_empty() {
            break;
        }
        for t in &page {
            let id = t["id"].as_u64().unwrap();
            if id > to {
                break;
            }
            // The aggressor sold when the buyer was the resting maker.
            let side = if t["isBuyerMaker"] == json!(true) {
                "sell"
            } else {
                "buy"
            };
            trades.push((
                id,
                decimal(&t["price"]),
                decimal(&t["qty"]),
                t["time"].as_i64().unwrap(),
                side.to_string(),
            ));
            next = id + 1;
        }
    }
    trades
}

/// A JSON list from the simulator's public REST API (`path` with its query).
async fn sim_list(stack: &Stack, path: &str) -> Vec<Value> {
    let url = format!("{}{path}", stack.sim.rest_url());
    let reply = stack.http.get(url).send().await.expect("simulator answers");
    reply.json().await.expect("a JSON list")
}

/// The newest trade id the simulator has made for `symbol`.
async fn venue_last_id(stack: &Stack, symbol: &str) -> u64 {
    let page = sim_list(
        stack,
        &format!("/api/v3/historicalTrades?symbol={symbol}&limit=1"),
    )
    .await;
    page[0]["id"].as_u64().expect("a trade")
}

/// Every stored trade of `symbol` (canonical), newest first, following the cursor.
async fn stored_trades(stack: &Stack, symbol: &str) -> Vec<Trade> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..1000 {
        let mut path = format!("/v1/trades?venue=binance&symbol={symbol}&limit=700");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let (status, page) = stack.get_json(&path).await;
        assert_eq!(status, 200, "{page}");
        for t in page["data"].as_array().unwrap() {
            out.push((
                t["trade_id"].as_str().unwrap().parse().unwrap(),
                decimal(&t["price"]),
                decimal(&t["quantity"]),
                t["time"].as_i64().unwrap(),
                t["taker_side"].as_str().unwrap().to_string(),
            ));
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    out
}

/// One-minute OHLCV with trade count, by minute start.
type Candles = BTreeMap<i64, (Decimal, Decimal, Decimal, Decimal, Decimal, i64)>;

fn fold(trades: &[Trade]) -> Candles {
    let mut sorted = trades.to_vec();
    sorted.sort_by_key(|t| (t.3, t.0));
    let mut candles = Candles::new();
    for (_, price, qty, time, _) in sorted {
        let minute = time.div_euclid(60_000) * 60_000;
        let c = candles
            .entry(minute)
            .or_insert((price, price, price, price, Decimal::ZERO, 0));
        c.1 = c.1.max(price);
        c.2 = c.2.min(price);
        c.3 = price;
        c.4 += qty;
        c.5 += 1;
    }
    candles
}

async fn served_candles(stack: &Stack, symbol: &str) -> Candles {
    let path = format!("/v1/candles?venue=binance&symbol={symbol}&interval=1m&limit=1000");
    let (status, page) = stack.get_json(&path).await;
    assert_eq!(status, 200, "{page}");
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let d = |k: &str| decimal(&c[k]);
            let values = (d("open"), d("high"), d("low"), d("close"), d("volume"));
            let trades = c["trades"].as_i64().unwrap();
            let (o, h, l, cl, v) = values;
            (c["open_time"].as_i64().unwrap(), (o, h, l, cl, v, trades))
        })
        .collect()
}

/// The simulator's one-minute klines of `symbol`, by open time.
async fn venue_klines(stack: &Stack, symbol: &str) -> Candles {
    let bars = sim_list(
        stack,
        &format!("/api/v3/klines?symbol={symbol}&interval=1m&limit=1000"),
    )
    .await;
    bars.iter()
        .map(|b| {
            let d = |i: usize| decimal(&b[i]);
            (
                b[0].as_i64().unwrap(),
                (d(1), d(2), d(3), d(4), d(5), b[8].as_i64().unwrap()),
            )
        })
        .collect()
}

/// What a run adds to the plain recording.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Run {
    Plain,
    /// The venue is unreachable for a while halfway through.
    Outage,
    /// Long enough that the stored trades hold one minute whole, for the kline comparison.
    WholeMinute,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

async fn stored_trades_equal_the_venue_tape(backend: Backend, run: Run) {
    let tweak = |config: &mut omsd::config::Config| {
        config.market_data.flush_interval_ms = 100;
        config.market_data.snapshots.interval_ms = 200;
    };
    let Some(stack) = Stack::start_with(backend, exchange_sim::SimConfig::demo(), tweak).await
    else {
        return;
    };
    let symbols = [("BTC-USDT", "BTCUSDT"), ("ETH-USDT", "ETHUSDT")];
    // The first trade omsd stored, per symbol: from there on, every venue trade must be stored.
    let mut first = BTreeMap::new();
    for (symbol, _) in symbols {
        let oldest = poll(Duration::from_secs(30), || async {
            let trades = stored_trades(&stack, symbol).await;
            trades.last().map(|t| t.0)
        })
        .await
        .unwrap_or_else(|| panic!("no {symbol} trade stored within 30 s"));
        first.insert(symbol, oldest);
    }
    let started = Instant::now();
    if run == Run::WholeMinute {
        // The first minute that starts after every symbol's first stored trade, and a second.
        let mut oldest = 0;
        for (symbol, _) in symbols {
            oldest = oldest.max(stored_trades(&stack, symbol).await.last().unwrap().3);
        }
        let minute_end = (oldest.div_euclid(60_000) + 2) * 60_000;
        let wait = u64::try_from(minute_end + 1_000 - now_ms()).unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(wait)).await;
    }
    let mut outage = None;
    if run == Run::Outage {
        tokio::time::sleep(run_for() / 2).await;
        // The venue is unreachable for 1.5 s: trades it makes meanwhile reach omsd only by
        // asking for them after the reconnect, and its books are out of sync.
        let at = now_ms();
        stack.inject(json!({"fault": "downtime", "params": {"duration_ms": 1500}}));
        outage = Some((at, at + 1500));
    }
    tokio::time::sleep(run_for().saturating_sub(started.elapsed())).await;

    for (symbol, venue_symbol) in symbols {
        // Every trade the venue made before this moment has an id up to `last`.
        let checked_at = now_ms();
        let last = venue_last_id(&stack, venue_symbol).await;
        // Everything up to `last` reaches the store within a few flushes.
        let stored = poll(Duration::from_secs(20), || async {
            let stored = stored_trades(&stack, symbol).await;
            stored.iter().any(|t| t.0 >= last).then_some(stored)
        })
        .await
        .unwrap_or_else(|| panic!("{symbol}: trade {last} not stored within 20 s"));
        let from = first[symbol];
        let mut ids: Vec<u64> = stored.iter().map(|t| t.0).collect();
        ids.sort_unstable();
        let before = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), before, "{symbol}: a trade is stored twice");

        let venue = venue_trades(&stack, venue_symbol, from, last).await;
        assert_eq!(
            venue.first().map(|t| t.0),
            Some(from),
            "{symbol}: venue history kept"
        );
        let mut window: Vec<Trade> = stored
            .iter()
            .filter(|t| (from..=last).contains(&t.0))
            .cloned()
            .collect();
        window.sort_by_key(|t| t.0);
        let missing: Vec<u64> = venue
            .iter()
            .map(|t| t.0)
            .filter(|id| window.binary_search_by_key(id, |t| t.0).is_err())
            .collect();
        assert!(
            missing.is_empty(),
            "{symbol}: {} trades missing: {missing:?}",
            missing.len()
        );
        assert_eq!(
            window, venue,
            "{symbol}: stored trades differ from the venue's"
        );

        // Candles served equal the stored trades folded, and the venue's klines for every
        // minute whose trades the store holds whole.
        let served = served_candles(&stack, symbol).await;
        assert_eq!(served, fold(&stored), "{symbol}: candles");
        let (start, end) = (venue[0].3, checked_at);
        let klines = venue_klines(&stack, venue_symbol).await;
        let mut whole = 0;
        for (minute, candle) in &served {
            if *minute > start && minute + 60_000 <= end {
                let kline = klines.get(minute);
                assert_eq!(Some(candle), kline, "{symbol}: minute {minute}");
                whole += 1;
            }
        }
        if run == Run::WholeMinute {
            assert!(
                whole >= 1,
                "{symbol}: no whole minute stored ({start}..{end})"
            );
        }

        // Snapshots: sampled, each a well-formed in-sync top of book.
        let path = format!("/v1/books/binance/{symbol}/snapshots?limit=100");
        let (status, page) = stack.get_json(&path).await;
        assert_eq!(status, 200, "{page}");
        let snapshots = page["data"].as_array().unwrap();
        assert!(
            snapshots.len() >= 3,
            "{symbol}: {} snapshots",
            snapshots.len()
        );
        if let Some((from, to)) = outage {
            // The books lost sync when the venue went away (a few ms after `from`) and got it
            // back only after `to`: nothing was sampled in between.
            let during: Vec<i64> = snapshots
                .iter()
                .map(|s| s["time"].as_i64().unwrap())
                .filter(|t| *t > from + 300 && *t < to)
                .collect();
            assert!(
                during.is_empty(),
                "{symbol}: sampled while out of sync at {during:?}"
            );
        }
        for s in snapshots {
            let (bid, ask) = (
                decimal(&s["bids"][0]["price"]),
                decimal(&s["asks"][0]["price"]),
            );
            assert!(bid < ask, "{symbol}: crossed snapshot {s}");
            assert!(s["bids"].as_array().unwrap().len() <= 10);
        }
    }
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_stores_the_venue_tape_and_its_klines() {
    stored_trades_equal_the_venue_tape(Backend::Sqlite, Run::WholeMinute).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stores_the_venue_tape() {
    stored_trades_equal_the_venue_tape(Backend::Postgres, Run::Plain).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stores_the_venue_tape_across_a_stream_drop() {
    stored_trades_equal_the_venue_tape(Backend::Postgres, Run::Outage).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timescale_stores_the_venue_tape_across_a_stream_drop() {
    stored_trades_equal_the_venue_tape(Backend::Timescale, Run::Outage).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_stores_the_venue_tape_across_a_stream_drop() {
    stored_trades_equal_the_venue_tape(Backend::Sqlite, Run::Outage).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_market_reads_get_clear_errors() {
    let Some(stack) = Stack::start(Backend::Sqlite).await else {
        return;
    };
    let cases = [
        ("/v1/trades?symbol=BTC-USDT", 400, "missing_parameter"),
        (
            "/v1/trades?venue=binance&symbol=DOGE-USDT",
            404,
            "not_found",
        ),
        ("/v1/trades?venue=nope&symbol=BTC-USDT", 404, "not_found"),
        (
            "/v1/trades?venue=binance&symbol=BTC-USDT&limit=0",
            400,
            "invalid_limit",
        ),
        (
            "/v1/trades?venue=binance&symbol=BTC-USDT&from=5&to=5",
            400,
            "invalid_range",
        ),
        (
            "/v1/trades?venue=binance&symbol=BTC-USDT&cursor=x",
            400,
            "invalid_cursor",
        ),
        (
            "/v1/trades?venue=binance&symbol=BTC-USDT&from=abc",
            400,
            "invalid_query",
        ),
        (
            "/v1/trades?venue=binance&symbol=BTC-USDT&bogus=1",
            400,
            "invalid_query",
        ),
        (
            "/v1/candles?venue=binance&symbol=BTC-USDT&interval=7m",
            400,
            "invalid_interval",
        ),
        (
            "/v1/books/binance/BTC-USDT/snapshots?cursor=1.2",
            400,
            "invalid_cursor",
        ),
    ];
    for (path, status, code) in cases {
        let (got, body) = stack.get_json(path).await;
        assert_eq!(
            (got, body["error"]["code"].as_str()),
            (status, Some(code)),
            "{path}: {body}"
        );
    }
    stack.stop().await;
}

/// A market-data writer that cannot write (its tables locked by another session) fills its
/// queue and drops market data, counted, while orders go on: every order is accepted and
/// ends as the venue has it. Once the tables are free the writer catches up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_market_writer_drops_market_data_and_no_order() {
    use sqlx::Connection;

    let metrics_port = common::daemon::free_port();
    let tweak = move |config: &mut omsd::config::Config| {
        config.market_data.queue = 20;
        config.market_data.flush_interval_ms = 50;
        config.market_data.snapshots.interval_ms = 100;
        config.metrics.enabled = true;
        config.metrics.listen = std::net::SocketAddr::from(([127, 0, 0, 1], metrics_port));
    };
    let Some(stack) =
        Stack::start_with(Backend::Postgres, exchange_sim::SimConfig::demo(), tweak).await
    else {
        return;
    };
    poll(Duration::from_secs(30), || async {
        stored_trades(&stack, "BTC-USDT").await.first().map(|_| ())
    })
    .await
    .expect("trades stored before the lock");
    let scrape = || async {
        let url = format!("http://127.0.0.1:{metrics_port}/metrics");
        stack
            .http
            .get(url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let dropped_before = common::counter_sum(&scrape().await, "omsd_market_rows_dropped_total", "");

    let mut blocker = sqlx::PgConnection::connect(&stack.store_url).await.unwrap();
    for statement in [
        "BEGIN",
        "LOCK TABLE trades, book_snapshots, candles_1m IN ACCESS EXCLUSIVE MODE",
    ] {
        sqlx::query(statement).execute(&mut blocker).await.unwrap();
    }
    // Orders while the writer is stuck: every one accepted and answered by the venue.
    let price = (stack.best_ask().await * Decimal::new(105, 2)).round_dp(2);
    for i in 0..8 {
        let key = format!("stuck-writer-{i}");
        let (status, order) = stack
            .post_order(Some(&key), &common::crossing_buy(price))
            .await;
        assert_eq!(status, 201, "{order}");
        assert_ne!(order["status"], "pending_new", "{order}");
    }
    let dropped = poll(Duration::from_secs(20), || async {
        let now = common::counter_sum(&scrape().await, "omsd_market_rows_dropped_total", "");
        (now > dropped_before).then_some(now - dropped_before)
    })
    .await
    .expect("market data dropped and counted while the writer is stuck");
    assert!(dropped >= 1.0);

    sqlx::query("ROLLBACK").execute(&mut blocker).await.unwrap();
    blocker.close().await.unwrap();
    // The writer catches up: trades made after the release are stored again.
    let released = now_ms();
    poll(Duration::from_secs(30), || async {
        let newest = stored_trades(&stack, "BTC-USDT").await.first().map(|t| t.3);
        newest.filter(|&t| t > released).map(|_| ())
    })
    .await
    .expect("trades stored again once the writer can write");
    let (_, orders) = stack.get_json("/v1/orders?limit=100").await;
    assert_eq!(orders.as_array().unwrap().len(), 8);
    stack.assert_orders_match_venue().await;
    stack.stop().await;
}

/// Cold start: omsd started while the venue is unreachable comes up with the instruments it
/// cached on an earlier run, flagged stale, and refuses orders for the venue with 503; once
/// the venue answers again it takes fresh instruments and accepts orders, without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_start_while_the_venue_is_down_runs_on_cached_instruments() {
    let Some(mut stack) = Stack::start(Backend::Sqlite).await else {
        return;
    };
    let (_, venues) = stack.get_json("/v1/venues").await;
    assert_eq!(venues[0]["instruments_stale"], json!(false), "{venues}");
    let price = (stack.best_ask().await * Decimal::new(105, 2)).round_dp(2);

    stack.inject(json!({"fault": "downtime", "params": {"duration_ms": 8000}}));
    stack.restart().await;
    let (_, venues) = stack.get_json("/v1/venues").await;
    assert_eq!(venues[0]["instruments_stale"], json!(true), "{venues}");
    assert_eq!(venues[0]["symbols"], json!(["BTC-USDT", "ETH-USDT"]));
    let (status, refused) = stack
        .post_order(Some("cold-1"), &common::crossing_buy(price))
        .await;
    assert_eq!(status, 503, "{refused}");
    assert_eq!(
        refused["error"]["code"], "venue_instruments_stale",
        "{refused}"
    );
    // No stored snapshot stands in for a live book.
    let (_, book) = stack.get_json("/v1/books/binance/BTC-USDT?depth=5").await;
    assert_ne!(book["in_sync"], json!(true), "{book}");

    // The venue comes back: fresh instruments, reconciled, orders accepted.
    let accepted = poll(Duration::from_secs(60), || async {
        let (status, order) = stack
            .post_order(Some("cold-1"), &common::crossing_buy(price))
            .await;
        (status == 201).then_some(order)
    })
    .await
    .expect("orders accepted once the venue is back");
    assert_ne!(accepted["status"], "pending_new", "{accepted}");
    let (_, venues) = stack.get_json("/v1/venues").await;
    assert_eq!(venues[0]["instruments_stale"], json!(false), "{venues}");
    stack.assert_orders_match_venue().await;
    stack.stop().await;
}

/// A venue with 50 symbols over several market connections (the per-connection stream cap set
/// low): every book is streamed and in sync, and every symbol's trades and snapshots are
/// stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_symbols_are_streamed_booked_and_stored() {
    let (sim_config, symbols) = common::sim_with_symbols(50);
    let configured = symbols.clone();
    let tweak = move |config: &mut omsd::config::Config| {
        config.venues[0].symbols = configured;
        // 40 streams per connection: the 100 streams of 50 symbols need three connections.
        config.venues[0].tuning.max_streams_per_connection = Some(40);
        config.market_data.flush_interval_ms = 100;
        config.market_data.snapshots.interval_ms = 500;
    };
    let Some(stack) = Stack::start_with(Backend::Sqlite, sim_config, tweak).await else {
        return;
    };
    let in_sync = poll(Duration::from_secs(60), || async {
        let (_, venues) = stack.get_json("/v1/venues").await;
        let books = venues[0]["books"].as_array().cloned().unwrap_or_default();
        let synced = books.iter().filter(|b| b["in_sync"] == json!(true)).count();
        (synced == 50).then_some(())
    })
    .await;
    assert!(
        in_sync.is_some(),
        "not every one of the 50 books got in sync"
    );
    // Three market connections (20 symbols each at most) besides the WebSocket API's one.
    let connections = stack.sim.stats().ws_connections_total;
    assert!(connections >= 4, "{connections} WebSocket connections");
    let missing = || async {
        let mut missing = Vec::new();
        for symbol in &symbols {
            let trades = format!("/v1/trades?venue=binance&symbol={symbol}&limit=1");
            let snapshots = format!("/v1/books/binance/{symbol}/snapshots?limit=1");
            for (kind, path) in [("trades", trades), ("snapshots", snapshots)] {
                let (status, page) = stack.get_json(&path).await;
                if status != 200 || page["data"].as_array().is_none_or(Vec::is_empty) {
                    missing.push(format!("{symbol} {kind}"));
                }
            }
        }
        missing
    };
    let stored = poll(Duration::from_secs(90), || async {
        missing().await.is_empty().then_some(())
    })
    .await;
    if stored.is_none() {
        panic!("stored market data missing: {:?}", missing().await);
    }
    stack.stop().await;
}
