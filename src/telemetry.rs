//! Every metric name omsd exports, declared once, and one function per notable event that logs
//! and counts together, so business code never calls `counter!` with a literal name. Grafana
//! dashboards and Prometheus alert rules use only the names below.
//!
//! Label values come from bounded sets only: configured venue names and symbols, endpoint
//! templates, status and reason enums; never an order id.

use std::net::SocketAddr;
use std::time::Duration;

use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};

/// Orders accepted by the control port and written as `pending_new`.
pub const ORDERS_SUBMITTED: &str = "omsd_orders_submitted_total";
/// Orders refused before anything was sent (validation, risk) or rejected by the venue.
pub const ORDERS_REJECTED: &str = "omsd_orders_rejected_total";
/// Order status changes applied by the OMS, by new status.
pub const ORDER_TRANSITIONS: &str = "omsd_order_transitions_total";
/// Execution reports received, by outcome (`applied`, `duplicate`, `stale`, `unknown_order`).
pub const EXECUTION_REPORTS: &str = "omsd_execution_reports_total";
/// Fills stored (each venue trade id once).
pub const FILLS: &str = "omsd_fills_total";
/// Duration of one order send to the venue.
pub const ORDER_SEND_SECONDS: &str = "omsd_order_send_duration_seconds";
/// Amends of an order's quantity answered, by outcome (`amended`, `rejected`, `not_open`,
/// `not_sent`, `unknown`).
pub const ORDER_AMENDS: &str = "omsd_order_amends_total";
/// Orders whose send outcome is unknown and had to be resolved by asking the venue.
pub const UNKNOWN_RESOLUTIONS: &str = "omsd_unknown_order_resolutions_total";
/// Reconciliation runs against a venue, by outcome.
pub const RECONCILIATIONS: &str = "omsd_reconciliations_total";
/// 1 while the user-data stream of a venue is subscribed.
pub const USER_STREAM_UP: &str = "omsd_user_stream_up";
/// User-data stream connects and disconnects.
pub const USER_STREAM_EVENTS: &str = "omsd_user_stream_events_total";
/// Book updates applied, by kind (`snapshot`, `delta`, `out_of_sync`).
pub const BOOK_UPDATES: &str = "omsd_book_updates_total";
/// 1 while a book is in sync with the venue.
pub const BOOK_IN_SYNC: &str = "omsd_book_in_sync";
/// Time from a book losing sync to its next consistent snapshot.
pub const BOOK_RESYNC_SECONDS: &str = "omsd_book_resync_duration_seconds";
/// Public trades received.
pub const MARKET_TRADES: &str = "omsd_market_trades_total";
/// Market-data events dropped because a bounded queue was full.
pub const MARKET_EVENTS_DROPPED: &str = "omsd_market_events_dropped_total";
/// Market-data rows (`kind="trade"|"snapshot"`) the writer stored.
pub const MARKET_ROWS_WRITTEN: &str = "omsd_market_rows_written_total";
/// Market-data rows the writer was offered again and found already stored (replays).
pub const MARKET_ROWS_DUPLICATE: &str = "omsd_market_rows_duplicate_total";
/// Market-data rows dropped because the writer's queue was full, by kind.
pub const MARKET_ROWS_DROPPED: &str = "omsd_market_rows_dropped_total";
/// Rows per market-data flush.
pub const MARKET_FLUSH_ROWS: &str = "omsd_market_flush_rows";
/// Duration of one market-data flush.
pub const MARKET_FLUSH_SECONDS: &str = "omsd_market_flush_duration_seconds";
/// Market-data flushes that failed (the rows are kept and retried).
pub const MARKET_FLUSH_FAILURES: &str = "omsd_market_flush_failures_total";
/// 1 while a venue runs on instruments from the store's cache (it has not answered since
/// start; new orders for it are refused).
pub const INSTRUMENTS_STALE: &str = "omsd_venue_instruments_stale";
/// Control-port requests by endpoint and HTTP status.
pub const HTTP_REQUESTS: &str = "omsd_http_requests_total";
/// Control-port request duration by endpoint.
pub const HTTP_REQUEST_SECONDS: &str = "omsd_http_request_duration_seconds";
/// 1 once start-up reconciliation succeeded and the daemon serves orders.
pub const READY: &str = "omsd_ready";

