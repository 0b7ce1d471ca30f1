//! Binance Spot hosts and the paths and stream names the adapter builds on them.

/// Production REST base.
pub const PRODUCTION_REST: &str = "https://api.binance.com";
/// Production market-stream base.
pub const PRODUCTION_STREAM: &str = "wss://stream.binance.com:9443";
/// Production WebSocket API.
pub const PRODUCTION_WS_API: &str = "wss://ws-api.binance.com:443/ws-api/v3";
/// Spot Testnet REST base.
pub const TESTNET_REST: &str = "https://testnet.binance.vision";
/// Spot Testnet market-stream base.
pub const TESTNET_STREAM: &str = "wss://stream.testnet.binance.vision:9443";
/// Spot Testnet WebSocket API.
pub const TESTNET_WS_API: &str = "wss://ws-api.testnet.binance.vision/ws-api/v3";

pub(crate) const TIME: &str = "/api/v3/time";
pub(crate) const EXCHANGE_INFO: &str = "/api/v3/exchangeInfo";
pub(crate) const DEPTH: &str = "/api/v3/depth";
pub(crate) const HISTORICAL_TRADES: &str = "/api/v3/historicalTrades";
pub(crate) const ORDER: &str = "/api/v3/order";
pub(crate) const AMEND_KEEP_PRIORITY: &str = "/api/v3/order/amend/keepPriority";
pub(crate) const OPEN_ORDERS: &str = "/api/v3/openOrders";
pub(crate) const ALL_ORDERS: &str = "/api/v3/allOrders";
pub(crate) const ACCOUNT: &str = "/api/v3/account";
pub(crate) const MY_TRADES: &str = "/api/v3/myTrades";

/// The diff-depth stream of a symbol (lowercase, 100 ms).
pub(crate) fn depth_stream(symbol: &str) -> String {
    format!("{}@depth@100ms", symbol.to_ascii_lowercase())
}

/// The raw trade stream of a symbol.
pub(crate) fn trade_stream(symbol: &str) -> String {
    format!("{}@trade", symbol.to_ascii_lowercase())
}

/// The combined-stream URL carrying depth and trades for every symbol.
pub(crate) fn combined_stream_url(base: &str, symbols: &[String]) -> String {
    let streams: Vec<String> = symbols
        .iter()
        .flat_map(|s| [depth_stream(s), trade_stream(s)])
        .collect();
    format!("{base}/stream?streams={}", streams.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combined_url_lists_depth_and_trades_lowercase() {
        let url = combined_stream_url("ws://127.0.0.1:9", &["BTCUSDT".into(), "ETHUSDT".into()]);
        assert_eq!(
            url,
            "ws://127.0.0.1:9/stream?streams=btcusdt@depth@100ms/btcusdt@trade/ethusdt@depth@100ms/ethusdt@trade"
        );
    }
}
