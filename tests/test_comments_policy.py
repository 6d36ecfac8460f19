"""The comments permission decision (`comments.policy.decide`) for every role and action, and
the guard that feeds it real Yjs changes (`comments.guard.CommentGuard`), crafted ones included."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pycrdt import Doc, Map, Text

from server.comments.guard import CommentGuard, actor_for, anonymous_id
from server.comments.model import MALFORMED, THREADS, read_threads, shown_resolved
from server.comments.policy import Actor, decide
from server.store.base import User
from server.sync.yupdate import update_dependencies

ANA = {"id": "user:ana", "name": "ana", "color": "#112233"}
BEN = {"id": "user:ben", "name": "ben", "color": "#445566"}


def comment(cid: str, author: dict[str, str], body: str = "hello") -> dict[str, Any]:
    return {
        "id": cid,
        "body": body,
        "author": author,
        "created_at": 1000,
        "edited_at": None,
        "deleted": False,
        "mentions": [],
    }


def thread(tid: str, author: dict[str, str], *comments: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": tid,
        "quote": "some text",
        "anchor": '{"start":{},"end":{}}',
        "resolved": False,
        "resolved_at": None,
        "author": author,
        "created_at": 1000,
        "comments": {c["id"]: c for c in comments},
    }


def actor(role: str, who: dict[str, str] | None) -> Actor:
    return Actor(role, None if who is None else who["id"], None if who is None else who["name"])


def base() -> dict[str, Any]:
    """Ana's thread with Ana's first comment and Ben's reply."""
    return {"t1": thread("t1", ANA, comment("c1", ANA), comment("c2", BEN, "reply"))}


def changed(mutate: Any) -> dict[str, Any]:
    after = copy.deepcopy(base())
    mutate(after)
    return after


# --- the actions, each a change of Ana's base state -----------------------------------------
ACTIONS: dict[str, Any] = {
    "start own thread": lambda s: s.update(t2=thread("t2", BEN, comment("c3", BEN))),
    "reply": lambda s: s["t1"]["comments"].update(c3=comment("c3", BEN)),
    "resolve": lambda s: s["t1"].update(resolved=True, resolved_at=3000),
    "edit own comment": lambda s: s["t1"]["comments"]["c2"].update(body="new", edited_at=2000),
    "delete own comment": lambda s: s["t1"]["comments"]["c2"].update(deleted=True, body=""),
    "remove own comment": lambda s: s["t1"]["comments"].pop("c2"),
    "edit another's comment": lambda s: s["t1"]["comments"]["c1"].update(body="evil"),
    "delete another's comment": lambda s: s["t1"]["comments"]["c1"].update(deleted=True),
    "remove another's comment": lambda s: s["t1"]["comments"].pop("c1"),
    "remove another's thread": lambda s: s.pop("t1"),
    "forge author on a reply": lambda s: s["t1"]["comments"].update(c3=comment("c3", ANA)),
    "forge author on a thread": lambda s: s.update(t2=thread("t2", ANA, comment("c3", BEN))),
    "move an anchor": lambda s: s["t1"].update(anchor='{"elsewhere":1}'),
    "change a quote": lambda s: s["t1"].update(quote="other"),
    "take over a comment": lambda s: s["t1"]["comments"]["c1"].update(author=BEN),
    "empty reply": lambda s: s["t1"]["comments"].update(c3=comment("c3", BEN, "   ")),
    "oversized reply": lambda s: s["t1"]["comments"].update(c3=comment("c3", BEN, "x" * 10_001)),
    "malformed reply": lambda s: s["t1"]["comments"].update(c3=MALFORMED),
    "extra field": lambda s: s["t1"].update(script="<b>"),
}

# Ben acts. What each role may do; everything else is refused.
ALLOWED = {
    "viewer": set[str](),
    "commenter": {
        "start own thread",
        "reply",
        "resolve",
        "edit own comment",
        "delete own comment",
        "remove own comment",
    },
}
ALLOWED["editor"] = ALLOWED["commenter"] | {
    "delete another's comment",
    "remove another's comment",
    "remove another's thread",
}
ALLOWED["owner"] = ALLOWED["editor"]


