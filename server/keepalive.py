"""Keepalive: every connection is pinged, and one that stops answering is closed.

uvicorn's websockets-sansio protocol already pings every `ws_ping_interval` and fails the
connection when no pong arrives within `ws_ping_timeout`. Left alone, that would also close a
healthy peer on a slow link that is still reading a big frame (a sync step 2 of a large
document): its pong waits behind everything sent before the ping, and it would reconnect, get
the same frame, and be closed again, forever. So on a missed pong `WebSocketProtocol` asks the
kernel whether the peer acknowledged more bytes since the ping (or the last deadline); while it
does, the deadline moves on by another timeout, which also leaves a peer that has just read
everything time to apply it and answer. A peer whose network vanished acknowledges nothing and
goes at the first deadline; one whose kernel takes bytes without its program answering (a
frozen process, a proxy that stopped forwarding) goes at the deadline after its last ones.

A peer that failed is reset when something is still buffered for it: a graceful close would
wait for that buffer to drain to a peer that is gone, and its presence would stay with it.
"""

from __future__ import annotations

import socket
import struct
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from .fastsend import DirectLink

__all__ = ["WebSocketProtocol", "acknowledged"]

# Linux's struct tcp_info: tcpi_bytes_acked is a __u64 at byte 120 (since Linux 4.1).
_TCP_INFO_SIZE = 256
_BYTES_ACKED = struct.Struct("=Q")
_BYTES_ACKED_OFFSET = 120


def acknowledged(sock: Any) -> int | None:
    """Bytes of this TCP connection its peer acknowledged, or None where the kernel won't say."""
    option = getattr(socket, "TCP_INFO", None)
    if sock is None or option is None:
        return None
    try:
        info: bytes = sock.getsockopt(socket.IPPROTO_TCP, option, _TCP_INFO_SIZE)
    except OSError:
        return None
    if len(info) < _BYTES_ACKED_OFFSET + _BYTES_ACKED.size:
        return None
    return int(_BYTES_ACKED.unpack_from(info, _BYTES_ACKED_OFFSET)[0])


class WebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets-sansio protocol, patient with a peer that is still reading."""

    # Bytes the peer had acknowledged when last looked (at the ping, then at each deadline).
    _acked: int | None = None

    def send_keepalive_ping(self) -> None:
        super().send_keepalive_ping()
        self._acked = acknowledged(self.transport.get_extra_info("socket"))

    def keepalive_timeout(self) -> None:
        timeout = self.ping_timeout
        if timeout is not None and self._still_reading():
            self.pong_timer = self.loop.call_later(timeout, self.keepalive_timeout)
            return
        super().keepalive_timeout()
        if not self.disconnected and self.transport.get_write_buffer_size():
            DirectLink(self).abort()

    def _still_reading(self) -> bool:
        """The peer acknowledged more since the ping (or the last look). Reaching the ping
        itself counts too: the peer then still has to read what came before it (a big sync
        step 2 takes a busy client seconds to apply) before it answers, and gets one more
        timeout for that; a peer that acknowledges nothing more goes at the next deadline."""
        if self._acked is None or self.close_sent or self.transport.is_closing():
            return False
        now = acknowledged(self.transport.get_extra_info("socket"))
        if now is None or now <= self._acked:
            return False
        self._acked = now
        return True
