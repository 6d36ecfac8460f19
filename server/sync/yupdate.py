"""The Yjs update (v1 encoding) and state vector, walked strictly before pycrdt sees a byte:
validation and what an update depends on, in one walk. Pure: stdlib only, no I/O."""

from __future__ import annotations

from dataclasses import dataclass

from .lib0 import (
    expect_end,
    is_json,
    malformed,
    read_string,
    read_uint,
    read_var_bytes,
    read_var_uint,
    skip_string,
    skip_var_int,
    uint_tail,
    write_var_uint,
)

__all__ = [
    "MAX_CLIENT_ID",
    "Dependencies",
    "Sections",
    "read_state_vector",
    "update_dependencies",
    "validate_state_vector",
    "validate_update",
    "with_deletions_of",
    "write_state_vector",
]


# Bounds recursion in our walker, and keeps nesting far below what would overflow the native
# stack of the Rust decoder that later recurses over the same value.
MAX_ANY_DEPTH = 64

# yrs stores clocks as u32, wraps on overflow, and casts them to i32 while integrating
# (clocks >= 2**31 made it panic in our fuzzing). No real client gets anywhere near this.
MAX_CLOCK = 2**31 - 1

# Client ids are JS numbers on the other side, so Yjs reads none above this; yrs keeps only
# their low 53 bits, so a larger one is another client's id to the Doc while it is a new one
# to every check made before (soak seed 46: structs under 2**64-1 landed as 2**53-1's clocks
# and the live Doc's state vector left the one kept for it).
MAX_CLIENT_ID = 2**53 - 1

_STRUCT_GC = 0
_STRUCT_SKIP = 10

_CONTENT_DELETED = 1
_CONTENT_JSON = 2
_CONTENT_BINARY = 3
_CONTENT_STRING = 4
_CONTENT_EMBED = 5
_CONTENT_FORMAT = 6
_CONTENT_TYPE = 7
_CONTENT_ANY = 8
_CONTENT_DOC = 9

_TYPE_XML_ELEMENT = 3
_TYPE_XML_HOOK = 5
_MAX_TYPE_REF = 6

_ANY_UNDEFINED = 127
_ANY_NULL = 126
_ANY_VAR_INT = 125
_ANY_FLOAT32 = 124
_ANY_FLOAT64 = 123
_ANY_BIGINT64 = 122
_ANY_FALSE = 121
_ANY_TRUE = 120
_ANY_STRING = 119
_ANY_OBJECT = 118
_ANY_ARRAY = 117
_ANY_BYTES = 116


# (client, first clock, clock after the last struct) for each client section of an update.
Sections = tuple[tuple[int, int, int], ...]


def validate_state_vector(sv: bytes) -> None:
    """Check that `sv` is exactly one encoded Yjs state vector."""
    data = sv if type(sv) is bytes else bytes(sv)
    try:
        count, pos = read_uint(data, 0)
        if count > (len(data) - pos) // 2:
            raise malformed("state vector count exceeds its size")
        for _ in range(count):
            client, pos = read_uint(data, pos)
            if client > MAX_CLIENT_ID:
                raise malformed("state vector client exceeds 2**53-1")
            clock, pos = read_uint(data, pos)
            if clock > MAX_CLOCK:
                raise malformed("state vector clock exceeds 2**31-1")
    except IndexError:
        raise malformed("truncated state vector") from None
    expect_end(data, pos, "state vector")


def validate_update(update: bytes) -> Dependencies:
    """Walk a whole Yjs update (v1 encoding), reject anything malformed with 1002, and return
    what the update depends on (one walk does both: the room needs both for every update).

    Beyond the wire structure it rejects what yjs never emits and what yrs was seen to
    mishandle: clocks above MAX_CLOCK, empty client sections, zero-length GC/Skip structs,
    empty delete ranges, GC/Skip info bytes with flag bits (yjs and yrs parse those
    differently), invalid UTF-8, unparsable JSON texts, and Any values nested deeper than
    MAX_ANY_DEPTH.
    """
    data = update if type(update) is bytes else bytes(update)
    walk = _Walk()
    try:
        pos = _walk_structs(data, walk)
        pos, sorted_deletes = _walk_delete_set(data, pos, walk.refs, walk.deleted)
    except IndexError:
        raise malformed("truncated update") from None
    except UnicodeDecodeError:
        raise malformed("update contains a string that is not valid UTF-8") from None
    expect_end(data, pos, "update")
    return Dependencies(
        tuple(walk.sections),
        walk.refs,
        walk.holes,
        frozenset(walk.parents) if walk.parents else _NONE,
        frozenset(walk.types) if walk.types else _NONE,
        frozenset(walk.deleted) if walk.deleted else _NONE,
        sorted_deletes,
        frozenset(walk.split_pairs) if walk.split_pairs else _NONE,
        walk.subdocs,
    )


