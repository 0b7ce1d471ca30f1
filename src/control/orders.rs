//! Order endpoints: submit (with `Idempotency-Key`), get, list with filters, cancel, amend.
//!
//! Request bodies are parsed here with errors that name the field; everything the daemon can
//! check locally is refused with a 4xx before the OMS writes or sends anything.

use std::str::FromStr;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use exchange_core::{OrderStatus, OrderType, Side, TimeInForce};
use rust_decimal::Decimal;
use serde::Deserialize;

use super::AppState;
use super::error::ApiError;
use super::views::OrderView;
use crate::oms::{OrderDetail, SubmitRequest, Submitted};
use crate::store::OrderFilter;

/// `POST /v1/orders` body. Decimals are JSON strings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OrderBody {
    venue: String,
    symbol: String,
    side: Side,
    #[serde(rename = "type")]
    order_type: OrderType,
    quantity: String,
    #[serde(default)]
    price: Option<String>,
    #[serde(default)]
    time_in_force: Option<TimeInForce>,
    #[serde(default)]
    client_order_id: Option<String>,
}

fn decimal(field: &str, value: &str) -> Result<Decimal, ApiError> {
    Decimal::from_str(value.trim()).map_err(|_| {
        ApiError::bad_request(
            "invalid_decimal",
            format!("{field} '{value}' is not a decimal number"),
        )
    })
}

fn idempotency_key(headers: &HeaderMap, body: &OrderBody) -> Result<String, ApiError> {
    match headers.get("idempotency-key") {
        Some(value) => {
            let key = value
                .to_str()
                .ok()
                .filter(|k| (1..=128).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()))
                .ok_or_else(|| {
                    ApiError::bad_request("invalid_idempotency_key", "Idempotency-Key must be 1 to 128 visible ASCII characters")
                })?;
            Ok(key.to_string())
        }
        None => body.client_order_id.as_ref().map(|id| format!("client_order_id:{id}")).ok_or_else(|| {
            ApiError::bad_request(
                "idempotency_key_required",
                "send an Idempotency-Key header (or a client_order_id) so that a retried request never creates a second order",
            )
        }),
    }
}

fn parse_submit(headers: &HeaderMap, body: &[u8]) -> Result<SubmitRequest, ApiError> {
    let body: OrderBody = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request("invalid_request", format!("invalid order request: {e}"))
    })?;
    let key = idempotency_key(headers, &body)?;
    let quantity = decimal("quantity", &body.quantity)?;
    let price = body
        .price
        .as_deref()
        .map(|p| decimal("price", p))
        .transpose()?;
    if body.order_type == OrderType::Market
        && body.time_in_force.is_some_and(|t| t != TimeInForce::Ioc)
    {
        return Err(ApiError::bad_request(
            "invalid_time_in_force",
            "market orders take no time_in_force",
        ));
    }
    Ok(SubmitRequest {
        venue: body.venue,
        symbol: body.symbol.to_ascii_uppercase(),
        side: body.side,
        order_type: body.order_type,
        time_in_force: body.time_in_force.unwrap_or_default(),
        quantity,
        price,
        client_order_id: body.client_order_id,
        idempotency_key: key,
    })
}

/// `POST /v1/orders`: 201 with the order (after the venue's first answer, or after
/// `submit_wait`), or 200 with the existing order when the idempotency key is replayed.
pub async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<OrderView>), ApiError> {
    let req = parse_submit(&headers, &body)?;
    match state.oms.submit(req).await? {
        Submitted::Created { order_id, answered } => {
            let detail = match tokio::time::timeout(state.submit_wait, answered).await {
                Ok(Ok(detail)) => Some(detail),
                _ => None,
            };
            Ok((
                StatusCode::CREATED,
                Json(view(&state, order_id, detail).await?),
            ))
        }
        Submitted::Existing(id) => Ok((StatusCode::OK, Json(view(&state, id, None).await?))),
    }
}