/// Circuit breaker state per venue and endpoint class: 0 closed, 1 half-open, 2 open.
pub const BREAKER_STATE: &str = "omsd_venue_breaker_state";
/// Circuit breaker state changes.
pub const BREAKER_TRANSITIONS: &str = "omsd_venue_breaker_transitions_total";
/// Calls refused locally by an open breaker.
pub const BREAKER_REJECTED: &str = "omsd_venue_breaker_rejected_total";
/// Units of a venue rate-limit scope used in its current window (our count or the venue's,
/// whichever is higher).
pub const LIMITER_USED: &str = "omsd_venue_limiter_used";
/// Units of a rate-limit scope we allow ourselves per window (venue limit × safety margin).
pub const LIMITER_LIMIT: &str = "omsd_venue_limiter_limit";
/// Requests that had to wait for a rate-limit permit.
pub const LIMITER_WAITS: &str = "omsd_venue_limiter_waits_total";
/// Requests refused locally because no permit came in time.
pub const LIMITER_REJECTED: &str = "omsd_venue_limiter_rejected_total";
/// 429 (`status="429"`) and 418 (`status="418"`) answers from the venue.
pub const VENUE_RATE_LIMITED: &str = "omsd_venue_rate_limited_total";
/// 1 while the venue has paused (429) or banned (418) us.
pub const VENUE_HALTED: &str = "omsd_venue_halted";
/// Orders sent and not yet answered.
pub const IN_FLIGHT_ORDERS: &str = "omsd_venue_in_flight_orders";
/// Venue clock minus local clock.
pub const CLOCK_OFFSET_SECONDS: &str = "omsd_venue_clock_offset_seconds";
/// How far off the venue clock offset may be (half the round trip of its measurement).
pub const CLOCK_UNCERTAINTY_SECONDS: &str = "omsd_venue_clock_uncertainty_seconds";
/// 1 while the venue clock offset is known and certain enough to sign requests with.
pub const CLOCK_SYNCED: &str = "omsd_venue_clock_synced";
/// WebSocket connection attempts in the venue's current connection window.
pub const CONNECT_ATTEMPTS_IN_WINDOW: &str = "omsd_venue_connect_attempts_in_window";
/// WebSocket connection attempts we allow ourselves per window.
pub const CONNECT_BUDGET: &str = "omsd_venue_connect_budget";
/// WebSocket connection attempts made (`outcome="granted"`) and held back because the
/// budget was used up (`outcome="refused"`).
pub const CONNECT_ATTEMPTS: &str = "omsd_venue_connect_attempts_total";
/// Clock re-synchronisations (start, -1021 recoveries).
pub const CLOCK_RESYNCS: &str = "omsd_venue_clock_resyncs_total";
/// 1 while a venue stream (`stream="user"|"market"`) is connected.
pub const STREAM_CONNECTED: &str = "omsd_venue_stream_connected";
/// Stream reconnects by reason (`error`, `stale`, `ping_timeout`, `rotation`, ...).
pub const STREAM_RECONNECTS: &str = "omsd_venue_stream_reconnects_total";
/// Items in a bounded adapter queue (`queue="events"`: the channel to the consumer;
/// `queue="depth_buffer"`: diff events held while snapshots are fetched), per stream.
pub const QUEUE_DEPTH: &str = "omsd_venue_queue_depth";
/// Items in one of the daemon's own bounded queues (`queue`: `oms_commands`, `market_events`,
/// and per venue `user_events`, `market_stream`).
pub const DAEMON_QUEUE_DEPTH: &str = "omsd_queue_depth";
/// Items one of the daemon's own bounded queues holds at most.
pub const DAEMON_QUEUE_CAPACITY: &str = "omsd_queue_capacity";
/// Items one of the daemon's own bounded queues dropped because it was full (only market
/// trades are ever dropped; the other queues make their senders wait).
pub const DAEMON_QUEUE_DROPPED: &str = "omsd_queue_dropped_total";
/// Items a bounded adapter queue holds at most.
pub const QUEUE_CAPACITY: &str = "omsd_venue_queue_capacity";
/// Items dropped because a bounded adapter queue was full.
pub const QUEUE_DROPPED: &str = "omsd_venue_queue_dropped_total";
/// Streams declared stale (no data or lagging venue event times).
pub const STREAM_STALE: &str = "omsd_venue_stream_stale_total";
/// Venue statements that contradicted what omsd had inferred (for example an order recorded
/// as never accepted that the venue later showed), by reason.
pub const ORDER_DISCREPANCIES: &str = "omsd_order_discrepancies_total";
/// Failed order sends that came after the venue had already reported the order (state kept).
pub const LATE_SEND_FAILURES: &str = "omsd_order_late_send_failures_total";
/// Orders whose fills still do not add up to their filled quantity after fetching their trades.
pub const FILLS_INCOMPLETE: &str = "omsd_order_fills_incomplete_total";
/// Venue fills that matched no stored order (kept for adoption).
pub const UNMATCHED_FILLS: &str = "omsd_unmatched_fills_total";
/// Unreadable execution reports (each triggers a reconciliation).
pub const USER_STREAM_GAPS: &str = "omsd_user_stream_gaps_total";
/// 1 while the store takes writes; 0 while new orders are refused because it does not.
pub const STORE_UP: &str = "omsd_store_up";
/// Group commits written by the order processor.
pub const STORE_COMMITS: &str = "omsd_store_commits_total";
/// Order changes and new orders written by those commits.
pub const STORE_COMMIT_ROWS: &str = "omsd_store_commit_rows_total";
/// Long-lived tasks that panicked or ended unexpectedly (the daemon then exits).
pub const TASK_FAILURES: &str = "omsd_task_failures_total";
/// Venue messages that could not be understood (logged and skipped).
pub const MALFORMED_MESSAGES: &str = "omsd_venue_malformed_messages_total";

