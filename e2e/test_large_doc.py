"""A ~200 page document (100k words) opens and stays responsive while typing."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable

import pytest

from e2e.helpers import SAVE_MS, People

pytestmark = [pytest.mark.perf, pytest.mark.timeout(300)]

PARAGRAPHS = 2_000
WORDS_PER_PARAGRAPH = 50  # 100k words; a heading every 40 paragraphs on top
KEYSTROKES = 30
BUDGET_MS = 50.0

BUILD_JS = """
([paragraphs, wordsPer]) => {
  const { Y, ydoc } = window.coedit;
  const words = ('lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor '
    + 'incididunt ut labore et dolore magna aliqua enim ad minim veniam quis nostrud').split(' ');
  let seed = 7;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648);
  const fragment = ydoc.getXmlFragment('default');
  const blocks = [];
  for (let i = 0; i < paragraphs; i++) {
    if (i % 40 === 0) {
      const h = new Y.XmlElement('heading');
      h.setAttribute('level', 2);
      h.insert(0, [new Y.XmlText(`Chapter ${i / 40 + 1}`)]);
      blocks.push(h);
    }
    const text = [];
    for (let w = 0; w < wordsPer; w++) text.push(words[next() % words.length]);
    const p = new Y.XmlElement('paragraph');
    p.insert(0, [new Y.XmlText(text.join(' ') + '.')]);
    blocks.push(p);
  }
  ydoc.transact(() => fragment.insert(fragment.length, blocks));
  return blocks.length;
}
"""

# Latency of each keystroke, from the keydown event's timestamp to (a) the editor's DOM
# mutation and (b) the next animation frame after it, when the browser paints the character.
# A sample is recorded once the page is idle again (a task after that frame).
MEASURE_JS = """
() => {
  const root = document.querySelector('.ProseMirror');
  const samples = [];
  let started = null;
  root.addEventListener('keydown', (e) => { started = e.timeStamp; }, true);
  new MutationObserver(() => {
    if (started === null) return;
    const t0 = started;
    started = null;
    const dom = performance.now() - t0;
    requestAnimationFrame(() => {
      const frame = performance.now() - t0;
      setTimeout(() => samples.push({ dom, frame }), 0);
    });
  }).observe(root, { childList: true, subtree: true, characterData: true });
  window.__latency = samples;
}
"""
SENTENCE = "the quick brown fox jumps over the lazy dog and keeps on typing"


def _ms(started: float) -> float:
    return (time.monotonic() - started) * 1000


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def test_a_200_page_document_opens_and_typing_shows_within_50_ms(
    people: People, doc_name: str, record_property: Callable[[str, object], None]
) -> None:
    author = people.add("Author", doc=doc_name, trace=False)
    author.wait_synced()
    author.wait_saved()
    started = time.monotonic()
    blocks = author.page.evaluate(BUILD_JS, [PARAGRAPHS, WORDS_PER_PARAGRAPH])
    author.page.wait_for_function(
        "(n) => document.querySelectorAll('.ProseMirror > *').length >= n", arg=blocks
    )
    build_ms = _ms(started)
    author.wait_saved(timeout=60_000)
    save_ms = _ms(started)
    words = author.page.evaluate(
        "() => Array.from(document.querySelectorAll('.ProseMirror > *'))"
        ".reduce((n, el) => n + el.textContent.trim().split(/\\s+/).length, 0)"
    )
    assert words >= 100_000

    # Someone else opens the document: it loads from the server.
    reader = people.add("Reader", trace=False)
    started = time.monotonic()
    reader.open(people.base, doc_name)
    reader.wait_synced(timeout=60_000)
    reader.page.wait_for_function(
        "(n) => document.querySelectorAll('.ProseMirror > *').length >= n",
        arg=blocks,
        timeout=60_000,
    )
    open_ms = _ms(started)

    # Type in the middle of the document.
    middle = reader.page.locator(".ProseMirror > p").nth(PARAGRAPHS // 2)
    middle.scroll_into_view_if_needed()
    middle.click()
    reader.page.keyboard.press("End")
    reader.page.evaluate(MEASURE_JS)

    # Typing at a person's pace: each key once the previous one is on screen.
    for i, ch in enumerate(SENTENCE[:KEYSTROKES]):
        reader.page.keyboard.press(ch if ch != " " else "Space")
        reader.page.wait_for_function("(n) => window.__latency.length >= n", arg=i + 1)
    paced = reader.page.evaluate("() => window.__latency.splice(0)")
    # A burst: keys as fast as the test can send them (far faster than anyone types).
    for ch in SENTENCE[:KEYSTROKES]:
        reader.page.keyboard.press(ch if ch != " " else "Space")
    reader.wait_contains(SENTENCE[:KEYSTROKES] * 2, timeout=10_000)
    reader.page.wait_for_function("() => window.__latency.length > 0")
    burst = reader.page.evaluate("() => window.__latency.splice(0)")
    reader.wait_saved(timeout=SAVE_MS)
    author.wait_contains(SENTENCE[:KEYSTROKES] * 2, timeout=10_000)

    frame = [float(s["frame"]) for s in paced]
    dom = [float(s["dom"]) for s in paced]
    burst_frame = [float(s["frame"]) for s in burst]
    result = {
        "blocks": blocks,
        "words": words,
        "build_and_render_ms": round(build_ms),
        "build_to_saved_ms": round(save_ms),
        "open_ms": round(open_ms),
        "keystrokes": len(frame),
        "dom_median_ms": round(statistics.median(dom), 1),
        "dom_p95_ms": round(_p95(dom), 1),
        "frame_median_ms": round(statistics.median(frame), 1),
        "frame_p95_ms": round(_p95(frame), 1),
        "frame_max_ms": round(max(frame), 1),
        "burst_frame_median_ms": round(statistics.median(burst_frame), 1),
        "burst_frame_p95_ms": round(_p95(burst_frame), 1),
    }
    for key, value in result.items():
        record_property(key, value)
    print("\nlarge document:", json.dumps(result))
    assert open_ms < 30_000, result
    # The median is the claim; single slow frames happen on a busy 2-core CI machine.
    assert result["frame_median_ms"] < BUDGET_MS, result
