//! The venue registry, and the one place that names concrete adapters: it turns each
//! `[[venues]]` entry into an `Arc<dyn Exchange>`, loads its instruments and keeps the live
//! status the control port reports.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use exchange_core::{Exchange, Instrument};

use crate::config::{CredentialSource, VenueConfig};

/// Endpoints and credentials a venue adapter is built with.
#[derive(Clone)]
pub struct VenueEndpoints {
    pub rest_url: String,
    pub stream_url: String,
    pub ws_api_url: String,
    pub api_key: String,
    pub api_secret: String,
}

impl std::fmt::Debug for VenueEndpoints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VenueEndpoints")
            .field("rest_url", &self.rest_url)
            .field("stream_url", &self.stream_url)
            .field("ws_api_url", &self.ws_api_url)
            .field("api_key", &"<redacted>")
            .field("api_secret", &"<redacted>")
            .finish()
    }
}

/// Resolves a venue's credentials from where its configuration says they are.
pub fn credentials(config: &VenueConfig) -> anyhow::Result<(String, String)> {
    match config.credentials {
        CredentialSource::SimDemo => {
            let key = std::env::var("OMSD_SIM_API_KEY")
                .unwrap_or_else(|_| exchange_sim::DEFAULT_API_KEY.into());
            let secret = std::env::var("OMSD_SIM_API_SECRET")
                .unwrap_or_else(|_| exchange_sim::DEFAULT_API_SECRET.into());
            Ok((key, secret))
        }
        CredentialSource::Env => {
            let read = |name: &Option<String>| -> anyhow::Result<String> {
                let name = name.as_deref().unwrap_or_default();
                std::env::var(name).map_err(|_| {
                    anyhow::anyhow!(
                        "venue {}: environment variable {name} is not set",
                        config.name
                    )
                })
            };
            Ok((read(&config.api_key_env)?, read(&config.api_secret_env)?))
        }
    }
}

/// Builds the adapter for one venue. The only match on venue kinds in the daemon.
pub fn build_exchange(
    config: &VenueConfig,
    endpoints: VenueEndpoints,
) -> anyhow::Result<Arc<dyn Exchange>> {
    match config.kind.as_str() {
        "binance" => {
            let mut adapter_config = exchange_binance::BinanceConfig::new(
                config.name.clone(),
                endpoints.rest_url,
                endpoints.stream_url,
                endpoints.ws_api_url,
                endpoints.api_key,
                exchange_binance::ApiSecret::new(endpoints.api_secret),
            );
            adapter_config.recv_window_ms = config.recv_window_ms;
            apply_tuning(&mut adapter_config, &config.tuning);
            Ok(Arc::new(exchange_binance::BinanceExchange::new(
                adapter_config,
            )?))
        }
        other => anyhow::bail!("venue {}: unknown kind '{other}'", config.name),
    }
}

fn apply_tuning(c: &mut exchange_binance::BinanceConfig, t: &crate::config::VenueTuning) {
    let ms = Duration::from_millis;
    if let Some(v) = t.request_timeout_ms {
        c.request_timeout = ms(v);
    }
    if let Some(v) = t.ping_interval_ms {
        c.ping_interval = ms(v);
    }
    if let Some(v) = t.pong_timeout_ms {
        c.pong_timeout = ms(v);
    }
    if let Some(v) = t.market_data_timeout_ms {
        c.market_data_timeout = ms(v);
    }
    if let Some(v) = t.max_connection_age_ms {
        c.max_connection_age = ms(v);
    }
    if let Some(v) = t.reconnect_min_healthy_ms {
        c.reconnect_min_healthy = ms(v);
    }
    if let Some(v) = t.clock_samples {
        c.clock_samples = v;
    }
    if let Some(v) = t.clock_resync_interval_ms {
        c.clock_resync_interval = ms(v);
    }
    if let Some(v) = t.connect_budget {
        c.limiter.connect_budget = v;
    }
    if let Some(v) = t.connect_window_ms {
        c.limiter.connect_window = ms(v);
    }
    if let Some(v) = t.user_event_timeout_ms {
        c.user_event_timeout = ms(v);
    }
    if let Some(v) = t.rate_limit_margin {
        c.limiter.safety_margin = v;
    }
    if let Some(v) = t.max_in_flight_orders {
        c.limiter.max_in_flight_orders = v;
    }
    if let Some(v) = t.breaker_failures {
        c.breaker.consecutive_failures = v;
    }
    if let Some(v) = t.breaker_open_delay_ms {
        c.breaker.open_delay = ms(v);
        c.breaker.max_open_delay = c.breaker.max_open_delay.max(ms(v));
    }
}

/// A configured venue with its adapter, instruments and live status.
pub struct Venue {
    pub config: VenueConfig,
    pub exchange: Arc<dyn Exchange>,
    /// Configured instruments by canonical name.
    pub instruments: HashMap<String, Instrument>,
    user_stream_up: AtomicBool,
    /// Reconciliation runs under way (each pauses submissions until it ends).
    reconciling: AtomicU32,
    /// Until the first run ends, submissions are paused too.
    started: AtomicBool,
    reconciliations: AtomicU64,
}

