//! The venues' instruments as last fetched (`instruments`), so that omsd can start with them
//! while a venue is unreachable (flagged stale until the venue answers again).

use exchange_core::Instrument;
use sqlx::{Encode, Executor, Type};

use super::StoreError;
use super::batch::bind;
use super::rows::instrument_from_row;
use super::sql::{Cast, Dialect, SqlStore, select};

const UPSERT_INSTRUMENTS: &str =
    "INSERT INTO instruments (venue, venue_symbol, symbol, info, fetched_at) ";
const UPSERT_INSTRUMENTS_TAIL: &str = " ON CONFLICT (venue, venue_symbol) DO UPDATE SET \
     symbol = excluded.symbol, info = excluded.info, fetched_at = excluded.fetched_at";

/// An instrument as cached, with when it was fetched (epoch milliseconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedInstrument {
    pub instrument: Instrument,
    pub fetched_at_ms: i64,
}

impl<DB> SqlStore<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> bool: Encode<'q, DB> + Type<DB>,
{
    pub(crate) async fn write_instruments(
        &self,
        venue: &str,
        instruments: &[Instrument],
        fetched_at_ms: i64,
    ) -> Result<(), StoreError> {
        let mut rows = Vec::with_capacity(instruments.len());
        for i in instruments {
            let info = serde_json::to_string(i).map_err(|e| StoreError::Corrupt {
                table: "instruments",
                message: format!("instrument {} does not serialize: {e}", i.name),
            })?;
            rows.push((i, info));
        }
        let mut tx = self.writer.begin_with(DB::BEGIN_WRITE).await?;
        let upsert = (UPSERT_INSTRUMENTS, UPSERT_INSTRUMENTS_TAIL);
        Self::run_values(&mut tx, upsert, 5, &rows, |t, (i, info)| {
            bind(t, Cast::NONE, venue.to_owned());
            bind(t, Cast::NONE, i.venue_symbol.clone());
            bind(t, Cast::NONE, i.name.clone());
            bind(t, DB::JSON, info.clone());
            bind(t, DB::TIME, fetched_at_ms);
        })
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn read_instruments(
        &self,
        venue: &str,
    ) -> Result<Vec<CachedInstrument>, StoreError> {
        let mut query = select::<DB>(DB::INSTRUMENT_COLUMNS, "instruments");
        query.push(" WHERE venue = ").push_bind(venue.to_owned());
        query.push(" ORDER BY symbol");
        let rows = query.build().fetch_all(&self.reader).await?;
        rows.iter().map(instrument_from_row).collect()
    }
}
