//! The export of one venue adapter's health snapshot: breakers, rate limiter, clock,
//! connection budget, streams and their queues.

use metrics::{counter, gauge};

use super::*;

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
