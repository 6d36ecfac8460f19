"""Gives updates to a pycrdt Doc whole or not at all, holding back those that wait for a
missing predecessor: the one rule shared by the live room and the fold of a stored document.

The room and the fold run the same steps over the same updates in the same order, so a document
reloaded from the store is always the document that was live (held updates included: invisible
until their predecessors arrive, before and after a restart).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, NamedTuple

from pycrdt import Doc

from ..closecodes import Close
from .lib0 import ProtocolError, read_var_uint
from .pairs import Pairs
from .yupdate import (
    Dependencies,
    id_key,
    read_state_vector,
    split_points,
    update_dependencies,
    with_deletions_of,
    write_state_vector,
)

log = logging.getLogger(__name__)

# A connection whose updates wait for predecessors that never come is closed with this.
_CLOCK_MASK = (1 << 31) - 1  # the clock of a yupdate.id_key


def new_doc() -> Doc[Any]:
    """A Doc for content that came from clients, live or stored.

    Without yrs's garbage collection: it frees the items of a deleted type at the end of a
    transaction while a pointer to one may stay behind, and a later update that integrates next
    to it reads freed memory (the fuzzer's relay seed 8: a heap corruption that killed the
    process some runs later; valgrind shows the read in `Item::resolve_conflict` of a block
    freed by `GCCollector::collect_marked`). Deleted text and deleted types are kept instead
    (a larger state; clients still collect theirs).
    """
    return Doc(skip_gc=True)


class _Held(NamedTuple):
    update: bytes
    deps: Dependencies
    # The connection that sent it (a serial number: holding the connection itself would keep a
    # closed one's buffers alive), or None: stored rows, another instance's, a fold's.
    sender: int | None


class HalfApplied(RuntimeError):
    """pycrdt failed on an update it had been checked to accept: the Doc may hold part of it or
    be damaged inside, and only a rebuild from what was stored makes it right again."""


class Integrator:
    """A Doc, the state vector of what it holds (kept here: reading it from pycrdt is
    O(clients)) and the updates held back until what they depend on has arrived.

    pycrdt is fragile while it keeps structs pending for a missing predecessor (a later pending
    update is lost, some pairs crash the process), and it refuses some updates only after
    applying part of them (an item whose named parent is not a shared type). So it only ever
    gets updates that integrate in full and that it was shown to accept.
    """

    def __init__(
        self, doc: Doc[Any], *, max_held: int | None = None, max_held_bytes: int | None = None
    ) -> None:
        self.doc = doc
        self.state: dict[int, int] = read_state_vector(doc.get_state())
        self.held: list[_Held] = []
        self.held_bytes = 0
        self._max_held = max_held
        self._max_held_bytes = max_held_bytes
        # Every shared type the Doc holds, as yupdate.id_key; None until an update first names
        # a parent from outside itself (building it walks the whole Doc once).
        self._types: set[int] | None = None
        # The Doc's string clocks that fall inside a surrogate pair (as yupdate.id_key).
        self._pairs = Pairs()

    def load(self, state: bytes, held: Iterable[bytes] = ()) -> None:
        """Seed the Doc with a fold's result: `state` integrates in full, `held` waits."""
        self._apply_unchecked(state)
        self.state = read_state_vector(self.doc.get_state())
        self._types = None
        self._pairs = self._pairs_of(state)
        for update in held:
            self.held.append(_Held(update, update_dependencies(update), None))
            self.held_bytes += len(update)

    def integrate(
        self, update: bytes, deps: Dependencies | None = None, sender: int | None = None
    ) -> list[tuple[bytes, Dependencies]] | None:
        """Apply `update`, or hold it until its predecessors are here (returns None then).

        `deps`: the update's, if the caller has them already (`protocol.decode` does).
        `sender`: the connection it came from (None for stored rows): a held update that
        claims a client's clocks past a gap is dropped when another sender fills that gap.
        Returns what the Doc took, in order: the update, then the held updates it released,
        each as pycrdt took it (rarely rewritten: see `_sliced_after_gc`), which is what to
        store and relay. Raises ProtocolError (nothing applied) when pycrdt would refuse the
        update or too much is held, and HalfApplied when pycrdt failed although the update had
        been checked.
        """
        if deps is None:
            deps = update_dependencies(update)
        if not deps.ready(self.state):
            self._hold(update, deps, sender)
            return None
        try:
            taken = [self._apply_from(update, deps, sender)]
        except ProtocolError:
            self._drop_waiting_on(deps)
            raise
        if self.held:
            taken += self._release()
        return taken

    def changed(self, update: bytes) -> Dependencies | None:
        """The Doc was changed directly (a server-side edit) by `update`. Returns its
        dependencies, or None when pycrdt's encoding of it breaks a rule `validate_update` keeps
        for clients (yrs may write an empty GC struct): then the types it made are not known,
        which costs later updates naming them a trial, never a refusal."""
        self.state = read_state_vector(self.doc.get_state())
        try:
            deps = update_dependencies(update)
        except ProtocolError as exc:
            log.warning("a server-side change does not pass client validation: %s", exc)
            return None
        if self._types is not None:
            self._types |= deps.types
        self._pairs.add(deps.split_pairs)
        return deps

    def drifted(self) -> bool:
        """True when pycrdt holds something else than the updates given to it say: it kept part
        of one pending although its dependencies looked present (O(clients): call rarely)."""
        return read_state_vector(self.doc.get_state()) != self.state

    def _hold(self, update: bytes, deps: Dependencies, sender: int | None) -> None:
        if (self._max_held is not None and len(self.held) >= self._max_held) or (
            self._max_held_bytes is not None
            and self.held_bytes + len(update) > self._max_held_bytes
        ):
            raise ProtocolError(Close.POLICY, "too many updates waiting for missing predecessors")
        self.held.append(_Held(update, deps, sender))
        self.held_bytes += len(update)

    def _claimed_by_others(self, deps: Dependencies, sender: int | None) -> list[_Held]:
        """Held updates of senders other than `sender` that wait for clocks of a client past a
        gap which the update with `deps` fills (in part).

        Clients never leave a gap in another client's clocks: their sync step 2 starts where
        the server's state vector stands, and their live updates hold only their own client's
        structs (which may arrive before their step 2 and wait for it). A run of a client's
        clocks past a gap, sent by one connection while another fills the gap, is a claim on
        clocks that client has not written yet: integrated once released, it would take them,
        and the real edit written there later would count for nothing. An honest sender of
        such a run (its live update, its step 2 still on the way) loses nothing by the drop:
        its step 2 carries the same structs again."""
        if not self.held:
            return []
        filled = {
            client: end
            for client, start, end in deps.sections
            if end > self.state.get(client, 0) and start <= self.state.get(client, 0)
        }
        if not filled:
            return []
        return [
            held
            for held in self.held
            if held.sender is not None
            and held.sender != sender
            and any(
                client in filled and start > self.state.get(client, 0)
                for client, start, _ in held.deps.sections
            )
        ]

    def _apply_from(
        self, update: bytes, deps: Dependencies, sender: int | None
    ) -> tuple[bytes, Dependencies]:
        """`_apply`, then drop the held updates of other senders whose gap it filled."""
        contested = self._claimed_by_others(deps, sender)
        taken = self._apply(update, deps)
        if not contested:
            return taken
        # Identity, not equality: the same bytes may be held twice from two senders.
        gone = {id(held) for held in contested}
        self.held = [held for held in self.held if id(held) not in gone]
        self.held_bytes -= sum(len(held.update) for held in contested)
        log.warning(
            "dropped %d held update(s) claiming clocks past a gap that another sender filled",
            len(contested),
        )
        return taken

    def _release(self) -> list[tuple[bytes, Dependencies]]:
        released: list[tuple[bytes, Dependencies]] = []
        progress = True
        while progress:
            progress = False
            for index, (update, deps, sender) in enumerate(self.held):
                if deps.ready(self.state):
                    del self.held[index]
                    self.held_bytes -= len(update)
                    try:
                        released.append(self._apply_from(update, deps, sender))
                    except ProtocolError as exc:
                        self._drop_waiting_on(deps)
                        # Stored already; the fold drops it at the same point, so the reload
                        # agrees. The sender of the update that released it did nothing wrong.
                        log.warning("a held update was refused once ready: %s", exc)
                    progress = True
                    break
        return released

    def _drop_waiting_on(self, deps: Dependencies) -> None:
        """A refused update will never give the Doc its clocks: the held updates that wait for
        them would be held until the room unloads (the fuzzer's memory oracle counted 43,000
        Python blocks once emoji-splitting updates were refused). Another update could still
        bring those clocks, but only one claiming another writer's clocks; the sender of a
        dropped update that is honest sends it again with its next sync step 2."""
        if not self.held:
            return
        skipped = {
            client: start
            for client, start, end in deps.sections
            if start <= self.state.get(client, 0) < end
        }
        if not skipped:
            return
        kept = [
            held
            for held in self.held
            if not any(
                held.deps.refs.get(client, 0) > self.state.get(client, 0)
                or any(c == client and end > start for c, _, end in held.deps.sections)
                for client, start in skipped.items()
            )
        ]
        dropped = len(self.held) - len(kept)
        if dropped:
            self.held = kept
            self.held_bytes = sum(len(held.update) for held in kept)
            log.warning("dropped %d held update(s) waiting for a refused one", dropped)

    def _apply(self, update: bytes, deps: Dependencies) -> tuple[bytes, Dependencies]:
        """Give a ready update to the Doc; returns it as the Doc took it."""
        if deps.split_pairs and any(
            id_key(client, self.state.get(client, 0)) in deps.split_pairs
            for client, _, _ in deps.sections
        ):
            # A struct overlapping clocks the Doc has, cut between the two halves of an
            # emoji: yrs then loses track of its own clocks (the soak's seed 30: the state
            # vector went from 204 to 203 and the reload differed from the live Doc). Yjs
            # never writes such a cut: its structs end where a character ends, and it slices
            # a step 2 at the server's clock, which is at one of those ends.
            raise ProtocolError(
                Close.INVALID_PAYLOAD, "an update overlaps the document inside a character"
            )
        if (self._pairs or deps.split_pairs) and self._splits_a_pair(update, deps):
            raise ProtocolError(
                Close.INVALID_PAYLOAD, "an update would split a character (an emoji) in two"
            )
        if self._sliced_after_gc(deps):
            # The copy's encoding of what it took, with the update's own deletions (the copy
            # writes all of the Doc's).
            taken = with_deletions_of(
                self._trial(update, deps).get_update(self.doc.get_state()), update
            )
            taken_deps = update_dependencies(taken)
            self._apply_unchecked(taken)
            self._types = None  # what the cut structs became is for the Doc to say
            taken_deps.advance(self.state)
            self._pairs.add(taken_deps.split_pairs)
            return taken, taken_deps
        # Only types at clocks the Doc does not have yet are made by this update: pycrdt skips
        # the clocks it has, whatever the update claims was there (the fuzzer's relay seed 8:
        # an update re-sending clock 118 as a type, where the Doc holds text, and naming it as
        # a parent; pycrdt failed half-way and the Doc crashed the process later).
        outside = deps.parents - self._new_types(deps)
        if outside:
            if self._types is None:
                self._types = self._doc_types()
            if not outside <= self._types:
                # A parent that is not a shared type we know of: rare for honest clients (one
                # inserting into a type deleted meanwhile). Only a trial on a copy says whether
                # pycrdt accepts it whole; the live Doc must never see a half-applied update.
                self._trial(update, deps)
        self._apply_unchecked(update)
        if self._types is not None:
            self._types |= self._new_types(deps)  # self.state is still as before the update
        deps.advance(self.state)
        self._pairs.add(deps.split_pairs)
        return update, deps

    @staticmethod
    def _pairs_of(state: bytes) -> Pairs:
        pairs = Pairs()
        try:
            pairs.add(update_dependencies(state).split_pairs)
        except ProtocolError as exc:
            # pycrdt's own encoding may break a rule kept for clients (see `changed`): the
            # characters it holds are then not guarded, those that come later are.
            log.warning("a loaded state does not pass client validation: %s", exc)
        return pairs

    def _splits_a_pair(self, update: bytes, deps: Dependencies) -> bool:
        """Whether integrating the update cuts an item between the two UTF-16 units of an
        emoji: yrs then keeps the character whole on one side while the clocks split, so the
        Doc and its own encoding disagree (delete the low half of "a😀b": the live Doc reads
        "a😀", a reload "a😀b"), and the soak saw the live Doc lose clocks its clients held.
        Yjs never writes such an edit for a whole character; the editor deletes and inserts
        whole characters."""
        splits = split_points(update)
        return not splits.isdisjoint(deps.split_pairs) or self._pairs.any_of(splits)

    def _sliced_after_gc(self, deps: Dependencies) -> bool:
        """Whether pycrdt would integrate the update otherwise than a reload of the result.

        A struct that starts below the Doc's clock for its client and ends above it is cut
        there, and its remainder goes after the Doc's last struct of that client. When that
        one is a GC struct, pycrdt keeps the remainder where the cut struct's parent says (the
        relay fuzzer's seed 280: text at the start of a root), while the Doc's own encoding of
        it names only the GC struct as its origin, so a reload and every Yjs peer turn it into
        GC. Such an update reaches the live Doc as pycrdt encodes what a copy took of it: the
        remainder then names only its origin, as everywhere else. Refusing it instead would
        strand the sender's later updates (held for clocks that never come) and close honest
        clients that raced (a step 2 against a state the server has since passed).
        """
        for client, start, end in deps.sections:
            have = self.state.get(client, 0)
            if start < have < end and self._collected(client, have - 1):
                return True
        return False

    def _collected(self, client: int, clock: int) -> bool:
        """Whether the Doc holds `client`'s `clock` as a GC struct (O(clients): call rarely)."""
        # pycrdt's own encoding of what follows: one section, `client`'s, from `clock` on.
        diff = self.doc.get_update(write_state_vector({**self.state, client: clock}))
        sections, pos = read_var_uint(diff, 0)
        if sections != 1:
            return False
        for _ in range(3):  # struct count, client, clock
            _, pos = read_var_uint(diff, pos)
        return diff[pos] & 0x1F == 0  # the info byte's content ref: 0 is GC

    def _new_types(self, deps: Dependencies) -> set[int] | frozenset[int]:
        """The types of `deps` at clocks the Doc does not hold yet."""
        state = self.state
        if not deps.types:
            return deps.types
        return {key for key in deps.types if key & _CLOCK_MASK >= state.get(key >> 31, 0)}

    def _doc_types(self) -> set[int]:
        try:
            return set(update_dependencies(self.doc.get_update()).types)
        except ProtocolError as exc:
            # As in changed(): pycrdt's own encoding of the Doc may break a client rule.
            # Without the set every update naming an outside parent gets a trial: slower,
            # never wrong, and it fills up with the types made from now on.
            log.warning("the document's own encoding does not pass client validation: %s", exc)
            return set()

    def _trial(self, update: bytes, deps: Dependencies) -> Doc[Any]:
        """A copy of the Doc that took `update` whole; ProtocolError if pycrdt would not."""
        copy = new_doc()
        try:
            copy.apply_update(self.doc.get_update())
            copy.apply_update(update)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # pycrdt panics derive from BaseException
            raise ProtocolError(
                Close.INVALID_PAYLOAD, "update rejected by the CRDT engine"
            ) from exc
        # Taken without an error is not enough: pycrdt may keep part of it pending for good.
        reached = read_state_vector(copy.get_state())
        if any(reached.get(client, 0) < end for client, _, end in deps.sections):
            raise ProtocolError(Close.INVALID_PAYLOAD, "update does not integrate")
        return copy

    def _apply_unchecked(self, update: bytes) -> None:
        try:
            self.doc.apply_update(update)
        except ExceptionGroup:
            # An observer raised, but the update itself was applied: keep it.
            log.exception("an observer failed while an update was applied")
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # pycrdt panics derive from BaseException
            # Even with its state vector unmoved the Doc may be damaged inside (the fuzzer's
            # relay seed 8 crashed the process later), so only a rebuild can be trusted.
            raise HalfApplied(
                f"pycrdt failed on an update it was checked to accept: {exc!r}"
            ) from exc
