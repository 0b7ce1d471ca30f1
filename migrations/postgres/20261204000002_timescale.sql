-- TimescaleDB, where the server has it: trades and book snapshots become hypertables on time
-- (one-day chunks) with compression and retention policies (omsd replaces their intervals at
-- start-up from `[market_data]`), and the one-minute candles become a continuous aggregate
-- over trades, with real-time aggregation (fresh trades show at once) and a refresh policy.
-- The aggregate keeps the rollup table's name and columns, so candles are read the same way.
--
-- Without the extension (or when it is available but cannot be loaded, for example because it
-- is not in shared_preload_libraries) this migration changes nothing: the plain tables of the
-- previous migration stay, with their BRIN indexes, and the market-data writer keeps the
-- candle rollup itself.
--
-- Open and close are the first and last trade by trade id, which venues number in time order
-- within a symbol (omsd relies on that to find missed trades, too).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') THEN
        RAISE NOTICE 'timescaledb is not available: market data stays in plain tables';
        RETURN;
    END IF;
    BEGIN
        CREATE EXTENSION IF NOT EXISTS timescaledb WITH SCHEMA public;
    EXCEPTION WHEN OTHERS THEN
        RAISE NOTICE 'timescaledb cannot be loaded (%): market data stays in plain tables',
            SQLERRM;
        RETURN;
    END;

    PERFORM create_hypertable('trades', by_range('traded_at', INTERVAL '1 day'),
        migrate_data => true);
    PERFORM create_hypertable('book_snapshots', by_range('taken_at', INTERVAL '1 day'),
        migrate_data => true);
    ALTER TABLE trades SET (timescaledb.compress,
        timescaledb.compress_segmentby = 'venue, venue_symbol',
        timescaledb.compress_orderby = 'traded_at DESC, trade_id DESC');
    ALTER TABLE book_snapshots SET (timescaledb.compress,
        timescaledb.compress_segmentby = 'venue, venue_symbol',
        timescaledb.compress_orderby = 'taken_at DESC');
    PERFORM add_compression_policy('trades', INTERVAL '7 days');
    PERFORM add_compression_policy('book_snapshots', INTERVAL '7 days');
    PERFORM add_retention_policy('trades', INTERVAL '90 days');
    PERFORM add_retention_policy('book_snapshots', INTERVAL '30 days');

    DROP TABLE candles_1m;
    CREATE MATERIALIZED VIEW candles_1m
        WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
    SELECT venue,
           venue_symbol,
           time_bucket(INTERVAL '1 minute', traded_at) AS bucket,
           first(price, trade_id::NUMERIC) AS open,
           max(price) AS high,
           min(price) AS low,
           last(price, trade_id::NUMERIC) AS close,
           sum(quantity) AS volume,
           count(*) AS trades,
           min(traded_at) AS first_at,
           first(trade_id, trade_id::NUMERIC) AS first_trade_id,
           max(traded_at) AS last_at,
           last(trade_id, trade_id::NUMERIC) AS last_trade_id
    FROM trades
    GROUP BY venue, venue_symbol, bucket
    WITH NO DATA;
    -- From the first trade: a window starting later would leave older minutes (trades stored
    -- before this migration, or fetched late) out of the aggregate for good. A refresh only
    -- recomputes the minutes that changed, so the open start costs nothing in steady state.
    PERFORM add_continuous_aggregate_policy('candles_1m',
        start_offset => NULL,
        end_offset => INTERVAL '1 minute',
        schedule_interval => INTERVAL '1 minute');
END
$$;
