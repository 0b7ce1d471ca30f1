//! Request authentication as the venue does it: API key lookup (`X-MBX-APIKEY` or the WS API
//! `apiKey` param), HMAC-SHA256 (hex) or Ed25519 (base64) signatures and the `timestamp` /
//! `recvWindow` rule.
//!
//! REST signatures cover the raw query string concatenated with the raw body, minus the
//! `signature=` pair, exactly as received (never re-encoded or reordered). WebSocket API
//! signatures cover the params except `signature`, sorted by name, joined as `k=v&...`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use hmac::{Hmac, Mac};
use rust_decimal::Decimal;
use sha2::Sha256;

use crate::engine::AccountId;
use crate::errors::ApiError;

type HmacSha256 = Hmac<Sha256>;

/// Largest accepted `recvWindow` (ms).
const MAX_RECV_WINDOW: u64 = 60_000;
/// `recvWindow` when the request has none (ms).
const DEFAULT_RECV_WINDOW: i64 = 5_000;

/// How a key's signatures are checked.
#[derive(Clone, Debug)]
enum Secret {
    /// HMAC-SHA256 with this secret, hex signatures.
    Hmac(String),
    /// Ed25519 with this public key, base64 signatures.
    Ed25519(ed25519_dalek::VerifyingKey),
}

/// How many accepted signatures [`SignatureLog`] keeps (the oldest go first).
const SIGNATURE_LOG_CAPACITY: usize = 10_000;

/// The most recent signatures the simulator accepted, so that tests can search a client's
/// logs for them (a client must never log what it signs with).
#[derive(Clone, Debug, Default)]
pub(crate) struct SignatureLog(Arc<Mutex<VecDeque<String>>>);

impl SignatureLog {
    fn record(&self, signature: &str) {
        let mut log = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if log.len() == SIGNATURE_LOG_CAPACITY {
            log.pop_front();
        }
        log.push_back(signature.to_owned());
    }

    /// Every recorded signature, oldest first.
    pub fn snapshot(&self) -> Vec<String> {
        let log = self.0.lock().unwrap_or_else(|e| e.into_inner());
        log.iter().cloned().collect()
    }
}

/// One API key's secret and the account it trades for.
#[derive(Clone, Debug)]
pub(crate) struct Credential {
    pub account: AccountId,
    secret: Secret,
    signatures: SignatureLog,
}

impl Credential {
    /// Whether this is an Ed25519 key (the only kind `session.logon` accepts).
    pub fn is_ed25519(&self) -> bool {
        matches!(self.secret, Secret::Ed25519(_))
    }

    fn verify(&self, payload: &[u8], signature: &str) -> bool {
        match &self.secret {
            Secret::Hmac(secret) => verify(secret, payload, signature),
            Secret::Ed25519(key) => verify_ed25519(key, payload, signature),
        }
    }
}

