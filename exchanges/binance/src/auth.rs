//! Request signing (HMAC-SHA256, reference §2.2) and the venue clock used for `timestamp`
//! (reference §2.3).
//!
//! REST signs the exact percent-encoded payload that goes on the wire (query string followed by
//! body); the WebSocket API signs its params sorted by name as `k=v&...` without encoding.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::ApiSecret;

type HmacSha256 = Hmac<Sha256>;

/// Lowercase hex HMAC-SHA256 of `payload` under `secret`.
pub(crate) fn sign(secret: &ApiSecret, payload: &str) -> String {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail; fall back to an empty
    // signature (which the venue rejects) rather than panic.
    match HmacSha256::new_from_slice(secret.expose()) {
        Ok(mut mac) => {
            mac.update(payload.as_bytes());
            hex::encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    }
}

/// The REST payload: query string and body concatenated, as sent (reference §2.2).
pub(crate) fn rest_payload(query: &str, body: &str) -> String {
    format!("{query}{body}")
}

/// The WebSocket API payload: params except `signature`, sorted by name, `k=v` joined by `&`.
pub(crate) fn ws_api_payload(params: &[(&str, String)]) -> String {
    let mut sorted: Vec<&(&str, String)> =
        params.iter().filter(|(k, _)| *k != "signature").collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    sorted
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Milliseconds since the Unix epoch on the local clock.
pub(crate) fn local_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// One `GET /api/v3/time` round trip: local monotonic instants around it and the server time
/// it returned.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sample {
    pub sent: Instant,
    pub server_ms: i64,
    pub received: Instant,
}

impl Sample {
    fn round_trip(&self) -> Duration {
        self.received.saturating_duration_since(self.sent)
    }
}

/// The venue time at one local instant, and how far off it may be.
#[derive(Debug, Clone, Copy)]
struct Anchor {
    venue_ms: i64,
    at: Instant,
    uncertainty_ms: u64,
    /// When the measurement was recorded.
    recorded: Instant,
}

/// Why a request cannot be signed now (nothing is sent).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ClockRefusal {
    #[error("venue clock offset unknown: not measured yet")]
    Unknown,
    #[error(
        "venue clock offset uncertain by {uncertainty_ms} ms (more than {max_ms} ms is unsafe \
         for recvWindow)"
    )]
    Uncertain { uncertainty_ms: u64, max_ms: u64 },
}

/// The venue clock, measured from `GET /api/v3/time`.
///
/// Of several samples, the one with the smallest round trip is kept: the server stamped its
/// time somewhere inside the round trip, so assuming the middle is off by at most half of it
/// (the uncertainty). The estimate runs on the local monotonic clock from that anchor, so a
/// step of the host's wall clock changes neither signed timestamps nor staleness verdicts;
/// the exported offset is the estimate minus the wall clock.
///
/// Requests are signed only while the offset is known and its uncertainty is at most
/// `max_uncertainty_ms`: the venue refuses a timestamp more than 1 s ahead of it or older than
/// `recvWindow` (reference §2.3).
#[derive(Debug)]
pub(crate) struct VenueClock {
    anchor: Mutex<Option<Anchor>>,
    max_uncertainty_ms: u64,
    measurements: AtomicU64,
}

impl VenueClock {
    /// A clock that signs only while uncertain by at most a quarter of `recv_window_ms` and
    /// under the venue's 1 s tolerance for timestamps ahead of it.
    pub(crate) fn new(recv_window_ms: u64) -> Self {
        VenueClock {
            anchor: Mutex::new(None),
            max_uncertainty_ms: (recv_window_ms / 4).clamp(1, 500),
            measurements: AtomicU64::new(0),
        }
    }