def split_points(update: bytes) -> set[int]:
    """Where integrating a valid `update` cuts the document's items, as `id_key`s: after each
    origin, before each right origin, at both ends of each deleted range. A second walk, for
    documents holding characters a cut could split (see `Dependencies.split_pairs`)."""
    walk = _Walk()
    walk.splits = set()
    pos = _walk_structs(update, walk)
    _walk_delete_set(update, pos, walk.refs, walk.deleted, walk.splits)
    return walk.splits


def with_deletions_of(structs_of: bytes, deletions_of: bytes) -> bytes:
    """An update holding the structs of one (valid) update and the delete set of another."""
    structs_end = _walk_structs(structs_of, _Walk())
    return structs_of[:structs_end] + deletions_of[_walk_structs(deletions_of, _Walk()) :]


def read_state_vector(sv: bytes) -> dict[int, int]:
    """A state vector as {client: next clock}; the input must already be validated."""
    count, pos = read_var_uint(sv, 0)
    out: dict[int, int] = {}
    for _ in range(count):
        client, pos = read_var_uint(sv, pos)
        clock, pos = read_var_uint(sv, pos)
        out[client] = clock
    return out


def write_state_vector(state: dict[int, int]) -> bytes:
    """{client: next clock} as a state vector (the inverse of read_state_vector)."""
    return write_var_uint(len(state)) + b"".join(
        write_var_uint(client) + write_var_uint(clock) for client, clock in state.items()
    )


class _Walk:
    """What a walk over an update's structs collects (see Dependencies)."""

    __slots__ = (
        "deleted",
        "holes",
        "parents",
        "refs",
        "section_clients",
        "sections",
        "split_pairs",
        "splits",
        "subdocs",
        "types",
    )

    def __init__(self) -> None:
        self.sections: list[tuple[int, int, int]] = []
        self.section_clients: set[int] = set()  # the clients whose sections were read
        self.deleted: set[int] = set()  # the clients the delete set names
        self.refs: dict[int, int] = {}
        self.holes: dict[int, int] = {}
        self.parents: set[int] = set()
        self.types: set[int] = set()
        self.split_pairs: set[int] = set()
        # Where integrating the update cuts items (see split_points); None: not collected.
        self.splits: set[int] | None = None
        self.subdocs = False


