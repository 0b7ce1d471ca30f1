-- Orders, their append-only audit trail, fills and idempotency keys (SQLite).
--
-- Decimals are TEXT (the exact `rust_decimal` string, never REAL); times are INTEGER
-- milliseconds since the Unix epoch. STRICT makes SQLite refuse values of the wrong type.

CREATE TABLE orders (
    id               INTEGER PRIMARY KEY,
    venue            TEXT    NOT NULL,
    account          TEXT    NOT NULL,
    symbol           TEXT    NOT NULL,
    venue_symbol     TEXT    NOT NULL,
    client_order_id  TEXT    NOT NULL,
    venue_order_id   TEXT,
    side             TEXT    NOT NULL CHECK (side IN ('buy', 'sell')),
    order_type       TEXT    NOT NULL CHECK (order_type IN ('limit', 'market')),
    time_in_force    TEXT    NOT NULL CHECK (time_in_force IN ('gtc', 'ioc', 'fok')),
    quantity         TEXT    NOT NULL,
    price            TEXT,
    status           TEXT    NOT NULL CHECK (status IN (
        'pending_new', 'new', 'partially_filled', 'filled', 'pending_cancel', 'canceled',
        'rejected', 'expired', 'unknown')),
    filled_quantity  TEXT    NOT NULL,
    cumulative_quote TEXT    NOT NULL,
    reject_reason    TEXT,
    idempotency_key  TEXT    NOT NULL,
    request_hash     TEXT    NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    UNIQUE (venue, account, client_order_id)
) STRICT;

CREATE INDEX orders_venue_status_idx ON orders (venue, status);
CREATE INDEX orders_symbol_idx ON orders (symbol);
CREATE INDEX orders_created_at_idx ON orders (created_at);

CREATE TABLE order_events (
    id         INTEGER PRIMARY KEY,
    order_id   INTEGER NOT NULL REFERENCES orders (id),
    kind       TEXT    NOT NULL,
    status     TEXT    NOT NULL CHECK (status IN (
        'pending_new', 'new', 'partially_filled', 'filled', 'pending_cancel', 'canceled',
        'rejected', 'expired', 'unknown')),
    detail     TEXT    NOT NULL CHECK (json_valid(detail)),
    created_at INTEGER NOT NULL
) STRICT;

CREATE INDEX order_events_order_id_idx ON order_events (order_id, id);

-- The audit trail is append-only.
CREATE TRIGGER order_events_no_update BEFORE UPDATE ON order_events
BEGIN
    SELECT RAISE(ABORT, 'order_events is append-only');
END;

CREATE TRIGGER order_events_no_delete BEFORE DELETE ON order_events
BEGIN
    SELECT RAISE(ABORT, 'order_events is append-only');
END;

CREATE TABLE fills (
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
    UNIQUE (venue, venue_symbol, trade_id)
) STRICT;

CREATE INDEX fills_order_id_idx ON fills (order_id);

CREATE TABLE idempotency_keys (
    key          TEXT    PRIMARY KEY,
    order_id     INTEGER NOT NULL REFERENCES orders (id),
    request_hash TEXT    NOT NULL,
    created_at   INTEGER NOT NULL
) STRICT;
