"""python-binance (Client, AsyncClient, DepthCacheManager, user socket) against omsd-sim.

The clients are pointed at the simulator as reference §11.2 describes: subclasses override
`API_URL` (REST, `<host>/api` + `/v3/<path>`), `WS_API_URL` (the user socket subscribes
through the WebSocket API) and the socket manager's `STREAM_URL` (`ws/<stream>`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from binance import AsyncClient, BinanceSocketManager, Client, DepthCacheManager
from binance.exceptions import BinanceAPIException

from support import (
    BASE_ASSET,
    ORDER_QTY,
    QUOTE_ASSET,
    SYMBOL,
    WAIT_S,
    Book,
    Deadline,
    Sim,
    assert_book_tracks_rest,
    crossing_buy_price,
    poll,
    resting_buy_price,
    within,
)

Payload = dict[str, Any]
QTY = str(ORDER_QTY)


def sim_classes(sim: Sim) -> tuple[type[Client], type[AsyncClient], type[BinanceSocketManager]]:
    """Client, AsyncClient and socket manager classes bound to this simulator's URLs."""
    urls = {"API_URL": f"{sim.rest}/api", "WS_API_URL": sim.ws_api}
    return (
        type("SimClient", (Client,), urls),
        type("SimAsyncClient", (AsyncClient,), urls),
        type("SimSocketManager", (BinanceSocketManager,), {"STREAM_URL": f"{sim.stream}/"}),
    )


@pytest.fixture(scope="module")
def client(sim: Sim) -> Iterator[Client]:
    sim_client, _, _ = sim_classes(sim)
    rest = sim_client(sim.api_key, sim.api_secret)  # the constructor pings /api/v3/ping
    yield rest
    rest.close_connection()


@pytest.fixture
async def async_client(sim: Sim) -> AsyncIterator[AsyncClient]:
    _, sim_async_client, _ = sim_classes(sim)
    rest = await sim_async_client.create(sim.api_key, sim.api_secret)  # pings and reads /time
    try:
        yield rest
    finally:
        await rest.close_connection()


def api_error_code(call: Callable[[], object]) -> int:
    with pytest.raises(BinanceAPIException) as raised:
        call()
    return raised.value.code


def assert_filled(order: Payload, commission_asset: str) -> None:
    assert order["status"] == "FILLED", order
    assert Decimal(order["executedQty"]) == ORDER_QTY, order
    fills = order["fills"]
    assert fills and sum(Decimal(fill["qty"]) for fill in fills) == ORDER_QTY, order
    quote = sum(Decimal(fill["price"]) * Decimal(fill["qty"]) for fill in fills)
    assert Decimal(order["cummulativeQuoteQty"]) == quote, order
    assert all(fill["commissionAsset"] == commission_asset for fill in fills), fills


# ---- REST ---------------------------------------------------------------------------------


def test_exchange_info_and_symbol_info(client: Client) -> None:
    assert SYMBOL in {symbol["symbol"] for symbol in client.get_exchange_info()["symbols"]}
    info = client.get_symbol_info(SYMBOL)
    assert info and info["status"] == "TRADING", info
    filters = {f["filterType"]: f for f in info["filters"]}
    assert Decimal(filters["PRICE_FILTER"]["tickSize"]) == Decimal("0.01")
    assert Decimal(filters["LOT_SIZE"]["stepSize"]) == Decimal("0.00001")


def test_order_book(client: Client) -> None:
    book = client.get_order_book(symbol=SYMBOL, limit=10)
    assert isinstance(book["lastUpdateId"], int)
    view = Book.from_levels(book["lastUpdateId"], book["bids"], book["asks"])
    assert 0 < len(view.bids) <= 10 and 0 < len(view.asks) <= 10, book
    assert [level[0] for level in view.bids] == [Decimal(level[0]) for level in book["bids"]], (
        "bids best first"
    )
    assert [level[0] for level in view.asks] == [Decimal(level[0]) for level in book["asks"]], (
        "asks best first"
    )
    assert view.bids[0][0] < view.asks[0][0]


