"""Version history: save a named version, compare it with the current document, restore it for
everyone connected, and undo the restore."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from e2e.helpers import People, Person, fetch_server_doc, fragment_text

pytestmark = pytest.mark.timeout(90)

# Computed style of the first element matching a selector, for "visibly marked" checks.
STYLE_JS = """
(selector) => {
  const el = document.querySelector(selector);
  if (!el) return null;
  const s = getComputedStyle(el);
  return { decoration: s.textDecorationLine, background: s.backgroundColor, display: s.display };
}
"""


def open_history(person: Person) -> Page:
    page = person.page
    page.get_by_role("button", name="History").click()
    expect(page.locator("#history-panel")).to_be_visible()
    return page


def replace_end_of_first_line(person: Person, old: str, new: str) -> None:
    """Put the caret at the end of the first paragraph, delete `old` and type `new`.

    Each step waits for the editor to show its effect: synthetic keys pressed within a few
    milliseconds of the editor taking focus can be reverted by ProseMirror's focus handling,
    which no person types fast enough to meet.
    """
    person.click_start()
    before = person.text()
    first, _, rest = before.partition("\n")
    assert first.endswith(old), first
    for attempt in range(5):
        person.page.keyboard.press("End")
        try:
            person.page.wait_for_function(
                "() => { const { $head, empty } = document.querySelector('.ProseMirror')"
                ".editor.state.selection; return empty && $head.parentOffset === "
                "$head.parent.content.size; }",
                timeout=1_000,
            )
            break
        except PlaywrightTimeoutError:
            if attempt == 4:
                raise
    for count in range(1, len(old) + 1):
        person.page.keyboard.press("Backspace")
        expected = first[: len(first) - count] + ("\n" + rest if rest else "")
        person.wait_text_equals(expected)
    person.type(new)


def test_a_named_version_shows_its_changes_restores_for_everyone_and_the_restore_undoes(
    people: People, doc_name: str
) -> None:
    alice, bob = people.pair(doc_name)
    alice.click_end()
    alice.type("Alpha beta gamma.")
    alice.page.keyboard.press("Enter")
    alice.type("Second paragraph.")
    alice.wait_saved()
    original = "Alpha beta gamma.\nSecond paragraph."
    bob.wait_text_equals(original)

    page = open_history(alice)
    expect(page.locator("#versions li")).to_have_count(0)
    page.get_by_role("button", name="Save version…").click()
    page.get_by_label("Name this version").fill("Draft one")
    page.get_by_label("Name this version").press("Enter")
    entry = page.locator("#versions li[data-kind=named]")
    expect(entry).to_have_count(1)
    expect(entry).to_contain_text("Draft one")
    expect(entry).to_contain_text("Named")
    expect(entry).to_contain_text("Alice")

    # The document moves on: a word replaced, a paragraph added.
    replace_end_of_first_line(alice, "gamma.", "delta.")
    alice.click_end()
    alice.page.keyboard.press("Enter")
    alice.type("Added later.")
    alice.wait_saved()
    changed = "Alpha beta delta.\nSecond paragraph.\nAdded later."
    bob.wait_text_equals(changed)

    # The preview shows the version, what it has that the document lost marked as added and
    # what the document gained since struck through.
    entry.get_by_role("button").click()
    preview = page.locator("#preview")
    expect(preview).to_be_visible()
    expect(preview).to_have_attribute("data-ready", "true")
    expect(page.locator("#editor")).to_be_hidden()
    expect(preview.locator(".preview-doc")).to_have_attribute("contenteditable", "false")
    shown = page.locator("#preview-doc")
    expect(shown.locator(".diff-ins")).to_have_text(["gamma"])
    deleted = shown.locator(".diff-del")
    expect(deleted).to_have_count(2)
    expect(deleted.nth(0)).to_have_text("delta")
    expect(deleted.nth(1)).to_have_text("Added later.")
    ins_style = page.evaluate(STYLE_JS, "#preview-doc .diff-ins")
    del_style = page.evaluate(STYLE_JS, "#preview-doc .diff-del")
    assert ins_style["background"] not in ("rgba(0, 0, 0, 0)", "transparent"), ins_style
    assert "line-through" in del_style["decoration"], del_style
    # Without the struck-through text, the preview reads as the version.
    version_text = page.evaluate(
        """() => Array.from(document.querySelectorAll('#preview-doc p')).map((p) => {
             const clone = p.cloneNode(true);
             clone.querySelectorAll('.diff-del').forEach((n) => n.remove());
             return clone.textContent;
           }).join('\\n')"""
    )
    assert version_text == original, version_text

    page.get_by_role("button", name="Restore this version").click()
    notice = page.locator("#history-notice")
    expect(notice).to_contain_text("Restored “Draft one”")
    expect(preview).to_be_hidden()
    expect(page.locator("#editor")).to_be_visible()
    # The restore is a live change: both editors show the old content, once.
    alice.wait_text_equals(original)
    bob.wait_text_equals(original)
    assert fragment_text(fetch_server_doc(people.base, doc_name)) == original
    # The restore is one entry, named after what it restored; its backup is part of it.
    restore = page.locator("#versions li[data-kind=restore]")
    expect(restore).to_have_count(1)
    expect(restore).to_contain_text(re.compile(r"Restored “Draft one” \(.*\d:\d\d"))
    expect(page.locator("#versions li")).to_have_count(2)

    notice.get_by_role("button", name="Undo").click()
    expect(notice).to_contain_text("Restore undone")
    alice.wait_text_equals(changed)
    bob.wait_text_equals(changed)
    assert fragment_text(fetch_server_doc(people.base, doc_name)) == changed
    # Undoing adds nothing: the same entry now says it was undone.
    expect(restore).to_have_attribute("data-undone", "true")
    expect(restore).to_contain_text("Undone")
    expect(page.locator("#versions li")).to_have_count(2)
    # Entries saved within the same minute show their seconds.
    times = page.locator("#versions li time")
    stamps = [times.nth(i).get_attribute("datetime") or "" for i in range(2)]
    same_minute = stamps[0][:16] == stamps[1][:16]
    seconds = re.compile(r"\d:\d\d:\d\d")
    for i in range(2):
        assert bool(seconds.search(times.nth(i).inner_text())) == same_minute, stamps

    # Both can keep editing the restored text afterwards.
    bob.click_end()
    bob.type(" Bob was here.")
    alice.wait_text_equals(changed + " Bob was here.")

    # Restored again, the restore can be undone later from its own entry as well.
    alice.wait_saved()
    entry.get_by_role("button").click()
    expect(preview).to_have_attribute("data-ready", "true")
    page.get_by_role("button", name="Restore this version").click()
    alice.wait_text_equals(original)
    bob.wait_text_equals(original)
    latest = page.locator("#versions li[data-kind=restore]:not([data-undone])")
    expect(latest).to_have_count(1)
    latest.get_by_role("button").click()
    expect(preview).to_have_attribute("data-ready", "true")
    expect(page.get_by_role("button", name="Restore this version")).to_be_hidden()
    page.get_by_role("button", name="Undo this restore").click()
    expect(notice).to_contain_text("Restore undone")
    alice.wait_text_equals(changed + " Bob was here.")
    bob.wait_text_equals(changed + " Bob was here.")
    expect(page.locator("#versions li[data-kind=restore][data-undone=true]")).to_have_count(2)
