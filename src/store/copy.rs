//! Market data into PostgreSQL: binary `COPY` for the trades of a flush, and the `UNNEST` path
//! (`INSERT .. SELECT FROM UNNEST(..) ON CONFLICT DO NOTHING`, a fixed eight parameters
//! whatever the batch size) where `COPY` cannot be used.
//!
//! `COPY` cannot skip a row that is already stored: a flush holding a trade replayed after a
//! reconnect fails with a unique violation, and is written again by the `UNNEST` path, which
//! skips it. A server that cannot take `COPY` at all (it fails otherwise while `UNNEST` then
//! succeeds) is remembered, and its later flushes go straight to `UNNEST`.

use std::sync::atomic::Ordering;

use rust_decimal::Decimal;
use sqlx::Postgres;

use super::StoreError;
use super::market::{MarketBatch, MarketOutcome, TradeRecord};
use super::market_sql::{distinct_trades, inserted};
use super::postgres::PostgresStore;

const COPY_TRADES: &str = "COPY trades (venue, venue_symbol, traded_at, trade_id, price, \
     quantity, taker_side, received_at) FROM STDIN (FORMAT binary)";
const UNNEST_TRADES: &str = "INSERT INTO trades (venue, venue_symbol, traded_at, trade_id, \
     price, quantity, taker_side, received_at) \
     SELECT v, s, to_timestamp(t / 1000.0), id, p::NUMERIC, q::NUMERIC, side, \
     to_timestamp(r / 1000.0) \
     FROM UNNEST($1::TEXT[], $2::TEXT[], $3::BIGINT[], $4::TEXT[], $5::TEXT[], $6::TEXT[], \
     $7::TEXT[], $8::BIGINT[]) AS u (v, s, t, id, p, q, side, r) \
     ON CONFLICT DO NOTHING RETURNING venue, venue_symbol, trade_id";

/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01 UTC).
const PG_EPOCH_US: i64 = 946_684_800_000_000;

impl PostgresStore {
    pub(crate) async fn write_market_pg(
        &self,
        batch: &MarketBatch,
    ) -> Result<MarketOutcome, StoreError> {
        let trades = distinct_trades(&batch.trades);
        if trades.is_empty() || !self.copy_trades.load(Ordering::Relaxed) {
            return self.write_market_unnest(&trades, batch).await;
        }
        let copy_error = match self.write_market_copy(&trades, batch).await {
            Ok(outcome) => return Ok(outcome),
            Err(e) => e,
        };
        let replayed = is_unique_violation(&copy_error);
        let outcome = self.write_market_unnest(&trades, batch).await?;
        if !replayed {
            tracing::warn!(error = %copy_error, "this server does not take COPY: market data is written with INSERT .. UNNEST from now on");
            self.copy_trades.store(false, Ordering::Relaxed);
        }
        Ok(outcome)
    }

