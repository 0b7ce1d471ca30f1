"""ccxt (binance class, REST) and ccxt pro (market and user-data WebSockets) against omsd-sim,
the clients built by `ccxt_clients` (reference §11.1 Recipe A), and Recipe B (sandbox mode).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import ccxt
import ccxt.pro
import pytest

from ccxt_clients import pro_client, rest_client
from support import (
    CCXT_SYMBOL,
    ORDER_QTY,
    QUOTE_ASSET,
    WAIT_S,
    Book,
    Deadline,
    Sim,
    assert_book_tracks_rest,
    crossing_buy_price,
    poll,
    poll_async,
    resting_buy_price,
    within,
)

T = TypeVar("T")
Order = dict[str, Any]
AMOUNT = float(ORDER_QTY)
WATCH_POLL_S = 0.5  # re-check the WebSocket cache at least this often while waiting


@pytest.fixture(scope="module")
def exchange(sim: Sim) -> ccxt.binance:
    return rest_client(sim)


@pytest.fixture
async def pro(sim: Sim) -> AsyncIterator[ccxt.pro.binance]:
    async with pro_client(sim) as client:
        yield client


def place_resting_buy(exchange: ccxt.binance, sim: Sim) -> Order:
    price = float(resting_buy_price(sim.rest))
    return exchange.create_order(CCXT_SYMBOL, "limit", "buy", AMOUNT, price)


def assert_filled(order: Order) -> None:
    assert order["status"] == "closed", order
    assert order["filled"] == pytest.approx(AMOUNT), order
    assert order["remaining"] == pytest.approx(0.0), order
    assert order["average"] and order["average"] > 0, order
    assert order["trades"], f"a FULL response carries its fills: {order}"


# ---- REST ---------------------------------------------------------------------------------


def test_load_markets_reads_exchange_info(exchange: ccxt.binance) -> None:
    market = exchange.market(CCXT_SYMBOL)
    assert market["id"] == "BTCUSDT"
    assert market["spot"] and market["active"], market
    assert market["precision"]["price"] == pytest.approx(0.01)
    assert market["precision"]["amount"] == pytest.approx(0.00001)
    assert market["limits"]["cost"]["min"] == pytest.approx(5.0)
    assert market["limits"]["amount"]["min"] == pytest.approx(0.00001)
    assert "ETH/USDT" in exchange.markets


def test_sandbox_recipe_loads_markets_and_balance(sim: Sim) -> None:
    """Recipe B: sandbox mode with `urls['test']` on the simulator skips /sapi by itself."""
    client = ccxt.binance(
        {"apiKey": sim.api_key, "secret": sim.api_secret, "options": {"fetchMarkets": {"types": ["spot"]}}}
    )
    client.urls["test"].update(
        {"public": f"{sim.rest}/api/v3", "private": f"{sim.rest}/api/v3", "v1": f"{sim.rest}/api/v1"}
    )
    client.set_sandbox_mode(True)
    assert client.load_markets()[CCXT_SYMBOL]["active"]
    assert client.fetch_balance()[QUOTE_ASSET]["free"] > 0


def test_fetch_order_book(exchange: ccxt.binance) -> None:
    book = exchange.fetch_order_book(CCXT_SYMBOL, limit=20)
    bids, asks = book["bids"], book["asks"]
    assert bids and asks, book
    assert [level[0] for level in bids] == sorted((level[0] for level in bids), reverse=True)
    assert [level[0] for level in asks] == sorted(level[0] for level in asks)
    assert bids[0][0] < asks[0][0]
    assert isinstance(book["nonce"], int)


def test_fetch_ticker_reads_24hr_ticker(exchange: ccxt.binance) -> None:
    ticker = exchange.fetch_ticker(CCXT_SYMBOL)
    assert ticker["symbol"] == CCXT_SYMBOL
    assert ticker["bid"] and ticker["ask"] and ticker["bid"] < ticker["ask"], ticker
    assert ticker["last"] and ticker["last"] > 0, ticker
    assert ticker["high"] >= ticker["low"] > 0, ticker
    assert ticker["timestamp"], ticker


def test_fetch_trades_reads_agg_trades_and_trades(exchange: ccxt.binance) -> None:
    # The simulated market's takers trade a few times a second; wait for the first prints.
    trades = poll(lambda: exchange.fetch_trades(CCXT_SYMBOL, limit=50) or None, Deadline(WAIT_S))
    assert trades, "no public trades within the deadline"
    for trade in trades:
        assert trade["symbol"] == CCXT_SYMBOL
        assert trade["price"] > 0 and trade["amount"] > 0, trade
        assert trade["side"] in ("buy", "sell"), trade
    timestamps = [trade["timestamp"] for trade in trades]
    assert timestamps == sorted(timestamps)
    recent = exchange.fetch_trades(CCXT_SYMBOL, limit=50, params={"fetchTradesMethod": "publicGetTrades"})
    assert recent and all(trade["price"] > 0 for trade in recent), "GET /api/v3/trades"


def test_fetch_balance(exchange: ccxt.binance) -> None:
    balance = exchange.fetch_balance()
    usdt = balance[QUOTE_ASSET]
    assert usdt["free"] > 0, usdt
    assert usdt["total"] == pytest.approx(usdt["free"] + usdt["used"])


def test_resting_limit_order_fetch_and_cancel(exchange: ccxt.binance, sim: Sim) -> None:
    order = place_resting_buy(exchange, sim)
    assert order["status"] == "open" and order["filled"] == 0, order
    assert order["clientOrderId"], order

    fetched = exchange.fetch_order(order["id"], CCXT_SYMBOL)
    assert (fetched["id"], fetched["status"]) == (order["id"], "open")
    assert fetched["clientOrderId"] == order["clientOrderId"]
    assert fetched["price"] == order["price"] and fetched["amount"] == pytest.approx(AMOUNT)
    assert order["id"] in {o["id"] for o in exchange.fetch_open_orders(CCXT_SYMBOL)}
    assert exchange.fetch_balance()[QUOTE_ASSET]["used"] >= order["price"] * AMOUNT

    canceled = exchange.cancel_order(order["id"], CCXT_SYMBOL)
    assert (canceled["id"], canceled["status"]) == (order["id"], "canceled")
    assert exchange.fetch_order(order["id"], CCXT_SYMBOL)["status"] == "canceled"
    assert order["id"] not in {o["id"] for o in exchange.fetch_open_orders(CCXT_SYMBOL)}
    assert order["id"] in {o["id"] for o in exchange.fetch_orders(CCXT_SYMBOL)}


def test_cancel_and_fetch_of_unknown_orders_raise_order_not_found(exchange: ccxt.binance, sim: Sim) -> None:
    order = place_resting_buy(exchange, sim)
    exchange.cancel_order(order["id"], CCXT_SYMBOL)
    with pytest.raises(ccxt.OrderNotFound):  # -2011 Unknown order sent.
        exchange.cancel_order(order["id"], CCXT_SYMBOL)
    with pytest.raises(ccxt.OrderNotFound):  # -2013 Order does not exist.
        exchange.fetch_order("999999999", CCXT_SYMBOL)


def test_crossing_limit_order_fills(exchange: ccxt.binance, sim: Sim) -> None:
    price = float(crossing_buy_price(sim.rest))
    order = exchange.create_order(CCXT_SYMBOL, "limit", "buy", AMOUNT, price)
    assert_filled(order)
    assert order["average"] <= price
    assert exchange.fetch_order(order["id"], CCXT_SYMBOL)["status"] == "closed"


def test_market_orders_fill(exchange: ccxt.binance) -> None:
    bought = exchange.create_order(CCXT_SYMBOL, "market", "buy", AMOUNT)
    assert_filled(bought)
    sold = exchange.create_order(CCXT_SYMBOL, "market", "sell", AMOUNT)
    assert_filled(sold)
    assert sold["fee"] and sold["fee"]["currency"] == QUOTE_ASSET, "commission is in the asset received"


def test_fetch_my_trades_lists_the_fills(exchange: ccxt.binance) -> None:
    order = exchange.create_order(CCXT_SYMBOL, "market", "buy", AMOUNT)
    assert_filled(order)
    mine = [trade for trade in exchange.fetch_my_trades(CCXT_SYMBOL) if trade["order"] == order["id"]]
    assert mine, f"myTrades has no trade of order {order['id']}"
    assert sum(trade["amount"] for trade in mine) == pytest.approx(AMOUNT)
    assert all(trade["side"] == "buy" and trade["takerOrMaker"] == "taker" for trade in mine), mine


# ---- WebSockets (ccxt pro) ----------------------------------------------------------------


def ccxt_view(book: Any) -> Book:
    return Book.from_levels(book["nonce"], book["bids"], book["asks"])


async def test_watch_order_book_agrees_with_rest_depth(pro: ccxt.pro.binance, sim: Sim) -> None:
    """ccxt pro keeps the book from `btcusdt@depth@100ms` plus a REST snapshot, checking
    `U == previous u + 1` on every event; it must equal REST depth at the same update ID,
    also while one of our orders adds a level and its cancel deletes it."""
    deadline = Deadline(WAIT_S)

    async def next_view() -> Book:
        return ccxt_view(await pro.watch_order_book(CCXT_SYMBOL))

    await assert_book_tracks_rest(
        sim.rest,
        await within(next_view(), deadline, "order book from watch_order_book"),
        next_view,
        deadline,
        place_buy=lambda price: pro.create_order(CCXT_SYMBOL, "limit", "buy", AMOUNT, float(price)),
        cancel=lambda order: pro.cancel_order(order["id"], CCXT_SYMBOL),
    )


@pytest.fixture
async def user_stream(pro: ccxt.pro.binance) -> AsyncIterator[ccxt.pro.binance]:
    """ccxt pro with its user-data subscription open, started the way ccxt users start it:
    `watch_orders` sends `userDataStream.subscribe.signature` and, once the venue confirms,
    creates the balance cache that `outboundAccountPosition` events update. (ccxt 4.5.90
    stops reading the connection if such an event arrives before that cache exists.)"""
    watcher = asyncio.ensure_future(pro.watch_orders(CCXT_SYMBOL))

    async def subscribed() -> bool | None:
        assert not watcher.done() or watcher.cancelled(), watcher.exception() or watcher.result()
        return True if "spot" in pro.balance else None

    try:
        assert await poll_async(subscribed, Deadline(WAIT_S), interval_s=0.01), (
            "user-data subscription not confirmed"
        )
        yield pro
    finally:
        watcher.cancel()


async def wait_for_cache(
    watch: Callable[[], Awaitable[object]], probe: Callable[[], T | None], deadline: Deadline, what: str
) -> T:
    """Wait until `probe` finds what it needs in ccxt pro's user-data caches, re-reading them
    between short watches so an update that lands between two watches is not missed."""
    while (found := probe()) is None:
        assert not deadline.expired, f"no {what} on the user stream within {deadline.seconds:.0f}s"
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(watch(), min(WATCH_POLL_S, deadline.remaining()))
    return found


async def wait_for_ws_order(pro: ccxt.pro.binance, order_id: str, status: str, deadline: Deadline) -> Order:
    """The order as executionReports left it, once they moved it to `status`."""

    def probe() -> Order | None:
        order = next((order for order in pro.orders or [] if order["id"] == order_id), None)
        return order if order is not None and order["status"] == status else None

    return await wait_for_cache(
        lambda: pro.watch_orders(CCXT_SYMBOL), probe, deadline, f"{status} order {order_id}"
    )


async def test_watch_orders_receives_execution_reports(user_stream: ccxt.pro.binance, sim: Sim) -> None:
    """`userDataStream.subscribe.signature` on the WebSocket API, then the executionReports
    of a resting order (NEW, CANCELED with the order's own client ID) and of a taker fill."""
    pro, deadline = user_stream, Deadline(WAIT_S)
    price = float(await asyncio.to_thread(resting_buy_price, sim.rest))
    placed = await pro.create_order(CCXT_SYMBOL, "limit", "buy", AMOUNT, price)
    opened = await wait_for_ws_order(pro, placed["id"], "open", deadline)
    assert opened["clientOrderId"] == placed["clientOrderId"]
    assert opened["price"] == pytest.approx(price) and opened["amount"] == pytest.approx(AMOUNT)

    await pro.cancel_order(placed["id"], CCXT_SYMBOL)
    canceled = await wait_for_ws_order(pro, placed["id"], "canceled", deadline)
    assert canceled["clientOrderId"] == placed["clientOrderId"], "C carries the canceled order's client ID"

    taker = await pro.create_order(CCXT_SYMBOL, "market", "buy", AMOUNT)
    filled = await wait_for_ws_order(pro, taker["id"], "closed", deadline)
    assert filled["filled"] == pytest.approx(AMOUNT), filled


async def test_watch_my_trades_receives_fills(user_stream: ccxt.pro.binance) -> None:
    pro, deadline = user_stream, Deadline(WAIT_S)
    order = await pro.create_order(CCXT_SYMBOL, "market", "sell", AMOUNT)
    assert_filled(order)

    def fills() -> list[dict[str, Any]] | None:
        mine = [trade for trade in pro.myTrades or [] if trade["order"] == order["id"]]
        return mine if sum(trade["amount"] for trade in mine) >= AMOUNT * 0.999999 else None

    mine = await wait_for_cache(
        lambda: pro.watch_my_trades(CCXT_SYMBOL), fills, deadline, f"fills of {order['id']}"
    )
    assert {trade["id"] for trade in mine} == {trade["id"] for trade in order["trades"]}, mine
    assert all(trade["side"] == "sell" and trade["price"] > 0 for trade in mine), mine
    assert all(trade["fee"]["currency"] == QUOTE_ASSET for trade in mine), mine
