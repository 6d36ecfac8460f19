"""A comments document as plain data, and the shape its values must have.

The comments document's root Map `threads` holds one Map per thread (id -> Map): `id`,
`quote`, `anchor` (a JSON string of Yjs relative positions into the text, `{"start", "end"}`;
null for a thread made over HTTP, which is placed on the first occurrence of its quote),
`resolved` and `resolved_at` (see `shown_resolved`), `author` (`{"id", "name", "color"}`),
`created_at` (Unix milliseconds) and `comments`, a Map of comment id -> Map: `id`, `body`,
`author`, `created_at`, `edited_at` (null or milliseconds), `deleted`, `mentions` (user ids).

Reading turns every shared type into plain data; a value of an unexpected kind (a Y.Text for a
body, a thread that is not a Map) becomes `MALFORMED`, which the policy refuses wherever it is
new. Imports pycrdt only.
"""

from __future__ import annotations

from typing import Any, Final

from pycrdt import Array, Doc, Map, Text, XmlElement, XmlFragment, XmlText

THREADS: Final = "threads"
MAX_BODY: Final = 10_000
MAX_QUOTE: Final = 10_000
MAX_ANCHOR: Final = 4_096
MAX_NAME: Final = 100
MAX_ID: Final = 200
MAX_MENTIONS: Final = 50

THREAD_KEYS: Final = frozenset(
    {"id", "quote", "anchor", "resolved", "resolved_at", "author", "created_at", "comments"}
)
COMMENT_KEYS: Final = frozenset(
    {"id", "body", "author", "created_at", "edited_at", "deleted", "mentions"}
)

Threads = dict[str, Any]


class _Malformed:
    """A value of a kind the comments format does not have."""

    def __repr__(self) -> str:
        return "MALFORMED"


MALFORMED: Final = _Malformed()

_SHARED = (Text, Array, XmlElement, XmlFragment, XmlText)


def shown_resolved(thread: dict[str, Any]) -> bool:
    """A thread is resolved when `resolved` is set and no comment was written after the resolve:
    a reply reopens it, also one written offline that arrives later (by the writers' clocks)."""
    at = thread.get("resolved_at")
    if thread.get("resolved") is not True or not isinstance(at, (int, float)):
        return False
    comments = thread.get("comments")
    return not isinstance(comments, dict) or all(
        not isinstance(c, dict) or c.get("deleted") or c.get("created_at", 0) <= at
        for c in comments.values()
    )


def read_threads(doc: Doc[Any]) -> Threads:
    """The threads of a comments document as plain data (dicts, strings, numbers)."""
    root = doc.get(THREADS, type=Map)
    return {key: _thread(value) for key, value in root.items()}


def read_thread(doc: Doc[Any], thread_id: str) -> Any:
    """One thread as plain data (as `read_threads` has it), or None when there is none."""
    value = doc.get(THREADS, type=Map).get(thread_id)
    return None if value is None else _thread(value)


def _thread(value: object) -> Any:
    if not isinstance(value, Map):
        return MALFORMED
    thread: dict[str, Any] = {}
    for key, item in value.items():
        if key == "comments":
            thread[key] = (
                {cid: _comment(c) for cid, c in item.items()}
                if isinstance(item, Map)
                else MALFORMED
            )
        else:
            thread[key] = _plain(item)
    return thread


def _comment(value: object) -> Any:
    if not isinstance(value, Map):
        return MALFORMED
    return {key: _plain(item) for key, item in value.items()}


def _plain(value: object) -> Any:
    """JSON values as they are; a nested shared type is not a value the format has."""
    if isinstance(value, (Map, *_SHARED)):
        return MALFORMED
    return value
