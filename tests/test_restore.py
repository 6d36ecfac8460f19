"""Rewriting a live XmlFragment into a version's: exact results, minimal changes, offline merges."""

from __future__ import annotations

import random
from typing import Any

import pytest
from pycrdt import Doc, Map, XmlElement, XmlFragment, XmlText

from server import restore
from server.restore import RestoreError, RestoreSummary, fragment_key, restore_fragment

# A block: (tag, attributes, children); a child is a block, or a text given as a string or as a
# list of (text, marks) runs.
Run = tuple[str, dict[str, Any]]
Block = tuple[str, dict[str, Any], list[Any]]


def write(parent: XmlFragment | XmlElement, blocks: list[Any]) -> None:
    for child in blocks:
        if isinstance(child, str):
            child = [(child, {})]
        if isinstance(child, list):
            text = parent.children.append(XmlText())
            at = 0
            for value, marks in child:
                text.insert(at, value, marks)
                at += len(value.encode())
            continue
        tag, attrs, content = child
        element = parent.children.append(XmlElement(tag))
        for key, value in attrs.items():
            element.attributes[key] = value
        write(element, content)


def doc_with(blocks: list[Any]) -> tuple[Doc[Any], XmlFragment]:
    doc: Doc[Any] = Doc()
    fragment = doc.get("default", type=XmlFragment)
    with doc.transaction():
        write(fragment, blocks)
    return doc, fragment


def copy(doc: Doc[Any]) -> tuple[Doc[Any], XmlFragment]:
    other: Doc[Any] = Doc()
    other.apply_update(doc.get_update())
    return other, other.get("default", type=XmlFragment)


def run_restore(live_doc: Doc[Any], target: XmlFragment) -> tuple[RestoreSummary, list[bytes]]:
    """Restore in one transaction, as Room.apply_server_change does; returns the updates made."""
    updates: list[bytes] = []
    subscription = live_doc.observe(lambda event: updates.append(event.update))
    live = live_doc.get("default", type=XmlFragment)
    with live_doc.transaction():
        summary = restore_fragment(live, target)
    live_doc.unobserve(subscription)
    assert fragment_key(live) == fragment_key(target)
    assert not summary.fallback, "the minimal rewrite must reproduce the version by itself"
    return summary, updates


def sync(a: Doc[Any], b: Doc[Any]) -> None:
    a.apply_update(b.get_update(a.get_state()))
    b.apply_update(a.get_update(b.get_state()))


def p(*children: Any) -> Block:
    return ("paragraph", {}, list(children))


RICH: list[Any] = [
    ("heading", {"level": 1.0}, ["Meeting notes 🎉"]),
    p(
        [
            ("Plain, ", {}),
            ("bold", {"bold": {}}),
            (" and ", {}),
            ("link", {"link": {"href": "https://example.com/?a=1&b=2", "title": None}}),
            (".", {}),
        ],
        ("hardBreak", {}, []),
        "Second line — עברית 中文",
    ),
    (
        "bulletList",
        {},
        [
            ("listItem", {}, [p("one")]),
            ("listItem", {}, [p("two"), ("bulletList", {}, [("listItem", {}, [p("nested")])])]),
        ],
    ),
    ("taskList", {}, [("taskItem", {"checked": True}, [p("done")])]),
    ("codeBlock", {"language": "python"}, ['def f():\n    return "<b>"']),
    ("horizontalRule", {}, []),
    p(),
]


def test_restores_rich_content_exactly_into_an_empty_document() -> None:
    _, target = doc_with(RICH)
    live_doc, _ = doc_with([])
    summary, updates = run_restore(live_doc, target)
    assert summary == RestoreSummary(inserted=len(RICH))
    assert len(updates) == 1, "a restore is one change"
    # A peer that receives that one update sees the same content.
    replica: Doc[Any] = Doc()
    replica.apply_update(updates[0])
    assert fragment_key(replica.get("default", type=XmlFragment)) == fragment_key(target)


def test_restoring_an_empty_version_clears_the_document() -> None:
    _, target = doc_with([])
    live_doc, live = doc_with(RICH)
    summary, _ = run_restore(live_doc, target)
    assert summary == RestoreSummary(deleted=len(RICH))
    assert str(live) == ""


def test_restoring_equal_content_changes_nothing() -> None:
    target_doc, target = doc_with(RICH)
    live_doc, _ = copy(target_doc)
    summary, updates = run_restore(live_doc, target)
    assert summary == RestoreSummary(kept=len(RICH))
    assert not summary.changed
    assert updates == []


