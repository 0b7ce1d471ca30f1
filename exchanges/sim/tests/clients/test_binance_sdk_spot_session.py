"""binance-sdk-spot's WebSocket API session path against omsd-sim: an Ed25519 key,
`session.logon`, unsigned requests on the logged-on session, `userDataStream.subscribe`, and
`session.logout`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from binance_common.configuration import ConfigurationWebSocketAPI
from binance_sdk_spot.spot import Spot
from binance_sdk_spot.websocket_api import SpotWebSocketAPI

from conftest import ED25519_API_KEY, ED25519_PRIVATE_PEM
from support import ORDER_QTY, SYMBOL, WAIT_S, Deadline, Sim, resting_buy_price, within


@pytest.fixture
async def ed_ws_api(sim: Sim) -> AsyncIterator[SpotWebSocketAPI]:
    config = ConfigurationWebSocketAPI(
        api_key=ED25519_API_KEY, private_key=ED25519_PRIVATE_PEM, stream_url=sim.ws_api
    )
    connection = await Spot(config_ws_api=config).websocket_api.create_connection()
    try:
        yield connection
    finally:
        await connection.close_connection(close_session=True)


async def test_session_logon_with_ed25519_then_unsigned_requests(ed_ws_api: SpotWebSocketAPI, sim: Sim) -> None:
    logon = (await ed_ws_api.session_logon()).data()
    assert logon.result.api_key == ED25519_API_KEY, logon
    status = (await ed_ws_api.session_status()).data()
    assert status.result.api_key == ED25519_API_KEY, status

    subscription = await ed_ws_api.user_data_stream_subscribe()
    assert subscription.response.data().result.subscription_id is not None
    events: asyncio.Queue[Any] = asyncio.Queue()
    subscription.stream.on("message", lambda m: events.put_nowait(m.actual_instance))

    price = float(resting_buy_price(sim.rest))
    placed = (
        await ed_ws_api.order_place(
            symbol=SYMBOL, side="BUY", type="LIMIT", time_in_force="GTC", quantity=float(ORDER_QTY), price=price
        )
    ).data()
    assert placed.result.status == "NEW", placed
    deadline = Deadline(WAIT_S)
    while getattr(report := await within(events.get(), deadline, "executionReport"), "i", None) != (
        placed.result.order_id
    ):
        pass
    assert report.X == "NEW", report
    canceled = (await ed_ws_api.order_cancel(symbol=SYMBOL, order_id=placed.result.order_id)).data()
    assert canceled.result.status == "CANCELED", canceled

    logout = (await ed_ws_api.session_logout()).data()
    assert logout.result.api_key is None, logout
