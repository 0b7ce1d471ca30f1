//! The `omsd` client subcommands against a running daemon (the real binary, a child process)
//! and the simulator: every subcommand, human and `--json` output, exit codes, and the daily
//! report checked against figures computed here from the venue's own fills.

mod common;

use std::collections::BTreeMap;
use std::process::Output;
use std::str::FromStr;
use std::time::Duration;

use common::daemon::free_port;
use common::poll;
use exchange_core::{Exchange, OrderStatus, Side};
use rust_decimal::Decimal;
use serde_json::{Value, json};

/// Runs `omsd ARGS` against `base`; returns the exit code, stdout and stderr.
async fn omsd(base: &str, args: &[&str]) -> (i32, String, String) {
    let output: Output = tokio::process::Command::new(env!("CARGO_BIN_EXE_omsd"))
        .arg("--url")
        .arg(base)
        .args(args)
        .env_remove("OMSD_CONFIG")
        .env_remove("OMSD_TOKEN")
        .env_remove("OMSD_URL")
        .output()
        .await
        .expect("run omsd");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `omsd --json ARGS`, expecting `code`; the parsed JSON answer.
async fn omsd_json(base: &str, args: &[&str], code: i32) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let (got, out, err) = omsd(base, &all).await;
    assert_eq!(
        got, code,
        "omsd {args:?}: exit {got}\nstdout: {out}\nstderr: {err}"
    );
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("omsd {args:?}: not JSON ({e}): {out}"))
}

/// `order submit` of BTC-USDT on binance, with `extra` flags.
fn submit<'a>(side: &'a str, quantity: &'a str, price: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "order",
        "submit",
        "--venue",
        "binance",
        "--symbol",
        "BTC-USDT",
        "--side",
        side,
        "--quantity",
        quantity,
        "--price",
        price,
    ];
    args.extend_from_slice(extra);
    args
}

fn dec(v: &Value) -> Decimal {
    Decimal::from_str(v.as_str().unwrap_or_else(|| panic!("decimal string: {v}"))).unwrap()
}