/// Parses an Ed25519 public key: PEM (`-----BEGIN PUBLIC KEY-----`, SPKI) or the base64 of
/// the 32 raw key bytes.
pub(crate) fn parse_ed25519_public_key(text: &str) -> Option<ed25519_dalek::VerifyingKey> {
    use base64::Engine as _;
    use ed25519_dalek::pkcs8::DecodePublicKey;
    let text = text.trim();
    if text.starts_with("-----BEGIN") {
        return ed25519_dalek::VerifyingKey::from_public_key_pem(text).ok();
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()?;
    ed25519_dalek::VerifyingKey::from_bytes(&bytes.try_into().ok()?).ok()
}

/// Checks a base64 Ed25519 signature over `payload`.
fn verify_ed25519(key: &ed25519_dalek::VerifyingKey, payload: &[u8], signature: &str) -> bool {
    use base64::Engine as _;
    let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(signature) else {
        return false;
    };
    let Ok(signature) = ed25519_dalek::Signature::from_slice(&bytes) else {
        return false;
    };
    key.verify_strict(payload, &signature).is_ok()
}

/// Known API keys.
#[derive(Clone, Debug, Default)]
pub(crate) struct Keys {
    by_key: HashMap<String, Credential>,
    signatures: SignatureLog,
}

impl Keys {
    /// The log of every signature accepted for any of these keys.
    pub fn signatures(&self) -> SignatureLog {
        self.signatures.clone()
    }

    pub fn insert(&mut self, api_key: &str, secret: &str, account: AccountId) {
        let credential = Credential {
            account,
            secret: Secret::Hmac(secret.to_owned()),
            signatures: self.signatures.clone(),
        };
        self.by_key.insert(api_key.to_owned(), credential);
    }

    /// Registers an Ed25519 key: signatures are checked against `public_key`.
    pub fn insert_ed25519(
        &mut self,
        api_key: &str,
        public_key: ed25519_dalek::VerifyingKey,
        account: AccountId,
    ) {
        let credential = Credential {
            account,
            secret: Secret::Ed25519(public_key),
            signatures: self.signatures.clone(),
        };
        self.by_key.insert(api_key.to_owned(), credential);
    }

    /// `-2014` for a missing or malformed key, `-2015` for an unknown one.
    pub fn lookup(&self, api_key: Option<&str>) -> Result<&Credential, ApiError> {
        let key = api_key
            .filter(|k| is_well_formed(k))
            .ok_or_else(ApiError::key_format)?;
        self.by_key.get(key).ok_or_else(ApiError::invalid_key)
    }
}

fn is_well_formed(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 256
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Lower-case hex HMAC-SHA256 of `payload` (what a client sends).
#[cfg(test)]
fn sign(secret: &str, payload: &[u8]) -> String {
    match HmacSha256::new_from_slice(secret.as_bytes()) {
        Ok(mut mac) => {
            mac.update(payload);
            hex::encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    }
}

/// Constant-time check of a hex signature, case-insensitive.
fn verify(secret: &str, payload: &[u8], signature: &str) -> bool {
    let Ok(expected) = hex::decode(signature) else {
        return false;
    };
    let Ok(mut mac) = HmacSha256::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(payload);
    mac.verify_slice(&expected).is_ok()
}

/// The REST signature payload: raw query + raw body, each without its `signature=` pair.
pub(crate) fn rest_payload(query: &[u8], body: &[u8]) -> Vec<u8> {
    let strip = |raw: &[u8]| -> Vec<u8> {
        let kept: Vec<&[u8]> = raw
            .split(|&b| b == b'&')
            .filter(|pair| !pair.is_empty() && !pair.starts_with(b"signature="))
            .collect();
        kept.join(&b'&')
    };
    let mut payload = strip(query);
    payload.extend(strip(body));
    payload
}

/// The WebSocket API signature payload: params except `signature`, sorted, `k=v` joined by `&`.
pub(crate) fn ws_payload(params: &serde_json::Map<String, serde_json::Value>) -> String {
    let mut pairs: Vec<(&String, String)> = params
        .iter()
        .filter(|(k, _)| k.as_str() != "signature")
        .map(|(k, v)| (k, ws_value(v)))
        .collect();
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    let joined: Vec<String> = pairs.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    joined.join("&")
}

/// A WS API param value as text: strings unquoted, numbers and booleans as written.
pub(crate) fn ws_value(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The signed-request parameters, as text, wherever they came from.
pub(crate) struct SignedParams<'a> {
    pub timestamp: Option<&'a str>,
    pub signature: Option<&'a str>,
    pub recv_window: Option<&'a str>,
}

/// Checks a signed request after the key lookup: mandatory params, signature, then the
/// timestamp window (so a -1021 always means the key and signature were right).
pub(crate) fn check_signed(
    credential: &Credential,
    p: &SignedParams<'_>,
    payload: &[u8],
    now_ms: i64,
) -> Result<(), ApiError> {
    let timestamp = parse_timestamp(p.timestamp)?;
    let signature = p
        .signature
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::mandatory("signature"))?;
    let recv_window = parse_recv_window(p.recv_window)?;
    if !credential.verify(payload, signature) {
        return Err(ApiError::bad_signature());
    }
    credential.signatures.record(signature);
    check_window(now_ms, timestamp, recv_window)
}

fn parse_timestamp(text: Option<&str>) -> Result<i64, ApiError> {
    let text = text
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::mandatory("timestamp"))?;
    if text.len() > 20 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::mandatory("timestamp"));
    }
    text.parse().map_err(|_| ApiError::mandatory("timestamp"))
}

