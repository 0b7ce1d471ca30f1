//! Engine vocabulary: ids, enums, the order record, fills and the events the engine emits.
//!
//! These types are venue-neutral; the Binance spelling of every enum lives in `wire/`.

use rust_decimal::Decimal;

/// Order id, unique per symbol (as on Binance).
pub type OrderId = u64;
/// Trade id, unique per symbol.
pub type TradeId = u64;

/// An account (the demo user, the maker agent, the taker agent, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(pub u32);

/// Index of a symbol in the [`Catalog`](super::Catalog).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SymbolId(pub usize);

/// Index of an asset in the [`Catalog`](super::Catalog).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AssetId(pub usize);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Side {
    Buy,
    Sell,
}

impl Side {
    /// The side a taker of this side trades against.
    pub fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderType {
    Limit,
    /// Post-only limit: rejected if it would take liquidity.
    LimitMaker,
    Market,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeInForce {
    Gtc,
    Ioc,
    Fok,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderStatus {
    New,
    PartiallyFilled,
    Filled,
    Canceled,
    Expired,
    /// Expired by self-trade prevention.
    ExpiredInMatch,
}

impl OrderStatus {
    /// Whether the order can still trade (it rests on the book).
    pub fn is_open(self) -> bool {
        matches!(self, OrderStatus::New | OrderStatus::PartiallyFilled)
    }
}

/// Execution type of an execution report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExecType {
    New,
    Trade,
    Canceled,
    Expired,
    /// Self-trade prevention changed the order (`TRADE_PREVENTION`).
    TradePrevention,
    /// The order was amended in place (`REPLACED`).
    Replaced,
}

/// Self-trade prevention mode; the taker's mode decides what happens when it would match a
/// resting order of the same account.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StpMode {
    /// Trade with yourself.
    None,
    /// Expire the taker's remainder.
    ExpireTaker,
    /// Expire the resting order and keep matching (the venue's usual default).
    #[default]
    ExpireMaker,
    /// Expire both.
    ExpireBoth,
    /// Reduce both by the overlap; an order left with nothing expires.
    Decrement,
}

impl StpMode {
    /// Every mode, in the venue's documented order.
    pub const ALL: [StpMode; 5] = [
        StpMode::None,
        StpMode::ExpireTaker,
        StpMode::ExpireMaker,
        StpMode::ExpireBoth,
        StpMode::Decrement,
    ];
}

/// What the order is: price and time in force by type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderKind {
    Limit { price: Decimal, tif: TimeInForce },
    LimitMaker { price: Decimal },
    Market,
}

/// How much to trade: base quantity or (MARKET only) quote amount.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Amount {
    Base(Decimal),
    Quote(Decimal),
}

/// A new order as the engine receives it (already parsed and typed by the caller).
#[derive(Clone, Debug)]
pub struct NewOrder {
    pub symbol: SymbolId,
    pub account: AccountId,
    pub side: Side,
    pub kind: OrderKind,
    pub amount: Amount,
    /// `None` makes the engine generate a 22-character id.
    pub client_order_id: Option<String>,
    /// `None` takes the symbol's default mode.
    pub stp: Option<StpMode>,
}

/// Which order a cancel or query means: by id, by client id, or both (then they must agree).
#[derive(Clone, Debug, Default)]
pub struct OrderKey {
    pub order_id: Option<OrderId>,
    pub client_order_id: Option<String>,
}

/// The full state of one order.
#[derive(Clone, Debug, PartialEq)]
pub struct Order {
    pub id: OrderId,
    pub symbol: SymbolId,
    pub account: AccountId,
    pub client_order_id: String,
    pub side: Side,
    pub order_type: OrderType,
    pub time_in_force: TimeInForce,
    /// Limit price; zero for MARKET orders.
    pub price: Decimal,
    pub orig_qty: Decimal,
    /// Quote amount of a `quoteOrderQty` MARKET order; zero otherwise.
    pub orig_quote_qty: Decimal,
    pub executed_qty: Decimal,
    pub cumm_quote_qty: Decimal,
    pub status: OrderStatus,
    /// Creation time (ms).
    pub time: i64,
    pub update_time: i64,
    /// Funds still reserved for the unfilled part (quote for BUY, base for SELL).
    pub locked: Decimal,
    pub stp: StpMode,
    /// Quantity taken out of the order by self-trade prevention.
    pub prevented_qty: Decimal,
    /// The last self-trade prevention event this order took part in.
    pub prevented_match_id: Option<u64>,
}

