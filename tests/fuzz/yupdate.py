"""A lenient model of Yjs v1 updates: parse into sections and structs, edit, encode again.

The fuzzer mutates updates at this level (client ids, clocks, origins, parents, content refs,
delete sets), and the oracle uses `units` to compare documents item by item. It parses only
what pycrdt itself produced; the server's strict parser is `server.sync.yupdate`.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from server.sync.lib0 import write_var_uint

ID = tuple[int, int]

GC, DELETED, JSON, BINARY, STRING, EMBED, FORMAT, TYPE, ANY, DOC, SKIP = (
    0,
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8,
    9,
    10,
)


@dataclass
class Struct:
    ref: int  # content ref (low 5 bits of the info byte)
    origin: ID | None = None
    right: ID | None = None
    parent: str | ID | None = None  # root name or the ID of the parent type's item
    sub: str | None = None  # key in a map-like parent
    content: bytes = b""  # encoded content; for GC/Skip empty, `length` says how long
    length: int = 1


@dataclass
class Section:
    client: int
    clock: int
    structs: list[Struct]


@dataclass
class Update:
    sections: list[Section] = field(default_factory=list)
    deletes: list[tuple[int, list[tuple[int, int]]]] = field(default_factory=list)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def uint(self) -> int:
        result, shift = 0, 0
        while True:
            b = self.data[self.pos]
            self.pos += 1
            result |= (b & 0x7F) << shift
            if b < 0x80:
                return result
            shift += 7

    def raw(self, n: int) -> bytes:
        out = self.data[self.pos : self.pos + n]
        if len(out) != n:
            raise IndexError("truncated")
        self.pos += n
        return out

    def var_bytes(self) -> bytes:
        return self.raw(self.uint())

    def string(self) -> str:
        return self.var_bytes().decode("utf-8")

    def id(self) -> ID:
        return self.uint(), self.uint()

    def skip_any(self) -> None:
        tag = self.data[self.pos]
        self.pos += 1
        if tag == 119 or tag == 116:  # string, bytes
            self.var_bytes()
        elif tag == 125:  # varInt: continuation in bit 7 of every byte
            while self.data[self.pos] >= 0x80:
                self.pos += 1
            self.pos += 1
        elif tag == 124:
            self.raw(4)
        elif tag in (123, 122):
            self.raw(8)
        elif tag == 118:
            for _ in range(self.uint()):
                self.string()
                self.skip_any()
        elif tag == 117:
            for _ in range(self.uint()):
                self.skip_any()
        elif tag < 120:
            raise ValueError(f"unknown Any tag {tag}")

    def canonical_any(self) -> str:
        """One Any value as text, map keys sorted: yrs keeps Any maps in hash maps, so two
        documents holding the same map may encode its keys in different orders."""
        tag = self.data[self.pos]
        if tag == 118:
            self.pos += 1
            entries = sorted((self.string(), self.canonical_any()) for _ in range(self.uint()))
            return "{" + ",".join(f"{k!r}:{v}" for k, v in entries) + "}"
        if tag == 117:
            self.pos += 1
            return "[" + ",".join(self.canonical_any() for _ in range(self.uint())) + "]"
        start = self.pos
        self.skip_any()
        return self.data[start : self.pos].hex()


def _content(r: _Reader, ref: int) -> tuple[bytes, int]:
    """Read one item's content; returns (its encoded bytes, its length in clocks)."""
    start = r.pos
    length = 1
    if ref == DELETED:
        length = r.uint()
    elif ref == JSON:
        length = r.uint()
        for _ in range(length):
            r.var_bytes()
    elif ref == BINARY or ref == EMBED:
        r.var_bytes()
    elif ref == STRING:
        length = len(r.string().encode("utf-16-le")) // 2
    elif ref == FORMAT:
        r.var_bytes()
        r.var_bytes()
    elif ref == TYPE:
        if r.uint() in (3, 5):
            r.var_bytes()
    elif ref == ANY:
        length = r.uint()
        for _ in range(length):
            r.skip_any()
    elif ref == DOC:
        r.var_bytes()
        r.skip_any()
    else:
        raise ValueError(f"unknown content ref {ref}")
    return r.data[start : r.pos], length


