//! exchange-core: the venue-neutral vocabulary every omsd component speaks.
//!
//! - [`model`]: instruments, orders, execution reports, fills, balances, trades;
//! - [`book`]: order-book snapshots, deltas and a local book;
//! - [`exchange`]: the [`Exchange`] trait each venue adapter implements;
//! - [`error`]: [`ExchangeError`], classified by what the outcome means for an order;
//! - resilient transport: [`limiter`] (governor buckets per venue scope, two lanes, pause on
//!   429/418, in-flight order cap), [`connect`] (the connection-attempt budget), [`breaker`] (per endpoint class), [`retry`] (backon, for
//!   idempotent calls only) and [`health`] ([`VenueHealth`], what the daemon exports).
//!
//! This crate depends on no other workspace crate; adapters depend only on it, so raw venue
//! payloads never leak into the daemon.

pub mod book;
pub mod breaker;
pub mod connect;
pub mod error;
pub mod exchange;
pub mod health;
pub mod limiter;
pub mod model;
pub mod queue;
pub mod retry;

pub use book::{BookDelta, BookSnapshot, BookUpdate, Level, OrderBook};
pub use breaker::{BreakerConfig, BreakerState, CircuitBreaker, Outcome};
pub use error::ExchangeError;
pub use exchange::{Exchange, MarketEvent, PlaceOutcome, Placement, UserEvent};
pub use health::{
    BookHealth, BreakerHealth, ClockHealth, ConnectHealth, LimiterHealth, ReconnectReason,
    ScopeHealth, StreamHealth, VenueHealth,
};
pub use limiter::{Lane, LimiterConfig, MAX_PAUSE, RateLimiter, ScopeLimit};
pub use model::*;
pub use queue::{QueueHealth, QueueRecorder};
pub use retry::{RetryPolicy, retry_idempotent};
