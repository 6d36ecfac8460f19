"""Holds every change to a comments document to the policy before the room applies it.

The change is applied to a throw-away copy of the live comments document; it must integrate in
full (an update waiting for predecessors could take effect later, unchecked, so it is refused)
and touch nothing but the `threads` map; then the threads before and after, as plain data, go
to `policy.decide`. Comments documents are small, so a copy per change is cheap.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from pycrdt import Doc

from ..store.base import User
from ..sync.yupdate import Dependencies, read_state_vector
from .model import THREADS, read_threads
from .policy import Actor, decide

log = logging.getLogger("coedit.comments")

# An anonymous author id is a digest of a secret only its browser holds: others see the id on
# every comment, but cannot write as it.
MIN_KEY, MAX_KEY = 16, 200


def anonymous_id(key: str) -> str:
    """The author id of the browser that holds `key` (the browser computes the same)."""
    return "anon:" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def actor_for(role: str, user: User | None, name: str | None, key: str | None) -> Actor:
    """Who a connection or request comments as: an account (`user:<username>`), a token's name
    (`jwt:<name>`), else the browser's secret key (`anon:<digest>`), else nobody."""
    if user is not None:
        return Actor(role, f"user:{user.username}", user.username)
    if name:
        return Actor(role, f"jwt:{name}", name)
    if key is not None and MIN_KEY <= len(key) <= MAX_KEY:
        return Actor(role, anonymous_id(key))
    return Actor(role, None)


class CommentGuard:
    """The room's check of a write to a comments document (`sync.room.WriteGuard`)."""

    def refusal(self, doc: Doc[Any], update: bytes, deps: Dependencies, actor: Any) -> str | None:
        """None when `actor` may apply `update` to `doc`, else why not; `doc` is unchanged."""
        if not isinstance(actor, Actor):
            return "this connection cannot change comments"
        if not deps.ready(read_state_vector(doc.get_state())):
            return "a change to comments must not wait for changes the server does not have"
        copy: Doc[Any] = Doc()
        try:
            copy.apply_update(doc.get_update())
            before = read_threads(copy)
            copy.apply_update(update)
            reached = read_state_vector(copy.get_state())
            if any(reached.get(client, 0) < end for client, _, end in deps.sections):
                return "the change does not integrate"
            if set(copy.keys()) - {THREADS}:
                return "comments hold nothing but threads"
            after = read_threads(copy)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException:  # pycrdt panics derive from BaseException
            log.info("a change to comments failed on the trial copy", exc_info=True)
            return "the change cannot be read as comments"
        return decide(actor, before, after)
