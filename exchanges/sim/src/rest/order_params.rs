//! Order parameters in the venue's terms, shared by REST and the WebSocket API: `-1102`
//! missing, `-1100` malformed, `-1106` not required, `-1111` precision, `-1118` empty client
//! id, `-1013` unknown self-trade prevention mode; the engine checks filters and balances.

use super::Params;
use crate::engine::{AccountId, Amount, Catalog, NewOrder, OrderKey, OrderKind, OrderType};
use crate::errors::ApiError;
use crate::wire::orders::RespType;
use crate::wire::{
    WireOrderType, parse_order_type, parse_side, parse_stp_mode, parse_time_in_force,
};

const CLIENT_ID_RANGE: &str = "^[a-zA-Z0-9-_]{1,36}$";
/// Venue parameters for order kinds the simulator does not offer yet.
const UNSUPPORTED_PARAMS: [&str; 6] = [
    "stopPrice",
    "trailingDelta",
    "icebergQty",
    "pegPriceType",
    "pegOffsetValue",
    "pegOffsetType",
];
/// Venue parameters accepted and ignored.
const IGNORED_PARAMS: [&str; 2] = ["strategyId", "strategyType"];

/// Reads a new order in the venue's parameter terms.
pub(crate) fn parse_new_order(
    p: &Params,
    catalog: &Catalog,
    account: AccountId,
) -> Result<(NewOrder, RespType), ApiError> {
    let symbol = p.symbol(catalog)?;
    let side = parse_side(p.required("side")?).ok_or_else(ApiError::invalid_side)?;
    let order_type = match parse_order_type(p.required("type")?) {
        Some(WireOrderType::Supported(order_type)) => order_type,
        Some(WireOrderType::Unsupported) => return Err(ApiError::unsupported_combination()),
        None => return Err(ApiError::invalid_type()),
    };
    let kind = parse_kind(p, order_type)?;
    let amount = parse_amount(p, order_type)?;
    for name in UNSUPPORTED_PARAMS {
        reject_present(p.get(name).filter(|v| !v.is_empty()), name)?;
    }
    let stp = match p.get("selfTradePreventionMode").filter(|v| !v.is_empty()) {
        None => None,
        Some(text) => Some(parse_stp_mode(text).ok_or_else(ApiError::stp_mode)?),
    };
    for name in IGNORED_PARAMS {
        p.get(name);
    }
    let resp_type = match p.get("newOrderRespType").filter(|v| !v.is_empty()) {
        None if order_type == OrderType::LimitMaker => RespType::Ack,
        None => RespType::Full,
        Some("ACK") => RespType::Ack,
        Some("RESULT") => RespType::Result,
        Some("FULL") => RespType::Full,
        Some(_) => return Err(ApiError::illegal("newOrderRespType", "^(ACK|RESULT|FULL)$")),
    };
    let client_order_id = client_id(p, "newClientOrderId")?;
    let order = NewOrder {
        symbol,
        account,
        side,
        kind,
        amount,
        client_order_id,
        stp,
    };
    Ok((order, resp_type))
}

/// Price and time in force, mandatory or forbidden by order type.
fn parse_kind(p: &Params, order_type: OrderType) -> Result<OrderKind, ApiError> {
    let price = p.decimal("price")?;
    let tif = p.get("timeInForce").filter(|t| !t.is_empty());
    let need_price = || price.ok_or_else(|| ApiError::mandatory("price"));
    match order_type {
        OrderType::Limit => {
            let tif = tif.ok_or_else(|| ApiError::mandatory("timeInForce"))?;
            let tif = parse_time_in_force(tif).ok_or_else(ApiError::invalid_tif)?;
            Ok(OrderKind::Limit {
                price: need_price()?,
                tif,
            })
        }
        OrderType::LimitMaker => {
            reject_present(tif, "timeInForce")?;
            Ok(OrderKind::LimitMaker {
                price: need_price()?,
            })
        }
        OrderType::Market => {
            reject_present(tif, "timeInForce")?;
            reject_present(price, "price")?;
            Ok(OrderKind::Market)
        }
    }
}

/// `quantity`, or for MARKET `quoteOrderQty` instead; never both.
fn parse_amount(p: &Params, order_type: OrderType) -> Result<Amount, ApiError> {
    match (
        order_type,
        p.decimal("quantity")?,
        p.decimal("quoteOrderQty")?,
    ) {
        (_, Some(_), Some(_)) => Err(ApiError::not_required("quoteOrderQty")),
        (_, Some(qty), None) => Ok(Amount::Base(qty)),
        (OrderType::Market, None, Some(quote)) => Ok(Amount::Quote(quote)),
        (OrderType::Market, None, None) => Err(ApiError::either("quantity", "quoteOrderQty")),
        (_, None, Some(_)) => Err(ApiError::not_required("quoteOrderQty")),
        (_, None, None) => Err(ApiError::mandatory("quantity")),
    }
}

pub(crate) fn reject_present<T>(value: Option<T>, name: &str) -> Result<(), ApiError> {
    value.map_or(Ok(()), |_| Err(ApiError::not_required(name)))
}

/// A client order id parameter: absent → `None`, empty → `-1118`, malformed → `-1100`.
pub(crate) fn client_id(p: &Params, name: &str) -> Result<Option<String>, ApiError> {
    match p.get(name) {
        None => Ok(None),
        Some("") => Err(ApiError::empty_client_id()),
        Some(id) if is_client_id(id) => Ok(Some(id.to_owned())),
        Some(_) => Err(ApiError::illegal(name, CLIENT_ID_RANGE)),
    }
}

fn is_client_id(id: &str) -> bool {
    (1..=36).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `orderId` and/or `origClientOrderId`; one of them is mandatory.
pub(crate) fn order_key(p: &Params) -> Result<OrderKey, ApiError> {
    let order_id = p.integer("orderId")?;
    let client_order_id = p
        .get("origClientOrderId")
        .filter(|v| !v.is_empty())
        .map(str::to_owned);
    if order_id.is_none() && client_order_id.is_none() {
        return Err(ApiError::either("origClientOrderId", "orderId"));
    }
    Ok(OrderKey {
        order_id,
        client_order_id,
    })
}