def parse(data: bytes) -> Update:
    """Parse a well-formed v1 update (raises IndexError/ValueError otherwise)."""
    r = _Reader(data)
    update = Update()
    for _ in range(r.uint()):
        count = r.uint()
        section = Section(r.uint(), r.uint(), [])
        for _ in range(count):
            info = r.data[r.pos]
            r.pos += 1
            ref = info & 0x1F
            if ref in (GC, SKIP):
                section.structs.append(Struct(ref, length=r.uint()))
                continue
            s = Struct(ref)
            if info & 0x80:
                s.origin = r.id()
            if info & 0x40:
                s.right = r.id()
            if not info & 0xC0:
                s.parent = r.string() if r.uint() == 1 else r.id()
                if info & 0x20:
                    s.sub = r.string()
            s.content, s.length = _content(r, ref)
            section.structs.append(s)
        update.sections.append(section)
    for _ in range(r.uint()):
        client = r.uint()
        update.deletes.append((client, [(r.uint(), r.uint()) for _ in range(r.uint())]))
    if r.pos != len(data):
        raise ValueError("trailing bytes")
    return update


def _string(s: str) -> bytes:
    raw = s.encode("utf-8", errors="surrogatepass")
    return write_var_uint(len(raw)) + raw


def _id(i: ID) -> bytes:
    return write_var_uint(i[0]) + write_var_uint(i[1])


def encode(update: Update) -> bytes:
    """Encode as pycrdt would, whatever the fields now say (varints clamped to 64 bits)."""
    out = bytearray(_uint(len(update.sections)))
    for section in update.sections:
        out += _uint(len(section.structs)) + _uint(section.client) + _uint(section.clock)
        for s in section.structs:
            if s.ref in (GC, SKIP):
                out += bytes([s.ref]) + _uint(s.length)
                continue
            info = s.ref & 0x1F
            info |= 0x80 if s.origin is not None else 0
            info |= 0x40 if s.right is not None else 0
            has_parent = s.origin is None and s.right is None
            info |= 0x20 if has_parent and s.sub is not None else 0
            out.append(info)
            if s.origin is not None:
                out += _id(_clamp_id(s.origin))
            if s.right is not None:
                out += _id(_clamp_id(s.right))
            if has_parent:
                if isinstance(s.parent, str) or s.parent is None:
                    out += b"\x01" + _string(s.parent or "")
                else:
                    out += b"\x00" + _id(_clamp_id(s.parent))
                if s.sub is not None:
                    out += _string(s.sub)
            out += s.content
    out += _uint(len(update.deletes))
    for client, ranges in update.deletes:
        out += _uint(client) + _uint(len(ranges))
        for clock, length in ranges:
            out += _uint(clock) + _uint(length)
    return bytes(out)


def _uint(n: int) -> bytes:
    return write_var_uint(min(max(n, 0), 2**64 - 1))


def _clamp_id(i: ID) -> ID:
    return min(max(i[0], 0), 2**64 - 1), min(max(i[1], 0), 2**64 - 1)


@dataclass
class Units:
    """What each clock of a document holds, as `units` reads it. Hidden clocks are kept as
    merged runs: a contentless struct may span two billion clocks (soak seed 32 hung listing
    them one by one), and merging makes the form canonical whatever the blocks' cuts."""

    shown: dict[ID, str] = field(default_factory=dict)
    hidden: dict[int, list[tuple[int, int]]] = field(default_factory=dict)  # [start, end)

    def get(self, key: ID) -> str | None:
        if key in self.shown:
            return self.shown[key]
        return "deleted" if _covers(self.hidden.get(key[0], []), key[1]) else None

    def __getitem__(self, key: ID) -> str:
        got = self.get(key)
        if got is None:
            raise KeyError(key)
        return got

    def __len__(self) -> int:
        return len(self.shown) + sum(end - start for r in self.hidden.values() for start, end in r)

    def differences(self, other: Units) -> list[str]:
        """Where the two differ: shown clocks one by one, then hidden runs."""
        out = [
            f"{k}: {self.get(k)} vs {other.get(k)}"
            for k in sorted(self.shown.keys() | other.shown.keys())
            if self.get(k) != other.get(k)
        ]
        for client in sorted(self.hidden.keys() | other.hidden.keys()):
            mine, theirs = self.hidden.get(client, []), other.hidden.get(client, [])
            if mine != theirs:
                only = sorted(set(mine) ^ set(theirs))[:3]
                out.append(f"client {client} hidden runs differ, e.g. {only}")
        return out


