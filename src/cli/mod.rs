//! The `omsd` client subcommands: orders, cancel-all, fills, balances, status, the kill switch,
//! live events and the daily report, all over the control port.
//!
//! The daemon's address comes from `--url` / `OMSD_URL`, else from the configuration file's
//! `control.listen`; the token from `--token` / `OMSD_TOKEN`. Output is human tables, or the
//! daemon's JSON with `--json`. Exit codes ([`exit`]): 0 done, 1 refused (or the order was
//! rejected), 2 usage, 3 daemon unreachable, 4 token missing or lacking a scope, 5 daemon error
//! or not ready.

mod client;
mod render;
mod watch;

use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{Args, Subcommand, ValueEnum};
use reqwest::Method;
use serde_json::{Value, json};

pub use client::exit;
use client::{Client, Failure, REQUEST_TIMEOUT};
use render::{col, fields, table};

/// Where the daemon is and how to talk to it.
#[derive(Args, Debug, Clone)]
pub struct ClientArgs {
    /// Control port URL (default: `control.listen` of the configuration file).
    #[arg(long, global = true, env = "OMSD_URL")]
    pub url: Option<String>,
    /// Bearer token of the control port.
    #[arg(long, global = true, env = "OMSD_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Print the daemon's JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
}

/// The client subcommands.
#[derive(Subcommand, Debug, Clone)]
pub enum ClientCommand {
    /// Submit, cancel, amend, get and list orders.
    #[command(subcommand)]
    Order(OrderCommand),
    /// Cancel every open order (of this token's principal), optionally of one venue or symbol.
    CancelAll {
        #[arg(long)]
        venue: Option<String>,
        #[arg(long)]
        symbol: Option<String>,
    },
    /// List fills, newest first.
    Fills {
        #[command(flatten)]
        filter: ListFilter,
        /// Only the fills of this order.
        #[arg(long)]
        order_id: Option<i64>,
    },
    /// Balances as the venues last reported them.
    Balances,
    /// Readiness, kill switch, queues, and per venue: connections, breakers, limits, clock
    /// offset and book sync.
    Status,
    /// Show, engage (`on`) or release (`off`) the kill switch.
    KillSwitch {
        #[arg(value_enum)]
        action: Option<Switch>,
        /// Why (recorded with the switch).
        #[arg(long)]
        reason: Option<String>,
        /// When engaging, also cancel every open order.
        #[arg(long)]
        cancel_open_orders: bool,
    },
    /// Follow order and fill events live (resuming after `--after`), until interrupted.
    Watch {
        /// Start after this event sequence (default: only new events).
        #[arg(long)]
        after: Option<i64>,
        /// Stop after this many events.
        #[arg(long)]
        count: Option<u64>,
    },
    /// Reports from the store.
    #[command(subcommand)]
    Report(ReportCommand),
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Switch {
    On,
    Off,
}

#[derive(Subcommand, Debug, Clone)]
pub enum ReportCommand {
    /// The end-of-day report per venue and symbol: orders by final status, fills, volume,
    /// fees, average prices, realized PnL (FIFO).
    Daily {
        /// UTC day, `YYYY-MM-DD` (default: today).
        #[arg(long)]
        date: Option<String>,
        #[arg(long)]
        venue: Option<String>,
    },
}

#[derive(Subcommand, Debug, Clone)]
pub enum OrderCommand {
    /// Submit an order; prints it as the venue answered.
    Submit {
        #[arg(long)]
        venue: String,
        #[arg(long)]
        symbol: String,
        #[arg(long, value_parser = ["buy", "sell"])]
        side: String,
        #[arg(long = "type", value_parser = ["limit", "market"], default_value = "limit")]
        order_type: String,
        #[arg(long)]
        quantity: String,
        #[arg(long)]
        price: Option<String>,
        #[arg(long, value_parser = ["gtc", "ioc", "fok"])]
        time_in_force: Option<String>,
        #[arg(long)]
        client_order_id: Option<String>,
        /// Makes a retried submit return the same order (default: a fresh key per call).
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// Cancel one order.
    Cancel { id: String },
    /// Lower an open order's quantity.
    Amend {
        id: String,
        #[arg(long)]
        quantity: String,
    },
    /// Show one order with its fills.
    Get { id: String },
    /// List orders, newest first.
    List {
        #[command(flatten)]
        filter: ListFilter,
        #[arg(long)]
        status: Option<String>,
    },
}

/// The filters and paging every list command shares.
#[derive(Args, Debug, Clone)]
pub struct ListFilter {
    #[arg(long)]
    venue: Option<String>,
    #[arg(long)]
    symbol: Option<String>,
    /// From (inclusive): epoch milliseconds or `YYYY-MM-DD` (UTC).
    #[arg(long, value_parser = parse_time)]
    from: Option<i64>,
    /// To (exclusive): epoch milliseconds or `YYYY-MM-DD` (UTC).
    #[arg(long, value_parser = parse_time)]
    to: Option<i64>,
    /// Rows per page.
    #[arg(long)]
    limit: Option<u32>,
    /// Continue from this cursor (printed after a full page).
    #[arg(long)]
    cursor: Option<String>,
    /// Follow the cursor through every page (at most 1000 pages).
    #[arg(long)]
    all: bool,
}

fn parse_time(text: &str) -> Result<i64, String> {
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    crate::report::Day::parse(text)
        .map(|d| d.start_ms())
        .map_err(|_| format!("'{text}' is neither epoch milliseconds nor YYYY-MM-DD"))
}

/// Runs a client subcommand against the daemon at `base`.
pub async fn run(base: &str, args: &ClientArgs, command: ClientCommand) -> ExitCode {
    let client = match Client::new(base, args.token.clone()) {
        Ok(client) => client,
        Err(failure) => return failure.report(),
    };
    let out = Output { json: args.json };
    match execute(&client, &out, command).await {
        Ok(code) => ExitCode::from(code),
        Err(failure) => failure.report(),
    }
}

/// How results are printed.
pub(crate) struct Output {
    pub json: bool,
}

impl Output {
    fn print(&self, value: &Value, human: impl FnOnce(&Value) -> String) {
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(value).unwrap_or_default()
            );
        } else {
            print!("{}", human(value));
        }
    }
}

