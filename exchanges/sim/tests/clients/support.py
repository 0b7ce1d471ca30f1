"""Helpers shared by the client tests: deadlines and polling, a client-independent REST oracle
(plain urllib, so a client bug cannot hide a simulator bug), order prices that rest or cross,
and order-book comparison, including a local book kept by the venue's documented procedure.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.parse
import urllib.request
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

SYMBOL = "BTCUSDT"
CCXT_SYMBOL = "BTC/USDT"
BASE_ASSET = "BTC"
QUOTE_ASSET = "USDT"
TICK = Decimal("0.01")
ORDER_QTY = Decimal("0.001")  # notional ~30 USDT: above NOTIONAL.minNotional (5), on the LOT_SIZE step

WAIT_S = 15.0  # deadline for anything a client must see over a socket
HTTP_TIMEOUT_S = 5.0

Level = tuple[Decimal, Decimal]  # (price, quantity)


@dataclass(frozen=True)
class Sim:
    """Endpoints and credentials of one running simulator (see conftest.py)."""

    rest: str  # http://127.0.0.1:PORT
    stream: str  # ws://127.0.0.1:PORT (market streams under /ws and /stream)
    ws_api: str  # ws://127.0.0.1:PORT/ws-api/v3
    api_key: str
    api_secret: str
    log: Path  # the simulator's stderr


class Deadline:
    """A point in time a wait must not pass."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self._end - time.monotonic())

    @property
    def expired(self) -> bool:
        return self.remaining() == 0.0


def poll(probe: Callable[[], T | None], deadline: Deadline, interval_s: float = 0.1) -> T | None:
    """Call `probe` until it returns something other than None or the deadline passes."""
    while True:
        value = probe()
        if value is not None or deadline.expired:
            return value
        time.sleep(min(interval_s, deadline.remaining()))


async def poll_async(
    probe: Callable[[], Awaitable[T | None]], deadline: Deadline, interval_s: float = 0.1
) -> T | None:
    """`poll` for coroutine probes."""
    while True:
        value = await probe()
        if value is not None or deadline.expired:
            return value
        await asyncio.sleep(min(interval_s, deadline.remaining()))


# ---- REST oracle -------------------------------------------------------------------------


def rest_get(rest_url: str, path: str, **params: object) -> Any:
    """GET a public endpoint and decode its JSON body."""
    query = urllib.parse.urlencode(params)
    with urllib.request.urlopen(f"{rest_url}{path}?{query}", timeout=HTTP_TIMEOUT_S) as response:
        return json.load(response)


def to_levels(raw: Iterable[Sequence[object]]) -> list[Level]:
    """Price levels from JSON strings or client floats, compared exactly as decimals."""
    return [(Decimal(str(price)), Decimal(str(qty))) for price, qty, *_ in raw]


@dataclass(frozen=True)
class Book:
    """One side-sorted view of an order book at an update ID."""

    update_id: int
    bids: list[Level]  # best (highest) first
    asks: list[Level]  # best (lowest) first

    @staticmethod
    def from_levels(
        update_id: int, bids: Iterable[Sequence[object]], asks: Iterable[Sequence[object]]
    ) -> Book:
        return Book(
            update_id=update_id,
            bids=sorted(to_levels(bids), reverse=True),
            asks=sorted(to_levels(asks)),
        )


def rest_depth(rest_url: str, symbol: str = SYMBOL, limit: int = 5000) -> Book:
    depth = rest_get(rest_url, "/api/v3/depth", symbol=symbol, limit=limit)
    return Book.from_levels(depth["lastUpdateId"], depth["bids"], depth["asks"])


def best_prices(rest_url: str, symbol: str = SYMBOL) -> tuple[Decimal, Decimal]:
    """(best bid, best ask) from REST depth."""
    book = rest_depth(rest_url, symbol, limit=5)
    assert book.bids and book.asks, f"the simulator's {symbol} book has an empty side: {book}"
    return book.bids[0][0], book.asks[0][0]


def book_difference(local: Book, venue: Book) -> str | None:
    """None when both books hold the same levels, else a short description of the first gap."""
    for side, mine, theirs in (("bids", local.bids, venue.bids), ("asks", local.asks, venue.asks)):
        if mine != theirs:
            extra = sorted(set(mine) - set(theirs))[:5]
            missing = sorted(set(theirs) - set(mine))[:5]
            return f"{side} differ at update {venue.update_id}: local-only {extra}, venue-only {missing}"
    return None


# ---- order prices ------------------------------------------------------------------------


def to_tick(price: Decimal, rounding: str) -> Decimal:
    return (price / TICK).quantize(Decimal(1), rounding=rounding) * TICK


def resting_buy_price(rest_url: str) -> Decimal:
    """A BUY limit 5 % under the best bid: rests on the book, far from the market's moves."""
    best_bid, _ = best_prices(rest_url)
    return to_tick(best_bid * Decimal("0.95"), ROUND_DOWN)


def crossing_buy_price(rest_url: str) -> Decimal:
    """A BUY limit 2 % over the best ask: takes liquidity at once."""
    _, best_ask = best_prices(rest_url)
    return to_tick(best_ask * Decimal("1.02"), ROUND_UP)


# ---- local order book by the documented procedure ---------------------------------------


class BookGap(Exception):
    """A diff event does not continue the local book's update IDs."""


@dataclass(frozen=True)
class DepthEvent:
    """The parts of a `depthUpdate` event the local book needs."""

    first_id: int  # U
    last_id: int  # u
    bids: list[Level]
    asks: list[Level]


