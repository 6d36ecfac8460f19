"""Changes the server makes to a comments document for the HTTP API, and the API's view of it.

Each change is a function of a Doc, built before it runs (ids and times fixed), so it can be
tried on a copy for the policy and then made on the live document, the same change twice.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterator
from typing import Any

from pycrdt import Doc, Map, StickyIndex

from ..content import PMNode, doc_to_json
from .model import THREADS, shown_resolved

Change = Callable[[Doc[Any]], None]


class NotFound(LookupError):
    """No such thread or comment."""


def new_id() -> str:
    return secrets.token_hex(12)


def now_ms() -> float:
    return time.time() * 1000


def _comment(
    comment_id: str, body: str, author: dict[str, str], at: float, mentions: list[str]
) -> Map[Any]:
    return Map(
        {
            "id": comment_id,
            "body": body,
            "author": author,
            "created_at": at,
            "edited_at": None,
            "deleted": False,
            "mentions": mentions,
        }
    )


def _thread(doc: Doc[Any], thread_id: str) -> Map[Any]:
    thread = doc.get(THREADS, type=Map).get(thread_id)
    if not isinstance(thread, Map):
        raise NotFound(f"no thread {thread_id!r}")
    return thread


def _comment_of(doc: Doc[Any], thread_id: str, comment_id: str) -> Map[Any]:
    comments = _thread(doc, thread_id).get("comments")
    found = comments.get(comment_id) if isinstance(comments, Map) else None
    if not isinstance(found, Map):
        raise NotFound(f"no comment {comment_id!r} in thread {thread_id!r}")
    return found


def start_thread(
    thread_id: str, quote: str, body: str, author: dict[str, str], mentions: list[str]
) -> Change:
    """A thread placed on the first occurrence of `quote` (no anchor: see model.py)."""
    at, first = now_ms(), new_id()

    def change(doc: Doc[Any]) -> None:
        doc.get(THREADS, type=Map)[thread_id] = Map(
            {
                "id": thread_id,
                "quote": quote,
                "anchor": None,
                "resolved": False,
                "resolved_at": None,
                "author": author,
                "created_at": at,
                "comments": Map({first: _comment(first, body, author, at, mentions)}),
            }
        )

    return change


def reply(
    thread_id: str, comment_id: str, body: str, author: dict[str, str], mentions: list[str]
) -> Change:
    """A reply; it reopens a resolved thread (as the editor's replies do)."""
    at = now_ms()

    def change(doc: Doc[Any]) -> None:
        thread = _thread(doc, thread_id)
        thread["comments"][comment_id] = _comment(comment_id, body, author, at, mentions)
        if thread.get("resolved") is True:
            thread["resolved"] = False

    return change


def set_resolved(thread_id: str, resolved: bool) -> Change:
    at = now_ms()

    def change(doc: Doc[Any]) -> None:
        thread = _thread(doc, thread_id)
        thread["resolved"] = resolved
        thread["resolved_at"] = at if resolved else None

    return change


def edit_comment(thread_id: str, comment_id: str, body: str) -> Change:
    at = now_ms()

    def change(doc: Doc[Any]) -> None:
        comment = _comment_of(doc, thread_id, comment_id)
        comment["body"] = body
        comment["edited_at"] = at

    return change


def delete_comment(thread_id: str, comment_id: str, own: bool) -> Change:
    """Marks it deleted; its author's own delete also clears the words."""

    def change(doc: Doc[Any]) -> None:
        comment = _comment_of(doc, thread_id, comment_id)
        comment["deleted"] = True
        if own:
            comment["body"] = ""

    return change


def comment_author(doc: Doc[Any], thread_id: str, comment_id: str) -> str | None:
    author = _comment_of(doc, thread_id, comment_id).get("author")
    return author.get("id") if isinstance(author, dict) else None


# -- the text, for placing and checking anchors ---------------------------------------------


def text_blocks(text_doc: Doc[Any]) -> list[str]:
    """The text of each block holding text, as the editor's quote search sees it."""
    return list(_blocks(doc_to_json(text_doc)))


def _blocks(node: PMNode) -> Iterator[str]:
    children = node.get("content") or []
    if any(child.get("type") in ("text", "hardBreak") for child in children):
        yield "".join(
            child.get("text", "") if child.get("type") == "text" else "\n" for child in children
        )
        return
    for child in children:
        yield from _blocks(child)


def detached(thread: dict[str, Any], text_doc: Doc[Any], blocks: list[str]) -> bool:
    """Whether the text a thread is on is gone. A thread without an anchor sits on its quote's
    first occurrence. An anchor whose two ends still enclose text is attached; one whose ends
    met (or lie in different blocks) is judged by whether its quote still occurs."""
    quote = thread.get("quote")
    occurs = isinstance(quote, str) and any(quote in block for block in blocks)
    anchor = thread.get("anchor")
    if not isinstance(anchor, str):
        return not occurs
    try:
        ends = json.loads(anchor)
        with text_doc.transaction() as txn:
            start = StickyIndex.from_json(ends["start"]).get_index(txn)
            end = StickyIndex.from_json(ends["end"]).get_index(txn)
    except Exception:  # noqa: BLE001 - an anchor the server cannot read: judge by the quote
        return not occurs
    return end <= start and not occurs


def api_threads(threads: dict[str, Any], text_doc: Doc[Any]) -> list[dict[str, Any]]:
    """The threads as `GET /api/docs/{name}/comments` lists them, oldest first."""
    blocks = text_blocks(text_doc)
    out = []
    for thread in threads.values():
        if not isinstance(thread, dict):
            continue
        out.append(api_thread(thread, text_doc, blocks))
    out.sort(key=lambda t: (t["created_at"], t["id"]))
    return out


def api_thread(thread: dict[str, Any], text_doc: Doc[Any], blocks: list[str]) -> dict[str, Any]:
    comments = [c for c in (thread.get("comments") or {}).values() if isinstance(c, dict)]
    comments.sort(key=lambda c: (c.get("created_at", 0), c.get("id", "")))
    return {
        "id": thread.get("id"),
        "quote": thread.get("quote"),
        "resolved": shown_resolved(thread),
        "detached": detached(thread, text_doc, blocks),
        "created_at": thread.get("created_at"),
        "author": _api_author(thread.get("author")),
        "comments": [
            {
                "id": c.get("id"),
                "body": "" if c.get("deleted") else c.get("body"),
                "deleted": bool(c.get("deleted")),
                "author": _api_author(c.get("author")),
                "created_at": c.get("created_at"),
                "edited_at": c.get("edited_at"),
            }
            for c in comments
        ],
    }


def _api_author(author: Any) -> dict[str, Any]:
    if not isinstance(author, dict):
        return {"name": None}
    return {"id": author.get("id"), "name": author.get("name"), "color": author.get("color")}
