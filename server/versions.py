"""Version history: records versions of documents (on a schedule while edited, when the last
person leaves, on request), thins old ones, compares their texts and restores them; must not
import starlette or aiosqlite.

Decisions:
- Schedule: the first change after a version starts the interval; when it ends a version is
  recorded, so a document gets at most one scheduled version per interval. Leaving (the last
  peer) records at once if anything changed since the last version.
- An automatic version whose content (the rich text and the `meta` map) equals the latest version
  is not recorded.
- Thinning keeps every version younger than a day, the newest per clock hour (UTC) younger than a
  week, and the newest per day (UTC) after that. Named versions, restore backups and restore
  entries are never thinned: a backup is the only way to undo a restore, and restores are rare
  and deliberate.
- A restore is one entry in the history: the version just after it names what it restored and
  its backup (which the list then leaves out). Undoing it puts the backup's text back and marks
  that entry undone, adding no entry; if the text was edited since the restore, that state is
  first recorded as an automatic version so the undo loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Any, Literal

from pycrdt import Doc, Map, XmlFragment, merge_updates

from .content import FRAGMENT, META
from .restore import RestoreSummary, check_restorable, fragment_key, restore_fragment
from .store.base import (
    DocName,
    DocumentNotFound,
    DocumentStore,
    RestoredFrom,
    SharedLog,
    StoreError,
    VersionInfo,
    VersionKind,
)
from .sync.integrate import new_doc
from .sync.room import Room
from .sync.rooms import Rooms

log = logging.getLogger("coedit.versions")

HOUR = 3600.0
DAY = 24 * HOUR


# -- thinning ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Retention:
    """How automatic versions thin out with age."""

    keep_all_seconds: float = DAY  # younger than this: keep every one
    hourly_seconds: float = 7 * DAY  # younger than this: keep the newest per hour


def thin(versions: Iterable[VersionInfo], now: float, retention: Retention) -> list[int]:
    """Ids of the automatic versions to delete, oldest first.

    Buckets are clock hours and days (UTC), and each keeps its newest version: the state at the
    end of that hour or day. Thinning again later deletes nothing it did not already mean to: the
    newest of a day is also the newest of its hour, so it survives both passes.
    """
    newest: dict[tuple[str, int], VersionInfo] = {}
    bucketed: list[tuple[tuple[str, int], VersionInfo]] = []
    for version in versions:
        if version.kind != "auto" or version.restored is not None:
            continue
        age = now - version.created_at
        if age < retention.keep_all_seconds:
            continue
        if age < retention.hourly_seconds:
            bucket = ("hour", int(version.created_at // HOUR))
        else:
            bucket = ("day", int(version.created_at // DAY))
        bucketed.append((bucket, version))
        best = newest.get(bucket)
        if best is None or (version.created_at, version.id) > (best.created_at, best.id):
            newest[bucket] = version
    doomed = [v for bucket, v in bucketed if newest[bucket] is not v]
    return [v.id for v in sorted(doomed, key=lambda v: (v.created_at, v.id))]


# -- schedule ----------------------------------------------------------------------------------


class Schedule:
    """When each changed document's next automatic version is due; pure, clock passed in."""

    def __init__(self, interval: float) -> None:
        if not interval > 0:
            raise ValueError(f"interval must be positive, got {interval}")
        self.interval = interval
        self._due: dict[DocName, float] = {}

    def changed(self, name: DocName, now: float) -> bool:
        """Note a change; True if it is the first since the last version (a new deadline)."""
        if name in self._due:
            return False
        self._due[name] = now + self.interval
        return True

    def recorded(self, name: DocName) -> None:
        """A version holding every change noted so far has been (or is being) taken."""
        self._due.pop(name, None)

    def __contains__(self, name: object) -> bool:
        """Whether the document changed since its last version."""
        return name in self._due

    def due(self, now: float) -> list[DocName]:
        return sorted((n for n, at in self._due.items() if at <= now), key=self._due.__getitem__)

    def next_deadline(self) -> float | None:
        return min(self._due.values(), default=None)


# -- documents and texts -----------------------------------------------------------------------