async fn execute(client: &Client, out: &Output, command: ClientCommand) -> Result<u8, Failure> {
    match command {
        ClientCommand::Order(order) => order_command(client, out, order).await,
        ClientCommand::CancelAll { venue, symbol } => {
            let body = json!({ "venue": venue, "symbol": symbol });
            let answer = post(client, "/v1/orders/cancel-all", &strip_nulls(body)).await?;
            out.print(&answer, |a| {
                format!(
                    "cancels requested: {} {}\n",
                    render::cell(&a["cancels_requested"]),
                    render::cell(&a["order_ids"])
                )
            });
            Ok(exit::OK)
        }
        ClientCommand::Fills { filter, order_id } => {
            let mut query = filter.query();
            if let Some(id) = order_id {
                query.push(("order_id", id.to_string()));
            }
            list(
                client,
                out,
                "/v1/fills",
                "fills",
                &filter,
                query,
                FILL_COLUMNS,
            )
            .await
        }
        ClientCommand::Balances => {
            let answer = client.get("/v1/balances", &[]).await?;
            out.print(&answer, |a| table(BALANCE_COLUMNS, &items(a, "balances")));
            Ok(exit::OK)
        }
        ClientCommand::Status => {
            let answer = client.get("/v1/status", &[]).await?;
            out.print(&answer, render_status);
            Ok(exit::OK)
        }
        ClientCommand::KillSwitch {
            action,
            reason,
            cancel_open_orders,
        } => {
            let answer = match action {
                None => client.get("/v1/kill-switch", &[]).await?,
                Some(switch) => {
                    let body = json!({
                        "engaged": switch == Switch::On,
                        "reason": reason,
                        "cancel_open_orders": cancel_open_orders,
                    });
                    post(client, "/v1/kill-switch", &strip_nulls(body)).await?
                }
            };
            out.print(&answer, |a| {
                let mut text = format!(
                    "kill switch: {}\n",
                    if a["engaged"].as_bool() == Some(true) {
                        "ENGAGED (new orders are refused)"
                    } else {
                        "released"
                    }
                );
                text.push_str(&fields(
                    a,
                    &[col("reason", "/reason"), col("changed", "/changed_at_ms")],
                ));
                if let Some(n) = a.get("cancels_requested") {
                    text.push_str(&format!("cancels requested: {}\n", render::cell(n)));
                }
                text
            });
            Ok(exit::OK)
        }
        ClientCommand::Watch { after, count } => watch::run(client, out, after, count).await,
        ClientCommand::Report(ReportCommand::Daily { date, venue }) => {
            let mut query = Vec::new();
            if let Some(date) = date {
                query.push(("date", date));
            }
            if let Some(venue) = venue {
                query.push(("venue", venue));
            }
            let answer = client.get("/v1/reports/daily", &query).await?;
            out.print(&answer, render_daily);
            Ok(exit::OK)
        }
    }
}