def test_only_changed_blocks_are_touched_and_offline_edits_merge() -> None:
    version_doc, version = doc_with(
        [
            ("heading", {"level": 1.0}, ["Title"]),
            p("Unchanged paragraph."),
            p("The quick brown fox jumps over the lazy dog."),
            p("Deleted before the restore, so it comes back."),
        ]
    )
    live_doc, live = copy(version_doc)
    with live_doc.transaction():
        live.children[0].attributes["level"] = 2.0  # type: ignore[union-attr]
        fox = live.children[2].children[0]  # type: ignore[union-attr]
        assert isinstance(fox, XmlText)
        fox.insert(0, "EDITED ", {"bold": {}})
        del live.children[3]
        write(live, [p("Added later, gone after the restore.")])
    # A client goes offline holding the pre-restore state and edits two paragraphs.
    offline_doc, offline = copy(live_doc)
    with offline_doc.transaction():
        kept = offline.children[1].children[0]  # type: ignore[union-attr]
        assert isinstance(kept, XmlText)
        kept.insert(0, "Offline: ", {})
        changed = offline.children[2].children[0]  # type: ignore[union-attr]
        assert isinstance(changed, XmlText)
        plain = "".join(str(value) for value, _ in changed.diff())
        changed.insert(len(plain[: plain.index("lazy")].encode()), "very ", {})

    summary, _ = run_restore(live_doc, version)
    assert summary == RestoreSummary(kept=1, patched=2, inserted=1, deleted=1)
    assert str(live) == str(version)

    sync(live_doc, offline_doc)
    assert str(live) == str(offline)
    assert str(live) == (
        '<heading level="1">Title</heading>'
        "<paragraph>Offline: Unchanged paragraph.</paragraph>"
        "<paragraph>The quick brown fox jumps over the very lazy dog.</paragraph>"
        "<paragraph>Deleted before the restore, so it comes back.</paragraph>"
    )


def test_formatting_is_restored_without_marks_leaking_into_neighbours() -> None:
    _, version = doc_with([p([("a ", {}), ("bold", {"bold": {}}), (" word", {})])])
    live_doc, live = doc_with(
        [p([("a ", {"italic": {}}), ("bold", {}), (" word", {"bold": {}}), ("!", {})])]
    )
    run_restore(live_doc, version)
    chunks = live.children[0].children[0].diff()  # type: ignore[union-attr]
    assert [(value, attrs or {}) for value, attrs in chunks] == [
        ("a ", {}),
        ("bold", {"bold": {}}),
        (" word", {}),
    ]


def test_attributes_are_set_and_removed() -> None:
    _, version = doc_with([("heading", {"level": 3.0}, ["Same"])])
    live_doc, live = doc_with([("heading", {"level": 1.0, "id": "x"}, ["Same"])])
    summary, _ = run_restore(live_doc, version)
    assert summary.patched == 1
    assert str(live) == '<heading level="3">Same</heading>'


def test_multibyte_text_is_edited_at_character_boundaries() -> None:
    # pycrdt 0.14 indexes text in UTF-8 bytes; an index inside a character corrupts the text.
    _, version = doc_with([p("naïve café 🎉 done, עברית ok")])
    live_doc, live = doc_with([p("naïve 🎉🎉 café done — עברית")])
    run_restore(live_doc, version)
    assert str(live) == "<paragraph>naïve café 🎉 done, עברית ok</paragraph>"


def test_many_changed_blocks_are_paired_by_kind() -> None:
    n = restore.MAX_SIMILARITY_PAIRS  # a run this long exceeds the similarity budget
    _, version = doc_with([p(f"new {i}") for i in range(n)] + [("horizontalRule", {}, [])])
    live_doc, _ = doc_with([("horizontalRule", {}, [])] + [p(f"old {i} x") for i in range(n)])
    summary, updates = run_restore(live_doc, version)
    assert len(updates) == 1
    assert summary.changed


def test_a_version_holding_an_embedded_shared_type_is_refused_untouched() -> None:
    target_doc, target = doc_with([p("x")])
    with target_doc.transaction():
        text = target.children[0].children[0]  # type: ignore[union-attr]
        assert isinstance(text, XmlText)
        text.insert_embed(1, Map({"a": 1}))
    live_doc, live = doc_with([p("live")])
    before = live_doc.get_state()
    with pytest.raises(RestoreError):
        restore.check_restorable(target)
    with pytest.raises(RestoreError), live_doc.transaction():
        restore_fragment(live, target)
    assert live_doc.get_state() == before
    assert str(live) == "<paragraph>live</paragraph>"


WORDS = ["alpha", "beta", "gamma", "δέλτα", "🎉", "x", "long-word", "e", ",", "."]
MARKS: list[dict[str, Any]] = [{}, {}, {"bold": {}}, {"italic": {}}, {"link": {"href": "h"}}]


def random_blocks(rng: random.Random, depth: int = 0) -> list[Any]:
    blocks: list[Any] = []
    for _ in range(rng.randint(0, 6)):
        kind = rng.random()
        if kind < 0.6 or depth > 1:
            runs = [
                (" ".join(rng.choices(WORDS, k=rng.randint(1, 4))) + " ", rng.choice(MARKS))
                for _ in range(rng.randint(0, 3))
            ]
            blocks.append(("paragraph", {}, [runs] if runs else []))
        elif kind < 0.8:
            blocks.append(
                ("heading", {"level": float(rng.randint(1, 3))}, ["h " + rng.choice(WORDS)])
            )
        else:
            items: list[Block] = [
                ("listItem", {}, random_blocks(rng, depth + 1)) for _ in range(rng.randint(1, 3))
            ]
            blocks.append(("bulletList", {}, items))
    return blocks


@pytest.mark.parametrize("seed", range(40))
def test_random_documents_restore_exactly(seed: int) -> None:
    rng = random.Random(seed)
    live_doc, live = doc_with(random_blocks(rng))
    _, version = doc_with(random_blocks(rng))
    offline_doc, offline = copy(live_doc)
    run_restore(live_doc, version)
    assert str(live) == str(version)
    # Whatever an offline client did, merging it in afterwards converges.
    with offline_doc.transaction():
        write(offline, [p("offline")])
    sync(live_doc, offline_doc)
    assert str(live) == str(offline)