def doc_from_state(state: bytes) -> Doc[Any]:
    doc = new_doc()
    doc.apply_update(state)
    return doc


def content_key(state: bytes) -> str:
    """Equal for two states exactly when they show the same document (text and `meta`)."""
    doc = doc_from_state(state)
    meta = doc.get(META, type=Map).to_py()
    return repr(sorted(meta.items())) + fragment_key(doc.get(FRAGMENT, type=XmlFragment))


@dataclass(frozen=True, slots=True)
class TextRange:
    start: int
    end: int
    text: str


SegmentOp = Literal["equal", "insert", "delete"]


@dataclass(frozen=True, slots=True)
class Segment:
    op: SegmentOp
    text: str


@dataclass(frozen=True, slots=True)
class TextDiff:
    """How to get from `base` to `target`. Offsets count Unicode code points (Python string
    indexes; `Array.from(text)` in JavaScript): insertions index `target`, deletions `base`.
    `segments` interleaves everything in reading order, for a redline view."""

    base: str
    target: str
    insertions: list[TextRange] = field(default_factory=list)
    deletions: list[TextRange] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)


# A word keeps its inner apostrophes and hyphens ("don't", "well-known"): a change inside a word
# shows as that whole word replaced, never as a few struck-out letters.
_WORD = re.compile(r"\w+(?:['\u2019-]\w+)*|\s+|[^\w\s]", re.UNICODE)
# Changed lines with more words than this (on either side) are shown as replaced whole.
MAX_WORD_DIFF_TOKENS = 3000


def diff_texts(base: str, target: str) -> TextDiff:
    """Lines first (cheap on long documents), then words within the lines that changed."""
    diff = TextDiff(base, target)
    base_lines = base.splitlines(keepends=True)
    target_lines = target.splitlines(keepends=True)
    b_at = t_at = 0
    for op, i1, i2, j1, j2 in SequenceMatcher(None, base_lines, target_lines).get_opcodes():
        if op == "replace" and i2 - i1 == j2 - j1:
            # As many lines changed as were replaced: most likely each was edited, so compare
            # them pair by pair (also keeps every word comparison small).
            pairs = list(zip(base_lines[i1:i2], target_lines[j1:j2], strict=True))
        else:
            pairs = [("".join(base_lines[i1:i2]), "".join(target_lines[j1:j2]))]
        for old, new in pairs:
            if op == "equal":
                _emit(diff, "equal", old, b_at, t_at)
            else:
                _diff_words(diff, old, new, b_at, t_at)
            b_at += len(old)
            t_at += len(new)
    return diff


def _diff_words(diff: TextDiff, old: str, new: str, b_at: int, t_at: int) -> None:
    old_words, new_words = _WORD.findall(old), _WORD.findall(new)
    if max(len(old_words), len(new_words)) > MAX_WORD_DIFF_TOKENS:
        # Word matching is quadratic at worst; a change this large reads as a rewrite anyway.
        _emit(diff, "delete", old, b_at, t_at)
        _emit(diff, "insert", new, b_at + len(old), t_at)
        return
    words = SequenceMatcher(None, old_words, new_words, autojunk=False)
    for op, k1, k2, l1, l2 in _joined(words.get_opcodes(), old_words):
        removed = "".join(old_words[k1:k2])
        added = "".join(new_words[l1:l2])
        if op == "equal":
            _emit(diff, "equal", removed, b_at, t_at)
        else:
            _emit(diff, "delete", removed, b_at, t_at)
            _emit(diff, "insert", added, b_at + len(removed), t_at)
        b_at += len(removed)
        t_at += len(added)


Opcode = tuple[str, int, int, int, int]


def _joined(opcodes: Sequence[Opcode], old_words: list[str]) -> list[Opcode]:
    """Changes apart only by a space read as one: "the quick brown" -> "a slow red" is one
    phrase replaced, not three words each struck out and inserted in turn."""
    out: list[Opcode] = []
    for code in opcodes:
        if (
            len(out) >= 2
            and code[0] != "equal"
            and out[-1][0] == "equal"
            and out[-2][0] != "equal"
            and "".join(old_words[out[-1][1] : out[-1][2]]).isspace()
        ):
            del out[-1]
            first = out.pop()
            code = ("replace", first[1], code[2], first[3], code[4])
        out.append(code)
    return out


