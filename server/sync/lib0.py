"""lib0, the binary encoding under the y-websocket protocol and Yjs updates, read strictly: every
varint minimal and within 64 bits, every declared length present. Pure: stdlib only, no I/O."""

from __future__ import annotations

import json
from typing import NoReturn, TypeAlias

from ..closecodes import Close

__all__ = [
    "ProtocolError",
    "expect_end",
    "is_json",
    "malformed",
    "read_string",
    "read_uint",
    "read_var_bytes",
    "read_var_uint",
    "skip_string",
    "skip_var_int",
    "uint_tail",
    "var_bytes",
    "write_var_uint",
]


_U64_LIMIT = 1 << 64

_Buffer: TypeAlias = bytes | bytearray | memoryview


class ProtocolError(Exception):
    """A frame violated the protocol; `code` is the WebSocket close code to answer with."""

    code: int
    reason: str

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.code}: {self.reason}"


def malformed(reason: str) -> ProtocolError:
    return ProtocolError(Close.PROTOCOL_ERROR, reason)


# --------------------------------------------------------------------------- varints


def uint_tail(data: _Buffer, pos: int) -> tuple[int, int]:
    """Finish a varUint whose first byte (at `pos`) has the continuation bit set.

    Raises IndexError when the buffer ends mid-varint; callers translate that into 1002.
    """
    result = data[pos] & 0x7F
    shift = 7
    pos += 1
    while True:
        b = data[pos]
        pos += 1
        if b < 0x80:
            # A zero final group adds nothing: no lib0 encoder emits it, and accepting it would
            # let one value have many encodings.
            if b == 0:
                raise malformed("non-minimal varUint encoding")
            result |= b << shift
            if result >= _U64_LIMIT:
                raise malformed("varUint exceeds 64 bits")
            return result, pos
        result |= (b & 0x7F) << shift
        shift += 7
        if shift > 63:
            raise malformed("varUint longer than 10 bytes")


def read_var_uint(buf: bytes | memoryview, pos: int) -> tuple[int, int]:
    """Strictly read one lib0 varUint at `pos`; returns (value, position after it)."""
    if pos < 0:
        raise ValueError("pos must be non-negative")
    try:
        b = buf[pos]
        if b < 0x80:
            return b, pos + 1
        return uint_tail(buf, pos)
    except IndexError:
        raise malformed("truncated varUint") from None


def write_var_uint(n: int) -> bytes:
    """Encode `n` (0 <= n < 2**64) as a minimal lib0 varUint."""
    if not 0 <= n < _U64_LIMIT:
        raise ValueError(f"varUint out of range: {n}")
    if n < 0x80:
        return bytes((n,))
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def read_uint(data: bytes, pos: int) -> tuple[int, int]:
    b = data[pos]
    if b < 0x80:
        return b, pos + 1
    return uint_tail(data, pos)


def skip_var_int(data: bytes, pos: int) -> int:
    """Skip a lib0 signed varInt (6 data bits + sign in the first byte, then 7-bit groups)."""
    b = data[pos]
    pos += 1
    if b < 0x80:
        return pos
    magnitude = b & 0x3F
    shift = 6
    for _ in range(9):
        b = data[pos]
        pos += 1
        magnitude |= (b & 0x7F) << shift
        if b < 0x80:
            if magnitude >= _U64_LIMIT:
                raise malformed("varInt exceeds 64 bits")
            return pos
        shift += 7
    raise malformed("varInt longer than 10 bytes")


# --------------------------------------------------------------------------- bytes, strings, JSON


def read_var_bytes(data: bytes, pos: int) -> tuple[bytes, int]:
    length, pos = read_uint(data, pos)
    end = pos + length
    if end > len(data):
        raise malformed("declared length exceeds the bytes present")
    return data[pos:end], end


def var_bytes(payload: bytes) -> bytes:
    return write_var_uint(len(payload)) + payload


def read_string(data: bytes, pos: int) -> tuple[str, int]:
    raw, pos = read_var_bytes(data, pos)
    return raw.decode("utf-8"), pos


def skip_string(data: bytes, pos: int) -> int:
    raw, pos = read_var_bytes(data, pos)
    if not raw.isascii():
        raw.decode("utf-8")
    return pos


def expect_end(data: bytes, pos: int, what: str) -> None:
    if pos != len(data):
        raise malformed(f"{len(data) - pos} trailing bytes after {what}")


def _reject_json_constant(name: str) -> NoReturn:
    # json.loads accepts NaN/Infinity, which JSON.parse in every browser peer rejects.
    raise ValueError(f"non-standard JSON constant {name}")


def is_json(text: str) -> bool:
    try:
        json.loads(text, parse_constant=_reject_json_constant)
    except (ValueError, RecursionError):
        return False
    return True
