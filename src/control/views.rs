//! JSON views of orders and fills as the control API returns them (snake_case, decimals as
//! strings, times in epoch milliseconds).

use exchange_core::{OrderStatus, OrderType, Side, TimeInForce};
use rust_decimal::Decimal;
use serde::Serialize;

use crate::store::{FillRecord, OrderRecord};

/// An order with its fills.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct OrderView {
    pub id: i64,
    pub client_order_id: String,
    pub venue: String,
    pub symbol: String,
    pub side: Side,
    #[serde(rename = "type")]
    pub order_type: OrderType,
    pub time_in_force: TimeInForce,
    pub quantity: Decimal,
    pub price: Option<Decimal>,
    pub status: OrderStatus,
    pub filled_quantity: Decimal,
    pub cumulative_quote: Decimal,
    pub average_price: Option<Decimal>,
    pub venue_order_id: Option<String>,
    pub reject_reason: Option<String>,
    /// The status is omsd's inference (e.g. `rejected` with `not_accepted_by_venue`), not the
    /// venue's word; it is revised if the venue later shows the order.
    pub status_inferred: bool,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub fills: Vec<FillView>,
}

/// One fill of an order (the same shape as the fills the live events carry).
pub use crate::oms::EventFill as FillView;

impl OrderView {
    /// Builds the view; decimals are normalised (`0.00100000` is shown as `0.001`).
    pub fn new(order: OrderRecord, fills: Vec<FillRecord>) -> OrderView {
        let average_price = (!order.filled_quantity.is_zero()).then(|| {
            (order.cumulative_quote / order.filled_quantity)
                .round_dp(12)
                .normalize()
        });
        OrderView {
            id: order.id,
            client_order_id: order.client_order_id,
            venue: order.venue,
            symbol: order.symbol,
            side: order.side,
            order_type: order.order_type,
            time_in_force: order.time_in_force,
            quantity: order.quantity.normalize(),
            price: order.price.map(|p| p.normalize()),
            status: order.status,
            filled_quantity: order.filled_quantity.normalize(),
            cumulative_quote: order.cumulative_quote.normalize(),
            average_price,
            venue_order_id: order.venue_order_id,
            reject_reason: order.reject_reason,
            status_inferred: order.status_inferred,
            created_at_ms: order.created_at_ms,
            updated_at_ms: order.updated_at_ms,
            fills: fills.iter().map(FillView::from).collect(),
        }
    }
}
