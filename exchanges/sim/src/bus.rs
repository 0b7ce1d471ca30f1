//! Fan-out of what the venue publishes: market stream messages (depth, trades, klines, tickers) and user
//! events, each through one bounded broadcast channel. Payloads are serialized once by the
//! venue; every connection filters and frames them. A subscriber that lags behind the channel
//! bound is disconnected rather than silently skipping messages (it resyncs on reconnect).

use std::sync::Arc;

use tokio::sync::broadcast;

use crate::engine::{AccountId, SymbolId};
use crate::tape::Interval;

/// Which market stream a message belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum StreamKind {
    /// `<symbol>@depth@100ms`
    DepthFast,
    /// `<symbol>@depth` (1000 ms)
    DepthSlow,
    /// `<symbol>@trade`
    Trade,
    /// `<symbol>@aggTrade`
    AggTrade,
    /// `<symbol>@bookTicker`
    BookTicker,
    /// `<symbol>@depth<levels>` (1000 ms) or `<symbol>@depth<levels>@100ms` (`fast`).
    Partial { levels: u8, fast: bool },
    /// `<symbol>@kline_<interval>`
    Kline(Interval),
    /// `<symbol>@ticker` (rolling 24 h, FULL)
    Ticker,
    /// `<symbol>@miniTicker`
    MiniTicker,
    /// `<symbol>@avgPrice`
    AvgPrice,
}

/// One market stream payload (the raw `data`, without the combined-stream wrapper).
#[derive(Debug)]
pub(crate) struct StreamMsg {
    pub symbol: SymbolId,
    pub kind: StreamKind,
    pub json: String,
}

/// One user data event payload (without the `{"subscriptionId","event"}` wrapper).
#[derive(Debug)]
pub(crate) struct UserMsg {
    pub account: AccountId,
    pub json: String,
}

#[derive(Clone, Debug)]
pub(crate) struct Bus {
    pub market_tx: broadcast::Sender<Arc<StreamMsg>>,
    pub user_tx: broadcast::Sender<Arc<UserMsg>>,
}

impl Bus {
    pub fn new(capacity: usize) -> Self {
        let (market_tx, _) = broadcast::channel(capacity.max(1));
        let (user_tx, _) = broadcast::channel(capacity.max(1));
        Self { market_tx, user_tx }
    }

    pub fn publish_market(&self, symbol: SymbolId, kind: StreamKind, json: String) {
        // An error only means nobody is subscribed right now.
        let _ = self
            .market_tx
            .send(Arc::new(StreamMsg { symbol, kind, json }));
    }

    pub fn publish_user(&self, account: AccountId, json: String) {
        let _ = self.user_tx.send(Arc::new(UserMsg { account, json }));
    }
}
