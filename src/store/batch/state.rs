//! The venue state a batch writes besides orders: unmatched fills (inserted, claimed ones
//! deleted), and upserts of balances, watermarks and settings.

use std::collections::HashSet;
use std::hash::Hash;

use sqlx::{Encode, Executor, Transaction, Type};

use super::bind;
use crate::clock::now_ms;
use crate::store::sql::{Cast, Dialect, SqlStore};
use crate::store::{StoreError, WriteBatch};

/// The last entry per key (a multi-row upsert may not touch one row twice).
fn last_per_key<'a, T, K: Eq + Hash>(items: &'a [T], key: impl Fn(&'a T) -> K) -> Vec<&'a T> {
    let mut seen = HashSet::new();
    let mut last: Vec<&T> = items
        .iter()
        .rev()
        .filter(|i| seen.insert(key(*i)))
        .collect();
    last.reverse();
    last
}

const INSERT_UNMATCHED: &str = "INSERT INTO unmatched_fills (venue, venue_symbol, \
     venue_order_id, client_order_id, trade_id, side, price, quantity, fee, fee_asset, is_maker, \
     traded_at) ";
const DELETE_UNMATCHED: &str =
    "DELETE FROM unmatched_fills WHERE (venue, venue_symbol, venue_order_id) IN (";
const UPSERT_BALANCES: &str =
    "INSERT INTO balances (venue, account, asset, free, locked, updated_at) ";
const UPSERT_BALANCES_TAIL: &str = " ON CONFLICT (venue, account, asset) DO UPDATE SET \
     free = excluded.free, locked = excluded.locked, updated_at = excluded.updated_at";
const UPSERT_WATERMARKS: &str =
    "INSERT INTO watermarks (venue, venue_symbol, kind, value, updated_at) ";
const UPSERT_WATERMARKS_TAIL: &str = " ON CONFLICT (venue, venue_symbol, kind) DO UPDATE SET \
     value = excluded.value, updated_at = excluded.updated_at";
const UPSERT_SETTINGS: &str = "INSERT INTO settings (key, value, updated_at) ";
const UPSERT_SETTINGS_TAIL: &str = " ON CONFLICT (key) DO UPDATE SET value = excluded.value, \
     updated_at = excluded.updated_at";

impl<DB> SqlStore<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> bool: Encode<'q, DB> + Type<DB>,
{
    /// Unmatched fills (inserted, then the claimed ones deleted: a fill a batch both reports
    /// and claims ends claimed), balances, watermarks and settings.
    pub(super) async fn write_venue_state(
        tx: &mut Transaction<'static, DB>,
        batch: &WriteBatch,
    ) -> Result<(), StoreError> {
        let tail = " ON CONFLICT (venue, venue_symbol, venue_order_id, trade_id) DO NOTHING";
        Self::run_values(
            tx,
            (INSERT_UNMATCHED, tail),
            12,
            &batch.unmatched_fills,
            |t, f| {
                for text in [
                    &f.venue,
                    &f.venue_symbol,
                    &f.venue_order_id,
                    &f.client_order_id,
                ] {
                    bind(t, Cast::NONE, text.clone());
                }
                bind(t, Cast::NONE, f.trade_id.clone());
                bind(t, Cast::NONE, f.side.as_str().to_owned());
                bind(t, DB::DECIMAL, f.price.to_string());
                bind(t, DB::DECIMAL, f.quantity.to_string());
                bind(t, DB::DECIMAL, f.fee.to_string());
                bind(t, Cast::NONE, f.fee_asset.clone());
                bind(t, Cast::NONE, f.is_maker);
                bind(t, DB::TIME, f.time_ms);
            },
        )
        .await?;
        let claimed = &batch.claimed_unmatched;
        Self::run_values(tx, (DELETE_UNMATCHED, ")"), 3, claimed, |t, (v, s, o)| {
            for text in [v, s, o] {
                bind(t, Cast::NONE, text.clone());
            }
        })
        .await?;

        let balances = last_per_key(&batch.balances, |b| (&b.venue, &b.account, &b.asset));
        let upsert = (UPSERT_BALANCES, UPSERT_BALANCES_TAIL);
        Self::run_values(tx, upsert, 6, &balances, |t, b| {
            for text in [&b.venue, &b.account, &b.asset] {
                bind(t, Cast::NONE, text.clone());
            }
            bind(t, DB::DECIMAL, b.free.to_string());
            bind(t, DB::DECIMAL, b.locked.to_string());
            bind(t, DB::TIME, b.updated_at_ms);
        })
        .await?;

        let now = now_ms();
        let marks = last_per_key(&batch.watermarks, |w| (&w.venue, &w.venue_symbol, &w.kind));
        let upsert = (UPSERT_WATERMARKS, UPSERT_WATERMARKS_TAIL);
        Self::run_values(tx, upsert, 5, &marks, |t, w| {
            for text in [&w.venue, &w.venue_symbol, &w.kind, &w.value] {
                bind(t, Cast::NONE, text.clone());
            }
            bind(t, DB::TIME, now);
        })
        .await?;

        let settings = last_per_key(&batch.settings, |(key, _)| key);
        let upsert = (UPSERT_SETTINGS, UPSERT_SETTINGS_TAIL);
        Self::run_values(tx, upsert, 3, &settings, |t, (key, value)| {
            bind(t, Cast::NONE, key.clone());
            bind(t, DB::JSON, value.to_string());
            bind(t, DB::TIME, now);
        })
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upserts_keep_the_last_entry_per_key() {
        let items = [("a", 1), ("b", 2), ("a", 3), ("c", 4), ("b", 5)];
        let last = last_per_key(&items, |(key, _)| *key);
        assert_eq!(last, [&("a", 3), &("c", 4), &("b", 5)]);
    }
}
