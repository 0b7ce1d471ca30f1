//! Request signing (HMAC-SHA256, reference §2.2) and the venue clock used for `timestamp`.
//!
//! REST signs the exact percent-encoded payload that goes on the wire (query string followed by
//! body); the WebSocket API signs its params sorted by name as `k=v&...` without encoding.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

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

/// The offset between the venue's clock and ours, measured from `GET /api/v3/time`.
///
/// Signed requests carry `local time + offset`, so a drifting host clock does not turn into
/// `-1021` rejections.
#[derive(Debug, Default)]
pub(crate) struct VenueClock {
    offset_ms: AtomicI64,
    synced: AtomicBool,
    measurements: AtomicU64,
}

impl VenueClock {
    /// Records one measurement: the server time and the local times around the request. The
    /// server is assumed to have stamped the middle of the round trip.
    pub(crate) fn record(&self, local_before_ms: i64, server_ms: i64, local_after_ms: i64) -> i64 {
        let midpoint = local_before_ms + (local_after_ms - local_before_ms) / 2;
        let offset = server_ms - midpoint;
        self.offset_ms.store(offset, Ordering::Relaxed);
        self.synced.store(true, Ordering::Release);
        self.measurements.fetch_add(1, Ordering::Relaxed);
        offset
    }

    /// The clock's state for health reports; every measurement after the first is a resync.
    pub(crate) fn health(&self) -> exchange_core::ClockHealth {
        exchange_core::ClockHealth {
            offset_ms: self.offset_ms(),
            synced: self.is_synced(),
            resyncs_total: self.measurements.load(Ordering::Relaxed).saturating_sub(1),
        }
    }

    /// True once a measurement was recorded.
    pub(crate) fn is_synced(&self) -> bool {
        self.synced.load(Ordering::Acquire)
    }

    /// Forgets the measurement so that the next signed request measures again.
    pub(crate) fn invalidate(&self) {
        self.synced.store(false, Ordering::Release);
    }

    /// The venue clock minus ours, in milliseconds.
    pub(crate) fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::Relaxed)
    }

    /// The current venue time estimate, for `timestamp`.
    pub(crate) fn now_ms(&self) -> i64 {
        local_now_ms() + self.offset_ms()
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

    #[test]
    fn clock_offset_uses_round_trip_midpoint() {
        let clock = VenueClock::default();
        assert!(!clock.is_synced());
        assert_eq!(clock.record(1_000, 5_100, 1_200), 4_000);
        assert!(clock.is_synced());
        assert_eq!(clock.offset_ms(), 4_000);
        let drift = clock.now_ms() - local_now_ms();
        assert!((3_990..=4_010).contains(&drift), "{drift}");
        clock.invalidate();
        assert!(!clock.is_synced());
        clock.record(0, 10, 0);
        assert_eq!(
            (clock.health().offset_ms, clock.health().resyncs_total),
            (10, 1)
        );
    }
}