fn parse_recv_window(text: Option<&str>) -> Result<Decimal, ApiError> {
    let Some(text) = text.filter(|t| !t.is_empty()) else {
        return Ok(Decimal::from(DEFAULT_RECV_WINDOW));
    };
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let well_formed = !int.is_empty()
        && int.len() <= 20
        && digits(int)
        && frac.len() <= 3
        && digits(frac)
        && (frac.is_empty() != text.contains('.'));
    let value: Decimal = well_formed
        .then(|| text.parse().ok())
        .flatten()
        .ok_or_else(|| ApiError::mandatory("recvWindow"))?;
    if value > Decimal::from(MAX_RECV_WINDOW) {
        return Err(ApiError::too_large("recvWindow", MAX_RECV_WINDOW));
    }
    Ok(value)
}

/// The venue's second check, made when a request that passed [`check_signed`] is about to reach
/// the matching engine: `now - timestamp <= recvWindow` again, with the clock of that moment.
/// A request without a timestamp (on a logged-on WebSocket API session) has nothing to check;
/// a malformed one was refused by the first check.
pub(crate) fn recheck_window(
    timestamp: Option<&str>,
    recv_window: Option<&str>,
    now_ms: i64,
) -> Result<(), ApiError> {
    let (Ok(timestamp), Ok(recv_window)) =
        (parse_timestamp(timestamp), parse_recv_window(recv_window))
    else {
        return Ok(());
    };
    if Decimal::from(now_ms.saturating_sub(timestamp)) > recv_window {
        return Err(ApiError::timestamp_outside());
    }
    Ok(())
}

