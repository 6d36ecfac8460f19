"""Rewrites a live Y XmlFragment to equal another one with as few changes as it can find; pure
pycrdt, imports nothing of ours (no starlette, no store).

Restoring a version must not replace the whole document: a client that was offline during the
restore and edited a paragraph comes back with edits anchored to that paragraph's CRDT items. If the
restore deleted and re-inserted the paragraph, the edit would land in a deleted node and vanish.
So blocks equal in both trees are left untouched, blocks that changed are edited in place (their
attributes, children and, for text, word by word), and only what has no counterpart is deleted or
inserted.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any

from pycrdt import Array, Doc, Map, Text, XmlElement, XmlFragment, XmlText

log = logging.getLogger("coedit.restore")

# Above this many candidate pairs in one changed run, pair blocks by kind only (linear) instead of
# by text similarity (one comparison per pair).
MAX_SIMILARITY_PAIRS = 400
# Blocks of the same kind are edited in place only if their words are at least this similar
# (difflib's ratio); below it, a delete plus an insert says what happened more truthfully.
MIN_SIMILARITY = 0.5

FRAGMENT_KIND = "#fragment"
_NESTED_FRAGMENT = "an XmlFragment nested inside a tree cannot be restored"
_SHARED_EMBED = "text holding an embedded shared type cannot be restored"

_TOKEN = re.compile(r"\w+|\s+|[^\w\s]", re.UNICODE)
# Similarity ignores whitespace, which would otherwise make any two sentences look alike.
_WORDS = re.compile(r"\w+|[^\w\s]", re.UNICODE)

Parent = XmlFragment | XmlElement
# Canonical forms, built from plain Python values:
#   text:    ("#text", attributes, [(str | Embed, formatting), ...])
#   element: (tag, attributes, [child, ...])
Canon = tuple[str, dict[str, Any], list[Any]]


@dataclass(frozen=True, slots=True)
class Embed:
    """A non-text item inside a text node (y-prosemirror writes none, Yjs allows them)."""

    value: Any
    shared: bool = False  # a shared type (Map, XmlElement, ...): compared, never copied


class RestoreError(Exception):
    """The version holds something a restore cannot copy (a shared type embedded in text, an
    XmlFragment inside a tree); neither is written by the editor."""


@dataclass(slots=True)
class RestoreSummary:
    """What happened to the fragment's top-level blocks."""

    kept: int = 0  # equal in both: untouched
    patched: int = 0  # edited in place
    inserted: int = 0
    deleted: int = 0
    # The minimal rewrite did not reproduce the target and everything was replaced instead (a
    # bug in this module if it ever happens; it is logged as an error).
    fallback: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.patched or self.inserted or self.deleted)


def canon(node: XmlElement | XmlText | XmlFragment) -> Canon:
    """The node's content as plain values: equal canons mean equal content. Never raises, so
    that any document can be compared; only copying refuses what it cannot copy."""
    if isinstance(node, XmlText):
        return ("#text", _attributes(node), _chunks(node))
    children = [canon(child) for child in node.children]
    if isinstance(node, XmlElement):
        return (node.tag or "", _attributes(node), children)
    return (FRAGMENT_KIND, {}, children)


def fragment_key(fragment: XmlFragment) -> str:
    """A string equal for two fragments exactly when their contents are equal."""
    return json.dumps([canon(child) for child in fragment.children], **_JSON)


def check_restorable(target: XmlFragment) -> None:
    """Raise RestoreError if `target` holds something restore_fragment cannot copy."""
    for child in target.children:
        _check_copyable(canon(child))


def restore_fragment(live: XmlFragment, target: XmlFragment) -> RestoreSummary:
    """Make `live` hold exactly what `target` holds. Call it inside one transaction on live's
    Doc (`target` may belong to another Doc), so that the whole restore is one update."""
    summary = RestoreSummary()
    wanted = [canon(child) for child in target.children]
    # Refuse before touching `live`: a change cut short half way would still be in the Doc.
    for node in wanted:
        _check_copyable(node)
    _patch_children(live, wanted, summary)
    if fragment_key(live) != json.dumps(wanted, **_JSON):
        log.error("minimal restore did not reproduce the version; replacing the whole content")
        deleted = len(live.children)
        del live.children[0:deleted]
        for index, source in enumerate(wanted):
            _build(source, live, index)
        summary = RestoreSummary(deleted=deleted, inserted=len(wanted), fallback=True)
    return summary


def _check_copyable(node: Canon) -> None:
    kind, _, content = node
    if kind == FRAGMENT_KIND:
        raise RestoreError(_NESTED_FRAGMENT)
    if kind == "#text":
        if any(isinstance(value, Embed) and value.shared for value, _ in content):
            raise RestoreError(_SHARED_EMBED)
        return
    for child in content:
        _check_copyable(child)


# -- comparing -------------------------------------------------------------------------------


def _jsonable(value: object) -> object:
    if isinstance(value, Embed):
        return {"embed": value.value, "shared": value.shared}
    # Attribute values are JSON in practice; anything else still compares by its repr.
    return repr(value)


