"""Building blocks for the browser tests: a real server process, people with browser tabs,
and a direct look at what the server stores (a pycrdt client speaking y-websocket)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from pycrdt import Doc, Map, XmlElement, XmlFragment, XmlText
from websockets.sync.client import connect as ws_connect

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "e2e" / "artifacts"

# Deadlines (milliseconds for Playwright, seconds for Python).
SYNC_MS = 10_000  # a page reaches data-sync="synced"
SAVE_MS = 10_000  # the "Saved" mark shows
SEE_MS = 5_000  # a remote change becomes visible (the product target is 1 s; tests assert that)


# Text of the document as a person reads it: one line per block, without the name labels of
# remote carets (they live inside the editable element).
DOC_TEXT_JS = """
() => {
  const root = document.querySelector('.ProseMirror');
  if (!root) return null;
  const clone = root.cloneNode(true);
  clone.querySelectorAll('.collaboration-carets__caret, .ProseMirror-widget')
    .forEach((n) => n.remove());
  const blocks = clone.querySelectorAll('p, h1, h2, h3, pre');
  if (blocks.length === 0) return clone.textContent;
  return Array.from(blocks).map((b) => b.textContent).join('\\n');
}
"""


# Text of each element matching a selector inside the editor, without remote caret labels.
TEXTS_JS = """
(selector) => Array.from(document.querySelectorAll('.ProseMirror ' + selector)).map((el) => {
  const clone = el.cloneNode(true);
  clone.querySelectorAll('.collaboration-carets__caret, .ProseMirror-widget')
    .forEach((n) => n.remove());
  return clone.textContent;
})
"""


def doc_url(base: str, name: str) -> str:
    return f"{base}/d/{quote(name, safe='')}"


@dataclass
class Person:
    """Someone with a browser context (their own browser profile) and a tab on a document."""

    name: str
    context: BrowserContext
    page: Page
    people: People

    @property
    def editor(self) -> Locator:
        return self.page.locator(".ProseMirror")

    @property
    def body(self) -> Locator:
        return self.page.locator("body")

    def open(self, base: str, doc: str, *, create: bool = True) -> Person:
        """Open the document; `create`: as the app's "New" does, making it if it is missing
        (a typed address would only ask)."""
        self.page.goto(doc_url(base, doc) + ("?new=1" if create else ""))
        expect(self.editor).to_be_visible()
        return self

    def wait_synced(self, timeout: float = SYNC_MS) -> None:
        expect(self.body).to_have_attribute("data-sync", "synced", timeout=timeout)

    def wait_saved(self, timeout: float = SAVE_MS) -> None:
        expect(self.body).to_have_attribute("data-saved", "true", timeout=timeout)

    def wait_saved_on_device(self, timeout: float = SAVE_MS) -> None:
        expect(self.body).to_have_attribute("data-local", "saved", timeout=timeout)

    def click_end(self) -> None:
        """Click into the text and put the caret at the very end of the document."""
        self._click_and_press("Control+End", "atEnd")

    def click_start(self) -> None:
        """Click into the text and put the caret at the very start of the document."""
        self._click_and_press("Control+Home", "atStart")

    def _click_and_press(self, key: str, where: str) -> None:
        # Right after the editor gains focus, ProseMirror may put the browser's selection back
        # where its own state has it (its focus handler checks again ~20 ms later): a key pressed
        # in between can be undone. Synthetic keys are that fast, so press until the editor's
        # state has the caret where the key puts it.
        self.editor.click()
        for attempt in range(5):
            self.page.keyboard.press(key)
            try:
                self.page.wait_for_function(
                    "(where) => { const { state } = document.querySelector('.ProseMirror').editor;"
                    " const target = state.selection.constructor[where](state.doc);"
                    " return state.selection.empty && state.selection.head === target.head; }",
                    arg=where,
                    timeout=1_000,
                )
                return
            except PlaywrightTimeoutError:
                if attempt == 4:
                    raise

    def type(self, text: str) -> None:
        self.page.keyboard.type(text)

    def text(self) -> str:
        value = self.page.evaluate(DOC_TEXT_JS)
        assert isinstance(value, str)
        return value

    def wait_text(self, predicate_js: str, arg: Any = None, timeout: float = SEE_MS) -> None:
        """Wait until `predicate_js(text, arg)` is true for the document text."""
        try:
            self.page.wait_for_function(
                f"([arg]) => {{ const text = ({DOC_TEXT_JS})(); return text !== null && "
                f"({predicate_js})(text, arg); }}",
                arg=[arg],
                timeout=timeout,
            )
        except PlaywrightTimeoutError as exc:
            raise AssertionError(
                f"{self.name}: after {timeout:.0f} ms the text is {self.text()!r}; "
                f"wanted {predicate_js} with {arg!r}"
            ) from exc

    def wait_contains(self, needle: str, timeout: float = SEE_MS) -> None:
        self.wait_text("(t, n) => t.includes(n)", needle, timeout)

    def wait_text_equals(self, expected: str, timeout: float = SEE_MS) -> None:
        self.wait_text("(t, e) => t === e", expected, timeout)

    def texts(self, selector: str) -> list[str]:
        """Text of each element matching `selector` inside the editor (caret labels left out)."""
        value = self.page.evaluate(TEXTS_JS, selector)
        assert isinstance(value, list)
        return [str(v) for v in value]

    def wait_texts(self, selector: str, expected: list[str], timeout: float = SEE_MS) -> None:
        try:
            self.page.wait_for_function(
                f"([selector, expected]) => JSON.stringify(({TEXTS_JS})(selector)) "
                "=== JSON.stringify(expected)",
                arg=[selector, expected],
                timeout=timeout,
            )
        except PlaywrightTimeoutError as exc:
            raise AssertionError(
                f"{self.name}: {selector!r} has {self.texts(selector)!r}, expected {expected!r}"
            ) from exc

    def go_offline(self) -> None:
        self.context.set_offline(True)
        expect(self.body).to_have_attribute("data-sync", "offline", timeout=SYNC_MS)

    def go_online(self) -> None:
        self.context.set_offline(False)
        self.wait_synced()

    def new_tab(self) -> Person:
        """Another tab in the same browser context (shares IndexedDB and localStorage)."""
        return self.people.add_page(self)

    def close_tab(self) -> None:
        self.page.close()


@dataclass
class People:
    """Creates browser contexts for the people in a test and records a trace of each one,
    kept in `artifacts` when the test fails."""

    browser: Browser
    base: str
    artifacts: Path
    trace: bool = True
    persons: list[Person] = field(default_factory=list)
    open_contexts: list[BrowserContext] = field(default_factory=list)
    labels: dict[BrowserContext, str] = field(default_factory=dict)
    traced: set[BrowserContext] = field(default_factory=set)

    def add(self, name: str | None, *, doc: str | None = None, trace: bool | None = None) -> Person:
        """A person in a fresh browser context; `name=None` leaves the name unasked."""
        context = self.browser.new_context(viewport={"width": 1280, "height": 800})
        context.set_default_timeout(15_000)
        self.labels[context] = f"{len(self.labels)}-{_slug(name or 'anonymous')}"
        if trace if trace is not None else self.trace:
            context.tracing.start(screenshots=True, snapshots=True, title=name or "person")
            self.traced.add(context)
        if name is not None:
            context.add_init_script(
                "try { if (!localStorage.getItem('coedit:name')) "
                f"localStorage.setItem('coedit:name', {name!r}); }} catch (e) {{}}"
            )
        self.open_contexts.append(context)
        person = Person(name=name or "", context=context, page=context.new_page(), people=self)
        self.persons.append(person)
        if doc is not None:
            person.open(self.base, doc)
        return person

    def pair(self, doc: str) -> tuple[Person, Person]:
        """Alice and Bob on `doc`, each in their own browser context, both synced."""
        alice = self.add("Alice", doc=doc)
        bob = self.add("Bob", doc=doc)
        alice.wait_synced()
        bob.wait_synced()
        return alice, bob

    def add_page(self, of: Person) -> Person:
        person = Person(name=of.name, context=of.context, page=of.context.new_page(), people=self)
        self.persons.append(person)
        return person

    def finish(self, failed: bool) -> None:
        if failed:
            self.artifacts.mkdir(parents=True, exist_ok=True)
            for i, person in enumerate(self.persons):
                if person.page.is_closed():
                    continue
                try:
                    person.page.screenshot(
                        path=self.artifacts / f"page-{i}-{_slug(person.name or 'anonymous')}.png"
                    )
                except Exception:  # noqa: BLE001 - best effort while reporting a failure
                    continue
        errors: list[Exception] = []
        for context in self.open_contexts:
            keep = self.artifacts / f"trace-{self.labels[context]}.zip" if failed else None
            try:
                self._finish_context(context, keep=keep)
            except Exception as exc:  # noqa: BLE001 - close the others, then report
                errors.append(exc)
        self.open_contexts.clear()
        if errors:
            raise errors[0]

    def _finish_context(self, context: BrowserContext, keep: Path | None) -> None:
        try:
            if context in self.traced:
                if keep is not None:
                    keep.parent.mkdir(parents=True, exist_ok=True)
                    context.tracing.stop(path=keep)
                else:
                    context.tracing.stop()
        finally:
            context.close()


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "x"


# --------------------------------------------------------------------------- the server's copy


def fetch_server_doc(base: str, name: str, timeout: float = 10.0) -> Doc[Any]:
    """Load a document straight from the server over y-websocket (sync step 1 -> step 2)."""
    doc: Doc[Any] = Doc()
    url = base.replace("http://", "ws://", 1) + "/ws/" + quote(name, safe="")
    deadline = time.monotonic() + timeout
    with ws_connect(url, open_timeout=timeout, max_size=None) as ws:
        # [messageSync=0][syncStep1=0][varUint8Array(empty state vector)]
        ws.send(bytes([0, 0, 1, 0]))
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no sync step 2 from {url} within {timeout}s")
            frame = ws.recv(timeout=remaining)
            if isinstance(frame, str) or len(frame) < 2 or frame[0] != 0:
                continue  # awareness and the like
            if frame[1] == 1:  # sync step 2: the whole document
                _apply_sync_payload(doc, frame[2:])
                return doc


def _apply_sync_payload(doc: Doc[Any], payload: bytes) -> None:
    length, pos = _read_var_uint(payload, 0)
    doc.apply_update(payload[pos : pos + length])


def _read_var_uint(data: bytes, pos: int) -> tuple[int, int]:
    value = 0
    shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos


def fragment_text(doc: Doc[Any]) -> str:
    """The rich text as plain text, one line per top-level block (lists flattened)."""
    fragment = doc.get("default", type=XmlFragment)
    lines: list[str] = []

    def walk(node: XmlElement | XmlText | XmlFragment, out: list[str]) -> None:
        if isinstance(node, XmlText):
            out.extend(str(chunk) for chunk, _attrs in node.diff())
            return
        for child in node.children:
            walk(child, out)

    for block in fragment.children:
        parts: list[str] = []
        walk(block, parts)
        lines.append("".join(parts))
    return "\n".join(lines)


def doc_title(doc: Doc[Any]) -> str | None:
    value = doc.get("meta", type=Map).get("title")
    return value if isinstance(value, str) else None