def units(data: bytes) -> Units:
    """Every clock of a full document update: what it holds, or hidden ("deleted") when no
    reader of the document can see it.

    Documents are equal when these are: squashing, splitting and garbage collection change
    how items are encoded, not what each clock holds. String content is one UTF-16 unit per
    clock. Hidden, beside deleted, is what Yjs never shows and what two honest replicas may
    flag differently, as their history cut their blocks differently: an item under a deleted
    type, an item whose parent is gone (Yjs integrates it as GC), and a map value something
    was set after (the map shows its last value; a fuzzer's multi-clock map value, cut on one
    replica and not on another, left "ip" of "ipsum" flagged live on one and deleted on the
    other, soak seed 24).
    """
    update = parse(data)
    hidden = _Visibility(update)
    out = Units()
    spans: dict[int, list[tuple[int, int]]] = {}
    for section in update.sections:
        clock = section.clock
        for s in section.structs:
            start, clock = clock, clock + s.length
            if s.ref == SKIP:
                continue
            parts = _unit_parts(s)
            if not parts:  # contentless: hidden whatever its length, without a walk
                spans.setdefault(section.client, []).append((start, clock))
                continue
            for i in range(s.length):
                key = (section.client, start + i)
                if hidden(key):
                    spans.setdefault(section.client, []).append((key[1], key[1] + 1))
                else:
                    out.shown[key] = parts[i]
    out.hidden = {client: _merged(ranges) for client, ranges in spans.items()}
    return out


def _covers(merged: list[tuple[int, int]], clock: int) -> bool:
    """Whether one of these sorted, merged [start, end) ranges holds `clock`."""
    index = bisect.bisect_right(merged, (clock, 2**64)) - 1
    return index >= 0 and clock < merged[index][1]