def _walk_structs(data: bytes, walk: _Walk) -> int:
    # Hot path: varUint reads are inlined for the common single-byte case, and mostly only
    # multi-byte values pay for a call. Reading past the end raises IndexError, which
    # validate_update maps to "truncated"; slices are bounds-checked explicitly.
    n = len(data)
    refs = walk.refs
    splits = walk.splits
    b = data[0]
    if b < 0x80:
        num_clients, pos = b, 1
    else:
        num_clients, pos = uint_tail(data, 0)
    # A client section is at least three bytes (struct count, client, clock).
    if num_clients > (n - pos) // 3:
        raise malformed("client count exceeds update size")
    seen = _Seen()
    for _ in range(num_clients):
        b = data[pos]
        if b < 0x80:
            num_structs = b
            pos += 1
        else:
            num_structs, pos = uint_tail(data, pos)
        b = data[pos]
        if b < 0x80:
            client = b
            pos += 1
        else:
            start = pos
            client, pos = uint_tail(data, pos)
            if client > MAX_CLIENT_ID:
                raise malformed("client id exceeds 2**53-1")
            seen.encoded, seen.client = data[start:pos], client
        b = data[pos]
        if b < 0x80:
            clock = b
            pos += 1
        else:
            clock, pos = uint_tail(data, pos)
        first_clock = clock
        # Encoders only write clients that have structs; yrs can panic on an empty section.
        if num_structs == 0:
            raise malformed("client section without structs")
        # Encoders write each client once; yrs keeps structs of a client listed twice that it
        # never integrates, and later corrupts its own memory over them.
        if client in walk.section_clients:
            raise malformed("client section listed twice")
        walk.section_clients.add(client)
        # Every struct takes at least two bytes (info byte plus a length or content).
        if num_structs > (n - pos) // 2:
            raise malformed("struct count exceeds update size")
        for _ in range(num_structs):
            info = data[pos]
            pos += 1
            ref = info & 0x1F
            if ref == _STRUCT_GC or ref == _STRUCT_SKIP:
                # yjs masks the info byte here but yrs compares it whole, so flag bits would
                # make the two parse the rest of the update differently.
                if info != ref:
                    raise malformed("GC/Skip struct with flag bits set")
                b = data[pos]
                if b < 0x80:
                    # yjs never emits an empty GC/Skip (yrs rarely does, after collecting its
                    # own empty items), and yrs panics on one that ends a client's structs.
                    if b == 0:
                        raise malformed("zero-length GC/Skip struct")
                    length = b
                    pos += 1
                else:
                    length, pos = uint_tail(data, pos)
                clock += length
                # A Skip is a hole in the update that only the document can fill.
                if ref == _STRUCT_SKIP and clock > walk.holes.get(client, 0):
                    walk.holes[client] = clock
                continue
            # An item points only at items that existed when it was made: one of its own
            # client's at its own clock or later never integrates (yrs keeps it pending
            # unseen while the room counts it as integrated).
            own = client << 31 | clock
            if info & 0x80:  # origin ID
                pos = _read_id(data, pos, seen, refs)
                if client == seen.last_id >> 31 and seen.last_id >= own:
                    raise malformed("an item points at itself or a later item")
                if splits is not None:
                    splits.add(seen.last_id + 1)  # the item goes after its origin's clock
            if info & 0x40:  # right origin ID
                pos = _read_id(data, pos, seen, refs)
                if client == seen.last_id >> 31 and seen.last_id >= own:
                    raise malformed("an item points at itself or a later item")
                if splits is not None:
                    splits.add(seen.last_id)
            if not info & 0xC0:
                # Without origins the parent is spelled out (a root type name or an item ID),
                # and only then is the parent-sub key present.
                parent_info = data[pos]
                pos += 1
                if parent_info == 1:
                    pos = skip_string(data, pos)
                elif parent_info == 0:
                    pos = _read_id(data, pos, seen, refs)
                    if client == seen.last_id >> 31 and seen.last_id >= own:
                        raise malformed("an item points at itself or a later item")
                    walk.parents.add(seen.last_id)
                else:
                    raise malformed("invalid parent info")
                if info & 0x20:
                    pos = skip_string(data, pos)
            if ref == _CONTENT_STRING:
                b = data[pos]
                if b < 0x80:
                    length = b
                    pos += 1
                else:
                    length, pos = uint_tail(data, pos)
                end = pos + length
                if end > n:
                    raise malformed("declared length exceeds the bytes present")
                chunk = data[pos:end]
                pos = end
                if not chunk.isascii():
                    # Item length is counted in UTF-16 code units, as in yjs and yrs.
                    text = chunk.decode("utf-8")
                    length = len(text.encode("utf-16-le")) >> 1
                    if length != len(text):
                        _split_pairs(text, client << 31 | clock, walk.split_pairs)
            elif ref == _CONTENT_ANY:
                length, pos = read_uint(data, pos)
                if length > n - pos:
                    raise malformed("Any count exceeds update size")
                for _ in range(length):
                    pos = _skip_any(data, pos, 0)
            else:
                pos, length = _walk_rare_content(data, pos, ref)
                if ref == _CONTENT_TYPE:
                    walk.types.add(client << 31 | clock)
                elif ref == _CONTENT_DOC:
                    walk.subdocs = True
            # Empty items are legal: yrs itself emits empty String/Deleted items after edits
            # around non-ASCII text, and drops them again on decode.
            clock += length
        if clock > MAX_CLOCK:
            raise malformed("struct clocks exceed 2**31-1")
        walk.sections.append((client, first_clock, clock))
    return pos


def _split_pairs(text: str, first: int, into: set[int]) -> None:
    """Add the id_key of every clock of a string item that falls between the two UTF-16 units
    of a surrogate pair (an emoji): a cut there splits a character."""
    offset = 0
    for char in text:
        if ord(char) > 0xFFFF:
            into.add(first + offset + 1)
            offset += 2
        else:
            offset += 1


class _Seen:
    """The last multi-byte client ID read (`encoded`, `client`), and the last ID's id_key."""

    __slots__ = ("client", "encoded", "last_id")

    def __init__(self) -> None:
        # A lone 0x00 can never prefix a multi-byte varUint, so it is a safe "nothing yet".
        self.encoded = b"\x00"
        self.client = 0
        self.last_id = 0