const BATCH_BUCKETS: &[f64] = &[
    1.0, 10.0, 50.0, 100.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0, 50000.0,
];

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Installs the Prometheus exporter serving `/metrics` on `listen`. Call within a runtime.
/// A second install in the same process (tests running several daemons) is reported and ignored.
pub fn install_exporter(listen: SocketAddr) {
    let builder = PrometheusBuilder::new()
        .with_http_listener(listen)
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
        .and_then(|b| {
            b.set_buckets_for_metric(Matcher::Full(MARKET_FLUSH_ROWS.into()), BATCH_BUCKETS)
        });
    match builder {
        Ok(builder) => match builder.install() {
            Ok(()) => tracing::info!(%listen, "metrics exporter listening"),
            Err(e) => tracing::warn!(error = %e, "metrics exporter not installed"),
        },
        Err(e) => tracing::warn!(error = %e, "metrics exporter not configured"),
    }
}

/// Sets up `tracing` output: `human` or `json`, filter from `RUST_LOG` or `level`.
pub fn init_logging(format: &str, level: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = if format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    if result.is_err() {
        tracing::debug!("logging already initialised");
    }
}

pub fn order_submitted(venue: &str, symbol: &str, client_order_id: &str) {
    tracing::info!(venue, symbol, client_order_id, "order accepted");
    counter!(ORDERS_SUBMITTED, "venue" => venue.to_string()).increment(1);
}

/// `reason` must come from a bounded set (an error code, not a message).
pub fn order_rejected(venue: &str, reason: &'static str, message: &str) {
    tracing::info!(venue, reason, message, "order rejected");
    counter!(ORDERS_REJECTED, "venue" => venue.to_string(), "reason" => reason).increment(1);
}

pub fn order_transition(venue: &str, order_id: i64, from: &str, to: &'static str) {
    tracing::info!(venue, order_id, from, to, "order status changed");
    counter!(ORDER_TRANSITIONS, "venue" => venue.to_string(), "status" => to).increment(1);
}

