"""Credentials: password hashing, session and link tokens, JWT checks, sign-in rate limits.

Pure functions and small classes: no starlette, no storage. Callers pass clocks and secrets in.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from argon2 import PasswordHasher

# argon2 and PyJWT are imported on first use: a server in the default open mode needs
# neither, and each is resident memory in every process (about 1 MB together).

ROLES = ("viewer", "commenter", "editor")
USERNAME = re.compile(r"^[A-Za-z0-9_.-]{2,40}$")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024


@cache
def _hasher() -> PasswordHasher:
    from argon2 import PasswordHasher

    return PasswordHasher()


class CredentialError(ValueError):
    """A credential is malformed or wrong; the message is safe to show to the user."""


def check_username(username: str) -> str:
    if not USERNAME.match(username):
        raise CredentialError("usernames are 2-40 letters, digits, dots, dashes or underscores")
    return username


def hash_password(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise CredentialError(f"passwords are {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    return _hasher().hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    if len(password) > MAX_PASSWORD:
        return False
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return _hasher().verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def new_token() -> str:
    """A random bearer token (session cookie, share link): 256 bits, URL safe."""
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """What we store instead of a token: a leaked database does not hand out sessions."""
    return hashlib.sha256(token.encode()).hexdigest()


# Distinct, readable on white, and distinguishable from each other at caret size.
PALETTE = (
    "#d7263d", "#1b998b", "#2e86ab", "#f46036", "#7b2cbf", "#2f9e44",
    "#c2185b", "#0077b6", "#b5651d", "#5f0f40", "#3a86ff", "#e07a5f",
)  # fmt: skip


def colour_for(name: str) -> str:
    """A stable caret colour derived from a name."""
    return PALETTE[int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big") % 12]


@dataclass(frozen=True, slots=True)
class EmbedClaims:
    """What another application's backend grants in a signed token."""

    doc: str
    role: str
    name: str


def decode_jwt(token: str, secret: str, *, now: float | None = None) -> EmbedClaims:
    """Verify an HS256 token carrying `doc`, `role`, `name` and `exp`; raise CredentialError."""
    import jwt

    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            options={"require": ["exp", "doc", "role"], "verify_exp": now is None},
        )
    except jwt.ExpiredSignatureError as exc:
        raise CredentialError("token expired") from exc
    except jwt.PyJWTError as exc:
        raise CredentialError("invalid token") from exc
    if now is not None and float(claims["exp"]) <= now:
        raise CredentialError("token expired")
    doc, role, name = claims.get("doc"), claims.get("role"), claims.get("name", "")
    if not isinstance(doc, str) or role not in ROLES or not isinstance(name, str):
        raise CredentialError(
            "token claims must be doc (string), role (viewer|commenter|editor), name"
        )
    return EmbedClaims(doc=doc, role=role, name=name[:100])


class RateLimiter:
    """At most `limit` events per key in a sliding `window` of seconds (sign-in attempts)."""

    def __init__(
        self, limit: int, window: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._limit = limit
        self._window = window
        self._clock = clock
        self._events: dict[str, deque[float]] = {}

    def allow(self, key: str) -> bool:
        now = self._clock()
        events = self._events.setdefault(key, deque())
        while events and events[0] <= now - self._window:
            events.popleft()
        if len(events) >= self._limit:
            return False
        events.append(now)
        if len(self._events) > 100_000:
            # Bound memory under a spray of keys: forget keys whose window has passed.
            self._events = {k: v for k, v in self._events.items() if v and v[-1] > now - 1}
        return True
