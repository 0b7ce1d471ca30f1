//! Deterministic identifiers: the client order id derived from the trader's idempotency key
//! (DESIGN invariant 2: every retry, and every replay of the same key, sends the same id) and
//! the request fingerprint that tells a replay from a different order under a reused key.

use sha2::{Digest, Sha256};

use super::SubmitRequest;

/// Prefix of every client order id omsd generates; orders with it found on a venue are ours.
pub const CLIENT_ID_PREFIX: &str = "omsd-";

/// The venue-safe client order id (`[A-Za-z0-9_-]`, 32 characters) for an idempotency key.
pub fn client_order_id(venue: &str, account: &str, idempotency_key: &str) -> String {
    let digest = Sha256::digest(format!("{venue}\n{account}\n{idempotency_key}"));
    let hex = hex::encode(digest);
    format!("{CLIENT_ID_PREFIX}{}", &hex[..27])
}

/// Whether a trader-supplied client order id is acceptable to venues (`^[A-Za-z0-9_-]{1,36}$`).
pub fn valid_client_order_id(id: &str) -> bool {
    (1..=36).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A fingerprint of what the request asks for; decimals are normalised so `1.0` equals `1`.
pub fn request_hash(req: &SubmitRequest) -> String {
    let canonical = format!(
        "{}|{}|{}|{}|{}|{}|{}|{}",
        req.venue,
        req.symbol,
        req.side,
        req.order_type,
        req.time_in_force,
        req.quantity.normalize(),
        req.price
            .map(|p| p.normalize().to_string())
            .unwrap_or_default(),
        req.client_order_id.as_deref().unwrap_or_default(),
    );
    hex::encode(Sha256::digest(canonical))
}

#[cfg(test)]
mod tests {
    use super::*;
    use exchange_core::{OrderType, Side, TimeInForce};
    use rust_decimal_macros::dec;

    fn req() -> SubmitRequest {
        SubmitRequest {
            venue: "binance".into(),
            symbol: "BTC-USDT".into(),
            side: Side::Buy,
            order_type: OrderType::Limit,
            time_in_force: TimeInForce::Gtc,
            quantity: dec!(0.0010),
            price: Some(dec!(30000.00)),
            client_order_id: None,
            idempotency_key: "key-1".into(),
        }
    }

    #[test]
    fn client_ids_are_deterministic_and_venue_safe() {
        let a = client_order_id("binance", "main", "key-1");
        assert_eq!(a, client_order_id("binance", "main", "key-1"));
        assert_ne!(a, client_order_id("binance", "main", "key-2"));
        assert_ne!(a, client_order_id("binance", "other", "key-1"));
        assert_eq!(a.len(), 32);
        assert!(valid_client_order_id(&a));
        assert!(a.starts_with(CLIENT_ID_PREFIX));
    }

    #[test]
    fn client_id_validation_table() {
        for (id, ok) in [
            ("abc-_9", true),
            ("", false),
            ("a b", false),
            ("é", false),
            (&"x".repeat(37), false),
        ] {
            assert_eq!(valid_client_order_id(id), ok, "{id}");
        }
    }

    #[test]
    fn request_hash_ignores_decimal_form_but_not_content() {
        let base = request_hash(&req());
        let mut same = req();
        same.quantity = dec!(0.001);
        same.price = Some(dec!(30000));
        same.idempotency_key = "another".into();
        assert_eq!(request_hash(&same), base);
        let mut other = req();
        other.quantity = dec!(0.002);
        assert_ne!(request_hash(&other), base);
        let mut side = req();
        side.side = Side::Sell;
        assert_ne!(request_hash(&side), base);
    }
}
