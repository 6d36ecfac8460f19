"""Feed an open finding's updates to the room's Integrator, one per connection, as the live
room would (see README.md). Prints "ok" when the process survives."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from pycrdt import Doc

from server.sync.integrate import HalfApplied, Integrator
from server.sync.lib0 import ProtocolError
from server.sync.yupdate import validate_update


def main(path: Path) -> None:
    logging.disable(logging.WARNING)
    updates = [bytes.fromhex(line) for line in path.read_text().split()]
    doc: Doc[Any] = Doc()
    integrator = Integrator(doc, max_held=64, max_held_bytes=4 << 20)
    for index, update in enumerate(updates):
        try:
            integrator.integrate(update, validate_update(update), sender=index)
        except (ProtocolError, HalfApplied):
            continue
    print("ok")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
