//! Measuring the venue clock (reference §2.3): several `GET /api/v3/time` round trips, the
//! fastest kept (see `auth::VenueClock`); again when the measurement is older than the resync
//! interval, and at once after the venue refused a timestamp (`-1021`).

use reqwest::Method;

use exchange_core::ExchangeError;
use tokio::time::Instant;

use super::{RestClient, SignedAt};
use crate::auth::Sample;
use crate::limits;
use crate::model::BinanceServerTime;
use crate::urls;

impl RestClient {
    /// The current venue time estimate, for WebSocket API signatures; measures the clock first
    /// when it is unknown or due, and refuses while it cannot be trusted.
    pub(crate) async fn venue_now_ms(&self) -> Result<i64, ExchangeError> {
        self.ensure_clock().await.map_err(|err| {
            ExchangeError::unavailable(
                format!("not signing: venue clock offset unknown ({err})"),
                None,
            )
        })?;
        self.clock
            .signing_timestamp()
            .map_err(|refusal| ExchangeError::unavailable(format!("not signing: {refusal}"), None))
    }

    /// Measures the venue clock offset now; returns it in milliseconds. Samples that fail are
    /// skipped; with none left the previous measurement stays and the error is returned.
    pub(crate) async fn sync_clock(&self) -> Result<i64, ExchangeError> {
        let mut samples = Vec::new();
        let mut last_error = None;
        for _ in 0..self.clock_samples {
            let sent = Instant::now();
            let time = self
                .attempt::<BinanceServerTime>(
                    &limits::TIME,
                    Method::GET,
                    urls::TIME,
                    &[],
                    false,
                    &SignedAt::default(),
                )
                .await;
            match time {
                Ok(time) => samples.push(Sample {
                    sent,
                    server_ms: time.server_time,
                    received: Instant::now(),
                }),
                Err(err) => last_error = Some(err),
            }
        }
        let Some((offset, uncertainty)) = self.clock.record(&samples) else {
            return Err(last_error
                .unwrap_or_else(|| ExchangeError::unknown("no venue clock sample was taken")));
        };
        tracing::info!(
            offset_ms = offset,
            uncertainty_ms = uncertainty,
            samples = samples.len(),
            "binance clock synced"
        );
        Ok(offset)
    }

    /// Measures the clock when it is unknown, untrusted or older than the resync interval. A
    /// due re-measurement that fails keeps the previous one (still trusted).
    pub(crate) async fn ensure_clock(&self) -> Result<(), ExchangeError> {
        if self.clock.is_synced() && !self.clock_due() {
            return Ok(());
        }
        let _guard = self.clock_sync.lock().await;
        if self.clock.is_synced() && !self.clock_due() {
            return Ok(());
        }
        match self.sync_clock().await {
            Ok(_) => Ok(()),
            Err(err) if self.clock.is_synced() => {
                tracing::warn!(error = %err, "binance clock re-measurement failed, keeping the last one");
                Ok(())
            }
            Err(err) => Err(err),
        }
    }

    /// Measures the clock again now (one measurement at a time), keeping the last one on
    /// failure.
    pub(crate) async fn remeasure_clock(&self) -> Result<i64, ExchangeError> {
        let _guard = self.clock_sync.lock().await;
        self.sync_clock().await
    }

    fn clock_due(&self) -> bool {
        self.clock
            .measured_at()
            .is_none_or(|at| at.elapsed() >= self.clock_resync_interval)
    }

    /// The venue refused a timestamp we signed after `signed_after` (`-1021`): unless the
    /// clock was measured since, the measurement is wrong, so it is dropped (nothing is signed
    /// with it again) and taken anew. True when the clock is trusted again.
    pub(crate) async fn timestamp_refused(&self, signed_after: Instant) -> bool {
        let _guard = self.clock_sync.lock().await;
        if self.clock.measured_at().is_some_and(|at| at > signed_after) {
            return self.clock.is_synced();
        }
        self.clock.invalidate();
        if let Err(err) = self.sync_clock().await {
            tracing::warn!(error = %err, "binance clock resync failed");
        }
        self.clock.is_synced()
    }
}
