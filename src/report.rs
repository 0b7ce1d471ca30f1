//! The end-of-day report: per venue and symbol, the orders created that day by their final (or
//! current) status, the fills of the day, volume, fees, average prices and the realized PnL
//! (first in, first out), all from the store.
//!
//! Days are UTC. Realized PnL matches each fill of the day against the open lots left by every
//! earlier fill of the same venue and symbol (the store's whole history), oldest lot first; a
//! sell with no long lot to close opens a short lot, which a later buy closes. PnL is in the
//! quote asset and before fees; fees are reported per asset beside it.

use std::collections::{BTreeMap, VecDeque};

use exchange_core::Side;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::store::{ReportInputs, SymbolFill};

/// Milliseconds in one day.
pub const DAY_MS: i64 = 86_400_000;

/// A UTC calendar day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Day {
    /// Days since 1970-01-01.
    days: i64,
}

impl Day {
    /// The day that contains `ms` (epoch milliseconds).
    pub fn containing(ms: i64) -> Day {
        Day {
            days: ms.div_euclid(DAY_MS),
        }
    }

    /// Parses `YYYY-MM-DD`.
    pub fn parse(text: &str) -> Result<Day, String> {
        let invalid = || format!("'{text}' is not a date (YYYY-MM-DD)");
        let mut parts = text.split('-');
        let (Some(y), Some(m), Some(d), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid());
        };
        if y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return Err(invalid());
        }
        let digits = |s: &str| {
            s.bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| s.parse::<i64>().ok())
                .flatten()
        };
        let (Some(y), Some(m), Some(d)) = (digits(y), digits(m), digits(d)) else {
            return Err(invalid());
        };
        if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || d < 1 || d > month_days(y, m) {
            return Err(invalid());
        }
        Ok(Day {
            days: days_from_civil(y, m, d),
        })
    }

    /// Epoch milliseconds of the day's first instant.
    pub fn start_ms(self) -> i64 {
        self.days * DAY_MS
    }

    /// Epoch milliseconds of the next day's first instant.
    pub fn end_ms(self) -> i64 {
        self.start_ms() + DAY_MS
    }
}

impl std::fmt::Display for Day {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (y, m, d) = civil_from_days(self.days);
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn month_days(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// The report of one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DailyReport {
    /// `YYYY-MM-DD` (UTC).
    pub date: String,
    /// The venue asked for, if any.
    pub venue: Option<String>,
    pub from_ms: i64,
    pub to_ms: i64,
    /// One row per venue and symbol with orders or fills that day, sorted.
    pub symbols: Vec<SymbolReport>,
}

/// One venue and symbol's day.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SymbolReport {
    pub venue: String,
    pub symbol: String,
    /// The asset prices, notional and PnL are in (the symbol's quote asset).
    pub quote_asset: String,
    /// Orders created that day, by the status they have now (final for terminal orders).
    pub orders_by_status: BTreeMap<String, u64>,
    pub orders: u64,
    pub fills: u64,
    pub buy_fills: u64,
    pub sell_fills: u64,
    /// Base quantity bought and sold.
    pub buy_quantity: Decimal,
    pub sell_quantity: Decimal,
    /// Quote notional bought and sold (price times quantity).
    pub buy_notional: Decimal,
    pub sell_notional: Decimal,
    /// Volume-weighted average prices of the day's buys and sells (`null` without any).
    pub average_buy_price: Option<Decimal>,
    pub average_sell_price: Option<Decimal>,
    /// Fees paid, per asset.
    pub fees: BTreeMap<String, Decimal>,
    /// PnL realized that day, first in first out, in the quote asset, before fees.
    pub realized_pnl: Decimal,
    /// Net base position at the end of the day from every stored fill (positive long).
    pub position_end: Decimal,
}

/// One open lot: signed quantity (positive long, negative short) at a price.
struct Lot {
    quantity: Decimal,
    price: Decimal,
}

/// First-in-first-out lots of one venue and symbol.
#[derive(Default)]
struct Lots {
    open: VecDeque<Lot>,
}

impl Lots {
    /// Applies one fill; returns the PnL it realized.
    fn apply(&mut self, side: Side, price: Decimal, quantity: Decimal) -> Decimal {
        let signed = match side {
            Side::Buy => quantity,
            Side::Sell => -quantity,
        };
        let mut left = signed;
        let mut pnl = Decimal::ZERO;
        while !left.is_zero() {
            let Some(front) = self.open.front_mut() else {
                break;
            };
            if front.quantity.is_sign_positive() == left.is_sign_positive() {
                break;
            }
            let matched = front.quantity.abs().min(left.abs());
            // Closing a long with a sell earns sell - buy; closing a short with a buy earns
            // the short's price - buy.
            pnl += if front.quantity.is_sign_positive() {
                (price - front.price) * matched
            } else {
                (front.price - price) * matched
            };
            let towards_zero = |q: Decimal| {
                if q.is_sign_positive() {
                    q - matched
                } else {
                    q + matched
                }
            };
            front.quantity = towards_zero(front.quantity);
            left = towards_zero(left);
            if front.quantity.is_zero() {
                self.open.pop_front();
            }
        }
        if !left.is_zero() {
            self.open.push_back(Lot {
                quantity: left,
                price,
            });
        }
        pnl
    }

