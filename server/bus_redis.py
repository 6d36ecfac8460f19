"""The bus on Redis Streams (redis-py asyncio); the only module that imports redis.

One stream per loaded document (`coedit:d:<name>`: rows, awareness, awareness queries) and one
for the whole deployment (`coedit:ctl`: heartbeats, control events). Redis holds nothing durable:
streams are trimmed and expire, and a Redis restarted empty costs only speed (server.mesh repairs
from the store). Every call has a timeout, so a stopped Redis never stalls the event loop; one
reader task reads every followed stream with a single blocking XREAD on its own connection."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import Sequence
from typing import Any, cast

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from .bus import BusListener
from .store.base import CommittedRow, DocName

log = logging.getLogger("coedit.bus")

CONTROL = b"coedit:ctl"
DOC_PREFIX = b"coedit:d:"
# Streams are a short replay window, not a log: a reader further behind repairs from the store.
STREAM_MAXLEN = 10_000
STREAM_TTL_MS = 3_600_000
# Rows above this travel as a hint: receivers read them from the store.
INLINE_MAX_BYTES = 256 * 1024
BLOCK_MS = 250
READ_PACE_SECONDS = 0.005
CALL_TIMEOUT = 2.0
# What waits to be published while Redis is away: bounded, and dropped once stale (the store
# has every row; awareness a few seconds old is worthless).
OUTBOX_MAX = 10_000
OUTBOX_STALE_SECONDS = 5.0
RETRY_SECONDS = 0.5
# How far back a newly followed stream is read (covers the clocks of Redis and this machine
# being a little apart; further apart, the periodic check of the store catches up).
FOLLOW_LOOKBACK_SECONDS = 5.0

_ERRORS = (RedisError, OSError, TimeoutError)


def _key(name: DocName) -> bytes:
    return DOC_PREFIX + name.encode()


class RedisBus:
    def __init__(self, url: str, instance: str, *, heartbeat_seconds: float = 2.0) -> None:
        self._url = url
        self.instance = instance
        self._me = instance.encode()
        self._heartbeat_seconds = heartbeat_seconds
        self._cursors: dict[bytes, bytes | None] = {CONTROL: None}
        self._names: dict[bytes, DocName] = {}
        self._outbox: deque[tuple[float, bytes, dict[bytes, bytes]]] = deque(maxlen=OUTBOX_MAX)
        self._wake = asyncio.Event()
        self._reader_down = False
        self._writer_down = False
        self._tasks: list[asyncio.Task[None]] = []
        self._listener: BusListener | None = None
        self._writer: aioredis.Redis | None = None
        self._reader: aioredis.Redis | None = None

    @property
    def healthy(self) -> bool:
        return not (self._reader_down or self._writer_down)

    async def start(self, listener: BusListener) -> None:
        self._listener = listener
        self._writer = aioredis.Redis.from_url(
            self._url, socket_timeout=CALL_TIMEOUT, socket_connect_timeout=CALL_TIMEOUT
        )
        # The blocking read waits up to BLOCK_MS on the server: its timeout must be longer.
        self._reader = aioredis.Redis.from_url(
            self._url,
            socket_timeout=CALL_TIMEOUT + BLOCK_MS / 1000,
            socket_connect_timeout=CALL_TIMEOUT,
        )
        try:
            await asyncio.wait_for(self._writer.ping(), CALL_TIMEOUT)
        except _ERRORS as exc:
            # Not fatal: instances run degraded without the bus, and it may come back.
            log.warning("bus: Redis at %s unreachable (%s); running degraded", self._url, exc)
            self._reader_down = self._writer_down = True
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._read_loop(), name="bus reader"),
            loop.create_task(self._write_loop(), name="bus writer"),
            loop.create_task(self._heartbeat_loop(), name="bus heartbeat"),
        ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for client in (self._writer, self._reader):
            if client is not None:
                await client.aclose()

    def follow(self, name: DocName) -> None:
        key = _key(name)
        if key not in self._cursors:
            # From a little before now (stream ids are Redis's clock in ms): rows committed
            # since the room read the store may be in the stream already; older ones it skips.
            start = int((time.time() - FOLLOW_LOOKBACK_SECONDS) * 1000)
            self._cursors[key] = f"{start}-0".encode()
            self._names[key] = name

    def unfollow(self, name: DocName) -> None:
        key = _key(name)
        self._cursors.pop(key, None)
        self._names.pop(key, None)

    def following(self) -> Sequence[DocName]:
        return list(self._names.values())

    def publish_rows(self, rows: Sequence[CommittedRow]) -> None:
        for row in rows:
            fields = {b"t": b"u", b"i": self._me, b"s": str(row.seq).encode()}
            if len(row.update) <= INLINE_MAX_BYTES:
                fields[b"u"] = row.update
            self._queue(_key(row.name), fields)

    def publish_awareness(self, name: DocName, frame: bytes) -> None:
        self._queue(_key(name), {b"t": b"a", b"i": self._me, b"u": frame})

    def publish_query(self, name: DocName) -> None:
        self._queue(_key(name), {b"t": b"q", b"i": self._me})

    def publish_control(self, event: dict[str, Any]) -> None:
        self._queue(CONTROL, {b"t": b"c", b"i": self._me, b"u": json.dumps(event).encode()})

    def _queue(self, key: bytes, fields: dict[bytes, bytes]) -> None:
        self._outbox.append((time.monotonic(), key, fields))
        self._wake.set()

    async def _write_loop(self) -> None:
        assert self._writer is not None
        while True:
            if not self._outbox:
                self._wake.clear()
                await self._wake.wait()
            stale = time.monotonic() - OUTBOX_STALE_SECONDS
            while self._outbox and self._outbox[0][0] < stale:
                self._outbox.popleft()
            batch = list(self._outbox)[:500]
            if not batch:
                continue
            try:
                async with self._writer.pipeline(transaction=False) as pipe:
                    for _, key, fields in batch:
                        pipe.xadd(key, fields, maxlen=STREAM_MAXLEN, approximate=True)  # type: ignore[arg-type]
                    # Once per stream and batch, not per entry: a busy document's stream gets
                    # hundreds of entries a second.
                    for key in {key for _, key, _ in batch if key != CONTROL}:
                        pipe.pexpire(key, STREAM_TTL_MS)
                    await asyncio.wait_for(pipe.execute(), CALL_TIMEOUT)
            except _ERRORS as exc:
                if not self._writer_down:
                    log.warning("bus: publishing failed (%s); delivery to others degraded", exc)
                self._writer_down = True
                await asyncio.sleep(RETRY_SECONDS)
                continue
            for _ in batch:
                if self._outbox:
                    self._outbox.popleft()
            if self._writer_down:
                log.info("bus: publishing again")
                self._writer_down = False

    async def _heartbeat_loop(self) -> None:
        while True:
            self._queue(CONTROL, {b"t": b"h", b"i": self._me})
            await asyncio.sleep(self._heartbeat_seconds)

    async def _read_loop(self) -> None:
        assert self._reader is not None and self._listener is not None
        while True:
            try:
                if self._reader_down:
                    await asyncio.wait_for(self._reader.ping(), CALL_TIMEOUT)
                    # Redis may have restarted empty: old cursors would skip everything new.
                    for key in self._cursors:
                        self._cursors[key] = None
                await self._start_cursors()
                if self._reader_down:
                    log.info("bus: reading again")
                    self._reader_down = False
                    self._listener.reconnected()
                streams = {k: c for k, c in self._cursors.items() if c is not None}
                # RESP2 (the default): a list of [stream, [(id, fields), ...]].
                replies = cast(
                    list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]],
                    await self._reader.xread(streams, count=1000, block=BLOCK_MS),  # type: ignore[arg-type]
                )
            except _ERRORS as exc:
                if not self._reader_down:
                    log.warning("bus: reading failed (%s); polling the store meanwhile", exc)
                self._reader_down = True
                await asyncio.sleep(RETRY_SECONDS)
                continue
            for key, entries in replies or []:
                rows: list[tuple[int, bytes | None]] = []
                for entry_id, fields in entries:
                    if key in self._cursors:
                        self._cursors[key] = entry_id
                    if fields.get(b"t") == b"u" and fields.get(b"i") != self._me:
                        rows.append((int(fields[b"s"]), fields.get(b"u")))
                    else:
                        self._dispatch(key, fields)
                if rows:
                    self._deliver_rows(key, rows)
            if replies:
                # Entries keep coming while a document is busy: a moment's wait lets the next
                # read take many at once (each read costs more than the entries it carries).
                await asyncio.sleep(READ_PACE_SECONDS)

    async def _start_cursors(self) -> None:
        """Start streams at their current end (after Redis came back: it may have restarted
        empty, and ids older than its new entries would skip them)."""
        assert self._reader is not None
        fresh = [key for key, cursor in self._cursors.items() if cursor is None]
        if not fresh:
            return
        async with self._reader.pipeline(transaction=False) as pipe:
            for key in fresh:
                pipe.xrevrange(key, count=1)
            lasts = await asyncio.wait_for(pipe.execute(), CALL_TIMEOUT)
        for key, last in zip(fresh, lasts, strict=True):
            if key in self._cursors and self._cursors[key] is None:
                self._cursors[key] = last[0][0] if last else b"0-0"

    def _deliver_rows(self, key: bytes, rows: list[tuple[int, bytes | None]]) -> None:
        assert self._listener is not None
        name = self._names.get(key)
        if name is None:
            return
        try:
            self._listener.rows(name, rows)
        except Exception:
            # One document's failure must not stop delivery for every other (yjs/yhub#61).
            log.exception("bus: could not apply rows of %r", name)

    def _dispatch(self, key: bytes, fields: dict[bytes, bytes]) -> None:
        assert self._listener is not None
        sender = fields.get(b"i", b"")
        if sender == self._me:
            return
        instance = sender.decode()
        kind = fields.get(b"t")
        try:
            if key == CONTROL:
                if kind == b"h":
                    self._listener.heartbeat(instance)
                elif kind == b"c":
                    self._listener.control(instance, json.loads(fields[b"u"]))
                return
            name = self._names.get(key)
            if name is None:
                return
            if kind == b"a":
                self._listener.awareness(name, instance, fields[b"u"])
            elif kind == b"q":
                self._listener.query(name)
        except Exception:
            # One bad entry must not stop delivery for every other document (yjs/yhub#61).
            log.exception("bus: could not handle an entry of %r", key)