async fn order_command(
    client: &Client,
    out: &Output,
    command: OrderCommand,
) -> Result<u8, Failure> {
    let answer = match command {
        OrderCommand::Submit {
            venue,
            symbol,
            side,
            order_type,
            quantity,
            price,
            time_in_force,
            client_order_id,
            idempotency_key,
        } => {
            let body = strip_nulls(json!({
                "venue": venue,
                "symbol": symbol,
                "side": side,
                "type": order_type,
                "quantity": quantity,
                "price": price,
                "time_in_force": time_in_force,
                "client_order_id": client_order_id,
            }));
            let key = idempotency_key.unwrap_or_else(fresh_key);
            let request = client
                .request(Method::POST, "/v1/orders", Some(REQUEST_TIMEOUT))
                .header("Idempotency-Key", key)
                .json(&body);
            client.send(request).await?
        }
        OrderCommand::Cancel { id } => {
            let request = client.request(
                Method::DELETE,
                &format!("/v1/orders/{}", path_segment(&id)?),
                Some(REQUEST_TIMEOUT),
            );
            client.send(request).await?
        }
        OrderCommand::Amend { id, quantity } => {
            let request = client
                .request(
                    Method::PATCH,
                    &format!("/v1/orders/{}", path_segment(&id)?),
                    Some(REQUEST_TIMEOUT),
                )
                .json(&json!({ "quantity": quantity }));
            client.send(request).await?
        }
        OrderCommand::Get { id } => {
            client
                .get(&format!("/v1/orders/{}", path_segment(&id)?), &[])
                .await?
        }
        OrderCommand::List { filter, status } => {
            let mut query = filter.query();
            if let Some(status) = status {
                query.push(("status", status));
            }
            return list(
                client,
                out,
                "/v1/orders",
                "orders",
                &filter,
                query,
                ORDER_COLUMNS,
            )
            .await;
        }
    };
    out.print(&answer, render_order);
    // A script submitting an order learns from the exit code whether the venue took it.
    Ok(if answer["status"] == "rejected" {
        exit::REFUSED
    } else {
        exit::OK
    })
}

/// An order id as one URL path segment (ids are numbers; anything else is refused here).
fn path_segment(id: &str) -> Result<&str, Failure> {
    if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) {
        Ok(id)
    } else {
        Err(Failure::new(
            exit::REFUSED,
            format!("'{id}' is not an order id"),
        ))
    }
}

/// A fresh idempotency key for one submit.
fn fresh_key() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("cli-{}-{nanos}", std::process::id())
}

async fn post(client: &Client, path: &str, body: &Value) -> Result<Value, Failure> {
    let request = client
        .request(Method::POST, path, Some(REQUEST_TIMEOUT))
        .json(body);
    client.send(request).await
}

fn strip_nulls(mut value: Value) -> Value {
    if let Value::Object(map) = &mut value {
        map.retain(|_, v| !v.is_null());
    }
    value
}

/// The rows of a list answer: `{"data": [...]}` (every paginated list), `{"<key>": [...]}`, or
/// a bare array.
fn items(answer: &Value, key: &str) -> Vec<Value> {
    match answer {
        Value::Array(rows) => rows.clone(),
        _ => answer
            .get("data")
            .or_else(|| answer.get(key))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
    }
}

/// The most pages `--all` follows.
const MAX_PAGES: usize = 1000;

impl ListFilter {
    fn query(&self) -> Vec<(&'static str, String)> {
        let mut query = Vec::new();
        let mut add = |k, v: Option<String>| {
            if let Some(v) = v {
                query.push((k, v));
            }
        };
        add("venue", self.venue.clone());
        add("symbol", self.symbol.clone());
        add("from", self.from.map(|v| v.to_string()));
        add("to", self.to.map(|v| v.to_string()));
        add("limit", self.limit.map(|v| v.to_string()));
        query
    }
}