@dataclass
class LocalBook:
    """The local order book of the venue docs (web-socket-streams.md, "How to manage a local
    order book correctly"): buffer diff events, load a REST snapshot that is not older than
    the first buffered event, drop events it already covers, then apply the rest in order."""

    buffer: list[DepthEvent] = field(default_factory=list)
    update_id: int | None = None
    bids: dict[Decimal, Decimal] = field(default_factory=dict)
    asks: dict[Decimal, Decimal] = field(default_factory=dict)

    @property
    def synced(self) -> bool:
        return self.update_id is not None

    def on_event(self, event: DepthEvent) -> None:
        if self.update_id is None:
            self.buffer.append(event)
        else:
            self._apply(event)

    def load_snapshot(self, snapshot: Book) -> bool:
        """Start from `snapshot`; False when it predates the first buffered event (fetch again)."""
        if not self.buffer or snapshot.update_id < self.buffer[0].first_id:
            return False
        self.bids = dict(snapshot.bids)
        self.asks = dict(snapshot.asks)
        self.update_id = snapshot.update_id
        buffered, self.buffer = self.buffer, []
        for event in buffered:
            self._apply(event)
        return True

    def view(self) -> Book:
        assert self.update_id is not None
        return Book(self.update_id, sorted(self.bids.items(), reverse=True), sorted(self.asks.items()))

    def _apply(self, event: DepthEvent) -> None:
        assert self.update_id is not None
        if event.last_id <= self.update_id:
            return
        if event.first_id > self.update_id + 1:
            raise BookGap(f"event [{event.first_id};{event.last_id}] after local update {self.update_id}")
        for levels, side in ((event.bids, self.bids), (event.asks, self.asks)):
            for price, qty in levels:
                if qty == 0:
                    side.pop(price, None)
                else:
                    side[price] = qty
        self.update_id = event.last_id


class BookHistory:
    """Views of a client's local book by update ID, to compare with a REST snapshot taken at
    any moment: the snapshot's `lastUpdateId` names the local state it must equal."""

    def __init__(self) -> None:
        self._views: dict[int, Book] = {}
        self.latest: int = -1

    def record(self, view: Book) -> None:
        self._views[view.update_id] = view
        self.latest = max(self.latest, view.update_id)

    def at(self, update_id: int) -> Book | None:
        return self._views.get(update_id)


async def within(awaitable: Awaitable[T], deadline: Deadline, what: str) -> T:
    """Await with the deadline's remaining time; a timeout fails the test naming `what`."""
    try:
        return await asyncio.wait_for(awaitable, deadline.remaining())
    except TimeoutError:
        raise AssertionError(f"no {what} within {deadline.seconds:.0f}s") from None


async def assert_book_matches_rest(
    rest_url: str,
    history: BookHistory,
    next_view: Callable[[], Awaitable[Book]],
    deadline: Deadline,
    until: Callable[[Book], bool] = lambda _: True,
) -> Book:
    """Take REST snapshots until one satisfies `until` and lands on an update ID the client's
    book went through, then require both to hold the same levels; returns that snapshot.
    `next_view` waits for the client's next update. A REST `lastUpdateId` the client skipped
    (two diffs applied between two of our reads) only costs another round; a mismatch at a
    shared ID fails at once."""
    rounds: list[int] = []
    while True:
        snapshot = await asyncio.to_thread(rest_depth, rest_url)
        assert snapshot.bids and snapshot.asks, f"REST depth has an empty side: {snapshot}"
        rounds.append(snapshot.update_id)
        if until(snapshot):
            while history.latest < snapshot.update_id:
                history.record(
                    await within(next_view(), deadline, f"local book update to {snapshot.update_id}")
                )
            local = history.at(snapshot.update_id)
            if local is not None:
                difference = book_difference(local, snapshot)
                assert difference is None, difference
                return snapshot
        assert not deadline.expired, f"no local book state matched a REST snapshot (lastUpdateIds {rounds})"
        # REST depth only changes when a diff event is published: wait for the next one.
        history.record(await within(next_view(), deadline, "local book update"))


async def assert_order_level_round_trip(
    rest_url: str,
    history: BookHistory,
    next_view: Callable[[], Awaitable[Book]],
    deadline: Deadline,
    place_buy: Callable[[Decimal], Awaitable[Any]],
    cancel: Callable[[Any], Awaitable[object]],
) -> None:
    """Rest a BUY at a price no one else quotes, then cancel it: the client's book must add
    the level and then delete it (a diff with quantity zero), staying equal to REST depth."""
    price = await asyncio.to_thread(resting_buy_price, rest_url)
    order = await place_buy(price)
    await assert_book_matches_rest(
        rest_url, history, next_view, deadline, until=lambda book: dict(book.bids).get(price, 0) >= ORDER_QTY
    )
    await cancel(order)
    await assert_book_matches_rest(
        rest_url, history, next_view, deadline, until=lambda book: price not in dict(book.bids)
    )


async def assert_book_tracks_rest(
    rest_url: str,
    first_view: Book,
    next_view: Callable[[], Awaitable[Book]],
    deadline: Deadline,
    place_buy: Callable[[Decimal], Awaitable[Any]],
    cancel: Callable[[Any], Awaitable[object]],
) -> None:
    """A client's local book, starting at `first_view`, must equal REST depth at the same
    update ID, also while one of our orders adds a level and its cancel deletes it."""
    history = BookHistory()
    history.record(first_view)
    await assert_book_matches_rest(rest_url, history, next_view, deadline)
    await assert_order_level_round_trip(rest_url, history, next_view, deadline, place_buy, cancel)
