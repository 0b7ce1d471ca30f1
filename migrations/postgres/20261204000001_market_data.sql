-- Market data (PostgreSQL): the venue's public trades, top-of-book snapshots sampled from
-- in-sync books, the one-minute candles the market-data writer maintains from the trades it
-- stores, and the venue's instrument list for a cold start while the venue is unreachable.
--
-- These are the plain tables; a later migration turns trades and snapshots into hypertables
-- and the candles into a continuous aggregate where the timescaledb extension is available.
-- Time-ordered appends make BRIN indexes on time small and effective for range scans.

-- One row per venue trade. A trade replayed after a reconnect carries the same id and time,
-- so the key makes storing it twice a no-op; the key includes the time (as a hypertable's
-- unique keys must) and its order is the order trades are read and paged in.
CREATE TABLE trades (
    venue        TEXT        NOT NULL,
    venue_symbol TEXT        NOT NULL,
    traded_at    TIMESTAMPTZ NOT NULL,
    trade_id     TEXT        NOT NULL,
    price        NUMERIC     NOT NULL,
    quantity     NUMERIC     NOT NULL,
    taker_side   TEXT        NOT NULL CHECK (taker_side IN ('buy', 'sell')),
    received_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (venue, venue_symbol, traded_at, trade_id)
);

CREATE INDEX trades_traded_at_brin ON trades USING BRIN (traded_at);

-- The best levels of a book when it was sampled; `bids` and `asks` are JSON arrays of
-- [price, quantity] string pairs, best first.
CREATE TABLE book_snapshots (
    venue        TEXT        NOT NULL,
    venue_symbol TEXT        NOT NULL,
    taken_at     TIMESTAMPTZ NOT NULL,
    update_id    BIGINT      NOT NULL,
    bids         JSONB       NOT NULL,
    asks         JSONB       NOT NULL,
    PRIMARY KEY (venue, venue_symbol, taken_at)
);

CREATE INDEX book_snapshots_taken_at_brin ON book_snapshots USING BRIN (taken_at);

-- One-minute OHLCV per venue symbol, folded from each stored trade exactly once. `first_*` and
-- `last_*` are the (time, trade id) of the trades that set open and close, so that batches
-- arriving in any order fold to the same candle.
CREATE TABLE candles_1m (
    venue          TEXT        NOT NULL,
    venue_symbol   TEXT        NOT NULL,
    bucket         TIMESTAMPTZ NOT NULL,
    open           NUMERIC     NOT NULL,
    high           NUMERIC     NOT NULL,
    low            NUMERIC     NOT NULL,
    close          NUMERIC     NOT NULL,
    volume         NUMERIC     NOT NULL,
    trades         BIGINT      NOT NULL,
    first_at       TIMESTAMPTZ NOT NULL,
    first_trade_id TEXT        NOT NULL,
    last_at        TIMESTAMPTZ NOT NULL,
    last_trade_id  TEXT        NOT NULL,
    PRIMARY KEY (venue, venue_symbol, bucket)
);

-- The venue's symbols and filters as last fetched (`info` is the instrument as JSON).
CREATE TABLE instruments (
    venue        TEXT        NOT NULL,
    venue_symbol TEXT        NOT NULL,
    symbol       TEXT        NOT NULL,
    info         JSONB       NOT NULL,
    fetched_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (venue, venue_symbol)
);
