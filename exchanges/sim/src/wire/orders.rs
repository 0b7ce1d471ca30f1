//! REST payloads about orders, trades and the account: new-order responses (ACK, RESULT,
//! FULL), the order object, the cancel response, `myTrades` entries and `GET account`.
//! Field names and order follow the venue documentation (`rest-api.md`).

use rust_decimal::Decimal;
use serde::Serialize;

use super::{
    amount, expiry_reason, order_type, price, qty, quote, side, status, stp_mode, time_in_force,
};
use crate::engine::{
    AccountTrade, AssetId, Balance, Canceled, Catalog, Fees, Order, OrderType, Placed, SymbolDef,
};

/// `newOrderRespType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RespType {
    Ack,
    Result,
    Full,
}

/// `{"symbol":"BTCUSDT","orderId":28,"orderListId":-1,"clientOrderId":"6gCrw2kRUAF9CvJDGP16IP","transactTime":1507725176595}`
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BinanceOrderAck<'a> {
    symbol: &'a str,
    order_id: u64,
    order_list_id: i64,
    client_order_id: &'a str,
    transact_time: i64,
}

/// RESULT and FULL responses (FULL adds `fills`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BinanceOrderResult<'a> {
    symbol: &'a str,
    order_id: u64,
    order_list_id: i64,
    client_order_id: &'a str,
    transact_time: i64,
    price: String,
    orig_qty: String,
    executed_qty: String,
    orig_quote_order_qty: String,
    cummulative_quote_qty: String,
    status: &'static str,
    time_in_force: &'static str,
    #[serde(rename = "type")]
    order_type: &'static str,
    side: &'static str,
    working_time: i64,
    self_trade_prevention_mode: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    prevented_match_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prevented_quantity: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expiry_reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fills: Option<Vec<BinanceFill<'a>>>,
}

/// `{"price":"4000.00000000","qty":"1.00000000","commission":"4.00000000","commissionAsset":"USDT","tradeId":56}`
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BinanceFill<'a> {
    price: String,
    qty: String,
    commission: String,
    commission_asset: &'a str,
    trade_id: u64,
}

#[derive(Serialize)]
#[serde(untagged)]
pub(crate) enum BinanceNewOrder<'a> {
    Ack(BinanceOrderAck<'a>),
    Result(Box<BinanceOrderResult<'a>>),
}

/// The response to `POST /api/v3/order` in the requested shape.
pub(crate) fn new_order<'a>(
    catalog: &'a Catalog,
    def: &'a SymbolDef,
    placed: &'a Placed,
    resp: RespType,
) -> BinanceNewOrder<'a> {
    let o = &placed.order;
    if resp == RespType::Ack {
        return BinanceNewOrder::Ack(BinanceOrderAck {
            symbol: &def.name,
            order_id: o.id,
            order_list_id: -1,
            client_order_id: &o.client_order_id,
            transact_time: o.time,
        });
    }
    let fills = (resp == RespType::Full).then(|| {
        let fill = |f: &crate::engine::Fill| BinanceFill {
            price: price(def, f.price),
            qty: qty(def, f.qty),
            commission: amount(f.commission),
            commission_asset: catalog.asset_name(f.commission_asset),
            trade_id: f.trade_id,
        };
        placed.fills.iter().map(fill).collect()
    });
    BinanceNewOrder::Result(Box::new(BinanceOrderResult {
        symbol: &def.name,
        order_id: o.id,
        order_list_id: -1,
        client_order_id: &o.client_order_id,
        transact_time: o.time,
        price: price(def, o.price),
        orig_qty: qty(def, o.orig_qty),
        executed_qty: qty(def, o.executed_qty),
        orig_quote_order_qty: quote(def, o.orig_quote_qty),
        cummulative_quote_qty: quote(def, o.cumm_quote_qty),
        status: status(o.status),
        time_in_force: time_in_force(o.time_in_force),
        order_type: order_type(o.order_type),
        side: side(o.side),
        working_time: o.time,
        self_trade_prevention_mode: stp_mode(o.stp),
        prevented_match_id: o.prevented_match_id,
        prevented_quantity: o.prevented_match_id.map(|_| qty(def, o.prevented_qty)),
        expiry_reason: expiry_reason(o),
        fills,
    }))
}

/// The order object of `GET /api/v3/order` and `openOrders`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BinanceOrder<'a> {
    symbol: &'a str,
    order_id: u64,
    order_list_id: i64,
    client_order_id: &'a str,
    price: String,
    orig_qty: String,
    executed_qty: String,
    cummulative_quote_qty: String,
    status: &'static str,
    time_in_force: &'static str,
    #[serde(rename = "type")]
    order_type: &'static str,
    side: &'static str,
    stop_price: String,
    iceberg_qty: String,
    time: i64,
    update_time: i64,
    is_working: bool,
    working_time: i64,
    orig_quote_order_qty: String,
    self_trade_prevention_mode: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    prevented_match_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prevented_quantity: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expiry_reason: Option<&'static str>,
}

pub(crate) fn order<'a>(def: &'a SymbolDef, o: &'a Order) -> BinanceOrder<'a> {
    BinanceOrder {
        symbol: &def.name,
        order_id: o.id,
        order_list_id: -1,
        client_order_id: &o.client_order_id,
        price: price(def, o.price),
        orig_qty: qty(def, o.orig_qty),
        executed_qty: qty(def, o.executed_qty),
        cummulative_quote_qty: quote(def, o.cumm_quote_qty),
        status: status(o.status),
        time_in_force: time_in_force(o.time_in_force),
        order_type: order_type(o.order_type),
        side: side(o.side),
        stop_price: price(def, Decimal::ZERO),
        iceberg_qty: qty(def, Decimal::ZERO),
        time: o.time,
        update_time: o.update_time,
        is_working: o.order_type != OrderType::Market || o.status.is_open(),
        working_time: o.time,
        orig_quote_order_qty: quote(def, o.orig_quote_qty),
        self_trade_prevention_mode: stp_mode(o.stp),
        prevented_match_id: o.prevented_match_id,
        prevented_quantity: o.prevented_match_id.map(|_| qty(def, o.prevented_qty)),
        expiry_reason: expiry_reason(o),
    }
}

