"""A connection's peer: the bounded send queue and back-pressure, the writer task that exists
only while frames wait, and closing (the close frame within a deadline, else a reset).

Imports starlette's WebSocket; never aiosqlite or uvicorn (their internals are fastsend's).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from starlette.websockets import WebSocket, WebSocketDisconnect

from .access import Grant
from .closecodes import Close
from .fastsend import SENT_FULL, DirectLink

__all__ = ["STALLED_CLOSE_SECONDS", "Connection"]

# The endpoint's logger: what a connection logs is the endpoint's story.
log = logging.getLogger("coedit.ws")

# How long a close frame and the peer's reply may take before we reset the connection...
CLOSE_TIMEOUT_SECONDS = 10.0
# ...and when the peer is closed for not reading: it has already taken nothing for
# send_stall_seconds, and a reset frees what it holds on both ends.
STALLED_CLOSE_SECONDS = 2.0


class Connection:
    """A Peer backed by a WebSocket: a bounded outbound queue, drained by a writer task that
    exists only while there is something to send (an idle connection holds no task).

    How far behind a peer is: the bytes queued here plus those its transport holds that the
    kernel has not taken (the kernel's own socket buffers, a few MiB, come on top and are not
    counted). A peer that is merely slow (a big paste, a slow link) keeps taking bytes and is
    left alone; one that takes none for `stall_seconds` while more than `budget` bytes wait, or
    that has four budgets queued, is closed with 1013 so that it cannot grow server memory.
    Only a peer that may be behind (something queued, or its transport paused) has a timer
    looking at it; the fast path pays one addition per frame.
    """

    # Thousands of these stay open at once: no per-instance dict, no idle task, a list for a
    # queue (a deque costs 0.8 KB even when empty).
    __slots__ = (
        "_budget",
        "_label",
        "_link",
        "_progress",
        "_progress_at",
        "_queue",
        "_queued_bytes",
        "_sending",
        "_stall_seconds",
        "_stall_timer",
        "_writer",
        "_written",
        "_ws",
        "close_request",
        "grant",
        "on_close",
        "on_done",
    )

    def __init__(
        self,
        websocket: WebSocket,
        label: str,
        budget: int,
        stall_seconds: float,
        link: DirectLink | None = None,
    ) -> None:
        self._ws = websocket
        self._link = link
        self._label = label
        self._budget = budget
        self._stall_seconds = stall_seconds
        self._queue: list[bytes] = []
        self._queued_bytes = 0
        self._writer: asyncio.Task[None] | None = None
        self._sending = False
        # Bytes handed to the transport; less what it still buffers, what the kernel has taken.
        self._written = 0
        # What the kernel had taken when the watch last saw it take more, and when.
        self._progress = 0
        self._progress_at = 0.0
        self._stall_timer: asyncio.TimerHandle | None = None
        self.close_request: tuple[int, str] | None = None
        # Called once a close has been decided (leave the room now, not after the handshake).
        self.on_close: Callable[[], None] | None = None
        # Called when nothing more can be sent: our close frame went out, or the peer is gone.
        self.on_done: Callable[[], None] | None = None
        # What this connection's role rests on, so that revoking it can find the connection.
        self.grant: Grant | None = None

    @property
    def label(self) -> str:
        return self._label

    @property
    def writer(self) -> asyncio.Task[None] | None:
        """The task sending right now, if any."""
        return self._writer

    def behind(self) -> int:
        """Bytes waiting for this peer that the kernel has not taken."""
        link = self._link
        return self._queued_bytes + (link.buffered() if link is not None else 0)

    def send(self, frame: bytes) -> None:
        if self.close_request is not None:
            return
        link = self._link
        if self._writer is None and link is not None:
            sent = link.send(frame)
            if sent:
                self._written += len(frame)
                if sent == SENT_FULL and self._stall_timer is None:
                    self._watch()
                return
        self._queue.append(frame)
        self._queued_bytes += len(frame)
        # Only the queue counts here: it is what more relays would grow. A big frame already
        # in the transport (a large document's sync step 2) costs nothing more by waiting, and
        # a client on a slow link that is taking it must not be refused on every connect.
        if self._queued_bytes > 4 * self._budget:
            self._close_behind(self.behind(), "too far behind")
            return
        if self._stall_timer is None:
            self._watch()
        if self._writer is None:
            self._writer = asyncio.create_task(self._drain())

    def close(self, code: int, reason: str) -> None:
        if self.close_request is not None:
            return
        self.close_request = (code, reason)
        self._queue = []
        self._queued_bytes = 0
        if self._stall_timer is not None:
            self._stall_timer.cancel()
            self._stall_timer = None
        if self._writer is None:
            self._writer = asyncio.create_task(self._drain())
        elif self._sending:
            # A peer that stopped reading blocks our send; stop waiting so the close can go out.
            self._writer.cancel()
        if self.on_close is not None:
            asyncio.get_running_loop().call_soon(self.on_close)

    def stop(self) -> None:
        """The connection has ended: drop what waits for it, stop watching it."""
        self._queue = []
        self._queued_bytes = 0
        if self._stall_timer is not None:
            self._stall_timer.cancel()
            self._stall_timer = None

    def _close_behind(self, behind: int, why: str, idle: float | None = None) -> None:
        taken = "" if idle is None else f", nothing taken for {idle:.1f} s"
        log.info("closing %s: %s, %d bytes behind%s", self._label, why, behind, taken)
        self.close(Close.TRY_AGAIN, f"client {why}, reconnect")

    def _watch(self) -> None:
        """Look at this peer a few times per `stall_seconds` while it may be behind."""
        loop = asyncio.get_running_loop()
        self._progress = self._written - (self._link.buffered() if self._link else 0)
        self._progress_at = loop.time()
        self._stall_timer = loop.call_later(self._watch_interval(), self._check_stall)

    def _watch_interval(self) -> float:
        return max(self._stall_seconds / 4, 0.01)

    def _check_stall(self) -> None:
        self._stall_timer = None
        if self.close_request is not None:
            return
        buffered = self._link.buffered() if self._link is not None else 0
        behind = self._queued_bytes + buffered
        loop = asyncio.get_running_loop()
        now = loop.time()
        taken = self._written - buffered
        if taken > self._progress or behind <= self._budget:
            self._progress = taken
            self._progress_at = now
        else:
            # `taken` also falls without the peer doing anything: frame headers, and pings
            # and close frames uvicorn writes itself, count in the buffer but not in _written.
            self._progress = taken
            if now - self._progress_at >= self._stall_seconds:
                self._close_behind(behind, "stopped reading", now - self._progress_at)
                return
        if self._queued_bytes == 0 and buffered <= self._budget:
            # Caught up (or nearly): the next frame that has to wait starts a new watch.
            return
        self._stall_timer = loop.call_later(self._watch_interval(), self._check_stall)

    async def _drain(self) -> None:
        """Send what is queued, in order; once a close is requested, send the close frame."""
        try:
            while self._queue and self.close_request is None:
                batch, self._queue = self._queue, []
                for frame in batch:
                    if self.close_request is not None:
                        break
                    await self._send(frame)
            if self.close_request is not None:
                await self._send_close(*self.close_request)
                self._done()
        except (TimeoutError, WebSocketDisconnect, OSError, RuntimeError) as exc:
            # The peer vanished or stalled: there is nobody left to send to.
            log.debug("stopped sending to %s: %r", self._label, exc)
            self._hang_up()
        except Exception:
            log.exception("sending to %s failed; dropping the connection", self._label)
            self._hang_up()
        finally:
            self._writer = None

    async def _send_close(self, code: int, reason: str) -> None:
        """The close frame, and the end of the TCP connection, within a deadline.

        A peer that resumes reading in time still learns why it was closed. One that does not
        never takes the close frame (it waits behind everything unread), and would hold the
        socket open: past the deadline it is reset instead.
        """
        grace = STALLED_CLOSE_SECONDS if code == Close.TRY_AGAIN else CLOSE_TIMEOUT_SECONDS
        link = self._link
        if link is not None:
            # Our close frame and the peer's reply, not just our send, must fit in the grace.
            asyncio.get_running_loop().call_later(grace, link.abort)
        async with asyncio.timeout(grace):
            await self._ws.close(code, reason)

    async def _send(self, frame: bytes) -> None:
        self._sending = True
        try:
            await self._ws.send_bytes(frame)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if self.close_request is None or task is None:
                raise
            task.uncancel()  # cancelled by close(): go on to the close frame
        finally:
            self._sending = False
        if self.close_request is None:
            self._queued_bytes -= len(frame)
            self._written += len(frame)

    def _hang_up(self) -> None:
        self._queue = []
        if self._link is not None:
            self._link.abort()
        self._done()

    def _done(self) -> None:
        if self.on_done is not None:
            self.on_done()
