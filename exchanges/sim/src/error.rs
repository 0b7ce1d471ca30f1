//! Errors of the simulator's library API: configuration and start-up.
//!
//! Request-level failures are not errors of this kind: they are venue error bodies
//! (`{"code":..,"msg":..}`) built in `errors.rs` and sent to the client.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Everything that can stop the simulator from starting.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The TOML file could not be read.
    #[error("cannot read config file {path}")]
    ReadConfig {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The TOML file is not valid TOML or has unknown or mistyped fields.
    #[error("cannot parse config file {path}")]
    ParseConfig {
        path: PathBuf,
        #[source]
        source: toml::de::Error,
    },
    /// The configuration parsed but breaks one or more rules; every problem is listed.
    #[error("invalid config: {}", .0.join("; "))]
    InvalidConfig(Vec<String>),
    /// The listen address could not be bound.
    #[error("cannot bind {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}