    async fn write_market_copy(
        &self,
        trades: &[&TradeRecord],
        batch: &MarketBatch,
    ) -> Result<MarketOutcome, StoreError> {
        let mut tx = self.writer.begin().await?;
        let mut copy = tx.copy_in_raw(COPY_TRADES).await?;
        copy.send(encode_trades(trades)).await?;
        copy.finish().await?;
        let rollup = self.rollup_kept().await?;
        let outcome = Self::write_market_rest(&mut tx, trades, &batch.snapshots, rollup).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    async fn write_market_unnest(
        &self,
        trades: &[&TradeRecord],
        batch: &MarketBatch,
    ) -> Result<MarketOutcome, StoreError> {
        let mut tx = self.writer.begin().await?;
        let text = |f: fn(&TradeRecord) -> String| trades.iter().map(|t| f(t)).collect::<Vec<_>>();
        let stored = if trades.is_empty() {
            Vec::new()
        } else {
            let rows = sqlx::query::<Postgres>(UNNEST_TRADES)
                .bind(text(|t| t.venue.clone()))
                .bind(text(|t| t.venue_symbol.clone()))
                .bind(trades.iter().map(|t| t.time_ms).collect::<Vec<_>>())
                .bind(text(|t| t.trade_id.clone()))
                .bind(text(|t| t.price.to_string()))
                .bind(text(|t| t.quantity.to_string()))
                .bind(text(|t| t.taker_side.as_str().to_owned()))
                .bind(trades.iter().map(|t| t.received_ms).collect::<Vec<_>>())
                .fetch_all(&mut *tx)
                .await?;
            inserted(trades, &rows)?
        };
        let rollup = self.rollup_kept().await?;
        let outcome = Self::write_market_rest(&mut tx, &stored, &batch.snapshots, rollup).await?;
        tx.commit().await?;
        Ok(outcome)
    }
}

fn is_unique_violation(error: &StoreError) -> bool {
    match error {
        StoreError::Database(sqlx::Error::Database(db)) => db.code().as_deref() == Some("23505"),
        _ => false,
    }
}

/// The trades in PostgreSQL's binary `COPY` format, columns as in [`COPY_TRADES`].
fn encode_trades(trades: &[&TradeRecord]) -> Vec<u8> {
    let mut out = Vec::with_capacity(19 + trades.len() * 120 + 2);
    out.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
    out.extend_from_slice(&0i32.to_be_bytes()); // flags
    out.extend_from_slice(&0i32.to_be_bytes()); // header extension length
    for t in trades {
        out.extend_from_slice(&8i16.to_be_bytes());
        field(&mut out, t.venue.as_bytes());
        field(&mut out, t.venue_symbol.as_bytes());
        field(&mut out, &timestamptz(t.time_ms));
        field(&mut out, t.trade_id.as_bytes());
        field(&mut out, &numeric(t.price));
        field(&mut out, &numeric(t.quantity));
        field(&mut out, t.taker_side.as_str().as_bytes());
        field(&mut out, &timestamptz(t.received_ms));
    }
    out.extend_from_slice(&(-1i16).to_be_bytes());
    out
}

fn field(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = i32::try_from(bytes.len()).unwrap_or(i32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
}

/// `TIMESTAMPTZ` binary: microseconds since 2000-01-01 UTC.
fn timestamptz(epoch_ms: i64) -> [u8; 8] {
    epoch_ms
        .saturating_mul(1000)
        .saturating_sub(PG_EPOCH_US)
        .to_be_bytes()
}

/// `NUMERIC` binary: digit count, weight (of the first base-10000 digit), sign, display scale,
/// then base-10000 digits, most significant first, without leading or trailing zero digits.
fn numeric(value: Decimal) -> Vec<u8> {
    let scale = value.scale() as usize;
    let mut digits = value.mantissa().unsigned_abs().to_string();
    if digits.len() <= scale {
        digits = format!("{}{digits}", "0".repeat(scale + 1 - digits.len()));
    }
    let (int_part, frac_part) = digits.split_at(digits.len() - scale);
    let int_pad = (4 - int_part.len() % 4) % 4;
    let frac_pad = (4 - frac_part.len() % 4) % 4;
    let padded = format!(
        "{}{int_part}{frac_part}{}",
        "0".repeat(int_pad),
        "0".repeat(frac_pad)
    );
    let mut groups: Vec<i16> = padded
        .as_bytes()
        .chunks(4)
        .map(|chunk| {
            chunk
                .iter()
                .fold(0i16, |acc, digit| acc * 10 + i16::from(digit - b'0'))
        })
        .collect();
    let mut weight = ((int_part.len() + int_pad) / 4) as i16 - 1;
    let leading = groups.iter().take_while(|&&g| g == 0).count();
    groups.drain(..leading);
    weight -= leading as i16;
    while groups.last() == Some(&0) {
        groups.pop();
    }
    if groups.is_empty() {
        weight = 0;
    }
    let sign: u16 = if value.is_sign_negative() && !groups.is_empty() {
        0x4000
    } else {
        0
    };
    let mut out = Vec::with_capacity(8 + groups.len() * 2);
    out.extend_from_slice(&(groups.len() as i16).to_be_bytes());
    out.extend_from_slice(&weight.to_be_bytes());
    out.extend_from_slice(&sign.to_be_bytes());
    out.extend_from_slice(&(scale as u16).to_be_bytes());
    for g in groups {
        out.extend_from_slice(&g.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    /// (digit count, weight, sign, scale, digits) of an encoded numeric.
    fn decoded(bytes: &[u8]) -> (i16, i16, u16, u16, Vec<i16>) {
        let word = |i: usize| [bytes[2 * i], bytes[2 * i + 1]];
        let n = i16::from_be_bytes(word(0));
        let digits = (0..n as usize)
            .map(|i| i16::from_be_bytes(word(4 + i)))
            .collect();
        (
            n,
            i16::from_be_bytes(word(1)),
            u16::from_be_bytes(word(2)),
            u16::from_be_bytes(word(3)),
            digits,
        )
    }

    #[test]
    fn numerics_encode_as_postgres_sends_them() {
        let cases = [
            (dec!(123.45), (2, 0, 0, 2, vec![123, 4500])),
            (dec!(0.001), (1, -1, 0, 3, vec![10])),
            (dec!(0.00000001), (1, -2, 0, 8, vec![1])),
            (dec!(30000.10), (3, 1, 0, 2, vec![3, 0, 1000])),
            (dec!(-5), (1, 0, 0x4000, 0, vec![5])),
            (dec!(0), (0, 0, 0, 0, vec![])),
            (dec!(0.000), (0, 0, 0, 3, vec![])),
            (dec!(100000000), (1, 2, 0, 0, vec![1])),
            (dec!(12345678.9), (3, 1, 0, 1, vec![1234, 5678, 9000])),
        ];
        for (value, want) in cases {
            assert_eq!(decoded(&numeric(value)), want, "{value}");
        }
    }

    #[test]
    fn times_count_from_the_postgres_epoch() {
        assert_eq!(timestamptz(946_684_800_000), 0i64.to_be_bytes());
        assert_eq!(timestamptz(946_684_800_001), 1000i64.to_be_bytes());
    }
}