/// The cancel response: `origClientOrderId` is the order's id, `clientOrderId` the cancel's.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BinanceCancel<'a> {
    symbol: &'a str,
    orig_client_order_id: &'a str,
    order_id: u64,
    order_list_id: i64,
    client_order_id: &'a str,
    transact_time: i64,
    price: String,
    orig_qty: String,
    executed_qty: String,
    orig_quote_order_qty: String,
    cummulative_quote_qty: String,
    status: &'static str,
    time_in_force: &'static str,
    #[serde(rename = "type")]
    order_type: &'static str,
    side: &'static str,
    self_trade_prevention_mode: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    prevented_match_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prevented_quantity: Option<String>,
}

pub(crate) fn cancel<'a>(def: &'a SymbolDef, c: &'a Canceled) -> BinanceCancel<'a> {
    let o = &c.order;
    BinanceCancel {
        symbol: &def.name,
        orig_client_order_id: &o.client_order_id,
        order_id: o.id,
        order_list_id: -1,
        client_order_id: &c.cancel_client_id,
        transact_time: o.update_time,
        price: price(def, o.price),
        orig_qty: qty(def, o.orig_qty),
        executed_qty: qty(def, o.executed_qty),
        orig_quote_order_qty: quote(def, o.orig_quote_qty),
        cummulative_quote_qty: quote(def, o.cumm_quote_qty),
        status: status(o.status),
        time_in_force: time_in_force(o.time_in_force),
        order_type: order_type(o.order_type),
        side: side(o.side),
        self_trade_prevention_mode: stp_mode(o.stp),
        prevented_match_id: o.prevented_match_id,
        prevented_quantity: o.prevented_match_id.map(|_| qty(def, o.prevented_qty)),
    }
}

/// One `myTrades` entry.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BinanceAccountTrade<'a> {
    symbol: &'a str,
    id: u64,
    order_id: u64,
    order_list_id: i64,
    price: String,
    qty: String,
    quote_qty: String,
    commission: String,
    commission_asset: &'a str,
    time: i64,
    is_buyer: bool,
    is_maker: bool,
    is_best_match: bool,
}

pub(crate) fn account_trade<'a>(
    catalog: &'a Catalog,
    def: &'a SymbolDef,
    t: &AccountTrade,
) -> BinanceAccountTrade<'a> {
    BinanceAccountTrade {
        symbol: &def.name,
        id: t.id,
        order_id: t.order_id,
        order_list_id: -1,
        price: price(def, t.price),
        qty: qty(def, t.qty),
        quote_qty: quote(def, t.quote_qty),
        commission: amount(t.commission),
        commission_asset: catalog.asset_name(t.commission_asset),
        time: t.time,
        is_buyer: t.is_buyer,
        is_maker: t.is_maker,
        is_best_match: true,
    }
}

/// `GET /api/v3/account`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BinanceAccount<'a> {
    maker_commission: i64,
    taker_commission: i64,
    buyer_commission: i64,
    seller_commission: i64,
    commission_rates: BinanceCommissionRates,
    can_trade: bool,
    can_withdraw: bool,
    can_deposit: bool,
    brokered: bool,
    require_self_trade_prevention: bool,
    prevent_sor: bool,
    update_time: i64,
    account_type: &'static str,
    balances: Vec<BinanceBalance<'a>>,
    permissions: [&'static str; 1],
    uid: u64,
}

#[derive(Serialize)]
pub(crate) struct BinanceCommissionRates {
    maker: String,
    taker: String,
    buyer: String,
    seller: String,
}

#[derive(Serialize)]
pub(crate) struct BinanceBalance<'a> {
    asset: &'a str,
    free: String,
    locked: String,
}

pub(crate) fn account<'a>(
    catalog: &'a Catalog,
    fees: Fees,
    balances: &[(AssetId, Balance)],
    update_time: i64,
    omit_zero: bool,
    uid: u64,
) -> BinanceAccount<'a> {
    // The integer commissions are in hundredths of a percent: 0.001 (0.1 %) -> 10.
    let bips = |rate: Decimal| {
        (rate * Decimal::from(10_000))
            .trunc()
            .try_into()
            .unwrap_or(0)
    };
    let balances = balances
        .iter()
        .filter(|(_, b)| !(omit_zero && b.free.is_zero() && b.locked.is_zero()))
        .map(|(asset, b)| BinanceBalance {
            asset: catalog.asset_name(*asset),
            free: amount(b.free),
            locked: amount(b.locked),
        })
        .collect();
    BinanceAccount {
        maker_commission: bips(fees.maker),
        taker_commission: bips(fees.taker),
        buyer_commission: 0,
        seller_commission: 0,
        commission_rates: BinanceCommissionRates {
            maker: amount(fees.maker),
            taker: amount(fees.taker),
            buyer: amount(Decimal::ZERO),
            seller: amount(Decimal::ZERO),
        },
        can_trade: true,
        can_withdraw: true,
        can_deposit: true,
        brokered: false,
        require_self_trade_prevention: false,
        prevent_sor: false,
        update_time,
        account_type: "SPOT",
        balances,
        permissions: ["SPOT"],
        uid,
    }
}
