//! The `WHERE` clauses the reads share: listing filters and limits, and which orders are open
//! or live.

use exchange_core::OrderStatus;
use sqlx::{Database, Encode, QueryBuilder, Type};

use super::OrderFilter;

/// Rows returned by [`super::Store::list_orders`] when the filter asks for none or fewer.
pub const DEFAULT_LIST_LIMIT: i64 = 100;
/// The most rows [`super::Store::list_orders`] returns at once.
pub const MAX_LIST_LIMIT: i64 = 1000;

/// The row limit for a listing: `limit <= 0` means the default; anything above the cap is capped.
pub(crate) fn clamp_limit(limit: i64) -> i64 {
    if limit <= 0 {
        DEFAULT_LIST_LIMIT
    } else {
        limit.min(MAX_LIST_LIMIT)
    }
}

/// Market-data rows a read returns when it asks for none.
pub const DEFAULT_MARKET_LIMIT: i64 = 500;
/// The most market-data rows one read returns (wider candles read this many minutes).
pub const MAX_MARKET_LIMIT: i64 = 100_000;

/// The row limit of a market-data read, defaulted and capped like [`clamp_limit`].
pub(crate) fn clamp_market_limit(limit: i64) -> i64 {
    if limit <= 0 {
        DEFAULT_MARKET_LIMIT
    } else {
        limit.min(MAX_MARKET_LIMIT)
    }
}

/// Statuses of orders that can still change (what reconciliation looks at).
pub(crate) fn open_statuses() -> impl Iterator<Item = OrderStatus> {
    OrderStatus::ALL
        .into_iter()
        .filter(|status| !status.is_terminal())
}

/// Appends the `WHERE` that picks the rows of one venue order (`orders` or `unmatched_fills`).
pub(crate) fn push_venue_order_filter<DB>(
    query: &mut QueryBuilder<DB>,
    venue: &str,
    venue_symbol: &str,
    venue_order_id: &str,
) where
    DB: Database,
    for<'q> String: Encode<'q, DB> + Type<DB>,
{
    query.push(" WHERE venue = ").push_bind(venue.to_owned());
    query
        .push(" AND venue_symbol = ")
        .push_bind(venue_symbol.to_owned());
    query
        .push(" AND venue_order_id = ")
        .push_bind(venue_order_id.to_owned());
}

/// Appends the `WHERE`, `ORDER BY` (newest first) and `LIMIT` of an order listing to a query
/// that selects from `orders`.
pub(crate) fn push_list_filter<DB>(query: &mut QueryBuilder<DB>, filter: &OrderFilter)
where
    DB: Database,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
{
    query.push(" WHERE TRUE");
    if let Some(venue) = &filter.venue {
        query.push(" AND venue = ").push_bind(venue.clone());
    }
    if let Some(symbol) = &filter.symbol {
        query.push(" AND symbol = ").push_bind(symbol.clone());
    }
    if let Some(status) = filter.status {
        query
            .push(" AND status = ")
            .push_bind(status.as_str().to_owned());
    }
    query.push(" ORDER BY created_at DESC, id DESC LIMIT ");
    query.push_bind(clamp_limit(filter.limit));
}

/// Appends the `WHERE` and `ORDER BY` (oldest first) that select a venue's non-terminal orders
/// to a query that selects from `orders`.
pub(crate) fn push_open_filter<DB>(query: &mut QueryBuilder<DB>, venue: String)
where
    DB: Database,
    for<'q> String: Encode<'q, DB> + Type<DB>,
{
    query
        .push(" WHERE venue = ")
        .push_bind(venue)
        .push(" AND status IN (");
    let mut statuses = query.separated(", ");
    for status in open_statuses() {
        statuses.push_bind(status.as_str().to_owned());
    }
    query.push(") ORDER BY created_at, id");
}

/// Appends the `WHERE` and `ORDER BY` (oldest first) that select the live working set: every
/// non-terminal order and every order whose status is inferred, all venues.
pub(crate) fn push_live_filter<DB>(query: &mut QueryBuilder<DB>)
where
    DB: Database,
    for<'q> String: Encode<'q, DB> + Type<DB>,
{
    query.push(" WHERE status IN (");
    let mut statuses = query.separated(", ");
    for status in open_statuses() {
        statuses.push_bind(status.as_str().to_owned());
    }
    // `= TRUE` reads the same on both backends (SQLite stores the flag as 0/1).
    query.push(") OR status_inferred = TRUE ORDER BY created_at, id");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_defaulted_and_capped() {
        let cases = [
            (i64::MIN, DEFAULT_LIST_LIMIT),
            (-1, DEFAULT_LIST_LIMIT),
            (0, DEFAULT_LIST_LIMIT),
            (1, 1),
            (250, 250),
            (MAX_LIST_LIMIT, MAX_LIST_LIMIT),
            (MAX_LIST_LIMIT + 1, MAX_LIST_LIMIT),
            (i64::MAX, MAX_LIST_LIMIT),
        ];
        for (limit, want) in cases {
            assert_eq!(clamp_limit(limit), want, "limit {limit}");
        }
    }

    #[test]
    fn open_statuses_are_the_non_terminal_ones() {
        let names: Vec<_> = open_statuses().map(OrderStatus::as_str).collect();
        assert_eq!(
            names,
            [
                "pending_new",
                "new",
                "partially_filled",
                "pending_cancel",
                "unknown"
            ]
        );
    }
}
