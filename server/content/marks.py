"""Inline content as a sequence of mark openings, closings, texts and breaks, shared by the HTML
and Markdown writers; marks that last longer open first, so nesting stays shallow."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from .schema import MARK_TYPES, PMNode

Op = tuple[str, Any]


def _mark_key(mark: PMNode) -> tuple[Any, ...]:
    attrs = mark.get("attrs") or {}
    return (mark["type"], *sorted(attrs.items()))


def inline_ops(
    items: Sequence[PMNode], *, atomic: frozenset[str] = frozenset(), order: Sequence[str] = ()
) -> Iterator[Op]:
    """Yields ("open", mark), ("close", mark), ("text", node) and ("break", node). Marks in
    `atomic` are left to the text's renderer instead of being opened and closed."""
    rank = {name: i for i, name in enumerate(order or MARK_TYPES)}

    def stack_marks(node: PMNode) -> list[PMNode]:
        return [m for m in node.get("marks", []) if m["type"] not in atomic]

    # how many items, from each one on, each mark keeps going (breaks do not interrupt marks)
    lasting: list[dict[tuple[Any, ...], int]] = [{} for _ in items]
    following: dict[tuple[Any, ...], int] = {}
    for i in range(len(items) - 1, -1, -1):
        if items[i]["type"] == "hardBreak":
            lasting[i] = following
            continue
        here = {_mark_key(m): following.get(_mark_key(m), 0) + 1 for m in stack_marks(items[i])}
        lasting[i] = following = here

    stack: list[PMNode] = []
    for i, node in enumerate(items):
        if node["type"] == "hardBreak":
            yield ("break", node)
            continue
        wanted = stack_marks(node)
        keep = 0
        while keep < len(stack) and stack[keep] in wanted:
            keep += 1
        while len(stack) > keep:
            yield ("close", stack.pop())
        opening = [m for m in wanted if m not in stack]
        opening.sort(key=lambda m: (-lasting[i][_mark_key(m)], rank[m["type"]]))
        for mark in opening:
            stack.append(mark)
            yield ("open", mark)
        yield ("text", node)
    while stack:
        yield ("close", stack.pop())
