"""Folding stored documents: complete states squash, pending updates survive, in a process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psutil
import pytest
from pycrdt import Doc, Map, Text

from server.store.base import DocName
from server.store.sqlite import SqliteStore
from server.sync.fold import CHECK_EVERY, WORKER_NICENESS, Folder, fold
from tests.live import ServerProcess
from tests.updates import chain_of_updates, contents


def test_a_complete_log_folds_into_one_state_and_nothing_left() -> None:
    updates, source = chain_of_updates()
    folded = fold(updates)
    assert folded.held == ()
    doc: Doc[Any] = Doc()
    doc.apply_update(folded.state)
    assert contents(doc) == contents(source)


def test_a_gap_keeps_the_waiting_update_held_as_it_was() -> None:
    (a, b, c), source = chain_of_updates()
    folded = fold([a, c])  # c waits for b
    assert folded.held == (c,)
    doc: Doc[Any] = Doc()
    doc.apply_update(folded.state)
    assert str(doc.get("text", type=Text)) == "hello"
    later: Doc[Any] = Doc()
    for update in (folded.state, *folded.held, b):
        later.apply_update(update)
    assert contents(later) == contents(source)


async def test_the_folder_runs_in_a_worker_and_compaction_keeps_held_updates_as_rows(
    tmp_path: Path,
) -> None:
    updates, source = chain_of_updates()
    async with Folder() as folder:
        assert (await folder(updates)).held == ()
        async with SqliteStore(tmp_path / "c.db", fold=folder.pair) as store:
            for name, parts in (("whole", updates), ("gap", updates[::2])):
                await store.ensure(DocName(name))
                for update in parts:
                    await store.append(DocName(name), update)
                await store.compact(DocName(name))
            whole = await store.load(DocName("whole"))
            gap = await store.load(DocName("gap"))
    assert whole is not None and whole.snapshot_complete and whole.snapshot is not None
    assert not whole.updates
    # What waits for a missing predecessor stays a row of its own, out of the snapshot.
    assert gap is not None and gap.snapshot_complete and gap.snapshot is not None
    assert gap.updates == updates[::2][1:]
    doc: Doc[Any] = Doc()
    doc.apply_update(whole.snapshot)
    assert contents(doc) == contents(source)


def test_the_worker_does_not_outlive_a_killed_server(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "coedit.db")
    server.start()
    try:
        workers = psutil.Process(server.pid).children(recursive=True)
        assert workers, "the server starts its fold worker at startup"
    finally:
        server.kill()  # SIGKILL: nothing in the server gets to shut the pool down
    _, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive, f"orphaned workers: {alive}"


def two_writers() -> tuple[list[bytes], Doc[Any]]:
    """A's text, then B's edits that point into it: B's updates depend on A's."""
    a: Doc[Any] = Doc()
    a.get("text", type=Text).insert(0, "hello")
    first = a.get_update()
    b: Doc[Any] = Doc()
    b.apply_update(first)
    updates = [first]
    for piece in (" big", " world", "!"):
        state = b.get_state()
        text = b.get("text", type=Text)
        text.insert(len(text), piece)
        updates.append(b.get_update(state))
    return updates, b


def map_rows(count: int) -> list[bytes]:
    """Rows of a third writer that touch only the map."""
    doc: Doc[Any] = Doc()
    rows = []
    for i in range(count):
        state = doc.get_state()
        doc.get("map", type=Map)[str(i)] = i
        rows.append(doc.get_update(state))
    return rows


def folded_text(parts: list[bytes]) -> str:
    folded = fold(parts)
    doc: Doc[Any] = Doc()
    doc.apply_update(folded.state)
    for update in folded.held:
        doc.apply_update(update)
    return str(doc.get("text", type=Text))


def test_rows_stored_before_a_cross_client_dependency_fold_completely() -> None:
    # B's rows reach the log before A's (a held update is stored at once): the quick fold
    # cannot see that from the clocks alone, its state check must.
    (first, *rest), source = two_writers()
    expected = str(source.get("text", type=Text))
    padding = map_rows(3)
    for parts in ([*rest, first], [rest[0], first, *rest[1:]], [*padding, *rest, first]):
        assert folded_text(parts) == expected
        assert fold(parts).held == ()
    # Without A's row the rest is kept held, never dropped.
    for parts in (rest, [*map_rows(CHECK_EVERY + 1), *rest]):
        folded = fold(parts)
        assert folded.held == tuple(rest)
        later: Doc[Any] = Doc()
        for update in (folded.state, first, *folded.held):
            later.apply_update(update)
        assert str(later.get("text", type=Text)) == expected


def test_a_dependency_is_caught_between_two_state_checks() -> None:
    (first, *rest), source = two_writers()
    rows = map_rows(CHECK_EVERY * 2)
    parts = [*rows[:5], *rest, *rows[5:], first]
    folded = fold(parts)
    doc: Doc[Any] = Doc()
    doc.apply_update(folded.state)
    assert folded.held == ()
    assert str(doc.get("text", type=Text)) == str(source.get("text", type=Text))
    assert len(doc.get("map", type=Map)) == CHECK_EVERY * 2


async def test_a_dead_worker_is_replaced_and_the_fold_still_completes() -> None:
    updates, source = chain_of_updates()
    async with Folder() as folder:
        for _ in range(2):
            workers = [
                child
                for child in psutil.Process().children()
                if "spawn_main" in " ".join(child.cmdline())
            ]
            assert workers, "the folder runs a worker process"
            for worker in workers:
                worker.kill()  # as the OOM killer would
            psutil.wait_procs(workers, timeout=10)
            folded = await folder(updates)
            doc: Doc[Any] = Doc()
            doc.apply_update(folded.state)
            assert contents(doc) == contents(source)
        assert (await folder(updates)).held == ()


async def test_the_worker_yields_the_cpu_to_the_server() -> None:
    async with Folder() as folder:
        await folder([b"\x00\x00"])
        workers = [
            child
            for child in psutil.Process().children()
            if "spawn_main" in " ".join(child.cmdline())
        ]
        assert workers
        for worker in workers:
            assert worker.nice() == psutil.Process().nice() + WORKER_NICENESS


async def test_a_panic_in_the_worker_comes_back_as_an_error_that_says_so() -> None:
    """pyo3's PanicException cannot be pickled back from the worker: the server read only a
    PicklingError (soak seed 35). A zero-length GC made pycrdt 0.14.13 divide by zero; the
    validator refuses it, so only a damaged store would hold it."""
    panics = bytes.fromhex("01020500040101740161000000")
    updates, source = chain_of_updates()
    async with Folder() as folder:
        with pytest.raises(RuntimeError, match="pycrdt panicked"):
            await folder([panics], pending_first=True)  # a raw snapshot: applied unchecked
        folded = await folder(updates)  # the worker lives on
        doc: Doc[Any] = Doc()
        doc.apply_update(folded.state)
        assert contents(doc) == contents(source)
