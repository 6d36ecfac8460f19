"""Small Yjs update sequences that several test modules build on."""

from __future__ import annotations

from typing import Any

from pycrdt import Doc, Map, Text

from server.sync.lib0 import write_var_uint


def chain_of_updates() -> tuple[list[bytes], Doc[Any]]:
    """Three updates of one client, each depending on the one before, and the doc they made."""
    doc: Doc[Any] = Doc()
    text = doc.get("text", type=Text)
    out = []
    for step in ("hello", " world", None):
        state = doc.get_state()
        if step is None:
            doc.get("map", type=Map)["k"] = 1
        else:
            text += step
        out.append(doc.get_update(state))
    return out, doc


def contents(doc: Doc[Any]) -> tuple[str, object]:
    """What chain_of_updates writes: the text and the map."""
    return str(doc.get("text", type=Text)), doc.get("map", type=Map).to_py()


def crafted(*sections: bytes) -> bytes:
    """An update of hand-made client sections and an empty delete set."""
    return write_var_uint(len(sections)) + b"".join(sections) + write_var_uint(0)


def string_item(client: int, clock: int, text: str, parent: tuple[int, int] | None) -> bytes:
    """One client section holding one String item without origins, whose parent is the root
    type `t` or, when given, the item with that ID."""
    body = text.encode()
    where = (
        b"\x01" + write_var_uint(1) + b"t"
        if parent is None
        else b"\x00" + write_var_uint(parent[0]) + write_var_uint(parent[1])
    )
    head = write_var_uint(1) + write_var_uint(client) + write_var_uint(clock)
    return head + b"\x04" + where + write_var_uint(len(body)) + body


def text_type_item(client: int, clock: int) -> bytes:
    """One client section holding one item that makes a Text type in the root type `t`."""
    head = write_var_uint(1) + write_var_uint(client) + write_var_uint(clock)
    return head + b"\x07" + b"\x01" + write_var_uint(1) + b"t" + write_var_uint(2)


def gc_struct(client: int, clock: int, length: int) -> bytes:
    """One client section holding one GC struct: clocks a client's encoder says it collected."""
    head = write_var_uint(1) + write_var_uint(client) + write_var_uint(clock)
    return head + b"\x00" + write_var_uint(length)
