"""Frozen server settings from flags and COEDIT_* environment variables; imports nothing of ours."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

MIB = 1024 * 1024
REPO_ROOT = Path(__file__).resolve().parent.parent
SYNCHRONOUS_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")
AUTH_MODES = ("open", "accounts", "jwt")


class SettingsError(ValueError):
    """A setting has a value the server cannot run with."""


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    db: Path = Path("data/coedit.db")
    # FULL survives power loss; NORMAL in WAL mode only survives process crashes.
    synchronous: str = "FULL"
    web_dist: Path = field(default_factory=lambda: REPO_ROOT / "web" / "dist")
    log_level: str = "info"
    # open: whoever reaches the server edits; accounts: sign-in, owners, shares and links;
    # jwt: another application's backend signs tokens (HS256 with jwt_secret).
    auth: str = "open"
    jwt_secret: str = ""
    session_days: float = 30.0
    # Sign-in attempts per client address (and per username) in a 5-minute window.
    signin_attempts: int = 10
    # Browser origins besides the server's own that may open WebSockets, comma separated.
    allowed_origins: str = ""
    max_message_bytes: int = 16 * MIB
    # A peer this far behind that makes no progress for send_stall_seconds (or four times this
    # far behind at all) is closed with 1013 instead of growing server memory.
    send_buffer_bytes: int = 4 * MIB
    send_stall_seconds: float = 5.0
    # Every connection is pinged this often; one whose pong has not come this long after a
    # ping (and that acknowledged nothing written before it meanwhile) is closed, and its
    # presence goes with it: a vanished peer is gone from everyone's view within
    # interval + timeout (13 s), while a browser or a stock Yjs client answers pings by itself
    # and stays connected however long it idles.
    ping_interval_seconds: float = 5.0
    ping_timeout_seconds: float = 8.0
    # Real clients own one awareness id per tab; a few leave room for reconnect overlap.
    max_awareness_ids: int = 4
    # Awareness relays per connection: each goes to every peer of the document. A Tiptap
    # caret sends one per selection change (a typist's 10-15 a second, a selection drag
    # briefly more) and a renewal every 15 s. Past the limit, changes wait and are relayed
    # coalesced, the latest state per client id, so a fast cursor's final position still
    # arrives (see Room).
    awareness_per_second: float = 20.0
    awareness_burst: int = 50
    # Under a stream of edits a document's relays leave at most this often (see Room)...
    relay_window_seconds: float = 0.01
    # ...and a crowded document's less often, so that it makes at most this many sends a second
    # (one per peer per window; each send is a system call), up to the longest window.
    relay_sends_per_second: float = 30_000
    relay_window_max_seconds: float = 0.04
    # A crowded document's peers get their relays in groups of this many, taking turns across
    # the window, so that no single relay holds the event loop for long.
    relay_group_peers: int = 250
    # Sync step 1 returns the whole document, so it is the cheapest way to burn our CPU.
    step1_per_second: float = 5.0
    step1_burst: int = 20
    # Updates waiting for a missing predecessor, per document, before the sender is refused.
    max_held_updates: int = 10_000
    max_held_bytes: int = 32 * MIB
    unload_grace_seconds: float = 5.0
    # Garbage departed connections leave in reference cycles (with the last frame each
    # received) is collected, and freed memory given back to the system, at most this long
    # after they left: one full collection, 30-75 ms with 2,000 clients connected, each time.
    memory_release_seconds: float = 60.0
    compact_idle_seconds: float = 2.0
    compact_max_rows: int = 1000
    compact_max_bytes: int = 1 * MIB
    # A big document written to fast is compacted only once its log is half its snapshot's
    # size (each compaction rewrites the whole snapshot), or at this many rows whatever the
    # snapshot (10,000 rows still load in about 80 ms).
    compact_rows_limit: int = 10_000
    # While a document is being edited, an automatic version is recorded at most this often
    # (the first change after a version starts the interval).
    version_interval_seconds: float = 600.0
    # Uploaded files (images): the largest accepted, how long a file no document uses is kept,
    # and how often that is checked.
    max_upload_bytes: int = 10 * MIB
    file_retention_days: float = 30.0
    file_sweep_seconds: float = 3600.0
    # Deleted documents stay in the trash this long (restorable), then go for good.
    trash_retention_days: float = 30.0
    # Several instances: the store they share (a postgresql:// address; empty: SQLite at `db`)
    # and the bus between them (a redis:// address; empty: none).
    store: str = ""
    bus: str = ""
    # This instance's name on the bus (empty: a random one at start).
    instance_id: str = ""
    # How often each instance compares the store's newest rows with its live rooms: a safety
    # net while the bus is up, the delivery path while it is down.
    head_check_seconds: float = 2.0
    degraded_poll_seconds: float = 0.25
    # An instance silent this long (while the bus worked) is gone: its clients' cursors go.
    instance_dead_seconds: float = 10.0
    # Accounts mode on a shared store: connections' access is checked again this often, so that
    # a revocation made while the bus could not carry it still closes them.
    grant_recheck_seconds: float = 30.0
    # SIGTERM: readiness off, wait this long for the load balancer to notice, then close the
    # clients with 1012 spread over the second span (no reconnect storm on the others).
    drain_delay_seconds: float = 5.0
    drain_spread_seconds: float = 10.0

    def __post_init__(self) -> None:
        if self.synchronous.upper() not in SYNCHRONOUS_MODES:
            choices = ", ".join(SYNCHRONOUS_MODES)
            raise SettingsError(f"synchronous must be one of {choices}, got {self.synchronous!r}")
        object.__setattr__(self, "synchronous", self.synchronous.upper())
        if self.auth not in AUTH_MODES:
            raise SettingsError(f"auth must be one of {', '.join(AUTH_MODES)}, got {self.auth!r}")
        if self.auth == "jwt" and len(self.jwt_secret) < 32:
            raise SettingsError("--auth jwt needs --jwt-secret (COEDIT_JWT_SECRET), 32+ characters")
        if not 0 <= self.port <= 65535:
            raise SettingsError(f"port must be 0..65535, got {self.port}")
        if self.max_message_bytes < 1024:
            raise SettingsError("max_message_bytes must be at least 1024")
        if not self.awareness_per_second > 0 or self.awareness_burst < 1:
            raise SettingsError("awareness_per_second must be positive, awareness_burst at least 1")
        if self.relay_group_peers < 1:
            raise SettingsError(
                f"relay_group_peers must be at least 1, got {self.relay_group_peers}"
            )
        if not (self.ping_interval_seconds > 0 and self.ping_timeout_seconds > 0):
            raise SettingsError(
                "ping_interval_seconds and ping_timeout_seconds must be positive, got "
                f"{self.ping_interval_seconds} and {self.ping_timeout_seconds}"
            )
        if self.max_upload_bytes < 1:
            raise SettingsError("max_upload_bytes must be at least 1")
        if not self.trash_retention_days > 0:
            raise SettingsError("trash_retention_days must be positive")
        if not (self.file_retention_days > 0 and self.file_sweep_seconds > 0):
            raise SettingsError("file_retention_days and file_sweep_seconds must be positive")
        if self.bus and not self.store.startswith(("postgresql://", "postgres://")):
            raise SettingsError(
                "--bus needs --store postgresql://...: instances joined by a bus must share one "
                "store (SQLite is one machine's)"
            )
        if self.bus and not self.bus.startswith(("redis://", "rediss://", "unix://")):
            raise SettingsError(f"--bus must be a redis:// address, got {self.bus!r}")
        if not self.version_interval_seconds > 0:
            raise SettingsError(
                f"version_interval_seconds must be positive, got {self.version_interval_seconds}"
            )

    @property
    def extra_origins(self) -> frozenset[str]:
        return frozenset(
            o.strip().rstrip("/") for o in self.allowed_origins.split(",") if o.strip()
        )

    def with_overrides(self, overrides: Mapping[str, Any]) -> Settings:
        """Return a copy with the given fields replaced (None values are ignored)."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read COEDIT_<FIELD> variables, e.g. COEDIT_DB=/var/lib/coedit.db COEDIT_PORT=9000."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"COEDIT_{f.name.upper()}")
            if raw is None:
                continue
            values[f.name] = _convert(f.name, f.type, raw)
        return cls(**values)


def _convert(name: str, annotation: object, raw: str) -> Any:
    kind = str(annotation)
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "Path":
            return Path(raw)
    except ValueError as exc:
        raise SettingsError(f"COEDIT_{name.upper()}={raw!r} is not a valid {kind}") from exc
    return raw