/// The venue's rule: `timestamp < now + 1000` and `now - timestamp <= recvWindow`.
pub(crate) fn check_window(
    now_ms: i64,
    timestamp: i64,
    recv_window: Decimal,
) -> Result<(), ApiError> {
    if timestamp >= now_ms.saturating_add(1000) {
        return Err(ApiError::timestamp_ahead());
    }
    if Decimal::from(now_ms.saturating_sub(timestamp)) > recv_window {
        return Err(ApiError::timestamp_outside());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";
    const PAYLOAD: &str = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559";
    const SIGNATURE: &str = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71";

    #[test]
    fn rest_vectors_from_the_venue_docs() {
        assert_eq!(sign(SECRET, PAYLOAD.as_bytes()), SIGNATURE);
        let encoded = "symbol=%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559";
        assert_eq!(
            sign(SECRET, encoded.as_bytes()),
            "e1353ec6b14d888f1164ae9af8228a3dbd508bc82eb867db8ab6046442f33ef3"
        );
        assert!(verify(
            SECRET,
            PAYLOAD.as_bytes(),
            &SIGNATURE.to_uppercase()
        ));
        assert!(!verify(SECRET, PAYLOAD.as_bytes(), &SIGNATURE[1..]));
        assert!(!verify(SECRET, b"symbol=LTCBTC", SIGNATURE));
    }

    #[test]
    fn rest_payload_strips_signature_from_query_and_body() {
        let query = format!("{}&signature={SIGNATURE}", &PAYLOAD[..40]);
        let payload = rest_payload(
            query.as_bytes(),
            format!("{}&signature=abc", &PAYLOAD[40..]).as_bytes(),
        );
        assert_eq!(payload, PAYLOAD.as_bytes());
        let mixed = rest_payload(b"symbol=LTCBTC&side=BUY", b"quantity=1&signature=x");
        assert_eq!(mixed, b"symbol=LTCBTC&side=BUYquantity=1");
    }

    #[test]
    fn ws_vector_from_the_venue_docs() {
        let params = serde_json::json!({
            "symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "timeInForce": "GTC",
            "quantity": "0.01000000", "price": "52000.00", "recvWindow": 100,
            "timestamp": 1645423376532_i64, "signature": "ignored",
            "apiKey": "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A",
        });
        let payload = ws_payload(params.as_object().unwrap());
        assert_eq!(
            payload,
            "apiKey=vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A&price=52000.00&quantity=0.01000000&recvWindow=100&side=SELL&symbol=BTCUSDT&timeInForce=GTC&timestamp=1645423376532&type=LIMIT"
        );
        assert_eq!(
            sign(SECRET, payload.as_bytes()),
            "aa1b5712c094bc4e57c05a1a5c1fd8d88dcd628338ea863fec7b88e59fe2db24"
        );
    }

    #[test]
    fn timestamp_window_table() {
        let now = 1_000_000;
        let cases = [
            (now, 5000, Ok(())),
            (now - 5000, 5000, Ok(())),
            (now - 5001, 5000, Err(-1021)),
            (now + 999, 5000, Ok(())),
            (now + 1000, 5000, Err(-1021)),
        ];
        for (ts, window, expected) in cases {
            let result = check_window(now, ts, Decimal::from(window)).map_err(|e| e.code);
            assert_eq!(result, expected, "timestamp {ts}");
        }
    }

    #[test]
    fn recv_window_and_timestamp_parsing() {
        assert_eq!(parse_recv_window(None).unwrap(), Decimal::from(5000));
        assert_eq!(
            parse_recv_window(Some("6000.346")).unwrap().to_string(),
            "6000.346"
        );
        assert_eq!(parse_recv_window(Some("60001")).unwrap_err().code, -1102);
        assert_eq!(parse_recv_window(Some("1.2345")).unwrap_err().code, -1102);
        assert_eq!(parse_recv_window(Some("5.")).unwrap_err().code, -1102);
        assert_eq!(parse_timestamp(Some("12a")).unwrap_err().code, -1102);
        assert_eq!(
            parse_timestamp(None).unwrap_err().msg,
            "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed."
        );
    }

    #[test]
    fn key_lookup_codes() {
        let mut keys = Keys::default();
        keys.insert("good-key", "s", AccountId(3));
        assert_eq!(keys.lookup(Some("good-key")).unwrap().account, AccountId(3));
        assert_eq!(keys.lookup(None).unwrap_err().code, -2014);
        assert_eq!(keys.lookup(Some("bad key")).unwrap_err().code, -2014);
        assert_eq!(keys.lookup(Some("other")).unwrap_err().code, -2015);
    }

    #[test]
    fn accepted_signatures_are_logged_and_rejected_ones_not() {
        let mut keys = Keys::default();
        keys.insert("k", "secret", AccountId(1));
        let credential = keys.lookup(Some("k")).unwrap();
        let payload = b"symbol=BTCUSDT&timestamp=1000";
        let good = sign("secret", payload);
        let bad = sign("other", payload);
        let params = |signature| SignedParams {
            timestamp: Some("1000"),
            signature: Some(signature),
            recv_window: None,
        };
        assert!(check_signed(credential, &params(&bad), payload, 1000).is_err());
        assert!(check_signed(credential, &params(&good), payload, 1000).is_ok());
        // A signature that was right but outside the window was still sent by the client.
        assert!(check_signed(credential, &params(&good), payload, 100_000).is_err());
        assert_eq!(keys.signatures().snapshot(), [good.clone(), good]);
    }
}