pub fn execution_report(venue: &str, outcome: &'static str) {
    if outcome != "applied" {
        tracing::debug!(venue, outcome, "execution report ignored");
    }
    counter!(EXECUTION_REPORTS, "venue" => venue.to_string(), "outcome" => outcome).increment(1);
}

pub fn fills_stored(venue: &str, count: usize) {
    if count > 0 {
        counter!(FILLS, "venue" => venue.to_string()).increment(count as u64);
    }
}

pub fn order_sent(venue: &str, elapsed: Duration, outcome: &'static str) {
    tracing::debug!(
        venue,
        outcome,
        elapsed_ms = elapsed.as_millis() as u64,
        "order send finished"
    );
    histogram!(ORDER_SEND_SECONDS, "venue" => venue.to_string(), "status" => outcome)
        .record(elapsed.as_secs_f64());
}

/// Depth and capacity of one of the daemon's queues (`venue` for per-venue queues).
pub fn queue_depth(queue: &'static str, venue: Option<&str>, depth: usize, capacity: usize) {
    let (depth, capacity) = (depth as f64, capacity as f64);
    match venue {
        Some(venue) => {
            let labels = [("queue", queue.to_string()), ("venue", venue.to_string())];
            gauge!(DAEMON_QUEUE_DEPTH, &labels).set(depth);
            gauge!(DAEMON_QUEUE_CAPACITY, &labels).set(capacity);
        }
        None => {
            gauge!(DAEMON_QUEUE_DEPTH, "queue" => queue).set(depth);
            gauge!(DAEMON_QUEUE_CAPACITY, "queue" => queue).set(capacity);
        }
    }
}

/// Items one of the daemon's queues dropped (0 registers the series).
pub fn queue_dropped(queue: &'static str, venue: Option<&str>, dropped: u64) {
    match venue {
        Some(venue) => {
            counter!(DAEMON_QUEUE_DROPPED, "queue" => queue, "venue" => venue.to_string())
                .increment(dropped)
        }
        None => counter!(DAEMON_QUEUE_DROPPED, "queue" => queue).increment(dropped),
    }
}

pub fn order_amend(venue: &str, outcome: &'static str) {
    counter!(ORDER_AMENDS, "venue" => venue.to_string(), "outcome" => outcome).increment(1);
}

pub fn unknown_resolved(venue: &str, order_id: i64, outcome: &'static str) {
    tracing::warn!(
        venue,
        order_id,
        outcome,
        "unknown order outcome resolved by asking the venue"
    );
    counter!(UNKNOWN_RESOLUTIONS, "venue" => venue.to_string(), "reason" => outcome).increment(1);
}

/// Orders found open on a venue under our prefix and recorded.
pub const ORDERS_ADOPTED: &str = "omsd_orders_adopted_total";
/// Open-order polls made while a venue's user stream is down.
pub const ORDER_POLLS: &str = "omsd_order_polls_total";

pub fn order_adopted(venue: &str, order_id: i64, client_order_id: &str) {
    tracing::warn!(
        venue,
        order_id,
        client_order_id,
        "adopted an order found on the venue"
    );
    counter!(ORDERS_ADOPTED, "venue" => venue.to_string()).increment(1);
}

pub fn order_poll(venue: &str, checked: usize, changed: usize) {
    tracing::debug!(venue, checked, changed, "polled open orders");
    counter!(ORDER_POLLS, "venue" => venue.to_string()).increment(1);
}

pub fn reconciliation(venue: &str, checked: usize, changed: usize, outcome: &'static str) {
    if outcome == "ok" {
        tracing::info!(venue, checked, changed, "reconciliation finished");
    } else {
        tracing::warn!(
            venue,
            checked,
            changed,
            outcome,
            "reconciliation incomplete"
        );
    }
    counter!(RECONCILIATIONS, "venue" => venue.to_string(), "status" => outcome).increment(1);
}

