"""binance-sdk-spot (the current official SDK: REST, WebSocket API, market streams) against
omsd-sim, pointed at it with `base_path` / `stream_url` as reference §11.4 describes.

The SDK validates every response against pydantic models and, on a mismatch, only logs a
warning and falls back to a relaxed model or the raw payload. Those warnings fail the tests
here: a field the simulator spells or types unlike Binance is a simulator bug.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from binance_common.configuration import (
    ConfigurationRestAPI,
    ConfigurationWebSocketAPI,
    ConfigurationWebSocketStreams,
)
from binance_common.errors import BadRequestError
from binance_sdk_spot.rest_api import SpotRestAPI
from binance_sdk_spot.rest_api.models import (
    NewOrderSideEnum,
    NewOrderTimeInForceEnum,
    NewOrderTypeEnum,
    OrderTestSideEnum,
    OrderTestTimeInForceEnum,
    OrderTestTypeEnum,
)
from binance_sdk_spot.spot import Spot
from binance_sdk_spot.websocket_api import SpotWebSocketAPI
from binance_sdk_spot.websocket_api.models import (
    ExecutionReport,
    OrderPlaceSideEnum,
    OrderPlaceTimeInForceEnum,
    OrderPlaceTypeEnum,
    OutboundAccountPosition,
)
from binance_sdk_spot.websocket_streams import SpotWebSocketStreams

from support import (
    BASE_ASSET,
    ORDER_QTY,
    QUOTE_ASSET,
    SYMBOL,
    WAIT_S,
    Book,
    Deadline,
    DepthEvent,
    LocalBook,
    Sim,
    assert_book_tracks_rest,
    crossing_buy_price,
    poll,
    resting_buy_price,
    to_levels,
    within,
)

QTY = float(ORDER_QTY)
MODEL_MISMATCH_LOGS = ("did not match the declared types", "Failed to parse", "Error in callback")


def make_spot(sim: Sim) -> Spot:
    return Spot(
        config_rest_api=ConfigurationRestAPI(
            api_key=sim.api_key, api_secret=sim.api_secret, base_path=sim.rest
        ),
        config_ws_api=ConfigurationWebSocketAPI(
            api_key=sim.api_key, api_secret=sim.api_secret, stream_url=sim.ws_api
        ),
        config_ws_streams=ConfigurationWebSocketStreams(stream_url=sim.stream),
    )


@pytest.fixture(autouse=True)
def responses_match_the_sdk_models(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    yield
    mismatches = [
        r.getMessage() for r in caplog.records if any(s in r.getMessage() for s in MODEL_MISMATCH_LOGS)
    ]
    assert not mismatches, "responses the SDK's models reject:\n" + "\n".join(mismatches)


@pytest.fixture(scope="module")
def rest(sim: Sim) -> SpotRestAPI:
    return make_spot(sim).rest_api


@pytest.fixture
async def ws_api(sim: Sim) -> AsyncIterator[SpotWebSocketAPI]:
    connection = await make_spot(sim).websocket_api.create_connection()
    try:
        yield connection
    finally:
        await connection.close_connection(close_session=True)


@pytest.fixture
async def streams(sim: Sim) -> AsyncIterator[SpotWebSocketStreams]:
    connection = await make_spot(sim).websocket_streams.create_connection()
    try:
        yield connection
    finally:
        await connection.close_connection(close_session=True)


def new_limit_buy(rest: SpotRestAPI, price: Decimal) -> Any:
    return rest.new_order(
        symbol=SYMBOL,
        side=NewOrderSideEnum.BUY,
        type=NewOrderTypeEnum.LIMIT,
        time_in_force=NewOrderTimeInForceEnum.GTC,
        quantity=QTY,
        price=float(price),
    ).data()


def new_market(rest: SpotRestAPI, side: NewOrderSideEnum) -> Any:
    return rest.new_order(symbol=SYMBOL, side=side, type=NewOrderTypeEnum.MARKET, quantity=QTY).data()


def error_code(call: Callable[[], object]) -> int | None:
    with pytest.raises(BadRequestError) as raised:
        call()
    return raised.value.status_code  # the SDK puts Binance's "code" here


def assert_filled(order: Any, commission_asset: str) -> None:
    assert order.status == "FILLED" and Decimal(order.executed_qty) == ORDER_QTY, order
    assert order.fills and sum(Decimal(fill.qty) for fill in order.fills) == ORDER_QTY, order
    assert all(fill.commission_asset == commission_asset for fill in order.fills), order


# ---- REST ---------------------------------------------------------------------------------


def test_exchange_info(rest: SpotRestAPI) -> None:
    response = rest.exchange_info(symbol=SYMBOL)
    # Parsed from the X-MBX-USED-WEIGHT-1M header of every response.
    weights = [
        r
        for r in response.rate_limits
        if (r.rateLimitType, r.interval, r.intervalNum) == ("REQUEST_WEIGHT", "MINUTE", 1)
    ]
    assert weights and weights[0].count > 0, response.rate_limits
    info = response.data()
    (symbol,) = info.symbols
    assert (symbol.symbol, symbol.status, symbol.base_asset, symbol.quote_asset) == (
        SYMBOL,
        "TRADING",
        BASE_ASSET,
        QUOTE_ASSET,
    )
    filters = {f.actual_instance.filter_type: f.actual_instance for f in symbol.filters}
    assert Decimal(filters["PRICE_FILTER"].tick_size) == Decimal("0.01")
    assert Decimal(filters["LOT_SIZE"].step_size) == Decimal("0.00001")
    assert {limit.rate_limit_type for limit in info.rate_limits} >= {"REQUEST_WEIGHT", "ORDERS"}


def test_depth(rest: SpotRestAPI) -> None:
    depth = rest.depth(symbol=SYMBOL, limit=10).data()
    book = Book.from_levels(depth.last_update_id, depth.bids, depth.asks)
    assert book.bids and book.asks and book.bids[0][0] < book.asks[0][0], depth
    assert to_levels(depth.bids) == book.bids and to_levels(depth.asks) == book.asks, "sorted best first"


def test_24hr_ticker(rest: SpotRestAPI) -> None:
    ticker = rest.ticker24hr(symbol=SYMBOL).data().actual_instance
    assert ticker.symbol == SYMBOL, ticker
    assert Decimal(ticker.bid_price) < Decimal(ticker.ask_price), ticker
    assert Decimal(ticker.high_price) >= Decimal(ticker.low_price) > 0, ticker
    assert ticker.count is not None and ticker.count >= 0, ticker


def test_recent_and_aggregate_trades(rest: SpotRestAPI) -> None:
    trades = poll(lambda: rest.get_trades(symbol=SYMBOL, limit=50).data() or None, Deadline(WAIT_S))
    assert trades, "no public trades within the deadline"
    assert all(Decimal(trade.price) > 0 and Decimal(trade.qty) > 0 for trade in trades), trades
    aggregated = rest.agg_trades(symbol=SYMBOL, limit=50).data()
    assert aggregated and all(agg.f <= agg.l for agg in aggregated), aggregated


def test_account(rest: SpotRestAPI) -> None:
    account = rest.get_account().data()
    balances = {balance.asset: balance for balance in account.balances}
    assert Decimal(balances[QUOTE_ASSET].free) > 0, balances
    assert account.can_trade is True


def test_resting_limit_order_get_and_cancel(rest: SpotRestAPI, sim: Sim) -> None:
    price = resting_buy_price(sim.rest)
    placed = new_limit_buy(rest, price)
    assert placed.status == "NEW" and placed.fills == [] and Decimal(placed.price) == price, placed

    fetched = rest.get_order(symbol=SYMBOL, order_id=placed.order_id).data()
    assert (fetched.status, fetched.client_order_id) == ("NEW", placed.client_order_id), fetched
    assert placed.order_id in {order.order_id for order in rest.get_open_orders(symbol=SYMBOL).data()}

    canceled = rest.delete_order(symbol=SYMBOL, order_id=placed.order_id).data()
    assert canceled.status == "CANCELED" and canceled.orig_client_order_id == placed.client_order_id, canceled
    assert rest.get_order(symbol=SYMBOL, order_id=placed.order_id).data().status == "CANCELED"
    assert placed.order_id not in {order.order_id for order in rest.get_open_orders(symbol=SYMBOL).data()}
    assert placed.order_id in {order.order_id for order in rest.all_orders(symbol=SYMBOL).data()}

    assert error_code(lambda: rest.delete_order(symbol=SYMBOL, order_id=placed.order_id)) == -2011
    assert error_code(lambda: rest.get_order(symbol=SYMBOL, order_id=999999999)) == -2013


def test_order_test_validates_without_placing(rest: SpotRestAPI, sim: Sim) -> None:
    response = rest.order_test(
        symbol=SYMBOL,
        side=OrderTestSideEnum.BUY,
        type=OrderTestTypeEnum.LIMIT,
        time_in_force=OrderTestTimeInForceEnum.GTC,
        quantity=QTY,
        price=float(resting_buy_price(sim.rest)),
    )
    assert response.status == 200


def test_crossing_limit_order_fills(rest: SpotRestAPI, sim: Sim) -> None:
    price = crossing_buy_price(sim.rest)
    order = new_limit_buy(rest, price)
    assert_filled(order, commission_asset=BASE_ASSET)
    assert all(Decimal(fill.price) <= price for fill in order.fills), order


def test_market_orders_fill(rest: SpotRestAPI) -> None:
    assert_filled(new_market(rest, NewOrderSideEnum.BUY), commission_asset=BASE_ASSET)
    assert_filled(new_market(rest, NewOrderSideEnum.SELL), commission_asset=QUOTE_ASSET)


def test_my_trades_lists_the_fills(rest: SpotRestAPI) -> None:
    order = new_market(rest, NewOrderSideEnum.BUY)
    assert_filled(order, commission_asset=BASE_ASSET)
    mine = rest.my_trades(symbol=SYMBOL, order_id=order.order_id).data()
    assert {trade.id for trade in mine} == {fill.trade_id for fill in order.fills}, mine
    assert all(trade.is_buyer and not trade.is_maker for trade in mine), mine


# ---- WebSocket market streams: a local book by the documented procedure -------------------


async def test_local_book_from_diff_depth_stream_agrees_with_rest_depth(
    streams: SpotWebSocketStreams, rest: SpotRestAPI, sim: Sim
) -> None:
    """Subscribes `btcusdt@depth@100ms` on `/stream`, buffers, loads the SDK's REST depth
    snapshot, applies the buffer (reference §8) and compares with REST at equal update IDs,
    also while one of our orders adds a level and its cancel deletes it."""
    deadline = Deadline(WAIT_S)
    events: asyncio.Queue[DepthEvent] = asyncio.Queue()
    handle = await streams.diff_book_depth(symbol=SYMBOL, update_speed="100ms")
    handle.on("message", lambda m: events.put_nowait(DepthEvent(m.U, m.u, to_levels(m.b), to_levels(m.a))))

    def snapshot() -> Book:
        depth = rest.depth(symbol=SYMBOL, limit=5000).data()
        return Book.from_levels(depth.last_update_id, depth.bids, depth.asks)

    book = LocalBook()
    book.on_event(await within(events.get(), deadline, "diff depth event"))
    while not book.load_snapshot(await asyncio.to_thread(snapshot)):
        assert not deadline.expired, "no REST snapshot as recent as the first buffered event"
        while not events.empty():
            book.on_event(events.get_nowait())

    async def next_view() -> Book:
        book.on_event(await events.get())
        return book.view()

    await assert_book_tracks_rest(
        sim.rest,
        book.view(),
        next_view,
        deadline,
        place_buy=lambda price: asyncio.to_thread(new_limit_buy, rest, price),
        cancel=lambda order: asyncio.to_thread(rest.delete_order, symbol=SYMBOL, order_id=order.order_id),
    )


# ---- WebSocket API: user data and orders --------------------------------------------------


async def next_report(
    events: asyncio.Queue[Any], order_id: int, execution_type: str, deadline: Deadline
) -> ExecutionReport:
    while True:
        event = await within(events.get(), deadline, f"{execution_type} executionReport of order {order_id}")
        if isinstance(event, ExecutionReport) and (event.i, event.x) == (order_id, execution_type):
            return event


async def test_user_data_subscription_receives_execution_reports(
    ws_api: SpotWebSocketAPI, rest: SpotRestAPI, sim: Sim
) -> None:
    """`userDataStream.subscribe.signature`, then the executionReports (and the balance
    update) of orders placed over REST: NEW, CANCELED with c/C, TRADE."""
    deadline = Deadline(WAIT_S)
    subscription = await ws_api.user_data_stream_subscribe_signature()
    assert subscription.response.data().result.subscription_id is not None
    events: asyncio.Queue[Any] = asyncio.Queue()
    subscription.stream.on("message", lambda m: events.put_nowait(m.actual_instance))

    price = await asyncio.to_thread(resting_buy_price, sim.rest)
    placed = await asyncio.to_thread(new_limit_buy, rest, price)
    new = await next_report(events, placed.order_id, "NEW", deadline)
    assert (new.X, new.c, new.S, new.s) == ("NEW", placed.client_order_id, "BUY", SYMBOL), new

    canceled = await asyncio.to_thread(
        lambda: rest.delete_order(symbol=SYMBOL, order_id=placed.order_id).data()
    )
    report = await next_report(events, placed.order_id, "CANCELED", deadline)
    assert (report.c, report.C) == (canceled.client_order_id, placed.client_order_id), report

    taker = await asyncio.to_thread(new_market, rest, NewOrderSideEnum.SELL)
    trade = await next_report(events, taker.order_id, "TRADE", deadline)
    assert trade.t in {fill.trade_id for fill in taker.fills} and trade.N == QUOTE_ASSET, trade
    while not isinstance(
        event := await within(events.get(), deadline, "outboundAccountPosition"), OutboundAccountPosition
    ):
        pass
    assert {balance.a for balance in event.B} >= {BASE_ASSET, QUOTE_ASSET}, event


async def test_ws_api_order_place_status_and_cancel(ws_api: SpotWebSocketAPI, sim: Sim) -> None:
    price = await asyncio.to_thread(resting_buy_price, sim.rest)
    response = await ws_api.order_place(
        symbol=SYMBOL,
        side=OrderPlaceSideEnum.BUY,
        type=OrderPlaceTypeEnum.LIMIT,
        time_in_force=OrderPlaceTimeInForceEnum.GTC,
        quantity=QTY,
        price=float(price),
    )
    placed = response.data()
    assert placed.status == 200 and placed.result.status == "NEW", placed
    assert "REQUEST_WEIGHT" in {limit.rateLimitType for limit in response.rate_limits}, "the rateLimits array"
    order_id = placed.result.order_id

    status = (await ws_api.order_status(symbol=SYMBOL, order_id=order_id)).data()
    assert (status.result.order_id, status.result.status) == (order_id, "NEW"), status

    canceled = (await ws_api.order_cancel(symbol=SYMBOL, order_id=order_id)).data()
    assert canceled.result.status == "CANCELED", canceled
    assert canceled.result.orig_client_order_id == placed.result.client_order_id, canceled

    again = (await ws_api.order_cancel(symbol=SYMBOL, order_id=order_id)).data()
    assert again == {"error": {"code": -2011, "msg": "Unknown order sent."}}, again