@pytest.mark.parametrize("role", ["viewer", "commenter", "editor", "owner"])
@pytest.mark.parametrize("action", list(ACTIONS))
def test_every_role_and_action(role: str, action: str) -> None:
    verdict = decide(actor(role, BEN), base(), changed(ACTIONS[action]))
    if action in ALLOWED[role]:
        assert verdict is None, verdict
    else:
        assert verdict is not None


def test_no_change_is_always_allowed() -> None:
    assert decide(actor("viewer", None), base(), base()) is None


def test_signed_in_author_must_carry_the_name_the_server_knows() -> None:
    renamed = {**BEN, "name": "Not Ben"}
    after = changed(lambda s: s["t1"]["comments"].update(c3=comment("c3", renamed)))
    assert decide(actor("commenter", BEN), base(), after) is not None
    # An anonymous author names itself; its id is still its own.
    anon = Actor("commenter", BEN["id"], None)
    assert decide(anon, base(), after) is None


def test_without_an_identity_nobody_comments() -> None:
    after = changed(ACTIONS["reply"])
    assert decide(Actor("editor", None), base(), after) is not None


def test_a_commenter_removes_a_thread_only_when_every_comment_is_theirs() -> None:
    mine = {"t2": thread("t2", BEN, comment("c3", BEN))}
    assert decide(actor("commenter", BEN), mine, {}) is None
    theirs = {"t2": thread("t2", BEN, comment("c3", BEN), comment("c4", ANA))}
    assert decide(actor("commenter", BEN), theirs, {}) is not None


def test_only_the_author_restores_a_deleted_comment() -> None:
    deleted = changed(lambda s: s["t1"]["comments"]["c1"].update(deleted=True))
    assert decide(actor("editor", BEN), deleted, base()) is not None
    assert decide(actor("commenter", ANA), deleted, base()) is None


def test_actor_identities() -> None:
    user = User(id=7, username="ana")
    assert actor_for("commenter", user, "ana", None) == Actor("commenter", "user:ana", "ana")
    assert actor_for("editor", None, "Token Name", None).id == "jwt:Token Name"
    key = "k" * 32
    assert actor_for("owner", None, None, key).id == anonymous_id(key)
    assert actor_for("owner", None, None, key).name is None
    assert actor_for("owner", None, None, "short").id is None
    assert anonymous_id(key) != anonymous_id(key + "x")


# --- the guard over real Yjs documents -------------------------------------------------------


def _doc_with(threads: dict[str, Any]) -> Doc[Any]:
    doc: Doc[Any] = Doc()
    root = doc.get(THREADS, type=Map)
    with doc.transaction():
        for tid, t in threads.items():
            fields = {k: v for k, v in t.items() if k != "comments"}
            comments = {cid: Map(c) for cid, c in t["comments"].items()}
            root[tid] = Map({**fields, "comments": Map(comments)})
    return doc


def _change(doc: Doc[Any], mutate: Any) -> bytes:
    """What a client holding `doc` sends when it makes this change."""
    client: Doc[Any] = Doc()
    client.apply_update(doc.get_update())
    before = client.get_state()
    with client.transaction():
        mutate(client)
    return client.get_update(before)


def _refusal(doc: Doc[Any], update: bytes, who: Actor) -> str | None:
    return CommentGuard().refusal(doc, update, update_dependencies(update), who)


def test_guard_reads_what_a_client_wrote() -> None:
    doc = _doc_with(base())
    assert read_threads(doc) == base()


def test_guard_allows_a_reply_and_refuses_a_forged_one() -> None:
    doc = _doc_with(base())

    def reply(author: dict[str, str]) -> Any:
        return lambda d: d.get(THREADS, type=Map)["t1"]["comments"].__setitem__(
            "c3", Map(comment("c3", author))
        )

    assert _refusal(doc, _change(doc, reply(BEN)), actor("commenter", BEN)) is None
    assert _refusal(doc, _change(doc, reply(ANA)), actor("commenter", BEN)) is not None
    assert _refusal(doc, _change(doc, reply(BEN)), actor("viewer", BEN)) is not None
    assert read_threads(doc) == base()  # the live document is never touched


