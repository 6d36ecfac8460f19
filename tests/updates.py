"""Small Yjs update sequences that several test modules build on."""

from __future__ import annotations

from typing import Any

from pycrdt import Doc, Map, Text


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