pub fn user_stream_connected(venue: &str) {
    tracing::info!(venue, "user-data stream subscribed");
    gauge!(USER_STREAM_UP, "venue" => venue.to_string()).set(1.0);
    counter!(USER_STREAM_EVENTS, "venue" => venue.to_string(), "status" => "connected")
        .increment(1);
}

pub fn user_stream_disconnected(venue: &str, reason: &str) {
    tracing::warn!(venue, reason, "user-data stream lost; adapter reconnects");
    gauge!(USER_STREAM_UP, "venue" => venue.to_string()).set(0.0);
    counter!(USER_STREAM_EVENTS, "venue" => venue.to_string(), "status" => "disconnected")
        .increment(1);
}

pub fn book_update(venue: &str, symbol: &str, kind: &'static str, in_sync: bool) {
    if kind != "delta" {
        tracing::info!(venue, symbol, kind, in_sync, "book sync state");
    }
    counter!(BOOK_UPDATES, "venue" => venue.to_string(), "symbol" => symbol.to_string(), "reason" => kind)
        .increment(1);
    gauge!(BOOK_IN_SYNC, "venue" => venue.to_string(), "symbol" => symbol.to_string())
        .set(if in_sync { 1.0 } else { 0.0 });
}

pub fn book_resynced(venue: &str, symbol: &str, elapsed: Duration) {
    tracing::info!(
        venue,
        symbol,
        elapsed_ms = elapsed.as_millis() as u64,
        "book back in sync"
    );
    histogram!(BOOK_RESYNC_SECONDS, "venue" => venue.to_string(), "symbol" => symbol.to_string())
        .record(elapsed.as_secs_f64());
}

pub fn market_trades(venue: &str, count: u64) {
    counter!(MARKET_TRADES, "venue" => venue.to_string()).increment(count);
}

/// A venue's instruments turned stale (started from the cache) or fresh again.
pub fn instruments_stale(venue: &str, stale: bool, error: &str, fetched_at_ms: i64) {
    if stale {
        tracing::warn!(
            venue,
            error,
            cached_at_ms = fetched_at_ms,
            "venue unreachable: starting with its cached instruments; new orders are refused until it answers"
        );
    } else if fetched_at_ms > 0 {
        tracing::info!(venue, "instruments loaded from the venue");
    }
    gauge!(INSTRUMENTS_STALE, "venue" => venue.to_string()).set(if stale { 1.0 } else { 0.0 });
}

/// Registers the writer's series of one row kind at zero.
pub fn market_rows_registered(kind: &'static str) {
    counter!(MARKET_ROWS_WRITTEN, "kind" => kind).increment(0);
    counter!(MARKET_ROWS_DUPLICATE, "kind" => kind).increment(0);
    counter!(MARKET_ROWS_DROPPED, "kind" => kind).increment(0);
}

/// A row the market-data writer had no room for.
pub fn market_row_dropped(kind: &'static str) {
    counter!(MARKET_ROWS_DROPPED, "kind" => kind).increment(1);
}

/// A market-data flush was written: what it held and what was new.
pub fn market_flush(
    batch: &crate::store::MarketBatch,
    trades_inserted: usize,
    snapshots_inserted: usize,
    elapsed: Duration,
) {
    let rows = [
        ("trade", batch.trades.len(), trades_inserted),
        ("snapshot", batch.snapshots.len(), snapshots_inserted),
    ];
    for (kind, offered, inserted) in rows {
        counter!(MARKET_ROWS_WRITTEN, "kind" => kind).increment(inserted as u64);
        let duplicate = offered.saturating_sub(inserted) as u64;
        counter!(MARKET_ROWS_DUPLICATE, "kind" => kind).increment(duplicate);
    }
    histogram!(MARKET_FLUSH_ROWS).record(batch.len() as f64);
    histogram!(MARKET_FLUSH_SECONDS).record(elapsed.as_secs_f64());
}

/// A market-data flush failed; its rows are kept and retried.
pub fn market_flush_failed(rows: usize, error: &str) {
    tracing::warn!(rows, error, "market data flush failed; retrying");
    counter!(MARKET_FLUSH_FAILURES).increment(1);
}

