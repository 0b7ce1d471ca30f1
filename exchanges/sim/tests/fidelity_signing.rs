//! Signatures over the percent-encoded payload (REST query string and body), checked with the
//! venue documentation's non-ASCII test vector: the signature is accepted, so the request
//! fails only on its 2017 timestamp (`-1021`), while the same bytes signed before encoding
//! are refused (`-1022`).

mod common;

use common::*;
use reqwest::Method;

const API_KEY: &str = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A";
const SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";
const ENCODED: &str = "symbol=%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559";
const SIGNATURE: &str = "e1353ec6b14d888f1164ae9af8228a3dbd508bc82eb867db8ab6046442f33ef3";
const OUTSIDE: &str = "Timestamp for this request is outside of the recvWindow.";
const BAD_SIGNATURE: &str = "Signature for this request is not valid.";

#[tokio::test]
async fn percent_encoded_payloads_verify_like_the_venue() {
    let mut config = config();
    config.api_key = API_KEY.to_owned();
    config.api_secret = SECRET.to_owned();
    let (sim, client) = start(config).await;
    assert_eq!(hmac_hex(SECRET, ENCODED), SIGNATURE);
    let signed = format!("{ENCODED}&signature={SIGNATURE}");
    let in_query = client
        .raw(Method::POST, "/api/v3/order", &signed, "", Some(API_KEY))
        .await;
    in_query.expect_error(400, -1021, OUTSIDE);
    let in_body = client
        .raw(Method::POST, "/api/v3/order", "", &signed, Some(API_KEY))
        .await;
    in_body.expect_error(400, -1021, OUTSIDE);
    // Split between query and body, the payload is their concatenation.
    let (query, body) = signed.split_at(ENCODED.find("&side").unwrap());
    let split = client
        .raw(
            Method::POST,
            "/api/v3/order",
            query,
            &body[1..],
            Some(API_KEY),
        )
        .await;
    split.expect_error(400, -1022, BAD_SIGNATURE);
    let rest = &ENCODED[query.len() + 1..];
    let split_signed = format!(
        "{rest}&signature={}",
        hmac_hex(SECRET, &format!("{query}{rest}"))
    );
    let split = client
        .raw(
            Method::POST,
            "/api/v3/order",
            query,
            &split_signed,
            Some(API_KEY),
        )
        .await;
    split.expect_error(400, -1021, OUTSIDE);
    // Signed over the raw UTF-8 text but sent encoded: refused.
    let unencoded = ENCODED.replace(
        "%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96",
        "１２３４５６",
    );
    let wrong = format!("{ENCODED}&signature={}", hmac_hex(SECRET, &unencoded));
    let refused = client
        .raw(Method::POST, "/api/v3/order", &wrong, "", Some(API_KEY))
        .await;
    refused.expect_error(400, -1022, BAD_SIGNATURE);
    sim.shutdown().await;
}