    fn position(&self) -> Decimal {
        self.open.iter().map(|l| l.quantity).sum()
    }
}

/// The report row of a venue and symbol, created empty on first use.
fn row<'a>(
    rows: &'a mut BTreeMap<(String, String), SymbolReport>,
    venue: &str,
    symbol: &str,
) -> &'a mut SymbolReport {
    rows.entry((venue.to_owned(), symbol.to_owned()))
        .or_insert_with(|| SymbolReport {
            venue: venue.to_owned(),
            symbol: symbol.to_owned(),
            quote_asset: quote_asset(symbol),
            ..SymbolReport::default()
        })
}

/// The quote asset of a canonical symbol (`BTC-USDT` -> `USDT`).
fn quote_asset(symbol: &str) -> String {
    symbol.rsplit('-').next().unwrap_or(symbol).to_owned()
}

impl DailyReport {
    /// Computes the report of `day` from `inputs` (orders created that day, fills up to its end).
    pub fn build(day: Day, venue: Option<String>, inputs: &ReportInputs) -> DailyReport {
        let (from_ms, to_ms) = (day.start_ms(), day.end_ms());
        let mut rows: BTreeMap<(String, String), SymbolReport> = BTreeMap::new();
        for order in &inputs.orders {
            if !(from_ms..to_ms).contains(&order.created_at_ms) {
                continue;
            }
            let r = row(&mut rows, &order.venue, &order.symbol);
            r.orders += 1;
            *r.orders_by_status
                .entry(order.status.as_str().to_owned())
                .or_default() += 1;
        }
        let mut lots: BTreeMap<(String, String), Lots> = BTreeMap::new();
        // In the order the venue executed them: by time, then by trade id (numeric ids compare
        // by length first, so `99` comes before `100`).
        let mut fills: Vec<&SymbolFill> = inputs.fills.iter().collect();
        fills.sort_by(|a, b| {
            let key = |f: &SymbolFill| (f.fill.time_ms, f.fill.trade_id.len());
            key(a)
                .cmp(&key(b))
                .then_with(|| a.fill.trade_id.cmp(&b.fill.trade_id))
        });
        for SymbolFill { symbol, fill } in fills {
            if fill.time_ms >= to_ms {
                continue;
            }
            let key = (fill.venue.clone(), symbol.clone());
            let pnl = lots
                .entry(key)
                .or_default()
                .apply(fill.side, fill.price, fill.quantity);
            if fill.time_ms < from_ms {
                continue;
            }
            let r = row(&mut rows, &fill.venue, symbol);
            r.fills += 1;
            r.realized_pnl += pnl;
            let notional = fill.price * fill.quantity;
            match fill.side {
                Side::Buy => {
                    r.buy_fills += 1;
                    r.buy_quantity += fill.quantity;
                    r.buy_notional += notional;
                }
                Side::Sell => {
                    r.sell_fills += 1;
                    r.sell_quantity += fill.quantity;
                    r.sell_notional += notional;
                }
            }
            if !fill.fee.is_zero() || fill.fee_asset.is_some() {
                let asset = fill.fee_asset.clone().unwrap_or_else(|| "?".to_owned());
                *r.fees.entry(asset).or_default() += fill.fee;
            }
        }
        let symbols = rows
            .into_iter()
            .map(|(key, mut r)| {
                let average = |notional: Decimal, quantity: Decimal| {
                    (!quantity.is_zero()).then(|| (notional / quantity).normalize())
                };
                r.average_buy_price = average(r.buy_notional, r.buy_quantity);
                r.average_sell_price = average(r.sell_notional, r.sell_quantity);
                r.position_end = lots.get(&key).map(Lots::position).unwrap_or_default();
                for value in [
                    &mut r.buy_quantity,
                    &mut r.sell_quantity,
                    &mut r.buy_notional,
                    &mut r.sell_notional,
                    &mut r.realized_pnl,
                    &mut r.position_end,
                ] {
                    *value = value.normalize();
                }
                for fee in r.fees.values_mut() {
                    *fee = fee.normalize();
                }
                r
            })
            .collect();
        DailyReport {
            date: day.to_string(),
            venue,
            from_ms,
            to_ms,
            symbols,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn days_parse_print_and_bound() {
        let day = Day::parse("2026-12-04").unwrap();
        assert_eq!(day.to_string(), "2026-12-04");
        assert_eq!(day.start_ms(), 1_796_342_400_000);
        assert_eq!(Day::containing(day.start_ms() + DAY_MS - 1), day);
        assert_eq!(Day::parse("1970-01-01").unwrap().start_ms(), 0);
        assert_eq!(Day::parse("2024-02-29").unwrap().to_string(), "2024-02-29");
        for bad in [
            "2023-02-29",
            "2026-13-01",
            "2026-1-01",
            "26-12-04",
            "2026-12-04x",
            "",
            "2026-12",
            "+026-12-04",
            "1969-12-31",
        ] {
            assert!(Day::parse(bad).is_err(), "{bad}");
        }
    }

    fn fill(side: Side, price: Decimal, quantity: Decimal, time_ms: i64) -> SymbolFill {
        SymbolFill {
            symbol: "BTC-USDT".into(),
            fill: crate::store::FillRecord {
                order_id: 1,
                venue: "binance".into(),
                venue_symbol: "BTCUSDT".into(),
                trade_id: time_ms.to_string(),
                side,
                price,
                quantity,
                fee: dec!(0.01),
                fee_asset: Some("USDT".into()),
                is_maker: false,
                time_ms,
            },
        }
    }

    #[test]
    fn a_day_closes_lots_opened_the_day_before_and_ignores_later_fills() {
        let day = Day::parse("2026-12-04").unwrap();
        let t = day.start_ms();
        let inputs = ReportInputs {
            orders: vec![],
            fills: vec![
                fill(Side::Buy, dec!(100), dec!(2), t - 10),
                fill(Side::Sell, dec!(130), dec!(1), t + 10),
                fill(Side::Buy, dec!(120), dec!(1), t + 20),
                fill(Side::Sell, dec!(150), dec!(2), t + 30),
                fill(Side::Sell, dec!(1), dec!(100), day.end_ms()),
            ],
        };
        let report = DailyReport::build(day, None, &inputs);
        assert_eq!(report.date, "2026-12-04");
        let [row] = &report.symbols[..] else {
            panic!("one row: {report:?}");
        };
        // 1 @ 100 sold at 130, then 1 @ 100 and 1 @ 120 sold at 150.
        assert_eq!(row.realized_pnl, dec!(110));
        assert_eq!((row.fills, row.buy_fills, row.sell_fills), (3, 1, 2));
        assert_eq!(row.buy_quantity, dec!(1));
        assert_eq!(row.sell_quantity, dec!(3));
        assert_eq!(
            row.average_sell_price,
            Some((dec!(430) / dec!(3)).normalize())
        );
        assert_eq!(row.position_end, dec!(0));
        assert_eq!(row.fees.get("USDT"), Some(&dec!(0.03)));
        assert_eq!(row.orders, 0);
    }

    #[test]
    fn lots_are_matched_in_execution_order_by_time_then_numeric_trade_id() {
        let day = Day::parse("2026-12-04").unwrap();
        let t = day.start_ms() + 1;
        let with_id = |id: &str, f: SymbolFill| SymbolFill {
            fill: crate::store::FillRecord {
                trade_id: id.into(),
                ..f.fill
            },
            ..f
        };
        // Stored out of order: trade 100 (at 110) before trade 99 (at 100), same millisecond.
        let inputs = ReportInputs {
            orders: vec![],
            fills: vec![
                with_id("100", fill(Side::Buy, dec!(110), dec!(1), t)),
                with_id("99", fill(Side::Buy, dec!(100), dec!(1), t)),
                with_id("101", fill(Side::Sell, dec!(120), dec!(1), t + 1)),
            ],
        };
        let report = DailyReport::build(day, None, &inputs);
        // The sell closes trade 99's lot, bought at 100.
        assert_eq!(report.symbols[0].realized_pnl, dec!(20));
    }

    #[test]
    fn fifo_matches_oldest_lots_first_and_opens_shorts() {
        let mut lots = Lots::default();
        assert_eq!(lots.apply(Side::Buy, dec!(100), dec!(1)), dec!(0));
        assert_eq!(lots.apply(Side::Buy, dec!(110), dec!(1)), dec!(0));
        // Sells 1.5: 1 @ 100 and 0.5 @ 110.
        assert_eq!(lots.apply(Side::Sell, dec!(120), dec!(1.5)), dec!(25));
        assert_eq!(lots.position(), dec!(0.5));
        // Sells 1: closes 0.5 @ 110, opens a 0.5 short at 90.
        assert_eq!(lots.apply(Side::Sell, dec!(90), dec!(1)), dec!(-10));
        assert_eq!(lots.position(), dec!(-0.5));
        // Buys back the short lower.
        assert_eq!(lots.apply(Side::Buy, dec!(80), dec!(0.5)), dec!(5));
        assert!(lots.position().is_zero());
    }
}
