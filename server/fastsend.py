"""Sending without a task: the one module that knows uvicorn's and websockets' internals.

`DirectLink` writes a frame straight to the transport when that needs no waiting, reads how much
the transport still buffers, and resets the connection; `binary_frame` builds the frame. Tests
(tests/test_direct_send.py) check what it relies on against the pinned uvicorn and websockets.
"""

from __future__ import annotations

import contextlib
import socket
import struct
from typing import Any

from starlette.types import Send

__all__ = ["REFUSED", "SENT", "SENT_FULL", "DirectLink", "binary_frame", "direct_link"]


def binary_frame(message: bytes) -> bytes:
    """`message` as one unmasked, final binary WebSocket frame (RFC 6455 section 5.2), the way
    a server sends it when no extension was negotiated."""
    size = len(message)
    if size < 126:
        header = struct.pack("!BB", 0x82, size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", 0x82, 126, size)
    else:
        header = struct.pack("!BBQ", 0x82, 127, size)
    return header + message


class _LastFrame:
    """The frame of the last message sent directly. A relay hands the same bytes object to every
    peer of a group, so it is framed once for all of them instead of once per peer."""

    __slots__ = ("frame", "message")

    def __init__(self) -> None:
        self.message = b""
        self.frame = binary_frame(b"")

    def of(self, message: bytes) -> bytes:
        # Identity, not equality: comparing would read the bytes. The reference held here keeps
        # the object alive, so no other message can come to share its identity.
        if message is not self.message:
            self.message = message
            self.frame = binary_frame(message)
        return self.frame


_LAST_FRAME = _LastFrame()

# What DirectLink.send did with a message.
REFUSED = 0  # nothing: it would have to wait (or the peer is gone); use the ASGI path
SENT = 1
SENT_FULL = 2  # sent, and the transport's buffer is now over its high-water mark
_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, zero seconds: close() sends a reset


class DirectLink:
    """What the endpoint does beneath the ASGI interface of uvicorn's websockets-sansio
    connections: send without a task, see how much the transport still holds, hang up.

    Its ASGI send is a coroutine that awaits only while the transport is paused; the rest is
    synchronous. Doing that part here, without a task and the ASGI layers per message, halves
    the server's cost per frame when a crowded document relays to every peer; framing each
    relay once for all its peers saves a further tenth. Everything it touches is checked by
    tests against the pinned uvicorn and websockets; any other server gets no link and the
    ASGI path.
    """

    __slots__ = ("_conn", "_opened", "_protocol")

    def __init__(self, protocol: Any) -> None:
        self._protocol = protocol
        self._conn = protocol.conn
        self._opened = type(self._conn.state)["OPEN"]  # websockets' State.OPEN, looked up once

    def send(self, message: bytes) -> int:
        """Write a binary message at once if that needs no waiting: REFUSED, SENT or SENT_FULL."""
        protocol = self._protocol
        conn = self._conn
        transport = protocol.transport
        if (
            protocol.disconnected
            or protocol.close_sent
            or not protocol.writable.is_set()
            or conn.state is not self._opened
            or transport.is_closing()
        ):
            return REFUSED  # the ASGI path waits, or reports the peer gone
        if conn.extensions or conn.writes:
            # Compression negotiated (our server offers none), or frames websockets has queued
            # (uvicorn flushes after each of its own calls): let websockets frame, in order.
            conn.send_binary(message)
            transport.write(b"".join(conn.data_to_send()))
        else:
            transport.write(_LAST_FRAME.of(message))
        # The transport pauses us (clears `writable`) from inside write() past its high-water
        # mark: from then on the peer may be falling behind, and someone must watch it.
        return SENT if protocol.writable.is_set() else SENT_FULL

    def buffered(self) -> int:
        """Bytes written to the transport that the kernel has not taken yet."""
        return int(self._protocol.transport.get_write_buffer_size())

    def abort(self) -> None:
        """Tear the TCP connection down now, unless it is down already.

        A graceful close of the transport waits for its buffer to reach the kernel, and the
        kernel's FIN waits behind what it holds: for a peer that stopped reading, neither ever
        happens, and the socket (with everything buffered for it) would stay open. A reset
        frees both ends at once.
        """
        protocol = self._protocol
        if protocol.disconnected:
            return
        transport = protocol.transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET)
        transport.abort()


def direct_link(send: Send) -> DirectLink | None:
    """A DirectLink for uvicorn's websockets-sansio connections (or a subclass), else None."""
    found = getattr(send, "__self__", None)
    if found is None or not any(
        cls.__name__ == "WebSocketsSansIOProtocol" for cls in type(found).__mro__
    ):
        return None
    return DirectLink(found)
