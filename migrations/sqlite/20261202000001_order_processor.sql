-- What the order processor keeps durable besides orders (SQLite): whether an order's status was
-- inferred, one order per idempotency key, fills unique per order, fills that match no order,
-- balances, stream watermarks and settings.

-- The current status was inferred by omsd rather than stated by the venue; such an order stays
-- in the working set until the venue shows it.
ALTER TABLE orders ADD COLUMN status_inferred INTEGER NOT NULL DEFAULT 0
    CHECK (status_inferred IN (0, 1));

-- One order per key: a single INSERT .. ON CONFLICT DO NOTHING then covers the key and the
-- client order id at once.
CREATE UNIQUE INDEX orders_idempotency_key_idx ON orders (idempotency_key);

-- Fills become unique per order: two of our own orders trading with each other report one
-- venue trade id on both sides, and both must be kept. SQLite cannot change a table
-- constraint in place, so the table is rebuilt.
CREATE TABLE fills_rebuilt (
    id           INTEGER PRIMARY KEY,
    order_id     INTEGER NOT NULL REFERENCES orders (id),
    venue        TEXT    NOT NULL,
    venue_symbol TEXT    NOT NULL,
    trade_id     TEXT    NOT NULL,
    side         TEXT    NOT NULL CHECK (side IN ('buy', 'sell')),
    price        TEXT    NOT NULL,
    quantity     TEXT    NOT NULL,
    fee          TEXT    NOT NULL,
    fee_asset    TEXT,
    is_maker     INTEGER NOT NULL CHECK (is_maker IN (0, 1)),
    traded_at    INTEGER NOT NULL,
    UNIQUE (order_id, trade_id)
) STRICT;

INSERT INTO fills_rebuilt (id, order_id, venue, venue_symbol, trade_id, side, price, quantity,
    fee, fee_asset, is_maker, traded_at)
SELECT id, order_id, venue, venue_symbol, trade_id, side, price, quantity, fee, fee_asset,
    is_maker, traded_at
FROM fills;

DROP TABLE fills;
ALTER TABLE fills_rebuilt RENAME TO fills;

-- The unique constraint leads with order_id; this one serves the newest fill of a symbol.
CREATE INDEX fills_venue_symbol_idx ON fills (venue, venue_symbol);

-- Fills the venue reported that match no stored order, kept until an order adopts them.
CREATE TABLE unmatched_fills (
    id              INTEGER PRIMARY KEY,
    venue           TEXT    NOT NULL,
    venue_symbol    TEXT    NOT NULL,
    venue_order_id  TEXT    NOT NULL,
    -- Empty when the venue did not say.
    client_order_id TEXT    NOT NULL,
    trade_id        TEXT    NOT NULL,
    side            TEXT    NOT NULL CHECK (side IN ('buy', 'sell')),
    price           TEXT    NOT NULL,
    quantity        TEXT    NOT NULL,
    fee             TEXT    NOT NULL,
    fee_asset       TEXT,
    is_maker        INTEGER NOT NULL CHECK (is_maker IN (0, 1)),
    traded_at       INTEGER NOT NULL,
    UNIQUE (venue, venue_symbol, venue_order_id, trade_id)
) STRICT;

CREATE TABLE balances (
    venue      TEXT    NOT NULL,
    account    TEXT    NOT NULL,
    asset      TEXT    NOT NULL,
    free       TEXT    NOT NULL,
    locked     TEXT    NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (venue, account, asset)
) STRICT;

-- How far a venue symbol's backfill has read (the last trade id or order id seen).
CREATE TABLE watermarks (
    venue        TEXT    NOT NULL,
    venue_symbol TEXT    NOT NULL,
    kind         TEXT    NOT NULL CHECK (kind IN ('trades', 'orders')),
    value        TEXT    NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (venue, venue_symbol, kind)
) STRICT;

-- Operator settings that outlive a restart, such as the kill switch.
CREATE TABLE settings (
    key        TEXT    PRIMARY KEY,
    value      TEXT    NOT NULL CHECK (json_valid(value)),
    updated_at INTEGER NOT NULL
) STRICT;
