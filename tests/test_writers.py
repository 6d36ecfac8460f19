"""Client-id bindings (server/sync/writers.py), pure logic: who may write which id's structs."""

from __future__ import annotations

import pytest

from server.sync.lib0 import ProtocolError
from server.sync.writers import OPEN, Writers

ALICE, MALLORY = "anon:alice", "anon:mallory"


def nothing(_client: int) -> bool:
    return False


def test_the_first_keyed_user_of_an_id_binds_it_and_only_that_writer_writes_it() -> None:
    writers = Writers()
    assert writers.check_structs([7], ALICE, nothing) == {7: ALICE}
    assert writers.check_structs([7], ALICE, nothing) == {}
    with pytest.raises(ProtocolError) as refused:
        writers.check_structs([7], MALLORY, nothing)
    assert refused.value.code == 1008
    with pytest.raises(ProtocolError):
        writers.check_structs([7], None, nothing)


def test_an_update_naming_another_writers_id_binds_none_of_its_ids() -> None:
    writers = Writers({7: ALICE})
    with pytest.raises(ProtocolError):
        writers.check_structs([8, 7], MALLORY, nothing)
    assert writers.owner(8) is None
    assert writers.check_structs([8], ALICE, nothing) == {8: ALICE}


def test_an_id_first_used_without_a_key_or_written_before_bindings_is_open() -> None:
    writers = Writers()
    assert writers.check_structs([7], None, nothing) == {7: OPEN}
    assert writers.check_structs([7], MALLORY, nothing) == {}
    assert writers.check_structs([8], ALICE, lambda client: client == 8) == {8: OPEN}
    assert writers.check_structs([8], MALLORY, nothing) == {}


def test_presence_binds_an_id_before_its_first_struct_while_shown() -> None:
    # Mallory learns Alice's id from her presence; writing there first must not take it.
    writers = Writers()
    writers.announce(7, ALICE, nothing)
    writers.announce(7, MALLORY, nothing)
    with pytest.raises(ProtocolError):
        writers.check_structs([7], MALLORY, nothing)
    assert writers.check_structs([7], ALICE, nothing) == {7: ALICE}  # stored from now on
    writers.forget([7])
    with pytest.raises(ProtocolError):
        writers.check_structs([7], MALLORY, nothing)
    # An id shown and gone without writing is nobody's again (nothing of it was stored).
    writers.announce(8, ALICE, nothing)
    writers.forget([8])
    assert writers.check_structs([8], MALLORY, nothing) == {8: MALLORY}
    writers.announce(9, None, nothing)
    assert writers.check_structs([9], MALLORY, nothing) == {9: OPEN}


def test_ids_beyond_javascript_integers_are_never_stored() -> None:
    writers = Writers()
    assert writers.check_structs([2**53], ALICE, nothing) == {}
    assert writers.owner(2**53) == ALICE  # still held in memory for this room's life


def test_ids_another_instance_wrote_wait_for_the_store() -> None:
    writers = Writers({7: ALICE})
    assert writers.written_elsewhere([7, 8]) == {8}
    with pytest.raises(ProtocolError) as later:
        writers.check_structs([8], ALICE, lambda client: True)
    assert later.value.code == 1013
    writers.announce(8, MALLORY, nothing)
    assert writers.learn({8: ALICE}) == {}
    assert not writers.unknown
    assert writers.check_structs([8], ALICE, nothing) == {}
    # What the store says wins over what this instance assumed.
    assert writers.learn({7: MALLORY}) == {7: (ALICE, MALLORY)}
    assert writers.owner(7) == MALLORY