def _emit(diff: TextDiff, op: SegmentOp, text: str, b: int, t: int) -> None:
    if not text:
        return
    if diff.segments and diff.segments[-1].op == op:
        diff.segments[-1] = Segment(op, diff.segments[-1].text + text)
    else:
        diff.segments.append(Segment(op, text))
    if op == "equal":
        return
    ranges, start = (diff.insertions, t) if op == "insert" else (diff.deletions, b)
    if ranges and ranges[-1].end == start:
        last = ranges[-1]
        ranges[-1] = TextRange(last.start, start + len(text), last.text + text)
    else:
        ranges.append(TextRange(start, start + len(text), text))


# -- the recorder ------------------------------------------------------------------------------


class VersionNotFound(LookupError):
    """The document has no version with that id."""


class NotUndoable(Exception):
    """The version is not a restore, or that restore was already undone."""


class DocumentBusy(Exception):
    """The live document is being reloaded after a storage failure; try again shortly."""


@dataclass(frozen=True, slots=True)
class RestoreResult:
    restored: int  # id of the version whose content is now live
    summary: RestoreSummary
    backup: VersionInfo | None  # the state just before; restore it to undo (None: no change)
    version: VersionInfo | None  # the state just after (None: no change)


def _restore_live(
    room: Room, target: XmlFragment
) -> tuple[asyncio.Future[None], list[RestoreSummary]]:
    """Start the restore of `target` into the room as one server change; the list gets its
    summary, the future resolves once it has committed."""
    summaries: list[RestoreSummary] = []
    committed = room.apply_server_change(
        lambda doc: summaries.append(restore_fragment(doc.get(FRAGMENT, type=XmlFragment), target))
    )
    return committed, summaries


