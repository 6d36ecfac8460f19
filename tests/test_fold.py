"""Folding stored documents: complete states squash, pending updates survive, in a process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psutil
from pycrdt import Doc, Map, Text

from server.fold import Folder, fold
from server.store.base import DocName
from server.store.sqlite import SqliteStore
from tests.live import ServerProcess


def chain() -> tuple[list[bytes], Doc[Any]]:
    doc: Doc[Any] = Doc()
    out = []
    for step in ("hello", " world", None):
        state = doc.get_state()
        if step is None:
            doc.get("map", type=Map)["k"] = 1
        else:
            doc.get("text", type=Text).insert(len(doc.get("text", type=Text)), step)
        out.append(doc.get_update(state))
    return out, doc


def contents(doc: Doc[Any]) -> tuple[str, object]:
    return str(doc.get("text", type=Text)), doc.get("map", type=Map).to_py()


def test_a_complete_log_folds_into_one_state_and_nothing_left() -> None:
    updates, source = chain()
    folded = fold(updates)
    assert folded.leftover is None
    doc: Doc[Any] = Doc()
    doc.apply_update(folded.state)
    assert contents(doc) == contents(source)


def test_a_gap_keeps_the_pending_part_as_leftover() -> None:
    (a, b, c), source = chain()
    folded = fold([a, c])  # c waits for b
    assert folded.leftover is not None
    doc: Doc[Any] = Doc()
    doc.apply_update(folded.state)
    assert str(doc.get("text", type=Text)) == "hello"
    later: Doc[Any] = Doc()
    for update in (folded.leftover, b):
        later.apply_update(update)
    assert contents(later) == contents(source)


async def test_the_folder_runs_in_a_worker_and_compaction_marks_complete_snapshots(
    tmp_path: Path,
) -> None:
    updates, source = chain()
    async with Folder() as folder:
        assert (await folder(updates)).leftover is None
        async with SqliteStore(tmp_path / "c.db", fold=folder.pair) as store:
            for name, parts in (("whole", updates), ("gap", updates[::2])):
                await store.ensure(DocName(name))
                for update in parts:
                    await store.append(DocName(name), update)
                await store.compact(DocName(name))
            whole = await store.load(DocName("whole"))
            gap = await store.load(DocName("gap"))
    assert whole is not None and whole.snapshot_complete and whole.snapshot is not None
    assert gap is not None and not gap.snapshot_complete and gap.snapshot is not None
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
