"""What checking a comment costs: `CommentGuard.refusal` for each of a stream of replies, as a
room runs it (each allowed reply then applied to the live document), against that apply itself,
in the same process, at 10, 100 and 1,000 threads (three comments each).

    python -m bench.comments_guard
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from pycrdt import Doc, Map

from server.comments.guard import CommentGuard
from server.comments.model import THREADS
from server.comments.policy import Actor
from server.sync.yupdate import update_dependencies

AUTHOR = {"id": "user:ana", "name": "ana", "color": "#336699"}
REPLIES = 50


def comment(cid: str) -> Map[Any]:
    fields: dict[str, Any] = {"id": cid, "body": "a comment of ordinary length, " * 3}
    fields.update(author=AUTHOR, created_at=1.0, edited_at=None, deleted=False, mentions=[])
    return Map(fields)


def comments_doc(threads: int) -> Doc[Any]:
    doc: Doc[Any] = Doc()
    root = doc.get(THREADS, type=Map)
    for i in range(threads):
        root[f"t{i}"] = Map(
            {
                "id": f"t{i}",
                "quote": "some quoted text",
                "anchor": None,
                "resolved": False,
                "resolved_at": None,
                "author": AUTHOR,
                "created_at": 1.0,
                "comments": Map({f"c{i}-{j}": comment(f"c{i}-{j}") for j in range(3)}),
            }
        )
    return doc


def run(threads: int) -> tuple[float, float]:
    """Median seconds per reply: checked, and applied to the live document."""
    live = comments_doc(threads)
    client: Doc[Any] = Doc()
    client.apply_update(live.get_update())
    guard, actor = CommentGuard(), Actor("commenter", "user:ana", "ana")
    checks, applies = [], []
    for n in range(REPLIES):
        before = client.get_state()
        client.get(THREADS, type=Map)[f"t{n % threads}"]["comments"][f"r{n}"] = comment(f"r{n}")
        update = client.get_update(before)
        deps = update_dependencies(update)
        started = time.perf_counter()
        assert guard.refusal(live, update, deps, actor) is None
        checked = time.perf_counter()
        live.apply_update(update)
        applied = time.perf_counter()
        checks.append(checked - started)
        applies.append(applied - checked)
    return statistics.median(checks), statistics.median(applies)


def main() -> None:
    print("threads  check (ms)  apply (ms)  check/apply")
    for threads in (10, 100, 1000):
        check, apply = run(threads)
        print(f"{threads:7d}  {check * 1e3:10.3f}  {apply * 1e3:10.3f}  {check / apply:11.1f}")


if __name__ == "__main__":
    main()