class VersionRecorder:
    """Implements RoomHooks to record versions of live documents, and serves named versions and
    restores. An async context manager: it owns the task that records scheduled versions."""

    def __init__(
        self,
        store: DocumentStore,
        *,
        interval: float,
        retention: Retention | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._schedule = Schedule(interval)
        self._retention = retention if retention is not None else Retention()
        self._clock = clock
        # The live Room of each changed document, for its editors; dropped when it empties.
        self._rooms: dict[DocName, Room] = {}
        # One recording or restore per document at a time; a lock lives while someone holds it.
        self._locks: weakref.WeakValueDictionary[DocName, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> VersionRecorder:
        self._task = asyncio.create_task(self._run(), name="version recorder")
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task

    # -- RoomHooks -----------------------------------------------------------------------------

    def committed(self, room: Room) -> None:
        self._rooms[room.name] = room
        if self._schedule.changed(room.name, self._clock()):
            self._wake.set()

    async def emptied(self, room: Room) -> None:
        try:
            if room.name in self._schedule:
                await self.record(room.name)
        except DocumentNotFound:
            log.info("%r was deleted before its last peer left", room.name)
        except Exception:
            # Unload and shutdown must go on. The document is still marked as changed, so the
            # schedule tries again after an interval.
            log.exception("recording a version of %r as its last peer left failed", room.name)
        finally:
            if self._rooms.get(room.name) is room:
                del self._rooms[room.name]

    # -- recording -----------------------------------------------------------------------------

    async def record(self, name: DocName) -> VersionInfo | None:
        """Record an automatic version now, unless it would equal the latest version, or
        another instance sharing the store recorded one less than half an interval ago (each
        instance with peers on the document keeps its own schedule)."""
        async with self._lock(name):
            if isinstance(self._store, SharedLog):
                spacing = self._schedule.interval / 2
                if not await self._store.claim_version(name, self._clock(), spacing):
                    self._schedule.recorded(name)
                    return None
            return await self._capture(name, "auto", None, skip_identical=True)

    async def save_named(self, name: DocName, label: str) -> VersionInfo:
        async with self._lock(name):
            info = await self._capture(name, "named", label, skip_identical=False)
        if info is None:
            raise AssertionError("a named version is always recorded")
        return info

    async def record_due(self) -> list[VersionInfo]:
        """Record every document whose interval has ended; returns the versions recorded."""
        recorded: list[VersionInfo] = []
        for name in self._schedule.due(self._clock()):
            try:
                info = await self.record(name)
            except DocumentNotFound:
                log.info("%r was deleted before its scheduled version", name)
                self._rooms.pop(name, None)
                continue
            except Exception:
                # One document's failure must not hold up the others'; _capture marked it as
                # changed again, so it is retried after an interval.
                log.exception("recording a scheduled version of %r failed", name)
                continue
            if info is not None:
                recorded.append(info)
        return recorded

    async def _capture(
        self,
        name: DocName,
        kind: VersionKind,
        label: str | None,
        *,
        skip_identical: bool,
        restored: RestoredFrom | None = None,
    ) -> VersionInfo | None:
        """Record the document's durable state; the caller holds the document's lock."""
        now = self._clock()
        room = self._rooms.get(name)
        # Before any await: a change committing while this runs marks the document again.
        self._schedule.recorded(name)
        editors = self._take_editors(room)
        try:
            state = await self._store.durable_state(name)
            if state is None:
                raise DocumentNotFound(f"no document {name!r}")
            if skip_identical and await self._same_as_latest(name, state):
                self._give_back_editors(room, editors)
                return None
            info = await self._store.add_version(
                name,
                kind=kind,
                state=state,
                created_at=now,
                label=label,
                authors=editors,
                restored=restored,
            )
        except DocumentNotFound:
            raise
        except BaseException:
            self._give_back_editors(room, editors)
            if self._schedule.changed(name, now):
                self._wake.set()
            raise
        await self._thin(name, now)
        return info

    async def _same_as_latest(self, name: DocName, state: bytes) -> bool:
        latest = await self._store.list_versions(name, limit=1)
        if not latest:
            return False
        previous = await self._store.get_version(name, latest[0].id)
        if previous is None:
            return False  # thinned or deleted meanwhile: nothing to be identical to
        # Building two Docs of a large document takes a while: off the event loop.
        keys = await asyncio.to_thread(lambda: (content_key(previous.state), content_key(state)))
        return keys[0] == keys[1]

    async def _thin(self, name: DocName, now: float) -> None:
        doomed = thin(await self._store.list_versions(name), now, self._retention)
        if doomed:
            deleted = await self._store.delete_versions(name, doomed)
            log.debug("thinned %d old versions of %r", deleted, name)

    @staticmethod
    def _take_editors(room: Room | None) -> list[str]:
        return [] if room is None else room.take_editors()

    @staticmethod
    def _give_back_editors(room: Room | None, editors: list[str]) -> None:
        if room is not None:
            room.give_back_editors(editors)

    @contextlib.asynccontextmanager
    async def _lock(self, name: DocName) -> AsyncIterator[None]:
        lock = self._locks.get(name)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[name] = lock
        async with lock:
            yield

    # -- restoring -----------------------------------------------------------------------------

    async def restore(self, rooms: Rooms, name: DocName, version_id: int) -> RestoreResult:
        """Make the live document's rich text equal the version's, as one change relayed to
        everyone connected, keeping every block the two have in common (see server.restore).
        Records the state just before (a hidden restore-backup) and the restore entry after.
        The `meta` map (the title) is left as it is."""
        version = await self._store.get_version(name, version_id)
        if version is None:
            raise VersionNotFound(f"{name!r} has no version {version_id}")
        target_doc = await asyncio.to_thread(doc_from_state, version.state)
        target = target_doc.get(FRAGMENT, type=XmlFragment)
        check_restorable(target)
        async with self._lock(name), rooms.borrow(name) as room:
            # A restore computed on a Doc missing another instance's last paragraph would
            # leave that paragraph standing.
            await rooms.catch_up(room)
            durable = await self._durable_and_ready(name, room)
            live = room.doc.get(FRAGMENT, type=XmlFragment)
            if fragment_key(live) == fragment_key(target):
                return RestoreResult(
                    version_id, RestoreSummary(kept=len(live.children)), None, None
                )
            # No await from here to apply_server_change: no edit can slip in between the backup
            # and the restore. The live Doc may hold edits not yet committed, the durable state
            # updates the Doc still waits on; the backup holds both.
            backup_state = merge_updates(durable, room.doc.get_update())
            committed, summaries = _restore_live(room, target)
            editors = self._take_editors(room)
            try:
                backup = await self._store.add_version(
                    name,
                    kind="restore-backup",
                    state=backup_state,
                    created_at=self._clock(),
                    label=None,
                    authors=editors,
                )
            except BaseException:
                self._give_back_editors(room, editors)
                raise
            await committed
            try:
                source = version.info
                after = await self._capture(
                    name,
                    "auto",
                    None,
                    skip_identical=False,
                    restored=RestoredFrom(source.id, source.label, source.created_at, backup.id),
                )
            except StoreError:
                # The restore itself is done and undoable; only this record of its result is
                # missing, and the schedule records the document again after an interval.
                log.exception("recording the state after restoring %r failed", name)
                after = None
        return RestoreResult(version_id, summaries[0], backup, after)

    async def undo_restore(self, rooms: Rooms, name: DocName, entry_id: int) -> RestoreSummary:
        """Put back the text the restore recorded as `entry_id` replaced (its backup), as one
        live change, and mark the entry undone."""
        entry = await self._store.get_version(name, entry_id)
        if entry is None:
            raise VersionNotFound(f"{name!r} has no version {entry_id}")
        restored = entry.info.restored
        if restored is None:
            raise NotUndoable(f"version {entry_id} is not a restore")
        if entry.info.undone_at is not None:
            raise NotUndoable(f"the restore {entry_id} was already undone")
        backup = await self._store.get_version(name, restored.backup)
        if backup is None:
            raise VersionNotFound(f"{name!r} has no backup {restored.backup}")
        target_doc = await asyncio.to_thread(doc_from_state, backup.state)
        target = target_doc.get(FRAGMENT, type=XmlFragment)
        check_restorable(target)
        restored_key = await asyncio.to_thread(
            lambda: fragment_key(doc_from_state(entry.state).get(FRAGMENT, type=XmlFragment))
        )
        async with self._lock(name), rooms.borrow(name) as room:
            if entry_id != await self._latest_restore(name):
                raise NotUndoable("a later restore must be undone first")
            durable = await self._durable_and_ready(name, room)
            # No await from here to apply_server_change, as in restore().
            live = room.doc.get(FRAGMENT, type=XmlFragment)
            edited = fragment_key(live) != restored_key
            before = merge_updates(durable, room.doc.get_update()) if edited else b""
            committed, summaries = _restore_live(room, target)
            if edited:
                # Edited since the restore: keep that text as a version, as a restore would.
                editors = self._take_editors(room)
                try:
                    await self._store.add_version(
                        name, kind="auto", state=before, created_at=self._clock(), authors=editors
                    )
                except BaseException:
                    self._give_back_editors(room, editors)
                    raise
            await committed
            await self._store.mark_undone(name, entry_id, self._clock())
        return summaries[0]

    async def _durable_and_ready(self, name: DocName, room: Room) -> bytes:
        durable = await self._store.durable_state(name)
        if durable is None:
            raise DocumentNotFound(f"no document {name!r}")
        if room.failed:
            raise DocumentBusy(f"{name!r} is being reloaded after a storage failure")
        return durable

    async def _latest_restore(self, name: DocName) -> int | None:
        for info in await self._store.list_versions(name):
            if info.restored is not None and info.undone_at is None:
                return info.id
        return None

    # -- the background task -------------------------------------------------------------------

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._closing:
            self._wake.clear()
            deadline = self._schedule.next_deadline()
            if deadline is not None and deadline <= self._clock():
                await self.record_due()
                continue
            timer = None
            if deadline is not None:
                timer = loop.call_later(deadline - self._clock(), self._wake.set)
            try:
                await self._wake.wait()
            finally:
                if timer is not None:
                    timer.cancel()