pub fn market_events_dropped(venue: &str, count: u64) {
    tracing::warn!(venue, count, "market data dropped: queue full");
    counter!(MARKET_EVENTS_DROPPED, "venue" => venue.to_string()).increment(count);
    queue_dropped("market_events", None, count);
}

pub fn http_request(endpoint: &'static str, status: u16, elapsed: Duration) {
    counter!(HTTP_REQUESTS, "endpoint" => endpoint, "status" => status.to_string()).increment(1);
    histogram!(HTTP_REQUEST_SECONDS, "endpoint" => endpoint).record(elapsed.as_secs_f64());
}

pub fn ready(ready: bool) {
    tracing::info!(ready, "readiness changed");
    gauge!(READY).set(if ready { 1.0 } else { 0.0 });
}

/// Exports one venue's health snapshot (sampled periodically from the adapter).
pub fn venue_health(h: &exchange_core::VenueHealth) {
    let venue = h.venue.clone();
    for b in &h.breakers {
        let labels = [("venue", venue.clone()), ("endpoint", b.class.clone())];
        let state = match b.state {
            exchange_core::BreakerState::Closed => 0.0,
            exchange_core::BreakerState::HalfOpen => 1.0,
            exchange_core::BreakerState::Open => 2.0,
        };
        gauge!(BREAKER_STATE, &labels).set(state);
        counter!(BREAKER_TRANSITIONS, &labels).absolute(b.transitions_total);
        counter!(BREAKER_REJECTED, &labels).absolute(b.rejected_total);
    }
    for scope in &h.limiter.scopes {
        let labels = [("venue", venue.clone()), ("scope", scope.scope.clone())];
        let used = scope.used.max(scope.venue_reported_used.unwrap_or(0));
        gauge!(LIMITER_USED, &labels).set(used as f64);
        gauge!(LIMITER_LIMIT, &labels).set(f64::from(scope.effective_limit));
        counter!(LIMITER_WAITS, &labels).absolute(scope.waits_total);
        counter!(LIMITER_REJECTED, &labels).absolute(scope.rejected_total);
    }
    let limiter = &h.limiter;
    for (status, total) in [
        ("429", limiter.throttled_429_total),
        ("418", limiter.banned_418_total),
    ] {
        counter!(VENUE_RATE_LIMITED, "venue" => venue.clone(), "status" => status).absolute(total);
    }
    let halted = limiter.paused_until_ms.is_some() || limiter.banned_until_ms.is_some();
    gauge!(VENUE_HALTED, "venue" => venue.clone()).set(if halted { 1.0 } else { 0.0 });
    gauge!(IN_FLIGHT_ORDERS, "venue" => venue.clone()).set(f64::from(limiter.in_flight_orders));
    gauge!(CLOCK_OFFSET_SECONDS, "venue" => venue.clone()).set(h.clock.offset_ms as f64 / 1000.0);
    counter!(CLOCK_RESYNCS, "venue" => venue.clone()).absolute(h.clock.resyncs_total);
    gauge!(CLOCK_UNCERTAINTY_SECONDS, "venue" => venue.clone())
        .set(h.clock.uncertainty_ms as f64 / 1000.0);
    gauge!(CLOCK_SYNCED, "venue" => venue.clone()).set(if h.clock.synced { 1.0 } else { 0.0 });
    let connect = &limiter.connect;
    gauge!(CONNECT_ATTEMPTS_IN_WINDOW, "venue" => venue.clone()).set(f64::from(connect.in_window));
    gauge!(CONNECT_BUDGET, "venue" => venue.clone()).set(f64::from(connect.budget));
    for (outcome, total) in [
        ("granted", connect.attempts_total),
        ("refused", connect.refused_total),
    ] {
        counter!(CONNECT_ATTEMPTS, "venue" => venue.clone(), "outcome" => outcome).absolute(total);
    }
    for stream in &h.streams {
        let labels = [("venue", venue.clone()), ("stream", stream.kind.clone())];
        gauge!(STREAM_CONNECTED, &labels).set(if stream.connected { 1.0 } else { 0.0 });
        counter!(STREAM_STALE, &labels).absolute(stream.stale_detections_total);
        for queue in &stream.queues {
            let labels = [
                ("venue", venue.clone()),
                ("stream", stream.kind.clone()),
                ("queue", queue.queue.clone()),
            ];
            gauge!(QUEUE_DEPTH, &labels).set(queue.depth as f64);
            gauge!(QUEUE_CAPACITY, &labels).set(queue.capacity as f64);
            counter!(QUEUE_DROPPED, &labels).absolute(queue.dropped_total);
        }
        for (reason, total) in &stream.reconnects_total {
            let labels = [
                ("venue", venue.clone()),
                ("stream", stream.kind.clone()),
                ("reason", reason.clone()),
            ];
            counter!(STREAM_RECONNECTS, &labels).absolute(*total);
        }
    }
    counter!(MALFORMED_MESSAGES, "venue" => venue).absolute(h.malformed_messages_total);
}

