//! Every metric omsd exports, declared once in the [`metrics!`](crate::metrics) block below
//! (name, type, labels, meaning, buckets; see [`catalogue`]), and one function per notable
//! event that logs and counts together, so business code never calls `counter!` with a literal
//! name. Grafana dashboards, Prometheus alert rules and the README's metrics catalogue use only
//! the names below; tests/ops_*.rs check all three against [`CATALOGUE`].
//!
//! To add a metric, add an entry at the end of the `metrics!` block: its doc comment becomes
//! the help text and the README meaning.
//!
//! Label values come from bounded sets only: configured venue names and symbols, endpoint
//! templates, status and reason enums; never an order id.

use std::net::SocketAddr;
use std::time::Duration;

use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};

pub mod catalogue;

pub use catalogue::{MetricSpec, MetricType};
pub use lifecycle::{events_cut_off, events_subscribers, shutdown_finished, watchdog_stale};
pub use market::{market_flush, market_flush_failed, market_row_dropped, market_rows_registered};
pub use venue::venue_health;

mod lifecycle;
mod market;
mod venue;

const BATCH_BUCKETS: &[f64] = &[
    1.0, 10.0, 50.0, 100.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0, 50000.0,
];

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

crate::metrics! {
    /// Orders accepted by the control port and written as `pending_new`.
    ORDERS_SUBMITTED = counter "omsd_orders_submitted_total" ["venue"];
    /// Orders refused before anything was sent (validation, risk) or rejected by the venue.
    ORDERS_REJECTED = counter "omsd_orders_rejected_total" ["venue", "reason"];
    /// Order status changes applied by the OMS, by new status.
    ORDER_TRANSITIONS = counter "omsd_order_transitions_total" ["venue", "status"];
    /// Execution reports received, by outcome (`applied`, `duplicate`, `stale`, `unknown_order`).
    EXECUTION_REPORTS = counter "omsd_execution_reports_total" ["venue", "outcome"];
    /// Fills stored (each venue trade id once).
    FILLS = counter "omsd_fills_total" ["venue"];
    /// Duration of one order send to the venue.
    ORDER_SEND_SECONDS = histogram "omsd_order_send_duration_seconds" ["venue", "status"] buckets LATENCY_BUCKETS;
    /// Amends of an order's quantity answered, by outcome (`amended`, `rejected`, `not_open`,
    /// `not_sent`, `unknown`).
    ORDER_AMENDS = counter "omsd_order_amends_total" ["venue", "outcome"];
    /// Orders whose send outcome is unknown and had to be resolved by asking the venue.
    UNKNOWN_RESOLUTIONS = counter "omsd_unknown_order_resolutions_total" ["venue", "reason"];
    /// Reconciliation runs against a venue, by outcome.
    RECONCILIATIONS = counter "omsd_reconciliations_total" ["venue", "status"];
    /// 1 while the user-data stream of a venue is subscribed.
    USER_STREAM_UP = gauge "omsd_user_stream_up" ["venue"];
    /// User-data stream connects and disconnects.
    USER_STREAM_EVENTS = counter "omsd_user_stream_events_total" ["venue", "status"];
    /// Book updates applied, by kind (`snapshot`, `delta`, `out_of_sync`).
    BOOK_UPDATES = counter "omsd_book_updates_total" ["venue", "symbol", "reason"];
    /// 1 while a book is in sync with the venue.
    BOOK_IN_SYNC = gauge "omsd_book_in_sync" ["venue", "symbol"];
    /// Time from a book losing sync to its next consistent snapshot.
    BOOK_RESYNC_SECONDS = histogram "omsd_book_resync_duration_seconds" ["venue", "symbol"] buckets LATENCY_BUCKETS;
    /// Public trades received.
    MARKET_TRADES = counter "omsd_market_trades_total" ["venue"];
    /// Market-data events dropped because a bounded queue was full.
    MARKET_EVENTS_DROPPED = counter "omsd_market_events_dropped_total" ["venue"];
    /// Market-data rows (`kind="trade"|"snapshot"`) the writer stored.
    MARKET_ROWS_WRITTEN = counter "omsd_market_rows_written_total" ["kind"];
    /// Market-data rows the writer was offered again and found already stored (replays).
    MARKET_ROWS_DUPLICATE = counter "omsd_market_rows_duplicate_total" ["kind"];
    /// Market-data rows dropped because the writer's queue was full, by kind.
    MARKET_ROWS_DROPPED = counter "omsd_market_rows_dropped_total" ["kind"];
    /// Rows per market-data flush.
    MARKET_FLUSH_ROWS = histogram "omsd_market_flush_rows" [] buckets BATCH_BUCKETS;
    /// Duration of one market-data flush.
    MARKET_FLUSH_SECONDS = histogram "omsd_market_flush_duration_seconds" [] buckets LATENCY_BUCKETS;
    /// Market-data flushes that failed (the rows are kept and retried).
    MARKET_FLUSH_FAILURES = counter "omsd_market_flush_failures_total" [];
    /// 1 while a venue runs on instruments from the store's cache (it has not answered since
    /// start; new orders for it are refused).
    INSTRUMENTS_STALE = gauge "omsd_venue_instruments_stale" ["venue"];
    /// Control-port requests by endpoint and HTTP status.
    HTTP_REQUESTS = counter "omsd_http_requests_total" ["endpoint", "status"];
    /// Control-port request duration by endpoint.
    HTTP_REQUEST_SECONDS = histogram "omsd_http_request_duration_seconds" ["endpoint"] buckets LATENCY_BUCKETS;
    /// 1 once start-up reconciliation succeeded and the daemon serves orders.
    READY = gauge "omsd_ready" [];
    /// Circuit breaker state per venue and endpoint class: 0 closed, 1 half-open, 2 open.
    BREAKER_STATE = gauge "omsd_venue_breaker_state" ["venue", "endpoint"];
    /// Circuit breaker state changes.
    BREAKER_TRANSITIONS = counter "omsd_venue_breaker_transitions_total" ["venue", "endpoint"];
    /// Calls refused locally by an open breaker.
    BREAKER_REJECTED = counter "omsd_venue_breaker_rejected_total" ["venue", "endpoint"];
    /// Units of a venue rate-limit scope used in its current window (our count or the venue's,
    /// whichever is higher).
    LIMITER_USED = gauge "omsd_venue_limiter_used" ["venue", "scope"];
    /// Units of a rate-limit scope we allow ourselves per window (venue limit × safety margin).
    LIMITER_LIMIT = gauge "omsd_venue_limiter_limit" ["venue", "scope"];
    /// Requests that had to wait for a rate-limit permit.
    LIMITER_WAITS = counter "omsd_venue_limiter_waits_total" ["venue", "scope"];
    /// Requests refused locally because no permit came in time.
    LIMITER_REJECTED = counter "omsd_venue_limiter_rejected_total" ["venue", "scope"];
    /// 429 (`status="429"`) and 418 (`status="418"`) answers from the venue.
    VENUE_RATE_LIMITED = counter "omsd_venue_rate_limited_total" ["venue", "status"];
    /// 1 while the venue has paused (429) or banned (418) us.
    VENUE_HALTED = gauge "omsd_venue_halted" ["venue"];
    /// Orders sent and not yet answered.
    IN_FLIGHT_ORDERS = gauge "omsd_venue_in_flight_orders" ["venue"];
    /// Venue clock minus local clock.
    CLOCK_OFFSET_SECONDS = gauge "omsd_venue_clock_offset_seconds" ["venue"];
    /// How far off the venue clock offset may be (half the round trip of its measurement).
    CLOCK_UNCERTAINTY_SECONDS = gauge "omsd_venue_clock_uncertainty_seconds" ["venue"];
    /// 1 while the venue clock offset is known and certain enough to sign requests with.
    CLOCK_SYNCED = gauge "omsd_venue_clock_synced" ["venue"];
    /// WebSocket connection attempts in the venue's current connection window.
    CONNECT_ATTEMPTS_IN_WINDOW = gauge "omsd_venue_connect_attempts_in_window" ["venue"];
    /// WebSocket connection attempts we allow ourselves per window.
    CONNECT_BUDGET = gauge "omsd_venue_connect_budget" ["venue"];
    /// WebSocket connection attempts made (`outcome="granted"`) and held back because the
    /// budget was used up (`outcome="refused"`).
    CONNECT_ATTEMPTS = counter "omsd_venue_connect_attempts_total" ["venue", "outcome"];
    /// Clock re-synchronisations (start, -1021 recoveries).
    CLOCK_RESYNCS = counter "omsd_venue_clock_resyncs_total" ["venue"];
    /// 1 while a venue stream (`stream="user"|"market"`) is connected.
    STREAM_CONNECTED = gauge "omsd_venue_stream_connected" ["venue", "stream"];
    /// Stream reconnects by reason (`error`, `stale`, `ping_timeout`, `rotation`, ...).
    STREAM_RECONNECTS = counter "omsd_venue_stream_reconnects_total" ["venue", "stream", "reason"];
    /// Items in a bounded adapter queue (`queue="events"`: the channel to the consumer;
    /// `queue="depth_buffer"`: diff events held while snapshots are fetched), per stream.
    QUEUE_DEPTH = gauge "omsd_venue_queue_depth" ["venue", "stream", "queue"];
    /// Items in one of the daemon's own bounded queues (`queue`: `oms_commands`, `market_events`,
    /// and per venue `user_events`, `market_stream`).
    DAEMON_QUEUE_DEPTH = gauge "omsd_queue_depth" ["queue", "venue"];
    /// Items one of the daemon's own bounded queues holds at most.
    DAEMON_QUEUE_CAPACITY = gauge "omsd_queue_capacity" ["queue", "venue"];
    /// Items one of the daemon's own bounded queues dropped because it was full (only market
    /// trades are ever dropped; the other queues make their senders wait).
    DAEMON_QUEUE_DROPPED = counter "omsd_queue_dropped_total" ["queue", "venue"];
    /// Items a bounded adapter queue holds at most.
    QUEUE_CAPACITY = gauge "omsd_venue_queue_capacity" ["venue", "stream", "queue"];
    /// Items dropped because a bounded adapter queue was full.
    QUEUE_DROPPED = counter "omsd_venue_queue_dropped_total" ["venue", "stream", "queue"];
    /// Streams declared stale (no data or lagging venue event times).
    STREAM_STALE = counter "omsd_venue_stream_stale_total" ["venue", "stream"];
    /// Venue statements that contradicted what omsd had inferred (for example an order recorded
    /// as never accepted that the venue later showed), by reason.
    ORDER_DISCREPANCIES = counter "omsd_order_discrepancies_total" ["venue", "reason"];
    /// Failed order sends that came after the venue had already reported the order (state kept).
    LATE_SEND_FAILURES = counter "omsd_order_late_send_failures_total" ["venue"];
    /// Orders whose fills still do not add up to their filled quantity after fetching their trades.
    FILLS_INCOMPLETE = counter "omsd_order_fills_incomplete_total" ["venue"];
    /// Venue fills that matched no stored order (kept for adoption).
    UNMATCHED_FILLS = counter "omsd_unmatched_fills_total" ["venue"];
    /// Unreadable execution reports (each triggers a reconciliation).
    USER_STREAM_GAPS = counter "omsd_user_stream_gaps_total" ["venue"];
    /// 1 while the store takes writes; 0 while new orders are refused because it does not.
    STORE_UP = gauge "omsd_store_up" [];
    /// Group commits written by the order processor.
    STORE_COMMITS = counter "omsd_store_commits_total" [];
    /// Order changes and new orders written by those commits.
    STORE_COMMIT_ROWS = counter "omsd_store_commit_rows_total" [];
    /// Long-lived tasks that panicked or ended unexpectedly (the daemon then exits).
    TASK_FAILURES = counter "omsd_task_failures_total" ["task"];
    /// Venue messages that could not be understood (logged and skipped).
    MALFORMED_MESSAGES = counter "omsd_venue_malformed_messages_total" ["venue"];
    /// Orders found open on a venue under our prefix and recorded.
    ORDERS_ADOPTED = counter "omsd_orders_adopted_total" ["venue"];
    /// Open-order polls made while a venue's user stream is down.
    ORDER_POLLS = counter "omsd_order_polls_total" ["venue"];
    /// Orders refused by a pre-trade risk limit, by venue and rule (the refusal code).
    RISK_REFUSALS = counter "omsd_risk_refusals_total" ["venue", "rule"];
    /// Orders the venue's order-rate window refused (each is also a `rule="order_rate"` refusal);
    /// its own series so that an alert does not depend on the rule label.
    RISK_ORDER_RATE_TRIPS = counter "omsd_risk_order_rate_trips_total" ["venue"];
    /// 1 while the kill switch is engaged (every new order refused), else 0.
    KILL_SWITCH_ENGAGED = gauge "omsd_kill_switch_engaged" [];
    /// Orders that left the `unknown` status (an answer, a report or a lookup settled them);
    /// with `omsd_order_transitions_total{status="unknown"}` it gives the orders still unknown.
    ORDERS_UNKNOWN_EXITS = counter "omsd_order_unknown_exits_total" ["venue"];
    /// The receive window signed requests carry (`recv_window_ms`): a clock offset or
    /// uncertainty near it gets orders refused with -1021.
    RECV_WINDOW_SECONDS = gauge "omsd_venue_recv_window_seconds" ["venue"];
    /// Live event subscribers connected to `GET /v1/events` now.
    EVENTS_SUBSCRIBERS = gauge "omsd_events_subscribers" [];
    /// Live event streams omsd ended, by why (`slow_subscriber`, `lagged`, `shutting_down`,
    /// `store_unavailable`); the client resumes with `Last-Event-ID`.
    EVENTS_CUTOFFS = counter "omsd_events_cutoffs_total" ["reason"];
    /// Watchdog ticks at which a main loop (`order_processor`, `market_writer`, `market_data`,
    /// `user_forwarder`, `market_forwarder`) had made no progress within the watchdog interval
    /// (no systemd ping was sent).
    WATCHDOG_STALE = counter "omsd_watchdog_stale_total" ["loop"];
    /// Stops of the daemon (SIGTERM, or a failed task), by whether they finished within
    /// `shutdown.grace_ms` (`outcome="clean"|"grace_exceeded"`).
    SHUTDOWNS = counter "omsd_shutdowns_total" ["outcome"];
}

