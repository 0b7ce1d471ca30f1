"""ccxt pro market-statistics watchers against omsd-sim: `watch_ticker` (`<symbol>@ticker`),
`watch_ohlcv` (`<symbol>@kline_<interval>`) and `watch_trades` (`<symbol>@trade`), each checked
against the simulator's REST view of the same market; and ccxt's `edit_order`
(`order/cancelReplace`)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import ccxt.pro
import pytest

from ccxt_clients import pro_client, rest_client
from support import CCXT_SYMBOL, ORDER_QTY, SYMBOL, WAIT_S, Deadline, Sim, resting_buy_price, rest_get, within


@pytest.fixture
async def pro(sim: Sim) -> AsyncIterator[ccxt.pro.binance]:
    async with pro_client(sim) as client:
        yield client


async def test_watch_ticker_reads_the_24hr_ticker_stream(pro: ccxt.pro.binance, sim: Sim) -> None:
    ticker = await within(pro.watch_ticker(CCXT_SYMBOL), Deadline(WAIT_S), "a ticker event")
    assert ticker["symbol"] == CCXT_SYMBOL
    # ccxt 4.5.90 subscribes `<symbol>@miniTicker` for watch_ticker; the full `@ticker` adds
    # the book's best prices.
    assert ticker["info"]["e"] in ("24hrMiniTicker", "24hrTicker"), ticker["info"]
    assert ticker["last"] and ticker["last"] > 0, ticker
    assert ticker["high"] >= ticker["low"] > 0, ticker
    if ticker["info"]["e"] == "24hrTicker":
        assert ticker["bid"] and ticker["ask"] and ticker["bid"] < ticker["ask"], ticker
    rest = rest_get(sim.rest, "/api/v3/ticker/24hr", symbol=SYMBOL)
    assert ticker["open"] == pytest.approx(float(rest["openPrice"]), rel=0.05), (ticker, rest)


async def test_watch_ohlcv_reads_kline_streams(pro: ccxt.pro.binance, sim: Sim) -> None:
    for timeframe, length_ms in (("1m", 60_000), ("1h", 3_600_000)):
        candles = await within(pro.watch_ohlcv(CCXT_SYMBOL, timeframe), Deadline(WAIT_S), f"a {timeframe} kline")
        assert candles, timeframe
        opened, o, h, l, c, v = candles[-1]
        assert opened % length_ms == 0, candles[-1]
        assert 0 < l <= min(o, c) and max(o, c) <= h, candles[-1]
        assert v >= 0
    rest = rest_get(sim.rest, "/api/v3/klines", symbol=SYMBOL, interval="1h", limit=1)
    assert candles[-1][0] == rest[-1][0], (candles[-1], rest[-1])


async def test_watch_trades_reads_the_trade_stream(pro: ccxt.pro.binance, sim: Sim) -> None:
    trades = await within(pro.watch_trades(CCXT_SYMBOL), Deadline(WAIT_S), "a public trade")
    assert trades, "trades"
    trade = trades[-1]
    assert trade["symbol"] == CCXT_SYMBOL and trade["price"] > 0 and trade["amount"] > 0, trade
    recent = rest_get(sim.rest, "/api/v3/trades", symbol=SYMBOL, limit=1000)
    assert int(trade["id"]) in {entry["id"] for entry in recent}, trade


def test_edit_order_cancels_and_replaces(sim: Sim) -> None:
    """ccxt's `edit_order` on spot is `POST /api/v3/order/cancelReplace` (STOP_ON_FAILURE)."""
    exchange = rest_client(sim)
    price = float(resting_buy_price(sim.rest))
    placed = exchange.create_order(CCXT_SYMBOL, "limit", "buy", float(ORDER_QTY), price)
    edited = exchange.edit_order(placed["id"], CCXT_SYMBOL, "limit", "buy", float(ORDER_QTY), price - 1)
    assert edited["id"] != placed["id"] and edited["status"] == "open", edited
    assert edited["price"] == pytest.approx(price - 1), edited
    assert exchange.fetch_order(placed["id"], CCXT_SYMBOL)["status"] == "canceled"
    # A failed cancel stops the replace: 400 -2022 carrying the cancel's -2011 in `data`.
    with pytest.raises(ccxt.ExchangeError, match="-2022") as failed:
        exchange.edit_order(placed["id"], CCXT_SYMBOL, "limit", "buy", float(ORDER_QTY), price - 2)
    assert '"cancelResponse":{"code":-2011' in str(failed.value), failed.value
    exchange.cancel_order(edited["id"], CCXT_SYMBOL)