def test_24hr_ticker(client: Client) -> None:
    ticker = client.get_ticker(symbol=SYMBOL)
    assert ticker["symbol"] == SYMBOL
    assert Decimal(ticker["bidPrice"]) < Decimal(ticker["askPrice"]), ticker
    assert Decimal(ticker["highPrice"]) >= Decimal(ticker["lowPrice"]) > 0, ticker
    assert Decimal(ticker["lastPrice"]) > 0 and isinstance(ticker["count"], int), ticker


def test_recent_and_aggregate_trades(client: Client) -> None:
    trades = poll(lambda: client.get_recent_trades(symbol=SYMBOL, limit=50) or None, Deadline(WAIT_S))
    assert trades, "no public trades within the deadline"
    assert all(Decimal(t["price"]) > 0 and Decimal(t["qty"]) > 0 for t in trades), trades
    assert [t["id"] for t in trades] == sorted(t["id"] for t in trades)
    aggregated = client.get_aggregate_trades(symbol=SYMBOL, limit=50)
    assert aggregated, "aggTrades is empty although trades exist"
    for agg in aggregated:
        assert agg["f"] <= agg["l"] and Decimal(agg["q"]) > 0 and isinstance(agg["m"], bool), agg


def test_account_balances(client: Client) -> None:
    account = client.get_account()
    assert account["canTrade"] is True
    usdt = client.get_asset_balance(asset=QUOTE_ASSET)
    assert usdt and Decimal(usdt["free"]) > 0 and Decimal(usdt["locked"]) >= 0, usdt


def test_resting_limit_order_get_and_cancel(client: Client, sim: Sim) -> None:
    price = str(resting_buy_price(sim.rest))
    placed = client.order_limit_buy(symbol=SYMBOL, quantity=QTY, price=price)
    assert placed["status"] == "NEW" and Decimal(placed["executedQty"]) == 0, placed
    assert placed["fills"] == [] and placed["clientOrderId"].startswith("x-HNA2TXFJ"), placed
    order_id = placed["orderId"]

    fetched = client.get_order(symbol=SYMBOL, orderId=order_id)
    assert (fetched["status"], fetched["clientOrderId"]) == ("NEW", placed["clientOrderId"])
    assert Decimal(fetched["price"]) == Decimal(price) and Decimal(fetched["origQty"]) == ORDER_QTY
    assert order_id in {o["orderId"] for o in client.get_open_orders(symbol=SYMBOL)}

    canceled = client.cancel_order(symbol=SYMBOL, orderId=order_id)
    assert canceled["status"] == "CANCELED", canceled
    assert canceled["origClientOrderId"] == placed["clientOrderId"], "origClientOrderId is the order's own ID"
    assert client.get_order(symbol=SYMBOL, orderId=order_id)["status"] == "CANCELED"
    assert order_id not in {o["orderId"] for o in client.get_open_orders(symbol=SYMBOL)}
    assert order_id in {o["orderId"] for o in client.get_all_orders(symbol=SYMBOL)}

    assert api_error_code(lambda: client.cancel_order(symbol=SYMBOL, orderId=order_id)) == -2011
    assert api_error_code(lambda: client.get_order(symbol=SYMBOL, orderId=999999999)) == -2013


def test_test_order_is_validated_but_not_placed(client: Client, sim: Sim) -> None:
    before = len(client.get_open_orders(symbol=SYMBOL))
    price = str(resting_buy_price(sim.rest))
    result = client.create_test_order(
        symbol=SYMBOL, side="BUY", type="LIMIT", timeInForce="GTC", quantity=QTY, price=price
    )
    assert result == {}
    assert len(client.get_open_orders(symbol=SYMBOL)) == before


def test_crossing_limit_order_fills(client: Client, sim: Sim) -> None:
    price = crossing_buy_price(sim.rest)
    order = client.order_limit_buy(symbol=SYMBOL, quantity=QTY, price=str(price))
    assert_filled(order, commission_asset=BASE_ASSET)
    assert all(Decimal(fill["price"]) <= price for fill in order["fills"]), order


def test_market_orders_fill(client: Client) -> None:
    assert_filled(client.order_market_buy(symbol=SYMBOL, quantity=QTY), commission_asset=BASE_ASSET)
    assert_filled(client.order_market_sell(symbol=SYMBOL, quantity=QTY), commission_asset=QUOTE_ASSET)


