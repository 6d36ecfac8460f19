"""The order a live room applies its shared log's rows in (server.sync.follow), as pure logic."""

from __future__ import annotations

from server.sync.follow import Follower


def test_rows_in_order_are_applied_at_once() -> None:
    f = Follower(3)
    assert f.offer(4, b"d") == [b"d"]
    assert f.offer(5, b"e") == [b"e"]
    assert f.applied == 5 and not f.gap


def test_a_row_ahead_waits_for_its_predecessor_and_both_come_in_order() -> None:
    f = Follower(0)
    assert f.offer(2, b"b") == []
    assert f.gap and f.applied == 0
    assert f.offer(1, b"a") == [b"a", b"b"]
    assert f.applied == 2 and not f.gap


def test_rows_seen_twice_or_already_loaded_are_skipped() -> None:
    f = Follower(5)
    assert f.offer(5, b"old") == []
    assert f.offer(6, b"f") == [b"f"]
    assert f.offer(6, b"f") == []
    assert f.applied == 6


def test_own_rows_move_the_mark_without_being_applied_again() -> None:
    f = Follower(0)
    assert f.own(1) == []
    assert f.applied == 1
    # Another instance's row 2 arrives after this instance's row 3 committed.
    assert f.own(3) == []
    assert f.gap and f.applied == 1
    assert f.offer(3, b"mine, echoed by the store") == []
    assert f.offer(2, b"theirs") == [b"theirs"]
    assert f.applied == 3 and not f.gap


def test_an_own_row_can_release_rows_that_waited_for_it() -> None:
    f = Follower(0)
    assert f.offer(2, b"b") == []
    assert f.own(1) == [b"b"]
    assert f.applied == 2
