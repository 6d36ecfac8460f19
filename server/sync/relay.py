"""Where a committed update leaves for a document's peers: merged per window, to groups of
peers in turns. The seam a multi-instance bus feeds (updates committed elsewhere come in here)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from pycrdt import merge_updates

from ..config import Settings
from ..types import Peer
from .protocol import encode_update
from .yupdate import Dependencies, Sections

log = logging.getLogger("coedit.room")

# An update to relay, with the client sections it holds and the clients its delete set names
# (see yupdate.Dependencies).
Relayed = tuple[bytes, Sections, frozenset[int]]


def relayed(update: bytes, deps: Dependencies) -> Relayed:
    if not deps.sorted_deletes:
        # Described as holding nothing, it is never merged (see _unsafe_to_merge).
        return update, (), frozenset()
    return update, deps.sections, deps.deleted


@dataclass(slots=True, eq=False)
class RelayGroup:
    """Peers that get their relays together; `sent` is the position in the queue of segments
    up to which they have had everything."""

    peers: dict[Peer, None]
    sent: int


@dataclass(frozen=True, slots=True)
class _Segment:
    """The updates that committed between two relay turns, merged into one part unless that is
    not safe (see _segment); `origin` is the peer that sent all of them, None when several did
    (or the server)."""

    parts: tuple[Relayed, ...]
    origin: Peer | None


class Relay:
    """Relays committed updates to the peers of one document.

    While edits stream in, everything that committed within a window leaves as one merged
    frame per peer: each send is a system call, and at a thousand peers those sends are most of
    the server's work. A crowded document's peers are in groups that take turns spread evenly
    across the window, each group getting everything committed since its last turn: one relay to
    2,000 peers held the event loop for 15-30 ms. What commits between two turns is merged once
    into a segment; a group's frame merges only the segments it has not had.
    """

    def __init__(self, settings: Settings, stopped: Callable[[], bool]) -> None:
        self._settings = settings
        self._stopped = stopped  # true once the room failed: nothing leaves any more
        self._peers = 0
        # Updates committed since the last turn: (origin, update).
        self._committed: list[tuple[Peer | None, Relayed]] = []
        # Segments some group has not had yet; `_segments_base` is the first one's position.
        self._segments: list[_Segment] = []
        self._segments_base = 0
        self._groups: list[RelayGroup] = []
        self._turn = 0
        self._timer: asyncio.Handle | None = None
        self._last = 0.0

    def join(self, peer: Peer) -> RelayGroup:
        """Put a newcomer in the smallest group, unless all are full: then in a new one."""
        size = self._settings.relay_group_peers
        group = min(self._groups, key=lambda g: len(g.peers), default=None)
        if group is None or len(group.peers) >= size:
            # It starts with the next segment: what committed before is in the sync step 2 its
            # peers get (updates committed since the last turn they get twice; Yjs ignores it).
            group = RelayGroup({}, self._segments_base + len(self._segments))
            self._groups.append(group)
        group.peers[peer] = None
        self._peers += 1
        return group

    def leave(self, peer: Peer, group: RelayGroup) -> None:
        del group.peers[peer]
        self._peers -= 1
        if not group.peers:
            self._groups.remove(group)

    def committed(self, pairs: list[tuple[Peer | None, Relayed]]) -> None:
        """(origin, update) pairs that have committed, to relay to every other peer."""
        self._committed.extend(pairs)
        self._schedule()

    def window(self) -> float:
        """Seconds between two relays to a peer of a busy document: longer for crowded ones,
        whose sends (one per peer) cost more than everything else the server does for them."""
        s = self._settings
        if s.relay_window_seconds <= 0:  # no window at all: every update leaves at once
            return 0.0
        crowded = self._peers / s.relay_sends_per_second
        return min(max(s.relay_window_seconds, crowded), s.relay_window_max_seconds)

    def _schedule(self) -> None:
        # A lone edit leaves on the next loop iteration. While edits keep coming, each group of
        # peers gets one frame per relay window holding every update since its last one, so
        # that sends per second stay bounded however many clients type, at a few ms of latency.
        if self._timer is not None:
            return
        loop = asyncio.get_running_loop()
        # The groups take turns, evenly spread over the window.
        spacing = self.window() / max(1, len(self._groups))
        wait = self._last + spacing - loop.time()
        if wait <= 0:
            self._timer = loop.call_soon(self._take_turn)
        else:
            self._timer = loop.call_later(wait, self._take_turn)

    def _take_turn(self) -> None:
        self._timer = None
        self._last = asyncio.get_running_loop().time()
        if self._stopped():
            return
        if self._committed:
            # Merged once here, not once per group: each group's frame merges only segments.
            self._segments.append(_segment(self._committed))
            self._committed = []
        end = self._segments_base + len(self._segments)
        count = len(self._groups)
        for step in range(count):  # round robin, skipping groups that have had everything
            index = (self._turn + step) % count
            group = self._groups[index]
            if group.sent < end:
                break
        else:
            self._segments.clear()
            self._segments_base = end
            return
        self._turn = index + 1
        batch = self._segments[group.sent - self._segments_base :]
        group.sent = end
        pairs = [(segment.origin, part) for segment in batch for part in segment.parts]
        _send(group, _segment(pairs))
        low = min(g.sent for g in self._groups)
        del self._segments[: low - self._segments_base]
        self._segments_base = low
        if low < end:
            self._schedule()


def _segment(pairs: list[tuple[Peer | None, Relayed]]) -> _Segment:
    """(origin, update) pairs as one segment."""
    origins = {origin for origin, _ in pairs}
    origin = origins.pop() if len(origins) == 1 else None
    parts = tuple(part for _, part in pairs)
    if len(parts) == 1 or _unsafe_to_merge(parts):
        # They leave as they came, and each peer integrates them as the server did.
        return _Segment(parts, origin)
    merged = merge_updates(*(update for update, _, _ in parts))
    sections = tuple(section for _, part_sections, _ in parts for section in part_sections)
    deleted = frozenset().union(*(part_deleted for _, _, part_deleted in parts))
    return _Segment(((merged, sections, deleted),), origin)


def _unsafe_to_merge(parts: tuple[Relayed, ...]) -> bool:
    """pycrdt's merge_updates gives something else than the parts applied one by one when two
    of them claim the same clocks of a client (only a forged one does), or when one deletes
    items of a client whose structs another holds (found by the fuzzer: the merge lost a
    deletion, and the reader kept text the server had deleted), or when a delete set's ranges
    are out of order (`relayed` describes such an update as holding nothing: the merge of
    deletion-only updates dropped the out-of-order range's deletions)."""
    if any(not sections and not deleted for _, sections, deleted in parts):
        return True  # a non-empty update described as holding nothing: not known (see Room)
    seen: dict[int, list[tuple[int, int]]] = {}
    for _, sections, _ in parts:
        for client, start, end in sections:
            ranges = seen.setdefault(client, [])
            if any(start < other_end and other_start < end for other_start, other_end in ranges):
                return True
            ranges.append((start, end))
    deleting = [deleted for _, _, deleted in parts if deleted]
    if not deleting:
        return False
    if len(deleting) == len(parts) and not seen:
        return False  # deletions only: nothing for them to clash with
    return any(not deleted.isdisjoint(seen) for deleted in deleting)


def _send(group: RelayGroup, segment: _Segment) -> None:
    frames = [encode_update(update) for update, _, _ in segment.parts]
    # A peer gets its own updates back only inside a frame that also holds others': Yjs
    # ignores what it already has, and one frame for everyone is far cheaper.
    for peer in group.peers:
        if peer is not segment.origin:
            for frame in frames:
                peer.send(frame)
