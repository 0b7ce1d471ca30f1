"""ccxt clients pointed at omsd-sim with reference §11.1 Recipe A: every REST URL keeps its
path (`/api/v3`, ...) on the simulator's host, the load skips /sapi, /fapi and /dapi, and
ccxt pro gets the simulator's `/ws` and `/ws-api/v3`. One place builds them for every test."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import ccxt
import ccxt.pro

from support import Sim


def point_at_sim(exchange: ccxt.binance | ccxt.pro.binance, sim: Sim) -> None:
    """Recipe A: rewrite every REST base URL to the simulator, keeping its path."""
    api = exchange.urls["api"]
    for key, url in list(api.items()):
        if isinstance(url, str):
            api[key] = f"{sim.rest}/{url.split('/', 3)[3]}"
    if isinstance(exchange, ccxt.pro.binance):
        api["ws"] = {"spot": f"{sim.stream}/ws", "ws-api": {"spot": sim.ws_api}}


def config(sim: Sim) -> dict[str, Any]:
    return {
        "apiKey": sim.api_key,
        "secret": sim.api_secret,
        "options": {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False, "fetchMargins": False},
    }


def rest_client(sim: Sim) -> ccxt.binance:
    """A ccxt REST client on the simulator, markets loaded."""
    client = ccxt.binance(config(sim))
    point_at_sim(client, sim)
    client.load_markets()
    return client


@contextlib.asynccontextmanager
async def pro_client(sim: Sim) -> AsyncIterator[ccxt.pro.binance]:
    """A ccxt pro client on the simulator, markets loaded; closed on exit."""
    client = ccxt.pro.binance(config(sim))
    point_at_sim(client, sim)
    try:
        await client.load_markets()
        yield client
    finally:
        await client.close()
