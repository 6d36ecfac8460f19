"""A user's mentions: the comments that mention them, or reply to threads they started, found in
the threads of one comments document (plain data, `model.read_threads`). Pure."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

# "@name" in a body: the characters a username may have (`auth.USERNAME`).
MENTION = re.compile(r"@([A-Za-z0-9_.\-]+)")


def mentioned(body: str, readers: Iterable[str]) -> list[str]:
    """The user ids of the readers a body mentions as @username, in the body's order."""
    known = {name.lower(): name for name in readers}
    out: list[str] = []
    for match in MENTION.finditer(body):
        name = known.get(match.group(1).lower())
        if name is not None and f"user:{name}" not in out:
            out.append(f"user:{name}")
    return out


def mentions_of(user_id: str, threads: dict[str, Any]) -> list[dict[str, Any]]:
    """Comments by others that mention `user_id` or reply to a thread it started."""
    found: list[dict[str, Any]] = []
    for thread in threads.values():
        if not isinstance(thread, dict) or not isinstance(thread.get("comments"), dict):
            continue
        started = _author_id(thread) == user_id
        comments = [c for c in thread["comments"].values() if isinstance(c, dict)]
        first = min(comments, key=lambda c: c.get("created_at", 0), default=None)
        for comment in comments:
            if comment.get("deleted") or _author_id(comment) == user_id:
                continue
            mentions = comment.get("mentions")
            if isinstance(mentions, list) and user_id in mentions:
                reason = "mention"
            elif started and comment is not first:
                reason = "reply"
            else:
                continue
            author = comment.get("author")
            found.append(
                {
                    "thread": thread.get("id"),
                    "comment": comment.get("id"),
                    "reason": reason,
                    "quote": thread.get("quote"),
                    "body": comment.get("body"),
                    "author": {"name": author.get("name") if isinstance(author, dict) else None},
                    "created_at": comment.get("created_at"),
                }
            )
    return found


def _author_id(item: dict[str, Any]) -> str | None:
    author = item.get("author")
    value = author.get("id") if isinstance(author, dict) else None
    return value if isinstance(value, str) else None
