-- Market data (SQLite): the venue's public trades, top-of-book snapshots sampled from in-sync
-- books, the one-minute candles the market-data writer maintains from the trades it stores,
-- and the venue's instrument list for a cold start while the venue is unreachable.
--
-- Decimals are TEXT (exact), times INTEGER epoch milliseconds, as in the order tables.

-- One row per venue trade. A trade replayed after a reconnect carries the same id and time,
-- so the key makes storing it twice a no-op; the key's order (newest first by time, then by
-- trade id) is also the order trades are read and paged in.
CREATE TABLE trades (
    venue        TEXT    NOT NULL,
    venue_symbol TEXT    NOT NULL,
    traded_at    INTEGER NOT NULL,
    trade_id     TEXT    NOT NULL,
    price        TEXT    NOT NULL,
    quantity     TEXT    NOT NULL,
    taker_side   TEXT    NOT NULL CHECK (taker_side IN ('buy', 'sell')),
    received_at  INTEGER NOT NULL,
    PRIMARY KEY (venue, venue_symbol, traded_at, trade_id)
) STRICT, WITHOUT ROWID;

-- The best levels of a book when it was sampled; `bids` and `asks` are JSON arrays of
-- [price, quantity] string pairs, best first.
CREATE TABLE book_snapshots (
    venue        TEXT    NOT NULL,
    venue_symbol TEXT    NOT NULL,
    taken_at     INTEGER NOT NULL,
    update_id    INTEGER NOT NULL,
    bids         TEXT    NOT NULL CHECK (json_valid(bids)),
    asks         TEXT    NOT NULL CHECK (json_valid(asks)),
    PRIMARY KEY (venue, venue_symbol, taken_at)
) STRICT, WITHOUT ROWID;

-- One-minute OHLCV per venue symbol, folded from each stored trade exactly once. `first_*` and
-- `last_*` are the (time, trade id) of the trades that set open and close, so that batches
-- arriving in any order fold to the same candle.
CREATE TABLE candles_1m (
    venue          TEXT    NOT NULL,
    venue_symbol   TEXT    NOT NULL,
    bucket         INTEGER NOT NULL,
    open           TEXT    NOT NULL,
    high           TEXT    NOT NULL,
    low            TEXT    NOT NULL,
    close          TEXT    NOT NULL,
    volume         TEXT    NOT NULL,
    trades         INTEGER NOT NULL,
    first_at       INTEGER NOT NULL,
    first_trade_id TEXT    NOT NULL,
    last_at        INTEGER NOT NULL,
    last_trade_id  TEXT    NOT NULL,
    PRIMARY KEY (venue, venue_symbol, bucket)
) STRICT, WITHOUT ROWID;

-- The venue's symbols and filters as last fetched (`info` is the instrument as JSON).
CREATE TABLE instruments (
    venue        TEXT    NOT NULL,
    venue_symbol TEXT    NOT NULL,
    symbol       TEXT    NOT NULL,
    info         TEXT    NOT NULL CHECK (json_valid(info)),
    fetched_at   INTEGER NOT NULL,
    PRIMARY KEY (venue, venue_symbol)
) STRICT, WITHOUT ROWID;
