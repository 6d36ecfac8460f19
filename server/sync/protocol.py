"""The y-websocket messages (sync step 1, step 2 and update, awareness, query awareness): each
incoming frame decoded strictly, outgoing ones encoded. Must stay pure: it must not import
asyncio, starlette or pycrdt, nor do any I/O (lib0 reads the bytes, yupdate walks the updates)."""

# Every byte a client sends is validated here *before* pycrdt sees it: pycrdt (yrs) trusts
# declared lengths and counts when pre-allocating, is lenient about over-long varints and
# truncation, and does unchecked arithmetic on its u32 clocks, so a few crafted bytes can make
# it allocate huge buffers, corrupt document state or panic. Accepted frames are also relayed
# verbatim to browsers, so the checks also follow what lib0/yjs can decode.

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TypeAlias

from ..closecodes import Close
from .lib0 import (
    ProtocolError,
    expect_end,
    is_json,
    malformed,
    read_uint,
    read_var_bytes,
    var_bytes,
    write_var_uint,
)
from .yupdate import MAX_CLIENT_ID, Dependencies, validate_state_vector, validate_update

__all__ = [
    "MAX_AWARENESS_ENTRIES",
    "AwarenessEntry",
    "AwarenessUpdate",
    "Message",
    "QueryAwareness",
    "SyncStep1",
    "SyncStep2",
    "SyncUpdate",
    "decode",
    "encode_awareness",
    "encode_awareness_entries",
    "encode_query_awareness",
    "encode_sync_step1",
    "encode_sync_step2",
    "encode_update",
]


MSG_SYNC = 0
MSG_AWARENESS = 1
MSG_AUTH = 2
MSG_QUERY_AWARENESS = 3

SYNC_STEP1 = 0
SYNC_STEP2 = 1
SYNC_UPDATE = 2


@dataclass(frozen=True, slots=True)
class SyncStep1:
    state_vector: bytes


@dataclass(frozen=True, slots=True)
class SyncStep2:
    update: bytes  # validated by decode
    # What the update depends on, from the same walk that validated it.
    deps: Dependencies | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class SyncUpdate:
    update: bytes  # validated by decode
    deps: Dependencies | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class AwarenessEntry:
    client_id: int
    clock: int
    # Raw JSON text, kept verbatim so relaying never re-serialises (and never changes) it.
    state: str

    @property
    def removed(self) -> bool:
        """True when the state is JSON null, i.e. the client announced it left."""
        # Valid JSON whose value is null can only be `null` padded with JSON whitespace.
        return self.state.strip(" \t\n\r") == "null"


@dataclass(frozen=True, slots=True)
class AwarenessUpdate:
    entries: tuple[AwarenessEntry, ...]
    payload: bytes


@dataclass(frozen=True, slots=True)
class QueryAwareness:
    pass


Message: TypeAlias = SyncStep1 | SyncStep2 | SyncUpdate | AwarenessUpdate | QueryAwareness


# --------------------------------------------------------------------------- encoders


def encode_sync_step1(state_vector: bytes) -> bytes:
    return b"\x00\x00" + var_bytes(state_vector)


def encode_sync_step2(update: bytes) -> bytes:
    return b"\x00\x01" + var_bytes(update)


def encode_update(update: bytes) -> bytes:
    return b"\x00\x02" + var_bytes(update)


def encode_awareness(payload: bytes) -> bytes:
    """Wrap an already-encoded awareness update payload as a type-1 message."""
    return b"\x01" + var_bytes(payload)


def encode_awareness_entries(entries: Iterable[AwarenessEntry]) -> bytes:
    items = list(entries)
    parts = [write_var_uint(len(items))]
    for entry in items:
        # Refuse to emit what `decode` (and JS peers) would reject.
        if entry.client_id > MAX_CLIENT_ID:
            raise ValueError(f"awareness client id exceeds 2**53-1: {entry.client_id}")
        parts.append(write_var_uint(entry.client_id))
        parts.append(write_var_uint(entry.clock))
        parts.append(var_bytes(entry.state.encode("utf-8")))
    return encode_awareness(b"".join(parts))


def encode_query_awareness() -> bytes:
    return b"\x03"


# --------------------------------------------------------------------------- decoding


def decode(frame: bytes) -> Message:
    """Parse and fully validate one binary WebSocket frame."""
    data = frame if type(frame) is bytes else bytes(frame)
    if not data:
        raise malformed("empty frame")
    try:
        return _decode(data)
    except IndexError:
        raise malformed("truncated frame") from None


def _decode(data: bytes) -> Message:
    msg_type, pos = read_uint(data, 0)
    if msg_type == MSG_SYNC:
        sync_type, pos = read_uint(data, pos)
        if sync_type > SYNC_UPDATE:
            raise ProtocolError(Close.UNSUPPORTED, f"unknown sync message type {sync_type}")
        payload, pos = read_var_bytes(data, pos)
        expect_end(data, pos, "sync message")
        if sync_type == SYNC_STEP1:
            validate_state_vector(payload)
            return SyncStep1(payload)
        deps = validate_update(payload)
        if sync_type == SYNC_STEP2:
            return SyncStep2(payload, deps)
        return SyncUpdate(payload, deps)
    if msg_type == MSG_AWARENESS:
        payload, pos = read_var_bytes(data, pos)
        expect_end(data, pos, "awareness message")
        return AwarenessUpdate(_parse_awareness(payload), payload)
    if msg_type == MSG_QUERY_AWARENESS:
        expect_end(data, pos, "query-awareness message")
        return QueryAwareness()
    if msg_type == MSG_AUTH:
        raise ProtocolError(Close.UNSUPPORTED, "auth messages are not supported")
    raise ProtocolError(Close.UNSUPPORTED, f"unknown message type {msg_type}")


MAX_AWARENESS_ENTRIES = 10_000


def _parse_awareness(payload: bytes) -> tuple[AwarenessEntry, ...]:
    try:
        count, pos = read_uint(payload, 0)
        end = len(payload)
        # Each entry needs at least a client byte, a clock byte and a length byte.
        if count > (end - pos) // 3:
            raise malformed("awareness entry count exceeds payload size")
        if count > MAX_AWARENESS_ENTRIES:
            raise ProtocolError(Close.POLICY, "too many entries in one awareness message")
        entries: list[AwarenessEntry] = []
        for _ in range(count):
            client_id, pos = read_uint(payload, pos)
            if client_id > MAX_CLIENT_ID:
                raise malformed("awareness client id exceeds 2**53-1")
            clock, pos = read_uint(payload, pos)
            if clock > MAX_CLIENT_ID:
                # A JS number on the other side; the room's tombstone adds one to it.
                raise malformed("awareness clock exceeds 2**53-1")
            raw, pos = read_var_bytes(payload, pos)
            try:
                state = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise ProtocolError(
                    Close.INVALID_PAYLOAD, "awareness state is not valid UTF-8"
                ) from None
            if not is_json(state):
                raise ProtocolError(Close.INVALID_PAYLOAD, "awareness state is not valid JSON")
            entries.append(AwarenessEntry(client_id, clock, state))
    except IndexError:
        raise malformed("truncated awareness update") from None
    expect_end(payload, pos, "awareness update")
    return tuple(entries)
