"""Holds every change to a comments document to the policy before the room applies it.

The change is applied to a shadow copy of the live comments document; it must integrate in
full (an update waiting for predecessors could take effect later, unchecked, so it is refused)
and touch nothing but the `threads` map; then the threads it touched, before (the live
document) and after (the shadow), as plain data, go to `policy.decide`. The shadow follows the
live document: an allowed change is applied to both, and after anything else (a refusal, a
server-side change, a failure) it is copied afresh. So a reply costs the reply, not the whole
document (at 1,000 threads a fresh copy and two full reads took 240 ms; see
`bench/comments_guard.py`).
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from pycrdt import Doc, Map

from ..store.base import User
from ..sync.integrate import new_doc
from ..sync.yupdate import Dependencies, read_state_vector
from .model import THREADS, read_thread
from .policy import Actor, decide

log = logging.getLogger("coedit.comments")

# An anonymous author id is a digest of a secret only its browser holds: others see the id on
# every comment, but cannot write as it.
MIN_KEY, MAX_KEY = 16, 200


def anonymous_id(key: str) -> str:
    """The author id of the browser that holds `key` (the browser computes the same)."""
    return "anon:" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def writer_of(key: str | None) -> str | None:
    """Whom a connection presenting `key` writes for (see sync/writers.py): the same digest
    its comments are signed with; None without a usable key."""
    return anonymous_id(key) if key is not None and MIN_KEY <= len(key) <= MAX_KEY else None


def actor_for(role: str, user: User | None, name: str | None, key: str | None) -> Actor:
    """Who a connection or request comments as: an account (`user:<username>`), a token's name
    (`jwt:<name>`), else the browser's secret key (`anon:<digest>`), else nobody."""
    if user is not None:
        return Actor(role, f"user:{user.username}", user.username)
    if name:
        return Actor(role, f"jwt:{name}", name)
    return Actor(role, writer_of(key))


def _touched(events: list[Any], into: set[str]) -> None:
    for event in events:
        path = getattr(event, "path", None) or []
        if path:
            into.add(str(path[0]))
        else:  # the threads map itself: threads added, replaced or removed
            into.update(str(key) for key in getattr(event, "keys", {}) or {})


class CommentGuard:
    """The check of one comments room's writes (`sync.room.WriteGuard`); one per room."""

    def __init__(self) -> None:
        self._shadow: Doc[Any] | None = None

    def changed(self) -> None:
        """The live document changed other than through `refusal` (a server-side change)."""
        self._shadow = None

    def refusal(self, doc: Doc[Any], update: bytes, deps: Dependencies, actor: Any) -> str | None:
        """None when `actor` may apply `update` to `doc`, else why not; `doc` is unchanged,
        and the caller applies the update to it next when allowed."""
        if not isinstance(actor, Actor):
            return "this connection cannot change comments"
        live = read_state_vector(doc.get_state())
        if not deps.ready(live):
            return "a change to comments must not wait for changes the server does not have"
        shadow = self._shadow_of(doc, live)
        touched: set[str] = set()
        try:
            root = shadow.get(THREADS, type=Map)
            subscription = root.observe_deep(lambda events: _touched(events, touched))
            try:
                shadow.apply_update(update)
            finally:
                root.unobserve(subscription)
            reached = read_state_vector(shadow.get_state())
            if any(reached.get(client, 0) < end for client, _, end in deps.sections):
                why: str | None = "the change does not integrate"
            elif set(shadow.keys()) - {THREADS}:
                why = "comments hold nothing but threads"
            else:
                before = {t: read_thread(doc, t) for t in touched}
                after = {t: read_thread(shadow, t) for t in touched}
                why = decide(
                    actor,
                    {t: v for t, v in before.items() if v is not None},
                    {t: v for t, v in after.items() if v is not None},
                )
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException:  # pycrdt panics derive from BaseException
            log.info("a change to comments failed on the trial copy", exc_info=True)
            why = "the change cannot be read as comments"
        if why is not None:
            self._shadow = None  # it holds the refused change: copy afresh next time
        return why

    def _shadow_of(self, doc: Doc[Any], live: dict[int, int]) -> Doc[Any]:
        shadow = self._shadow
        if shadow is None or read_state_vector(shadow.get_state()) != live:
            shadow = new_doc()
            shadow.apply_update(doc.get_update())
            self._shadow = shadow
        return shadow
