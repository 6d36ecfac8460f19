"""Who may change what in a document's comments: one pure decision, `decide`, over the threads
before and after a change (plain data, `model.read_threads`).

- A viewer changes nothing.
- A commenter, an editor and an owner may start threads and reply (as themselves: the author
  must be the actor), resolve and reopen any thread, edit, delete and undelete their own
  comments, and remove a thread that holds only their own comments.
- Editors and owners may also delete anyone's comment (`deleted` set, body untouched) and
  remove any thread. Nobody edits another person's words or changes a thread's anchor, quote,
  author or time.

Stdlib only: unit-tested for every role and action without a document.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .model import (
    COMMENT_KEYS,
    MALFORMED,
    MAX_ANCHOR,
    MAX_BODY,
    MAX_ID,
    MAX_MENTIONS,
    MAX_NAME,
    MAX_QUOTE,
    THREAD_KEYS,
    Threads,
)

COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
MODERATORS = frozenset({"editor", "owner"})
COMMENTERS = frozenset({"commenter", "editor", "owner"})


@dataclass(frozen=True, slots=True)
class Actor:
    """Who makes a change. `id` is the author id the actor writes as (None: it has none, so it
    cannot comment); `name` is set when the server knows the actor's name (an account, a
    token), which its comments must then carry."""

    role: str
    id: str | None
    name: str | None = None


class Refused(Exception):
    """Why a change is not allowed."""


def decide(actor: Actor, before: Threads, after: Threads) -> str | None:
    """None when `actor` may turn `before` into `after`, else the reason it may not."""
    if before == after:
        return None
    try:
        if actor.role not in COMMENTERS:
            raise Refused(f"a {actor.role} cannot change comments")
        for thread_id in before.keys() | after.keys():
            old, new = before.get(thread_id), after.get(thread_id)
            if old != new:
                _thread_change(actor, thread_id, old, new)
    except Refused as exc:
        return str(exc)
    return None


def _thread_change(actor: Actor, thread_id: str, old: Any, new: Any) -> None:
    if new is None:
        if actor.role in MODERATORS:
            return
        if _owns(actor, old) and all(_owns(actor, c) for c in old["comments"].values()):
            return
        raise Refused("only editors remove a thread that holds others' comments")
    _check_thread(thread_id, new)
    if old is None:
        _check_author(actor, new["author"])
        if new["resolved"]:
            raise Refused("a new thread is not resolved")
        for comment_id, comment in new["comments"].items():
            _new_comment(actor, comment_id, comment)
        return
    for key in ("id", "quote", "anchor", "author", "created_at"):
        if old.get(key) != new.get(key):
            raise Refused(f"a thread's {key} cannot change")
    # Resolving and reopening: anyone who may comment (see the module's docstring).
    before, after = old["comments"], new["comments"]
    for comment_id in before.keys() | after.keys():
        was, now = before.get(comment_id), after.get(comment_id)
        if was == now:
            continue
        if was is None:
            _new_comment(actor, comment_id, now)
        elif now is None:
            if not (actor.role in MODERATORS or _owns(actor, was)):
                raise Refused("only its author or an editor removes a comment")
        else:
            _changed_comment(actor, comment_id, was, now)


def _new_comment(actor: Actor, comment_id: str, comment: Any) -> None:
    _check_comment(comment_id, comment)
    _check_author(actor, comment["author"])
    if comment["deleted"] or comment["edited_at"] is not None:
        raise Refused("a new comment is neither deleted nor edited")


def _changed_comment(actor: Actor, comment_id: str, was: Any, now: Any) -> None:
    _check_comment(comment_id, now)
    for key in ("id", "author", "created_at"):
        if was.get(key) != now.get(key):
            raise Refused(f"a comment's {key} cannot change")
    if _owns(actor, was):
        return
    words = ("body", "edited_at", "mentions")
    if any(was.get(key) != now.get(key) for key in words):
        raise Refused("only its author edits a comment")
    if actor.role in MODERATORS and not was["deleted"] and now["deleted"]:
        return  # an editor deletes someone else's comment
    raise Refused("only its author or an editor deletes a comment, and only its author restores it")


def _owns(actor: Actor, item: Any) -> bool:
    author = item.get("author") if isinstance(item, dict) else None
    return actor.id is not None and isinstance(author, dict) and author.get("id") == actor.id


def _check_author(actor: Actor, author: Any) -> None:
    if actor.id is None:
        raise Refused("this connection has no author identity to comment as")
    if author.get("id") != actor.id:
        raise Refused("a comment's author must be the person writing it")
    if actor.name is not None and author.get("name") != actor.name:
        raise Refused("a signed-in author's name is the one the server knows")


def _check_thread(thread_id: str, thread: Any) -> None:
    if thread is MALFORMED or not isinstance(thread, dict) or set(thread) != THREAD_KEYS:
        raise Refused("a thread must hold exactly its fields")
    if thread["id"] != thread_id or not _is_id(thread_id):
        raise Refused("a thread's id is its key")
    quote, anchor = thread["quote"], thread["anchor"]
    if not isinstance(quote, str) or len(quote) > MAX_QUOTE:
        raise Refused(f"a quote is text of at most {MAX_QUOTE} characters")
    if anchor is not None and (not isinstance(anchor, str) or len(anchor) > MAX_ANCHOR):
        raise Refused("an anchor is a string of relative positions")
    resolved_at = thread["resolved_at"]
    if not isinstance(thread["resolved"], bool) or not _is_time(thread["created_at"]):
        raise Refused("resolved is true or false; created_at is a time")
    if resolved_at is not None and not _is_time(resolved_at):
        raise Refused("resolved_at is a time or null")
    _check_author_shape(thread["author"])
    if not isinstance(thread["comments"], dict):
        raise Refused("a thread's comments are a map")


def _check_comment(comment_id: str, comment: Any) -> None:
    if comment is MALFORMED or not isinstance(comment, dict):
        raise Refused("a comment must be a map")
    keys = set(comment)
    if not {"id", "body", "author", "created_at", "edited_at", "deleted"} <= keys <= COMMENT_KEYS:
        raise Refused("a comment must hold exactly its fields")
    if comment["id"] != comment_id or not _is_id(comment_id):
        raise Refused("a comment's id is its key")
    body, deleted = comment["body"], comment["deleted"]
    if not isinstance(deleted, bool) or not isinstance(body, str):
        raise Refused("a comment's body is text; deleted is true or false")
    if len(body) > MAX_BODY or (not deleted and not body.strip()):
        raise Refused(f"a comment is 1 to {MAX_BODY} characters")
    if not _is_time(comment["created_at"]) or not (
        comment["edited_at"] is None or _is_time(comment["edited_at"])
    ):
        raise Refused("created_at and edited_at are times")
    mentions = comment.get("mentions", [])
    if not isinstance(mentions, list) or len(mentions) > MAX_MENTIONS:
        raise Refused(f"mentions are a list of at most {MAX_MENTIONS} user ids")
    if not all(isinstance(m, str) and _is_id(m) for m in mentions):
        raise Refused("a mention is a user id")
    _check_author_shape(comment["author"])


def _check_author_shape(author: Any) -> None:
    if (
        not isinstance(author, dict)
        or set(author) != {"id", "name", "color"}
        or not _is_id(author["id"])
        or not isinstance(author["name"], str)
        or not 0 < len(author["name"]) <= MAX_NAME
        or not isinstance(author["color"], str)
        or COLOUR.fullmatch(author["color"]) is None
    ):
        raise Refused("an author is {id, name, color}")


def _is_id(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_ID


def _is_time(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0
