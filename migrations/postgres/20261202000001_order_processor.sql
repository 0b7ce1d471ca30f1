-- What the order processor keeps durable besides orders (PostgreSQL): whether an order's status
-- was inferred, one order per idempotency key, fills unique per order, fills that match no
-- order, balances, stream watermarks and settings.

-- The current status was inferred by omsd rather than stated by the venue; such an order stays
-- in the working set until the venue shows it.
ALTER TABLE orders ADD COLUMN status_inferred BOOLEAN NOT NULL DEFAULT FALSE;

-- One order per key: a single INSERT .. ON CONFLICT DO NOTHING then covers the key and the
-- client order id at once.
ALTER TABLE orders ADD CONSTRAINT orders_idempotency_key_key UNIQUE (idempotency_key);

-- Fills become unique per order: two of our own orders trading with each other report one
-- venue trade id on both sides, and both must be kept.
ALTER TABLE fills DROP CONSTRAINT fills_venue_venue_symbol_trade_id_key;
ALTER TABLE fills ADD CONSTRAINT fills_order_id_trade_id_key UNIQUE (order_id, trade_id);
-- The unique constraint leads with order_id (it replaces fills_order_id_idx); this one serves
-- the newest fill of a symbol.
DROP INDEX fills_order_id_idx;
CREATE INDEX fills_venue_symbol_idx ON fills (venue, venue_symbol);

-- Fills the venue reported that match no stored order, kept until an order adopts them.
CREATE TABLE unmatched_fills (
    id              BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    venue           TEXT        NOT NULL,
    venue_symbol    TEXT        NOT NULL,
    venue_order_id  TEXT        NOT NULL,
    -- Empty when the venue did not say.
    client_order_id TEXT        NOT NULL,
    trade_id        TEXT        NOT NULL,
    side            TEXT        NOT NULL CHECK (side IN ('buy', 'sell')),
    price           NUMERIC     NOT NULL,
    quantity        NUMERIC     NOT NULL,
    fee             NUMERIC     NOT NULL,
    fee_asset       TEXT,
    is_maker        BOOLEAN     NOT NULL,
    traded_at       TIMESTAMPTZ NOT NULL,
    UNIQUE (venue, venue_symbol, venue_order_id, trade_id)
);

CREATE TABLE balances (
    venue      TEXT        NOT NULL,
    account    TEXT        NOT NULL,
    asset      TEXT        NOT NULL,
    free       NUMERIC     NOT NULL,
    locked     NUMERIC     NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (venue, account, asset)
);

-- How far a venue symbol's backfill has read (the last trade id or order id seen).
CREATE TABLE watermarks (
    venue        TEXT        NOT NULL,
    venue_symbol TEXT        NOT NULL,
    kind         TEXT        NOT NULL CHECK (kind IN ('trades', 'orders')),
    value        TEXT        NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (venue, venue_symbol, kind)
);

-- Operator settings that outlive a restart, such as the kill switch.
CREATE TABLE settings (
    key        TEXT        PRIMARY KEY,
    value      JSONB       NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