/// Installs the Prometheus exporter serving `/metrics` on `listen`, with the buckets and help
/// texts of [`CATALOGUE`]. Call within a runtime. A second install in the same process (tests
/// running several daemons) is reported and ignored.
pub fn install_exporter(listen: SocketAddr) {
    let builder = CATALOGUE.iter().try_fold(
        PrometheusBuilder::new().with_http_listener(listen),
        |builder, spec| match spec.buckets {
            Some(buckets) => {
                builder.set_buckets_for_metric(Matcher::Full(spec.name.into()), buckets)
            }
            None => Ok(builder),
        },
    );
    match builder {
        Ok(builder) => match builder.install() {
            Ok(()) => {
                describe_catalogue();
                tracing::info!(%listen, "metrics exporter listening");
            }
            Err(e) => tracing::warn!(error = %e, "metrics exporter not installed"),
        },
        Err(e) => tracing::warn!(error = %e, "metrics exporter not configured"),
    }
}

/// Gives the installed recorder the help text of every metric (`# HELP` lines).
fn describe_catalogue() {
    for spec in CATALOGUE {
        let help = spec.help();
        match spec.kind {
            MetricType::Counter => metrics::describe_counter!(spec.name, help),
            MetricType::Gauge => metrics::describe_gauge!(spec.name, help),
            MetricType::Histogram => metrics::describe_histogram!(spec.name, help),
        }
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
    if from == "unknown" {
        counter!(ORDERS_UNKNOWN_EXITS, "venue" => venue.to_string()).increment(1);
    }
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

/// The receive window a venue's signed requests carry (exported once, when the adapter is
/// built).
pub fn venue_recv_window(venue: &str, recv_window_ms: u64) {
    gauge!(RECV_WINDOW_SECONDS, "venue" => venue.to_string()).set(recv_window_ms as f64 / 1000.0);
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

#[cfg(test)]
mod tests;
