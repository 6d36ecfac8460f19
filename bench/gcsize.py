"""`python -m bench.gcsize`: what keeping deleted content costs (issue 11). The live room and
the fold make their Docs without pycrdt's garbage collection (`integrate.new_doc`: it freed
memory a later update still read). Two edit histories, each applied update by update to a
server Doc with and without collection, in the same process: the encoded state's bytes."""

from __future__ import annotations

import random
import sys
from collections.abc import Callable, Iterator
from typing import Any

from pycrdt import Doc, Text, XmlElement, XmlFragment, XmlText

from .proc import ROOT

if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))

from server.sync.integrate import new_doc


def typing(author: Doc[Any]) -> Iterator[None]:
    """20,000 keystrokes, 30 % of them Backspace, the caret jumping now and then."""
    rnd = random.Random(1)
    text = author.get("t", type=Text)
    caret = 0
    for _ in range(20_000):
        if len(text) and rnd.random() < 0.3:
            at = min(caret, len(text) - 1)
            del text[at : at + 1]
            caret = max(at - 1, 0)
        else:
            if rnd.random() < 0.05:
                caret = rnd.randint(0, len(text))
            text.insert(min(caret, len(text)), rnd.choice("abcdefgh "))
            caret += 1
        yield


def restructuring(author: Doc[Any]) -> Iterator[None]:
    """200 paragraphs of 40 words, then three quarters of them deleted."""
    rnd = random.Random(1)
    fragment = author.get("default", type=XmlFragment)
    for _ in range(200):
        paragraph = fragment.children.append(XmlElement("paragraph"))
        text = paragraph.children.append(XmlText())
        for _ in range(40):
            text.insert(len(text), "word ")
        yield
    for _ in range(150):
        del fragment.children[rnd.randrange(len(fragment.children))]
        yield


def state_bytes(history: Callable[[Doc[Any]], Iterator[None]], server: Doc[Any]) -> int:
    author: Doc[Any] = Doc()
    before = author.get_state()
    for _ in history(author):
        server.apply_update(author.get_update(before))
        before = author.get_state()
    return len(server.get_update())


def main() -> None:
    for name, history in (("typing", typing), ("restructuring", restructuring)):
        collected = state_bytes(history, Doc())
        kept = state_bytes(history, new_doc())
        print(
            f"{name}: state {collected:,} bytes collected, {kept:,} kept ({kept / collected:.2f}x)"
        )


if __name__ == "__main__":
    main()
