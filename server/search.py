"""What search knows of each document: its text, given to the store's index off the commit path.

`Indexer` follows the live rooms (a RoomHooks): a document is indexed a second after its last
change, at most a few seconds after its first, and when its last person leaves; documents
written without a room (imports, copies, restores through the API) are indexed from their
state; those never indexed (older than search, or written by another process) once at start.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Coroutine
from typing import Any

from pycrdt import Doc, Map

from . import content
from .background import Background
from .store.base import DocName, DocumentStore, SearchStore, StoreError, comments_parent
from .sync.integrate import new_doc
from .sync.room import Room

log = logging.getLogger("coedit.search")

# A document is indexed this long after its last change (typing pauses), and at most this
# long after the first change since it was last indexed (someone typing without a pause):
# an edit is findable within MAX_DELAY + the time indexing takes.
DELAY_SECONDS = 1.0
MAX_DELAY_SECONDS = 3.0
MAX_WORDS = 16
BACKFILL_BATCH = 50


def query_words(query: str) -> list[str]:
    """The words of a search box's text: letters and digits, in any order; at most MAX_WORDS."""
    return re.findall(r"\w+", query.casefold())[:MAX_WORDS]


def text_of(doc: Doc[Any]) -> str:
    return content.doc_to_text(doc)


def _title_and_text(state: bytes) -> tuple[str | None, str]:
    doc = new_doc()
    doc.apply_update(state)
    meta = doc.get(content.META, type=Map) if content.META in doc.keys() else None
    title = meta.get(content.TITLE) if meta is not None else None
    return (title if isinstance(title, str) else None), text_of(doc)


class Indexer:
    """Keeps the search index up to date; a RoomHooks of the rooms registry."""

    def __init__(
        self,
        store: SearchStore,
        documents: DocumentStore,
        *,
        delay: float = DELAY_SECONDS,
        max_delay: float = MAX_DELAY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._documents = documents
        self._delay = delay
        self._max_delay = max_delay
        self._clock = clock
        # name -> (first change since last indexed, timer)
        self._pending: dict[DocName, tuple[float, asyncio.TimerHandle]] = {}
        self._tasks = Background(log)

    async def __aenter__(self) -> Indexer:
        self._spawn(self._backfill(), "indexing older documents")
        return self

    async def __aexit__(self, *exc: object) -> None:
        for _, timer in self._pending.values():
            timer.cancel()
        self._pending.clear()
        await self._tasks.cancel()

    # -- RoomHooks ---------------------------------------------------------------------------

    def committed(self, room: Room) -> None:
        if comments_parent(room.name) is not None:
            return
        now = self._clock()
        first, timer = self._pending.get(room.name, (now, None))
        if timer is not None:
            timer.cancel()
        due = min(now + self._delay, first + self._max_delay)
        loop = asyncio.get_running_loop()
        handle = loop.call_at(loop.time() + max(0.0, due - now), self._due, room)
        self._pending[room.name] = (first, handle)

    async def emptied(self, room: Room) -> None:
        if room.name in self._pending:
            self._pending.pop(room.name)[1].cancel()
            await self._index_room(room)

    # -- indexing ----------------------------------------------------------------------------

    def _due(self, room: Room) -> None:
        self._pending.pop(room.name, None)
        self._spawn(self._index_room(room), f"indexing {room.name!r}")

    async def _index_room(self, room: Room) -> None:
        # On the loop, between two messages: the live Doc must not change while it is read.
        text = text_of(room.doc)
        title = room.title()
        if title is None:
            title = room.stored_title
        await self._save(room.name, title, text)

    async def index_state(self, name: DocName, state: bytes, title: str | None = None) -> None:
        """Index a document from a full state (no live room needed)."""
        found, text = await asyncio.to_thread(_title_and_text, state)
        await self._save(name, title if title is not None else (found or ""), text)

    async def _save(self, name: DocName, title: str, text: str) -> None:
        try:
            await self._store.index_text(name, title, text)
        except StoreError as exc:
            # Findable again at its next change; nothing else depends on the index.
            log.warning("could not index %r: %s", name, exc)

    async def _backfill(self) -> None:
        previous: list[DocName] = []
        while True:
            try:
                names = await self._store.unindexed(BACKFILL_BATCH)
            except StoreError as exc:
                log.warning("could not list documents to index: %s", exc)
                return
            if not names or names == previous:
                return  # done, or the store refuses these: the next start tries again
            previous = names
            for name in names:
                state = await self._documents.durable_state(name)
                info = await self._documents.info(name)
                if state is None or info is None:
                    # Gone or trashed meanwhile: marked indexed so the loop moves on.
                    await self._save(name, "", "")
                    continue
                await self.index_state(name, state, info.title)
            log.info("indexed %d older documents for search", len(names))

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        self._tasks.spawn(coro, name)
