"""A minimal y-websocket client over `websockets` + pycrdt, for live tests and nothing else."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import quote

import websockets
from pycrdt import Doc, Subscription, TransactionEvent

from server.sync.protocol import (
    AwarenessEntry,
    AwarenessUpdate,
    SyncStep1,
    SyncStep2,
    SyncUpdate,
    decode,
    encode_awareness_entries,
    encode_sync_step1,
    encode_sync_step2,
    encode_update,
)

DEADLINE = 10.0


def ws_url(base: str, name: str) -> str:
    return f"{base}/ws/{quote(name, safe='')}"


class YClient:
    """Keeps a pycrdt Doc in sync with a server document, like a browser tab would."""

    def __init__(self, ws: websockets.ClientConnection, doc: Doc[Any]) -> None:
        self.ws = ws
        self.doc = doc
        self.synced = asyncio.Event()
        self.awareness: dict[int, dict[str, Any] | None] = {}
        self.received = 0
        self.updates_received = 0
        self._applying_remote = False
        self._clock = 0
        self._outbox: asyncio.Queue[bytes] = asyncio.Queue()
        self._sub: Subscription | None = None
        self._changed = asyncio.Event()
        self._step1_sent = 1
        self._step2_received = 0
        # Bytes per second this client reads at, like one on a slow link; None: as fast as it can.
        self.read_pace: float | None = None

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(
        cls, base: str, name: str, doc: Doc[Any] | None = None, key: str | None = None
    ) -> AsyncIterator[YClient]:
        """`key`: the writer's secret, as the editor sends it (binds the client ids it uses)."""
        url = ws_url(base, name) + ("" if key is None else f"?author_key={quote(key)}")
        async with websockets.connect(url, max_size=None) as ws:
            client = cls(ws, doc if doc is not None else Doc())
            async with client._running():
                yield client

    @contextlib.asynccontextmanager
    async def _running(self) -> AsyncIterator[None]:
        self._sub = self.doc.observe(self._on_local)
        await self.ws.send(encode_sync_step1(self.doc.get_state()))
        tasks = [asyncio.create_task(self._reader()), asyncio.create_task(self._writer())]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.doc.unobserve(self._sub)

    def _on_local(self, event: TransactionEvent) -> None:
        if self._applying_remote:
            return  # pycrdt events carry no origin; observers run inside apply_update
        self._outbox.put_nowait(encode_update(event.update))

    async def _writer(self) -> None:
        while True:
            frame = await self._outbox.get()
            await self.ws.send(frame)

    async def _reader(self) -> None:
        async for frame in self.ws:
            assert isinstance(frame, bytes)
            self.received += 1
            match decode(frame):
                case SyncStep1(state_vector=sv):
                    await self.ws.send(encode_sync_step2(self.doc.get_update(sv)))
                case SyncStep2(update=update):
                    self._apply(update)
                    self._step2_received += 1
                    self.synced.set()
                case SyncUpdate(update=update):
                    self.updates_received += 1
                    self._apply(update)
                case AwarenessUpdate(entries=entries):
                    for entry in entries:
                        self.awareness[entry.client_id] = json.loads(entry.state)
            self._changed.set()
            if self.read_pace is not None:
                await asyncio.sleep(len(frame) / self.read_pace)  # the link's pace, not a wait

    def _apply(self, update: bytes) -> None:
        self._applying_remote = True
        try:
            self.doc.apply_update(update)
        finally:
            self._applying_remote = False

    async def set_awareness(self, state: dict[str, Any] | None) -> None:
        self._clock += 1
        entry = AwarenessEntry(
            client_id=self.doc.client_id, clock=self._clock, state=json.dumps(state)
        )
        await self.ws.send(encode_awareness_entries([entry]))

    async def send_raw(self, frame: bytes) -> None:
        await self.ws.send(frame)

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = DEADLINE) -> None:
        """Wait, with a deadline, until predicate() holds after some received frame."""
        async with asyncio.timeout(timeout):
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

    async def roundtrip(self, timeout: float = DEADLINE) -> None:
        """Return once the server has committed everything this client sent before the call.

        The server answers a sync step 1 only after every earlier update from this connection
        has committed, and the request goes through the outbox behind those updates.
        """
        self._step1_sent += 1
        target = self._step1_sent
        self._outbox.put_nowait(encode_sync_step1(self.doc.get_state()))
        await self.wait_until(lambda: self._step2_received >= target, timeout)