pub fn order_discrepancy(venue: &str, reason: &'static str) {
    counter!(ORDER_DISCREPANCIES, "venue" => venue.to_string(), "reason" => reason).increment(1);
}

pub fn late_send_failure(venue: &str) {
    counter!(LATE_SEND_FAILURES, "venue" => venue.to_string()).increment(1);
}

pub fn fills_incomplete(venue: &str) {
    counter!(FILLS_INCOMPLETE, "venue" => venue.to_string()).increment(1);
}

pub fn unmatched_fills(venue: &str, count: usize) {
    counter!(UNMATCHED_FILLS, "venue" => venue.to_string()).increment(count as u64);
}

pub fn user_stream_gap(venue: &str) {
    counter!(USER_STREAM_GAPS, "venue" => venue.to_string()).increment(1);
}

pub fn store_available(up: bool) {
    gauge!(STORE_UP).set(if up { 1.0 } else { 0.0 });
}

/// Counted per batch, not per row (the hot loop).
pub fn batch_committed(rows: usize) {
    counter!(STORE_COMMITS).increment(1);
    counter!(STORE_COMMIT_ROWS).increment(rows as u64);
}

pub fn task_failed(task: &'static str, detail: &str) {
    tracing::error!(
        task,
        detail,
        "a long-lived task failed: omsd stops so that it is restarted"
    );
    counter!(TASK_FAILURES, "task" => task).increment(1);
}

/// Orders refused by a pre-trade risk limit, by venue and rule (the refusal code).
pub const RISK_REFUSALS: &str = "omsd_risk_refusals_total";
/// Orders the venue's order-rate window refused (each is also a `rule="order_rate"` refusal);
/// its own series so that an alert does not depend on the rule label.
pub const RISK_ORDER_RATE_TRIPS: &str = "omsd_risk_order_rate_trips_total";
/// 1 while the kill switch is engaged (every new order refused), else 0.
pub const KILL_SWITCH_ENGAGED: &str = "omsd_kill_switch_engaged";

/// An order refused by a risk limit; `rule` is the refusal code (a bounded set).
pub fn risk_refused(venue: &str, rule: &'static str, message: &str) {
    counter!(RISK_REFUSALS, "venue" => venue.to_string(), "rule" => rule).increment(1);
    if rule == crate::oms::limits::code::ORDER_RATE {
        tracing::warn!(venue, rule, message, "order-rate limit tripped");
        counter!(RISK_ORDER_RATE_TRIPS, "venue" => venue.to_string()).increment(1);
    } else {
        tracing::info!(venue, rule, message, "order refused by a risk limit");
    }
}

/// The kill switch was engaged or released (also called at start with the stored state).
pub fn kill_switch(engaged: bool) {
    if engaged {
        tracing::warn!(engaged, "kill switch engaged: new orders are refused");
    } else {
        tracing::info!(engaged, "kill switch released");
    }
    gauge!(KILL_SWITCH_ENGAGED).set(if engaged { 1.0 } else { 0.0 });
}