def _read_id(data: bytes, pos: int, seen: _Seen, refs: dict[int, int]) -> int:
    """Read an ID (client varUint, clock varUint), note that the document must hold it, and
    return the position after it; `seen.last_id` is its id_key.

    Client IDs are random 53-bit numbers (8 bytes on the wire) and an update mentions only a
    few distinct ones, so the last one seen is kept. A varUint is self-delimiting, so if the
    bytes at `pos` start with an already validated encoding, they are that same value.
    """
    b = data[pos]
    if b < 0x80:
        client = b
        pos += 1
    elif data.startswith(seen.encoded, pos):
        client = seen.client
        pos += len(seen.encoded)
    else:
        start = pos
        client, pos = uint_tail(data, pos)
        if client > MAX_CLIENT_ID:
            raise malformed("ID client exceeds 2**53-1")
        seen.encoded, seen.client = data[start:pos], client
    b = data[pos]
    if b < 0x80:
        clock = b
        pos += 1
    else:
        # Clocks of long documents take two bytes; a zero last group is not minimal, and
        # uint_tail refuses it.
        c = data[pos + 1]
        if 0 < c < 0x80:
            clock = b & 0x7F | c << 7
            pos += 2
        else:
            clock, pos = uint_tail(data, pos)
            if clock > MAX_CLOCK:
                raise malformed("ID clock exceeds 2**31-1")
    if clock >= refs.get(client, 0):
        refs[client] = clock + 1
    seen.last_id = client << 31 | clock
    return pos


def _walk_rare_content(data: bytes, pos: int, ref: int) -> tuple[int, int]:
    """Skip item content other than String/Any; returns (new position, item length)."""
    if ref == _CONTENT_DELETED:
        length, pos = read_uint(data, pos)
        return pos, length
    if ref == _CONTENT_JSON:
        # Legacy yjs content (yjs 13 writes Any instead) that yrs decodes differently: it
        # failed half-way through an update, after integrating the structs before it.
        raise malformed("JSON content is not supported (yjs 13 writes Any)")
    if ref == _CONTENT_BINARY:
        return read_var_bytes(data, pos)[1], 1
    if ref == _CONTENT_EMBED:
        return _skip_json(data, pos), 1
    if ref == _CONTENT_FORMAT:
        pos = skip_string(data, pos)
        return _skip_json(data, pos), 1
    if ref == _CONTENT_TYPE:
        type_ref, pos = read_uint(data, pos)
        if type_ref == _TYPE_XML_HOOK:
            # yjs and yrs encode a hook differently (yrs failed to decode what yjs accepts,
            # after it had been stored), and no editor makes one.
            raise malformed("XmlHook types are not supported")
        if type_ref > _MAX_TYPE_REF:
            raise malformed(f"unknown type ref {type_ref}")
        if type_ref == _TYPE_XML_ELEMENT:
            pos = skip_string(data, pos)
        return pos, 1
    if ref == _CONTENT_DOC:
        pos = skip_string(data, pos)
        return _skip_any(data, pos, 0), 1
    raise malformed(f"unknown content ref {ref}")


def _skip_json(data: bytes, pos: int) -> int:
    # Peers JSON.parse these while applying the update; one bad value would poison the
    # document for every browser that loads it.
    text, pos = read_string(data, pos)
    if not is_json(text):
        raise malformed("embedded JSON is not valid JSON")
    return pos


def _skip_any(data: bytes, pos: int, depth: int) -> int:
    """Skip one lib0 Any value starting at `pos`."""
    tag = data[pos]
    pos += 1
    if tag == _ANY_STRING:
        return skip_string(data, pos)
    if _ANY_STRING < tag <= _ANY_UNDEFINED:
        if tag == _ANY_VAR_INT:
            return skip_var_int(data, pos)
        if tag == _ANY_FLOAT32:
            pos += 4
        elif tag == _ANY_FLOAT64 or tag == _ANY_BIGINT64:
            pos += 8
        # undefined/null/true/false carry no payload
        if pos > len(data):
            raise malformed("truncated Any number")
        return pos
    if tag == _ANY_OBJECT or tag == _ANY_ARRAY:
        if depth >= MAX_ANY_DEPTH:
            raise malformed("Any value nested too deeply")
        count, pos = read_uint(data, pos)
        if tag == _ANY_OBJECT:
            # Each entry is at least a key-length byte and a tag byte.
            if count > (len(data) - pos) // 2:
                raise malformed("Any object size exceeds update size")
            for _ in range(count):
                pos = skip_string(data, pos)
                pos = _skip_any(data, pos, depth + 1)
        else:
            if count > len(data) - pos:
                raise malformed("Any array size exceeds update size")
            for _ in range(count):
                pos = _skip_any(data, pos, depth + 1)
        return pos
    if tag == _ANY_BYTES:
        return read_var_bytes(data, pos)[1]
    raise malformed(f"unknown Any tag {tag}")