def test_my_trades_lists_the_fills(client: Client) -> None:
    order = client.order_market_sell(symbol=SYMBOL, quantity=QTY)
    assert_filled(order, commission_asset=QUOTE_ASSET)
    mine = [t for t in client.get_my_trades(symbol=SYMBOL) if t["orderId"] == order["orderId"]]
    assert sum(Decimal(t["qty"]) for t in mine) == ORDER_QTY, mine
    assert {t["id"] for t in mine} == {fill["tradeId"] for fill in order["fills"]}
    assert all(t["isBuyer"] is False and t["isMaker"] is False for t in mine), mine


# ---- WebSockets ---------------------------------------------------------------------------


async def test_depth_cache_agrees_with_rest_depth(async_client: AsyncClient, sim: Sim) -> None:
    """DepthCacheManager on `btcusdt@depth@100ms`: it requires `U == lastUpdateId + 1` on
    every event (else it starts over) and deletes a level only on quantity "0.00000000"."""
    _, _, socket_manager = sim_classes(sim)
    deadline = Deadline(WAIT_S)
    manager = DepthCacheManager(async_client, SYMBOL, bm=socket_manager(async_client), ws_interval=100)
    async with manager:

        async def next_view() -> Book:
            cache = await manager.recv()
            assert not isinstance(cache, dict), f"depth socket error: {cache}"
            # python-binance keeps the cache's update ID only in this private attribute.
            return Book.from_levels(manager._last_update_id, cache.get_bids(), cache.get_asks())

        await assert_book_tracks_rest(
            sim.rest,
            await within(next_view(), deadline, "depth cache from DepthCacheManager"),
            next_view,
            deadline,
            place_buy=lambda price: async_client.order_limit_buy(
                symbol=SYMBOL, quantity=QTY, price=str(price)
            ),
            cancel=lambda order: async_client.cancel_order(symbol=SYMBOL, orderId=order["orderId"]),
        )


async def next_event(stream: Any, wanted: Callable[[Payload], bool], deadline: Deadline) -> Payload:
    """The next user-data event `wanted` accepts, skipping others."""
    while True:
        event = await within(stream.recv(), deadline, "wanted user-data event")
        assert event.get("e") != "error", f"user socket error: {event}"
        if wanted(event):
            return event


def report_of(order_id: int, execution_type: str) -> Callable[[Payload], bool]:
    return lambda e: (
        e.get("e") == "executionReport" and e.get("i") == order_id and e.get("x") == execution_type
    )


async def test_user_socket_receives_execution_reports(async_client: AsyncClient, sim: Sim) -> None:
    """The user socket subscribes with `userDataStream.subscribe.signature` and must see
    NEW, then CANCELED (c = the cancel's ID, C = the order's), then a TRADE for a taker."""
    _, _, socket_manager = sim_classes(sim)
    deadline = Deadline(WAIT_S)
    async with socket_manager(async_client).user_socket() as stream:
        price = str(await asyncio.to_thread(resting_buy_price, sim.rest))
        placed = await async_client.order_limit_buy(symbol=SYMBOL, quantity=QTY, price=price)
        new = await next_event(stream, report_of(placed["orderId"], "NEW"), deadline)
        assert (new["X"], new["c"], new["S"], new["o"]) == ("NEW", placed["clientOrderId"], "BUY", "LIMIT"), (
            new
        )
        assert Decimal(new["p"]) == Decimal(price) and Decimal(new["q"]) == ORDER_QTY and new["C"] == "", new

        canceled = await async_client.cancel_order(symbol=SYMBOL, orderId=placed["orderId"])
        report = await next_event(stream, report_of(placed["orderId"], "CANCELED"), deadline)
        assert report["X"] == "CANCELED", report
        assert (report["c"], report["C"]) == (canceled["clientOrderId"], placed["clientOrderId"]), report

        taker = await async_client.order_market_buy(symbol=SYMBOL, quantity=QTY)
        trade = await next_event(stream, report_of(taker["orderId"], "TRADE"), deadline)
        assert trade["t"] in {fill["tradeId"] for fill in taker["fills"]}, trade
        assert Decimal(trade["l"]) > 0 and Decimal(trade["L"]) > 0 and trade["N"] == BASE_ASSET, trade
        position = await next_event(stream, lambda e: e.get("e") == "outboundAccountPosition", deadline)
        assert {balance["a"] for balance in position["B"]} >= {BASE_ASSET, QUOTE_ASSET}, position
