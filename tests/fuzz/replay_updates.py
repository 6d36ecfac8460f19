"""Replay a `.hexlines` corpus file (one update in hex per line, each from its own connection,
in the order the room's Integrator got them) as the live room would, then fold what the room
would have stored and compare. Prints "ok" when the reload equals the live document; a run
that ends any other way (a crash of the process included) is the failure.

Run in a process of its own (`python -m tests.fuzz.replay_updates FILE`): what these files
found is pycrdt corrupting its heap, which kills the process that hosts it.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from server.sync.fold import fold
from server.sync.integrate import HalfApplied, Integrator, new_doc
from server.sync.lib0 import ProtocolError
from server.sync.yupdate import validate_update
from tests.fuzz.relaydiff import differences


def main(path: Path) -> str | None:
    """None when the reload equals the live document, else how they differ."""
    updates = [bytes.fromhex(line) for line in path.read_text().split()]
    doc = new_doc()
    integrator = Integrator(doc, max_held=64, max_held_bytes=4 << 20)
    stored: list[bytes] = []  # what the room would have stored, in its order
    for index, update in enumerate(updates):
        try:
            taken = integrator.integrate(update, validate_update(update), sender=index)
        except ProtocolError:
            continue
        except HalfApplied:
            return f"update {index}: pycrdt failed on an update the Integrator let through"
        if taken is not None:
            stored.extend(u for u, _ in taken)
    reloaded = new_doc()
    reloaded.apply_update(fold(stored).state)
    return differences(doc, reloaded)


if __name__ == "__main__":
    logging.disable(logging.WARNING)
    found = main(Path(sys.argv[1]))
    print("ok" if found is None else f"differs: {found}")
