//! The venue registry, and the one place that names concrete adapters: it turns each
//! `[[venues]]` entry into an `Arc<dyn Exchange>`, loads its instruments and keeps the live
//! status the control port reports.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use exchange_core::{Exchange, Instrument};

use crate::clock::now_ms;
use crate::config::{CredentialSource, VenueConfig};
use crate::store::Store;
use crate::telemetry;

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
            crate::telemetry::venue_recv_window(&config.name, config.recv_window_ms);
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
    if let Some(v) = t.max_streams_per_connection {
        c.max_streams_per_connection = v;
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
    /// Configured instruments by canonical name (replaced when fetched again).
    instruments: RwLock<Arc<HashMap<String, Instrument>>>,
    /// The instruments came from the store's cache: the venue has not answered since start.
    instruments_stale: AtomicBool,
    /// When the instruments in use were fetched from the venue (epoch milliseconds).
    instruments_fetched_at_ms: AtomicI64,
    user_stream_up: AtomicBool,
    /// Reconciliation runs under way (each pauses submissions until it ends).
    reconciling: AtomicU32,
    /// Until the first run ends, submissions are paused too.
    started: AtomicBool,
    reconciliations: AtomicU64,
}

/// How long start-up waits for a venue's instrument list before using the cached one.
const INSTRUMENTS_TIMEOUT: Duration = Duration::from_secs(15);

/// The configured symbols among `listed`, or the configured symbols `listed` lacks.
fn configured(
    config: &VenueConfig,
    listed: impl IntoIterator<Item = Instrument>,
) -> Result<HashMap<String, Instrument>, Vec<String>> {
    let mut by_name: HashMap<String, Instrument> =
        listed.into_iter().map(|i| (i.name.clone(), i)).collect();
    let mut instruments = HashMap::new();
    let mut missing = Vec::new();
    for symbol in &config.symbols {
        match by_name.remove(symbol) {
            Some(instrument) => {
                instruments.insert(symbol.clone(), instrument);
            }
            None => missing.push(symbol.clone()),
        }
    }
    if missing.is_empty() {
        Ok(instruments)
    } else {
        Err(missing)
    }
}

/// The venue's instrument list, within [`INSTRUMENTS_TIMEOUT`].
async fn fetch(exchange: &Arc<dyn Exchange>) -> anyhow::Result<Vec<Instrument>> {
    tokio::time::timeout(INSTRUMENTS_TIMEOUT, exchange.instruments())
        .await
        .map_err(|_| anyhow::anyhow!("timed out loading instruments"))?
        .map_err(|e| anyhow::anyhow!("loading instruments: {e}"))
}

impl Venue {
    /// Loads the venue's instruments, keeps the configured ones and caches them in `store`;
    /// a configured symbol the venue does not list is an error. When the venue cannot be
    /// reached, starts with the cached instruments instead, flagged stale (new orders for the
    /// venue are refused until [`Venue::refresh_instruments`] succeeds); without a cached copy
    /// of every configured symbol that is an error too.
    pub async fn connect(
        config: VenueConfig,
        exchange: Arc<dyn Exchange>,
        store: &Arc<dyn Store>,
    ) -> anyhow::Result<Venue> {
        let name = config.name.clone();
        let (instruments, stale, fetched_at) = match fetch(&exchange).await {
            Ok(listed) => {
                let instruments = configured(&config, listed).map_err(|missing| {
                    anyhow::anyhow!(
                        "venue {name}: instruments not listed by the venue: {}",
                        missing.join(", ")
                    )
                })?;
                let fetched_at = now_ms();
                cache(store, &name, &instruments, fetched_at).await;
                telemetry::instruments_stale(&name, false, "", fetched_at);
                (instruments, false, fetched_at)
            }
            Err(error) => {
                let cached = store.cached_instruments(&name).await.map_err(|e| {
                    anyhow::anyhow!("venue {name}: {error}; reading the cached instruments: {e}")
                })?;
                let fetched_at = cached.iter().map(|c| c.fetched_at_ms).min().unwrap_or(0);
                let instruments = configured(&config, cached.into_iter().map(|c| c.instrument))
                    .map_err(|missing| {
                        anyhow::anyhow!(
                            "venue {name}: {error}, and the store has no cached instruments for {}",
                            missing.join(", ")
                        )
                    })?;
                telemetry::instruments_stale(&name, true, &error.to_string(), fetched_at);
                (instruments, true, fetched_at)
            }
        };
        Ok(Venue {
            config,
            exchange,
            instruments: RwLock::new(Arc::new(instruments)),
            instruments_stale: AtomicBool::new(stale),
            instruments_fetched_at_ms: AtomicI64::new(fetched_at),
            user_stream_up: AtomicBool::new(false),
            reconciling: AtomicU32::new(0),
            started: AtomicBool::new(false),
            reconciliations: AtomicU64::new(0),
        })
    }

    /// Fetches the instruments again and replaces the ones in use (and the cached copy); the
    /// venue is no longer stale once this succeeds.
    pub async fn refresh_instruments(&self, store: &Arc<dyn Store>) -> anyhow::Result<()> {
        let listed = fetch(&self.exchange).await?;
        let instruments = configured(&self.config, listed).map_err(|missing| {
            anyhow::anyhow!(
                "instruments no longer listed by the venue: {}",
                missing.join(", ")
            )
        })?;
        let fetched_at = now_ms();
        cache(store, self.name(), &instruments, fetched_at).await;
        if let Ok(mut current) = self.instruments.write() {
            *current = Arc::new(instruments);
        }
        self.instruments_fetched_at_ms
            .store(fetched_at, Ordering::Relaxed);
        self.instruments_stale.store(false, Ordering::Relaxed);
        telemetry::instruments_stale(self.name(), false, "", fetched_at);
        Ok(())
    }

    /// The configured instruments by canonical name.
    pub fn instruments(&self) -> Arc<HashMap<String, Instrument>> {
        match self.instruments.read() {
            Ok(current) => current.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// One configured instrument by canonical name.
    pub fn instrument(&self, symbol: &str) -> Option<Instrument> {
        self.instruments().get(symbol).cloned()
    }

    /// The instruments in use came from the store's cache (the venue has not answered since
    /// start): new orders for the venue are refused.
    pub fn instruments_stale(&self) -> bool {
        self.instruments_stale.load(Ordering::Relaxed)
    }

    /// When the instruments in use were fetched from the venue (epoch milliseconds).
    pub fn instruments_fetched_at_ms(&self) -> i64 {
        self.instruments_fetched_at_ms.load(Ordering::Relaxed)
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// Looks up an instrument by its venue symbol.
    pub fn instrument_by_venue_symbol(&self, venue_symbol: &str) -> Option<Instrument> {
        self.instruments()
            .values()
            .find(|i| i.venue_symbol == venue_symbol)
            .cloned()
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

/// Caches fetched instruments; a failure only costs the next cold start its cache.
async fn cache(
    store: &Arc<dyn Store>,
    venue: &str,
    instruments: &HashMap<String, Instrument>,
    fetched_at_ms: i64,
) {
    let list: Vec<Instrument> = instruments.values().cloned().collect();
    if let Err(e) = store.save_instruments(venue, &list, fetched_at_ms).await {
        tracing::warn!(venue, error = %e, "instruments not cached");
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