def test_guard_refuses_editing_anothers_comment() -> None:
    doc = _doc_with(base())
    update = _change(
        doc, lambda d: d.get(THREADS, type=Map)["t1"]["comments"]["c1"].__setitem__("body", "evil")
    )
    assert _refusal(doc, update, actor("commenter", BEN)) is not None
    assert _refusal(doc, update, actor("editor", BEN)) is not None
    assert _refusal(doc, update, actor("commenter", ANA)) is None


def test_guard_refuses_a_body_that_is_a_shared_type() -> None:
    doc = _doc_with(base())
    update = _change(
        doc,
        lambda d: d.get(THREADS, type=Map)["t1"]["comments"].__setitem__(
            "c3", Map({**comment("c3", BEN), "body": Text("sneaky")})
        ),
    )
    assert _refusal(doc, update, actor("commenter", BEN)) is not None


def test_guard_refuses_other_roots() -> None:
    doc = _doc_with(base())
    update = _change(doc, lambda d: d.get("default", type=Text).insert(0, "text in comments"))
    assert _refusal(doc, update, actor("editor", BEN)) is not None


def test_guard_refuses_a_change_waiting_for_a_missing_predecessor() -> None:
    doc = _doc_with(base())
    client: Doc[Any] = Doc()
    client.apply_update(doc.get_update())
    replies = client.get(THREADS, type=Map)["t1"]["comments"]
    state = client.get_state()
    replies["c3"] = Map(comment("c3", BEN))
    middle = client.get_state()
    replies["c4"] = Map(comment("c4", BEN))
    later = client.get_update(middle)  # depends on the first reply, which the server lacks
    assert client.get_update(state) != later
    assert _refusal(doc, later, actor("commenter", BEN)) is not None


def test_a_reply_written_after_the_resolve_reopens_the_thread() -> None:
    resolved = changed(ACTIONS["resolve"])["t1"]
    assert shown_resolved(resolved)
    late = copy.deepcopy(resolved)
    late["comments"]["c3"] = {**comment("c3", BEN), "created_at": 3001}
    assert not shown_resolved(late)
    early = copy.deepcopy(resolved)
    early["comments"]["c3"] = {**comment("c3", BEN), "created_at": 2999}
    assert shown_resolved(early)  # written before the resolve: the resolver's call stands


def test_one_guard_follows_the_live_document_through_refusals_and_server_changes() -> None:
    doc = _doc_with(base())
    guard = CommentGuard()
    ben = actor("commenter", BEN)
    client: Doc[Any] = Doc()
    client.apply_update(doc.get_update())

    def send(mutate: Any) -> str | None:
        before = client.get_state()
        with client.transaction():
            mutate(client.get(THREADS, type=Map))
        update = client.get_update(before)
        why = guard.refusal(doc, update, update_dependencies(update), ben)
        if why is None:
            doc.apply_update(update)  # as the room does with an allowed write
        return why

    assert send(lambda r: r["t1"]["comments"].__setitem__("r1", Map(comment("r1", BEN)))) is None
    assert send(lambda r: r["t1"]["comments"]["c1"].__setitem__("body", "evil")) is not None
    # The refused change stays on Ben's side only; his next honest change is judged alone.
    client = Doc()
    client.apply_update(doc.get_update())
    assert send(lambda r: r["t1"]["comments"].__setitem__("r2", Map(comment("r2", BEN)))) is None
    # A change the server makes itself (the HTTP API) is seen by the next check.
    with doc.transaction():
        doc.get(THREADS, type=Map)["t1"]["comments"].pop("r2")
    guard.changed()
    client = Doc()
    client.apply_update(doc.get_update())
    assert send(lambda r: r["t1"]["comments"]["r1"].__setitem__("body", "edited")) is None
    assert read_threads(doc)["t1"]["comments"]["r1"]["body"] == "edited"
    assert "r2" not in read_threads(doc)["t1"]["comments"]
    assert read_threads(doc)["t1"]["comments"]["c1"]["body"] == "hello"
