//! omsd: a crypto exchange connector and order-management daemon.
//!
//! - [`config`]: typed configuration, environment overrides, validation;
//! - [`app`]: the composition root and supervisor (`app::run`);
//! - [`venues`]: the venue registry, the only place naming concrete adapters;
//! - [`oms`]: the order state machine and the actor that applies every change;
//! - [`market`]: local books kept from the venues' market streams;
//! - [`store`]: orders, events, fills and idempotency keys on SQLite or PostgreSQL;
//! - [`control`]: the HTTP+JSON control port;
//! - [`supervisor`]: supervision of long-lived tasks and readiness;
//! - [`heartbeat`]: the main loops' progress stamps and the systemd watchdog;
//! - [`queues`]: depth and drops of the daemon's own bounded queues;
//! - [`telemetry`]: every metric name, logging set-up.

pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod control;
pub mod heartbeat;
pub mod market;
pub mod oms;
pub mod queues;
pub mod report;
pub mod store;
pub mod supervisor;
pub mod telemetry;
pub mod venues;