_JSON: dict[str, Any] = {"sort_keys": True, "ensure_ascii": False, "default": _jsonable}


_SHARED = (Array, Doc, Map, Text, XmlElement, XmlFragment, XmlText)


def _attributes(node: XmlElement | XmlText) -> dict[str, Any]:
    # The view's __iter__ is typed as returning an Iterable, hence the explicit call.
    pairs: Iterable[tuple[str, Any]] = node.attributes.__iter__()
    return dict(pairs)


def _key(node: Canon) -> str:
    return json.dumps(node, **_JSON)


def _chunks(text: XmlText) -> list[tuple[str | Embed, dict[str, Any]]]:
    out: list[tuple[str | Embed, dict[str, Any]]] = []
    for value, attrs in text.diff():
        formatting = dict(attrs) if attrs else {}
        if isinstance(value, str):
            if out and isinstance(out[-1][0], str) and out[-1][1] == formatting:
                # Yjs may report one run of equal formatting as several chunks.
                out[-1] = (out[-1][0] + value, formatting)
            elif value:
                out.append((value, formatting))
        elif isinstance(value, _SHARED):
            out.append((Embed(f"{type(value).__name__}:{value}", shared=True), formatting))
        else:
            out.append((Embed(value), formatting))
    return out


def _plain(node: Canon) -> str:
    kind, _, content = node
    if kind == "#text":
        return "".join(value for value, _ in content if isinstance(value, str))
    # Separated, so that the last word of one block and the first of the next stay two words.
    return "\n".join(_plain(child) for child in content)


def _similarity(a: Canon, b: Canon) -> float | None:
    """How alike two nodes' words are (0..1), or None if one should not be edited into the
    other."""
    if a[0] != b[0]:
        return None
    matcher = SequenceMatcher(None, _WORDS.findall(_plain(a)), _WORDS.findall(_plain(b)))
    if matcher.real_quick_ratio() < MIN_SIMILARITY or matcher.quick_ratio() < MIN_SIMILARITY:
        return None
    ratio = matcher.ratio()
    return ratio if ratio >= MIN_SIMILARITY else None


# -- rewriting -------------------------------------------------------------------------------


def _patch_children(
    live: Parent, target_canon: list[Canon], summary: RestoreSummary | None
) -> None:
    live_nodes = list(live.children)
    live_canon = [canon(node) for node in live_nodes]
    matcher = SequenceMatcher(
        None, [_key(n) for n in live_canon], [_key(n) for n in target_canon], autojunk=False
    )
    # From the end, so that the indexes of runs not yet handled stay valid.
    for op, i1, i2, j1, j2 in reversed(matcher.get_opcodes()):
        if op == "equal":
            if summary is not None:
                summary.kept += i2 - i1
            continue
        _rewrite_run(live, i1, live_nodes[i1:i2], live_canon[i1:i2], target_canon[j1:j2], summary)


def _rewrite_run(
    parent: Parent,
    start: int,
    live_nodes: list[XmlElement | XmlText | XmlFragment],
    live_canon: list[Canon],
    target_canon: list[Canon],
    summary: RestoreSummary | None,
) -> None:
    """Turn the children parent[start:start+len(live_nodes)] into target_canon."""
    steps = _align(live_canon, target_canon)
    # Each step knows how many live nodes precede it, which is where an insert goes while
    # steps are applied from the last to the first.
    for kind, li, ti, before in reversed(steps):
        if kind == "pair":
            _patch_node(live_nodes[li], live_canon[li], target_canon[ti])
            if summary is not None:
                summary.patched += 1
        elif kind == "delete":
            del parent.children[start + li]
            if summary is not None:
                summary.deleted += 1
        else:
            _build(target_canon[ti], parent, start + before)
            if summary is not None:
                summary.inserted += 1