/// Gauge: live event subscribers connected to `GET /v1/events` now.
pub const EVENTS_SUBSCRIBERS: &str = "omsd_events_subscribers";
/// Counter, label `reason` (`slow_subscriber`, `lagged`, `shutting_down`,
/// `store_unavailable`): live event streams omsd ended, by why; the client resumes with
/// `Last-Event-ID`.
pub const EVENTS_CUTOFFS: &str = "omsd_events_cutoffs_total";
/// Counter, label `loop` (`order_processor`, `market_writer`, `market_data`,
/// `user_forwarder`, `market_forwarder`): watchdog ticks at which the loop had not made
/// progress within the watchdog interval (no systemd ping was sent).
pub const WATCHDOG_STALE: &str = "omsd_watchdog_stale_total";
/// Counter, label `outcome` (`clean`, `grace_exceeded`): stops of the daemon (SIGTERM, or a
/// failed task), by whether they finished within `shutdown.grace_ms`.
pub const SHUTDOWNS: &str = "omsd_shutdowns_total";

/// A live event subscriber connected (`+1`) or left (`-1`).
pub fn events_subscribers(delta: f64) {
    gauge!(EVENTS_SUBSCRIBERS).increment(delta);
}

/// omsd ended a live event stream; `last_event_id` is the last event it delivered.
pub fn events_cut_off(reason: &'static str, last_event_id: Option<i64>) {
    if reason == "shutting_down" {
        tracing::debug!(reason, ?last_event_id, "live event stream ended");
    } else {
        tracing::warn!(reason, ?last_event_id, "live event subscriber cut off");
    }
    counter!(EVENTS_CUTOFFS, "reason" => reason).increment(1);
}

/// A watchdog tick found loops without recent progress: no systemd ping is sent.
pub fn watchdog_stale(stale: &[(&'static str, std::time::Duration)]) {
    for (name, age) in stale {
        tracing::error!(
            task = name,
            since_progress = ?age,
            "loop made no progress within the watchdog interval: watchdog ping withheld"
        );
        counter!(WATCHDOG_STALE, "loop" => *name).increment(1);
    }
}

/// A stop of the daemon ended; `clean` when it finished within the grace period.
pub fn shutdown_finished(clean: bool, took: std::time::Duration) {
    let outcome = if clean { "clean" } else { "grace_exceeded" };
    if clean {
        tracing::info!(?took, "shutdown finished within the grace period");
    } else {
        tracing::error!(?took, "shutdown exceeded its grace period");
    }
    counter!(SHUTDOWNS, "outcome" => outcome).increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn venue_health_exports_clock_connection_budget_and_queues() {
        let mut config = exchange_binance::BinanceConfig::new(
            "bin",
            "http://127.0.0.1:1",
            "ws://127.0.0.1:1",
            "ws://127.0.0.1:1",
            "k",
            exchange_binance::ApiSecret::new("s".to_owned()),
        );
        config.limiter.connect_budget = 42;
        let adapter = exchange_binance::BinanceExchange::new(config).unwrap();
        let mut health = exchange_core::Exchange::health(&adapter);
        health.streams[1].queues.push(exchange_core::QueueHealth {
            queue: "depth_buffer".into(),
            depth: 3,
            capacity: 20_000,
            dropped_total: 5,
        });
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || venue_health(&health));
        let text = handle.render();
        for line in [
            "omsd_venue_clock_uncertainty_seconds{venue=\"bin\"} 0",
            "omsd_venue_clock_synced{venue=\"bin\"} 0",
            "omsd_venue_connect_budget{venue=\"bin\"} 42",
            "omsd_venue_connect_attempts_in_window{venue=\"bin\"} 0",
            "omsd_venue_connect_attempts_total{venue=\"bin\",outcome=\"refused\"} 0",
            "omsd_venue_queue_depth{venue=\"bin\",stream=\"market\",queue=\"depth_buffer\"} 3",
            "omsd_venue_queue_capacity{venue=\"bin\",stream=\"market\",queue=\"depth_buffer\"} 20000",
            "omsd_venue_queue_dropped_total{venue=\"bin\",stream=\"market\",queue=\"depth_buffer\"} 5",
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
    }
}