/// The best levels of one side of BTC-USDT (price, quantity) once the daemon's book is in sync
/// with at least two of them.
async fn book_side(http: &reqwest::Client, base: &str, side: &str) -> Vec<(Decimal, Decimal)> {
    let book = poll(Duration::from_secs(20), || async {
        let book: Value = http
            .get(format!("{base}/v1/books/binance/BTC-USDT?depth=5"))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (book["in_sync"] == json!(true) && book[side][1].is_object()).then_some(book)
    })
    .await
    .expect("book in sync");
    book[side]
        .as_array()
        .unwrap()
        .iter()
        .map(|level| (dec(&level["price"]), dec(&level["quantity"])))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_subcommand_against_a_running_daemon() {
    let common::daemon::Running {
        sim,
        dir: _dir,
        daemon,
    } = common::daemon::start_ready("omsd-cli", |config| config).await;
    let http = reqwest::Client::new();
    let base = daemon.base();

    // status: human and JSON.
    let (code, out, _) = omsd(&base, &["status"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("ready: yes"), "{out}");
    assert!(out.contains("venue binance"), "{out}");
    assert!(out.contains("BTCUSDT"), "{out}");
    let status = omsd_json(&base, &["status"], 0).await;
    assert_eq!(status["ready"], json!(true));
    assert_eq!(status["venues"][0]["name"], json!("binance"));
    assert!(
        status["queues"]
            .as_array()
            .unwrap()
            .iter()
            .any(|q| q["queue"] == "oms_commands"),
        "{status}"
    );

    // An IOC buy through the two best ask levels and 1 BTC more: several fills, the rest
    // expires (a partially filled order).
    let asks = book_side(&http, &base, "asks").await;
    let buy_qty = (asks[0].1 + asks[1].1 + Decimal::ONE)
        .round_dp(5)
        .to_string();
    let ask_s = asks[1].0.to_string();
    let big_args = submit(
        "buy",
        &buy_qty,
        &ask_s,
        &["--time-in-force", "ioc", "--idempotency-key", "cli-big-buy"],
    );
    let big_buy = omsd_json(&base, &big_args, 0).await;
    let big_id = big_buy["id"].as_i64().expect("order id").to_string();
    // A replay with the same key answers the same order.
    let replay = omsd_json(&base, &big_args, 0).await;
    assert_eq!(replay["id"], big_buy["id"]);
    let big_done = poll(Duration::from_secs(10), || async {
        let order = omsd_json(&base, &["order", "get", &big_id], 0).await;
        (order["status"] == "expired").then_some(order)
    })
    .await
    .expect("the IOC buy expires");
    let filled = dec(&big_done["filled_quantity"]);
    assert!(
        filled > Decimal::ZERO && filled < dec(&big_done["quantity"]),
        "partially filled: {big_done}"
    );

    // A sell through the best bid: both sides traded.
    let bid = book_side(&http, &base, "bids").await[0].0;
    let bid_s = (bid * Decimal::new(995, 3)).round_dp(2).to_string();
    let (code, out, err) = omsd(
        &base,
        &submit("sell", "0.003", &bid_s, &["--time-in-force", "ioc"]),
    )
    .await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("status"), "human order view: {out}");

    // A resting buy far below the market: amended, fetched, left open.
    let low = (bid * Decimal::new(985, 3)).round_dp(2).to_string();
    let resting = omsd_json(&base, &submit("buy", "0.004", &low, &[]), 0).await;
    let resting_id = resting["id"].as_i64().unwrap().to_string();
    assert_eq!(resting["status"], json!("new"), "{resting}");
    let amended = omsd_json(
        &base,
        &["order", "amend", &resting_id, "--quantity", "0.002"],
        0,
    )
    .await;
    assert_eq!(amended["quantity"], json!("0.002"), "{amended}");
    let (code, out, _) = omsd(&base, &["order", "get", &resting_id]).await;
    assert_eq!(code, 0);
    assert!(out.contains("0.002") && out.contains(&low), "{out}");
    let canceled = omsd_json(&base, &["order", "cancel", &resting_id], 0).await;
    assert_eq!(canceled["id"], resting["id"]);
    let (code, _, err) = omsd(&base, &["order", "cancel", &resting_id]).await;
    assert_eq!(code, 1, "a second cancel is refused: {err}");

    // Bad input: refused with exit 1 and the daemon's error code.
    let (code, _, err) = omsd(&base, &submit("buy", "lots", &low, &[])).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("invalid_decimal"), "{err}");
    let (code, _, err) = omsd(&base, &["order", "get", "999999"]).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("404"), "{err}");
    let (code, _, err) = omsd(&base, &["order", "get", "../v1/x"]).await;
    assert_eq!(code, 1, "{err}");

    // list and fills, human and JSON.
    let listed = omsd_json(&base, &["order", "list", "--venue", "binance"], 0).await;
    let orders = listed["orders"].as_array().expect("orders");
    assert_eq!(orders.len(), 3, "{listed}");
    let (code, out, _) = omsd(&base, &["order", "list"]).await;
    assert_eq!(code, 0);
    assert!(out.starts_with("ID "), "{out}");
    assert_eq!(out.lines().count(), 4, "{out}");

    // balances
    let balances = omsd_json(&base, &["balances"], 0).await;
    let rows = balances
        .as_array()
        .or_else(|| balances["balances"].as_array())
        .expect("balance rows");
    assert!(rows.iter().any(|b| b["asset"] == "USDT"), "{balances}");
    let (code, out, _) = omsd(&base, &["balances"]).await;
    assert_eq!(code, 0);
    assert!(out.contains("USDT"), "{out}");

    // kill switch: engaged, an order is refused, released.
    let on = omsd_json(&base, &["kill-switch", "on", "--reason", "cli test"], 0).await;
    assert_eq!(on["engaged"], json!(true));
    let (code, _, err) = omsd(&base, &submit("buy", "0.001", &low, &[])).await;
    assert_ne!(code, 0, "refused while the kill switch is engaged: {err}");
    let (code, out, _) = omsd(&base, &["kill-switch"]).await;
    assert_eq!(code, 0);
    assert!(out.contains("ENGAGED") && out.contains("cli test"), "{out}");
    let off = omsd_json(&base, &["kill-switch", "off"], 0).await;
    assert_eq!(off["engaged"], json!(false));

    // The daily report against figures computed here from the venue's fills.
    let venue = venue_client(&sim);
    let mut fills = poll(Duration::from_secs(10), || async {
        let fills = venue.fills_since("BTCUSDT", None, 1000).await.ok()?;
        let stored = omsd_json(&base, &["order", "get", &big_id], 0).await;
        let sell_filled = fills.iter().any(|f| f.side == Side::Sell);
        // Wait until the daemon has every venue fill of the big buy.
        let venue_big = fills
            .iter()
            .filter(|f| Some(f.venue_order_id.as_str()) == stored["venue_order_id"].as_str())
            .count();
        (sell_filled && stored["fills"].as_array()?.len() == venue_big).then_some(fills)
    })
    .await
    .expect("venue fills of both sides, all stored");
    // Execution order: time, then the venue's (numeric) trade id.
    fills.sort_by_key(|f| {
        (
            f.time_ms,
            f.trade_id.parse::<u64>().expect("numeric trade id"),
        )
    });
    let day_ms = big_buy["created_at_ms"].as_i64().unwrap();
    let date = omsd::report::Day::containing(day_ms).to_string();
    let report = poll(Duration::from_secs(10), || async {
        let report = omsd_json(&base, &["report", "daily", "--date", &date], 0).await;
        (report["symbols"][0]["fills"].as_u64() == Some(fills.len() as u64)).then_some(report)
    })
    .await
    .expect("report with every fill");
    let row = &report["symbols"][0];
    assert_eq!(report["symbols"].as_array().unwrap().len(), 1, "{report}");
    assert_eq!(row["venue"], json!("binance"));
    assert_eq!(row["symbol"], json!("BTC-USDT"));
    assert_eq!(row["quote_asset"], json!("USDT"));

    let expected = Expected::from_fills(&fills);
    assert!(expected.buys >= 2, "the big buy filled in several parts");
    assert!(expected.sells >= 1);
    assert_eq!(row["buy_fills"].as_u64(), Some(expected.buys));
    assert_eq!(row["sell_fills"].as_u64(), Some(expected.sells));
    assert_eq!(dec(&row["buy_quantity"]), expected.buy_qty);
    assert_eq!(dec(&row["sell_quantity"]), expected.sell_qty);
    assert_eq!(dec(&row["buy_notional"]), expected.buy_notional);
    assert_eq!(dec(&row["sell_notional"]), expected.sell_notional);
    assert_eq!(
        dec(&row["average_buy_price"]),
        (expected.buy_notional / expected.buy_qty).normalize()
    );
    assert_eq!(
        dec(&row["average_sell_price"]),
        (expected.sell_notional / expected.sell_qty).normalize()
    );
    assert_eq!(dec(&row["realized_pnl"]), expected.realized_pnl);
    assert_eq!(
        dec(&row["position_end"]),
        expected.buy_qty - expected.sell_qty
    );
    let fees: BTreeMap<String, Decimal> = row["fees"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), dec(v)))
        .collect();
    assert_eq!(fees, expected.fees);
    assert!(!fees.is_empty(), "the simulator charges fees");

    // Orders by final status, from the venue's own word on each.
    let mut by_status: BTreeMap<String, u64> = BTreeMap::new();
    for order in orders {
        let coid = order["client_order_id"].as_str().unwrap();
        let truth = venue
            .query_order("BTCUSDT", coid)
            .await
            .expect("venue order");
        *by_status.entry(status_word(truth.status)).or_default() += 1;
    }
    let got: BTreeMap<String, u64> = row["orders_by_status"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect();
    assert_eq!(got, by_status, "{report}");
    assert_eq!(row["orders"].as_u64(), Some(3));

    let (code, out, _) = omsd(&base, &["report", "daily", "--date", &date]).await;
    assert_eq!(code, 0);
    assert!(
        out.contains("BTC-USDT") && out.contains("REALIZED PNL"),
        "{out}"
    );
    let (code, _, err) = omsd(&base, &["report", "daily", "--date", "2026-02-30"]).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("invalid_date"), "{err}");
    let empty = omsd_json(&base, &["report", "daily", "--date", "2020-01-01"], 0).await;
    assert_eq!(empty["symbols"], json!([]));

    // The daemon gone: exit 3 and a clear message.
    daemon.kill().await;
    let (code, _, err) = omsd(&base, &["status"]).await;
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("cannot be reached"), "{err}");
}

