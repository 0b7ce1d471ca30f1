-- Orders, their append-only audit trail, fills and idempotency keys (PostgreSQL).
--
-- Decimals are unconstrained NUMERIC (exact, scale kept as written); times are TIMESTAMPTZ.

CREATE TABLE orders (
    id               BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    venue            TEXT        NOT NULL,
    account          TEXT        NOT NULL,
    symbol           TEXT        NOT NULL,
    venue_symbol     TEXT        NOT NULL,
    client_order_id  TEXT        NOT NULL,
    venue_order_id   TEXT,
    side             TEXT        NOT NULL CHECK (side IN ('buy', 'sell')),
    order_type       TEXT        NOT NULL CHECK (order_type IN ('limit', 'market')),
    time_in_force    TEXT        NOT NULL CHECK (time_in_force IN ('gtc', 'ioc', 'fok')),
    quantity         NUMERIC     NOT NULL,
    price            NUMERIC,
    status           TEXT        NOT NULL CHECK (status IN (
        'pending_new', 'new', 'partially_filled', 'filled', 'pending_cancel', 'canceled',
        'rejected', 'expired', 'unknown')),
    filled_quantity  NUMERIC     NOT NULL,
    cumulative_quote NUMERIC     NOT NULL,
    reject_reason    TEXT,
    idempotency_key  TEXT        NOT NULL,
    request_hash     TEXT        NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    UNIQUE (venue, account, client_order_id)
);

CREATE INDEX orders_venue_status_idx ON orders (venue, status);
CREATE INDEX orders_symbol_idx ON orders (symbol);
CREATE INDEX orders_created_at_idx ON orders (created_at);

CREATE TABLE order_events (
    id         BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id   BIGINT      NOT NULL REFERENCES orders (id),
    kind       TEXT        NOT NULL,
    status     TEXT        NOT NULL CHECK (status IN (
        'pending_new', 'new', 'partially_filled', 'filled', 'pending_cancel', 'canceled',
        'rejected', 'expired', 'unknown')),
    detail     JSONB       NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX order_events_order_id_idx ON order_events (order_id, id);

-- The audit trail is append-only.
CREATE FUNCTION order_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'order_events is append-only';
END;
$$;

CREATE TRIGGER order_events_append_only BEFORE UPDATE OR DELETE ON order_events
    FOR EACH ROW EXECUTE FUNCTION order_events_append_only();

CREATE TABLE fills (
    id           BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id     BIGINT      NOT NULL REFERENCES orders (id),
    venue        TEXT        NOT NULL,
    venue_symbol TEXT        NOT NULL,
    trade_id     TEXT        NOT NULL,
    side         TEXT        NOT NULL CHECK (side IN ('buy', 'sell')),
    price        NUMERIC     NOT NULL,
    quantity     NUMERIC     NOT NULL,
    fee          NUMERIC     NOT NULL,
    fee_asset    TEXT,
    is_maker     BOOLEAN     NOT NULL,
    traded_at    TIMESTAMPTZ NOT NULL,
    UNIQUE (venue, venue_symbol, trade_id)
);

CREATE INDEX fills_order_id_idx ON fills (order_id);

CREATE TABLE idempotency_keys (
    key          TEXT        PRIMARY KEY,
    order_id     BIGINT      NOT NULL REFERENCES orders (id),
    request_hash TEXT        NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL
);
