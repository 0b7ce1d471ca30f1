//! exchange-core: the venue-neutral vocabulary every omsd component speaks.
//!
//! - [`model`]: instruments, orders, execution reports, fills, balances, trades;
//! - [`book`]: order-book snapshots, deltas and a local book;
//! - [`exchange`]: the [`Exchange`] trait each venue adapter implements;
//! - [`error`]: [`ExchangeError`], classified by what the outcome means for an order.
//!
//! This crate depends on no other workspace crate; adapters depend only on it, so raw venue
//! payloads never leak into the daemon.

pub mod book;
pub mod error;
pub mod exchange;
pub mod model;

pub use book::{BookDelta, BookSnapshot, BookUpdate, Level, OrderBook};
pub use error::ExchangeError;
pub use exchange::{Exchange, MarketEvent, UserEvent};
pub use model::*;