def _align(a: list[Canon], b: list[Canon]) -> list[tuple[str, int, int, int]]:
    """An edit script from a to b as (step, a index, b index, a nodes before) tuples, pairing
    nodes that can be edited into each other, preferring the most similar pairs."""
    n, m = len(a), len(b)
    if n * m > MAX_SIMILARITY_PAIRS:
        return _align_by_kind(a, b)
    pairs: dict[tuple[int, int], float] = {}
    for i in range(n):
        for j in range(m):
            score = _similarity(a[i], b[j])
            if score is not None:
                pairs[i, j] = score
    # Classic alignment: best[i][j] is the best total score pairing a[:i] with b[:j].
    best = [[0.0] * (m + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            options = [best[i - 1][j], best[i][j - 1]]
            score = pairs.get((i - 1, j - 1))
            if score is not None:
                options.append(best[i - 1][j - 1] + score)
            best[i][j] = max(options)
    steps: list[tuple[str, int, int, int]] = []
    i, j = n, m
    while i > 0 or j > 0:
        score = pairs.get((i - 1, j - 1)) if i > 0 and j > 0 else None
        if score is not None and best[i][j] == best[i - 1][j - 1] + score:
            steps.append(("pair", i - 1, j - 1, i - 1))
            i, j = i - 1, j - 1
        elif i > 0 and best[i][j] == best[i - 1][j]:
            steps.append(("delete", i - 1, -1, i - 1))
            i -= 1
        else:
            steps.append(("insert", -1, j - 1, i))
            j -= 1
    steps.reverse()
    return steps


def _align_by_kind(a: list[Canon], b: list[Canon]) -> list[tuple[str, int, int, int]]:
    """Like _align for long runs, in linear space: pairs nodes of the same kind in order."""
    steps: list[tuple[str, int, int, int]] = []
    kinds = SequenceMatcher(None, [x[0] for x in a], [y[0] for y in b], autojunk=False)
    for op, i1, i2, j1, j2 in kinds.get_opcodes():
        if op == "equal":
            steps.extend(("pair", i1 + k, j1 + k, i1 + k) for k in range(i2 - i1))
            continue
        steps.extend(("delete", i, -1, i) for i in range(i1, i2))
        steps.extend(("insert", -1, j, i2) for j in range(j1, j2))
    return steps


def _patch_node(node: XmlElement | XmlText | XmlFragment, have: Canon, want: Canon) -> None:
    if isinstance(node, XmlText):
        _patch_attributes(node, have[1], want[1])
        _patch_text(node, have[2], want[2])
    elif isinstance(node, XmlElement):
        _patch_attributes(node, have[1], want[1])
        _patch_children(node, want[2], None)
    else:
        raise RestoreError(_NESTED_FRAGMENT)


def _patch_attributes(
    node: XmlElement | XmlText, have: dict[str, Any], want: dict[str, Any]
) -> None:
    for name in have.keys() - want.keys():
        del node.attributes[name]
    for name, value in want.items():
        if name not in have or have[name] != value:
            node.attributes[name] = value


def _units(chunks: list[tuple[str | Embed, dict[str, Any]]]) -> list[tuple[str | Embed, str, int]]:
    """Words, spaces and punctuation with their formatting, and their length as pycrdt counts
    it: pycrdt 0.14 indexes text in UTF-8 bytes, an embed counts one."""
    units: list[tuple[str | Embed, str, int]] = []
    for value, attrs in chunks:
        formatting = json.dumps(attrs, **_JSON)
        if isinstance(value, Embed):
            units.append((value, formatting, 1))
            continue
        for token in _TOKEN.findall(value):
            units.append((token, formatting, len(token.encode("utf-8"))))
    return units


def _unit_key(unit: tuple[str | Embed, str, int]) -> tuple[str, str]:
    # Embed values may be unhashable (a dict), and the matcher hashes its items.
    value, formatting = unit[0], unit[1]
    return (value if isinstance(value, str) else json.dumps(value, **_JSON), formatting)


def _patch_text(
    text: XmlText,
    have: list[tuple[str | Embed, dict[str, Any]]],
    want: list[tuple[str | Embed, dict[str, Any]]],
) -> None:
    old, new = _units(have), _units(want)
    offsets = [0]
    for _, _, size in old:
        offsets.append(offsets[-1] + size)
    matcher = SequenceMatcher(None, [_unit_key(u) for u in old], [_unit_key(u) for u in new])
    for op, i1, i2, j1, j2 in reversed(matcher.get_opcodes()):
        if op == "equal":
            continue
        position = offsets[i1]
        if i2 > i1:
            del text[position : offsets[i2]]
        for value, formatting, size in _merge_runs(new[j1:j2]):
            # Formatting is always passed, even when empty, so that inserted text does not
            # inherit the marks of its neighbour.
            attrs: dict[str, Any] = json.loads(formatting)
            if isinstance(value, Embed):
                if value.shared:
                    raise RestoreError(_SHARED_EMBED)
                text.insert_embed(position, value.value, attrs)
            else:
                text.insert(position, value, attrs)
            position += size


def _merge_runs(units: list[tuple[str | Embed, str, int]]) -> list[tuple[str | Embed, str, int]]:
    runs: list[tuple[str | Embed, str, int]] = []
    for value, formatting, size in units:
        last = runs[-1] if runs else None
        if (
            last is not None
            and isinstance(value, str)
            and isinstance(last[0], str)
            and last[1] == formatting
        ):
            runs[-1] = (last[0] + value, formatting, last[2] + size)
        else:
            runs.append((value, formatting, size))
    return runs


def _build(source: Canon, parent: Parent, index: int) -> None:
    """Insert a copy of `source` as parent's child at `index`."""
    kind, attributes, content = source
    if kind == FRAGMENT_KIND:
        raise RestoreError(_NESTED_FRAGMENT)
    if kind == "#text":
        text = parent.children.insert(index, XmlText())
        for name, value in attributes.items():
            text.attributes[name] = value
        _patch_text(text, [], content)
        return
    element = parent.children.insert(index, XmlElement(kind))
    for name, value in attributes.items():
        element.attributes[name] = value
    for position, child in enumerate(content):
        _build(child, element, position)