/// One page (or with `--all`, every page) of a list endpoint.
async fn list(
    client: &Client,
    out: &Output,
    path: &str,
    key: &str,
    filter: &ListFilter,
    query: Vec<(&'static str, String)>,
    columns: &[render::Column],
) -> Result<u8, Failure> {
    let mut rows = Vec::new();
    let mut cursor = filter.cursor.clone();
    let mut next = None;
    for _ in 0..MAX_PAGES {
        let mut q = query.clone();
        if let Some(c) = &cursor {
            q.push(("cursor", c.clone()));
        }
        let answer = client.get(path, &q).await?;
        rows.extend(items(&answer, key));
        next = answer["next_cursor"].as_str().map(str::to_owned);
        if !filter.all || next.is_none() {
            break;
        }
        cursor = next.clone();
    }
    let answer = json!({ key: rows, "next_cursor": next });
    out.print(&answer, |a| {
        let mut text = table(columns, &items(a, key));
        if let Some(next) = a["next_cursor"].as_str() {
            text.push_str(&format!("more: --cursor {next}\n"));
        }
        text
    });
    Ok(exit::OK)
}

const ORDER_COLUMNS: &[render::Column] = &[
    col("ID", "/id"),
    col("CLIENT ID", "/client_order_id"),
    col("VENUE", "/venue"),
    col("SYMBOL", "/symbol"),
    col("SIDE", "/side"),
    col("TYPE", "/type"),
    col("QTY", "/quantity"),
    col("PRICE", "/price"),
    col("STATUS", "/status"),
    col("FILLED", "/filled_quantity"),
    col("AVG", "/average_price"),
    col("CREATED", "/created_at_ms"),
];

const FILL_COLUMNS: &[render::Column] = &[
    col("ORDER", "/order_id"),
    col("VENUE", "/venue"),
    col("SYMBOL", "/symbol"),
    col("TRADE ID", "/trade_id"),
    col("SIDE", "/side"),
    col("PRICE", "/price"),
    col("QTY", "/quantity"),
    col("FEE", "/fee"),
    col("FEE ASSET", "/fee_asset"),
    col("MAKER", "/is_maker"),
    col("TIME", "/time_ms"),
];

const BALANCE_COLUMNS: &[render::Column] = &[
    col("VENUE", "/venue"),
    col("ACCOUNT", "/account"),
    col("ASSET", "/asset"),
    col("FREE", "/free"),
    col("LOCKED", "/locked"),
    col("UPDATED", "/updated_at_ms"),
];

fn render_order(order: &Value) -> String {
    let mut text = fields(
        order,
        &[
            col("id", "/id"),
            col("client order id", "/client_order_id"),
            col("principal", "/principal"),
            col("venue", "/venue"),
            col("symbol", "/symbol"),
            col("side", "/side"),
            col("type", "/type"),
            col("time in force", "/time_in_force"),
            col("quantity", "/quantity"),
            col("price", "/price"),
            col("status", "/status"),
            col("status inferred", "/status_inferred"),
            col("filled", "/filled_quantity"),
            col("average price", "/average_price"),
            col("venue order id", "/venue_order_id"),
            col("reject reason", "/reject_reason"),
            col("created", "/created_at_ms"),
            col("updated", "/updated_at_ms"),
        ],
    );
    let fills = items(order, "fills");
    if !fills.is_empty() {
        text.push_str("fills:\n");
        // The fill columns without the order, venue and symbol shown above.
        text.push_str(&table(&FILL_COLUMNS[3..], &fills));
    }
    text
}

fn render_status(status: &Value) -> String {
    let mut text = String::new();
    match status["ready"].as_bool() {
        Some(true) => text.push_str("ready: yes\n"),
        _ => text.push_str(&format!(
            "ready: NO ({})\n",
            render::cell(&status["not_ready_reason"])
        )),
    }
    text.push_str(&format!(
        "store: {}\nkill switch: {}\n",
        if status["store_up"].as_bool() == Some(true) {
            "up"
        } else {
            "DOWN"
        },
        if status["kill_switch"]["engaged"].as_bool() == Some(true) {
            "ENGAGED"
        } else {
            "released"
        }
    ));
    text.push_str("\nqueues:\n");
    text.push_str(&table(
        &[
            col("QUEUE", "/queue"),
            col("VENUE", "/venue"),
            col("DEPTH", "/depth"),
            col("CAPACITY", "/capacity"),
            col("DROPPED", "/dropped"),
        ],
        &items(&status["queues"], ""),
    ));
    for venue in items(&status["venues"], "") {
        let health = &venue["health"];
        text.push_str(&format!(
            "\nvenue {} ({}, account {}): user stream {}, reconciling {}, instruments {}\n",
            render::cell(&venue["name"]),
            render::cell(&venue["kind"]),
            render::cell(&venue["account"]),
            up(&venue["user_stream_connected"]),
            render::cell(&venue["reconciling"]),
            if venue["instruments_stale"].as_bool() == Some(true) {
                "STALE (cached)"
            } else {
                "fresh"
            },
        ));
        text.push_str(&format!(
            "  clock offset {} ms (±{} ms, {})\n",
            render::cell(&health["clock"]["offset_ms"]),
            render::cell(&health["clock"]["uncertainty_ms"]),
            if health["clock"]["synced"].as_bool() == Some(true) {
                "synced"
            } else {
                "NOT synced"
            },
        ));
        text.push_str(&table(
            &[
                col("STREAM", "/kind"),
                col("CONNECTED", "/connected"),
                col("LAST MESSAGE MS", "/last_message_age_ms"),
                col("STALE", "/stale_detections_total"),
                col("RECONNECTS", "/reconnects_total"),
            ],
            &items(&health["streams"], ""),
        ));
        text.push_str(&table(
            &[
                col("BREAKER", "/class"),
                col("STATE", "/state"),
                col("FAILURES", "/consecutive_failures"),
                col("REJECTED", "/rejected_total"),
            ],
            &items(&health["breakers"], ""),
        ));
        text.push_str(&table(
            &[
                col("LIMIT", "/scope"),
                col("USED", "/used"),
                col("LIMIT", "/effective_limit"),
                col("VENUE LIMIT", "/venue_limit"),
                col("WINDOW MS", "/interval_ms"),
            ],
            &items(&health["limiter"]["scopes"], ""),
        ));
        if !health["limiter"]["banned_until_ms"].is_null() {
            text.push_str(&format!(
                "  BANNED (418) until {}\n",
                render::time_cell(&health["limiter"]["banned_until_ms"])
            ));
        }
        text.push_str(&table(
            &[
                col("BOOK", "/venue_symbol"),
                col("IN SYNC", "/in_sync"),
                col("UPDATE ID", "/last_update_id"),
                col("RESYNCS", "/resyncs"),
            ],
            &items(&venue["books"], ""),
        ));
    }
    text
}

fn up(value: &Value) -> &'static str {
    if value.as_bool() == Some(true) {
        "up"
    } else {
        "DOWN"
    }
}

fn render_daily(report: &Value) -> String {
    let mut text = format!(
        "daily report {}{} (UTC)\n",
        render::cell(&report["date"]),
        report["venue"]
            .as_str()
            .map(|v| format!(", venue {v}"))
            .unwrap_or_default()
    );
    let rows = items(report, "symbols");
    if rows.is_empty() {
        text.push_str("no orders or fills that day\n");
        return text;
    }
    text.push_str(&table(
        &[
            col("VENUE", "/venue"),
            col("SYMBOL", "/symbol"),
            col("ORDERS", "/orders"),
            col("BY STATUS", "/orders_by_status"),
            col("FILLS", "/fills"),
            col("BOUGHT", "/buy_quantity"),
            col("SOLD", "/sell_quantity"),
            col("AVG BUY", "/average_buy_price"),
            col("AVG SELL", "/average_sell_price"),
            col("BUY NOTIONAL", "/buy_notional"),
            col("SELL NOTIONAL", "/sell_notional"),
            col("FEES", "/fees"),
            col("REALIZED PNL", "/realized_pnl"),
            col("QUOTE", "/quote_asset"),
            col("POSITION", "/position_end"),
        ],
        &rows,
    ));
    text
}