#[tokio::test]
async fn a_daemon_that_is_not_there_is_exit_3_for_every_subcommand() {
    let base = format!("http://127.0.0.1:{}", free_port());
    for args in [
        &["status"][..],
        &["balances"],
        &["order", "list"],
        &["order", "get", "1"],
        &["fills"],
        &["kill-switch"],
        &["report", "daily"],
        &["cancel-all"],
    ] {
        let (code, _, err) = omsd(&base, args).await;
        assert_eq!(code, 3, "omsd {args:?}: {err}");
        assert!(err.contains("cannot be reached"), "{err}");
    }
    // Usage errors are clap's exit 2.
    let (code, _, _) = omsd(&base, &["order", "submit", "--venue", "binance"]).await;
    assert_eq!(code, 2);
}

fn venue_client(sim: &exchange_sim::SimHandle) -> exchange_binance::BinanceExchange {
    let config = exchange_binance::BinanceConfig::new(
        "binance",
        sim.rest_url(),
        sim.stream_url(),
        sim.ws_api_url(),
        sim.api_key(),
        exchange_binance::ApiSecret::new(sim.api_secret()),
    );
    exchange_binance::BinanceExchange::new(config).expect("venue client")
}

fn status_word(status: OrderStatus) -> String {
    serde_json::to_value(status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The report's figures computed from the venue's fills, oldest first.
#[derive(Default)]
struct Expected {
    buys: u64,
    sells: u64,
    buy_qty: Decimal,
    sell_qty: Decimal,
    buy_notional: Decimal,
    sell_notional: Decimal,
    fees: BTreeMap<String, Decimal>,
    realized_pnl: Decimal,
}

impl Expected {
    fn from_fills(fills: &[exchange_core::Fill]) -> Expected {
        let mut e = Expected::default();
        // Long lots only: this flow never sells more than it bought first.
        let mut lots: Vec<(Decimal, Decimal)> = Vec::new();
        for f in fills {
            let notional = f.price * f.quantity;
            match f.side {
                Side::Buy => {
                    e.buys += 1;
                    e.buy_qty += f.quantity;
                    e.buy_notional += notional;
                    lots.push((f.quantity, f.price));
                }
                Side::Sell => {
                    e.sells += 1;
                    e.sell_qty += f.quantity;
                    e.sell_notional += notional;
                    let mut left = f.quantity;
                    while left > Decimal::ZERO {
                        let (qty, price) = lots.first_mut().expect("a long lot to sell from");
                        let take = left.min(*qty);
                        e.realized_pnl += (f.price - *price) * take;
                        *qty -= take;
                        left -= take;
                        if qty.is_zero() {
                            lots.remove(0);
                        }
                    }
                }
            }
            *e.fees
                .entry(f.fee_asset.clone().unwrap_or_default())
                .or_default() += f.fee;
        }
        for v in [
            &mut e.buy_qty,
            &mut e.sell_qty,
            &mut e.buy_notional,
            &mut e.sell_notional,
            &mut e.realized_pnl,
        ] {
            *v = v.normalize();
        }
        for v in e.fees.values_mut() {
            *v = v.normalize();
        }
        e
    }
}