    fn anchor(&self) -> Option<Anchor> {
        *self.anchor.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a measurement from `samples`, keeping the one with the smallest round trip;
    /// returns the offset to the wall clock and the uncertainty (None without samples).
    pub(crate) fn record(&self, samples: &[Sample]) -> Option<(i64, u64)> {
        let best = samples.iter().min_by_key(|s| s.round_trip())?;
        let half = best.round_trip() / 2;
        let anchor = Anchor {
            venue_ms: best.server_ms,
            at: best.sent + half,
            uncertainty_ms: u64::try_from(half.as_millis()).unwrap_or(u64::MAX),
            recorded: Instant::now(),
        };
        *self.anchor.lock().unwrap_or_else(|e| e.into_inner()) = Some(anchor);
        self.measurements.fetch_add(1, Ordering::Relaxed);
        Some((self.offset_ms().unwrap_or(0), anchor.uncertainty_ms))
    }

    /// The current venue time estimate, if the clock was measured.
    pub(crate) fn now_ms(&self) -> Option<i64> {
        let anchor = self.anchor()?;
        let since = Instant::now().saturating_duration_since(anchor.at);
        let since = i64::try_from(since.as_millis()).unwrap_or(i64::MAX);
        Some(anchor.venue_ms.saturating_add(since))
    }

    /// The venue clock minus the local wall clock, if measured.
    pub(crate) fn offset_ms(&self) -> Option<i64> {
        Some(self.now_ms()?.saturating_sub(local_now_ms()))
    }

    /// When the current measurement was recorded.
    pub(crate) fn measured_at(&self) -> Option<Instant> {
        self.anchor().map(|a| a.recorded)
    }

    /// The `timestamp` for a signed request now, or why none may be signed.
    pub(crate) fn signing_timestamp(&self) -> Result<i64, ClockRefusal> {
        let anchor = self.anchor().ok_or(ClockRefusal::Unknown)?;
        if anchor.uncertainty_ms > self.max_uncertainty_ms {
            return Err(ClockRefusal::Uncertain {
                uncertainty_ms: anchor.uncertainty_ms,
                max_ms: self.max_uncertainty_ms,
            });
        }
        self.now_ms().ok_or(ClockRefusal::Unknown)
    }

    /// True while requests may be signed.
    pub(crate) fn is_synced(&self) -> bool {
        self.signing_timestamp().is_ok()
    }

    /// Forgets the measurement (it was proven wrong): nothing is signed until the next one.
    pub(crate) fn invalidate(&self) {
        *self.anchor.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// The clock's state for health reports; every measurement after the first is a resync.
    pub(crate) fn health(&self) -> exchange_core::ClockHealth {
        exchange_core::ClockHealth {
            offset_ms: self.offset_ms().unwrap_or(0),
            uncertainty_ms: self.anchor().map_or(0, |a| a.uncertainty_ms),
            synced: self.is_synced(),
            resyncs_total: self.measurements.load(Ordering::Relaxed).saturating_sub(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";

    #[test]
    fn rest_test_vectors() {
        let secret = ApiSecret::new(SECRET);
        let cases = [
            (
                "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559",
                "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71",
            ),
            (
                "symbol=%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559",
                "e1353ec6b14d888f1164ae9af8228a3dbd508bc82eb867db8ab6046442f33ef3",
            ),
        ];
        for (payload, want) in cases {
            assert_eq!(sign(&secret, &rest_payload(payload, "")), want, "{payload}");
        }
    }

    #[test]
    fn non_ascii_symbol_is_percent_encoded_like_the_vector() {
        // The adapter encodes with serde_urlencoded; the vector's payload must come out of it.
        let params = [("symbol", "１２３４５６"), ("side", "BUY")];
        let query = serde_urlencoded::to_string(params).unwrap_or_default();
        assert_eq!(
            query,
            "symbol=%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96&side=BUY"
        );
    }

    #[test]
    fn query_and_body_are_concatenated_without_separator() {
        let secret = ApiSecret::new(SECRET);
        let split = rest_payload(
            "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC",
            "&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559",
        );
        assert_eq!(
            sign(&secret, &split),
            "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
        );
    }

    #[test]
    fn ws_api_test_vector() {
        let secret = ApiSecret::new(SECRET);
        // Deliberately unsorted, with a stale signature param that must be ignored.
        let params = [
            ("symbol", "BTCUSDT".to_owned()),
            ("side", "SELL".to_owned()),
            ("type", "LIMIT".to_owned()),
            ("timeInForce", "GTC".to_owned()),
            ("quantity", "0.01000000".to_owned()),
            ("price", "52000.00".to_owned()),
            ("recvWindow", "100".to_owned()),
            ("timestamp", "1645423376532".to_owned()),
            (
                "apiKey",
                "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A".to_owned(),
            ),
            ("signature", "ignored".to_owned()),
        ];
        let payload = ws_api_payload(&params);
        assert_eq!(
            payload,
            "apiKey=vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A&price=52000.00&quantity=0.01000000&recvWindow=100&side=SELL&symbol=BTCUSDT&timeInForce=GTC&timestamp=1645423376532&type=LIMIT"
        );
        assert_eq!(
            sign(&secret, &payload),
            "aa1b5712c094bc4e57c05a1a5c1fd8d88dcd628338ea863fec7b88e59fe2db24"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn clock_keeps_the_fastest_sample_and_refuses_to_sign_when_unsafe() {
        let clock = VenueClock::new(5_000);
        assert_eq!(clock.signing_timestamp(), Err(ClockRefusal::Unknown));
        assert!(!clock.health().synced);
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        // (sent, server time, received): the 40 ms round trip wins over 400 ms and 1 s ones.
        let samples = [
            Sample {
                sent: t0,
                server_ms: 10_000,
                received: t0 + ms(400),
            },
            Sample {
                sent: t0 + ms(500),
                server_ms: 10_520,
                received: t0 + ms(540),
            },
            Sample {
                sent: t0 + ms(600),
                server_ms: 11_100,
                received: t0 + ms(1_600),
            },
        ];
        tokio::time::advance(ms(2_000)).await;
        let (_, uncertainty) = clock.record(&samples).unwrap_or_default();
        assert_eq!(uncertainty, 20);
        // Anchor: venue 10 520 at t0 + 520 ms; now is t0 + 2 000 ms.
        assert_eq!(clock.signing_timestamp(), Ok(12_000));
        let health = clock.health();
        assert_eq!(
            (health.uncertainty_ms, health.synced, health.resyncs_total),
            (20, true, 0)
        );
        // Only slow samples: half a 1.2 s round trip is too uncertain for recvWindow 5000.
        clock.record(&[Sample {
            sent: t0,
            server_ms: 1,
            received: t0 + ms(1_200),
        }]);
        assert_eq!(
            clock.signing_timestamp(),
            Err(ClockRefusal::Uncertain {
                uncertainty_ms: 600,
                max_ms: 500
            })
        );
        assert!(clock.record(&[]).is_none(), "no samples, no measurement");
        clock.invalidate();
        assert_eq!(clock.now_ms(), None);
        assert_eq!(clock.signing_timestamp(), Err(ClockRefusal::Unknown));
    }
}
