"""Version history without a server: thinning, the schedule, text diffs, and the recorder driving
real Rooms on the in-memory store with a controllable clock."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

import pytest
from pycrdt import Doc, XmlElement, XmlFragment, XmlText

from server.config import Settings
from server.content import FRAGMENT
from server.store.base import DocName, RestoredFrom, StoreError, VersionInfo, VersionKind
from server.store.memory import MemoryStore
from server.sync.protocol import (
    AwarenessEntry,
    AwarenessUpdate,
    SyncUpdate,
    decode,
    encode_awareness_entries,
)
from server.sync.room import Room
from server.sync.rooms import Rooms
from server.versions import (
    DAY,
    HOUR,
    NotUndoable,
    Retention,
    Schedule,
    VersionNotFound,
    VersionRecorder,
    content_key,
    diff_texts,
    doc_from_state,
    thin,
)
from tests.fakes import FakePeer

NAME = DocName("doc")
INTERVAL = 600.0
NOW = 1_750_000_000.0  # a fixed instant, so hour and day buckets are reproducible


class FakeClock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# -- thinning ----------------------------------------------------------------------------------


def version(vid: int, created_at: float, kind: VersionKind = "auto") -> VersionInfo:
    return VersionInfo(vid, created_at, kind, None, (), 2)


def test_thinning_keeps_the_last_day_hourly_for_a_week_and_daily_after() -> None:
    retention = Retention()
    start = (NOW // DAY) * DAY  # midnight UTC
    versions = [version(i, start - 30 * DAY + i * 600) for i in range(30 * 144 + 60)]
    now = versions[-1].created_at + 1
    doomed = set(thin(versions, now, retention))
    kept = [v for v in versions if v.id not in doomed]

    recent = [v for v in versions if now - v.created_at < DAY]
    assert all(v in kept for v in recent), "everything from the last day stays"
    hourly = [v for v in kept if DAY <= now - v.created_at < 7 * DAY]
    hours = [int(v.created_at // HOUR) for v in hourly]
    assert len(hours) == len(set(hours)), "one per hour between a day and a week"
    daily = [v for v in kept if now - v.created_at >= 7 * DAY]
    days = [int(v.created_at // DAY) for v in daily]
    assert len(days) == len(set(days)), "one per day after a week"
    # Each bucket keeps its newest version.
    for survivor in daily:
        same_day = [
            v
            for v in versions
            if int(v.created_at // DAY) == int(survivor.created_at // DAY)
            and now - v.created_at >= 7 * DAY
        ]
        assert survivor == max(same_day, key=lambda v: v.created_at)
    assert len(kept) <= 144 + 6 * 24 + 1 + 24 + 1
    assert thin(kept, now, retention) == [], "thinning twice at once deletes nothing more"


def test_thinning_never_touches_restore_entries() -> None:
    old = NOW - 30 * DAY
    entry = replace(version(1, old, "auto"), restored=RestoredFrom(9, None, old - 5, 8))
    assert thin([entry, version(2, old + 1, "auto")], NOW, Retention()) == []


def test_thinning_never_touches_named_versions_or_restore_backups() -> None:
    old = NOW - 60 * DAY
    versions = [
        version(1, old, "named"),
        version(2, old + 1, "restore-backup"),
        version(3, old + 2, "named"),
        version(4, old + 3),
        version(5, old + 4),
    ]
    assert thin(versions, NOW, Retention()) == [4]


def test_thinning_as_time_goes_by_keeps_the_newest_of_every_bucket() -> None:
    # Versions every 10 minutes for 20 days, thinned after each one as the recorder does.
    rng = random.Random(5)
    retention = Retention()
    alive: list[VersionInfo] = []
    every: list[VersionInfo] = []
    at = NOW - 20 * DAY
    for vid in range(1, 20 * 144):
        at += 600 + rng.uniform(-60, 60)
        new = version(vid, at)
        every.append(new)
        alive.append(new)
        doomed = set(thin(alive, at, retention))
        alive = [v for v in alive if v.id not in doomed]
    now = at
    assert [v for v in every if now - v.created_at < DAY] == [
        v for v in alive if now - v.created_at < DAY
    ]
    # Every hour well inside the hourly zone, and every day well inside the daily one, keeps
    # exactly its newest version ever: thinning early never loses what thinning late keeps.
    for size, low, high in ((HOUR, DAY + HOUR, 7 * DAY - HOUR), (DAY, 7 * DAY + DAY, 19 * DAY)):
        first, last = int((now - high) // size) + 1, int((now - low) // size) - 1
        assert last > first
        for bucket in range(first, last + 1):
            ever = [v for v in every if int(v.created_at // size) == bucket]
            kept = [v for v in alive if int(v.created_at // size) == bucket]
            assert kept == [max(ever, key=lambda v: v.created_at)]


# -- schedule ----------------------------------------------------------------------------------


def test_schedule_starts_the_interval_at_the_first_change() -> None:
    schedule = Schedule(INTERVAL)
    assert schedule.next_deadline() is None
    assert schedule.changed(NAME, 100.0)
    assert not schedule.changed(NAME, 400.0), "later changes do not push the deadline"
    assert NAME in schedule
    assert schedule.next_deadline() == 700.0
    assert schedule.due(699.9) == []
    assert schedule.due(700.0) == [NAME]
    schedule.recorded(NAME)
    assert NAME not in schedule and schedule.due(10_000.0) == []
    assert schedule.changed(NAME, 800.0)
    assert schedule.next_deadline() == 1400.0
    with pytest.raises(ValueError):
        Schedule(0)


# -- text diffs --------------------------------------------------------------------------------


def check_diff(base: str, target: str) -> dict[str, Any]:
    diff = diff_texts(base, target)
    for r in diff.insertions:
        assert target[r.start : r.end] == r.text
    for r in diff.deletions:
        assert base[r.start : r.end] == r.text
    assert "".join(s.text for s in diff.segments if s.op != "insert") == base
    assert "".join(s.text for s in diff.segments if s.op != "delete") == target
    return {
        "ins": [(r.start, r.end, r.text) for r in diff.insertions],
        "del": [(r.start, r.end, r.text) for r in diff.deletions],
    }


def test_diff_reports_word_ranges_in_each_text() -> None:
    got = check_diff("The quick fox\nSecond line\nThird", "The slow fox 🎉\nSecond line\nFourth")
    assert got == {
        "ins": [(4, 8, "slow"), (12, 14, " 🎉"), (27, 33, "Fourth")],
        "del": [(4, 9, "quick"), (26, 31, "Third")],
    }


def test_diff_replaces_whole_words_never_parts_of_them() -> None:
    assert check_diff("We reach the goalship now.", "We reach the goal now.") == {
        "ins": [(13, 17, "goal")],
        "del": [(13, 21, "goalship")],
    }
    assert check_diff("I don't know", "I doesn't know")["del"] == [(2, 7, "don't")]
    assert check_diff("a well-known fact", "a well-kept fact")["ins"] == [(2, 11, "well-kept")]


def test_diff_shows_neighbouring_changed_words_as_one_phrase() -> None:
    got = check_diff("see the quick brown fox", "see a slow red fox")
    assert got == {"ins": [(4, 14, "a slow red")], "del": [(4, 19, "the quick brown")]}
    # A changed word next to an unchanged one stays apart from it.
    assert check_diff("one two three", "one 2 three")["del"] == [(4, 7, "two")]


@pytest.mark.parametrize("seed", range(20))
def test_random_diffs_reconstruct_both_texts(seed: int) -> None:
    rng = random.Random(seed)
    words = ["a", "bb", "ccc", " ", "\n", "é", "🎉", ",", "word", "'", "-", "x-y"]
    base = "".join(rng.choices(words, k=rng.randint(0, 80)))
    target = "".join(rng.choices(words, k=rng.randint(0, 80)))
    check_diff(base, target)
    check_diff(base, base)
    assert check_diff(base, base) == {"ins": [], "del": []}


# -- the recorder with real rooms ----------------------------------------------------------------


def awareness_named(client_id: int, name: str) -> AwarenessUpdate:
    state = json.dumps({"user": {"name": name}})
    message = decode(encode_awareness_entries([AwarenessEntry(client_id, 1, state)]))
    assert isinstance(message, AwarenessUpdate)
    return message


class Editor:
    """A peer in a room that edits the rich text through its own Doc, like a browser tab."""

    def __init__(self, room: Room, name: str) -> None:
        self.room = room
        self.peer = FakePeer(name)
        self.doc: Doc[Any] = Doc()
        self.doc.apply_update(room.doc.get_update())
        room.join(self.peer)
        room.receive(self.peer, awareness_named(self.doc.client_id, name))

    def edit(self, change: Callable[[XmlFragment], None]) -> None:
        before = self.doc.get_state()
        change(self.doc.get(FRAGMENT, type=XmlFragment))
        self.room.receive(self.peer, SyncUpdate(self.doc.get_update(before)))

    def add_paragraph(self, text: str) -> None:
        def change(fragment: XmlFragment) -> None:
            paragraph = fragment.children.append(XmlElement("paragraph"))
            paragraph.children.append(XmlText(text))

        self.edit(change)


def text_of(doc: Doc[Any]) -> str:
    return str(doc.get(FRAGMENT, type=XmlFragment))


@pytest.fixture
async def store() -> AsyncIterator[MemoryStore]:
    async with MemoryStore() as opened:
        await opened.ensure(NAME)
        yield opened


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def recorder(store: MemoryStore, clock: FakeClock) -> VersionRecorder:
    # Not entered: the tests drive record_due() themselves with the fake clock.
    return VersionRecorder(store, interval=INTERVAL, clock=clock)


def make_room(store: MemoryStore, recorder: VersionRecorder) -> Room:
    return Room(NAME, Doc(), store, Settings(), on_change=recorder.committed)


async def settled(store: MemoryStore) -> None:
    await store.flush()
    await asyncio.sleep(0)  # let the commit callbacks (editors, hooks) run


async def test_versions_appear_on_schedule_with_their_editors(
    store: MemoryStore, recorder: VersionRecorder, clock: FakeClock
) -> None:
    room = make_room(store, recorder)
    ann, bob = Editor(room, "Ann"), Editor(room, "Bob")
    ann.add_paragraph("one")
    await settled(store)
    clock.now += INTERVAL / 2
    bob.add_paragraph("two")
    await settled(store)
    clock.now += INTERVAL / 2 - 1
    assert await recorder.record_due() == [], "the interval starts at the first change"
    clock.now += 1
    [first] = await recorder.record_due()
    assert (first.kind, first.authors, first.created_at) == ("auto", ("Ann", "Bob"), clock.now)
    assert room.editors == set()
    clock.now += 10 * INTERVAL
    assert await recorder.record_due() == [], "no change, no version"

    ann.add_paragraph("three")
    await settled(store)
    clock.now += INTERVAL
    [second] = await recorder.record_due()
    assert second.authors == ("Ann",)
    stored = await store.get_version(NAME, second.id)
    assert stored is not None
    assert content_key(stored.state) == content_key(room.doc.get_update())
    assert [v.id for v in await store.list_versions(NAME)] == [second.id, first.id]


async def test_identical_content_is_not_recorded_again(
    store: MemoryStore, recorder: VersionRecorder, clock: FakeClock
) -> None:
    room = make_room(store, recorder)
    ann = Editor(room, "Ann")
    ann.add_paragraph("keep")
    await settled(store)
    assert await recorder.record(NAME) is not None
    ann.add_paragraph("typo")
    ann.edit(lambda fragment: fragment.children.__delitem__(1))
    await settled(store)
    clock.now += INTERVAL
    assert await recorder.record_due() == []
    assert len(await store.list_versions(NAME)) == 1
    assert room.editors == {"Ann"}, "kept for the next version that is recorded"


async def test_a_version_is_recorded_when_the_last_person_leaves(
    store: MemoryStore, recorder: VersionRecorder
) -> None:
    room = make_room(store, recorder)
    Editor(room, "Ann").add_paragraph("hello")
    await settled(store)
    await recorder.emptied(room)
    [left] = await store.list_versions(NAME)
    assert (left.kind, left.authors) == ("auto", ("Ann",))
    await recorder.emptied(room)
    assert len(await store.list_versions(NAME)) == 1, "nothing changed since"


async def test_a_named_version_resets_the_schedule(
    store: MemoryStore, recorder: VersionRecorder, clock: FakeClock
) -> None:
    room = make_room(store, recorder)
    Editor(room, "Ann").add_paragraph("draft")
    await settled(store)
    named = await recorder.save_named(NAME, "First draft")
    assert (named.kind, named.label, named.authors) == ("named", "First draft", ("Ann",))
    again = await recorder.save_named(NAME, "Same content, still saved")
    assert again.kind == "named"
    clock.now += INTERVAL
    assert await recorder.record_due() == []


async def test_old_automatic_versions_thin_out_as_versions_are_recorded(
    store: MemoryStore, recorder: VersionRecorder, clock: FakeClock
) -> None:
    room = make_room(store, recorder)
    ann = Editor(room, "Ann")
    named = await recorder.save_named(NAME, "Kept")

    def rewrite(fragment: XmlFragment) -> None:
        del fragment.children[0 : len(fragment.children)]
        fragment.children.append(XmlElement("paragraph")).children.append(XmlText(str(clock())))

    for _ in range(10 * 24 * 2):  # ten days of edits, a version every 30 minutes
        ann.edit(rewrite)
        await settled(store)
        clock.now += 1800
        await recorder.record_due()
    versions = await store.list_versions(NAME)
    assert named in versions
    autos = [v for v in versions if v.kind == "auto"]
    # 48 from the last day, one per hour for six days, one per day for the rest; a bucket on
    # the edge between two zones can hold one more.
    assert 48 + 6 * 24 <= len(autos) <= 48 + 6 * 24 + 4 + 2
    assert thin(versions, clock.now, Retention()) == []


async def test_a_failed_recording_keeps_editors_and_is_retried(
    store: MemoryStore,
    recorder: VersionRecorder,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    room = make_room(store, recorder)
    Editor(room, "Ann").add_paragraph("x")
    await settled(store)

    async def broken(*args: object, **kwargs: object) -> VersionInfo:
        raise StoreError("disk full")

    monkeypatch.setattr(store, "add_version", broken)
    clock.now += INTERVAL
    assert await recorder.record_due() == []
    assert "disk full" in caplog.text
    assert room.editors == {"Ann"}
    await recorder.emptied(room)  # logged, never raised: the unload must go on
    monkeypatch.undo()
    clock.now += INTERVAL
    [retried] = await recorder.record_due()
    assert retried.authors == ()  # the room was unloaded with its editors


class WatchedStore(MemoryStore):
    """Tells when a version was recorded."""

    def __init__(self) -> None:
        super().__init__()
        self.recorded = asyncio.Event()

    async def add_version(self, name: DocName, **kwargs: Any) -> VersionInfo:
        info = await super().add_version(name, **kwargs)
        self.recorded.set()
        return info


async def test_the_background_task_records_on_the_real_clock() -> None:
    async with WatchedStore() as store, VersionRecorder(store, interval=0.05) as recorder:
        await store.ensure(NAME)
        room = make_room(store, recorder)
        Editor(room, "Ann").add_paragraph("tick")
        await asyncio.wait_for(store.recorded.wait(), 10)
        [recorded] = await store.list_versions(NAME)
        assert recorded.authors == ("Ann",)


# -- restore through Rooms -------------------------------------------------------------------------


@pytest.fixture
async def rooms(store: MemoryStore, recorder: VersionRecorder) -> AsyncIterator[Rooms]:
    # No relay window: these tests look at frames right after a commit settles.
    settings = Settings(
        unload_grace_seconds=3600, compact_idle_seconds=3600, relay_window_seconds=0
    )
    async with Rooms(store, settings, hooks=[recorder]) as opened:
        yield opened


async def test_restore_is_one_change_seen_by_every_peer_and_can_be_undone(
    store: MemoryStore, recorder: VersionRecorder, rooms: Rooms
) -> None:
    peer = FakePeer("tab")
    room = await rooms.join(NAME, peer)
    ann = Editor(room, "Ann")
    ann.add_paragraph("kept")
    ann.add_paragraph("original")
    await settled(store)
    saved = await recorder.save_named(NAME, "Good")
    ann.edit(lambda fragment: fragment.children.__delitem__(1))
    ann.add_paragraph("replacement")
    await settled(store)
    before_restore = text_of(room.doc)
    peer.frames.clear()

    result = await recorder.restore(rooms, NAME, saved.id)
    await settled(store)
    assert text_of(room.doc) == "<paragraph>kept</paragraph><paragraph>original</paragraph>"
    assert result.summary.kept == 1 and result.summary.changed
    updates = [m for m in peer.messages() if isinstance(m, SyncUpdate)]
    assert len(updates) == 1, "the restore reaches a connected peer as one update"
    replica: Doc[Any] = Doc()
    replica.apply_update(ann.doc.get_update())
    replica.apply_update(updates[0].update)
    assert text_of(replica) == text_of(room.doc)

    assert result.backup is not None and result.version is not None
    assert result.backup.kind == "restore-backup" and result.backup.authors == ("Ann",)
    # The entry names what it restored and holds the backup; the list shows it once.
    entry = result.version
    assert entry.restored == RestoredFrom(saved.id, "Good", saved.created_at, result.backup.id)
    backup = await store.get_version(NAME, result.backup.id)
    assert backup is not None and content_key(backup.state) == content_key(ann.doc.get_update())
    listed = await store.list_versions(NAME)
    assert [v.id for v in listed] == [entry.id, saved.id]

    undo = await recorder.undo_restore(rooms, NAME, entry.id)
    assert undo.changed
    assert text_of(room.doc) == before_restore
    # Undoing adds no entry: the restore entry is marked undone instead.
    listed = await store.list_versions(NAME)
    assert [v.id for v in listed] == [entry.id, saved.id]
    assert listed[0].undone_at is not None
    with pytest.raises(NotUndoable):
        await recorder.undo_restore(rooms, NAME, entry.id)
    with pytest.raises(NotUndoable):
        await recorder.undo_restore(rooms, NAME, saved.id)
    same = await recorder.restore(rooms, NAME, result.backup.id)
    assert (same.summary.changed, same.backup, same.version) == (False, None, None)
    with pytest.raises(VersionNotFound):
        await recorder.restore(rooms, NAME, 10**9)
    rooms.leave(room, peer)


async def test_undoing_a_restore_edited_since_keeps_the_edits_as_a_version(
    store: MemoryStore, recorder: VersionRecorder, rooms: Rooms
) -> None:
    peer = FakePeer("tab")
    room = await rooms.join(NAME, peer)
    ann = Editor(room, "Ann")
    ann.add_paragraph("first")
    await settled(store)
    saved = await recorder.save_named(NAME, "First")
    ann.add_paragraph("second")
    await settled(store)
    result = await recorder.restore(rooms, NAME, saved.id)
    assert result.version is not None
    ann.add_paragraph("after the restore")
    await settled(store)

    await recorder.undo_restore(rooms, NAME, result.version.id)
    assert text_of(room.doc) == "<paragraph>first</paragraph><paragraph>second</paragraph>"
    listed = await store.list_versions(NAME)
    assert [v.id for v in listed[1:]] == [result.version.id, saved.id]
    kept = await store.get_version(NAME, listed[0].id)
    assert kept is not None and "after the restore" in text_of(doc_from_state(kept.state))
    rooms.leave(room, peer)