/// The order as the OMS knows it now (`detail` when the caller already has it).
async fn view(
    state: &AppState,
    id: i64,
    detail: Option<OrderDetail>,
) -> Result<OrderView, ApiError> {
    let detail = match detail {
        Some(detail) => detail,
        None => state
            .oms
            .get(id)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("order {id} not found")))?,
    };
    Ok(OrderView::new(detail.order, detail.fills))
}

fn order_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse().map_err(|_| {
        ApiError::bad_request("invalid_order_id", format!("'{raw}' is not an order id"))
    })
}

/// `GET /v1/orders/{id}`.
pub async fn get(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<OrderView>, ApiError> {
    Ok(Json(view(&state, order_id(&raw)?, None).await?))
}

/// `DELETE /v1/orders/{id}`: requests the cancel and answers with the order once the venue
/// confirmed (or after `submit_wait`, still `pending_cancel`).
pub async fn cancel(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<OrderView>, ApiError> {
    let id = order_id(&raw)?;
    let answered = state.oms.cancel(id).await?;
    let detail = match tokio::time::timeout(state.submit_wait, answered).await {
        Ok(Ok(detail)) => Some(detail),
        _ => None,
    };
    Ok(Json(view(&state, id, detail).await?))
}

/// `PATCH /v1/orders/{id}` body: the new, lower quantity (a JSON string).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AmendBody {
    quantity: String,
}

/// `PATCH /v1/orders/{id}` with `{"quantity": "..."}`: lowers an open order's quantity in place,
/// keeping its queue priority. 200 with the order once the venue amended it; 202 with the order
/// as it is when the venue has not answered within `submit_wait` (the amend is still under
/// way); 409 when the venue refused it or the order cannot be amended.
pub async fn amend(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<OrderView>), ApiError> {
    let id = order_id(&raw)?;
    let body: AmendBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request("invalid_request", format!("invalid amend request: {e}"))
    })?;
    let quantity = decimal("quantity", &body.quantity)?;
    if quantity <= Decimal::ZERO {
        return Err(ApiError::bad_request(
            "invalid_quantity",
            "quantity must be positive (cancel the order to remove it)",
        ));
    }
    let answered = state.oms.amend(id, quantity).await?;
    match tokio::time::timeout(state.submit_wait, answered).await {
        Ok(Ok(Ok(detail))) => Ok((StatusCode::OK, Json(view(&state, id, Some(detail)).await?))),
        Ok(Ok(Err(e))) => Err(e.into()),
        _ => Ok((StatusCode::ACCEPTED, Json(view(&state, id, None).await?))),
    }
}

/// Query parameters of `GET /v1/orders`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    venue: Option<String>,
    symbol: Option<String>,
    status: Option<String>,
    limit: Option<i64>,
}

/// `GET /v1/orders?venue=&symbol=&status=&limit=`, newest first.
pub async fn list(
    State(state): State<AppState>,
    params: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<OrderView>>, ApiError> {
    let Query(params) =
        params.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let status = params
        .status
        .as_deref()
        .map(OrderStatus::from_str)
        .transpose()
        .map_err(|e| ApiError::bad_request("invalid_status", e))?;
    let limit = params.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_limit",
            "limit must be between 1 and 1000",
        ));
    }
    let filter = OrderFilter {
        venue: params.venue,
        symbol: params.symbol.map(|s| s.to_ascii_uppercase()),
        status,
        limit,
    };
    let store = state.oms.store();
    let orders = store.list_orders(&filter).await?;
    // Live orders are answered from memory, where they may be newer than their rows.
    let live = state
        .oms
        .live(orders.iter().map(|o| o.id).collect())
        .await?;
    let mut views = Vec::new();
    for (order, live) in orders.into_iter().zip(live) {
        let detail = match live {
            Some(detail) => detail,
            None => {
                let fills = store.fills_for_order(order.id).await?;
                OrderDetail { order, fills }
            }
        };
        if filter.status.is_some_and(|s| s != detail.order.status) {
            continue;
        }
        views.push(OrderView::new(detail.order, detail.fills));
    }
    Ok(Json(views))
}