impl Order {
    /// Quantity still to trade.
    pub fn remaining(&self) -> Decimal {
        self.orig_qty - self.executed_qty - self.prevented_qty
    }
}

/// One trade of a taker order, as returned in a FULL response.
#[derive(Clone, Debug, PartialEq)]
pub struct Fill {
    pub trade_id: TradeId,
    pub price: Decimal,
    pub qty: Decimal,
    pub commission: Decimal,
    pub commission_asset: AssetId,
}

/// One side of a trade as the account sees it (`myTrades`).
#[derive(Clone, Debug, PartialEq)]
pub struct AccountTrade {
    pub id: TradeId,
    pub order_id: OrderId,
    pub price: Decimal,
    pub qty: Decimal,
    pub quote_qty: Decimal,
    pub commission: Decimal,
    pub commission_asset: AssetId,
    pub time: i64,
    pub is_buyer: bool,
    pub is_maker: bool,
}

/// A public trade (the `@trade` stream).
#[derive(Clone, Debug, PartialEq)]
pub struct PublicTrade {
    pub symbol: SymbolId,
    pub id: TradeId,
    pub price: Decimal,
    pub qty: Decimal,
    pub time: i64,
    pub buyer_is_maker: bool,
    /// The taker order; consecutive trades of one taker at one price form an aggTrade.
    pub taker_order_id: OrderId,
}

/// Free and reserved amounts of one asset.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Balance {
    pub free: Decimal,
    pub locked: Decimal,
}

/// One state change of an order, for the account's user stream.
#[derive(Clone, Debug, PartialEq)]
pub struct ExecutionReport {
    /// The order after the change.
    pub order: Order,
    pub exec_type: ExecType,
    /// Set for `ExecType::Trade`.
    pub last: Option<LastFill>,
    /// Client id of the cancel request, set for `ExecType::Canceled`.
    pub cancel_client_id: Option<String>,
    /// Set for `ExecType::TradePrevention`.
    pub prevention: Option<Prevention>,
    pub time: i64,
}

/// One self-trade prevention event as an order saw it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Prevention {
    pub match_id: u64,
    /// Quantity prevented by this event.
    pub qty: Decimal,
    /// The other order of the prevented match.
    pub counter_order_id: OrderId,
}

/// The trade behind a TRADE execution report.
#[derive(Clone, Debug, PartialEq)]
pub struct LastFill {
    pub trade_id: TradeId,
    pub price: Decimal,
    pub qty: Decimal,
    pub commission: Decimal,
    pub commission_asset: AssetId,
    pub is_maker: bool,
}

/// Balances of an account after an operation changed them.
#[derive(Clone, Debug, PartialEq)]
pub struct BalanceUpdate {
    pub account: AccountId,
    pub time: i64,
    pub balances: Vec<(AssetId, Balance)>,
}

/// Everything observable that an engine operation produced, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum EngineEvent {
    Trade(PublicTrade),
    Execution(Box<ExecutionReport>),
    Balances(BalanceUpdate),
}

/// Why the engine refused a request; `errors.rs` maps these to venue codes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Reject {
    #[error("filter failure: {0}")]
    Filter(&'static str),
    #[error("insufficient balance")]
    InsufficientBalance,
    #[error("duplicate client order id among open orders")]
    DuplicateOrder,
    #[error("limit maker order would take liquidity")]
    WouldMatch,
    #[error("book has no liquidity for a quote-quantity market order")]
    NoLiquidity,
    #[error("order type and amount do not combine")]
    Unsupported,
    #[error("no such open order to cancel")]
    UnknownOrder,
    #[error("cancel restrictions not met")]
    CancelRestricted,
    #[error("no such order")]
    OrderNotFound,
    #[error("client order id does not match order id")]
    ClientIdMismatch,
    #[error("unknown symbol")]
    UnknownSymbol,
    #[error("amend would not reduce the order's quantity")]
    AmendIncrease,
    #[error("amend would reduce the order to its executed quantity or below")]
    AmendBelowExecuted,
}