def _merged(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


# The parent type's item (or root name) and map key of an item; None when its parent cannot
# be found (Yjs then makes it GC).
_Parent = tuple[str | ID, str | None] | None


class _Visibility:
    """`hidden(id)`: deleted, orphaned, under a hidden type, or an overwritten map value."""

    def __init__(self, update: Update) -> None:
        self._deleted: dict[int, list[tuple[int, int]]] = {}
        for client, ranges in update.deletes:
            self._deleted.setdefault(client, []).extend(
                (start, start + length) for start, length in ranges if length > 0
            )
        for client, ranges in self._deleted.items():
            self._deleted[client] = _merged(ranges)
        self._structs: dict[int, list[tuple[int, Struct]]] = {}
        self._followed: set[ID] = set()  # clocks some item names as its origin
        for section in update.sections:
            found = self._structs.setdefault(section.client, [])
            clock = section.clock
            for s in section.structs:
                if s.ref != SKIP:
                    found.append((clock, s))
                if s.origin is not None:
                    self._followed.add(s.origin)
                clock += s.length
        for found in self._structs.values():
            found.sort(key=lambda entry: entry[0])
        self._parents: dict[ID, _Parent] = {}
        self._orphans = self._find_orphans()
        self._hidden: dict[ID, bool] = {}

    def __call__(self, key: ID) -> bool:
        if key in self._hidden:
            return self._hidden[key]
        # Iterative: a type's ancestors may be thousands deep in a forged document.
        chain: list[ID] = []
        result = False
        at: ID | None = key
        while at is not None:
            if at in self._hidden:
                result = self._hidden[at]
                break
            if at in chain:  # a cycle no honest document has: nothing in it shows
                result = True
                break
            chain.append(at)
            hit = self._struct(at)
            if hit is None or hit[1].ref == GC or self._is_deleted(at):
                result = True
                break
            parent = self._parent((at[0], hit[0]), hit[1])
            if parent is None or (at[0], hit[0]) in self._orphans:
                result = True
                break
            parent_id, sub = parent
            if sub is not None and (at[1] + 1 < hit[0] + hit[1].length or at in self._followed):
                result = True
                break
            at = parent_id if isinstance(parent_id, tuple) else None
        for seen in chain:
            self._hidden[seen] = result
        return result

    def _find_orphans(self) -> set[ID]:
        """Structs Yjs integrates as GC: no parent found, or their origin, right neighbour or
        named parent is GC, or became GC itself."""
        orphans: set[ID] = set()
        needed_by: dict[ID, list[ID]] = {}
        for client, found in self._structs.items():
            for start, s in found:
                if s.ref == GC:
                    continue
                key = (client, start)
                if self._parent(key, s) is None:
                    orphans.add(key)
                for ref in (s.origin, s.right, s.parent if isinstance(s.parent, tuple) else None):
                    hit = self._struct(ref) if ref is not None else None
                    if hit is not None:
                        needed_by.setdefault((ref[0], hit[0]), []).append(key)  # type: ignore[index]
        work = list(orphans)
        while work:
            for dependent in needed_by.get(work.pop(), []):
                if dependent not in orphans:
                    orphans.add(dependent)
                    work.append(dependent)
        return orphans

    def _struct(self, key: ID) -> tuple[int, Struct] | None:
        found = self._structs.get(key[0], [])
        index = bisect.bisect_right(found, key[1], key=lambda entry: entry[0]) - 1
        if index < 0:
            return None
        start, s = found[index]
        return (start, s) if key[1] < start + s.length else None

    def _is_deleted(self, key: ID) -> bool:
        return _covers(self._deleted.get(key[0], []), key[1])

    def _parent(self, key: ID, s: Struct) -> _Parent:
        """The parent type's item (or root name) and map key of struct `s` at `key`, as Yjs
        resolves it: named, else the origin's, else the right neighbour's."""
        chain: list[ID] = []
        result: _Parent = None
        while True:
            if key in self._parents:
                result = self._parents[key]
                break
            if key in chain:
                break
            chain.append(key)
            if s.origin is not None or s.right is not None:
                if any(
                    ref is not None and (self._struct(ref) or (0, Struct(GC)))[1].ref == GC
                    for ref in (s.origin, s.right)
                ):
                    break
                neighbour: ID = s.origin if s.origin is not None else s.right  # type: ignore[assignment]
                start, s = self._struct(neighbour)  # type: ignore[misc]
                key = (neighbour[0], start)
                continue
            if isinstance(s.parent, tuple):
                hit = self._struct(s.parent)
                if hit is not None and hit[1].ref == TYPE:
                    result = (s.parent, s.sub)
            elif s.parent is not None:
                result = (s.parent, s.sub)
            break
        for seen in chain:
            self._parents[seen] = result
        return result


Run = tuple[int, int, str]  # clocks [start, end) of one client holding one thing


def runs(data: bytes) -> dict[int, list[Run]]:
    """What `units` says, in runs: deleted (or collected) clocks as one run each, whatever
    their number (a forged item may span two billion clocks), every other clock alone."""
    update = parse(data)
    deletes = {client: sorted(ranges) for client, ranges in update.deletes}
    out: dict[int, list[Run]] = {}
    for section in update.sections:
        cuts = deletes.get(section.client, [])
        found = out.setdefault(section.client, [])
        clock = section.clock
        for s in section.structs:
            start, end = clock, clock + s.length
            clock = end
            if s.ref == SKIP:
                continue
            parts = _unit_parts(s) if s.ref not in (GC, DELETED) else []
            here = start
            for d_start, d_length in cuts:
                d_end = d_start + d_length
                if d_end <= here or d_start >= end:
                    continue
                for c in range(here, max(here, d_start)):
                    _add(found, (c, c + 1, parts[c - start] if parts else "deleted"))
                _add(found, (max(here, d_start), min(end, d_end), "deleted"))
                here = min(end, d_end)
            if parts:
                for c in range(here, end):
                    _add(found, (c, c + 1, parts[c - start]))
            elif here < end:
                _add(found, (here, end, "deleted"))
    return out


def _add(found: list[Run], run: Run) -> None:
    if found and run[2] == "deleted" and found[-1][2] == "deleted" and found[-1][1] == run[0]:
        found[-1] = (found[-1][0], run[1], "deleted")
    else:
        found.append(run)


def _unit_parts(s: Struct) -> list[str]:
    if s.ref in (GC, DELETED):
        return []
    if s.ref == STRING:
        text = _Reader(s.content).string().encode("utf-16-le")
        return [f"s:{text[i : i + 2].hex()}" for i in range(0, len(text), 2)]
    if s.ref in (ANY, JSON):
        r = _Reader(s.content)
        r.uint()
        parts = []
        for _ in range(s.length):
            if s.ref == ANY:
                parts.append(f"{s.ref}:{r.canonical_any()}")
            else:
                start = r.pos
                r.var_bytes()
                parts.append(f"{s.ref}:{s.content[start : r.pos].hex()}")
        return parts
    if s.ref == DOC:
        r = _Reader(s.content)
        return [f"{s.ref}:{r.string()!r}:{r.canonical_any()}"]
    return [f"{s.ref}:{s.content.hex()}"]