def _walk_delete_set(
    data: bytes, pos: int, refs: dict[int, int], clients: set[int], splits: set[int] | None = None
) -> tuple[int, bool]:
    """Walk the delete set; returns the position after it and whether each client's ranges
    are in order without overlaps (as yjs and yrs write them)."""
    n = len(data)
    in_order = True
    num_clients, pos = read_uint(data, pos)
    # Each client entry needs at least a client byte and a range-count byte.
    if num_clients > (n - pos) // 2:
        raise malformed("delete set client count exceeds update size")
    for _ in range(num_clients):
        client, pos = read_uint(data, pos)
        if client > MAX_CLIENT_ID:
            raise malformed("delete set client exceeds 2**53-1")
        if client in clients:
            raise malformed("delete set lists a client twice")
        clients.add(client)
        num_ranges, pos = read_uint(data, pos)
        if num_ranges > (n - pos) // 2:
            raise malformed("delete set range count exceeds update size")
        previous_end = 0
        for _ in range(num_ranges):
            clock, pos = read_uint(data, pos)
            length, pos = read_uint(data, pos)
            if clock < previous_end:
                in_order = False
            previous_end = clock + length
            # Never emitted by yjs or yrs; refused so yrs never sees an empty range.
            if length == 0:
                raise malformed("empty delete range")
            if clock + length > MAX_CLOCK:
                raise malformed("delete range exceeds clock 2**31-1")
            # Deleting what the document does not hold yet waits until it does.
            if clock + length > refs.get(client, 0):
                refs[client] = clock + length
            if splits is not None:
                splits.add(client << 31 | clock)
                splits.add(client << 31 | (clock + length))
    return pos, in_order


@dataclass(frozen=True, slots=True)
class Dependencies:
    """What a document must already hold before pycrdt can integrate an update in one go.

    `refs`: for each client, the clock it must have reached for every item the update points at
    (origins, parents) and every range its delete set removes; the update's own structs count.
    `holes`: Skip structs inside the update's own sections, which only the document can fill.
    `parents`: the items (as `id_key`s) that the update names as the parent of a struct. Yrs
    refuses an update half-way through applying it when such an item is neither a shared type
    nor deleted, so the room checks these before pycrdt sees the update.
    `types`: the shared types (as `id_key`s) the update creates, which later updates may name
    as parents.
    """

    sections: Sections
    refs: dict[int, int]
    holes: dict[int, int]
    parents: frozenset[int] = frozenset()
    types: frozenset[int] = frozenset()
    # The clients whose items the update's delete set removes.
    deleted: frozenset[int] = frozenset()
    # False when a client's delete ranges are out of order or overlap: applied alone the update
    # is fine, but pycrdt's merge_updates then drops deletions (see relay.py).
    sorted_deletes: bool = True
    # The clocks of the update's string items that fall inside a surrogate pair (as `id_key`s).
    split_pairs: frozenset[int] = frozenset()
    # Whether the update holds a subdocument (see Room._apply).
    subdocs: bool = False

    def ready(self, state: dict[int, int]) -> bool:
        """True when an update with these dependencies integrates fully into `state`.

        O(size of the update), not O(clients in the document): it runs on every update."""
        own: dict[int, int] = {}
        for client, start, end in self.sections:
            have = state.get(client, 0)
            if start > have or self.holes.get(client, 0) > have:
                return False
            own[client] = end
        return all(
            state.get(c, 0) >= clock or own.get(c, 0) >= clock for c, clock in self.refs.items()
        )

    def advance(self, state: dict[int, int]) -> None:
        """Update `state` to what it is once this (ready) update is integrated."""
        for client, _, end in self.sections:
            if end > state.get(client, 0):
                state[client] = end


def id_key(client: int, clock: int) -> int:
    """One int for an item ID (clocks stay below 2**31), cheaper to keep in a set than a pair."""
    return client << 31 | clock


def update_dependencies(update: bytes) -> Dependencies:
    """What `update` depends on (see Dependencies); validates it on the way."""
    return validate_update(update)


_NONE: frozenset[int] = frozenset()
