"""People editing the same document at the same time, each in their own browser."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from e2e.helpers import SEE_MS, People, fetch_server_doc, fragment_text

pytestmark = pytest.mark.timeout(90)


def test_text_typed_in_one_tab_appears_in_another_within_a_second(
    people: People, doc_name: str
) -> None:
    alice, bob = people.pair(doc_name)

    alice.click_end()
    alice.type("Hello from Alice")
    started = time.monotonic()
    bob.wait_contains("Hello from Alice", timeout=1_000)
    elapsed = time.monotonic() - started
    assert elapsed < 1.0, f"Bob saw Alice's text after {elapsed:.2f}s"

    bob.click_end()
    bob.type(" and Bob")
    alice.wait_contains("Hello from Alice and Bob", timeout=1_000)


def test_three_people_typing_at_once_in_one_paragraph_end_with_identical_content(
    people: People, doc_name: str
) -> None:
    crowd = [people.add(name, doc=doc_name) for name in ("Ann", "Ben", "Cat")]
    for person in crowd:
        person.wait_synced()
    crowd[0].click_end()
    crowd[0].type("Shared:")
    for person in crowd[1:]:
        person.wait_contains("Shared:")
    for person in crowd:
        person.click_end()

    # Everyone types into the same paragraph, keystrokes interleaved, nobody waiting for anyone.
    letters = {"Ann": "x", "Ben": "y", "Cat": "z"}
    rounds = 15
    for _ in range(rounds):
        for person in crowd:
            person.page.keyboard.press(letters[person.name])

    def complete(text: str) -> bool:
        return all(text.count(ch) == rounds for ch in letters.values())

    for person in crowd:
        person.wait_text(
            "(t, [letters, n]) => letters.every((ch) => t.split(ch).length - 1 === n)",
            [list(letters.values()), rounds],
            timeout=SEE_MS,
        )
    texts = [person.text() for person in crowd]
    assert texts[0] == texts[1] == texts[2], texts
    assert complete(texts[0]) and texts[0].startswith("Shared:"), texts[0]
    assert "\n" not in texts[0], "all typing stays in one paragraph"

    for person in crowd:
        person.wait_saved()
    assert fragment_text(fetch_server_doc(people.base, doc_name)) == texts[0]


def test_bold_a_heading_and_a_list_made_in_one_tab_show_in_the_other(
    people: People, doc_name: str
) -> None:
    alice, bob = people.pair(doc_name)
    page = alice.page

    alice.click_end()
    page.get_by_role("button", name="Heading 1").click()
    alice.type("Project plan")
    page.keyboard.press("Enter")
    alice.type("This is ")
    page.get_by_role("button", name="Bold").click()
    alice.type("important")
    page.keyboard.press("Control+b")  # the keyboard shortcut turns bold off again
    alice.type(" and ")
    page.keyboard.press("Control+i")
    alice.type("subtle")
    page.keyboard.press("Control+i")
    page.keyboard.press("Enter")
    page.get_by_role("button", name="Bullet list").click()
    alice.type("first item")
    page.keyboard.press("Enter")
    alice.type("second item")
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")  # leave the list
    page.get_by_role("button", name="Task list").click()
    alice.type("a task")

    bob.wait_texts("h1", ["Project plan"])
    bob.wait_texts("strong", ["important"])
    bob.wait_texts("em", ["subtle"])
    bob.wait_texts("ul:not([data-type]) > li", ["first item", "second item"])
    bob.wait_texts("ul[data-type='taskList'] > li > div", ["a task"])
    bob.wait_texts("p", ["This is important and subtle", "first item", "second item", "a task"])
    # Alice's toolbar reflects where her caret is.
    expect(page.get_by_role("button", name="Task list")).to_have_attribute("aria-pressed", "true")


def test_a_remote_caret_labelled_with_the_name_comes_and_goes_with_its_tab(
    people: People, doc_name: str
) -> None:
    alice = people.add("Alice", doc=doc_name)
    alice.wait_synced()
    alice.click_end()
    alice.type("Some words to put a caret in")

    # Bob was never asked his name: the page asks once, inline, with a friendly default.
    bob = people.add(None, doc=doc_name)
    prompt = bob.page.locator("#name-prompt")
    expect(prompt).to_be_visible()
    suggested = bob.page.locator("#name-input").input_value()
    assert suggested.strip(), "a friendly default name is suggested"
    bob.page.locator("#name-input").fill("Bob")
    bob.page.locator("#name-input").press("Enter")
    expect(prompt).to_be_hidden()
    bob.wait_synced()
    bob.editor.click()

    expect(alice.page.locator(".collaboration-carets__label")).to_have_text(["Bob"], timeout=SEE_MS)
    expect(alice.page.locator("#presence li[data-name='Bob']")).to_have_count(1)
    expect(bob.page.locator("#presence li[data-name='Alice']")).to_have_count(1)
    expect(bob.page.locator(".collaboration-carets__label")).to_have_text(["Alice"])

    # Bob's name is remembered in his browser: a reload does not ask again.
    bob.page.reload()
    bob.wait_synced()
    expect(bob.page.locator("#name-prompt")).to_be_hidden()
    expect(bob.page.locator("#me-name")).to_have_text("Bob")

    bob.close_tab()
    expect(alice.page.locator(".collaboration-carets__label")).to_have_count(0, timeout=2_000)
    expect(alice.page.locator("#presence li[data-name='Bob']")).to_have_count(0, timeout=2_000)
    expect(alice.page.locator("#presence li")).to_have_count(1)


def test_two_tabs_in_one_browser_stay_in_sync(people: People, doc_name: str) -> None:
    first = people.add("Alice", doc=doc_name)
    second = first.new_tab().open(people.base, doc_name)
    first.wait_synced()
    second.wait_synced()

    first.click_end()
    first.type("typed in the first tab")
    second.wait_contains("typed in the first tab")
    second.click_end()
    second.type(", then the second")
    first.wait_text_equals("typed in the first tab, then the second")

    first.wait_saved()
    second.wait_saved()
    outsider = people.add("Olga", doc=doc_name)
    outsider.wait_synced()
    outsider.wait_text_equals("typed in the first tab, then the second")


def test_undo_in_one_tab_leaves_the_other_persons_text_alone(people: People, doc_name: str) -> None:
    alice, bob = people.pair(doc_name)

    alice.click_end()
    alice.page.keyboard.insert_text("Alice wrote this.")
    bob.wait_contains("Alice wrote this.")
    bob.click_end()
    bob.page.keyboard.press("Enter")
    bob.page.keyboard.insert_text("Bob wrote that.")
    alice.wait_contains("Bob wrote that.")

    # Alice undoes: only her own change goes, Bob's paragraph stays for both.
    alice.editor.focus()
    alice.page.keyboard.press("Control+z")
    for person in (alice, bob):
        person.wait_text("(t) => !t.includes('Alice wrote this.') && t.includes('Bob wrote that.')")

    # Nothing of Bob's is on Alice's undo stack; redo brings her text back.
    expect(alice.page.get_by_role("button", name="Undo")).to_be_disabled()
    alice.page.get_by_role("button", name="Redo").click()
    for person in (alice, bob):
        person.wait_text("(t) => t.includes('Alice wrote this.') && t.includes('Bob wrote that.')")


def test_every_toolbar_control_formats_text_that_the_other_person_sees(
    people: People, doc_name: str
) -> None:
    alice, bob = people.pair(doc_name)
    page = alice.page

    def button(label: str) -> None:
        page.get_by_role("button", name=label, exact=True).click()

    def styled(label: str, text: str) -> None:
        button(label)
        alice.type(text)
        button(label)

    alice.click_end()
    button("Heading 2")
    alice.type("Two")
    page.keyboard.press("Enter")
    button("Heading 3")
    alice.type("Three")
    page.keyboard.press("Enter")
    styled("Underline", "under")
    alice.type(" ")
    styled("Strikethrough", "struck")
    alice.type(" ")
    styled("Inline code", "code()")
    alice.type(" and a site")
    for _ in "site":
        page.keyboard.press("Shift+ArrowLeft")
    button("Link")
    page.locator("#link-input").fill("example.com")
    page.locator("#link-input").press("Enter")
    expect(page.locator("#link-form")).to_be_hidden()
    expect(alice.editor.locator("a[href='https://example.com']")).to_have_text("site")
    page.keyboard.press("Enter")  # the caret is right after the new link
    button("Numbered list")
    alice.type("one")
    page.keyboard.press("Enter")
    alice.type("two")
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")
    button("Quote")
    alice.type("quoted")
    page.keyboard.press("Enter")
    button("Quote")  # lifts the new empty paragraph out of the quote
    button("Horizontal rule")
    button("Code block")
    alice.type("x = 1")

    bob.wait_texts("h2", ["Two"])
    bob.wait_texts("h3", ["Three"])
    bob.wait_texts("u", ["under"])
    bob.wait_texts("s", ["struck"])
    bob.wait_texts("p code", ["code()"])
    bob.wait_texts("a[href='https://example.com']", ["site"])
    bob.wait_texts("ol > li", ["one", "two"])
    bob.wait_texts("blockquote", ["quoted"])
    expect(bob.editor.locator("hr")).to_have_count(1)
    bob.wait_texts("pre", ["x = 1"])
