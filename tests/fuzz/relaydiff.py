"""The relay's fuzzer (pure, no server): frames from `mutate.Engine` go through the room's
Integrator one by one, as the live room applies them; a reader receives the accepted ones the
way the relay sends them (segments of several updates, merged when `relay._segment` thinks
that safe) and must end up holding what the server holds. The live fuzzer's reader found such
a divergence only on a loaded machine, where relay turns hold more updates; here the turns are
drawn from the seed, so a finding replays exactly."""

from __future__ import annotations

import logging
import random
from typing import Any

from pycrdt import Doc

from server.sync.integrate import HalfApplied, Integrator, new_doc
from server.sync.lib0 import ProtocolError
from server.sync.protocol import SyncStep2, SyncUpdate, decode
from server.sync.relay import Relayed, _segment, relayed
from server.sync.yupdate import read_state_vector, validate_update
from tests.fuzz import yupdate
from tests.fuzz.mutate import Engine

COMPARE_EVERY = 25  # relay turns between comparisons (each costs a walk of both documents)


def deletions(doc: Doc[Any]) -> dict[int, list[tuple[int, int]]]:
    """The Doc's state vector and delete set, cheaply (no structs): {client: ranges}."""
    update = yupdate.parse(doc.get_update(doc.get_state()))
    found = {client: sorted(ranges) for client, ranges in update.deletes}
    for client, clock in read_state_vector(doc.get_state()).items():
        found.setdefault(client, []).append((-1, clock))  # the clock it has reached
    return found


def differences(server: Doc[Any], reader: Doc[Any]) -> str | None:
    a, b = yupdate.runs(server.get_update()), yupdate.runs(reader.get_update())
    if a == b:
        return None
    for client in sorted(a.keys() | b.keys()):
        if a.get(client) != b.get(client):
            only_a = sorted(set(a.get(client, [])) - set(b.get(client, [])))[:4]
            only_b = sorted(set(b.get(client, [])) - set(a.get(client, [])))[:4]
            return f"client {client}: server {only_a} vs reader {only_b}"
    return "differ"


def rebuild(accepted: list[bytes]) -> tuple[Doc[Any], Integrator]:
    doc = new_doc()
    integrator = Integrator(doc, max_held=64, max_held_bytes=4 << 20)
    for update in accepted:
        integrator.integrate(update)
    return doc, integrator


def run(seed: int, frames: int) -> str | None:
    """None when the reader matched the server throughout, else what differed, and where."""
    engine = Engine(seed)
    turns = random.Random(seed * 7 + 1)
    accepted: list[bytes] = []  # what the room would have stored, in its order
    server, integrator = rebuild(accepted)
    reader = new_doc()  # a pycrdt reader: collecting would put it at the same risk
    pending: list[tuple[Any, Relayed]] = []
    sent = 0
    logging.getLogger("server.sync.integrate").disabled = True
    try:
        for index in range(frames):
            frame = engine.next()
            if frame.text or frame.big:
                continue
            try:
                message = decode(frame.data)
            except ProtocolError:
                continue
            if not isinstance(message, (SyncUpdate, SyncStep2)):
                continue
            try:
                deps = validate_update(message.update)
                taken = integrator.integrate(message.update, deps, sender=index)
            except ProtocolError:
                continue
            except HalfApplied:
                # As the live room does: start over from what was stored, and every reader
                # reconnects (the server's sync step 2 brings it up to date).
                server, integrator = rebuild(accepted)
                pending = []
                reader.apply_update(server.get_update())
                continue
            if taken is None:
                continue
            pending.extend((None, relayed(u, d)) for u, d in taken)
            accepted.extend(u for u, _ in taken)
            if turns.random() >= 0.3:
                continue  # the relay turn has not come yet
            for update, _, _ in _segment(pending).parts:
                reader.apply_update(update)
            pending = []
            sent += 1
            # A wrong turn may be put right by a later one: compare clocks and deletions after
            # every turn, and everything now and then.
            if deletions(server) != deletions(reader) or sent % COMPARE_EVERY == 0:
                if found := differences(server, reader):
                    return f"seed {seed}, frame {index}: {found}"
        for update, _, _ in _segment(pending).parts if pending else ():
            reader.apply_update(update)
        found = differences(server, reader)
        return f"seed {seed}, at the end: {found}" if found else None
    finally:
        logging.getLogger("server.sync.integrate").disabled = False