impl Venue {
    /// Loads the venue's instruments and keeps the configured ones; a configured symbol the
    /// venue does not list is an error.
    pub async fn connect(
        config: VenueConfig,
        exchange: Arc<dyn Exchange>,
    ) -> anyhow::Result<Venue> {
        let listed = tokio::time::timeout(Duration::from_secs(30), exchange.instruments())
            .await
            .map_err(|_| anyhow::anyhow!("venue {}: timed out loading instruments", config.name))?
            .map_err(|e| anyhow::anyhow!("venue {}: loading instruments: {e}", config.name))?;
        let mut instruments = HashMap::new();
        let mut missing = Vec::new();
        for symbol in &config.symbols {
            match listed.iter().find(|i| &i.name == symbol) {
                Some(instrument) => {
                    instruments.insert(symbol.clone(), instrument.clone());
                }
                None => missing.push(symbol.clone()),
            }
        }
        if !missing.is_empty() {
            anyhow::bail!(
                "venue {}: instruments not listed by the venue: {}",
                config.name,
                missing.join(", ")
            );
        }
        Ok(Venue {
            config,
            exchange,
            instruments,
            user_stream_up: AtomicBool::new(false),
            reconciling: AtomicU32::new(0),
            started: AtomicBool::new(false),
            reconciliations: AtomicU64::new(0),
        })
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// Looks up an instrument by its venue symbol.
    pub fn instrument_by_venue_symbol(&self, venue_symbol: &str) -> Option<&Instrument> {
        self.instruments
            .values()
            .find(|i| i.venue_symbol == venue_symbol)
    }

    pub fn set_user_stream_up(&self, up: bool) {
        self.user_stream_up.store(up, Ordering::Relaxed);
    }

    pub fn user_stream_up(&self) -> bool {
        self.user_stream_up.load(Ordering::Relaxed)
    }

    /// A reconciliation run starts: submissions pause until every run has ended.
    pub fn begin_reconcile(&self) {
        self.reconciling.fetch_add(1, Ordering::Relaxed);
    }

    /// A reconciliation run ended (the others, if any, keep the pause).
    pub fn end_reconcile(&self) {
        let _ = self
            .reconciling
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        self.started.store(true, Ordering::Relaxed);
        self.reconciliations.fetch_add(1, Ordering::Relaxed);
    }

    /// Reconciliations finished since start.
    pub fn reconciliations(&self) -> u64 {
        self.reconciliations.load(Ordering::Relaxed)
    }

    /// While reconciling (or before the first reconciliation ended), new submissions for this
    /// venue are refused (retryable 503).
    pub fn reconciling(&self) -> bool {
        self.reconciling.load(Ordering::Relaxed) > 0 || !self.started.load(Ordering::Relaxed)
    }
}

/// All configured venues by name.
#[derive(Default)]
pub struct Venues {
    by_name: HashMap<String, Arc<Venue>>,
}

impl Venues {
    pub fn insert(&mut self, venue: Venue) {
        self.by_name
            .insert(venue.config.name.clone(), Arc::new(venue));
    }

    pub fn get(&self, name: &str) -> Option<&Arc<Venue>> {
        self.by_name.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Venue>> {
        self.by_name.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuning_reaches_the_adapter_and_unset_keys_keep_its_defaults() {
        let defaults = exchange_binance::BinanceConfig::new(
            "b",
            "http://127.0.0.1:1",
            "ws://127.0.0.1:1",
            "ws://127.0.0.1:1",
            "k",
            exchange_binance::ApiSecret::new("s".to_owned()),
        );
        let mut c = defaults.clone();
        apply_tuning(&mut c, &crate::config::VenueTuning::default());
        assert_eq!(format!("{c:?}"), format!("{defaults:?}"));
        let tuning = crate::config::VenueTuning {
            reconnect_min_healthy_ms: Some(1500),
            clock_samples: Some(5),
            clock_resync_interval_ms: Some(60_000),
            connect_budget: Some(7),
            connect_window_ms: Some(10_000),
            max_connection_age_ms: Some(2000),
            user_event_timeout_ms: Some(3000),
            ..Default::default()
        };
        apply_tuning(&mut c, &tuning);
        assert_eq!(c.reconnect_min_healthy, Duration::from_millis(1500));
        assert_eq!(c.clock_samples, 5);
        assert_eq!(c.clock_resync_interval, Duration::from_secs(60));
        assert_eq!(c.limiter.connect_budget, 7);
        assert_eq!(c.limiter.connect_window, Duration::from_secs(10));
        assert_eq!(c.max_connection_age, Duration::from_secs(2));
        assert_eq!(c.user_event_timeout, Duration::from_secs(3));
        assert!(c.validate().is_empty(), "{:?}", c.validate());
    }
}
