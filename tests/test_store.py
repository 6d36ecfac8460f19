"""Contract tests run against every DocumentStore implementation, plus SQLite-only durability
checks; imports nothing from the server but server.store."""

from __future__ import annotations

import asyncio
import functools
import random
import sqlite3
import threading
import time
import zlib
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

import pytest
from pycrdt import Array, Doc, Map, Text, merge_updates

import server.sync.fold
from server.store import (
    DocName,
    DocumentNotFound,
    DocumentStore,
    DocumentTrashed,
    MemoryStore,
    SqliteStore,
    StoredDoc,
    StoreError,
)
from server.store.base import RestoredFrom, VersionInfo
from server.store.postgres import PostgresStore
from server.store.sqlite.schema import MIGRATIONS
from server.sync.fold import Folded, fold
from server.sync.integrate import Integrator


class StoreFactory(Protocol):
    def __call__(
        self, *, batch_max: int = ..., clock: Callable[[], float] = ...
    ) -> DocumentStore: ...


class FakeClock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def db_path(tmp_path: Path) -> Path:
    # A directory that does not exist yet: the store must create it.
    return tmp_path / "nested" / "dir" / "coedit.db"


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def factory(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    # One database per test, made on first use (a store reopened in a test sees its rows).
    dsn: list[str] = []

    def make(*, batch_max: int = 2048, clock: Callable[[], float] = time.time) -> DocumentStore:
        if request.param == "memory":
            return MemoryStore(batch_max=batch_max, clock=clock)
        if request.param == "postgres":
            if not dsn:
                dsn.append(request.getfixturevalue("postgres").new_database())
            # Compaction folds every row here, as the other stores' do.
            return PostgresStore(dsn[0], batch_max=batch_max, clock=clock, keep_recent_seconds=0)
        return SqliteStore(db_path(tmp_path), batch_max=batch_max, clock=clock)

    return make


@pytest.fixture
async def store(factory: StoreFactory) -> AsyncIterator[DocumentStore]:
    async with factory() as opened:
        yield opened


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    async with SqliteStore(db_path(tmp_path)) as opened:
        yield opened


def n(name: str) -> DocName:
    return DocName(name)


# -- CRDT helpers ------------------------------------------------------------------------------


def recording_doc() -> tuple[Doc[Any], list[bytes]]:
    doc: Doc[Any] = Doc()
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    return doc, updates


def contents(doc: Doc[Any]) -> dict[str, Any]:
    return {
        "text": doc.get("text", type=Text).to_py(),
        "map": doc.get("map", type=Map).to_py(),
        "list": doc.get("list", type=Array).to_py(),
    }


def edit_heavily(doc: Doc[Any], edits: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    text = doc.get("text", type=Text)
    mapping = doc.get("map", type=Map)
    items = doc.get("list", type=Array)
    # Text stays ASCII: pycrdt 0.14.13 counts Text offsets in UTF-8 bytes, and an insert
    # inside a multi-byte character leaves a Doc that its own get_update() does not reproduce.
    for i in range(edits):
        choice = rng.random()
        if choice < 0.5 or len(text) == 0:
            text.insert(rng.randint(0, len(text)), rng.choice(["a", "bc", "d e", "\n"]))
        elif choice < 0.65:
            start = rng.randrange(len(text))
            del text[start : min(len(text), start + rng.randint(1, 3))]
        elif choice < 0.85:
            mapping[f"k{rng.randrange(20)}"] = rng.choice([i, f"é🎉{i}", None, True])
        elif choice < 0.95 or len(items) == 0:
            items.append(i)
        else:
            del items[rng.randrange(len(items))]


def rebuild(stored: StoredDoc) -> Doc[Any]:
    """The load contract: apply the snapshot, then every update of the tail."""
    doc: Doc[Any] = Doc()
    if stored.snapshot is not None:
        doc.apply_update(stored.snapshot)
    for update in stored.updates:
        doc.apply_update(update)
    return doc


def rebuild_merged(stored: StoredDoc) -> Doc[Any]:
    """Same content as rebuild(), but as one merged update: pycrdt 0.14.13 fails to integrate a
    second pending update when its missing predecessor arrives in a later apply_update."""
    parts = ([stored.snapshot] if stored.snapshot is not None else []) + stored.updates
    doc: Doc[Any] = Doc()
    if parts:
        doc.apply_update(merge_updates(*parts))
    return doc


async def must_load(store: DocumentStore, name: DocName) -> StoredDoc:
    stored = await store.load(name)
    assert stored is not None
    return stored


@pytest.fixture
def gated_merge(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[DocumentStore], Gate]]:
    gates: list[Gate] = []

    def install(store: DocumentStore) -> Gate:
        # Both stores fold through server.sync.fold.fold when given no fold of their own.
        gate = Gate()
        monkeypatch.setattr(server.sync.fold, "fold", gate.fold)
        gates.append(gate)
        return gate

    yield install
    for gate in gates:
        gate.release.set()  # never leave a worker thread blocked if a test failed early


class Gate:
    """Holds compaction inside its fold until released, to interleave deterministically."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def fold(self, parts: list[bytes], pending_first: bool = False) -> Folded:
        self.entered.set()
        if not self.release.wait(30):
            raise TimeoutError("gate never released")
        return fold(parts, pending_first)

    async def wait_entered(self) -> None:
        assert await asyncio.to_thread(self.entered.wait, 30)


# -- basics ------------------------------------------------------------------------------------


async def test_load_unknown_returns_none(store: DocumentStore) -> None:
    assert await store.load(n("nope")) is None
    assert await store.info(n("nope")) is None


async def test_ensure_creates_once(store: DocumentStore) -> None:
    first = await store.ensure(n("doc"))
    again = await store.ensure(n("doc"))
    assert first == again
    assert first.name == "doc"
    assert first.title == ""
    assert first.size == 0
    assert len(first.epoch) == 32
    int(first.epoch, 16)
    stored = await must_load(store, n("doc"))
    assert stored == type(stored)(snapshot=None, updates=[], epoch=first.epoch)


async def test_append_load_round_trip_preserves_order(store: DocumentStore) -> None:
    await store.ensure(n("doc"))
    source, updates = recording_doc()
    edit_heavily(source, 200)
    await asyncio.gather(*(store.append(n("doc"), update) for update in updates))
    stored = await must_load(store, n("doc"))
    assert stored.updates == updates
    assert stored.snapshot is None
    assert contents(rebuild(stored)) == contents(source)


async def test_append_future_resolves_later_and_in_order(store: DocumentStore) -> None:
    await store.ensure(n("a"))
    await store.ensure(n("b"))
    order: list[int] = []
    futures = []

    def record(i: int, _: asyncio.Future[None]) -> None:
        order.append(i)

    for i in range(300):
        future = store.append(n("a" if i % 2 else "b"), bytes([i % 256]) * 3)
        future.add_done_callback(functools.partial(record, i))
        futures.append(future)
    assert not any(future.done() for future in futures)
    await asyncio.gather(*futures)
    assert order == list(range(300))


async def test_append_to_unknown_doc_fails_only_that_update(store: DocumentStore) -> None:
    await store.ensure(n("known"))
    good = store.append(n("known"), b"\x01")
    bad = store.append(n("unknown"), b"\x02")
    good2 = store.append(n("known"), b"\x03")
    await good
    with pytest.raises(DocumentNotFound):
        await bad
    await good2
    assert (await must_load(store, n("known"))).updates == [b"\x01", b"\x03"]
    assert await store.load(n("unknown")) is None


async def test_append_to_doc_deleted_meanwhile_fails_and_writer_continues(
    store: DocumentStore,
) -> None:
    await store.ensure(n("doomed"))
    await store.ensure(n("other"))
    await store.append(n("doomed"), b"\x01")
    assert await store.delete(n("doomed"))
    late = store.append(n("doomed"), b"\x02")
    with pytest.raises(StoreError):
        await late
    await store.append(n("other"), b"\x03")
    assert (await must_load(store, n("other"))).updates == [b"\x03"]


async def test_cancelled_future_does_not_withdraw_update(store: DocumentStore) -> None:
    await store.ensure(n("doc"))
    store.append(n("doc"), b"\x01").cancel()
    await store.flush()
    assert (await must_load(store, n("doc"))).updates == [b"\x01"]


async def test_flush_waits_for_everything_appended_before(store: DocumentStore) -> None:
    await store.ensure(n("doc"))
    futures = [store.append(n("doc"), bytes([i])) for i in range(100)]
    await store.flush()
    assert all(future.done() and future.exception() is None for future in futures)
    await store.flush()  # nothing pending: returns at once


async def test_group_commit_shares_transactions(store: DocumentStore) -> None:
    docs = [n(f"doc-{i}") for i in range(10)]
    for doc in docs:
        await store.ensure(doc)
    before = store.commits

    async def producer(worker: int) -> None:
        for i in range(100):
            await store.append(docs[worker % 10], f"{worker}:{i}".encode())

    await asyncio.gather(*(producer(w) for w in range(50)))
    commits = store.commits - before
    assert commits <= 5000 // 10, f"{commits} transactions for 5000 appends"
    for doc in docs:
        assert (await store.log_stats(doc)).rows == 500


async def test_batch_max_bounds_batch_size(factory: StoreFactory) -> None:
    async with factory(batch_max=10) as store:
        await store.ensure(n("doc"))
        await asyncio.gather(*(store.append(n("doc"), b"\x00") for _ in range(95)))
        assert store.commits == 10


# -- names -------------------------------------------------------------------------------------

AWKWARD_NAMES = [
    "plain",
    "a/b/c",
    "/leading/and/trailing/",
    "../../etc/passwd",
    "emoji 🎉📄👩‍👩‍👧",
    "quotes ' \" `",
    "'; DROP TABLE documents; --",
    "spaces  and\ttabs\nnewline",
    "ünïcödé 文档 مستند",
    "%_ like wildcards *?",
    "back\\slash",
    "nul\x00byte",
    "",
]


async def test_awkward_names_are_isolated(store: DocumentStore) -> None:
    names = AWKWARD_NAMES
    if isinstance(store, PostgresStore):
        # PostgreSQL's text holds no NUL. No client can send one: names.name_problem refuses
        # control characters before any store sees the name. Refused clearly, not mangled.
        names = [name for name in names if "\x00" not in name]
        with pytest.raises(StoreError):
            await store.ensure(n("nul\x00byte"))
    for i, name in enumerate(names):
        await store.ensure(n(name))
        await store.append(n(name), f"update {i}".encode())
    for i, name in enumerate(names):
        stored = await must_load(store, n(name))
        assert stored.updates == [f"update {i}".encode()]
        info = await store.info(n(name))
        assert info is not None and info.name == name
    listed = await store.list_docs(100)
    assert sorted(info.name for info in listed) == sorted(names)
    assert await store.load(n("a/b")) is None
    assert await store.load(n("%")) is None


# -- compaction --------------------------------------------------------------------------------


async def test_compaction_preserves_content(store: DocumentStore) -> None:
    await store.ensure(n("doc"))
    source, updates = recording_doc()
    edit_heavily(source, 1500)
    await asyncio.gather(*(store.append(n("doc"), update) for update in updates))
    assert (await store.log_stats(n("doc"))).rows == len(updates)

    await store.compact(n("doc"))
    stats = await store.log_stats(n("doc"))
    assert (stats.rows, stats.bytes) == (0, 0)
    stored = await must_load(store, n("doc"))
    assert stored.snapshot is not None and stored.updates == []
    assert contents(rebuild(stored)) == contents(source)

    # Edits after a compaction land in the tail; a second compaction folds them in too.
    tail: list[bytes] = []
    source.observe(lambda event: tail.append(event.update))
    edit_heavily(source, 200, seed=99)
    await asyncio.gather(*(store.append(n("doc"), update) for update in tail))
    stored = await must_load(store, n("doc"))
    assert stored.updates == tail
    assert contents(rebuild(stored)) == contents(source)
    await store.compact(n("doc"))
    assert contents(rebuild(await must_load(store, n("doc")))) == contents(source)


async def test_compaction_of_empty_log_and_unknown_doc(store: DocumentStore) -> None:
    info = await store.ensure(n("empty"))
    await store.compact(n("empty"))
    assert await store.load(n("empty")) == StoredDoc(None, [], info.epoch)
    with pytest.raises(DocumentNotFound):
        await store.compact(n("missing"))


async def test_compaction_of_invalid_update_fails_and_keeps_log(store: DocumentStore) -> None:
    await store.ensure(n("doc"))
    await store.append(n("doc"), b"\x00\x00")  # an empty but valid update
    await store.append(n("doc"), b"not a yjs update")
    with pytest.raises(StoreError, match="invalid update"):
        await store.compact(n("doc"))
    stored = await must_load(store, n("doc"))
    assert (stored.snapshot, stored.updates) == (None, [b"\x00\x00", b"not a yjs update"])


async def test_appends_during_compaction_survive(
    store: DocumentStore, gated_merge: Callable[[DocumentStore], Gate]
) -> None:
    await store.ensure(n("doc"))
    source, updates = recording_doc()
    edit_heavily(source, 300)
    await asyncio.gather(*(store.append(n("doc"), update) for update in updates))
    compacted = len(updates)

    gate = gated_merge(store)
    compaction = asyncio.create_task(store.compact(n("doc")))
    await gate.wait_entered()
    edit_heavily(source, 100, seed=3)
    late = updates[compacted:]
    await asyncio.gather(*(store.append(n("doc"), update) for update in late))
    gate.release.set()
    await compaction

    stored = await must_load(store, n("doc"))
    assert stored.snapshot is not None
    assert stored.updates == late
    stats = await store.log_stats(n("doc"))
    assert (stats.rows, stats.bytes) == (len(late), sum(map(len, late)))
    assert contents(rebuild(stored)) == contents(source)


async def test_held_rows_keep_their_place_before_rows_written_during_compaction(
    store: DocumentStore, gated_merge: Callable[[DocumentStore], Gate]
) -> None:
    """A reload integrates in the live room's order even when two updates claim the same
    clocks with different content (a forged one): found by the fuzzer, where compaction moved
    a held row behind rows written meanwhile and the reload showed the forgery's content."""
    writer: Doc[Any] = Doc(client_id=7)
    text = writer.get("text", type=Text)
    text += "a"
    first = writer.get_update()
    before = writer.get_state()
    text += "b"
    second = writer.get_update(before)  # waits for `first`: the room holds it
    forger: Doc[Any] = Doc(client_id=7)
    forger.apply_update(first)
    forger.get("text", type=Text).insert(1, "X")
    forged = forger.get_update(before)  # the same clock as `second`, other content

    await store.ensure(n("doc"))
    await store.append(n("doc"), second)
    gate = gated_merge(store)
    compaction = asyncio.create_task(store.compact(n("doc")))
    await gate.wait_entered()
    await store.append(n("doc"), first)  # releases `second` in the live room
    await store.append(n("doc"), forged)  # then too late: the live room ignores it
    gate.release.set()
    await compaction

    stored = await must_load(store, n("doc"))
    assert stored.updates == [second, first, forged]
    live: Doc[Any] = Doc()
    integrator = Integrator(live)
    for update in (second, first, forged):
        integrator.integrate(update)
    assert str(live.get("text", type=Text)) == "ab"
    parts = ([stored.snapshot] if stored.snapshot is not None else []) + stored.updates
    reloaded: Doc[Any] = Doc()
    reloaded.apply_update(fold(parts).state)
    assert str(reloaded.get("text", type=Text)) == "ab"


async def test_unsynchronised_concurrent_appends_and_compactions(store: DocumentStore) -> None:
    await store.ensure(n("doc"))
    source, updates = recording_doc()
    edit_heavily(source, 2000, seed=11)

    async def appender() -> None:
        for start in range(0, len(updates), 50):
            await asyncio.gather(*(store.append(n("doc"), u) for u in updates[start : start + 50]))

    async def compactor() -> None:
        for _ in range(10):
            await store.compact(n("doc"))
            await asyncio.sleep(0.001)

    await asyncio.gather(appender(), compactor(), compactor())
    assert contents(rebuild(await must_load(store, n("doc")))) == contents(source)
    await store.compact(n("doc"))
    assert contents(rebuild(await must_load(store, n("doc")))) == contents(source)


async def test_compaction_racing_delete_leaves_doc_deleted(
    store: DocumentStore, gated_merge: Callable[[DocumentStore], Gate]
) -> None:
    await store.ensure(n("doc"))
    source, updates = recording_doc()
    edit_heavily(source, 50)
    await asyncio.gather(*(store.append(n("doc"), update) for update in updates))
    gate = gated_merge(store)
    compaction = asyncio.create_task(store.compact(n("doc")))
    await gate.wait_entered()
    assert await store.delete(n("doc"))
    recreated = await store.ensure(n("doc"))
    gate.release.set()
    await compaction
    # The old snapshot must not leak into the new document of the same name.
    assert await store.load(n("doc")) == StoredDoc(None, [], recreated.epoch)


async def test_compaction_keeps_updates_waiting_for_a_missing_predecessor(
    store: DocumentStore,
) -> None:
    source, updates = recording_doc()
    text = source.get("text", type=Text)
    mapping = source.get("map", type=Map)
    text += "hello"  # A
    text += " world"  # B: inserted after A's last character, so it cannot integrate without A
    mapping["k"] = 1  # C: next clock of the same client, so it waits for B
    update_a, update_b, update_c = updates
    expected = contents(source)

    # Precondition: folding B and C through a Doc loses them for good (get_update() leaves out
    # pending structs), which is why compaction must merge raw bytes.
    naive: Doc[Any] = Doc()
    naive.apply_update(update_b)
    naive.apply_update(update_c)
    folded: Doc[Any] = Doc()
    folded.apply_update(naive.get_update())
    folded.apply_update(update_a)
    assert contents(folded) != expected

    await store.ensure(n("doc"))
    await store.append(n("doc"), update_b)
    await store.append(n("doc"), update_c)
    await store.compact(n("doc"))  # the snapshot now consists of B and C only
    await store.append(n("doc"), update_a)
    assert contents(rebuild_merged(await must_load(store, n("doc")))) == expected
    await store.compact(n("doc"))
    stored = await must_load(store, n("doc"))
    assert stored.updates == []
    assert contents(rebuild(stored)) == expected

    # The same dependency order inside one log (B before A) compacts in one go.
    await store.ensure(n("doc2"))
    for update in (update_c, update_b, update_a):
        await store.append(n("doc2"), update)
    await store.compact(n("doc2"))
    assert contents(rebuild(await must_load(store, n("doc2")))) == expected


# -- metadata ----------------------------------------------------------------------------------


async def test_log_stats_and_size(store: DocumentStore) -> None:
    await store.ensure(n("doc"))
    source, updates = recording_doc()
    edit_heavily(source, 100)
    await asyncio.gather(*(store.append(n("doc"), update) for update in updates))
    stats = await store.log_stats(n("doc"))
    assert (stats.rows, stats.bytes) == (len(updates), sum(map(len, updates)))
    info = await store.info(n("doc"))
    assert info is not None and info.size == stats.bytes

    await store.compact(n("doc"))
    stored = await must_load(store, n("doc"))
    assert stored.snapshot is not None
    info = await store.info(n("doc"))
    assert info is not None and info.size == len(stored.snapshot)
    with pytest.raises(DocumentNotFound):
        await store.log_stats(n("missing"))


async def test_list_docs_order_and_paging(factory: StoreFactory) -> None:
    clock = FakeClock()
    async with factory(clock=clock) as store:
        names = [f"doc-{i:02d}" for i in range(25)]
        for name in names:
            clock.now += 1
            await store.ensure(n(name))
        # Equal timestamps must still page without gaps or repeats (tie broken by name).
        clock.now += 1
        ties = ["tie-a", "tie-b", "tie-c", "tie-d"]
        for name in ties:
            await store.ensure(n(name))
        # An append bumps updated_at.
        clock.now += 1
        await store.append(n("doc-03"), b"\x00")

        expected = ["doc-03", *reversed(ties), *[x for x in reversed(names) if x != "doc-03"]]
        assert [info.name for info in await store.list_docs(100)] == expected

        seen: list[str] = []
        before: tuple[float, str] | None = None
        while True:
            page = await store.list_docs(3, before)
            if not page:
                break
            assert len(page) <= 3
            seen.extend(info.name for info in page)
            before = (page[-1].updated_at, page[-1].name)
        assert seen == expected
        with pytest.raises(ValueError):
            await store.list_docs(0)


async def test_set_title_and_info(factory: StoreFactory) -> None:
    clock = FakeClock()
    async with factory(clock=clock) as store:
        created = await store.ensure(n("doc"))
        assert (created.created_at, created.updated_at) == (clock.now, clock.now)
        clock.now += 5
        await store.set_title(n("doc"), "Q3 plan ✍️ 'draft'")
        info = await store.info(n("doc"))
        assert info is not None
        assert info.title == "Q3 plan ✍️ 'draft'"
        assert (info.created_at, info.updated_at) == (created.created_at, clock.now)
        assert info.epoch == created.epoch
        with pytest.raises(DocumentNotFound):
            await store.set_title(n("missing"), "x")


async def test_delete(store: DocumentStore) -> None:
    first = await store.ensure(n("doc"))
    await store.append(n("doc"), b"\x01")
    await store.ensure(n("keep"))
    await store.append(n("keep"), b"\x02")
    assert await store.delete(n("doc"))
    assert await store.load(n("doc")) is None
    assert await store.info(n("doc")) is None
    assert [info.name for info in await store.list_docs(10)] == ["keep"]
    assert not await store.delete(n("doc"))

    second = await store.ensure(n("doc"))
    assert second.epoch != first.epoch
    assert await store.load(n("doc")) == StoredDoc(None, [], second.epoch)
    await store.append(n("doc"), b"\x03")
    assert (await must_load(store, n("doc"))).updates == [b"\x03"]
    assert (await must_load(store, n("keep"))).updates == [b"\x02"]


async def test_ping_and_closed_store(factory: StoreFactory) -> None:
    store = factory()
    async with store:
        await store.ping()
        await store.ensure(n("doc"))
        pending = [store.append(n("doc"), bytes([i])) for i in range(50)]
    # Leaving the context wrote everything still queued.
    assert all(future.done() and future.exception() is None for future in pending)
    with pytest.raises(StoreError):
        await store.ping()
    with pytest.raises(StoreError):
        await store.append(n("doc"), b"\x00")
    with pytest.raises(StoreError):
        await store.load(n("doc"))
    with pytest.raises(StoreError, match="already opened"):
        async with store:
            pass


async def test_append_rejects_non_bytes(store: DocumentStore) -> None:
    await store.ensure(n("doc"))
    with pytest.raises(TypeError):
        store.append(n("doc"), "text")  # type: ignore[arg-type]


# -- versions ----------------------------------------------------------------------------------


def full_update(edits: int = 60, seed: int = 3) -> tuple[bytes, dict[str, Any]]:
    source, _ = recording_doc()
    edit_heavily(source, edits, seed)
    return source.get_update(), contents(source)


async def test_version_round_trip(store: DocumentStore) -> None:
    await store.ensure(n("doc"))
    state, expected = full_update()
    info = await store.add_version(
        n("doc"), kind="auto", state=state, created_at=1234.5, authors=["Ann", "Bő 🎉"]
    )
    assert info == VersionInfo(info.id, 1234.5, "auto", None, ("Ann", "Bő 🎉"), len(state))
    named = await store.add_version(
        n("doc"), kind="named", state=b"\x00\x00", created_at=1300.0, label="Draft 'one'"
    )
    assert named.id > info.id and named.label == "Draft 'one'" and named.authors == ()
    assert await store.list_versions(n("doc")) == [named, info]
    version = await store.get_version(n("doc"), info.id)
    assert version is not None and version.info == info and version.state == state
    assert contents(rebuild(StoredDoc(version.state, [], ""))) == expected


async def test_a_restore_entry_holds_its_backup_and_can_be_marked_undone(
    store: DocumentStore,
) -> None:
    await store.ensure(n("doc"))
    draft = await store.add_version(
        n("doc"), kind="named", state=b"\x00\x00", created_at=1.0, label="Draft 2"
    )
    backup = await store.add_version(
        n("doc"), kind="restore-backup", state=b"\x00\x00", created_at=2.0
    )
    assert await store.list_versions(n("doc")) == [backup, draft]
    restored = RestoredFrom(draft.id, "Draft 2", 1.0, backup.id)
    entry = await store.add_version(
        n("doc"), kind="auto", state=b"\x00\x00", created_at=2.0, restored=restored
    )
    assert entry.restored == restored and entry.undone_at is None
    # The backup is part of the entry: listed no more, still readable.
    assert await store.list_versions(n("doc")) == [entry, draft]
    assert await store.list_versions(n("doc"), limit=1, before=entry.id) == [draft]
    assert (read := await store.get_version(n("doc"), backup.id)) and read.info == backup
    await store.mark_undone(n("doc"), entry.id, 3.5)
    listed = await store.list_versions(n("doc"))
    assert listed == [replace(entry, undone_at=3.5), draft]
    with pytest.raises(DocumentNotFound):
        await store.mark_undone(n("doc"), entry.id + 100, 4.0)


async def test_versions_belong_to_their_document(store: DocumentStore) -> None:
    for name in ("a", "b"):
        await store.ensure(n(name))
    a = await store.add_version(n("a"), kind="auto", state=b"\x00\x00", created_at=1.0)
    b = await store.add_version(n("b"), kind="restore-backup", state=b"\x00\x00", created_at=2.0)
    assert await store.get_version(n("b"), a.id) is None
    assert await store.get_version(n("missing"), a.id) is None
    assert await store.get_version(n("a"), a.id + b.id + 100) is None
    assert await store.list_versions(n("a")) == [a]
    assert await store.delete_versions(n("b"), [a.id]) == 0
    assert await store.delete_versions(n("missing"), [a.id]) == 0
    assert await store.list_versions(n("a")) == [a]
    with pytest.raises(DocumentNotFound):
        await store.list_versions(n("missing"))
    with pytest.raises(DocumentNotFound):
        await store.add_version(n("missing"), kind="auto", state=b"\x00\x00", created_at=1.0)
    with pytest.raises(ValueError):
        await store.add_version(n("a"), kind="weekly", state=b"", created_at=1.0)  # type: ignore[arg-type]


async def test_versions_page_and_delete_without_reusing_ids(store: DocumentStore) -> None:
    await store.ensure(n("doc"))
    made = [
        await store.add_version(n("doc"), kind="auto", state=bytes([0, 0]), created_at=float(i))
        for i in range(7)
    ]
    newest_first = list(reversed(made))
    seen: list[VersionInfo] = []
    before: int | None = None
    while page := await store.list_versions(n("doc"), limit=3, before=before):
        seen.extend(page)
        before = page[-1].id
    assert seen == newest_first
    with pytest.raises(ValueError):
        await store.list_versions(n("doc"), limit=0)

    doomed = [made[1].id, made[6].id, made[6].id, 10**9]
    assert await store.delete_versions(n("doc"), doomed) == 2
    assert await store.delete_versions(n("doc"), []) == 0
    assert [v.id for v in await store.list_versions(n("doc"))] == [
        v.id for v in newest_first if v.id not in doomed
    ]
    again = await store.add_version(n("doc"), kind="auto", state=b"\x00\x00", created_at=9.0)
    assert again.id > made[6].id, "a deleted version's id must never come back"


async def test_deleting_a_document_deletes_its_versions(store: DocumentStore) -> None:
    await store.ensure(n("doc"))
    old = await store.add_version(n("doc"), kind="named", state=b"\x00\x00", created_at=1.0)
    assert await store.delete(n("doc"))
    await store.ensure(n("doc"))
    assert await store.list_versions(n("doc")) == []
    assert await store.get_version(n("doc"), old.id) is None


async def test_durable_state(store: DocumentStore) -> None:
    assert await store.durable_state(n("missing")) is None
    await store.ensure(n("doc"))
    assert await store.durable_state(n("doc")) == b"\x00\x00"
    source, updates = recording_doc()
    edit_heavily(source, 200)
    await asyncio.gather(*(store.append(n("doc"), u) for u in updates[:120]))
    await store.compact(n("doc"))
    for update in updates[120:]:
        store.append(n("doc"), update)  # not awaited: durable_state waits for them
    state = await store.durable_state(n("doc"))
    assert state is not None
    assert contents(rebuild(StoredDoc(state, [], ""))) == contents(source)


async def test_durable_state_keeps_updates_waiting_for_a_predecessor(
    store: DocumentStore,
) -> None:
    source, updates = recording_doc()
    text = source.get("text", type=Text)
    text += "hello"
    text += " world"  # cannot integrate without the first update
    await store.ensure(n("doc"))
    await store.append(n("doc"), updates[1])
    pending = await store.durable_state(n("doc"))
    assert pending == updates[1]
    await store.append(n("doc"), updates[0])
    state = await store.durable_state(n("doc"))
    assert state is not None
    assert str(rebuild(StoredDoc(state, [], "")).get("text", type=Text)) == "hello world"


# -- SQLite only -------------------------------------------------------------------------------


def count_rows(path: Path, data: bytes) -> int:
    with sqlite3.connect(path) as conn:
        row = conn.execute("SELECT count(*) FROM updates WHERE data = ?", (data,)).fetchone()
    return int(row[0])


async def test_sqlite_resolved_means_committed(sqlite_store: SqliteStore) -> None:
    await sqlite_store.ensure(n("doc"))
    seen: dict[bytes, int] = {}

    def check(data: bytes) -> Callable[[asyncio.Future[None]], None]:
        # Runs the moment the future resolves: a separate connection must already see the row.
        return lambda _: seen.__setitem__(data, count_rows(sqlite_store.path, data))

    futures = []
    for i in range(200):
        data = f"row-{i}".encode()
        future = sqlite_store.append(n("doc"), data)
        future.add_done_callback(check(data))
        futures.append(future)
    assert count_rows(sqlite_store.path, b"row-0") == 0
    await asyncio.gather(*futures)
    assert seen == {f"row-{i}".encode(): 1 for i in range(200)}


async def test_sqlite_reopen_keeps_everything(tmp_path: Path) -> None:
    source, updates = recording_doc()
    edit_heavily(source, 300)
    async with SqliteStore(db_path(tmp_path), synchronous="normal") as store:
        info = await store.ensure(n("doc/🎉"))
        await asyncio.gather(*(store.append(n("doc/🎉"), u) for u in updates[:200]))
        await store.compact(n("doc/🎉"))
        await store.set_title(n("doc/🎉"), "Title")
        for update in updates[200:]:
            store.append(n("doc/🎉"), update)  # not awaited: closing must write them
    async with SqliteStore(db_path(tmp_path)) as store:
        stored = await must_load(store, n("doc/🎉"))
        assert stored.epoch == info.epoch
        assert stored.updates == updates[200:]
        assert contents(rebuild(stored)) == contents(source)
        reopened = await store.info(n("doc/🎉"))
        assert reopened is not None and reopened.title == "Title"
        await store.append(n("doc/🎉"), b"\x00")  # the id cache starts empty after a reopen


async def test_sqlite_schema_and_pragmas(sqlite_store: SqliteStore) -> None:
    with sqlite3.connect(sqlite_store.path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_schema")}
    assert {"documents", "updates", "updates_by_doc", "documents_by_updated"} <= tables
    assert {"versions", "versions_by_doc"} <= tables
    assert {"users", "sessions", "shares", "links"} <= tables


async def test_sqlite_migrates_a_version_1_database(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        for statement in MIGRATIONS[0]:
            conn.execute(statement)
        conn.execute("PRAGMA user_version = 1")
        conn.execute(
            "INSERT INTO documents (name, epoch, created_at, updated_at) VALUES ('doc', 'e', 1, 1)"
        )
        conn.execute("INSERT INTO updates (doc_id, data) VALUES (1, x'0000')")
    async with SqliteStore(path) as store:
        assert (await must_load(store, n("doc"))).updates == [b"\x00\x00"]
        assert await store.list_versions(n("doc")) == []
        await store.add_version(n("doc"), kind="named", state=b"\x00\x00", created_at=2.0)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


async def test_sqlite_versions_are_compressed(sqlite_store: SqliteStore) -> None:
    await sqlite_store.ensure(n("doc"))
    state, _ = full_update(edits=2000)
    info = await sqlite_store.add_version(n("doc"), kind="auto", state=state, created_at=1.0)
    with sqlite3.connect(sqlite_store.path) as conn:
        blob, size, authors = conn.execute(
            "SELECT state, size, authors FROM versions WHERE id = ?", (info.id,)
        ).fetchone()
    assert zlib.decompress(blob) == state and size == len(state) and authors == "[]"
    assert len(blob) < len(state)
    with sqlite3.connect(sqlite_store.path) as conn:
        conn.execute("UPDATE versions SET state = x'00ff' WHERE id = ?", (info.id,))
    with pytest.raises(StoreError, match="corrupt"):
        await sqlite_store.get_version(n("doc"), info.id)


async def test_sqlite_counters_match_rows(sqlite_store: SqliteStore) -> None:
    for doc in ("a", "b"):
        await sqlite_store.ensure(n(doc))
    source, updates = recording_doc()
    edit_heavily(source, 500)
    await asyncio.gather(
        *(sqlite_store.append(n("ab"[i % 2]), u) for i, u in enumerate(updates[:400]))
    )
    await sqlite_store.compact(n("a"))
    await asyncio.gather(*(sqlite_store.append(n("a"), u) for u in updates[400:]))
    with sqlite3.connect(sqlite_store.path) as conn:
        for doc in ("a", "b"):
            real = conn.execute(
                "SELECT count(*), coalesce(sum(length(data)), 0) FROM updates"
                " JOIN documents ON documents.id = doc_id WHERE name = ?",
                (doc,),
            ).fetchone()
            stats = await sqlite_store.log_stats(n(doc))
            assert (stats.rows, stats.bytes) == tuple(real)


async def test_sqlite_failed_batch_fails_its_futures_and_writer_continues(
    sqlite_store: SqliteStore, caplog: pytest.LogCaptureFixture
) -> None:
    await sqlite_store.ensure(n("doc"))
    with sqlite3.connect(sqlite_store.path) as conn:
        conn.execute(
            "CREATE TRIGGER reject BEFORE INSERT ON updates WHEN NEW.data = x'dead'"
            " BEGIN SELECT RAISE(ABORT, 'rejected by test trigger'); END"
        )
    commits = sqlite_store.commits
    batch = [sqlite_store.append(n("doc"), data) for data in (b"ok-1", b"\xde\xad", b"ok-2")]
    results = await asyncio.gather(*batch, return_exceptions=True)
    assert all(isinstance(result, StoreError) for result in results)
    assert "rejected by test trigger" in str(results[0])
    assert sqlite_store.commits == commits
    assert "batch of 3 appends failed" in caplog.text
    # The whole batch was rolled back.
    assert (await must_load(sqlite_store, n("doc"))).updates == []
    assert (await sqlite_store.log_stats(n("doc"))).rows == 0

    with sqlite3.connect(sqlite_store.path) as conn:
        conn.execute("DROP TRIGGER reject")
    await sqlite_store.append(n("doc"), b"ok-3")
    await sqlite_store.append(n("doc"), b"\xde\xad")
    assert (await must_load(sqlite_store, n("doc"))).updates == [b"ok-3", b"\xde\xad"]


async def test_sqlite_rejects_bad_settings_and_newer_schema(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        SqliteStore(tmp_path / "x.db", synchronous="FAST")
    with pytest.raises(ValueError):
        SqliteStore(tmp_path / "x.db", batch_max=0)
    path = tmp_path / "future.db"
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(StoreError, match="newer than this server"):
        async with SqliteStore(path):
            pass


async def test_sqlite_throughput(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Prints appends/s; not asserted, timing depends on the disk."""
    docs = [n(f"doc-{i}") for i in range(10)]
    total = 50_000
    payloads = [f"update {i:06d} padding".encode() for i in range(total)]
    async with SqliteStore(tmp_path / "bench.db", synchronous="FULL") as store:
        for doc in docs:
            await store.ensure(doc)

        start = time.perf_counter()
        await asyncio.gather(*(store.append(docs[i % 10], p) for i, p in enumerate(payloads)))
        burst = time.perf_counter() - start
        burst_commits = store.commits

        # 100 clients that each wait for their previous update before sending the next.
        async def client(c: int) -> None:
            for i in range(c, total, 100):
                await store.append(docs[c % 10], payloads[i])

        start = time.perf_counter()
        await asyncio.gather(*(client(c) for c in range(100)))
        paced = time.perf_counter() - start
        paced_commits = store.commits - burst_commits

        assert sum([(await store.log_stats(doc)).rows for doc in docs]) == 2 * total
    with capsys.disabled():
        print(
            f"\nsqlite FULL: burst {total / burst:,.0f} appends/s ({burst_commits} commits); "
            f"100 awaiting clients {total / paced:,.0f} appends/s ({paced_commits} commits)"
        )


async def test_sqlite_checkpoints_leave_the_commit_path(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    async with SqliteStore(path, checkpoint_seconds=0.01) as store:
        await store.ensure(n("doc"))
        before = path.stat().st_size
        for i in range(200):  # 2 MB: far below the writer's own checkpoint threshold
            store.append(n("doc"), bytes([i]) * 10_000)
        await store.flush()
        # Only a checkpoint moves committed pages from the WAL into the database file.
        async with asyncio.timeout(10):
            while path.stat().st_size < before + 2_000_000:  # noqa: ASYNC110 (no event for it)
                await asyncio.sleep(0.01)
        assert len((await must_load(store, n("doc"))).updates) == 200


# -- trash and search (every store) ------------------------------------------------------------


def trash_of(store: DocumentStore) -> Any:
    """The store as a TrashStore and SearchStore (every store here is both)."""
    return store


async def test_a_trashed_document_is_absent_until_restored_with_its_content_and_epoch(
    store: DocumentStore,
) -> None:
    trash = trash_of(store)
    info = await store.ensure(n("doc"))
    await store.append(n("doc"), b"update")
    assert await trash.trash(n("doc"), 1_000.0)
    assert not await trash.trash(n("doc"), 1_001.0), "already in the trash"
    assert await store.info(n("doc")) is None and await store.load(n("doc")) is None
    assert n("doc") not in [d.name for d in await store.list_docs(10)]
    with pytest.raises(DocumentTrashed):
        await store.ensure(n("doc"))  # the name is taken, not silently reused
    entry = await trash.trashed(n("doc"))
    assert entry is not None and entry.deleted_at == 1_000.0 and entry.info.epoch == info.epoch
    assert [e.info.name for e in await trash.list_trash(None, 10)] == [n("doc")]
    assert await trash.expired_trash(1_000.5, 10) == [n("doc")]
    assert await trash.expired_trash(999.0, 10) == []
    assert await trash.restore(n("doc"))
    assert not await trash.restore(n("doc"))
    back = await store.info(n("doc"))
    assert back is not None and back.epoch == info.epoch
    assert (await must_load(store, n("doc"))).updates == [b"update"]
    assert await trash.trashed(n("doc")) is None


async def test_a_purged_name_comes_back_as_a_new_document(store: DocumentStore) -> None:
    trash = trash_of(store)
    old = await store.ensure(n("doc"))
    await trash.trash(n("doc"), 1.0)
    assert await store.delete(n("doc"))
    assert await trash.trashed(n("doc")) is None and await trash.list_trash(None, 10) == []
    new = await store.ensure(n("doc"))
    assert new.epoch != old.epoch


async def test_the_trash_lists_newest_deletions_first(store: DocumentStore) -> None:
    trash = trash_of(store)
    for i, name in enumerate(["a", "b", "c"]):
        await store.ensure(n(name))
        await trash.trash(n(name), 10.0 + i)
    assert [e.info.name for e in await trash.list_trash(None, 2)] == [n("c"), n("b")]
    assert await trash.expired_trash(12.0, 10) == [n("a"), n("b")]


async def index(store: DocumentStore, name: str, title: str, text: str) -> None:
    await store.ensure(n(name))
    await store.set_title(n(name), title)
    await trash_of(store).index_text(n(name), title, text)


async def found(store: DocumentStore, query: str) -> list[str]:
    hits = await trash_of(store).search(query.split(), 20)
    return [hit.name for hit in hits]


async def test_search_matches_prefixes_in_any_order_ignoring_case_and_accents(
    store: DocumentStore,
) -> None:
    await index(store, "plan", "Café plans", "We will collaborate on the naïve résumé.\nMore.")
    await index(store, "other", "Shopping", "Milk, eggs and coffee beans")
    assert await found(store, "coll") == ["plan"]
    assert await found(store, "RESUME naive") == ["plan"]
    assert await found(store, "cafe") == ["plan"]
    assert await found(store, "coffee milk") == ["other"]
    assert await found(store, "coffee resume") == []
    assert await found(store, "zebra") == []
    info = await store.info(n("plan"))
    assert info is not None and info.preview == "We will collaborate on the naïve résumé."
    hits = await trash_of(store).search(["collab"], 5)
    assert "collaborate" in hits[0].snippet and hits[0].title == "Café plans"


async def test_search_ranks_title_matches_first_and_leaves_out_the_trash(
    store: DocumentStore,
) -> None:
    await index(store, "body", "Notes", "the garden needs water; garden tools; garden")
    await index(store, "title", "Garden", "to do")
    assert await found(store, "garden") == ["title", "body"]
    await trash_of(store).trash(n("title"), 1.0)
    assert await found(store, "garden") == ["body"]
    await trash_of(store).restore(n("title"))
    assert await found(store, "garden") == ["title", "body"]
    assert await found(store, "garden") == ["title", "body"]
    assert [h.name for h in await trash_of(store).search(["garden"], 5, only=n("body"))] == ["body"]


async def test_documents_never_indexed_are_listed_once(store: DocumentStore) -> None:
    await store.ensure(n("new"))
    await index(store, "done", "", "text")
    assert await trash_of(store).unindexed(10) == [n("new")]
    await trash_of(store).index_text(n("new"), "", "")
    assert await trash_of(store).unindexed(10) == []


async def test_client_id_bindings_keep_the_first_and_survive_reopening(
    factory: StoreFactory,
) -> None:
    async with factory() as store:
        await store.ensure(n("bound"))
        assert await store.writers(n("bound")) == {}
        first = await store.bind_writers(n("bound"), {7: "anon:aa", 8: "", 2**53 - 1: "anon:bb"})
        assert first == {7: "anon:aa", 8: "", 2**53 - 1: "anon:bb"}
        # A later claim on a bound id gets the binding as stored; a new id is bound.
        assert await store.bind_writers(n("bound"), {7: "anon:cc", 9: "anon:cc"}) == {
            7: "anon:aa",
            9: "anon:cc",
        }
        with pytest.raises(DocumentNotFound):
            await store.bind_writers(n("missing"), {1: "anon:aa"})
        durable = not isinstance(store, MemoryStore)
    async with factory() as store:
        if not durable:
            await store.ensure(n("bound"))
            await store.bind_writers(n("bound"), {7: "anon:aa", 8: "", 9: "anon:cc"})
            await store.bind_writers(n("bound"), {2**53 - 1: "anon:bb"})
        assert await store.writers(n("bound")) == {
            7: "anon:aa",
            8: "",
            9: "anon:cc",
            2**53 - 1: "anon:bb",
        }
        assert await store.delete(n("bound"))
        assert await store.writers(n("bound")) == {}
